// Live payments: polled every second (new ones show within 2 s), filtered by merchant (server side),
// status and creation date (client side: the admin list API filters by merchant only).
import { useMemo, useRef, useState } from "preact/hooks";
import { api, can, ok, type S } from "../api";
import type { Ctx } from "../ctx";
import { Action, Badge, ErrorLine, Facts, Field, Link, fmtTime, fmtToken, short, txLink, Scroll, useLoad } from "../ui";

// The newest 50: enough for a live view, and the list answers twice as fast as with 100.
const LIVE_ROWS = 50;
const STATUSES = ["pending", "confirming", "paid", "overpaid", "underpaid", "expired", "canceled", "held"];

export function useMerchants() {
  return useLoad(async () => ok(await api.GET("/admin/merchants", { params: { query: { limit: "100" } } })).data, []);
}

export function Payments({ ctx }: { ctx: Ctx }) {
  const [merchant, setMerchant] = useState("");
  const [status, setStatus] = useState("");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const merchants = useMerchants();
  const seen = useRef<Set<string> | null>(null);
  const { data, error } = useLoad(
    async () =>
      ok(
        await api.GET("/admin/payments", {
          params: { query: { limit: String(LIVE_ROWS), ...(merchant ? { merchant_id: merchant } : {}) } },
        }),
      ).data,
    [merchant],
    1000,
  );
  const rows = useMemo(() => {
    const lo = from ? Date.parse(from) / 1000 : -Infinity;
    const hi = to ? Date.parse(to) / 1000 + 86400 : Infinity;
    return (data ?? []).filter((p) => (!status || p.status === status) && p.created_at >= lo && p.created_at < hi);
  }, [data, status, from, to]);
  // Rows that were not there on the previous poll get a short highlight.
  const fresh = useMemo(() => {
    if (!data) return new Set<string>();
    const prev = seen.current;
    const ids = new Set(data.map((p) => p.id));
    seen.current = ids;
    return prev ? new Set([...ids].filter((i) => !prev.has(i))) : new Set<string>();
  }, [data]);
  // The admin API has no transfer list of its own: the transfers are those of the listed payments.
  const transfers = useMemo(
    () => rows.flatMap((p) => p.transactions.map((t) => ({ p, t }))).sort((a, b) => b.t.block_number - a.t.block_number),
    [rows],
  );
  const names = new Map((merchants.data ?? []).map((m) => [m.id, m.name]));
  return (
    <section aria-labelledby="h-payments">
      <h1 id="h-payments">
        Payments <span class="live" aria-hidden="true">● live</span>
      </h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter payments">
        <Field label="Merchant">
          <select value={merchant} onChange={(e) => setMerchant(e.currentTarget.value)} data-testid="filter-merchant">
            <option value="">All merchants</option>
            {(merchants.data ?? []).map((m) => (
              <option key={m.id} value={m.id}>
                {m.name} ({m.id})
              </option>
            ))}
          </select>
        </Field>
        <Field label="Status">
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)} data-testid="filter-status">
            <option value="">Any status</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </Field>
        <Field label="Created from">
          <input type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </Field>
        <Field label="Created to">
          <input type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </Field>
      </form>
      <ErrorLine error={error} />
      <Scroll label="Payments table">
        <table data-testid="payments-table">
          <caption class="sr-only">The {LIVE_ROWS} newest payments, updated every second</caption>
          <thead>
            <tr>
              <th scope="col">Payment</th>
              <th scope="col">Merchant</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">Amount</th>
              <th scope="col" class="num">Received</th>
              <th scope="col">Order</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.id} data-testid="payment-row" data-id={p.id} class={fresh.has(p.id) ? "fresh" : ""}>
                <td>
                  <Link href={`/console/payments/${encodeURIComponent(p.id)}`} go={ctx.go} class="mono">
                    {p.id}
                  </Link>
                </td>
                <td>{names.get(p.merchant_id) ?? p.merchant_id}</td>
                <td>
                  <Badge value={p.status} />
                </td>
                <td class="num">{fmtToken(p.amount, p.currency)}</td>
                <td class="num">{fmtToken(p.amount_received, p.currency)}</td>
                <td>{p.order_id ?? "—"}</td>
                <td>{fmtTime(p.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {data && rows.length === 0 && <p class="muted">No payments match.</p>}
      </Scroll>
      <h2 id="h-transfers">Incoming transfers</h2>
      <Scroll label="Transfers of these payments">
        <table data-testid="transfers-table">
          <caption class="sr-only">Token transfers into the listed payments, newest block first</caption>
          <thead>
            <tr>
              <th scope="col">Transaction</th>
              <th scope="col">Payment</th>
              <th scope="col">Sender</th>
              <th scope="col" class="num">Amount</th>
              <th scope="col">Status</th>
              <th scope="col">Block</th>
              <th scope="col">Risk</th>
            </tr>
          </thead>
          <tbody>
            {transfers.map(({ p, t }) => (
              <tr key={`${t.tx_hash}:${t.log_index}`}>
                <td>{txLink(p.chain_id, t.tx_hash)}</td>
                <td>
                  <Link href={`/console/payments/${encodeURIComponent(p.id)}`} go={ctx.go} class="mono">
                    {short(p.id, 14)}
                  </Link>
                </td>
                <td class="mono" title={t.sender}>
                  {short(t.sender, 12)}
                </td>
                <td class="num">{t.amount}</td>
                <td>
                  <Badge value={t.status} />
                </td>
                <td>{t.block_number}</td>
                <td>{t.risk ? `${t.risk.level} (${t.risk.source})` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {data && transfers.length === 0 && (
          <p class="muted">No transfers listed (the admin payments list does not include them yet).</p>
        )}
      </Scroll>
    </section>
  );
}

export function PaymentDetail({ ctx, id }: { ctx: Ctx; id: string }) {
  // GET /admin/payments/{id}: the payment with its transfers and newest events, polled every 2 s.
  const { data, error, reload } = useLoad(
    async () => {
      const res = await api.GET("/admin/payments/{payment_id}", { params: { path: { payment_id: id } } });
      if (res.response.status === 404) return { p: null };
      return { p: ok(res) };
    },
    [id],
    2000,
  );
  if (error) return <ErrorLine error={error} />;
  if (!data) return <p class="muted">Loading…</p>;
  if (!data.p) return <p role="alert">No payment {id}.</p>;
  const p: S["AdminPaymentDetailOut"] = data.p;
  return (
    <section aria-labelledby="h-pay">
      <p>
        <Link href="/console/payments" go={ctx.go}>
          ← Payments
        </Link>
      </p>
      <h1 id="h-pay" class="mono">
        {p.id} <Badge value={p.status} />
      </h1>
      <Facts
        rows={[
          ["Merchant", p.merchant_id],
          ["Order", p.order_id ?? "—"],
          ["Amount", fmtToken(p.amount, p.currency)],
          ["Received", fmtToken(p.amount_received, p.currency)],
          ["Pending", fmtToken(p.amount_pending, p.currency)],
          ["Excess", fmtToken(p.amount_excess, p.currency)],
          ...(p.quote
            ? ([["Price", `${p.quote.price.amount} ${p.quote.price.currency} at ${p.quote.rate} ${p.currency} each`]] as [string, string][])
            : []),
          ["Deposit address", <span class="mono">{p.address}</span>],
          ["Created", fmtTime(p.created_at)],
          ["Expires", fmtTime(p.expires_at)],
          ["Payment URI", <span class="mono wrap">{p.payment_uri}</span>],
        ]}
      />
      {p.status === "held" && can(ctx.roles, "held") && (
        <p class="buttons">
          <Action
            label="Release held funds"
            kind="primary"
            testid="release"
            act={async () => ok(await api.POST("/admin/payments/{payment_id}/release", { params: { path: { payment_id: p.id } } }))}
            done={reload}
          />
          <Action
            label="Return to sender"
            kind="danger"
            testid="return"
            act={async () => ok(await api.POST("/admin/payments/{payment_id}/return", { params: { path: { payment_id: p.id } } }))}
            done={reload}
          />
        </p>
      )}
      <h2>Transfers</h2>
      <Scroll label="Transfers table">
        <table>
          <thead>
            <tr>
              <th scope="col">Transaction</th>
              <th scope="col">Sender</th>
              <th scope="col" class="num">Amount</th>
              <th scope="col">Status</th>
              <th scope="col">Block</th>
              <th scope="col">Risk</th>
            </tr>
          </thead>
          <tbody>
            {p.transactions.map((t) => (
              <tr key={`${t.tx_hash}:${t.log_index}`}>
                <td>{txLink(p.chain_id, t.tx_hash)}</td>
                <td class="mono" title={t.sender}>
                  {short(t.sender, 12)}
                </td>
                <td class="num">{t.amount}</td>
                <td>
                  <Badge value={t.status} />
                  {t.hold && <> held: {t.hold}</>}
                </td>
                <td>{t.block_number}</td>
                <td>{t.risk ? `${t.risk.level} (${t.risk.source})` : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {p.transactions.length === 0 && <p class="muted">No transfers seen yet.</p>}
      </Scroll>
      <h2>Events</h2>
      <Scroll label="Events table">
        <table data-testid="events-table">
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Type</th>
              <th scope="col" class="num">Sequence</th>
              <th scope="col">Created</th>
              <th scope="col">Webhooks</th>
            </tr>
          </thead>
          <tbody>
            {p.events.map((e) => (
              <tr key={e.id}>
                <td class="mono">{e.id}</td>
                <td>{e.type}</td>
                <td class="num">{e.sequence}</td>
                <td>{fmtTime(e.created)}</td>
                <td>
                  {can(ctx.roles, "redeliver") ? (
                    <Action
                      label="Redeliver"
                      testid={`redeliver-${e.id}`}
                      act={async () =>
                        ok(await api.POST("/admin/events/{event_id}/redeliver", { params: { path: { event_id: e.id } } }))
                      }
                    />
                  ) : (
                    "—"
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {p.events.length === 0 && <p class="muted">No events yet.</p>}
      </Scroll>
      <h2>Webhook deliveries</h2>
      <Scroll label="Webhook deliveries table">
        <table data-testid="deliveries-table">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Endpoint</th>
              <th scope="col" class="num">Attempt</th>
              <th scope="col">Outcome</th>
              <th scope="col" class="num">Latency</th>
            </tr>
          </thead>
          <tbody>
            {p.deliveries.map((d) => (
              <tr key={d.id}>
                <td>{fmtTime(d.created)}</td>
                <td>{d.event_type}</td>
                <td class="mono" title={d.endpoint_id}>
                  {short(d.endpoint_id, 14)}
                </td>
                <td class="num">{d.attempt}</td>
                <td>
                  <Badge value={d.status_code != null && d.status_code < 300 ? "delivered" : "failed"} />{" "}
                  {d.status_code != null ? `HTTP ${d.status_code}` : ""}
                  {d.error && <span class="muted"> {d.error}</span>}
                </td>
                <td class="num">{d.latency_ms} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
        {p.deliveries.length === 0 && <p class="muted">No webhook deliveries yet.</p>}
      </Scroll>
    </section>
  );
}

// Treasury and wallets: deposits owed to merchants, hot, cold, gas, in flight, hot wallet cap;
// finance books BNB sent to the hot wallet for gas, support asks the scanner to rescan blocks.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { api, can, ok } from "../api";
import type { Ctx } from "../ctx";
import { ErrorLine, Facts, Field, fmtUsdt, useLoad } from "../ui";

export function Treasury({ ctx }: { ctx: Ctx }) {
  const { data, error, reload } = useLoad(async () => ok(await api.GET("/admin/treasury")), [], 5000);
  return (
    <section aria-labelledby="h-tr">
      <h1 id="h-tr">Treasury</h1>
      <ErrorLine error={error} />
      {data && (
        <>
          <div class="cards">
            <Card label="Deposit addresses" value={fmtUsdt(data.usdt.deposits)} />
            <Card label="Hot wallet" value={fmtUsdt(data.usdt.hot)} />
            <Card label="Cold wallet" value={fmtUsdt(data.usdt.cold)} />
            <Card label="Owed, in flight" value={fmtUsdt(data.usdt.owed_in_flight)} />
            <Card label="Gas (BNB)" value={`${trimDecimals(data.bnb.gas, 6)} BNB`} title={`${data.bnb.gas} BNB`} />
            <Card label="Hot wallet cap" value={fmtUsdt(data.hot_wallet_cap)} />
            {Object.entries(data.tokens ?? {}).flatMap(([token, held]) => [
              <Card key={`${token}-d`} label={`${token} on deposit addresses`} value={`${held.deposits} ${token}`} />,
              <Card key={`${token}-h`} label={`${token} on the hot wallet`} value={`${held.hot} ${token}`} />,
            ])}
          </div>
          <Facts
            rows={[
              ["Hot wallet address", <span class="mono wrap">{data.hot_wallet ?? "—"}</span>],
              ["Cold address", <span class="mono wrap">{data.cold_address ?? "—"}</span>],
            ]}
          />
        </>
      )}
      {can(ctx.roles, "gas") && <GasFundingForm done={reload} />}
      {can(ctx.roles, "rescan") && <RescanForm />}
    </section>
  );
}

/** One small operator form: its fields, a submit button, the API's answer or error. */
function OperatorForm({
  title,
  testid,
  submit,
  children,
  button,
}: {
  title: string;
  testid: string;
  submit: () => Promise<string>;
  children: ComponentChildren;
  button: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  return (
    <>
      <h2>{title}</h2>
    <form
      class="filters"
      aria-label={title}
      data-testid={testid}
      onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError(null);
        setDone(null);
        try {
          setDone(await submit());
        } catch (err) {
          setError((err as Error).message);
        } finally {
          setBusy(false);
        }
      }}
    >
      {children}
      <button type="submit" class="btn primary" disabled={busy} data-testid={`${testid}-submit`}>
        {button}
      </button>
      <ErrorLine error={error} />
      {done && (
        <p role="status" data-testid={`${testid}-done`}>
          {done}
        </p>
      )}
    </form>
    </>
  );
}

function GasFundingForm({ done }: { done: () => void }) {
  const [tx, setTx] = useState("");
  return (
    <OperatorForm
      title="Book gas funding"
      testid="gas-funding"
      button="Book BNB for gas"
      submit={async () => {
        const r = ok(await api.POST("/admin/treasury/gas_funding", { body: { tx_hash: tx.trim() } }));
        setTx("");
        done();
        return `Booked ${r.bnb} BNB from ${r.tx_hash}.`;
      }}
    >
      <Field label="Transaction that sent BNB to the hot wallet">
        <input class="mono" required pattern="0x[0-9a-fA-F]{64}" value={tx} onInput={(e) => setTx(e.currentTarget.value)} />
      </Field>
    </OperatorForm>
  );
}

function RescanForm() {
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  return (
    <OperatorForm
      title="Rescan blocks"
      testid="rescan"
      button="Queue rescan"
      submit={async () => {
        const r = ok(await api.POST("/admin/chain/rescan", { body: { from_block: Number(from), to_block: Number(to) } }));
        return `Blocks ${r.from_block}–${r.to_block}: ${r.status}.`;
      }}
    >
      <Field label="From block">
        <input inputMode="numeric" required pattern="[0-9]+" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
      </Field>
      <Field label="To block">
        <input inputMode="numeric" required pattern="[0-9]+" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
      </Field>
    </OperatorForm>
  );
}

/** "100.249925277285" -> "100.249925" (display only; the exact figure is in the title). */
const trimDecimals = (amount: string, places: number) => amount.replace(new RegExp(`(\\.\\d{${places}})\\d+$`), "$1");

function Card({ label, value, title }: { label: string; value: string; title?: string }) {
  return (
    <div class="card" title={title}>
      <p class="muted">{label}</p>
      <p class="big">{value}</p>
    </div>
  );
}

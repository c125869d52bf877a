// Merchants: list and create; per merchant API keys, settlement profile, suspend/resume, KYC, payouts.
import { useState } from "preact/hooks";
import { api, can, ok, type S } from "../api";
import type { Ctx } from "../ctx";
import { Action, Badge, ErrorLine, Facts, Field, Link, fmtTime, Scroll, isMe, useLoad } from "../ui";
import { useMerchants } from "./payments";

export function Merchants({ ctx }: { ctx: Ctx }) {
  const { data, error, reload } = useMerchants();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<S["NewMerchantOut"] | null>(null);
  return (
    <section aria-labelledby="h-m">
      <h1 id="h-m">Merchants</h1>
      {can(ctx.roles, "merchants") && (
        <form class="inline" onSubmit={(e) => e.preventDefault()} aria-label="Create a merchant">
          <Field label="New merchant name">
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} data-testid="merchant-name" />
          </Field>
          <Action
            label="Create merchant"
            kind="primary"
            testid="create-merchant"
            disabled={!name.trim()}
            act={async () => {
              setCreated(ok(await api.POST("/admin/merchants", { body: { name: name.trim() } })));
              setName("");
            }}
            done={reload}
          />
        </form>
      )}
      {created && <Secret label={`API key for ${created.name} (${created.id})`} secret={created.api_key.secret} />}
      <ErrorLine error={error} />
      <Scroll label="Merchants table">
        <table data-testid="merchants-table">
          <thead>
            <tr>
              <th scope="col">Merchant</th>
              <th scope="col">Id</th>
              <th scope="col">Status</th>
              <th scope="col">KYC</th>
              <th scope="col" class="num">Underpay tolerance</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {(data ?? []).map((m) => (
              <tr key={m.id}>
                <td>
                  <Link href={`/console/merchants/${encodeURIComponent(m.id)}`} go={ctx.go}>
                    {m.name}
                  </Link>
                </td>
                <td class="mono">{m.id}</td>
                <td>
                  <Badge value={m.status} />
                </td>
                <td>
                  <Badge value={m.kyc_status} />
                </td>
                <td class="num">{(m.underpay_tolerance_bps / 100).toFixed(2)} %</td>
                <td>{fmtTime(m.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
    </section>
  );
}

function Secret({ label, secret }: { label: string; secret?: string | null }) {
  if (!secret) return null;
  return (
    <div class="notice" role="status">
      <p>{label}: shown once, copy it now.</p>
      <p class="mono wrap" data-testid="api-key-secret">
        {secret}
      </p>
    </div>
  );
}

export function MerchantDetail({ ctx, id }: { ctx: Ctx; id: string }) {
  const path = { merchant_id: id };
  const list = useMerchants();
  const m = list.data?.find((x) => x.id === id);
  const keys = useLoad(async () => ok(await api.GET("/admin/merchants/{merchant_id}/api_keys", { params: { path } })).data, [id]);
  const profile = useLoad(async () => ok(await api.GET("/admin/merchants/{merchant_id}/settlement", { params: { path } })), [id]);
  const [secret, setSecret] = useState<string | null>(null);
  const [addr, setAddr] = useState("");
  const [schedule, setSchedule] = useState<"manual" | "daily" | "threshold">("manual");
  const [threshold, setThreshold] = useState("");
  const [tol, setTol] = useState("");
  const [payout, setPayout] = useState("");
  const [payoutToken, setPayoutToken] = useState("USDT");
  const reload = () => {
    list.reload();
    keys.reload();
    profile.reload();
  };
  if (!m) return <p class="muted">{list.error ?? "Loading…"}</p>;
  const p = profile.data;
  return (
    <section aria-labelledby="h-md">
      <p>
        <Link href="/console/merchants" go={ctx.go}>
          ← Merchants
        </Link>
      </p>
      <h1 id="h-md">
        {m.name} <Badge value={m.status} />
      </h1>
      <Facts
        rows={[
          ["Id", <span class="mono">{m.id}</span>],
          ["Status", m.status_reason ? `${m.status} (${m.status_reason})` : m.status],
          ["KYC", `${m.kyc_status}${m.kyc_reason ? ` (${m.kyc_reason})` : ""}${m.kyc_source ? ` via ${m.kyc_source}` : ""}`],
          ["Underpay tolerance", `${m.underpay_tolerance_bps} bps`],
          ["Created", fmtTime(m.created_at)],
        ]}
      />
      <p class="buttons">
        {can(ctx.roles, "suspend") &&
          (m.status === "active" ? (
            <Action
              label="Suspend"
              kind="danger"
              testid="suspend"
              prompt="Reason for suspending"
              act={async (reason) => ok(await api.POST("/admin/merchants/{merchant_id}/suspend", { params: { path }, body: { reason } }))}
              done={reload}
            />
          ) : (
            <Action
              label="Resume"
              testid="resume"
              act={async () => ok(await api.POST("/admin/merchants/{merchant_id}/resume", { params: { path } }))}
              done={reload}
            />
          ))}
        {can(ctx.roles, "kyc") &&
          (["verified", "rejected", "pending"] as const)
            .filter((s) => s !== m.kyc_status)
            .map((s) => (
              <Action
                key={s}
                label={`KYC: ${s}`}
                testid={`kyc-${s}`}
                prompt={`Reason for KYC ${s}`}
                act={async (reason) =>
                  ok(await api.POST("/admin/merchants/{merchant_id}/kyc", { params: { path }, body: { status: s, reason } }))
                }
                done={reload}
              />
            ))}
      </p>
      {can(ctx.roles, "tolerance") && (
        <form class="inline" onSubmit={(e) => e.preventDefault()}>
          <Field label="Underpay tolerance (bps)">
            <input inputMode="numeric" value={tol} onInput={(e) => setTol(e.currentTarget.value)} placeholder={String(m.underpay_tolerance_bps)} />
          </Field>
          <Action
            label="Save tolerance"
            disabled={!/^\d+$/.test(tol)}
            act={async () =>
              ok(await api.POST("/admin/merchants/{merchant_id}", { params: { path }, body: { underpay_tolerance_bps: Number(tol) } }))
            }
            done={reload}
          />
        </form>
      )}

      <h2>API keys</h2>
      {secret && <Secret label="New API key" secret={secret} />}
      <ErrorLine error={keys.error} />
      <Scroll label="API keys table">
        <table>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Status</th>
              <th scope="col">Created by</th>
              <th scope="col">Approved by</th>
              <th scope="col">IP allowlist</th>
              <th scope="col">Created</th>
              {can(ctx.roles, "keys") && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(keys.data ?? []).map((k) => {
              const kp = { merchant_id: id, key_id: k.id };
              return (
                <tr key={k.id}>
                  <td class="mono">{k.id}</td>
                  <td>
                    <Badge value={k.status} />
                  </td>
                  <td>{k.created_by ?? "—"}</td>
                  <td>{k.approved_by ?? "—"}</td>
                  <td class="mono">{k.ip_allowlist.join(", ") || "any"}</td>
                  <td>{fmtTime(k.created_at)}</td>
                  {can(ctx.roles, "keys") && (
                    <td class="buttons">
                      {k.status === "pending_approval" && (
                        <Action
                          label="Approve"
                          disabled={isMe(k.created_by, ctx.me.username)}
                          title={isMe(k.created_by, ctx.me.username) ? "Another admin must approve a key you created" : undefined}
                          act={async () =>
                            ok(await api.POST("/admin/merchants/{merchant_id}/api_keys/{key_id}/approve", { params: { path: kp } }))
                          }
                          done={reload}
                        />
                      )}
                      {k.status !== "revoked" && (
                        <Action
                          label="Revoke"
                          kind="danger"
                          act={async () =>
                            ok(await api.POST("/admin/merchants/{merchant_id}/api_keys/{key_id}/revoke", { params: { path: kp } }))
                          }
                          done={reload}
                        />
                      )}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </Scroll>
      {can(ctx.roles, "keys") && (
        <p>
          <Action
            label="Create API key"
            act={async () =>
              setSecret(ok(await api.POST("/admin/merchants/{merchant_id}/api_keys", { params: { path }, body: {} })).secret ?? null)
            }
            done={reload}
          />
        </p>
      )}

      <h2>Settlement profile</h2>
      <ErrorLine error={profile.error} />
      {p && (
        <Facts
          rows={[
            ["Address", <span class="mono wrap">{p.address ?? "—"}</span>],
            ["Address status", `${p.address_status} (set by ${p.address_set_by ?? "—"}, confirmed by ${p.address_confirmed_by ?? "—"})`],
            ["Schedule", p.schedule + (p.threshold ? ` above ${p.threshold} USDT` : "")],
            ["Fee", `${p.fee_bps ?? 0} bps + ${p.fee_fixed ?? "0"} USDT`],
            ["Updated", `${fmtTime(p.updated_at)} by ${p.updated_by ?? "—"}`],
          ]}
        />
      )}
      {can(ctx.roles, "settlement") && (
        <>
          {p?.address_status === "pending_confirmation" && (
            <Action
              label="Confirm settlement address"
              kind="primary"
              disabled={isMe(p.address_set_by, ctx.me.username)}
              title={isMe(p.address_set_by, ctx.me.username) ? "Another admin must confirm an address you set" : undefined}
              act={async () => ok(await api.POST("/admin/merchants/{merchant_id}/settlement/confirm", { params: { path } }))}
              done={reload}
            />
          )}
          <form class="inline" onSubmit={(e) => e.preventDefault()} aria-label="Change the settlement profile">
            <Field label="Settlement address">
              <input class="mono" value={addr} onInput={(e) => setAddr(e.currentTarget.value)} placeholder="0x…" />
            </Field>
            <Field label="Schedule">
              <select value={schedule} onChange={(e) => setSchedule(e.currentTarget.value as typeof schedule)}>
                <option>manual</option>
                <option>daily</option>
                <option>threshold</option>
              </select>
            </Field>
            {schedule === "threshold" && (
              <Field label="Threshold (USDT)">
                <input inputMode="decimal" value={threshold} onInput={(e) => setThreshold(e.currentTarget.value)} />
              </Field>
            )}
            <Action
              label="Save profile"
              disabled={!/^0x[0-9a-fA-F]{40}$/.test(addr)}
              act={async () =>
                ok(
                  await api.POST("/admin/merchants/{merchant_id}/settlement", {
                    params: { path },
                    body: { address: addr, schedule, ...(schedule === "threshold" ? { threshold } : {}) },
                  }),
                )
              }
              done={reload}
            />
          </form>
        </>
      )}
      {can(ctx.roles, "payout") && (
        <>
          <h2>Payout</h2>
          <form class="inline" onSubmit={(e) => e.preventDefault()}>
            <Field label="Token">
              <select value={payoutToken} onChange={(e) => setPayoutToken(e.currentTarget.value)}>
                {["USDT", "USDC", "FDUSD"].map((token) => (
                  <option key={token} value={token}>
                    {token}
                  </option>
                ))}
              </select>
            </Field>
            <Field label={`Amount (${payoutToken}, empty = everything available)`}>
              <input inputMode="decimal" value={payout} onInput={(e) => setPayout(e.currentTarget.value)} />
            </Field>
            <Action
              label="Request payout"
              testid="request-payout"
              act={async () =>
                ok(
                  await api.POST("/admin/merchants/{merchant_id}/payouts", {
                    params: { path },
                    body: { ...(payout.trim() ? { amount: payout.trim() } : {}), currency: payoutToken },
                  }),
                )
              }
              done={() => ctx.go("/console/approvals")}
            />
          </form>
        </>
      )}
    </section>
  );
}

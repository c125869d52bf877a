// Audit log: who did what, newest first, filterable by actor, target and action.
import { useState } from "preact/hooks";
import { api, ok } from "../api";
import { ErrorLine, Field, Scroll, useLoad } from "../ui";

export function Audit() {
  const [actor, setActor] = useState("");
  const [target, setTarget] = useState("");
  const [action, setAction] = useState("");
  const q = { actor, target, action };
  const query = Object.fromEntries(Object.entries({ ...q, limit: "100" }).filter(([, v]) => v));
  const { data, error } = useLoad(
    async () => ok(await api.GET("/admin/audit", { params: { query } })).data,
    [actor, target, action],
    5000,
  );
  const verify = useLoad(async () => ok(await api.GET("/admin/audit/verify")), []);
  return (
    <section aria-labelledby="h-audit">
      <h1 id="h-audit">Audit log</h1>
      {verify.data && (
        <p class={verify.data.ok ? "ok" : "error"} role="status">
          Hash chain {verify.data.ok ? "intact" : `broken at ${verify.data.first_break}: ${verify.data.reason}`} (
          {verify.data.checked} records checked)
        </p>
      )}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit log">
        <Field label="Actor">
          <input value={actor} onChange={(e) => setActor(e.currentTarget.value)} />
        </Field>
        <Field label="Target">
          <input value={target} onChange={(e) => setTarget(e.currentTarget.value)} />
        </Field>
        <Field label="Action">
          <input value={action} onChange={(e) => setAction(e.currentTarget.value)} />
        </Field>
      </form>
      <ErrorLine error={error} />
      <Scroll label="Audit records">
        <table>
          <thead>
            <tr>
              <th scope="col">When (UTC)</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">From</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {(data ?? []).map((r) => (
              <tr key={r.id}>
                <td>{new Date(r.created_at_ms).toISOString().replace("T", " ").slice(0, 19)}</td>
                <td>
                  {r.actor.label} <span class="muted small">{r.actor.roles.join(", ")}</span>
                </td>
                <td class="mono">{r.action}</td>
                <td class="mono">{r.target}</td>
                <td class="mono">{r.source_ip}</td>
                <td class="mono small wrap">{r.after ? JSON.stringify(r.after) : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
    </section>
  );
}

// Files for finance and compliance (docs/reports.md): CSV exports, a merchant's statement, the
// large-transfer report and the monthly per-merchant report. Each download is an authenticated
// request (the id token rides in Authorization), saved through a Blob; the API audits it.
import { useState } from "preact/hooks";
import { apiBase, session } from "../api";
import { ErrorLine, Field } from "../ui";
import { useMerchants } from "./payments";

type Kind = "payments" | "transfers" | "settlements" | "refunds" | "statement" | "large_transfers" | "monthly";

const KINDS: [Kind, string][] = [
  ["payments", "Payments (CSV)"],
  ["transfers", "Transfers (CSV)"],
  ["settlements", "Settlements (CSV)"],
  ["refunds", "Refunds (CSV)"],
  ["statement", "Merchant statement (CSV)"],
  ["large_transfers", "Large transfers (CSV)"],
  ["monthly", "Monthly report (CSV)"],
];

const today = () => new Date().toISOString().slice(0, 10);
const monthAgo = () => new Date(Date.now() - 30 * 86400_000).toISOString().slice(0, 10);

/** The API path and query of one download, or an error for the person to fix first. */
export function downloadPath(kind: Kind, merchant: string, from: string, to: string, threshold: string): string | Error {
  const q = new URLSearchParams();
  if (kind === "monthly") {
    q.set("month", from.slice(0, 7));
    q.set("format", "csv");
    return `/admin/reports/monthly?${q}`;
  }
  q.set("from", from);
  q.set("to", to);
  if (kind === "statement") {
    if (!merchant) return new Error("Choose a merchant for its statement.");
    q.set("format", "csv");
    return `/admin/merchants/${encodeURIComponent(merchant)}/statement?${q}`;
  }
  if (kind === "large_transfers") {
    if (threshold) q.set("threshold", threshold);
    q.set("format", "csv");
    return `/admin/reports/large_transfers?${q}`;
  }
  if (merchant) q.set("merchant_id", merchant);
  return `/admin/exports/${kind}.csv?${q}`;
}

export function Downloads() {
  const merchants = useMerchants();
  const [kind, setKind] = useState<Kind>("payments");
  const [merchant, setMerchant] = useState("");
  const [from, setFrom] = useState(monthAgo());
  const [to, setTo] = useState(today());
  const [threshold, setThreshold] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);

  const download = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(null);
    const path = downloadPath(kind, merchant, from, to, threshold);
    if (path instanceof Error) return setError(path.message);
    setBusy(true);
    try {
      // A large export answers 303 to a pre-signed URL; fetch follows it.
      const res = await fetch(`${apiBase()}${path}`, { headers: { Authorization: session.token ?? "" } });
      if (!res.ok) {
        const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
        throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      }
      const name = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") ?? "")?.[1] ?? `${kind}.csv`;
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setSaved(name);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="h-dl">
      <h2 id="h-dl">Downloads</h2>
      <form class="filters" onSubmit={download} aria-label="Download a report">
        <Field label="File">
          <select data-testid="download-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
            {KINDS.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
        </Field>
        {kind !== "large_transfers" && kind !== "monthly" && (
          <Field label="Merchant">
            <select data-testid="download-merchant" value={merchant} onChange={(e) => setMerchant(e.currentTarget.value)}>
              <option value="">{kind === "statement" ? "Choose…" : "Every merchant"}</option>
              {(merchants.data ?? []).map((m) => (
                <option key={m.id} value={m.id}>
                  {m.name}
                </option>
              ))}
            </select>
          </Field>
        )}
        <Field label={kind === "monthly" ? "Month of" : "From (UTC)"}>
          <input type="date" data-testid="download-from" value={from} onInput={(e) => setFrom(e.currentTarget.value)} required />
        </Field>
        {kind !== "monthly" && (
          <Field label="To (UTC, exclusive)">
            <input type="date" data-testid="download-to" value={to} onInput={(e) => setTo(e.currentTarget.value)} required />
          </Field>
        )}
        {kind === "large_transfers" && (
          <Field label="Threshold (USDT)">
            <input inputMode="decimal" placeholder="deployment default" value={threshold} onInput={(e) => setThreshold(e.currentTarget.value)} />
          </Field>
        )}
        <button type="submit" class="btn primary" data-testid="download" disabled={busy}>
          {busy ? "Preparing…" : "Download"}
        </button>
      </form>
      <ErrorLine error={error} />
      {saved && (
        <p role="status" data-testid="download-saved">
          Saved {saved}.
        </p>
      )}
    </section>
  );
}

// Hosted checkout: one payment, polled every 1.5 s from GET /pay/<id>/status (no reload).
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { toCanvas } from "qrcode";
import { has, lang, money, t } from "../lib/i18n";
import { type Checkout, NotFound, RateLimited, fetchStatus, paymentIdFromPath } from "./api";
import { deepLinks, injectedProvider, payWithWallet } from "./wallet";
import "./checkout.css";

const POLL_MS = 1500;
const REDIRECT_S = 3;
const DONE = new Set(["paid", "overpaid", "canceled"]);
// The customer is asked to (still) send funds while waiting, underpaid, or confirming a part of the
// amount; once the whole amount is confirming the page shows progress and no second payment button.
const missing = (p: Checkout) => Number(p.amount_remaining) > 0;
const payable = (p: Checkout) =>
  p.status === "pending" || p.status === "underpaid" || (p.status === "confirming" && missing(p));
const TICKING = new Set(["pending", "confirming", "underpaid", "expired"]);

// https only, http only when this page itself is http (the local stack): a redirect never
// downgrades (the API refuses http outside local mode too; defence in depth).
const safeUrl = (u: string | null) =>
  u && (/^https:\/\//i.test(u) || (location.protocol === "http:" && /^http:\/\//i.test(u))) ? u : null;

function usePayment(id: string) {
  const [data, setData] = useState<Checkout | null>(null);
  const [error, setError] = useState<"not_found" | "offline" | null>(null);
  const [offset, setOffset] = useState(0); // server clock minus ours, seconds
  useEffect(() => {
    let timer = 0;
    let stopped = false;
    const ctrl = new AbortController();
    const tick = async () => {
      let next = POLL_MS;
      try {
        const p = await fetchStatus(id, ctrl.signal);
        setData(p);
        setOffset(p.now - Date.now() / 1000);
        setError(null);
        if (DONE.has(p.status)) return; // nothing more will happen
        if (p.status === "expired") next = 5000; // late funds still count: keep watching, slower
      } catch (err) {
        if (stopped) return;
        if (err instanceof NotFound) return setError("not_found");
        if (err instanceof RateLimited) next = err.retryAfterS * 1000;
        else {
          setError("offline");
          next = 3000;
        }
      }
      if (!stopped) timer = window.setTimeout(tick, next);
    };
    void tick();
    return () => {
      stopped = true;
      ctrl.abort();
      clearTimeout(timer);
    };
  }, [id]);
  return { data, error, offset };
}

function useNow(offset: number) {
  const [now, setNow] = useState(() => Date.now() / 1000 + offset);
  useEffect(() => {
    setNow(Date.now() / 1000 + offset);
    const i = window.setInterval(() => setNow(Date.now() / 1000 + offset), 1000);
    return () => clearInterval(i);
  }, [offset]);
  return now;
}

function Countdown({ expiresAt, offset, status }: { expiresAt: number; offset: number; status: string }) {
  const now = useNow(offset);
  const left = Math.max(0, Math.floor(expiresAt - now));
  const mm = String(Math.floor(left / 60)).padStart(2, "0");
  const ss = String(left % 60).padStart(2, "0");
  const over = left === 0 || status === "expired";
  return (
    <div class="row">
      <span class="label">{over ? t("expired_at") : t("expires_in")}</span>
      <span data-testid="countdown" class={`value mono ${left < 120 ? "warn" : ""}`} role="timer" aria-live="off">
        {over ? "00:00" : `${mm}:${ss}`}
      </span>
    </div>
  );
}

function Qr({ text }: { text: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (ref.current)
      void toCanvas(ref.current, text, { margin: 2, width: 232, errorCorrectionLevel: "M", color: { dark: "#000000", light: "#ffffff" } });
  }, [text]);
  return <canvas ref={ref} data-testid="qr" class="qr" role="img" aria-label={t("qr_label")} width={232} height={232} />;
}

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const sel = window.getSelection();
      const el = document.querySelector('[data-testid="address"]');
      if (sel && el) sel.selectAllChildren(el);
      document.execCommand?.("copy");
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 2000);
  };
  return (
    <button type="button" class="btn secondary" data-testid="copy-address" onClick={copy}>
      <span aria-live="polite">{copied ? t("copied") : t("copy")}</span>
    </button>
  );
}

function StatusBanner({ p }: { p: Checkout }) {
  const key = `s_${p.status}`;
  const help: Partial<Record<string, string>> = {
    underpaid: t("underpaid_help"),
    expired: t("expired_help"),
    held: t("held_help"),
    canceled: t("canceled_help"),
    paid: t("paid_help"),
    overpaid: t("paid_help"),
  };
  const c = p.confirmations;
  return (
    <section class={`status status-${p.status}`} role="status" aria-live="polite" aria-atomic="true">
      <p data-testid="status" data-status={p.status} class="status-text">
        {has(key) ? t(key) : p.status}
        {p.status === "underpaid" && ` · ${t("remaining")}: ${money(p.amount_remaining)} ${p.currency}`}
      </p>
      {p.status === "confirming" && c && (
        <div class="progress">
          <progress max={c.required} value={Math.min(c.seen, c.required)} aria-label={t("confirmations")} />
          <span>
            {Math.min(c.seen, c.required)} / {c.required} {t("confirmations")}
          </span>
        </div>
      )}
      {p.status === "confirming" && missing(p) && (
        <p class="help">{t("partial_help", { received: money(p.amount_received), remaining: money(p.amount_remaining), token: p.currency })}</p>
      )}
      {help[p.status] && <p class="help">{help[p.status]}</p>}
    </section>
  );
}

function Redirect({ url }: { url: string }) {
  const [left, setLeft] = useState(REDIRECT_S);
  useEffect(() => {
    if (left <= 0) {
      location.assign(url);
      return;
    }
    const h = setTimeout(() => setLeft(left - 1), 1000);
    return () => clearTimeout(h);
  }, [left, url]);
  return (
    <p class="redirect">
      {t("redirecting", { s: left })} <a href={url}>{t("back_to_shop")}</a>
    </p>
  );
}

function WalletPay({ p }: { p: Checkout }) {
  const [msg, setMsg] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const pay = async () => {
    const provider = injectedProvider();
    if (!provider) return setMsg(t("no_wallet"));
    setBusy(true);
    setMsg(null);
    try {
      await payWithWallet(p, provider);
      setMsg(t("wallet_sent"));
    } catch (err) {
      setMsg(`${t("wallet_failed")}: ${(err as { message?: string }).message ?? String(err)}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="wallets" aria-label={t("pay_wallet")}>
      <button type="button" class="btn primary" data-testid="pay-wallet" onClick={pay} disabled={busy} aria-busy={busy}>
        {t("pay_wallet")}
      </button>
      {msg && (
        <p class="help" role="alert">
          {msg}
        </p>
      )}
      <p class="links">
        {t("open_in")}{" "}
        {deepLinks(p).map((l) => (
          <>
            <a href={l.href} rel="noopener noreferrer" data-testid={`deeplink-${l.name.split(" ")[0].toLowerCase()}`}>
              {l.name}
            </a>
            {" · "}
          </>
        ))}
        <a href={p.eip681}>{t("any_wallet")}</a>
      </p>
    </section>
  );
}

function Page({ p, offset }: { p: Checkout; offset: number }) {
  const canPay = payable(p);
  const success = safeUrl(p.success_url);
  const cancel = safeUrl(p.cancel_url);
  return (
    <>
      <header>
        <p class="muted">{t("pay_to")}</p>
        <h1>{p.merchant_name}</h1>
      </header>
      <StatusBanner p={p} />
      {(p.status === "paid" || p.status === "overpaid") && success && <Redirect url={success} />}
      <dl class="facts">
        <div class="row">
          <dt class="label">{t("amount_due")}</dt>
          <dd class="value big" data-testid="amount">
            {money(p.amount)} {p.currency}
          </dd>
        </div>
        {p.price && (
          <div class="row">
            <dt class="label">{t("price")}</dt>
            <dd class="value" data-testid="price">
              {money(p.price.amount)} {p.price.currency}
              <span class="muted"> · {t("rate_locked", { currency: p.price.currency, rate: p.price.rate, token: p.currency })}</span>
            </dd>
          </div>
        )}
        <div class="row">
          <dt class="label">{t("remaining")}</dt>
          <dd class="value" data-testid="remaining">
            {money(p.amount_remaining)} {p.currency}
          </dd>
        </div>
        <div class="row">
          <dt class="label">{t("network_label")}</dt>
          <dd class="value">{t("network", { token: p.currency })}</dd>
        </div>
      </dl>
      {TICKING.has(p.status) && <Countdown expiresAt={p.expires_at} offset={offset} status={p.status} />}
      <section class="deposit" aria-labelledby="addr-label">
        {canPay && <p class="help">{t("send_exactly", { token: p.currency })}</p>}
        <p id="addr-label" class="label">
          {t("address")}
        </p>
        <p class="address mono" data-testid="address">
          {p.address}
        </p>
        <CopyButton text={p.address} />
        {canPay && <Qr text={p.eip681} />}
      </section>
      {canPay && <WalletPay p={p} />}
      {cancel && (canPay || p.status === "expired" || p.status === "canceled") && (
        <p class="links">
          <a href={cancel}>{canPay ? t("cancel") : t("back_to_shop")}</a>
        </p>
      )}
    </>
  );
}

function App({ id }: { id: string }) {
  const { data, error, offset } = usePayment(id);
  if (error === "not_found") return <p role="alert">{t("not_found")}</p>;
  return (
    <>
      {error === "offline" && (
        <p class="banner" role="alert">
          {t("offline")}
        </p>
      )}
      {data ? <Page p={data} offset={offset} /> : <p class="muted">…</p>}
    </>
  );
}

document.documentElement.lang = lang;
const root = document.getElementById("app")!;
root.textContent = "";
const id = paymentIdFromPath();
render(id ? <App id={id} /> : <p role="alert">{t("not_found")}</p>, root);

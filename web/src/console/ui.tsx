// Small shared pieces of the console: routing, polling, formatting, action buttons.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";

// ---- routing: /console/<view>/<id?>, history API, no library -------------------------------
export function useRoute(): [string[], (to: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  const go = useCallback((to: string) => {
    history.pushState(null, "", to);
    setPath(to);
    scrollTo(0, 0);
  }, []);
  const parts = path.replace(/^\/console\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  return [parts, go];
}

export function Link({ href, go, children, ...rest }: { href: string; go: (to: string) => void; children: ComponentChildren; [k: string]: unknown }) {
  return (
    <a
      href={href}
      {...rest}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        go(href);
      }}
    >
      {children}
    </a>
  );
}

// ---- data loading ---------------------------------------------------------------------------
/** Loads with `load`, again every `everyMs` (0 = once) and whenever `deps` change. Polls at a fixed
 *  rate (a slow answer does not push the next request back), at most two requests in flight, and
 *  an answer older than the one shown is dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], everyMs = 0) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    let sent = 0;
    let shown = 0;
    let inFlight = 0;
    const run = async () => {
      if (inFlight >= 2) return;
      const seq = ++sent;
      inFlight++;
      try {
        const d = await load();
        if (live && seq > shown) {
          shown = seq;
          setData(d);
          setError(null);
        }
      } catch (e) {
        if (live && seq > shown) setError((e as Error).message);
      } finally {
        inFlight--;
      }
    };
    void run();
    const timer = everyMs ? window.setInterval(run, everyMs) : 0;
    return () => {
      live = false;
      clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

// ---- formatting ---------------------------------------------------------------------------
export const fmtTime = (s: number | null | undefined) =>
  s ? new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z" : "—";
export const fmtUsdt = (a: string | null | undefined) => (a == null ? "—" : `${a} USDT`);
/** An amount in its token: USDT, USDC or FDUSD (issue 14). */
export const fmtToken = (a: string | null | undefined, token: string) => (a == null ? "—" : `${a} ${token}`);
export const short = (s: string | null | undefined, n = 10) => (!s ? "—" : s.length > n + 4 ? `${s.slice(0, n)}…${s.slice(-4)}` : s);

export function txLink(chainId: number, hash: string) {
  const host = chainId === 56 ? "https://bscscan.com" : chainId === 97 ? "https://testnet.bscscan.com" : null;
  return host ? (
    <a href={`${host}/tx/${hash}`} target="_blank" rel="noopener noreferrer" class="mono">
      {short(hash, 12)}
    </a>
  ) : (
    <span class="mono" title={hash}>
      {short(hash, 12)}
    </span>
  );
}

export function Badge({ value }: { value: string }) {
  return <span class={`badge b-${value}`}>{value.replace(/_/g, " ")}</span>;
}

export function ErrorLine({ error }: { error: string | null }) {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

/** A write button: runs `act`, shows its error, calls `done` after. With `prompt`, the first click
 *  opens an inline reason field (no window.prompt: keyboard and test friendly). */
export function Action({
  label,
  act,
  done,
  testid,
  prompt,
  kind = "secondary",
  disabled,
  title,
}: {
  label: string;
  act: (reason: string) => Promise<unknown>;
  done?: () => void;
  testid?: string;
  prompt?: string;
  kind?: "primary" | "secondary" | "danger";
  disabled?: boolean;
  title?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState("");
  const run = async () => {
    setBusy(true);
    setErr(null);
    try {
      await act(reason.trim());
      setAsking(false);
      done?.();
    } catch (e) {
      setErr((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span class="action">
      {asking ? (
        <form
          class="inline"
          onSubmit={(e) => {
            e.preventDefault();
            void run();
          }}
        >
          <input
            aria-label={prompt}
            placeholder={prompt}
            value={reason}
            required
            data-testid={testid && `${testid}-reason`}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
          <button type="submit" class={`btn ${kind}`} disabled={busy} data-testid={testid && `${testid}-confirm`}>
            {label}
          </button>
          <button type="button" class="btn link" onClick={() => setAsking(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <button
          type="button"
          class={`btn ${kind}`}
          data-testid={testid}
          onClick={() => (prompt ? setAsking(true) : void run())}
          disabled={busy || disabled}
          title={title}
        >
          {label}
        </button>
      )}
      {err && (
        <span class="error" role="alert">
          {err}
        </span>
      )}
    </span>
  );
}

export function Field({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

/** A labelled definition list from [label, value] pairs. */
export function Facts({ rows }: { rows: [string, ComponentChildren][] }) {
  return (
    <dl class="facts">
      {rows.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A table box that scrolls sideways on narrow screens; focusable so keyboards can scroll it. */
export function Scroll({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="scroll" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

/** True when an audit label names the signed-in admin: the API writes "admin:<username>"
 *  (requested_by, created_by) or the bare username (address_set_by). */
export const isMe = (by: string | null | undefined, username: string) => !!by && (by === username || by === `admin:${username}`);

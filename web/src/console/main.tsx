// Admin console: sign in (local stack or Cognito), then role-aware views over the admin API.
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { toCanvas } from "qrcode";
import { ApiError, type ConsoleConfig, api, configure, loadConfig, ok, session, whenUnauthorized, type S } from "./api";
import { initiate, localLogin, otpauthUri, respond, setupTotp, type CognitoStep } from "./cognito";
import type { Ctx } from "./ctx";
import { ErrorLine, Link, useRoute } from "./ui";
import { Approvals } from "./views/approvals";
import { Audit } from "./views/audit";
import { Blocklist } from "./views/blocklist";
import { MerchantDetail, Merchants } from "./views/merchants";
import { PaymentDetail, Payments } from "./views/payments";
import { Reports } from "./views/reports";
import { Treasury } from "./views/treasury";
import { Users } from "./views/users";
import "./console.css";

const VIEWS = [
  ["payments", "Payments"],
  ["approvals", "Approvals"],
  ["merchants", "Merchants"],
  ["treasury", "Treasury"],
  ["reports", "Reports"],
  ["blocklist", "Blocklist"],
  ["audit", "Audit log"],
  ["users", "Users"],
] as const;

function Login({ cfg, onToken }: { cfg: ConsoleConfig; onToken: (t: string, exp: number) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [answer, setAnswer] = useState("");
  const [step, setStep] = useState<CognitoStep | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let next: CognitoStep;
      if (cfg.mode === "local") next = await localLogin(username, password);
      else if (step?.kind === "mfa") next = await respond(cfg, "SOFTWARE_TOKEN_MFA", step.session, username, answer.trim());
      else if (step?.kind === "new_password") next = await respond(cfg, "NEW_PASSWORD_REQUIRED", step.session, username, answer);
      else if (step?.kind === "mfa_setup") next = await setupTotp(cfg, step.session, username, answer.trim());
      else next = await initiate(cfg, username, password);
      setAnswer("");
      if (next.kind === "done") onToken(next.idToken, next.expiresIn);
      else setStep(next);
    } catch (err) {
      const message = (err as Error).message;
      // A challenge session lasts a few minutes and some failures end it: start over from the password.
      if (step && /session/i.test(message)) {
        setStep(null);
        setAnswer("");
        setError(`${message} — please sign in again.`);
      } else setError(message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="h-login">
        <h1 id="h-login">bscpay console</h1>
        {!step && (
          <>
            <label class="field">
              <span>Username</span>
              <input data-testid="username" autocomplete="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
            </label>
            <label class="field">
              <span>Password</span>
              <input
                data-testid="password"
                type="password"
                autocomplete="current-password"
                required
                value={password}
                onInput={(e) => setPassword(e.currentTarget.value)}
              />
            </label>
          </>
        )}
        {step?.kind === "mfa" && (
          <label class="field">
            <span>Code from your authenticator app</span>
            <input
              data-testid="totp"
              inputMode="numeric"
              autocomplete="one-time-code"
              pattern="[0-9]{6}"
              required
              value={answer}
              onInput={(e) => setAnswer(e.currentTarget.value)}
            />
          </label>
        )}
        {step?.kind === "new_password" && (
          <label class="field">
            <span>Choose a new password</span>
            <input
              data-testid="new-password"
              type="password"
              autocomplete="new-password"
              required
              minLength={12}
              value={answer}
              onInput={(e) => setAnswer(e.currentTarget.value)}
            />
          </label>
        )}
        {step?.kind === "mfa_setup" && <TotpSetup username={username} secret={step.secret} code={answer} setCode={setAnswer} />}
        <ErrorLine error={error} />
        {step?.kind === "mfa_setup" ? (
          <button type="submit" class="btn primary" data-testid="mfa-setup-submit" disabled={busy}>
            Verify and sign in
          </button>
        ) : (
          <button type="submit" class="btn primary" data-testid="login" disabled={busy}>
            {step ? "Continue" : "Sign in"}
          </button>
        )}
      </form>
    </main>
  );
}

/** MFA_SETUP: the new TOTP secret as a QR code (otpauth URI) and as text, then the first code. */
function TotpSetup({ username, secret, code, setCode }: { username: string; secret: string; code: string; setCode: (c: string) => void }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const uri = otpauthUri(username, secret);
  useEffect(() => {
    if (ref.current)
      void toCanvas(ref.current, uri, { margin: 4, width: 200, errorCorrectionLevel: "M", color: { dark: "#000000", light: "#ffffff" } });
  }, [uri]);
  return (
    <div class="mfa-setup">
      <p>
        This account needs an authenticator app (multi-factor authentication is required). Scan the code with your app, or
        enter the secret by hand, then type the 6-digit code it shows.
      </p>
      <canvas
        ref={ref}
        class="qr"
        data-testid="mfa-setup-qr"
        role="img"
        aria-label={`QR code for your authenticator app: ${uri}`}
        width={200}
        height={200}
      />
      <p>
        Secret (time-based, 30 s):{" "}
        <code class="mono secret" data-testid="mfa-setup-secret">
          {secret}
        </code>
      </p>
      <label class="field">
        <span>6-digit code from your authenticator app</span>
        <input
          data-testid="mfa-setup-code"
          inputMode="numeric"
          autocomplete="one-time-code"
          pattern="[0-9]{6}"
          required
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
      </label>
    </div>
  );
}

function Shell({ me, signOut }: { me: S["AdminMeOut"]; signOut: () => void }) {
  const [parts, go] = useRoute();
  const ctx: Ctx = { me, roles: me.roles, go };
  const [view = "payments", id] = parts;
  let page;
  if (view === "payments" && id) page = <PaymentDetail ctx={ctx} id={id} />;
  else if (view === "merchants" && id) page = <MerchantDetail ctx={ctx} id={id} />;
  else if (view === "approvals") page = <Approvals ctx={ctx} />;
  else if (view === "merchants") page = <Merchants ctx={ctx} />;
  else if (view === "treasury") page = <Treasury ctx={ctx} />;
  else if (view === "reports") page = <Reports />;
  else if (view === "audit") page = <Audit />;
  else if (view === "blocklist") page = <Blocklist ctx={ctx} />;
  else if (view === "users") page = <Users ctx={ctx} />;
  else page = <Payments ctx={ctx} />;
  useEffect(() => {
    document.title = `${VIEWS.find(([v]) => v === view)?.[1] ?? "Payments"} · bscpay console`;
  }, [view]);
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">bscpay</span>
        <nav aria-label="Console">
          {VIEWS.map(([v, label]) => (
            <Link key={v} href={`/console/${v}`} go={go} data-testid={`nav-${v}`} aria-current={view === v ? "page" : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <span class="who">
          <span data-testid="me">{me.username}</span> <span class="muted">({me.roles.join(", ") || "no role"})</span>{" "}
          <button type="button" class="btn link" data-testid="logout" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="content" tabIndex={-1}>
        {page}
      </main>
    </>
  );
}

function App() {
  const [cfg, setCfg] = useState<ConsoleConfig | null>(null);
  const [token, setToken] = useState<string | null>(session.token);
  const [me, setMe] = useState<S["AdminMeOut"] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    void loadConfig().then((c) => {
      configure(c);
      setCfg(c);
    });
    whenUnauthorized(() => {
      session.clear();
      setToken(null);
      setMe(null);
    });
  }, []);
  useEffect(() => {
    if (!cfg || !token) return;
    api
      .GET("/admin/me")
      .then((r) => setMe(ok(r)))
      .catch((e: Error) => {
        setError(e instanceof ApiError && e.status === 403 ? "This user has no console role." : e.message);
        session.clear();
        setToken(null);
      });
  }, [cfg, token]);
  const signOut = async () => {
    await api.POST("/admin/me/sign_out").catch(() => undefined);
    session.clear();
    setToken(null);
    setMe(null);
  };
  if (!cfg) return <p class="muted">Loading…</p>;
  if (!token)
    return (
      <>
        {error && <ErrorLine error={error} />}
        <Login
          cfg={cfg}
          onToken={(t, exp) => {
            session.save(t, exp);
            setError(null);
            setToken(t);
          }}
        />
      </>
    );
  if (!me) return <p class="muted">Loading…</p>;
  return <Shell me={me} signOut={signOut} />;
}

render(<App />, document.getElementById("app")!);

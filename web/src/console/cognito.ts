// Cognito user-pool sign-in straight from the browser (AWS mode): USER_PASSWORD_AUTH, then the
// SOFTWARE_TOKEN_MFA (TOTP), NEW_PASSWORD_REQUIRED and MFA_SETUP (first sign-in of a user without a TOTP
// device while the pool requires MFA: AssociateSoftwareToken -> VerifySoftwareToken -> RespondToAuthChallenge).
// The app client is public (no secret).
import type { ConsoleConfig } from "./api";

export type CognitoStep =
  | { kind: "done"; idToken: string; expiresIn: number }
  | { kind: "mfa"; session: string }
  | { kind: "new_password"; session: string }
  | { kind: "mfa_setup"; session: string; secret: string };

interface AuthResponse {
  AuthenticationResult?: { IdToken: string; ExpiresIn: number };
  ChallengeName?: string;
  Session?: string;
  SecretCode?: string;
  Status?: string;
  message?: string;
  __type?: string;
}

async function call(cfg: ConsoleConfig, target: string, body: object): Promise<AuthResponse> {
  const res = await fetch(`https://cognito-idp.${cfg.region}.amazonaws.com/`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AWSCognitoIdentityProviderService.${target}`,
    },
    body: JSON.stringify(body),
  });
  const out = (await res.json()) as AuthResponse;
  if (!res.ok) throw new Error(out.message ?? out.__type ?? `Cognito ${res.status}`);
  return out;
}

async function step(cfg: ConsoleConfig, out: AuthResponse): Promise<CognitoStep> {
  if (out.AuthenticationResult)
    return { kind: "done", idToken: out.AuthenticationResult.IdToken, expiresIn: out.AuthenticationResult.ExpiresIn };
  if (out.ChallengeName === "SOFTWARE_TOKEN_MFA") return { kind: "mfa", session: out.Session! };
  if (out.ChallengeName === "NEW_PASSWORD_REQUIRED") return { kind: "new_password", session: out.Session! };
  if (out.ChallengeName === "MFA_SETUP") {
    // A TOTP secret for this user, bound to the challenge's session; its answer carries a new session.
    const assoc = await call(cfg, "AssociateSoftwareToken", { Session: out.Session });
    if (!assoc.SecretCode || !assoc.Session) throw new Error("Cognito gave no authenticator secret");
    return { kind: "mfa_setup", session: assoc.Session, secret: assoc.SecretCode };
  }
  throw new Error(`Unsupported sign-in step: ${out.ChallengeName ?? "none"}`);
}

export async function initiate(cfg: ConsoleConfig, username: string, password: string): Promise<CognitoStep> {
  return step(
    cfg,
    await call(cfg, "InitiateAuth", {
      AuthFlow: "USER_PASSWORD_AUTH",
      ClientId: cfg.client_id,
      AuthParameters: { USERNAME: username, PASSWORD: password },
    }),
  );
}

export async function respond(
  cfg: ConsoleConfig,
  challenge: "SOFTWARE_TOKEN_MFA" | "NEW_PASSWORD_REQUIRED",
  session: string,
  username: string,
  answer: string,
): Promise<CognitoStep> {
  const ChallengeResponses =
    challenge === "SOFTWARE_TOKEN_MFA"
      ? { USERNAME: username, SOFTWARE_TOKEN_MFA_CODE: answer }
      : { USERNAME: username, NEW_PASSWORD: answer };
  return step(
    cfg,
    await call(cfg, "RespondToAuthChallenge", {
      ChallengeName: challenge,
      ClientId: cfg.client_id,
      Session: session,
      ChallengeResponses,
    }),
  );
}

/** MFA_SETUP: checks the first code from the new authenticator, then finishes the sign-in challenge. */
export async function setupTotp(cfg: ConsoleConfig, session: string, username: string, code: string): Promise<CognitoStep> {
  const verified = await call(cfg, "VerifySoftwareToken", { Session: session, UserCode: code, FriendlyDeviceName: "bscpay console" });
  if (verified.Status !== "SUCCESS" || !verified.Session) throw new Error("That code did not match; try the next one");
  return step(
    cfg,
    await call(cfg, "RespondToAuthChallenge", {
      ChallengeName: "MFA_SETUP",
      ClientId: cfg.client_id,
      Session: verified.Session,
      ChallengeResponses: { USERNAME: username },
    }),
  );
}

/** otpauth URI for authenticator apps (issuer bscpay, label bscpay:<username>). */
export const otpauthUri = (username: string, secret: string) =>
  `otpauth://totp/bscpay:${encodeURIComponent(username)}?secret=${encodeURIComponent(secret)}&issuer=bscpay`;

/** Local stack: POST /console/auth/login (contract 3). */
export async function localLogin(username: string, password: string): Promise<CognitoStep> {
  const res = await fetch("/console/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const out = (await res.json().catch(() => ({}))) as { id_token?: string; expires_in?: number; error?: { message?: string } };
  if (!res.ok || !out.id_token) throw new Error(out.error?.message ?? "Wrong username or password");
  return { kind: "done", idToken: out.id_token, expiresIn: out.expires_in ?? 3600 };
}

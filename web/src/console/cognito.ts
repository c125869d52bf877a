// Cognito user-pool sign-in straight from the browser (AWS mode): USER_PASSWORD_AUTH, then the
// SOFTWARE_TOKEN_MFA (TOTP) and NEW_PASSWORD_REQUIRED challenges. The app client is public (no secret).
import type { ConsoleConfig } from "./api";

export type CognitoStep =
  | { kind: "done"; idToken: string; expiresIn: number }
  | { kind: "mfa"; session: string }
  | { kind: "new_password"; session: string };

interface AuthResponse {
  AuthenticationResult?: { IdToken: string; ExpiresIn: number };
  ChallengeName?: string;
  Session?: string;
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

function step(out: AuthResponse): CognitoStep {
  if (out.AuthenticationResult)
    return { kind: "done", idToken: out.AuthenticationResult.IdToken, expiresIn: out.AuthenticationResult.ExpiresIn };
  if (out.ChallengeName === "SOFTWARE_TOKEN_MFA") return { kind: "mfa", session: out.Session! };
  if (out.ChallengeName === "NEW_PASSWORD_REQUIRED") return { kind: "new_password", session: out.Session! };
  throw new Error(`Unsupported sign-in step: ${out.ChallengeName ?? "none"}`);
}

export async function initiate(cfg: ConsoleConfig, username: string, password: string): Promise<CognitoStep> {
  return step(
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
    await call(cfg, "RespondToAuthChallenge", {
      ChallengeName: challenge,
      ClientId: cfg.client_id,
      Session: session,
      ChallengeResponses,
    }),
  );
}

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

// Admin API client: types generated from docs/openapi/admin-api.json (openapi-typescript, at build time)
// and openapi-fetch to call it. The id token rides in Authorization (contract 3, issue 13 board).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../generated/admin-api";

export type S = components["schemas"];
export type Role = S["AdminMeOut"]["roles"][number];

export interface ConsoleConfig {
  mode: "local" | "cognito";
  region: string;
  user_pool_id: string;
  client_id: string;
  api_base: string;
}

const TOKEN_KEY = "bscpay.console.token";

export const session = {
  get token(): string | null {
    const raw = sessionStorage.getItem(TOKEN_KEY);
    if (!raw) return null;
    const { token, exp } = JSON.parse(raw) as { token: string; exp: number };
    return Date.now() < exp ? token : null;
  },
  save(token: string, expiresIn: number) {
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token, exp: Date.now() + (expiresIn - 30) * 1000 }));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

export async function loadConfig(): Promise<ConsoleConfig> {
  try {
    const res = await fetch("/console/config.json", { cache: "no-store" });
    if (res.ok) return (await res.json()) as ConsoleConfig;
  } catch {
    /* fall through to the local default */
  }
  return { mode: "local", region: "", user_pool_id: "", client_id: "", api_base: "" };
}

let onUnauthorized = () => {};
export function whenUnauthorized(fn: () => void) {
  onUnauthorized = fn;
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = session.token;
    if (token) request.headers.set("Authorization", token);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) onUnauthorized();
    return response;
  },
};

export let api = createClient<paths>({ baseUrl: "" });
api.use(auth);

let base = "";
/** Where the admin API is (the local stack: this origin; AWS: config.json's api_base). */
export const apiBase = () => base;

export function configure(cfg: ConsoleConfig) {
  base = cfg.api_base.replace(/\/$/, "");
  api = createClient<paths>({ baseUrl: base });
  api.use(auth);
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Unwraps an openapi-fetch result: the data, or an ApiError with the API's own message. */
export function ok<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.data !== undefined && r.response.ok) return r.data;
  const e = (r.error as { error?: { message?: string; code?: string } } | undefined)?.error;
  throw new ApiError(r.response.status, e?.message ?? e?.code ?? `HTTP ${r.response.status}`);
}

// What each role may do: shared/admin/roles.py (the API enforces it; the console only hides buttons).
const WRITES = {
  redeliver: ["support"],
  rescan: ["support"],
  tolerance: ["support", "admin"],
  suspend: ["support", "admin"],
  blocklist: ["support", "admin"],
  payout: ["finance"],
  decide: ["finance"],
  gas: ["finance"],
  held: ["finance"],
  merchants: ["admin"],
  keys: ["admin"],
  settlement: ["admin"],
  kyc: ["admin"],
  users: ["admin"],
} as const satisfies Record<string, readonly Role[]>;
export type Write = keyof typeof WRITES;

export function can(roles: readonly Role[], what: Write): boolean {
  return (WRITES[what] as readonly Role[]).some((r) => roles.includes(r));
}

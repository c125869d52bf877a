// The public checkout status document: contract 1 on the issue 13 board
// (GET /pay/<payment_id>/status, no auth, nothing merchant-private).
import type { components } from "../generated/merchant-api";

export type CheckoutStatus =
  | "pending"
  | "confirming"
  | "paid"
  | "overpaid"
  | "underpaid"
  | "expired"
  | "canceled"
  | "held";

/** Generated from docs/openapi/merchant-api.json (CheckoutOut): a renamed field fails `tsc`. */
export type Checkout = components["schemas"]["CheckoutOut"];

export class NotFound extends Error {}

/** 429 from the per-IP limit: wait `retryAfterS` before asking again. */
export class RateLimited extends Error {
  constructor(public retryAfterS: number) {
    super("rate limited");
  }
}

export async function fetchStatus(id: string, signal?: AbortSignal): Promise<Checkout> {
  const res = await fetch(`/pay/${encodeURIComponent(id)}/status`, {
    headers: { Accept: "application/json" },
    cache: "no-store",
    signal,
  });
  if (res.status === 404) throw new NotFound(id);
  if (res.status === 429) throw new RateLimited(Math.min(60, Math.max(1, Number(res.headers.get("Retry-After")) || 5)));
  if (!res.ok) throw new Error(`status ${res.status}`);
  return (await res.json()) as Checkout;
}

/** The payment id from /pay/<id> (or /pay/<id>/). */
export function paymentIdFromPath(path = location.pathname): string | null {
  const m = /^\/pay\/([A-Za-z0-9_-]{1,100})\/?$/.exec(path);
  return m ? m[1] : null;
}

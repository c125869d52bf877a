// English plus German, chosen from the browser's language list (navigator.languages).
// No library: two flat dictionaries keep the checkout small; a missing German key falls back to English.
const en = {
  pay_to: "Pay to",
  amount_due: "Amount due",
  price: "Price",
  rate_locked: "1 {currency} = {rate} {token}, locked until the payment expires",
  remaining: "Still to pay",
  received: "Received",
  network: "{token} · BNB Smart Chain",
  network_label: "Token and network",
  address: "Deposit address",
  copy: "Copy address",
  copied: "Copied",
  qr_label: "QR code of the payment request for wallet apps",
  expires_in: "Time left",
  expired_at: "Expired",
  pay_wallet: "Pay with browser wallet",
  no_wallet: "No browser wallet found. Scan the QR code or open a wallet app below.",
  wallet_sent: "Transaction sent. Waiting for the network…",
  wallet_failed: "The wallet did not send the payment",
  open_in: "Open in",
  any_wallet: "wallet app",
  s_pending: "Waiting for payment",
  s_confirming: "Payment seen, confirming",
  s_paid: "Paid",
  s_overpaid: "Paid (more than due)",
  s_underpaid: "Underpaid",
  s_expired: "Expired",
  s_canceled: "Canceled",
  s_held: "Held for review",
  confirmations: "confirmations",
  underpaid_help: "Part of the amount arrived. Please send the remaining amount to the same address.",
  expired_help: "This payment request has expired. Funds sent to this address later are still credited to the merchant; contact the merchant if you paid late.",
  partial_help: "{received} {token} arrived. Please send the remaining {remaining} {token} to the same address.",
  held_help: "The payment arrived and is held for a compliance review. The merchant will contact you.",
  canceled_help: "The merchant canceled this payment request. Do not send funds.",
  paid_help: "Thank you, the payment is complete.",
  redirecting: "Returning to the shop in {s} s…",
  back_to_shop: "Return to the shop",
  cancel: "Cancel and return to the shop",
  not_found: "This payment does not exist.",
  offline: "Connection lost, retrying…",
  send_exactly: "Send the amount still to pay, in {token} (BEP-20) on BNB Smart Chain, to the address below.",
};
export type Key = keyof typeof en;
export const has = (key: string): key is Key => key in en;
const de: Partial<Record<Key, string>> = {
  pay_to: "Zahlung an",
  amount_due: "Fälliger Betrag",
  price: "Preis",
  rate_locked: "1 {currency} = {rate} {token}, fest bis zum Ablauf der Zahlung",
  remaining: "Noch offen",
  received: "Erhalten",
  network_label: "Token und Netzwerk",
  address: "Einzahlungsadresse",
  copy: "Adresse kopieren",
  copied: "Kopiert",
  qr_label: "QR-Code der Zahlungsanforderung für Wallet-Apps",
  expires_in: "Verbleibende Zeit",
  expired_at: "Abgelaufen",
  pay_wallet: "Mit Browser-Wallet bezahlen",
  no_wallet: "Keine Browser-Wallet gefunden. Scannen Sie den QR-Code oder öffnen Sie unten eine Wallet-App.",
  wallet_sent: "Transaktion gesendet. Warte auf das Netzwerk…",
  wallet_failed: "Die Wallet hat die Zahlung nicht gesendet",
  open_in: "Öffnen in",
  any_wallet: "Wallet-App",
  s_pending: "Warte auf Zahlung",
  s_confirming: "Zahlung gesehen, wird bestätigt",
  s_paid: "Bezahlt",
  s_overpaid: "Bezahlt (mehr als fällig)",
  s_underpaid: "Unterzahlt",
  s_expired: "Abgelaufen",
  s_canceled: "Storniert",
  s_held: "Zur Prüfung angehalten",
  confirmations: "Bestätigungen",
  underpaid_help: "Ein Teil des Betrags ist eingegangen. Bitte senden Sie den Restbetrag an dieselbe Adresse.",
  expired_help: "Diese Zahlungsanforderung ist abgelaufen. Später an diese Adresse gesendete Beträge werden dem Händler trotzdem gutgeschrieben; wenden Sie sich bei verspäteter Zahlung an den Händler.",
  partial_help: "{received} {token} sind eingegangen. Bitte senden Sie die restlichen {remaining} {token} an dieselbe Adresse.",
  held_help: "Die Zahlung ist eingegangen und wird geprüft. Der Händler meldet sich bei Ihnen.",
  canceled_help: "Der Händler hat diese Zahlungsanforderung storniert. Bitte nichts senden.",
  paid_help: "Vielen Dank, die Zahlung ist abgeschlossen.",
  redirecting: "Zurück zum Shop in {s} s…",
  back_to_shop: "Zurück zum Shop",
  cancel: "Abbrechen und zurück zum Shop",
  not_found: "Diese Zahlung gibt es nicht.",
  offline: "Verbindung unterbrochen, neuer Versuch…",
  send_exactly: "Senden Sie den noch offenen Betrag in {token} (BEP-20) im BNB Smart Chain-Netzwerk an die folgende Adresse.",
};

export const lang: "en" | "de" = (navigator.languages ?? [navigator.language]).find((l) =>
  /^(en|de)\b/i.test(l),
)?.slice(0, 2).toLowerCase() === "de"
  ? "de"
  : "en";

const dict = lang === "de" ? de : {};

export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const s = dict[key] ?? en[key];
  return s.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ""));
}

/** "1234.5" -> "1,234.50" (en) / "1.234,50" (de); keeps all given decimals, at least two. */
export function money(amount: string): string {
  const [int, frac = ""] = amount.split(".");
  const sep = lang === "de" ? [".", ","] : [",", "."];
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, sep[0]);
  return `${grouped}${sep[1]}${frac.padEnd(2, "0")}`;
}

// Treasury and wallets: deposits owed to merchants, hot, cold, gas, in flight, hot wallet cap.
import { api, ok } from "../api";
import { ErrorLine, Facts, fmtUsdt, useLoad } from "../ui";

export function Treasury() {
  const { data, error } = useLoad(async () => ok(await api.GET("/admin/treasury")), [], 5000);
  return (
    <section aria-labelledby="h-tr">
      <h1 id="h-tr">Treasury</h1>
      <ErrorLine error={error} />
      {data && (
        <>
          <div class="cards">
            <Card label="Deposit addresses" value={fmtUsdt(data.usdt.deposits)} />
            <Card label="Hot wallet" value={fmtUsdt(data.usdt.hot)} />
            <Card label="Cold wallet" value={fmtUsdt(data.usdt.cold)} />
            <Card label="Owed, in flight" value={fmtUsdt(data.usdt.owed_in_flight)} />
            <Card label="Gas (BNB)" value={`${data.bnb.gas} BNB`} />
            <Card label="Hot wallet cap" value={fmtUsdt(data.hot_wallet_cap)} />
          </div>
          <Facts
            rows={[
              ["Hot wallet address", <span class="mono wrap">{data.hot_wallet ?? "—"}</span>],
              ["Cold address", <span class="mono wrap">{data.cold_address ?? "—"}</span>],
            ]}
          />
        </>
      )}
    </section>
  );
}

function Card({ label, value }: { label: string; value: string }) {
  return (
    <div class="card">
      <p class="muted">{label}</p>
      <p class="big">{value}</p>
    </div>
  );
}

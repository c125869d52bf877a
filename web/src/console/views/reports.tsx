// Reports: volume, conversion and time to paid from GET /admin/reports/summary, drawn with uPlot
// (loaded only when this view opens, so the console's first load stays small).
import { useEffect, useRef, useState } from "preact/hooks";
import type uPlotT from "uplot";
import { api, ok, type S } from "../api";
import { ErrorLine, Field, Scroll, useLoad } from "../ui";
import { Downloads } from "./downloads";
import { useMerchants } from "./payments";

type Row = S["ReportRow"];
const DAY = 86400;

function Chart({ title, rows, series }: { title: string; rows: Row[]; series: { label: string; value: (r: Row) => number | null; color: string }[] }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    let plot: uPlotT | null = null;
    let gone = false;
    const el = box.current!;
    void Promise.all([import("uplot"), import("uplot/dist/uPlot.min.css")]).then(([{ default: uPlot }]) => {
      if (gone) return;
      const dark = matchMedia("(prefers-color-scheme: dark)").matches;
      const axis = { stroke: dark ? "#c9ced8" : "#3b414c", grid: { stroke: dark ? "#2c313a" : "#e3e6ea" } };
      plot = new uPlot(
        {
          width: Math.max(280, el.clientWidth),
          height: 220,
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: rows.length < 40 } }))],
          axes: [axis, axis],
          scales: { x: { time: true } },
        },
        [rows.map((r) => r.start), ...series.map((s) => rows.map(s.value))] as uPlotT.AlignedData,
        el,
      );
    });
    const onResize = () => plot?.setSize({ width: Math.max(280, el.clientWidth), height: 220 });
    addEventListener("resize", onResize);
    return () => {
      gone = true;
      removeEventListener("resize", onResize);
      plot?.destroy();
    };
  }, [rows]);
  // The chart is a picture of the table below; screen readers get the table.
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} aria-hidden="true" />
    </figure>
  );
}

const num = (s: string | null) => (s == null ? null : Number(s));

export function Reports() {
  const [days, setDays] = useState("30");
  const [interval, setInterval_] = useState<"day" | "week" | "month">("day");
  const [merchant, setMerchant] = useState("");
  const merchants = useMerchants();
  const { data, error } = useLoad(
    async () => {
      const to = Math.floor(Date.now() / 1000 / DAY + 1) * DAY;
      const from = to - Number(days) * DAY;
      return ok(
        await api.GET("/admin/reports/summary", {
          params: { query: { from: String(from), to: String(to), interval, ...(merchant ? { merchant_id: merchant } : {}) } },
        }),
      );
    },
    [days, interval, merchant],
  );
  const rows = data?.data ?? [];
  const t = data?.totals;
  return (
    <section aria-labelledby="h-rep">
      <h1 id="h-rep">Reports</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Report period">
        <Field label="Period">
          <select value={days} onChange={(e) => setDays(e.currentTarget.value)}>
            <option value="7">7 days</option>
            <option value="30">30 days</option>
            <option value="90">90 days</option>
            <option value="365">1 year</option>
          </select>
        </Field>
        <Field label="Interval">
          <select value={interval} onChange={(e) => setInterval_(e.currentTarget.value as typeof interval)}>
            <option>day</option>
            <option>week</option>
            <option>month</option>
          </select>
        </Field>
        <Field label="Merchant">
          <select value={merchant} onChange={(e) => setMerchant(e.currentTarget.value)}>
            <option value="">Platform</option>
            {(merchants.data ?? []).map((m) => (
              <option key={m.id} value={m.id}>
                {m.name}
              </option>
            ))}
          </select>
        </Field>
      </form>
      <ErrorLine error={error} />
      {t && (
        <div class="cards">
          <div class="card">
            <p class="muted">Volume received</p>
            <p class="big">{t.gross_received} USDT</p>
          </div>
          <div class="card">
            <p class="muted">Paid / created</p>
            <p class="big">
              {t.payments_paid} / {t.payments_created}
            </p>
          </div>
          <div class="card">
            <p class="muted">Conversion</p>
            <p class="big">{t.conversion_rate ? `${(Number(t.conversion_rate) * 100).toFixed(1)} %` : "—"}</p>
          </div>
          <div class="card">
            <p class="muted">Time to paid p50 / p95</p>
            <p class="big">
              {t.time_to_paid_p50_s ?? "—"} s / {t.time_to_paid_p95_s ?? "—"} s
            </p>
          </div>
        </div>
      )}
      {rows.length > 0 && (
        <div class="charts">
          <Chart title="Volume received (USDT)" rows={rows} series={[{ label: "USDT", value: (r) => num(r.gross_received), color: "#2f7de1" }]} />
          <Chart
            title="Conversion (paid / created)"
            rows={rows}
            series={[{ label: "conversion", value: (r) => num(r.conversion_rate), color: "#1e9e5a" }]}
          />
          <Chart
            title="Time to paid (seconds)"
            rows={rows}
            series={[
              { label: "p50", value: (r) => r.time_to_paid_p50_s, color: "#8a5cf6" },
              { label: "p95", value: (r) => r.time_to_paid_p95_s, color: "#e0802f" },
            ]}
          />
        </div>
      )}
      <Scroll label="Report table">
        <table>
          <caption>Per {interval}</caption>
          <thead>
            <tr>
              <th scope="col">Start (UTC)</th>
              <th scope="col" class="num">Volume</th>
              <th scope="col" class="num">Created</th>
              <th scope="col" class="num">Paid</th>
              <th scope="col" class="num">Expired</th>
              <th scope="col" class="num">Conversion</th>
              <th scope="col" class="num">p50 s</th>
              <th scope="col" class="num">p95 s</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.start}>
                <td>{new Date(r.start * 1000).toISOString().slice(0, 10)}</td>
                <td class="num">{r.gross_received}</td>
                <td class="num">{r.payments_created}</td>
                <td class="num">{r.payments_paid}</td>
                <td class="num">{r.payments_expired}</td>
                <td class="num">{r.conversion_rate ?? "—"}</td>
                <td class="num">{r.time_to_paid_p50_s ?? "—"}</td>
                <td class="num">{r.time_to_paid_p95_s ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Scroll>
      <Downloads />
    </section>
  );
}

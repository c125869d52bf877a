// Prints what each page loads on first visit, gzipped, and fails the build if the
// hosted checkout exceeds its 100 KB budget (docs/adr/0024-web-ui.md).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const dist = join(import.meta.dirname, "..", "dist");
const BUDGET = { checkout: 100 * 1024, console: 250 * 1024 };

function firstLoad(page) {
  const html = readFileSync(join(dist, page, "index.html"));
  const refs = [...html.toString().matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
  const files = [[`${page}/index.html`, html], ...refs.map((r) => [r, readFileSync(join(dist, r))])];
  return files.reduce((sum, [, buf]) => sum + gzipSync(buf, { level: 9 }).length, 0);
}

let failed = false;
for (const [page, budget] of Object.entries(BUDGET)) {
  const bytes = firstLoad(page);
  const ok = bytes <= budget;
  failed ||= !ok;
  console.log(`${page}: first load ${(bytes / 1024).toFixed(1)} KB gzipped (budget ${budget / 1024} KB)${ok ? "" : "  OVER BUDGET"}`);
}
process.exit(failed ? 1 : 0);

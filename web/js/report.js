// The one-file report: the dashboard drawn from the aggregates embedded in the file itself.

import { Dashboard } from "./dashboard.js";
import { EmbeddedSource } from "./embedded.js";

// The aggregates: base64 of gzipped JSON (analytics/report.py), inflated by the browser itself.
async function embeddedData() {
  const packed = atob(document.getElementById("footfall-data").textContent.trim());
  const bytes = Uint8Array.from(packed, (c) => c.charCodeAt(0));
  const inflated = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(inflated).text());
}

async function showReport() {
  const embedded = await embeddedData();
  const source = new EmbeddedSource(embedded);
  document.getElementById("generated").textContent =
    `${embedded.first_day ?? "no data"} to ${embedded.newest_day ?? ""}, generated ${embedded.generated_at}`;
  globalThis.footfallReport = { source };
  // The report was written for its days: it opens on all of them. It embeds no crossing of
  // countries, pages and referrers (docs/staff/dashboard.md): only the community filters.
  const options = { timezone: embedded.timezone, preset: "all", eventFilters: false };
  new Dashboard(document.getElementById("app"), source, source.session().data, options);
}

showReport();

// The dashboard's panels: what each asks the data source and how it draws the answer.
//
// load(source, ctx) returns what draw(body, model, ctx) needs (ctx.fetch asks the source once per
// request and view); draw returns the panel's numbers
// as {columns, rows} (its CSV). `analyst`: only for analyst tokens (the API refuses viewers
// anyway). `filters`: the filters the panel honours; under another filter it says "whole site".
// The event filters (country, page, referrer) are answered by the API from the events
// (docs/staff/api.md, Filters); a panel honouring them passes them on with eventFilters(ctx).

import { barTable, heatMap, numbersTable, timeChart } from "./charts.js";
import { el, formatAge, formatDuration, formatNumber, ratio, referrerLink } from "./util.js";

export const EVENT_FILTERS = ["country", "page", "referrer"];
const ALL_FILTERS = ["community", "division", ...EVENT_FILTERS];

const text = (value, empty = "(none)") => (value === null || value === undefined || value === "" ? empty : String(value));
const data = async (ctx, path, params) => (await ctx.fetch(path, params)).data;

// A button that sets a filter: its label is data, set as text.
function filterButton(ctx, kind, value, label) {
  if (!ctx.analyst || !ctx.kinds.includes(kind) || value === null || value === undefined || value === "") return document.createTextNode(label);
  return el("button", { type: "button", class: "link", text: label, dataset: { filter: kind, value }, onclick: () => ctx.select(kind, value, label) });
}

// The event filters of the view, as the API's parameters (null ones are not sent).
const eventFilters = (ctx) => Object.fromEntries(EVENT_FILTERS.map((kind) => [kind, ctx[kind]]));

// A row label that filters the view on its value (`kind`), shown as text.
const filterLabel = (kind, key, empty) => {
  const f = (row, ctx) => filterButton(ctx, kind, row[key], text(row[key], empty));
  f.csv = (row) => row[key];
  return f;
};

// A panel listing rows of `path`; `filtered`: it honours the event filters.
function list(path, title, label, columns, { limit = 10, key = null, filtered = false } = {}) {
  return {
    filters: filtered ? EVENT_FILTERS : [],
    load: async (source, ctx) => {
      const params = { ...ctx.range, ...(limit ? { limit } : {}), ...(filtered ? eventFilters(ctx) : {}) };
      const found = await data(ctx, path, params);
      return key ? found[key] : found;
    },
    draw: (body, rows, ctx) => {
      // Lists the API does not cut (devices/) show their 10 largest rows; the CSV has them all.
      body.append(barTable(rows.slice(0, 10), columns, { title, cell: (row) => label(row, ctx) }, { caption: title }));
      if (rows.length > 10) body.append(el("p", { class: "note", text: `${rows.length - 10} more in the CSV` }));
      return { columns: [title, ...columns.map((c) => c.label)], rows: rows.map((r) => [label.csv ? label.csv(r) : label(r, ctx).textContent, ...columns.map((c) => r[c.key])]) };
    },
  };
}

const PV = [{ key: "page_views", label: "Page views", bar: true }, { key: "visitors", label: "Visitor-days" }];
const plain = (key, empty) => {
  const f = (row) => document.createTextNode(text(row[key], empty));
  f.csv = (row) => row[key];
  return f;
};

// `filtered`: the filters each figure honours (the others leave it at the whole site's).
const VISITS = EVENT_FILTERS;
const KPIS = [
  { key: "visitors", label: "Visitors", filtered: ALL_FILTERS, value: (m) => m.visitors.total_visitors },
  { key: "signed_in", label: "Signed in", filtered: ALL_FILTERS, value: (m) => m.visitors.authenticated_visitors },
  { key: "anonymous", label: "Anonymous", filtered: ALL_FILTERS, value: (m) => m.visitors.anonymous_visitors },
  { key: "page_views", label: "Page views", filtered: ALL_FILTERS, value: (m) => m.visitors.total_page_views },
  { key: "visits", label: "Visits", filtered: VISITS, value: (m) => m.traffic.totals.visits },
  { key: "bounce_rate", label: "Bounce rate", unit: "%", points: true, lowerIsBetter: true, filtered: VISITS, value: (m) => m.traffic.totals.bounce_rate },
  { key: "visit_duration", label: "Visit duration", format: formatDuration, filtered: VISITS, value: (m) => m.traffic.totals.avg_visit_duration_s },
  { key: "pages_per_visit", label: "Pages per visit", filtered: VISITS, value: (m) => ratio(m.traffic.totals.page_views, m.traffic.totals.visits, 2) },
  { key: "conversions", label: "Conversions", filtered: [], value: (m) => m.conversions.total_conversions },
];

async function kpiModel(range, ctx) {
  const filters = { community_id: ctx.community, division_id: ctx.division, ...eventFilters(ctx) };
  const [visitors, traffic, conversions] = await Promise.all([
    data(ctx, "visitors/", { ...range, ...filters }),
    data(ctx, "traffic/", { ...range, ...eventFilters(ctx) }),
    data(ctx, "conversions/", range),
  ]);
  return { visitors, traffic, conversions };
}

// The change against the comparison: percent for counts and durations, points for rates.
export function delta(kpi, current, previous) {
  if (current === null || previous === null || current === undefined || previous === undefined) return null;
  if (kpi.points) return ratio(Math.round(current * 100) - Math.round(previous * 100), 100, 2);
  if (previous === 0) return null;
  return ratio(Math.round((current - previous) * 100), Math.round(previous * 100), 1, 100);
}

export const PANELS = [
  {
    id: "kpis", title: "Key figures", wide: true, filters: ALL_FILTERS,
    load: async (source, ctx) => ({
      current: await kpiModel(ctx.range, ctx),
      previous: ctx.compareRange ? await kpiModel(ctx.compareRange, ctx) : null,
    }),
    draw: (body, model, ctx) => {
      const active = ALL_FILTERS.filter((kind) => ctx[kind]);
      const strip = el("div", { class: "kpis" });
      const rows = [];
      for (const kpi of KPIS) {
        const value = kpi.value(model.current);
        const previous = model.previous ? kpi.value(model.previous) : null;
        const change = model.previous ? delta(kpi, value, previous) : null;
        const shown = (kpi.format || formatNumber)(value) + (kpi.unit && value !== null ? kpi.unit : "");
        const card = el("div", { class: "kpi", dataset: { kpi: kpi.key, value: value === null ? "" : String(value) } }, [
          el("div", { class: "kpi-label", text: kpi.label }),
          el("div", { class: "kpi-value", text: shown }),
        ]);
        if (model.previous) {
          const good = change === null || change === 0 ? "" : (change > 0) !== Boolean(kpi.lowerIsBetter) ? "up" : "down";
          const sign = change > 0 ? "+" : "";
          const label = change === null ? "no comparison" : `${sign}${formatNumber(change)}${kpi.points ? " pts" : "%"}`;
          card.append(el("div", { class: `kpi-delta ${good}`, dataset: { delta: change === null ? "" : String(change), previous: previous === null ? "" : String(previous) }, text: label }));
        }
        if (active.some((kind) => !kpi.filtered.includes(kind))) card.append(el("div", { class: "kpi-note", text: "whole site" }));
        strip.append(card);
        rows.push([kpi.label, value, previous, change]);
      }
      body.append(strip);
      if (ctx.compareRange) {
        body.append(el("p", { class: "note", text: `Compared with ${ctx.compareRange.start_date} to ${ctx.compareRange.end_date}.` }));
      }
      return { columns: ["metric", "value", "comparison", "change"], rows };
    },
  },
  {
    id: "traffic", title: "Visitors over time", wide: true, filters: ["community", ...EVENT_FILTERS],
    load: (source, ctx) => data(ctx, "trends/", { ...ctx.range, interval: ctx.interval, community_id: ctx.community, ...eventFilters(ctx) }),
    draw: (body, model, ctx) => {
      const tabs = el("div", { class: "tabs", role: "group", "aria-label": "Interval" }, ["hour", "day", "week", "month"].map((g) =>
        el("button", { type: "button", class: g === model.interval ? "active" : "", text: g, ariaPressed: String(g === model.interval), onclick: () => ctx.setInterval(g) })));
      const chart = el("div", { class: "chart" });
      const rows = model.labels.map((label, k) => [label, model.total[k], model.authenticated[k], model.anonymous[k]]);
      const columns = ["period", "visitors", "signed_in", "anonymous"];
      body.append(tabs, chart, el("details", {}, [el("summary", { text: "Numbers" }), numbersTable(columns, rows, "Visitors per period")]));
      ctx.later(() => timeChart(chart, model.labels, [model.total, model.authenticated, model.anonymous], { hourly: model.interval === "hour" }));
      return { columns, rows };
    },
  },
  {
    id: "realtime", title: "Current visitors", filters: ["community"],
    load: (source, ctx) => data(ctx, "realtime/", { community_id: ctx.community }),
    draw: (body, model) => {
      body.append(
        el("div", { class: "big", dataset: { count: String(model.count) }, text: formatNumber(model.count) }),
        el("p", { class: "note", text: "visitors in the last 5 minutes of the newest data" }),
        el("p", { class: "note", text: `newest data: ${model.timestamp ?? "none"} (${formatAge(model.age_seconds)})` }),
      );
      return { columns: ["count", "window_seconds", "timestamp", "age_seconds"], rows: [[model.count, model.window_seconds, model.timestamp, model.age_seconds]] };
    },
  },
  {
    id: "peaks", title: "When visitors come", wide: true, filters: EVENT_FILTERS,
    load: (source, ctx) => data(ctx, "peak-visitors/", { ...ctx.range, ...eventFilters(ctx) }),
    draw: (body, model) => {
      body.append(heatMap(model.hour_of_week), el("p", { class: "note", text: "Average unique visitors per hour of each weekday (hours in the site's time zone)." }));
      return {
        columns: ["weekday", "hour", "page_views", "visitors", "avg_visitors", "max_visitors"],
        rows: model.hour_of_week.map((c) => [c.weekday, c.hour, c.page_views, c.visitors, c.avg_visitors, c.max_visitors]),
      };
    },
  },
  { id: "pages", title: "Top pages", analyst: true, ...list("pages/", "Page", filterLabel("page", "path"), PV, { filtered: true }) },
  {
    id: "entry-pages", title: "Entry pages", analyst: true,
    ...list("entry-pages/", "Page", filterLabel("page", "path"), [{ key: "entries", label: "Entries", bar: true }, { key: "bounce_rate", label: "Bounce %" }], { filtered: true }),
  },
  {
    id: "referrers", title: "Referrers", analyst: true,
    ...list("referrers/", "Referrer", Object.assign((row, ctx) => {
      const domain = row.referrer_domain || null;
      const link = domain && referrerLink(domain, "↗");
      return el("span", {}, [filterButton(ctx, "referrer", domain, text(domain)), link ? " " : null, link, el("span", { class: "tag", text: row.referrer_class })]);
    }, { csv: (row) => `${row.referrer_class} ${row.referrer_domain ?? ""}`.trim() }), PV, { key: "referrers", filtered: true }),
  },
  {
    id: "campaigns", title: "UTM campaigns", analyst: true,
    ...list("referrers/", "Campaign", Object.assign((row) => document.createTextNode([row.utm_source, row.utm_medium, row.utm_campaign].map((x) => text(x, "–")).join(" / ")),
      { csv: (row) => [row.utm_source, row.utm_medium, row.utm_campaign].join(" / ") }), PV, { key: "campaigns", filtered: true }),
  },
  { id: "countries", title: "Countries", analyst: true, ...list("countries/", "Country", filterLabel("country", "country_code", "Unknown"), PV, { filtered: true }) },
  { id: "devices", title: "Devices", analyst: true, ...list("devices/", "Device type", plain("name", "Unknown"), PV, { key: "device_types", limit: null, filtered: true }) },
  { id: "browsers", title: "Browsers", analyst: true, ...list("devices/", "Browser", plain("name", "Unknown"), PV, { key: "browsers", limit: null, filtered: true }) },
  { id: "os", title: "Operating systems", analyst: true, ...list("devices/", "OS", plain("name", "Unknown"), PV, { key: "operating_systems", limit: null, filtered: true }) },
  {
    id: "statuses", title: "Status codes", analyst: true,
    ...list("status-codes/", "Status", plain("status"), [{ key: "hits", label: "Hits", bar: true }], { key: "statuses", filtered: true }),
  },
  { id: "not-found", title: "Top 404s", analyst: true, ...list("status-codes/", "Path", plain("path"), [{ key: "hits", label: "Hits", bar: true }], { key: "top_404_paths", filtered: true }) },
  {
    id: "crawlers", title: "Crawlers", analyst: true,
    ...list("crawlers/", "Crawler", plain("crawler_name"), [{ key: "hits", label: "Hits", bar: true }, { key: "bytes", label: "Bytes" }]),
  },
  {
    id: "communities", title: "Communities", analyst: true, wide: true, filters: [],
    load: (source, ctx) => data(ctx, "community-breakdown/", { ...ctx.range, limit: 5 }),
    draw: (body, rows, ctx) => {
      const columns = [{ key: "visitors", label: "Visitors", bar: true }, { key: "signed_in_visitors", label: "Signed in" }, { key: "page_views", label: "Page views" }];
      const cell = (row) => el("span", { class: "community" }, [
        filterButton(ctx, "community", row.community_id, row.community_slug),
        el("span", { class: "tag", text: text(row.division_name, "no division") }),
        el("span", { class: "divisions" }, row.divisions.map((d) => el("span", { class: "division" }, [filterButton(ctx, "division", d.division_id, d.division_name), ` ${formatNumber(d.percentage)}%`]))),
      ]);
      body.append(barTable(rows, columns, { title: "Community (visitors by division)", cell }, { caption: "Communities" }));
      return {
        columns: ["community_id", "community", "division", "visitors", "signed_in_visitors", "page_views", "divisions"],
        rows: rows.map((r) => [r.community_id, r.community_slug, r.division_name, r.visitors, r.signed_in_visitors, r.page_views,
          r.divisions.map((d) => `${d.division_name} ${d.visitors} (${d.percentage}%)`).join("; ")]),
      };
    },
  },
  {
    id: "divisions", title: "Visitors by division", analyst: true, filters: [],
    load: (source, ctx) => data(ctx, "division-breakdown/", { ...ctx.range, limit: 10 }),
    draw: (body, rows, ctx) => {
      const cell = (row) => el("span", {}, [filterButton(ctx, "division", row.division_id, row.division_name), el("span", { class: "tag", text: row.division_type })]);
      body.append(barTable(rows, [{ key: "count", label: "Visitors", bar: true }, { key: "percentage", label: "%" }], { title: "Division", cell }, { caption: "Visitors by division" }));
      return { columns: ["division_id", "division", "type", "visitors", "percentage"], rows: rows.map((r) => [r.division_id, r.division_name, r.division_type, r.count, r.percentage]) };
    },
  },
  {
    id: "flows", title: "Cross-division flows", analyst: true, filters: [],
    load: (source, ctx) => data(ctx, "cross-division-flows/", { ...ctx.range, limit: 10 }),
    draw: (body, rows, ctx) => {
      const cell = (row) => el("span", {}, [filterButton(ctx, "division", row.from_division_id, text(row.from_division_name, row.from_division_id)), " → ",
        filterButton(ctx, "division", row.to_division_id, text(row.to_division_name, row.to_division_id))]);
      body.append(barTable(rows, [{ key: "visitors", label: "Visitors", bar: true }, { key: "page_views", label: "Page views" }], { title: "From → to", cell }, { caption: "Cross-division flows" }));
      return { columns: ["from", "to", "visitors", "page_views"], rows: rows.map((r) => [r.from_division_name, r.to_division_name, r.visitors, r.page_views]) };
    },
  },
  {
    id: "content", title: "Top content", analyst: true, filters: [],
    ...list("content/", "Post", Object.assign((row) => el("span", {}, [text(row.post_id), el("span", { class: "tag", text: text(row.kind, "") })]), { csv: (row) => row.post_id }),
      [{ key: "views", label: "Views", bar: true }, { key: "unique_viewers", label: "Unique viewers" }, { key: "signed_in_views", label: "Signed-in views" }]),
  },
];

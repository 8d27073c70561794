// Drawing: the traffic chart (uPlot, vendored in web/vendor/uplot), bar tables and the hour x
// weekday heat map (plain HTML tables, so every chart is also a table for screen readers).
// Data strings are set with textContent only; sizes and colours through the CSSOM, which the
// Content-Security-Policy allows (no style attributes, no <style> elements).

import { clear, el, formatNumber } from "./util.js";

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const SERIES = [
  { label: "All visitors", stroke: "#2f6fdf", fill: "rgba(47,111,223,0.10)", width: 2 },
  { label: "Signed in", stroke: "#1b9e77", width: 1.5 },
  { label: "Anonymous", stroke: "#d95f02", width: 1.5 },
];

// labels: "YYYY-MM-DD" or "YYYY-MM-DDTHH:00" (wall-clock, drawn as UTC so nothing shifts).
function seconds(label) {
  return Date.parse(label.length > 10 ? `${label}:00Z` : `${label}T00:00:00Z`) / 1000;
}

export function timeChart(target, labels, series, { hourly = false } = {}) {
  clear(target);
  const uPlot = globalThis.uPlot;
  const width = Math.max(320, Math.floor(target.getBoundingClientRect().width || 800));
  const options = {
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true } },
    axes: [{ stroke: "#555" }, { stroke: "#555", size: 56 }],
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    series: [{ label: hourly ? "Hour" : "Period" }, ...series.map((values, k) => ({ ...SERIES[k], points: { show: labels.length < 60 } }))],
  };
  const data = [labels.map(seconds), ...series];
  return new uPlot(options, data, target);
}

// A table of rows with a bar behind the first number: columns [{key, label, bar?, format?}].
// label(row) builds the first cell's content (text, or a button that filters).
export function barTable(rows, columns, label, { caption = "" } = {}) {
  const barColumn = columns.find((c) => c.bar) || columns[0];
  const max = Math.max(1, ...rows.map((r) => Number(r[barColumn.key]) || 0));
  const head = el("tr", {}, [el("th", { scope: "col", text: label.title }), ...columns.map((c) => el("th", { scope: "col", class: "num", text: c.label }))]);
  const body = rows.map((row) => {
    const bar = el("span", { class: "bar" });
    bar.style.width = `${(100 * (Number(row[barColumn.key]) || 0)) / max}%`;
    const first = el("td", { class: "label" }, [bar, el("span", { class: "text" }, [label.cell(row)])]);
    return el("tr", {}, [first, ...columns.map((c) => el("td", { class: "num", text: (c.format || formatNumber)(row[c.key]) }))]);
  });
  if (!rows.length) body.push(el("tr", {}, [el("td", { class: "empty", colSpan: columns.length + 1, text: "No data in this range" })]));
  return el("table", { class: "bars" }, [caption ? el("caption", { class: "sr-only", text: caption }) : null, el("thead", {}, [head]), el("tbody", {}, body)]);
}

// A plain table of the rows (the numbers behind a chart).
export function numbersTable(columns, rows, caption) {
  return el("table", { class: "numbers" }, [
    el("caption", { class: "sr-only", text: caption }),
    el("thead", {}, [el("tr", {}, columns.map((c) => el("th", { scope: "col", text: c })))]),
    el("tbody", {}, rows.map((r) => el("tr", {}, r.map((v) => el("td", { text: typeof v === "number" ? formatNumber(v) : v ?? "–" }))))),
  ]);
}

// The hour x weekday heat map of average visitors: a table whose cells are shaded by value.
export function heatMap(cells) {
  const grid = new Map(cells.map((c) => [c.weekday * 100 + c.hour, c]));
  const max = Math.max(0, ...cells.map((c) => c.avg_visitors || 0));
  const hours = [...Array(24).keys()];
  const head = el("tr", {}, [el("th", { scope: "col", text: "" }), ...hours.map((h) => el("th", { scope: "col", text: String(h).padStart(2, "0") }))]);
  const rows = WEEKDAYS.map((name, k) => el("tr", {}, [
    el("th", { scope: "row", text: name }),
    ...hours.map((h) => {
      const cell = grid.get((k + 1) * 100 + h);
      const value = cell ? cell.avg_visitors || 0 : 0;
      const td = el("td", { text: value ? formatNumber(Math.round(value * 10) / 10) : "", title: `${name} ${h}:00, average visitors ${formatNumber(value)}` });
      if (max > 0) td.style.backgroundColor = `rgba(47, 111, 223, ${(0.08 + (0.85 * value) / max).toFixed(3)})`;
      if (max > 0 && value / max > 0.55) td.classList.add("dark");
      return td;
    }),
  ]));
  return el("table", { class: "heat" }, [el("caption", { class: "sr-only", text: "Average visitors per weekday and hour" }), el("thead", {}, [head]), el("tbody", {}, rows)]);
}

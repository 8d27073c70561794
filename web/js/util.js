// Small helpers shared by the dashboard and the one-file report: building DOM nodes (text only,
// never HTML), exact rounding, dates as ISO days, CSV.
//
// Every string from the data (paths, referrers, user agents, campaign tags) is hostile: it is
// only ever given to textContent or to a property, never parsed as HTML.

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && key !== "list") node[key] = value;
    else node.setAttribute(key, String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// An http(s) URL made from a data string, or null: nothing else becomes a link.
export function safeHref(text) {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// A link out to a referrer's site, labelled `label`, when the domain is a plain host name (then
// only https); else null.
export function referrerLink(domain, label) {
  const href = /^[a-z0-9.-]+\.[a-z]{2,}$/i.test(String(domain)) ? safeHref(`https://${domain}/`) : null;
  return href ? el("a", { href, text: label, title: `Open ${domain}`, rel: "noopener noreferrer", target: "_blank" }) : null;
}

// scale * num / den rounded half away from zero to `digits` decimals, computed exactly (the API's
// analytics.answers.ratio): null when den is 0.
export function ratio(num, den, digits, scale = 1) {
  if (!den) return null;
  const p = 10n ** BigInt(digits);
  let n = BigInt(Math.round(num * 1)) * BigInt(scale) * p;
  let d = BigInt(Math.round(den * 1));
  if (d < 0n) { n = -n; d = -d; }
  const negative = n < 0n;
  const q = ((negative ? -n : n) * 2n + d) / (2n * d);
  const whole = q / p;
  const frac = (q % p).toString().padStart(digits, "0");
  return Number(`${negative ? "-" : ""}${whole}${digits ? "." + frac : ""}`);
}

// Dates are ISO days ("2026-10-31") handled as UTC midnights: no time zone can shift them.
export function toDate(iso) {
  return new Date(`${iso}T00:00:00Z`);
}

export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(iso, days) {
  const date = toDate(iso);
  date.setUTCDate(date.getUTCDate() + days);
  return isoDay(date);
}

export function daysBetween(a, b) {
  return Math.round((toDate(b) - toDate(a)) / 86400000);
}

// The same day a year earlier (29 February becomes 28 February).
export function yearEarlier(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  const last = new Date(Date.UTC(y - 1, m, 0)).getUTCDate();
  return `${String(y - 1).padStart(4, "0")}-${String(m).padStart(2, "0")}-${String(Math.min(d, last)).padStart(2, "0")}`;
}

export function isoWeekday(iso) {
  const day = toDate(iso).getUTCDay();
  return day === 0 ? 7 : day;
}

const integer = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en", { maximumFractionDigits: 2 });

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  return Number.isInteger(value) ? integer.format(value) : decimal.format(value);
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatAge(seconds) {
  if (seconds === null || seconds === undefined) return "no data";
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

// RFC 4180 CSV; a cell that a spreadsheet would run as a formula is prefixed with a quote.
export function toCsv(columns, rows) {
  const cell = (value) => {
    let text = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text) && typeof value === "string") text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

export function downloadCsv(name, columns, rows) {
  const blob = new Blob([toCsv(columns, rows)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: `${name.replace(/[^\w.-]+/g, "_")}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// The dashboard: controls (range presets, dates, comparison, filters), the panels, and the URL.
//
// The same code draws the served dashboard (data from the API) and the one-file report (data
// from the embedded aggregates): it only calls source.get(path, params). The view lives in the
// URL's fragment (range, comparison, filters, interval), so a view can be shared; the token is
// never in it. When every panel is drawn, the root element gets data-complete="true".
//
// Filters come in two groups that do not combine (the API refuses it): the community ones
// (community, division) and the event ones (country, page, referrer); choosing one of a group
// clears the other group. The one-file report offers the community ones only
// (options.eventFilters === false): it embeds no crossing of countries, pages and referrers.

import { EVENT_FILTERS, PANELS } from "./panels.js";
import { addDays, clear, daysBetween, downloadCsv, el, yearEarlier } from "./util.js";

const PRESETS = [["today", "Today"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"], ["all", "All"]];
const COMPARE = [["none", "No comparison"], ["previous", "Previous period"], ["year", "A year earlier"]];
const INTERVALS = ["hour", "day", "week", "month"];
const MAX_DAYS = 400;
const COMMUNITY_FILTERS = ["community", "division"];

export class Dashboard {
  constructor(root, source, session, options = {}) {
    this.root = root;
    this.source = source;
    this.session = session;
    this.options = options;
    this.analyst = session.role === "analyst";
    this.generation = 0;
    this.kinds = options.eventFilters === false ? COMMUNITY_FILTERS : [...COMMUNITY_FILTERS, ...EVENT_FILTERS];
    this.names = Object.fromEntries(this.kinds.map((kind) => [kind, new Map()]));
    this.state = this.readState();
    this.build();
    window.addEventListener("hashchange", () => {
      this.state = this.readState();
      this.render();
    });
  }

  // -- the view in the URL ----------------------------------------------------------------------

  readState() {
    const params = new URLSearchParams(location.hash.slice(1));
    const valid = (value, options, fallback) => (options.includes(value) ? value : fallback);
    const day = (value) => (/^\d{4}-\d{2}-\d{2}$/.test(value || "") ? value : null);
    const state = {
      preset: valid(params.get("range"), [...PRESETS.map((p) => p[0]), "custom"], this.options.preset || "30d"),
      from: day(params.get("from")),
      to: day(params.get("to")),
      compare: valid(params.get("compare"), COMPARE.map((c) => c[0]), "none"),
      interval: valid(params.get("interval"), INTERVALS, "day"),
    };
    for (const kind of [...COMMUNITY_FILTERS, ...EVENT_FILTERS]) {
      state[kind] = this.analyst && this.kinds.includes(kind) ? params.get(kind) || null : null;
    }
    // A shared URL with both groups: the event filters win, as choosing one would have done.
    if (EVENT_FILTERS.some((kind) => state[kind])) for (const kind of COMMUNITY_FILTERS) state[kind] = null;
    if (state.preset === "custom" && !(state.from && state.to && state.from <= state.to)) state.preset = this.options.preset || "30d";
    return state;
  }

  writeState(changes) {
    this.state = { ...this.state, ...changes };
    const s = this.state;
    const params = new URLSearchParams();
    params.set("range", s.preset);
    if (s.preset === "custom") { params.set("from", s.from); params.set("to", s.to); }
    if (s.compare !== "none") params.set("compare", s.compare);
    if (s.interval !== "day") params.set("interval", s.interval);
    for (const kind of this.kinds) if (s[kind]) params.set(kind, s[kind]);
    history.replaceState(null, "", `#${params}`);
    this.render();
  }

  range() {
    const newest = this.session.newest_day;
    const first = this.session.first_day || newest;
    const s = this.state;
    if (s.preset === "custom") return { start_date: s.from, end_date: s.to };
    if (s.preset === "all") {
      const start = daysBetween(first, newest) >= MAX_DAYS ? addDays(newest, 1 - MAX_DAYS) : first;
      return { start_date: start, end_date: newest };
    }
    const days = { today: 1, "7d": 7, "30d": 30, "90d": 90 }[s.preset];
    return { start_date: addDays(newest, 1 - days), end_date: newest };
  }

  compareRange(range) {
    if (this.state.compare === "previous") {
      const days = daysBetween(range.start_date, range.end_date) + 1;
      return { start_date: addDays(range.start_date, -days), end_date: addDays(range.start_date, -1) };
    }
    if (this.state.compare === "year") return { start_date: yearEarlier(range.start_date), end_date: yearEarlier(range.end_date) };
    return null;
  }

  // -- the page ------------------------------------------------------------------------------------

  build() {
    clear(this.root);
    this.presets = el("div", { class: "presets", role: "group", "aria-label": "Date range" }, PRESETS.map(([key, label]) =>
      el("button", { type: "button", text: label, dataset: { preset: key }, onclick: () => this.writeState({ preset: key }) })));
    this.from = el("input", { type: "date", id: "range-from", "aria-label": "From" });
    this.to = el("input", { type: "date", id: "range-to", "aria-label": "To" });
    const apply = () => {
      if (this.from.value && this.to.value && this.from.value <= this.to.value) {
        this.writeState({ preset: "custom", from: this.from.value, to: this.to.value });
      }
    };
    this.from.addEventListener("change", apply);
    this.to.addEventListener("change", apply);
    this.compare = el("select", { id: "compare", "aria-label": "Compare with", onchange: () => this.writeState({ compare: this.compare.value }) },
      COMPARE.map(([key, label]) => el("option", { value: key, text: label })));
    this.filters = el("div", { class: "filters", "aria-live": "polite" });
    const controls = el("div", { class: "controls" }, [this.presets, el("div", { class: "dates" }, [this.from, " – ", this.to]), this.compare]);
    this.status = el("p", { class: "status", "aria-live": "polite" });
    this.grid = el("div", { class: "grid" });
    this.sections = new Map();
    for (const panel of PANELS) {
      if (panel.analyst && !this.analyst) continue; // not drawn at all: the API would refuse it anyway
      const badge = el("span", { class: "badge", text: "whole site", hidden: true });
      const csv = el("button", { type: "button", class: "csv", text: "CSV", title: `Download ${panel.title} as CSV`, disabled: true });
      const body = el("div", { class: "body" });
      const section = el("section", { class: `panel${panel.wide ? " wide" : ""}`, id: `panel-${panel.id}`, dataset: { panel: panel.id } }, [
        el("header", {}, [el("h2", { text: panel.title }), badge, csv]), body,
      ]);
      this.sections.set(panel.id, { panel, section, body, badge, csv });
      this.grid.append(section);
    }
    this.root.append(controls, this.filters, this.status, this.grid);
    this.render();
  }

  syncControls(range) {
    for (const button of this.presets.querySelectorAll("button")) {
      const on = button.dataset.preset === this.state.preset;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", String(on));
    }
    this.from.value = range.start_date;
    this.to.value = range.end_date;
    this.compare.value = this.state.compare;
    clear(this.filters);
    for (const kind of this.kinds) {
      const value = this.state[kind];
      if (!value) continue;
      const name = this.names[kind].get(value) || value;
      this.filters.append(el("span", { class: "chip", dataset: { filter: kind } }, [
        `${kind}: `, el("strong", { text: name }),
        el("button", { type: "button", class: "clear", text: "×", "aria-label": `Clear the ${kind} filter`, onclick: () => this.writeState({ [kind]: null }) }),
      ]));
    }
  }

  async render() {
    const generation = ++this.generation;
    this.root.removeAttribute("data-complete");
    this.root.dataset.state = "loading";
    const range = this.range();
    this.syncControls(range);
    const compareRange = this.compareRange(range);
    const later = [];
    const asked = new Map();
    const ctx = {
      fetch: (path, params = {}) => {
        const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== ""));
        const key = `${path}?${new URLSearchParams(clean)}`;
        if (!asked.has(key)) asked.set(key, this.source.get(path, clean));
        return asked.get(key);
      },
      range, compareRange, analyst: this.analyst,
      ...Object.fromEntries(this.kinds.map((kind) => [kind, this.state[kind]])), kinds: this.kinds, interval: this.state.interval,
      select: (kind, value, label) => {
        this.names[kind].set(value, label);
        const other = COMMUNITY_FILTERS.includes(kind) ? EVENT_FILTERS : COMMUNITY_FILTERS;
        this.writeState({ [kind]: value, ...Object.fromEntries(other.map((k) => [k, null])) });
      },
      setInterval: (interval) => this.writeState({ interval }),
      later: (fn) => later.push(fn),
    };
    this.status.textContent = `${range.start_date} to ${range.end_date}` + (this.options.timezone ? ` (${this.options.timezone})` : "");
    const loads = [...this.sections.values()].map(async (entry) => {
      try {
        return { entry, model: await entry.panel.load(this.source, ctx) };
      } catch (error) {
        return { entry, error };
      }
    });
    const results = await Promise.all(loads);
    if (generation !== this.generation) return; // a newer view started meanwhile
    for (const { entry, model, error } of results) this.draw(entry, model, error, ctx);
    await new Promise((resolve) => requestAnimationFrame(resolve));
    for (const fn of later) fn();
    if (generation !== this.generation) return;
    this.root.dataset.state = "ready";
    // Milliseconds since the navigation started: the benchmark's render time (bench/dashboard_bench.py).
    this.root.dataset.renderMs = String(Math.round(performance.now()));
    this.root.dataset.complete = "true";
  }

  draw(entry, model, error, ctx) {
    const { panel, body, badge, csv } = entry;
    clear(body);
    const active = this.kinds.filter((k) => ctx[k]);
    badge.hidden = !active.length || active.every((k) => panel.filters.includes(k));
    badge.textContent = active.some((k) => panel.filters.includes(k)) ? `not by ${active.filter((k) => !panel.filters.includes(k)).join(", ")}` : "whole site";
    if (error) {
      if (error.status === 401 && this.options.onUnauthorized) this.options.onUnauthorized();
      body.append(el("p", { class: "error", text: `Could not load: ${error.message}` }));
      csv.disabled = true;
      return;
    }
    const table = panel.draw(body, model, ctx);
    csv.disabled = !table;
    csv.onclick = () => downloadCsv(`footfall-${panel.id}-${ctx.range.start_date}-${ctx.range.end_date}`, table.columns, table.rows);
  }
}

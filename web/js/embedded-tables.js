// The report's answers that are sums of the embedded daily and hourly rows: traffic, conversions,
// the top lists, status codes, the hour x weekday cells, current visitors and content. Methods of
// EmbeddedSource (web/js/embedded.js), kept here so that each file stays small.

import { addDays, isoWeekday, ratio } from "./util.js";

// The report answers without the country, page and referrer filters (it does not embed what
// they need: docs/staff/dashboard.md); its answers say so as the API's do.
export const NO_EVENT_FILTERS = { country: null, page: null, referrer: null };

// The community of a row about the whole site.
export const ALL = "(all)";

// A comparator on row fields: [name, "desc"|"asc"] each; nulls last, strings by code unit (the
// API's DuckDB orders by bytes, which agrees for the text the tables hold).
export function byDesc(...keys) {
  return (a, b) => {
    for (const [key, order] of keys) {
      const x = a[key], y = b[key];
      if (x === y) continue;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      const c = x < y ? -1 : 1;
      return order === "desc" ? -c : c;
    }
    return 0;
  };
}

function orderHourOfWeek(cell) {
  return {
    weekday: cell.weekday, hour: cell.hour, page_views: cell.page_views, visitors: cell.visitors,
    max_visitors: cell.max_visitors, avg_visitors: cell.avg_visitors,
  };
}

export const TABLE_ANSWERS = {
  traffic(params) {
    const { s, e, range } = this.period(params);
    const t = this.t.traffic_days;
    const rows = new Map();
    const totals = { hits: 0, page_views: 0, visitor_days: 0, visits: 0, bounces: 0 };
    let duration = 0;
    for (let i = 0; i < t.length; i++) {
      if (t.day[i] < s || t.day[i] > e) continue;
      rows.set(t.day[i], i);
      totals.hits += t.hits[i];
      totals.page_views += t.page_views[i];
      totals.visitor_days += t.day_visitors[i];
      totals.visits += t.visits[i];
      totals.bounces += t.bounces[i];
      duration += t.visit_duration_s[i];
    }
    totals.bounce_rate = ratio(totals.bounces, totals.visits, 2, 100);
    totals.avg_visit_duration_s = ratio(duration, totals.visits, 1);
    const series = [];
    for (let day = s; day <= e; day++) {
      const i = rows.get(day);
      const label = addDays(this.start, day);
      if (i === undefined) {
        series.push({ label, hits: 0, page_views: 0, visitors: 0, visits: 0, bounce_rate: null, avg_visit_duration_s: null });
      } else {
        series.push({
          label, hits: t.day_hits[i], page_views: t.day_page_views[i], visitors: t.day_visitors[i], visits: t.day_visits[i],
          bounce_rate: t.day_bounce_rate[i], avg_visit_duration_s: t.day_avg_visit_duration_s[i],
        });
      }
    }
    return { range, data: { interval: "day", totals, series } };
  },

  conversions(params) {
    const { s, e, range } = this.period(params);
    const c = this.t.conversions;
    const rows = new Map();
    for (let i = 0; i < c.length; i++) if (c.day[i] >= s && c.day[i] <= e) rows.set(c.day[i], i);
    let converted = 0, sessions = 0, seconds = 0;
    const byDate = [];
    for (let day = s; day <= e; day++) {
      const i = rows.get(day);
      const row = i === undefined
        ? { conversions: 0, sessions: 0, rate: null, seconds: 0 }
        : { conversions: c.conversions[i], sessions: c.sessions_with_anonymous_hits[i], rate: c.conversion_rate_pct[i], seconds: c.seconds_to_conversion[i] ?? 0 };
      converted += row.conversions;
      sessions += row.sessions;
      seconds += row.seconds;
      byDate.push({ date: addDays(this.start, day), conversions: row.conversions, sessions_with_anonymous_hits: row.sessions, conversion_rate: row.rate });
    }
    return {
      range,
      data: {
        total_conversions: converted,
        sessions_with_anonymous_hits: sessions,
        conversion_rate: ratio(converted, sessions, 2, 100),
        avg_time_to_conversion: ratio(seconds, converted, 1),
        conversions_by_date: byDate,
      },
    };
  },

  summed(table, params, keyColumns, valueColumns, filter = null) {
    const { s, e, range } = this.period(params);
    const t = this.t[table];
    const groups = new Map();
    for (let i = 0; i < t.length; i++) {
      if (t.day[i] < s || t.day[i] > e || (filter && !filter(t, i))) continue;
      const key = JSON.stringify(keyColumns.map((k) => t[k][i]));
      let row = groups.get(key);
      if (!row) {
        row = {};
        for (const k of keyColumns) row[k] = t[k][i];
        for (const v of valueColumns) row[v] = 0;
        groups.set(key, row);
      }
      for (const v of valueColumns) row[v] += t[v][i];
    }
    return { range, rows: [...groups.values()] };
  },

  top(table, params, keys, values, order, filter = null) {
    const { range, rows } = this.summed(table, params, keys, values, filter);
    rows.sort(byDesc(...order));
    return { range, data: rows.slice(0, Number(params.limit || 10)) };
  },

  entryPages(params) {
    const found = this.top("entry_pages", params, ["path"], ["entries", "bounces"], [["entries", "desc"], ["path", "asc"]]);
    for (const row of found.data) row.bounce_rate = ratio(row.bounces, row.entries, 2, 100);
    return found;
  },

  referrers(params) {
    const referrers = this.top("referrers", params, ["referrer_class", "referrer_domain"], ["page_views", "visitors"],
      [["page_views", "desc"], ["referrer_class", "asc"], ["referrer_domain", "asc"]]);
    const tagged = (t, i) => [t.utm_source[i], t.utm_medium[i], t.utm_campaign[i]].some((x) => x !== null && x !== "");
    const campaigns = this.top("referrers", params, ["utm_source", "utm_medium", "utm_campaign"], ["page_views", "visitors"],
      [["page_views", "desc"], ["utm_source", "asc"], ["utm_medium", "asc"], ["utm_campaign", "asc"]], tagged);
    return { range: referrers.range, data: { referrers: referrers.data, campaigns: campaigns.data } };
  },

  devices(params) {
    const data = {};
    for (const [column, name] of [["device_type", "device_types"], ["browser_family", "browsers"], ["os_family", "operating_systems"]]) {
      const { range, rows } = this.summed("devices", params, [column], ["page_views", "visitors"]);
      data[name] = rows.map((r) => ({ name: r[column], page_views: r.page_views, visitors: r.visitors }))
        .sort(byDesc(["page_views", "desc"], ["name", "asc"]));
      data.range = range;
    }
    const range = data.range;
    delete data.range;
    return { range, data };
  },

  statusCodes(params) {
    const { range, rows } = this.summed("statuses", params, ["status"], ["hits"]);
    rows.sort(byDesc(["status", "asc"]));
    const classes = {};
    for (const row of rows) {
      const key = `${Math.floor(row.status / 100)}xx`;
      classes[key] = (classes[key] || 0) + row.hits;
    }
    const paths = this.top("not_found", params, ["path"], ["hits"], [["hits", "desc"], ["path", "asc"]]);
    return { range, data: { statuses: rows, classes, top_404_paths: paths.data } };
  },

  peakVisitors(params) {
    const { s, e, range } = this.period(params);
    const slug = this.slug(params.community_id);
    const weekdays = new Map();
    for (let day = s; day <= e; day++) {
      const w = isoWeekday(addDays(this.start, day));
      weekdays.set(w, (weekdays.get(w) || 0) + 1);
    }
    const h = this.t.traffic_hours;
    const cells = new Map();
    for (let i = 0; i < h.length; i++) {
      const day = Math.floor(h.hour[i] / 24);
      if (day < s || day > e) continue;
      const weekday = isoWeekday(addDays(this.start, day));
      const hour = h.hour[i] - day * 24;
      const key = weekday * 100 + hour;
      const cell = cells.get(key) || { weekday, hour, page_views: 0, visitors: 0, max_visitors: 0 };
      cell.page_views += h.page_views[i];
      cell.visitors += h.visitors[i];
      cell.max_visitors = Math.max(cell.max_visitors, h.visitors[i]);
      cells.set(key, cell);
    }
    const hourOfWeek = [...cells.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => ({
      weekday: c.weekday, hour: c.hour, page_views: c.page_views, visitors: c.visitors,
      max_visitors: c.max_visitors, avg_visitors: ratio(c.visitors, weekdays.get(c.weekday), 2),
    }));
    const p = this.t.peaks;
    const peaks = [];
    for (let i = 0; i < p.length; i++) {
      if (p.day[i] >= s && p.day[i] <= e && p.community[i] === (slug ?? ALL)) {
        peaks.push({ date: addDays(this.start, p.day[i]), peak_visitors: p.peak_visitors[i], window_start: p.window_start[i] });
      }
    }
    return { range, data: { community_id: params.community_id || null, ...NO_EVENT_FILTERS, hour_of_week: hourOfWeek.map(orderHourOfWeek), daily_peaks: peaks } };
  },

  realtime(params) {
    const slug = this.slug(params.community_id) ?? ALL;
    const c = this.t.current;
    let row = null;
    for (let i = 0; i < c.length; i++) if (c.community[i] === slug) row = { visitors: c.visitors[i], end: c.window_end[i] };
    const age = row ? Math.round((Date.now() - Date.parse(row.end)) / 100) / 10 : null;
    return {
      data: {
        community_id: params.community_id || null, count: row ? row.visitors : 0, window_seconds: 300,
        timestamp: row ? row.end : null, age_seconds: age,
      },
    };
  },

  content(params) {
    const { s, e, range } = this.period(params);
    const posts = new Map();
    const of = (post) => {
      let p = posts.get(post);
      if (!p) posts.set(post, (p = { users: new Set(), anonymous: 0, signed: 0, anonymousViews: 0 }));
      return p;
    };
    const u = this.t.post_users;
    for (let i = 0; i < u.length; i++) {
      if (u.day[i] < s || u.day[i] > e) continue;
      const p = of(u.post[i]);
      p.users.add(u.user[i]);
      p.signed += u.views[i];
    }
    const a = this.t.post_anonymous;
    for (let i = 0; i < a.length; i++) {
      if (a.day[i] < s || a.day[i] > e) continue;
      const p = of(a.post[i]);
      p.anonymous += a.viewers[i];
      p.anonymousViews += a.views[i];
    }
    const kinds = new Map();
    const k = this.t.posts;
    for (let i = 0; i < k.length; i++) kinds.set(k.post[i], k.kind[i]);
    const data = [...posts.entries()].map(([post, p]) => ({
      post_id: post, kind: kinds.get(post) ?? null, views: p.signed + p.anonymousViews,
      unique_viewers: p.users.size + p.anonymous, signed_in_views: p.signed, anonymous_views: p.anonymousViews,
    })).sort(byDesc(["views", "desc"], ["post_id", "asc"])).slice(0, Number(params.limit || 10));
    return { range, data };
  },
};

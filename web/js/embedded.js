// The one-file report's data source: answers the analytics API's requests from the aggregates
// embedded in the report (analytics/report_data.py writes them), with the same shapes and the
// same numbers, so the dashboard's code draws the report unchanged.
//
// Unique visitors over a range: a signed-in user is one visitor over any range, an anonymous
// visitor one per day (docs/analysts/communities.md). The report carries each signed-in user's days as
// rows keyed by a report-local number (1, 2, ... in order of first page view; no hash or id that
// exists outside the report), so a range counts each number once; anonymous visitors are carried
// as counts per day, division and community, which add up over days.

import { ALL, byDesc, NO_EVENT_FILTERS, TABLE_ANSWERS } from "./embedded-tables.js";
import { addDays, daysBetween, isoWeekday, ratio } from "./util.js";

// [difference, times, ...] -> the values (analytics/report_data.py, _runs).
function unruns(pairs) {
  const out = [];
  let value = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    for (let k = 0; k < pairs[i + 1]; k++) out.push((value += pairs[i]));
  }
  return out;
}

function decode(table, strings) {
  const columns = {};
  let length = 0;
  for (const [name, spec] of Object.entries(table)) {
    const values = spec.s ? spec.v.map((i) => (i === null ? null : strings[i])) : spec.z ? unruns(spec.v) : spec.v;
    columns[name] = values;
    length = values.length;
  }
  columns.length = length;
  return columns;
}

export class EmbeddedSource {
  constructor(data) {
    this.data = data;
    this.start = data.start;
    const strings = data.strings;
    this.t = {};
    for (const [name, table] of Object.entries(data.tables)) this.t[name] = decode(table, strings);
    this.divisions = new Map();
    const d = this.t.divisions;
    for (let i = 0; i < d.length; i++) {
      this.divisions.set(d.division_id[i], { name: d.name[i], type: d.type[i], ancestors: new Set(d.ancestors[i].map((k) => strings[k])) });
    }
    this.communities = [];
    const c = this.t.communities;
    for (let i = 0; i < c.length; i++) {
      this.communities.push({ community_id: c.community_id[i], community_slug: c.community_slug[i], division_id: c.division_id[i], division_name: c.division_name[i] });
    }
    this.slugs = new Map(this.communities.map((x) => [x.community_id, x.community_slug]));
    this.communityDivision = new Map(this.communities.map((x) => [x.community_slug, x.division_id]));
  }

  // -- requests ----------------------------------------------------------------------------------

  async get(path, params = {}) {
    const handler = ROUTES[path];
    if (!handler) throw new Error(`the report has no answer for ${path}`);
    const found = handler.call(this, params);
    return { data: found.data, range: found.range ?? null, snapshot: this.data.snapshot };
  }

  period(params) {
    const newest = this.data.newest_day;
    let s = params.start_date || null, e = params.end_date || null;
    const isDefault = !s && !e;
    if (isDefault) e = newest;
    if (!s) s = addDays(e, -29);
    if (!e) e = addDays(s, 29);
    const range = { start_date: s, end_date: e, days: daysBetween(s, e) + 1, timezone: this.data.timezone, default: isDefault };
    return { s: daysBetween(this.start, s), e: daysBetween(this.start, e), range };
  }

  inside(division, container) {
    if (division === null || division === undefined) return false;
    const found = this.divisions.get(division);
    return found ? found.ancestors.has(container) : false;
  }

  slug(communityId) {
    if (communityId === null || communityId === undefined || communityId === "") return null;
    const slug = this.slugs.get(communityId);
    if (!slug) throw new Error(`unknown community_id ${communityId}`);
    return slug;
  }

  // Each signed-in user of [s, e]: division of the earliest day, communities with page views.
  users(s, e) {
    const key = `${s}|${e}`;
    if (this.usersOf && this.usersOf.key === key) return this.usersOf.found;
    const u = this.t.user_days;
    const found = new Map();
    this.usersOf = { key, found };
    for (let i = 0; i < u.length; i++) {
      const day = u.day[i];
      if (day < s || day > e) continue;
      let user = found.get(u.user[i]);
      if (!user) {
        user = { first: day, division: u.division[i], pages: new Map(), days: new Set(), dayPages: new Set() };
        found.set(u.user[i], user);
      }
      if (day < user.first) { user.first = day; user.division = u.division[i]; }
      user.days.add(day);
      user.dayPages.add(`${day}|${u.community[i]}`);
      const key = u.community[i];
      user.pages.set(key, (user.pages.get(key) || 0) + u.page_views[i]);
    }
    return found;
  }

  userPageViews(user, slug) {
    if (slug !== null) return user.pages.get(slug) || 0;
    let total = 0;
    for (const value of user.pages.values()) total += value;
    return total;
  }

  // -- the endpoints -------------------------------------------------------------------------------

  visitors(params) {
    const { s, e, range } = this.period(params);
    const slug = this.slug(params.community_id);
    const division = params.division_id || null;
    let signedIn = 0, anonymous = 0, pageViews = 0;
    for (const user of this.users(s, e).values()) {
      if (slug !== null && !user.pages.has(slug)) continue;
      if (division !== null && !this.inside(user.division, division)) continue;
      signedIn += 1;
      pageViews += this.userPageViews(user, slug);
    }
    const a = this.t.anonymous_days;
    const community = slug ?? ALL;
    for (let i = 0; i < a.length; i++) {
      if (a.day[i] < s || a.day[i] > e || a.community[i] !== community) continue;
      if (division !== null && !this.inside(a.division[i], division)) continue;
      anonymous += a.visitors[i];
      pageViews += a.page_views[i];
    }
    const total = signedIn + anonymous;
    return {
      range,
      data: {
        total_visitors: total,
        authenticated_visitors: signedIn,
        anonymous_visitors: anonymous,
        conversion_rate: ratio(signedIn, total, 2, 100),
        total_page_views: pageViews,
        avg_page_views_per_visitor: ratio(pageViews, total, 2),
        community_id: params.community_id || null,
        division_id: division,
        ...NO_EVENT_FILTERS,
      },
    };
  }


  trends(params) {
    const { s, e, range } = this.period(params);
    const slug = this.slug(params.community_id);
    const grain = params.interval || "day";
    const community = slug ?? ALL;
    const labels = [], index = new Map();
    const add = (label) => { if (!index.has(label)) { index.set(label, labels.length); labels.push(label); } };
    const periodOf = (day) => {
      const iso = addDays(this.start, day);
      if (grain === "week") return addDays(iso, 1 - isoWeekday(iso));
      if (grain === "month") return `${iso.slice(0, 8)}01`;
      return iso;
    };
    if (grain === "hour") {
      for (let day = s; day <= e; day++) {
        const iso = addDays(this.start, day);
        for (let h = 0; h < 24; h++) add(`${iso}T${String(h).padStart(2, "0")}:00`);
      }
    } else {
      for (let day = s; day <= e; day++) add(periodOf(day));
    }
    const signed = new Array(labels.length).fill(0);
    const anonymous = new Array(labels.length).fill(0);
    if (grain === "hour") {
      const v = this.t.visitor_hours;
      for (let i = 0; i < v.length; i++) {
        if (v.community[i] !== community) continue;
        const day = Math.floor(v.hour[i] / 24);
        if (day < s || day > e) continue;
        const h = v.hour[i] - day * 24;
        const k = index.get(`${addDays(this.start, day)}T${String(h).padStart(2, "0")}:00`);
        signed[k] += v.signed_in_visitors[i];
        anonymous[k] += v.anonymous_visitors[i];
      }
    } else {
      for (const user of this.users(s, e).values()) {
        if (slug !== null && !user.pages.has(slug)) continue;
        const periods = new Set();
        for (const day of user.days) {
          if (slug === null || user.dayPages.has(`${day}|${slug}`)) periods.add(index.get(periodOf(day)));
        }
        for (const k of periods) signed[k] += 1;
      }
      const a = this.t.anonymous_days;
      for (let i = 0; i < a.length; i++) {
        if (a.day[i] < s || a.day[i] > e || a.community[i] !== community) continue;
        anonymous[index.get(periodOf(a.day[i]))] += a.visitors[i];
      }
    }
    return {
      range,
      data: {
        interval: grain, community_id: params.community_id || null, ...NO_EVENT_FILTERS, labels,
        total: signed.map((x, k) => x + anonymous[k]), authenticated: signed, anonymous,
      },
    };
  }


  // Visitors of [s, e] per range division: a map division -> count (null: Unknown).
  divisionCounts(s, e, keep = null) {
    const counts = new Map();
    const bump = (division, n) => counts.set(division, (counts.get(division) || 0) + n);
    for (const user of this.users(s, e).values()) if (!keep || keep(user)) bump(user.division, 1);
    return { counts, bump };
  }

  ranked(counts, limit) {
    let total = 0;
    for (const n of counts.values()) total += n;
    const rows = [...counts.entries()].map(([division_id, visitors]) => ({ division_id, visitors }));
    rows.sort(byDesc(["visitors", "desc"], ["division_id", "asc"]));
    return rows.slice(0, limit).map((r) => ({ ...r, pct: ratio(r.visitors, total, 2, 100) }));
  }

  divisionBreakdown(params) {
    const { s, e, range } = this.period(params);
    const { counts, bump } = this.divisionCounts(s, e);
    const a = this.t.anonymous_days;
    for (let i = 0; i < a.length; i++) {
      if (a.day[i] >= s && a.day[i] <= e && a.community[i] === ALL) bump(a.division[i], a.visitors[i]);
    }
    const data = this.ranked(counts, Number(params.limit || 10)).map((r) => {
      const d = this.divisions.get(r.division_id);
      return {
        division_id: r.division_id, division_name: d ? d.name : "Unknown", division_type: d ? d.type : "Unknown",
        count: r.visitors, percentage: r.pct,
      };
    });
    return { range, data };
  }

  communityBreakdown(params) {
    const { s, e, range } = this.period(params);
    const limit = Number(params.limit || 10);
    const users = [...this.users(s, e).values()];
    const found = new Map();
    const of = (slug) => {
      let c = found.get(slug);
      if (!c) found.set(slug, (c = { visitors: 0, signed: 0, page_views: 0, divisions: new Map() }));
      return c;
    };
    for (const user of users) {
      for (const [slug, views] of user.pages) {
        if (slug === null) continue;
        const c = of(slug);
        c.visitors += 1; c.signed += 1; c.page_views += views;
        c.divisions.set(user.division, (c.divisions.get(user.division) || 0) + 1);
      }
    }
    const a = this.t.anonymous_days;
    for (let i = 0; i < a.length; i++) {
      if (a.day[i] < s || a.day[i] > e || a.community[i] === ALL) continue;
      const c = of(a.community[i]);
      c.visitors += a.visitors[i]; c.page_views += a.page_views[i];
      c.divisions.set(a.division[i], (c.divisions.get(a.division[i]) || 0) + a.visitors[i]);
    }
    const known = new Map(this.communities.map((x) => [x.community_slug, x]));
    const data = [...found.entries()].map(([slug, c]) => {
      const dim = known.get(slug);
      const divisionId = dim ? dim.division_id : null;
      return {
        community_id: dim ? dim.community_id : null, community_slug: slug, division_id: divisionId,
        division_name: divisionId && this.divisions.has(divisionId) ? this.divisions.get(divisionId).name : null,
        visitors: c.visitors, signed_in_visitors: c.signed, page_views: c.page_views,
        divisions: this.ranked(c.divisions, limit).map((r) => ({
          division_id: r.division_id,
          division_name: this.divisions.has(r.division_id) ? this.divisions.get(r.division_id).name : "Unknown",
          visitors: r.visitors, percentage: r.pct,
        })),
      };
    });
    data.sort(byDesc(["visitors", "desc"], ["community_slug", "asc"]));
    return { range, data };
  }

  flows(params) {
    const { s, e, range } = this.period(params);
    const found = new Map();
    const add = (from, to, visitors, views) => {
      const key = `${from}\u0000${to}`;
      const row = found.get(key) || { from_division_id: from, to_division_id: to, visitors: 0, page_views: 0 };
      row.visitors += visitors; row.page_views += views;
      found.set(key, row);
    };
    for (const user of this.users(s, e).values()) {
      if (user.division === null) continue;
      const targets = new Map();
      for (const [slug, views] of user.pages) {
        const to = slug === null ? undefined : this.communityDivision.get(slug);
        if (to === undefined || this.inside(user.division, to)) continue;
        targets.set(to, (targets.get(to) || 0) + views);
      }
      for (const [to, views] of targets) add(user.division, to, 1, views);
    }
    const f = this.t.anonymous_flows;
    for (let i = 0; i < f.length; i++) {
      if (f.day[i] >= s && f.day[i] <= e) add(f.from_division[i], f.to_division[i], f.visitors[i], f.page_views[i]);
    }
    const name = (id) => (this.divisions.has(id) ? this.divisions.get(id).name : null);
    const data = [...found.values()]
      .sort(byDesc(["visitors", "desc"], ["page_views", "desc"], ["from_division_id", "asc"], ["to_division_id", "asc"]))
      .slice(0, Number(params.limit || 50))
      .map((r) => ({
        from_division_id: r.from_division_id, from_division_name: name(r.from_division_id),
        to_division_id: r.to_division_id, to_division_name: name(r.to_division_id), visitors: r.visitors, page_views: r.page_views,
      }));
    return { range, data };
  }


  session() {
    return { data: { token_id: "report", role: "analyst", first_day: this.data.first_day, newest_day: this.data.newest_day } };
  }
}

Object.assign(EmbeddedSource.prototype, TABLE_ANSWERS);

const ROUTES = {
  "session/": EmbeddedSource.prototype.session,
  "visitors/": EmbeddedSource.prototype.visitors,
  "traffic/": EmbeddedSource.prototype.traffic,
  "conversions/": EmbeddedSource.prototype.conversions,
  "trends/": EmbeddedSource.prototype.trends,
  "pages/": function (p) { return this.top("pages", p, ["path"], ["page_views", "visitors"], [["page_views", "desc"], ["path", "asc"]]); },
  "entry-pages/": EmbeddedSource.prototype.entryPages,
  "referrers/": EmbeddedSource.prototype.referrers,
  "countries/": function (p) { return this.top("countries", p, ["country_code"], ["page_views", "visitors"], [["page_views", "desc"], ["country_code", "asc"]]); },
  "devices/": EmbeddedSource.prototype.devices,
  "status-codes/": EmbeddedSource.prototype.statusCodes,
  "crawlers/": function (p) { return this.top("crawlers", p, ["crawler_name"], ["hits", "bytes"], [["hits", "desc"], ["crawler_name", "asc"]]); },
  "community-breakdown/": EmbeddedSource.prototype.communityBreakdown,
  "division-breakdown/": EmbeddedSource.prototype.divisionBreakdown,
  "cross-division-flows/": EmbeddedSource.prototype.flows,
  "peak-visitors/": EmbeddedSource.prototype.peakVisitors,
  "realtime/": EmbeddedSource.prototype.realtime,
  "content/": EmbeddedSource.prototype.content,
};

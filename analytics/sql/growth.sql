-- GET growth/: the last 1, 7 or 30 days ($period day, week, month) ending at the newest day
-- against the same number of days before (docs/analysts/communities.md, growth).
select metric, current, previous, growth_pct, trend from growth($period, stable_pct := $stable_pct)

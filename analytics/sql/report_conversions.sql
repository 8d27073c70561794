-- The one-file report: the rows of conversions_daily for [$start, $end], summed in the browser over the
-- range the reader picks (as the API's conversions query sums them).
select day, sessions_with_anonymous_hits, conversions, conversion_rate_pct, seconds_to_conversion
from {conversions_daily}
where day between $start and $end
order by day

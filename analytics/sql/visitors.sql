-- GET visitors/ (and today/, weekly/, monthly/): visitors of [$start, $end], optionally only of
-- one community's pages ($community, a slug) and/or from inside one division ($division).
-- docs/analysts/communities.md, visitor_stats.
select
    visitors,
    signed_in_visitors,
    anonymous_visitors,
    signed_in_pct,
    page_views,
    page_views_per_visitor
from visitor_stats($start, $end, community := $community, division := $division)

-- GET realtime/: distinct visitors in the last 5 minutes of the newest data (current_visitors,
-- docs/analysts/communities.md), of the whole site ('(all)') or of one community's pages.
select visitors, strftime(window_end at time zone 'UTC', '%Y-%m-%dT%H:%M:%SZ') as window_end
from current_visitors
where community_slug = coalesce($community, '(all)')

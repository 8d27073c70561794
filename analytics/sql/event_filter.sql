-- A predicate, not a query: pasted where a query writes event_filter in braces, in the filtered_* queries (analytics/queries.py).
-- An event matches the dashboard's filters when it comes from country $country (GeoIP, 'Unknown'
-- when not located, as countries/ answers it), is for path $page (as pages/ answers it) and was
-- referred by domain $referrer (as referrers/ answers it); a null parameter matches every event.
($country is null or coalesce(country_code, 'Unknown') = $country)
and ($page is null or path = $page)
and ($referrer is null or referrer_domain = $referrer)

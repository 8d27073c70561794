-- The page-view rule (docs/analysts/metrics.md): a successful GET of a page, not of an asset or a
-- health check. Kept as macros so every model and analysts' ad-hoc queries agree.

create or replace macro is_static_path(p) as
    starts_with(p, '/static/')
    or regexp_matches(lower(p), '\.(css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|tiff?|woff2?|ttf|otf|eot|mp3|mp4|webm|ogg|wav|avi|mpe?g|flv|zip|gz|tgz|tar|rar|7z|iso|exe|dmg|pdf|txt|csv|xml|json)$');

create or replace macro is_health_check(p) as
    p in ('/health', '/healthz') or starts_with(p, '/health/');

create or replace macro is_page_view(method, status, p) as
    method = 'GET'
    and (status between 200 and 299 or status = 304)
    and p is not null
    and not is_static_path(p)
    and not is_health_check(p);

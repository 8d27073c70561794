-- The report outbox: one row per report, the single source of truth for what is built, what
-- is waiting, and what the reporting API has accepted. Written only by warehouse/reporting/outbox.py.
-- States and transitions: docs/operators/reporting.md#the-outbox.

create table if not exists report_outbox (
    report_id        varchar primary key,    -- also the Idempotency-Key: <kind>-<start>-<end>
    kind             varchar not null,       -- 'visits' or 'daily_summary'
    interval_start   timestamptz not null,   -- the data interval the report covers
    interval_end     timestamptz not null,
    payload          varchar not null,       -- compact UTF-8 JSON, byte for byte what is (or was) POSTed
    payload_sha256   varchar not null,       -- hex digest of payload
    created_at       timestamptz not null,   -- first build
    built_at         timestamptz not null,   -- last build that changed the payload
    status           varchar not null,       -- pending, sending, delivered, failed, discarded
    attempts         integer not null,       -- POSTs made so far (as recorded)
    next_attempt_at  timestamptz not null,   -- pending: not sent before this time (backoff)
    last_error       varchar,                -- last failure: transport error or HTTP status and body
    last_http_status smallint,               -- status of the last response, if any
    claim_id         varchar,                -- sending: the delivery run that holds the report
    lease_until      timestamptz,            -- sending: another run may take it over after this
    delivered_at     timestamptz,            -- delivered: when the 2xx was received
    check (kind in ('visits', 'daily_summary')),
    check (status in ('pending', 'sending', 'delivered', 'failed', 'discarded')),
    check ((status = 'sending') = (claim_id is not null and lease_until is not null)),
    check ((status = 'delivered') = (delivered_at is not null))
);

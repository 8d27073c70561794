"""The answer shapes of the analytics API, for its OpenAPI document (``/api/analytics/openapi.json``).

Answers are serialised directly (analytics/answers.py), not through these models: they only
describe them. docs/staff/api.md explains each number.
"""

from __future__ import annotations

import functools

from pydantic import BaseModel, Field


class Snapshot(BaseModel):
    """The snapshot an answer was read from: trace any number to the data behind it."""

    generation: int = Field(description="Publication number of the snapshot (1, 2, 3...)")
    data_as_of: str | None = Field(description="Time of the newest event in it, UTC, ISO 8601")
    ingest_run_id: str | None = Field(description="The Airflow run of the newest ingest that committed new lines")
    published_at: str = Field(description="When the snapshot was published, UTC")
    definitions_version: str = Field(description="Digest of the SQL that defines the metrics")


class Range(BaseModel):
    """The days the numbers cover, inclusive, in FOOTFALL_TIMEZONE."""

    start_date: str
    end_date: str
    days: int
    timezone: str
    default: bool = Field(description="True when no dates were given: the newest 30 days of data")


class Error(BaseModel):
    status: int
    message: str
    parameter: str | None = Field(description="The query parameter at fault, when one is")


class ErrorAnswer(BaseModel):
    error: Error


@functools.cache
def envelope(name: str, data_type) -> type[BaseModel]:
    """The answer model ``{"data": data_type, "range": Range | null, "snapshot": Snapshot}``
    (one class per name, however many endpoints share it)."""
    return type(
        name,
        (BaseModel,),
        {
            "__annotations__": {"data": data_type, "range": Range | None, "snapshot": Snapshot},
            "__doc__": f"Answer carrying {getattr(data_type, '__name__', 'a list')}.",
        },
    )


class EventFilters(BaseModel):
    """The country, page and referrer filters an answer is under (null: not filtered on it)."""

    country: str | None = Field(description="ISO 3166-1 alpha-2 code or Unknown, as countries/ answers it")
    page: str | None = Field(description="A path, as pages/ answers it")
    referrer: str | None = Field(description="A referrer domain, as referrers/ answers it")


class Visitors(EventFilters):
    total_visitors: int = Field(description="Distinct visitors (a signed-in user once, an anonymous visitor per day)")
    authenticated_visitors: int = Field(description="Of them, signed-in users")
    anonymous_visitors: int
    conversion_rate: float | None = Field(description="% of visitors who were signed in (null without visitors)")
    total_page_views: int
    avg_page_views_per_visitor: float | None
    community_id: str | None
    division_id: str | None


class DivisionCount(BaseModel):
    division_id: str | None = Field(description="null: visitors without a division (Unknown)")
    division_name: str
    division_type: str
    count: int = Field(description="Visitors whose division (over the range) is this one")
    percentage: float


class Trends(EventFilters):
    interval: str
    community_id: str | None
    labels: list[str] = Field(description="Period starts: YYYY-MM-DD, or YYYY-MM-DDTHH:00 for hours")
    total: list[int]
    authenticated: list[int]
    anonymous: list[int]


class ConversionDay(BaseModel):
    date: str
    conversions: int
    sessions_with_anonymous_hits: int
    conversion_rate: float | None


class Conversions(BaseModel):
    total_conversions: int
    sessions_with_anonymous_hits: int
    conversion_rate: float | None = Field(description="% of sessions with anonymous hits that signed in")
    avg_time_to_conversion: float | None = Field(description="Seconds from first anonymous to first signed-in hit")
    conversions_by_date: list[ConversionDay]


class TypeCount(BaseModel):
    division_type: str
    count: int
    percentage: float


class CountryCount(BaseModel):
    iso_country: str
    name: str
    count: int
    percentage: float


class Demographics(BaseModel):
    by_division_type: list[TypeCount]
    top_countries: list[CountryCount]


class Realtime(BaseModel):
    community_id: str | None
    count: int = Field(description="Distinct visitors in the last 5 minutes of the newest data")
    window_seconds: int
    timestamp: str | None = Field(description="End of that window: the newest page view, UTC")
    age_seconds: float | None = Field(description="How long ago that was, when answered")


class PeriodCounts(BaseModel):
    start_date: str
    end_date: str
    visitors: int
    authenticated_visitors: int
    page_views: int


class GrowthMetric(BaseModel):
    metric: str
    current: int
    previous: int
    growth_pct: float | None
    trend: str


class Growth(BaseModel):
    period: str
    growth_rate: float | None = Field(description="% change of visitors against the previous period")
    trend: str = Field(description="increasing, decreasing or stable (within FOOTFALL_GROWTH_STABLE_PCT)")
    current_period: PeriodCounts
    previous_period: PeriodCounts
    metrics: list[GrowthMetric]


class TrafficPoint(BaseModel):
    label: str
    hits: int
    page_views: int
    visitors: int
    visits: int
    bounce_rate: float | None
    avg_visit_duration_s: float | None


class TrafficTotals(BaseModel):
    hits: int
    page_views: int
    visitor_days: int = Field(description="Sum of each day's unique visitors")
    visits: int
    bounces: int
    bounce_rate: float | None
    avg_visit_duration_s: float | None


class Traffic(BaseModel):
    interval: str
    totals: TrafficTotals
    series: list[TrafficPoint]


class Page(BaseModel):
    path: str
    page_views: int
    visitors: int = Field(description="Sum of each day's unique visitors of the page")


class EntryPage(BaseModel):
    path: str
    entries: int = Field(description="Visits that began on this page")
    bounces: int
    bounce_rate: float


class Referrer(BaseModel):
    referrer_class: str
    referrer_domain: str
    page_views: int
    visitors: int


class Campaign(BaseModel):
    utm_source: str
    utm_medium: str
    utm_campaign: str
    page_views: int
    visitors: int


class Referrers(BaseModel):
    referrers: list[Referrer]
    campaigns: list[Campaign]


class Country(BaseModel):
    country_code: str
    page_views: int
    visitors: int


class NamedCount(BaseModel):
    name: str | None
    page_views: int
    visitors: int


class Devices(BaseModel):
    device_types: list[NamedCount]
    browsers: list[NamedCount]
    operating_systems: list[NamedCount]


class StatusCount(BaseModel):
    status: int
    hits: int


class PathHits(BaseModel):
    path: str
    hits: int


class StatusCodes(BaseModel):
    statuses: list[StatusCount]
    classes: dict[str, int]
    top_404_paths: list[PathHits]


class Crawler(BaseModel):
    crawler_name: str
    hits: int
    bytes: int


class Flow(BaseModel):
    from_division_id: str
    from_division_name: str | None
    to_division_id: str
    to_division_name: str | None
    visitors: int
    page_views: int


class HourOfWeek(BaseModel):
    weekday: int = Field(description="ISO weekday, 1 = Monday")
    hour: int
    page_views: int
    visitors: int = Field(description="Sum over those hours of each hour's unique visitors")
    avg_visitors: float = Field(description="visitors / number of such weekdays in the range")
    max_visitors: int


class DailyPeak(BaseModel):
    date: str
    peak_visitors: int
    window_start: str


class PeakVisitors(EventFilters):
    community_id: str | None
    hour_of_week: list[HourOfWeek]
    daily_peaks: list[DailyPeak] | None = Field(description="null under country, page or referrer filters")


class Post(BaseModel):
    post_id: str
    kind: str | None
    views: int
    unique_viewers: int
    signed_in_views: int
    anonymous_views: int


class Breakdown(BaseModel):
    name: str | None
    views: int
    unique_viewers: int


class PostDetail(BaseModel):
    post_id: str
    kind: str | None
    views: int
    unique_viewers: int
    by_country: list[Breakdown]
    by_device: list[Breakdown]
    by_referrer: list[Breakdown]


class Community(BaseModel):
    community_id: str
    community_slug: str
    division_id: str
    division_name: str | None


class Session(BaseModel):
    token_id: str
    role: str = Field(description="viewer or analyst: what the dashboard may show")
    first_day: str | None = Field(description="First day with page views in the snapshot")
    newest_day: str | None = Field(description="Newest day with page views (the dashboard's today)")


class CommunityDivision(BaseModel):
    division_id: str | None = Field(description="null: visitors without a division (Unknown)")
    division_name: str
    visitors: int
    percentage: float = Field(description="% of the community's visitors")


class CommunityVisitors(BaseModel):
    community_id: str | None = Field(description="null: a routes slug the dimension files do not list")
    community_slug: str
    division_id: str | None
    division_name: str | None
    visitors: int = Field(description="Distinct visitors of the community's pages over the range")
    signed_in_visitors: int
    page_views: int
    divisions: list[CommunityDivision] = Field(description="Visitors per visitor division, largest first")

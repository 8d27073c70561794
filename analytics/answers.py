"""One answer shape for every JSON endpoint, errors included, and the per-generation cache.

Every answer is ``{"data": ..., "range": {...} or null, "snapshot": {...}}``: ``range`` states
the days the numbers cover (and whether they were the default, the newest 30 days of data),
``snapshot`` the identity of the snapshot they were read from (docs/staff/api.md). Every error is
``{"error": {"status": N, "message": "...", "parameter": name or null}}`` and nothing else:
no data, no stack trace.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from analytics.reader import Identity

JSON = "application/json"


class ApiError(Exception):
    """An answer other than 200: the status, a message for people, the parameter at fault."""

    def __init__(self, status: int, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.parameter = parameter


def error_body(status: int, message: str, parameter: str | None = None) -> bytes:
    """The JSON of an error answer."""
    return json.dumps({"error": {"status": status, "message": message, "parameter": parameter}}).encode()


def ratio(numerator: float, denominator: float, digits: int, scale: int = 1) -> float | None:
    """``scale * numerator / denominator`` rounded half away from zero to ``digits`` decimals,
    computed exactly (the inputs are counts and whole-second sums); None when the
    denominator is 0. The same rounding as SQL's ``round`` in the views, without float error."""
    if not denominator:
        return None
    exact = Fraction(scale) * Fraction(numerator) / Fraction(denominator)
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return float(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


class AnswerCache:
    """Rendered answers by (generation, path, parameters); least recently used go first.

    An answer depends only on the snapshot generation and the request, so entries of an older
    generation are never served again and are dropped when a new generation is seen.
    """

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._data: OrderedDict[tuple, Rendered] = OrderedDict()
        self._generation: int | None = None
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Rendered | None:
        with self._lock:
            found = self._data.get(key)
            if found is not None:
                self._data.move_to_end(key)
            return found

    def put(self, key: tuple, rendered: Rendered) -> None:
        if self.entries <= 0:
            return
        with self._lock:
            if key[0] != self._generation:
                if self._generation is not None and key[0] < self._generation:
                    return  # a request that started before a newer generation was seen
                self._data.clear()
                self._generation = key[0]
            self._data[key] = rendered
            while len(self._data) > self.entries:
                self._data.popitem(last=False)


def envelope(data, period: dict | None, identity: Identity) -> bytes:
    """The JSON bytes of a 200 answer."""
    return json.dumps(
        {"data": data, "range": period, "snapshot": identity.as_dict()}, separators=(",", ":"), allow_nan=False
    ).encode()


Compute = Callable[[Identity, object], tuple[object, dict | None]]
# An answer ready to send: body, media type, extra headers.
Rendered = tuple[bytes, str, dict[str, str]]


def render_json(data, period: dict | None, identity: Identity) -> Rendered:
    """The envelope of every JSON answer."""
    return envelope(data, period, identity), JSON, {}


async def answer(request: Request, compute: Compute, *, cache: bool = True, render=render_json) -> Response:
    """Answer a request with ``compute(identity, cursor) -> (data, range)`` on the current snapshot,
    rendered by ``render(data, range, identity) -> (body, media type, headers)``.

    The cache is looked up in the event loop (no thread needed for a hit); on a miss the query
    runs in the thread pool on a cursor of its own.
    """
    state = request.app.state.analytics
    key = (request.url.path, tuple(sorted(request.query_params.multi_items())))
    if cache:
        generation = state.reader.identity().generation
        found = state.cache.get((generation, *key))
        if found is not None:
            return Response(found[0], media_type=found[1], headers=found[2])

    def run() -> Rendered:
        with state.reader.cursor() as (identity, cur):
            data, period = compute(identity, cur)
            rendered = render(data, period, identity)
            if cache:
                state.cache.put((identity.generation, *key), rendered)
            return rendered

    body, media_type, headers = await run_in_threadpool(run)
    return Response(body, media_type=media_type, headers=headers)


def iso(day: dt.date) -> str:
    return day.isoformat()

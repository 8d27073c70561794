"""Which log format fits a sample of lines: the known named formats, and a JSON template built
from the keys the lines carry.

Pure: lines in, shares out. ``python -m warehouse.cli check`` reads the first lines of each
log file (:mod:`warehouse.preflight`) and uses :func:`fit` to say how much of them the
configured ``FOOTFALL_LOG_FORMAT`` parses and which format would parse clearly more.

JSON logs (nginx ``escape=json``, or any one-object-per-line log) have no predefined format:
:func:`json_template` maps well-known keys (:data:`JSON_KEYS`) to the nginx variables whose
values they hold, choosing the time variable from what the values look like, and writes the
template as it would appear in nginx.conf (``"key": "$variable"`` for strings, ``"key":
$variable`` for numbers).
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass

import polars as pl

from parsers.access_log import parse_lines
from parsers.log_format import NAMED_FORMATS, LogFormat, compile_log_format
from parsers.variables import LogFormatError, variable_kind

# Well-known JSON keys (compared without case, '-', '.' or '@') -> the nginx variable they hold.
# "time" keys take the time variable their values fit (see _time_variable).
JSON_KEYS: dict[str, str] = {
    **dict.fromkeys(("time", "timestamp", "ts", "date", "datetime", "logtime"), "time"),
    **dict.fromkeys(("timelocal",), "time_local"),
    **dict.fromkeys(("timeiso8601",), "time_iso8601"),
    **dict.fromkeys(("msec",), "msec"),
    **dict.fromkeys(
        ("remoteip", "remoteaddr", "remoteaddress", "clientip", "clientaddr", "client", "ip", "addr"), "remote_addr"
    ),
    **dict.fromkeys(("remoteuser", "user", "username"), "remote_user"),
    "request": "request",
    **dict.fromkeys(("response", "status", "statuscode", "responsecode", "code"), "status"),
    **dict.fromkeys(("bytes", "bodybytessent", "size", "responsesize", "bytessent"), "body_bytes_sent"),
    **dict.fromkeys(("referrer", "referer", "httpreferer", "httpreferrer"), "http_referer"),
    **dict.fromkeys(("agent", "useragent", "httpuseragent", "ua"), "http_user_agent"),
    **dict.fromkeys(("host", "httphost", "vhost", "servername"), "host"),
    **dict.fromkeys(("requesttime", "responsetime", "duration"), "request_time"),
    **dict.fromkeys(("xforwardedfor", "httpxforwardedfor", "forwardedfor"), "http_x_forwarded_for"),
    **dict.fromkeys(("method", "requestmethod", "verb"), "request_method"),
    **dict.fromkeys(("uri", "requesturi", "url"), "request_uri"),
    **dict.fromkeys(("protocol", "serverprotocol", "httpversion"), "server_protocol"),
}
# Variables that hold parts of $request: used only when no key holds the whole request line.
_REQUEST_PARTS = ("request_method", "request_uri", "server_protocol")

_TIME_LOCAL_RE = re.compile(r"^\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}$")
_TIME_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)$")
_MSEC_RE = re.compile(r"^\d{9,}(?:\.\d+)?$")


@dataclass(frozen=True)
class Fit:
    """How well one format parses a sample.

    Attributes:
        name: the format's name (a key of :data:`NAMED_FORMATS`, ``json``, or ``configured``).
        text: the format as FOOTFALL_LOG_FORMAT takes it (a name, or the template).
        lines: lines in the sample; ``parsed``: how many parsed.
        reasons: quarantine reason -> lines, most frequent first.
    """

    name: str
    text: str
    lines: int
    parsed: int
    reasons: tuple[tuple[str, int], ...]

    @property
    def share(self) -> float:
        """Fraction of the sample's lines that parsed (0 for an empty sample)."""
        return self.parsed / self.lines if self.lines else 0.0


def fit(lines: pl.DataFrame, fmt: LogFormat, name: str, text: str) -> Fit:
    """Parse ``lines`` (columns ``line_number``, ``line``) with ``fmt`` and count what parsed."""
    parsed = parse_lines(lines, fmt, user_field=None)
    reasons = collections.Counter(parsed.quarantine.get_column("reason").to_list())
    ordered = tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return Fit(name, text, lines.height, parsed.events.height, ordered)


def _key(name: str) -> str:
    return re.sub(r"[-_.@ ]", "", name.lower())


def _time_variable(values: list[object]) -> str | None:
    """The time variable whose format the sampled values of a time key have."""
    texts = [str(v) for v in values if v not in (None, "")]
    for variable, pattern in (("time_local", _TIME_LOCAL_RE), ("time_iso8601", _TIME_ISO_RE), ("msec", _MSEC_RE)):
        if texts and sum(bool(pattern.match(t)) for t in texts) * 2 > len(texts):
            return variable
    return None


@dataclass(frozen=True)
class JsonKeys:
    """What a sample of JSON lines holds: ``template`` (None when the required variables cannot
    all be mapped), the keys mapped to variables, and the keys left out of it."""

    template: str | None
    mapped: tuple[tuple[str, str], ...]
    unmapped: tuple[str, ...]
    missing: tuple[str, ...]  # required variables no key provides


def json_template(lines: list[str]) -> JsonKeys | None:
    """Build a JSON ``log_format`` template from the top-level keys of JSON-object lines.

    Args:
        lines: the sample's lines; those that are not JSON objects are ignored.

    Returns:
        ``None`` when fewer than half of the non-empty lines are JSON objects; otherwise a
        :class:`JsonKeys`. Keys are taken in the order first seen; each maps to the variable
        of :data:`JSON_KEYS` (or to itself when it is an nginx variable's name), each variable
        once. A key whose values are numbers is written unquoted, as nginx writes
        ``"bytes": $body_bytes_sent``.
    """
    objects = []
    candidates = [line for line in lines if line.strip()]
    for line in candidates:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    if not objects or len(objects) * 2 < len(candidates):
        return None
    values: dict[str, list[object]] = {}
    for obj in objects:
        for key, value in obj.items():
            values.setdefault(key, []).append(value)
    has_request = any(JSON_KEYS.get(_key(k)) == "request" or k == "request" for k in values)
    mapped: list[tuple[str, str]] = []
    unmapped: list[str] = []
    used: set[str] = set()
    for key, seen in values.items():
        variable = JSON_KEYS.get(_key(key))
        if variable is None:
            try:
                variable_kind(key)
                variable = key
            except LogFormatError:
                variable = None
        if variable == "time":
            variable = _time_variable(seen)
        if variable in _REQUEST_PARTS and has_request:
            variable = None
        if variable is None or variable in used or any(isinstance(v, dict | list) for v in seen):
            unmapped.append(key)
            continue
        used.add(variable)
        mapped.append((key, variable))
    missing = []
    if not used & {"time_local", "time_iso8601", "msec"}:
        missing.append("a time ($time_local, $time_iso8601 or $msec)")
    if "status" not in used:
        missing.append("$status")
    if "remote_addr" not in used:
        missing.append("$remote_addr")
    template = None
    if not missing:
        fields = []
        for key, variable in mapped:
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values[key] if v is not None)
            fields.append(f"{json.dumps(key)}: " + (f"${variable}" if numeric else f'"${variable}"'))
        template = "{" + ", ".join(fields) + "}"
    return JsonKeys(template, tuple(mapped), tuple(unmapped), tuple(missing))


def candidates(lines: list[str]) -> dict[str, str]:
    """The formats worth trying on a sample: every named format, and a JSON template when the
    lines are JSON objects (name ``json``)."""
    found = dict(NAMED_FORMATS)
    keys = json_template(lines)
    if keys is not None and keys.template is not None:
        found["json"] = keys.template
    return found


def best_alternative(lines: pl.DataFrame, configured: Fit) -> Fit | None:
    """The format of :func:`candidates` that parses clearly more of ``lines`` than ``configured``.

    "Clearly" is at least half the sample and at least 10 percentage points more than the
    configured format; among formats that parse the same share, the first of :data:`NAMED_FORMATS`
    wins, then the JSON template. Returns ``None`` when no format does.
    """
    best: Fit | None = None
    for name, text in candidates(lines.get_column("line").to_list()).items():
        if text == configured.text or name == configured.text.strip().lower():
            continue
        attempt = fit(lines, compile_log_format(text), name, name if name in NAMED_FORMATS else text)
        if best is None or attempt.parsed > best.parsed:
            best = attempt
    if best is None or best.share < 0.5 or best.share < configured.share + 0.1:
        return None
    return best

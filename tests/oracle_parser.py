"""An independent parser of text ``log_format``s: the oracle footfall's text parser is compared with.

footfall parses text formats with a compiled tokenizer (``parsers/fast_path.py``), or with the
format's regular expression in polars for the few formats the tokenizer cannot walk. This module
does the same job the plain way, one line at a time: Python's ``re`` on each line, values in
dicts and ints, and its own code for every rule (it imports nothing from ``parsers/`` but the
catalogue of nginx variables, ``parsers.variables.variable_kind``, which is data from nginx's
documentation, not parsing). The rules it follows are footfall's documented behaviour:

* a chunk is split into lines at ``\\n``; a line loses one ``\\r`` before its end; bytes that are
  not UTF-8 are read as ``\\xNN`` text;
* a line of whitespace only is ``empty_line``; one over 64 KiB is ``line_too_long``; one the
  format does not match is ``format_mismatch`` unless it holds two records run together
  (``parsers/run_together.py``'s docstring); a time that names no moment is ``invalid_time``
  (the ranges of ``strptime``: a second 60 is the next second, year 0 exists, offsets up to
  23:59), a quoted status that is no 16-bit integer ``invalid_status``, a time later than the
  limit ``future_time`` (docs/analysts/schema.md);
* values: nginx's ``\\xNN`` and Apache's ``\\"`` ``\\\\`` escapes undone in the request line,
  headers and cookies, bytes that are then not UTF-8 written back as ``\\xNN``; control
  characters (C0 but tab, and DEL) written as ``\\xNN``; ``-`` is an unset value (and ``""``
  for the user and session ids); the request line split into method, path, query, protocol.

"Whitespace" is Unicode's White_Space property throughout (what ``\\s`` and ``strip`` mean in
the product's regular expressions), not ``str.isspace``.

Events are dicts with the keys of ``parsers.values.PARSED_SCHEMA``; ``ts`` is microseconds
since the epoch (UTC), so years outside Python's ``datetime`` range compare too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import math
import re

from parsers.variables import variable_kind

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
MAX_LINE_BYTES = 65536
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
WHITE_SPACE += "\u2028\u2029\u202f\u205f\u3000"
_WS = re.escape(WHITE_SPACE)
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_ESCAPED = ("request", "http_referer", "http_user_agent", "request_uri", "uri", "args")
_DASH_IS_NULL = ("remote_addr", "referrer", "user_agent", "user_id", "session_id", "host", "x_forwarded_for")
_ADDRESSES = ("remote_addr", "realip_remote_addr")
_D = "[0-9]"  # an ASCII digit (Python's \d is any Unicode digit)
_ITEM = f"[^{_WS},]+"
_VALUE = {  # how an unquoted value of each kind is matched (nginx's formats of them)
    "time_local": rf"{_D}{_D}/[a-zA-Z][a-zA-Z][a-zA-Z]/{_D * 4}(?::{_D}{_D}){{3}} [-+]{_D * 4}",
    "time_iso8601": rf"{_D * 4}(?:-{_D}{_D}){{2}}T{_D}{_D}(?::{_D}{_D}){{2}}(?:Z|[-+]{_D}{_D}:{_D}{_D})",
    "msec": rf"{_D}+(?:[.]{_D}+)?",
    "status": _D * 3,
    "int": rf"-|{_D}+",
    "float": rf"-|{_D}+(?:[.]{_D}+)?",
    "upstream_list": rf"{_ITEM}(?:(?:, | : ){_ITEM})*",
}
_QUOTED = r'(?:[^"\\]|\\.)*'


class Format:
    """A text ``log_format`` read for this oracle: literals, variable names, one regex each."""

    def __init__(self, text: str) -> None:
        self.text = COMBINED if text == "combined" else text
        pieces = re.split(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)", self.text)
        self.literals = pieces[0::3]
        self.names = [a or b for a, b in zip(pieces[1::3], pieces[2::3], strict=True)]
        self.values = []
        for i, name in enumerate(self.names):
            before, after = self.literals[i], self.literals[i + 1]
            kind = variable_kind(name)
            if before.endswith('"') and after.startswith('"'):
                self.values.append(_QUOTED)
            elif kind in _VALUE:
                self.values.append(_VALUE[kind])
            elif after:
                self.values.append(f"[^{re.escape(after[0])}]*")
            else:
                self.values.append(".*")
        tail = self.literals[-1]
        end = re.escape(tail[:-1]) + '(?:"\r?)?' if tail.endswith('"') else re.escape(tail) + "\r?"
        pairs = zip(self.literals[:-1], self.values, strict=True)
        self.record = "".join(re.escape(lit) + f"({v})" for lit, v in pairs) + end
        self.regex = re.compile(self.record)

    def head(self, upto: int) -> str:
        """The regex of the record up to variable ``upto`` (not included), without groups."""
        return "".join(re.escape(self.literals[j]) + f"(?:{self.values[j]})" for j in range(upto))


def read_lines(data: bytes) -> list[str]:
    """The lines of a chunk, as the product reads them."""
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    return [(p[:-1] if p.endswith(b"\r") else p).decode("utf-8", "backslashreplace") for p in pieces]


def _is_blank(line: str) -> bool:
    return all(c in WHITE_SPACE for c in line)


def _days(y: int, m: int, d: int) -> int | None:
    """Days from 1970-01-01 to a proleptic Gregorian date; None if there is no such day."""
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    month_days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not (1 <= m <= 12 and 1 <= d <= month_days[m - 1]):
        return None
    # Year 0 is no datetime.date: year 400 is the same in the 400-year cycle, 146,097 days later.
    day = dt.date(y, m, d).toordinal() if y else dt.date(400, m, d).toordinal() - 146_097
    return day - dt.date(1970, 1, 1).toordinal()


def _moment(y, mo, d, h, mi, s, sign, oh, om) -> tuple[int, int] | None:
    """(microseconds since the epoch, offset minutes), or None for no such moment."""
    days = _days(y, mo, d)
    if days is None or h > 23 or mi > 59 or s > 60 or oh > 23 or om > 59:
        return None
    offset = sign * (oh * 60 + om)
    return ((days * 86_400 + h * 3600 + mi * 60 + s) - offset * 60) * 1_000_000, offset


def parse_time(name: str, value: str) -> tuple[int, int | None] | None:
    """A logged ``$time_local``, ``$time_iso8601`` or ``$msec``; None when it is no moment."""
    if name == "time_local":
        m = re.fullmatch(r"(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)", value, re.A)
        if not m or m[2].lower() not in _MONTHS:
            return None
        day, _, year, h, mi, s, sign, oh, om = m.groups()
        return _moment(int(year), _MONTHS[m[2].lower()], int(day), int(h), int(mi), int(s),
                       -1 if sign == "-" else 1, int(oh), int(om))  # fmt: skip
    if name == "time_iso8601":
        m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:Z|([+-])(\d\d):(\d\d))", value, re.A)
        if not m:
            return None
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        sign, oh, om = m[7] or "+", int(m[8] or 0), int(m[9] or 0)
        return _moment(y, mo, d, h, mi, s, -1 if sign == "-" else 1, oh, om)
    seconds = to_float(value)
    if seconds is None or math.isnan(seconds) or abs(seconds) >= 9.2e12:
        return None
    return round(seconds * 1e6), None  # microseconds, a tie to the even one


def to_int(value: str | None, bits: int = 64) -> int | None:
    """An integer as the product casts text to it: optional sign and digits, in range; else None."""
    if value is None or not re.fullmatch(r"[+-]?[0-9]+", value):
        return None
    n = int(value)
    return n if -(2 ** (bits - 1)) <= n < 2 ** (bits - 1) else None


def to_float(value: str | None) -> float | None:
    """A decimal as the product casts text to it (no whitespace, no underscores); else None."""
    number = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)"
    if value is None or not re.fullmatch(number, value, re.I):
        return None
    return float(value)


def unescape(value: str) -> str:
    """Undo ``\\xNN``, ``\\"`` and ``\\\\``, left to right; bytes then not UTF-8 as ``\\xnn``."""
    raw, out, i = value.encode(), bytearray(), 0
    while i < len(raw):
        if raw[i : i + 2] == b"\\x" and re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[i + 2 : i + 4]):
            out.append(int(raw[i + 2 : i + 4], 16))
            i += 4
        elif raw[i : i + 2] in (b'\\"', b"\\\\"):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "backslashreplace")


def controls_as_text(value: str) -> str:
    return "".join(f"\\x{ord(c):02x}" if (ord(c) < 32 and c != "\t") or c == "\x7f" else c for c in value)


def split_request(request: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """(method, path, query, protocol) of a request line; all None when it is not HTTP."""
    if request is None:
        return None, None, None, None
    m = re.match(r"([A-Za-z][A-Za-z_-]*) ", request)
    if not m or len(request) == m.end() or request[m.end()] in WHITE_SPACE:
        return None, None, None, None
    method, rest = m[1], request[m.end() :]
    protocol = re.search(r" (HTTP/\d(?:\.\d)?)\Z", rest)
    if protocol and protocol.start() >= 1:
        rest, protocol = rest[: protocol.start()], protocol[1]
    else:
        protocol = None
    path, _, query = rest.partition("?")
    return method, path, query or None, protocol


def _event(fmt: Format, values: dict, user_field: str | None, session_field: str | None) -> dict:
    for name in (*_ESCAPED, user_field, session_field):
        if name in values:
            values[name] = unescape(values[name])
    values = {k: controls_as_text(v) for k, v in values.items()}
    request = values.get("request")
    if request is None and "request_method" in values and ("request_uri" in values or "uri" in values):
        target = values.get("request_uri")
        if target is None:
            target = values["uri"]
            if values.get("args", "") not in ("", "-"):
                target += "?" + values["args"]
        request = f"{values['request_method']} {target} {values.get('server_protocol', '')}".strip(WHITE_SPACE)
    method, path, query, protocol = split_request(request)

    def first(*names):
        return next((values[n] for n in names if n in values), None)

    event = {
        "remote_addr": first(*_ADDRESSES),
        "method": method,
        "path": path,
        "query": query,
        "protocol": protocol,
        "bytes_sent": to_int(first("body_bytes_sent", "bytes_sent")),
        "referrer": first("http_referer"),
        "user_agent": first("http_user_agent"),
        "user_id": first(user_field) if user_field else None,
        "session_id": first(session_field) if session_field else None,
        "host": first("host", "http_host", "server_name"),
        "request_time": to_float(first("request_time")),
        "x_forwarded_for": first("http_x_forwarded_for"),
    }
    for key in _DASH_IS_NULL:
        if event[key] == "-" or (key in ("user_id", "session_id") and event[key] == ""):
            event[key] = None
    return event


def parse_record(fmt: Format, line: str, *, user_field=None, session_field=None, not_after_us=None):
    """One record on its own: ``(event dict, None)`` or ``(None, reason)``."""
    if _is_blank(line):
        return None, "empty_line"
    if len(line.encode()) > MAX_LINE_BYTES:
        return None, "line_too_long"
    m = fmt.regex.fullmatch(line)
    if not m:
        return None, "format_mismatch"
    values = dict(zip(fmt.names, m.groups(), strict=True))
    time_name = next(n for n in ("time_local", "time_iso8601", "msec") if n in values)
    moment = parse_time(time_name, values[time_name])
    if moment is None:
        return None, "invalid_time"
    status = values.get("status")
    if status is not None and to_int(status, bits=16) is None:
        return None, "invalid_status"
    if not_after_us is not None and moment[0] > not_after_us:
        return None, "future_time"
    event = _event(fmt, values, user_field, session_field)
    event.update(ts=moment[0], utc_offset_minutes=moment[1], status=to_int(status, bits=16))
    return event, None


def _run_together(fmt: Format, line: str) -> tuple[str, str] | None:
    """(cut-off record completed with ``-``, following record) of a line holding two, or None."""
    quoted = [i for i, v in enumerate(fmt.values) if v == _QUOTED]
    for i in reversed(quoted):
        lazy = _QUOTED + "?"
        m = re.fullmatch(f'({fmt.head(i)}{re.escape(fmt.literals[i])}{lazy})"?({fmt.record})', line, re.S)
        if not m:
            continue
        cut, following = m[1], m[2]
        first_plain = not fmt.literals[0] and len(fmt.names) > 1 and fmt.literals[1]
        if first_plain and fmt.values[0] == f"[^{re.escape(fmt.literals[1][0])}]*":
            value = following[: following.index(fmt.literals[1][0])]
            start = value.rfind('"') + 1
            if fmt.names[0] in _ADDRESSES:
                start = next((j for j in range(max(start, len(value) - 45), len(value)) if _is_ip(value[j:])), None)
                if start is None:
                    return None
            cut, following = cut + value[:start], following[start:]
        if cut.endswith('"'):
            cut = cut[:-1]
        completion = fmt.literals[i + 1] + "".join("-" + fmt.literals[j + 1] for j in range(i + 1, len(fmt.names)))
        return cut + completion, following
    return None


def _is_ip(text: str) -> bool:
    """Whether ``text`` is an IPv4 or an IPv6 address, as Python's ipaddress reads them."""
    for kind in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        with contextlib.suppress(ValueError):
            kind(text)
            return True
    return False


def _parse(numbered, fmt_text: str, user_field, session_field, not_after) -> tuple[list[dict], list[tuple]]:
    """Events and quarantine of ``(line_number, text to parse, line as given)`` triples."""
    fmt = Format(fmt_text)
    limit = None if not_after is None else _epoch_us(not_after)
    fields = {"user_field": user_field, "session_field": session_field, "not_after_us": limit}
    events, quarantine = [], []
    for number, text, line in numbered:
        event, reason = parse_record(fmt, text, **fields)
        if reason == "format_mismatch" and (records := _run_together(fmt, text)):
            cut_event, _ = parse_record(fmt, records[0], **fields)
            event, reason = parse_record(fmt, records[1], **fields)
            if event is not None:
                events.extend({**e, "line_number": number} for e in (cut_event, event) if e is not None)
                continue
        if event is None:
            quarantine.append((number, reason, line))
        else:
            events.append({**event, "line_number": number})
    return events, quarantine


def parse(data: bytes, fmt_text: str, first_line: int = 1, *, user_field="remote_user", session_field=None,
          not_after: dt.datetime | None = None) -> tuple[list[dict], list[tuple[int, str, str]]]:  # fmt: skip
    """Events and quarantined ``(line_number, reason, line)`` of a chunk of bytes."""
    numbered = [(n, line, line) for n, line in enumerate(read_lines(data), first_line)]
    return _parse(numbered, fmt_text, user_field, session_field, not_after)


def parse_lines(lines: list[tuple[int, str]], fmt_text: str, *, user_field="remote_user", session_field=None,
                not_after: dt.datetime | None = None) -> tuple[list[dict], list[tuple[int, str, str]]]:  # fmt: skip
    """The same for numbered lines already split, read as the lines of a file (one ``\\r``
    before the line end is not part of the line); quarantine keeps each line as given."""
    numbered = [(n, line[:-1] if line.endswith("\r") else line, line) for n, line in lines]
    return _parse(numbered, fmt_text, user_field, session_field, not_after)


def _epoch_us(moment: dt.datetime) -> int:
    delta = moment.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return delta // dt.timedelta(microseconds=1)

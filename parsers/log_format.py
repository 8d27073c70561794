"""Turn an nginx ``log_format`` string into a parser specification.

Follows the nginx documentation of ngx_http_log_module, directive ``log_format``
(https://nginx.org/en/docs/http/ngx_http_log_module.html#log_format):

* the format is text with ``$variable`` or ``${variable}`` references;
* the predefined ``combined`` format is
  ``'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
  "$http_referer" "$http_user_agent"'``;
* with the default ``escape=default``, ``"``, ``\\`` and bytes outside 32..126 are written
  as ``\\xXX``; with ``escape=json`` the line is a JSON text.

The operator may paste the format as bare text, as the quoted segments written in
nginx.conf, or as the whole directive (``log_format main escape=json '...' '...';``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from parsers.variables import KIND_PATTERNS, QUOTED_VALUE, LogFormatError, variable_kind

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
)
COMMON = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent'
# Formats FOOTFALL_LOG_FORMAT accepts by name (any case), as nginx log_format text:
# - combined: nginx's predefined format. Apache's LogFormat "combined" (%h %l %u %t "%r" %>s %b
#   "%{Referer}i" "%{User-agent}i") and GoAccess's COMBINED log the same fields the same way.
# - main: the log_format of nginx's default nginx.conf, combined plus "$http_x_forwarded_for".
# - common: Apache's (NCSA's) common log format, %h %l %u %t "%r" %>s %b; GoAccess's COMMON.
# - vcombined, vcommon: GoAccess's VCOMBINED and VCOMMON, combined and common after a leading
#   virtual host and port ("%v:%^ "), as Apache's vhost_combined writes them (%v:%p).
NAMED_FORMATS = {
    "combined": COMBINED,
    "main": COMBINED + ' "$http_x_forwarded_for"',
    "common": COMMON,
    "vcombined": "$server_name:$server_port " + COMBINED,
    "vcommon": "$server_name:$server_port " + COMMON,
}

_VAR_RE = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_SEGMENT_RE = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
_DIRECTIVE_RE = re.compile(r"^\s*log_format\s+\S+\s*(?:escape=(\w+)\s*)?(.*?);?\s*$", re.S)
# Escapes nginx undoes in a quoted config string (ngx_conf_read_token): \" \' \\ \t \r \n.
_CONF_ESCAPE_RE = re.compile(r"\\([\"'\\tnr])")
_CONF_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}
_JSON_FIELD_RE = re.compile(r'"([^"]+)"\s*:\s*("?)\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))("?)')

# Required: a time variable (to place an event on a day), $status (to tell page views from
# errors) and a client address (to count visitors).
TIME_VARIABLES = ("time_local", "time_iso8601", "msec")
ADDRESS_VARIABLES = ("remote_addr", "realip_remote_addr")


@dataclass(frozen=True)
class LogFormat:
    """A parsed ``log_format``.

    Attributes:
        text: the format text after unquoting (variables still as ``$name``).
        variables: the variable names in order of appearance (duplicates removed).
        regex: for text formats, an anchored regular expression (Rust ``regex`` syntax, as
            used by polars) with one capture group per entry of ``variables``; ``None`` for
            JSON formats.
        json_fields: for ``escape=json`` formats, pairs of (JSON key, variable name).
        literals: for text formats, the literal text around the variables: one more entry
            than ``variables`` (before the first, between each pair, after the last).
        patterns: for text formats, the regular expression of each variable's value (without
            a capture group), in the order of ``variables``: what ``regex`` captures.
    """

    text: str
    variables: tuple[str, ...]
    regex: str | None
    json_fields: tuple[tuple[str, str], ...] = ()
    literals: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()

    @property
    def is_json(self) -> bool:
        return self.regex is None


def _unquote_config(raw: str) -> tuple[str, str | None]:
    """Strip the nginx.conf wrapping: directive name, ``escape=``, quotes, ``;``."""
    escape = None
    text = raw.strip()
    directive = _DIRECTIVE_RE.match(text)
    if directive:
        escape, text = directive.group(1), directive.group(2).strip()
    segments = _SEGMENT_RE.findall(text)
    # Quoted segments, as in nginx.conf: unescape and concatenate their contents (nginx does the same).
    if segments and _SEGMENT_RE.sub("", text).strip() == "":
        text = "".join(
            _CONF_ESCAPE_RE.sub(lambda m: _CONF_ESCAPES.get(m.group(1), m.group(1)), a or b) for a, b in segments
        )
    return text, escape


def compile_log_format(raw: str) -> LogFormat:
    """Build a :class:`LogFormat` from an nginx ``log_format`` string.

    Args:
        raw: the format as written in nginx.conf, or the name of a format of
            :data:`NAMED_FORMATS` (``combined``, ``main``, ``common``, ``vcombined``,
            ``vcommon``; any case). A text starting with ``{`` (or a directive with
            ``escape=json``) is treated as a JSON template.

    Returns:
        The compiled format.

    Raises:
        LogFormatError: empty format, unknown or binary variable, no time variable
            (``$time_local``, ``$time_iso8601`` or ``$msec``), no ``$status``, no client
            address (``$remote_addr`` or ``$realip_remote_addr``), a variable used twice, or
            two variables with no literal text between them (the boundary is ambiguous).
    """
    if raw is None or not raw.strip():
        raise LogFormatError("FOOTFALL_LOG_FORMAT is empty; give the nginx log_format string")
    text, escape = _unquote_config(NAMED_FORMATS.get(raw.strip().lower(), raw))
    if escape == "json" or text.lstrip().startswith("{"):
        return _compile_json(text)
    if "$" not in text:
        # A word such as "nginx" or "mian": meant as a name, not as a format without variables.
        close = difflib.get_close_matches(raw.strip().lower(), NAMED_FORMATS, n=1)
        raise LogFormatError(
            f"FOOTFALL_LOG_FORMAT={raw.strip()!r} is neither a log_format (it has no $variable) nor a known format "
            f"name ({', '.join(NAMED_FORMATS)})" + (f"; did you mean {close[0]}?" if close else "")
        )
    return _compile_text(text)


def _check_variables(names: list[str]) -> tuple[str, ...]:
    for name in names:
        variable_kind(name)
    seen = set()
    for name in names:
        if name in seen:
            raise LogFormatError(f"${name} appears twice in the log_format; keep one")
        seen.add(name)
    if not any(t in seen for t in TIME_VARIABLES):
        raise LogFormatError("the log_format has no time variable; add $time_local, $time_iso8601 or $msec")
    if "status" not in seen:
        raise LogFormatError("the log_format has no $status; footfall needs it to tell page views from errors")
    if not seen & set(ADDRESS_VARIABLES):
        raise LogFormatError(
            "the log_format has no client address; add $remote_addr (or $realip_remote_addr) "
            "so that visitors can be counted"
        )
    return tuple(names)


def _compile_text(text: str) -> LogFormat:
    parts = _VAR_RE.split(text)
    # split() yields literal, brace-name, bare-name, literal, ...
    literals = parts[0::3]
    names = [a or b for a, b in zip(parts[1::3], parts[2::3], strict=True)]
    variables = _check_variables(names)
    pattern = ["^"]
    values = []
    for i, name in enumerate(names):
        before, after = literals[i], literals[i + 1]
        if i > 0 and before == "":
            raise LogFormatError(
                f"${names[i - 1]} and ${name} follow each other with nothing between them; "
                "footfall cannot tell where one ends"
            )
        pattern.append(re.escape(before))
        quoted = before.endswith('"') and after.startswith('"')
        if quoted:
            value = QUOTED_VALUE
        else:
            kind = variable_kind(name)
            if kind in KIND_PATTERNS:
                value = KIND_PATTERNS[kind]
            elif after:
                value = f"[^{re.escape(after[0])}]*"
            else:
                value = ".*"
        values.append(value)
        pattern.append(f"({value})")
    tail = literals[-1]
    if tail.endswith('"') and names:
        # A last quoted value cut off by the writer (Apache truncates long user agents and
        # drops the closing quote) is still a complete hit: accept a missing final quote.
        # (?:"\r?)?$ is the same language as (?:"|$)\r?$ but lets the regex engine match
        # without backtracking over the optional \r (3x faster capture extraction).
        pattern.append(re.escape(tail[:-1]) + r'(?:"\r?)?$')
    else:
        pattern.append(re.escape(tail))
        pattern.append(r"\r?$")
    return LogFormat(
        text=text, variables=variables, regex="".join(pattern), literals=tuple(literals), patterns=tuple(values)
    )


def _compile_json(text: str) -> LogFormat:
    fields = []
    for key, _q1, brace, bare, _q2 in _JSON_FIELD_RE.findall(text):
        fields.append((key, brace or bare))
    if not fields:
        raise LogFormatError(
            'the JSON log_format has no "key": "$variable" pairs; give the template as in '
            'nginx.conf, for example {"time": "$time_local", "remote_ip": "$remote_addr"}'
        )
    variables = _check_variables([v for _, v in fields])
    return LogFormat(text=text, variables=variables, regex=None, json_fields=tuple(fields))

"""How one environment variable's text becomes a setting's value, and the message when it cannot.

Each :class:`Kind` is a type of setting as an operator sees it (a whole number above 0, a
fraction, a time zone, ...): the text shown in the settings reference's "type" column and the
function that parses a variable's text. A parse function takes ``(raw, variable, default)``:
the variable's text (never empty: an empty variable is unset), its name for the message, and
the field's default (what a list of only blanks gives).

Every message names the variable and says what to give instead; operators and tests know them
by heart, so they are kept word for word when a setting moves.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse


class ConfigError(ValueError):
    """A setting has a value footfall cannot run with; the message says what to fix."""


@dataclass(frozen=True)
class Kind:
    """A type of setting: ``shown`` in the settings reference, ``parse`` for the variable's text."""

    shown: str
    parse: Callable[[str, str, Any], Any]


def _number(raw: str, name: str, convert, kind: str, valid, bound: str):
    """``raw`` converted with ``convert`` and checked with ``valid``.

    Raises:
        ConfigError: naming the variable and its value: it is not ``kind``, or it must be ``bound``.
    """
    try:
        value = convert(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not {kind}") from None
    if not valid(value):  # a NaN fails every comparison, so it is refused here too
        raise ConfigError(f"{name}={raw!r} must be {bound}")
    return value


def positive_int(raw: str, name: str, default: Any = None) -> int:
    """A whole number greater than 0."""
    return _number(raw, name, int, "a whole number", lambda v: v > 0, "greater than 0")


def _non_negative_int(raw: str, name: str, default: Any = None) -> int:
    return _number(raw, name, int, "a whole number", lambda v: v >= 0, "0 or more")


def _positive_float(raw: str, name: str, default: Any = None) -> float:
    return _number(raw, name, float, "a number", lambda v: v > 0, "greater than 0")


def _fraction(raw: str, name: str, default: Any = None) -> float:
    return _number(
        raw,
        name,
        float,
        "a number; give a fraction between 0 and 1, e.g. 0.05",
        lambda v: 0 <= v <= 1,
        "between 0 and 1 (a fraction, e.g. 0.05 for 5%)",
    )


def _bool(raw: str, name: str, default: Any = None) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _text(raw: str, name: str, default: Any = None) -> str:
    return raw


def _staging_url(raw: str, name: str, default: Any = None) -> str | None:
    from warehouse.staging import parse_staging_url  # it imports this package

    return parse_staging_url(raw)


def _path(raw: str, name: str, default: Any = None) -> Path:
    return Path(raw).expanduser().resolve()


def _list(convert: Callable[[str], str]) -> Callable[[str, str, Any], Any]:
    def parse(raw: str, name: str, default: Any = None):
        if not raw.strip():
            return default
        return tuple(convert(item.strip()) for item in raw.split(",") if item.strip())

    return parse


def _cidr(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise ConfigError(
            f"FOOTFALL_TRUSTED_PROXIES: {text!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)"
        ) from None


def _timezone(raw: str, name: str, default: Any = None) -> str:
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}={raw!r} is not an IANA time zone name (e.g. Europe/Paris)") from None
    return raw


def _regex(raw: str, name: str, default: Any = None) -> str:
    try:
        re.compile(raw)
    except re.error as exc:
        raise ConfigError(f"{name} is not a valid regular expression: {exc}") from None
    return raw


def _mmdb_file(raw: str, name: str, default: Any = None) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name}={raw!r}: no such file; give the path of a GeoLite2/GeoIP2 City .mmdb database")
    return path


def _dimensions_dir(raw: str, name: str, default: Any = None) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(
            f"{name}={raw!r}: no such directory; point it at the dimension files (docs/analysts/communities.md)"
        )
    return path


def _log_format(raw: str, name: str, default: Any = None):
    from parsers.log_format import compile_log_format

    return compile_log_format(raw)


def _log_variable(raw: str, name: str, default: Any = None) -> str | None:
    # Checked against the log format by the model (it needs FOOTFALL_LOG_FORMAT's variables).
    return raw.strip().lstrip("$") or None


def _routes(raw: str, name: str, default: Any = None):
    # Imported here: DAG files import settings, and must not import polars when parsed.
    from transforms.routes import Routes, RoutesConfigError

    try:
        return Routes.load(Path(raw).expanduser())
    except RoutesConfigError as exc:
        raise ConfigError(str(exc)) from None


def _ranged_int(low: int, high: int) -> Callable[[str, str, Any], Any]:
    def parse(raw: str, name: str, default: Any = None):
        if not raw.strip():
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={raw!r} must be from {low} to {high}")
        return value

    return parse


def _host(raw: str, name: str, default: Any = None) -> str:
    host = raw.strip()
    if not host:
        raise ConfigError(f"{name} is blank; give a host name or address, e.g. 127.0.0.1")
    return host


def _frame_ancestors(raw: str, name: str, default: Any = None) -> str:
    ancestors = " ".join(raw.split())
    if any(c in ancestors for c in ';,"') or not ancestors:
        raise ConfigError(
            f"{name}={ancestors!r} is not a CSP source list; "
            "give origins separated by spaces, e.g. 'self' http://localhost:8080"
        )
    return ancestors


KINDS: dict[str, Kind] = {
    "positive_int": Kind("whole number > 0", positive_int),
    "non_negative_int": Kind("whole number ≥ 0", _non_negative_int),
    "positive_float": Kind("number > 0", _positive_float),
    "fraction": Kind("fraction, 0 to 1", _fraction),
    "bool": Kind("`true` or `false`", _bool),
    "text": Kind("text", _text),
    "secret": Kind("secret text", _text),
    "url": Kind("http(s) URL", _text),
    "path": Kind("directory", _path),
    "staging_url": Kind("`s3://bucket/prefix` URL", _staging_url),
    "globs": Kind("globs, `:`-separated", _text),
    "labelled_globs": Kind("`site=glob` entries, `:`-separated", _text),
    "log_format": Kind("nginx `log_format`", _log_format),
    "log_variable": Kind("`log_format` variable", _log_variable),
    "hosts": Kind("host names, `,`-separated", _list(str.lower)),
    "cidrs": Kind("CIDRs, `,`-separated", _list(_cidr)),
    "names": Kind("names, `,`-separated", _list(str.lower)),
    "timezone": Kind("IANA time zone", _timezone),
    "regex": Kind("regular expression", _regex),
    "mmdb": Kind("`.mmdb` file", _mmdb_file),
    "toml_file": Kind("TOML file", _routes),
    "dimensions_dir": Kind("directory", _dimensions_dir),
    "host": Kind("host name or address", _host),
    "port": Kind("whole number, 1 to 65535", _ranged_int(1, 65535)),
    "cache_size": Kind("whole number, 0 to 10⁷", _ranged_int(0, 10**7)),
    "csp_sources": Kind("CSP source list", _frame_ancestors),
}


def check_header_secret(value: str | None, what: str) -> None:
    """A secret that goes into an HTTP header must be visible ASCII: anything else would make
    the HTTP library fail with an error that quotes the header, secret included."""
    if value is not None and not all("!" <= c <= "~" for c in value):
        raise ConfigError(
            f"{what} contains spaces, control or non-ASCII characters; "
            "use a token of visible ASCII characters (the value is not shown)"
        )


def check_url(value: str | None, name: str) -> None:
    """Raises ConfigError when ``value`` is not an absolute http(s) URL."""
    url = urlparse(value or "")
    if url.scheme not in {"http", "https"} or not url.netloc:
        raise ConfigError(
            f"{name}={value!r} is not an http(s) URL; set it to the reporting endpoint, "
            "for example https://reports.example.org/api/visits"
        )


def check_log_variable(value: str | None, name: str, fmt, default: str | None) -> str | None:
    """A log_format variable named by setting ``name``: it must be logged by ``fmt``.

    The default applies only when the format logs it (``combined`` logs ``$remote_user``).
    """
    if not value:
        return default if default in fmt.variables else None
    if value not in fmt.variables:
        raise ConfigError(
            f"{name}={value!r} is not a variable of FOOTFALL_LOG_FORMAT (it logs "
            + ", ".join("$" + v for v in fmt.variables)
            + "); add it to the log_format in nginx.conf and FOOTFALL_LOG_FORMAT, or unset it"
        )
    return value

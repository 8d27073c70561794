"""A text ``log_format`` compiled for the tokenizer (``parsers/_tokenizer.c``), when it can be.

The tokenizer walks a line once, greedily, along the format's literal text and variables: each
value ends where the format's regular expression (:func:`parsers.log_format.compile_log_format`)
would end it first. That is the regular expression's own match only when no value could also
end elsewhere and still let the rest of the line match, that is, when the literal after a
variable cannot be read as more of its value. :func:`compile_template` builds a template only
for such formats (all the common ones: ``combined``, nginx's ``main``, ``$time_iso8601``
formats, upstream timings before a named field); the others are parsed by the regular
expression (:mod:`parsers.text_regex`).
"""

from __future__ import annotations

from dataclasses import dataclass

from parsers.log_format import LogFormat
from parsers.values import escaped_variables
from parsers.variables import variable_kind

# Kinds and emits: the enums of parsers/_tokenizer.h.
K_UNTIL, K_REST, K_QUOTED = 0, 1, 2
KINDS = {"time_local": 3, "time_iso8601": 4, "status": 5, "int": 6, "float": 7, "upstream_list": 8}
E_NONE, E_INTERN, E_TIME, E_STATUS, E_INT = 0, 1, 2, 3, 4
T_PLAIN, T_OPTIONAL_QUOTE = 0, 1
MAX_VARS = 64
# Unicode's White_Space, what \s matches in the format's regular expression (not str.isspace,
# which also counts the separators U+001C..U+001F).
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)
}


@dataclass(frozen=True)
class Template:
    """A ``log_format`` compiled for the tokenizer.

    Attributes:
        spec: the tokenizer's template: ((literal, kind, emit, stop) per variable, tail, tail mode).
        roles: variable -> the parsed column it feeds (``ts``, ``status``, ``remote_addr``,
            ``x_forwarded_for``, ``request``, ``bytes_sent``, ``request_time``, ``referrer``,
            ``user_agent``, ``user_id``, ``session_id``, ``host``).
        escaped: the variables whose values are unescaped.
    """

    spec: tuple
    roles: dict[str, str]
    escaped: frozenset[str]


def _first(names: tuple[str, ...], present: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in present), None)


def _ends_one_way(kind: int, after: str) -> bool:
    """Whether a value of ``kind`` followed by the literal ``after`` has one place to end.

    A run of digits (``[0-9]+``) could stop short if ``after`` starts with a digit; a decimal
    also if it starts with ``.``; an upstream list (``[^\\s,]+(?:(?:, | : )[^\\s,]+)*``) if
    ``after`` could be more of an item (it starts with neither whitespace nor a comma) or start
    where the next item's separator does (a comma, or a space then a colon).
    """
    head = after[:1]
    if kind == KINDS["int"]:
        return not head.isdigit()
    if kind == KINDS["float"]:
        return not head.isdigit() and head != "."
    if kind == KINDS["upstream_list"] and after:
        return head in WHITE_SPACE and not (head == " " and after[1:2] in ("", ":"))
    return True


def compile_template(fmt: LogFormat, user_field: str | None, session_field: str | None) -> Template | None:
    """The tokenizer template of ``fmt``, or None when its regular expression parses it.

    Args:
        fmt: a compiled ``log_format``.
        user_field, session_field: as :func:`parsers.access_log.parse_lines`.

    Returns:
        A :class:`Template`, or None for JSON formats, formats without ``$request``, with a
        ``$msec`` time or ``$msec`` anywhere unquoted, a quoted time or status, a variable
        with two roles, a literal that starts with a non-ASCII character after a value that
        runs up to it, or a value that could end in two places (:func:`_ends_one_way`).
    """
    if fmt.is_json or "request" not in fmt.variables or len(fmt.variables) > MAX_VARS:
        return None
    names, literals = fmt.variables, fmt.literals
    time_var = _first(("time_local", "time_iso8601"), names)
    if time_var is None:
        return None
    roles: dict[str, str] = {}
    wanted = {
        "ts": time_var,
        "status": "status",
        "remote_addr": _first(("remote_addr", "realip_remote_addr"), names),
        "x_forwarded_for": "http_x_forwarded_for",
        "request": "request",
        "bytes_sent": _first(("body_bytes_sent", "bytes_sent"), names),
        "request_time": "request_time",
        "referrer": "http_referer",
        "user_agent": "http_user_agent",
        "user_id": user_field,
        "session_id": session_field,
        "host": _first(("host", "http_host", "server_name"), names),
    }
    for role, var in wanted.items():
        if var is None or var not in names:
            continue
        if var in roles:
            return None
        roles[var] = role
    vars_ = []
    for i, name in enumerate(names):
        before, after = literals[i], literals[i + 1]
        quoted = before.endswith('"') and after.startswith('"')
        kind_name = variable_kind(name)
        if quoted:
            kind = K_QUOTED
        elif kind_name in KINDS:
            kind = KINDS[kind_name]
            if not _ends_one_way(kind, after):
                return None
        elif kind_name == "msec":
            return None
        elif after:
            if not after[0].isascii():
                return None
            kind = K_UNTIL
        else:
            kind = K_REST
        role = roles.get(name)
        if role == "ts":
            if quoted:
                return None
            emit = E_TIME
        elif role == "status":
            if quoted:
                return None
            emit = E_STATUS
        elif role == "bytes_sent" and kind == KINDS["int"]:
            emit = E_INT
        elif role is not None:
            emit = E_INTERN
        else:
            emit = E_NONE
        stop = ord(after[0]) if kind == K_UNTIL else -1
        vars_.append((before.encode(), kind, emit, stop))
    tail = literals[-1]
    mode = T_OPTIONAL_QUOTE if tail.endswith('"') else T_PLAIN
    return Template(
        spec=(tuple(vars_), tail.encode(), mode),
        roles=roles,
        escaped=frozenset(escaped_variables(user_field, session_field)),
    )

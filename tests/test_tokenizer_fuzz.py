"""The fuzz tier: the compiled tokenizer (parsers/_tokenizer.c) on hostile input.

``make test-fuzz`` runs these tests with the tokenizer built with AddressSanitizer and
UndefinedBehaviorSanitizer (``build/sanitize/``, loaded by tests/conftest.py), long;
``make test`` runs them the same way, briefly; a plain ``pytest`` runs them with the normal
build. Under the sanitizers a read out of bounds, a use after free, an unaligned load or a NULL
handed to ``memcpy`` stops the process with a report, whatever the assertions say.

- the tokenizer's arguments: keys at any alignment, empty values, a template another thread
  changes while the tokenizer runs without the GIL, malformed templates;
- ``factorize`` against a plain-Python dictionary;
- ``tokenize`` on random templates and random bytes: every line is an event or has a reason,
  and every span it reports lies inside its line;
- the text parser against the oracle (tests/oracle_parser.py) on real lines from the excerpts
  in tests/fixtures, mutated (bytes flipped, inserted, deleted; quotes, backslashes, ``\\xNN``
  escapes, control and non-UTF-8 bytes, Unicode spaces, times at the edges of their ranges;
  truncation; fields taking the line to the 64 KiB limit; records run together) for nginx
  ``combined``, ``main`` (with ``$http_x_forwarded_for``) and a ``$time_iso8601`` format: every
  line must end in the same place in both, an event with equal values or quarantine with the
  same reason.

Examples per property: ``FOOTFALL_TEST_FUZZ_EXAMPLES`` (default 60, the same ones every run;
``make test-fuzz`` sets thousands, new ones every run).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import functools
import os
import re
import threading

import numpy as np
import oracle_parser
import pytest
from conftest import fixture_log
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parser_check import assert_matches_oracle

from parsers import _tokenizer

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("FOOTFALL_TEST_FUZZ_EXAMPLES", "60"))
# The brief run (make test, a plain pytest) is the same every time; the long one explores.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=EXAMPLES <= 200,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# The tokenizer's enums (parsers/_tokenizer.c).
K_UNTIL, K_REST, K_QUOTED, K_TIME_LOCAL, K_TIME_ISO, K_STATUS, K_INT, K_FLOAT, K_UPSTREAM = range(9)
E_NONE, E_INTERN, E_TIME, E_STATUS, E_INT = range(5)
T_PLAIN, T_OPTIONAL_QUOTE = 0, 1

# nginx combined: $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
# "$http_referer" "$http_user_agent", every text value interned.
COMBINED_SPEC = (
    (
        (b"", K_UNTIL, E_INTERN, ord(" ")),
        (b" - ", K_UNTIL, E_INTERN, ord(" ")),
        (b" [", K_TIME_LOCAL, E_TIME, -1),
        (b'] "', K_QUOTED, E_INTERN, -1),
        (b'" ', K_STATUS, E_STATUS, -1),
        (b" ", K_INT, E_INT, -1),
        (b' "', K_QUOTED, E_INTERN, -1),
        (b'" "', K_QUOTED, E_INTERN, -1),
    ),
    b'"',
    T_OPTIONAL_QUOTE,
)
LINE = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 2326 "http://x/" "Mozilla/5.0"'


def test_the_sanitizer_build_is_the_one_loaded():
    """When the fuzz tier asks for the sanitizer build, the tests really run it."""
    wanted = os.environ.get("FOOTFALL_TEST_TOKENIZER")
    if not wanted:
        pytest.skip("the normal build (make test-fuzz loads the sanitizer build)")
    assert _tokenizer.__file__ == wanted
    assert hasattr(ctypes.CDLL(None), "__asan_init"), "AddressSanitizer's runtime is not preloaded"


def interned(output: tuple) -> list[bytes]:
    """An E_INTERN output as one value per event."""
    codes, offsets, data = output
    bounds = np.frombuffer(offsets, dtype=np.int64)
    values = [data[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]
    return [values[c] for c in np.frombuffer(codes, dtype=np.uint32)]


def test_empty_values_are_interned_as_values():
    # The first values of the chunk are empty: the dictionary's data is still unallocated when
    # they are added and compared.
    line = LINE.replace(b'"http://x/" "Mozilla/5.0"', b'"" ""').replace(b'"GET /a HTTP/1.1"', b'""')
    lines, accepted, rejected, outputs = _tokenizer.tokenize(line + b"\n" + line + b"\n" + LINE, COMBINED_SPEC, 65536)
    assert (lines, len(accepted) // 4, rejected) == (3, 3, b"")
    assert interned(outputs[7]) == [b"", b"", b"Mozilla/5.0"]
    assert interned(outputs[3]) == [b"", b"", b"GET /a HTTP/1.1"]


def test_a_template_changed_by_another_thread_meanwhile_is_read_as_it_was():
    # The template's variables in a list that another thread keeps replacing (dropping the old
    # literals) while the tokenizer runs without the GIL.
    def fresh() -> list[tuple]:
        return [(bytes(bytearray(lit)), kind, emit, stop) for lit, kind, emit, stop in COMBINED_SPEC[0]]

    data = (LINE + b"\n") * 200_000
    want = _tokenizer.tokenize(data, COMBINED_SPEC, 65536)
    variables = fresh()
    done = threading.Event()

    def churn() -> None:
        while not done.is_set():
            variables[:] = fresh()

    thread = threading.Thread(target=churn)
    thread.start()
    try:
        got = _tokenizer.tokenize(data, (variables, COMBINED_SPEC[1], COMBINED_SPEC[2]), 65536)
    finally:
        done.set()
        thread.join()
    assert got == want


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ([COMBINED_SPEC[0], b'"', T_OPTIONAL_QUOTE], TypeError),  # a list, not a tuple
        ((tuple(list(v) for v in COMBINED_SPEC[0]), b'"', T_OPTIONAL_QUOTE), TypeError),
        ((COMBINED_SPEC[0], b"", T_OPTIONAL_QUOTE), ValueError),  # no closing quote to make optional
        ((((b"", 99, E_NONE, -1),), b"", T_PLAIN), ValueError),  # no such kind
        ((((b"", K_UNTIL, E_NONE, 256),), b"", T_PLAIN), ValueError),  # no such byte
        ((((b"", K_QUOTED, E_TIME, -1),), b"", T_PLAIN), ValueError),  # a time from a quoted value
        ((((b"", K_REST, E_NONE, -1),) * 65, b"", T_PLAIN), ValueError),  # over 64 variables
    ],
)
def test_a_malformed_template_is_refused(template, error):
    with pytest.raises(error):
        _tokenizer.tokenize(LINE, template, 65536)


def first_appearance(keys: list[int]) -> tuple[list[int], list[int]]:
    """factorize's contract, with a dict: codes in order of first appearance."""
    seen: dict[int, int] = {}
    codes = [seen.setdefault(k, len(seen)) for k in keys]
    return codes, list(seen)


@FUZZ
@given(
    keys=st.lists(st.integers(0, 2**64 - 1) | st.sampled_from([0, 1, 2**64 - 1, 2**63]), max_size=300),
    offset=st.integers(0, 7),
)
def test_factorize_gives_each_distinct_key_one_code_at_any_alignment(keys, offset):
    raw = np.array(keys, dtype=np.uint64).tobytes()
    # A view that starts ``offset`` bytes into a buffer: the keys are not 8-byte aligned.
    view = memoryview(b"\0" * offset + raw)[offset:]
    codes, uniques = _tokenizer.factorize(view)
    want_codes, want_uniques = first_appearance(keys)
    assert np.frombuffer(codes, dtype=np.uint32).tolist() == want_codes
    assert np.frombuffer(uniques, dtype=np.uint64).tolist() == want_uniques


def test_factorize_refuses_a_partial_key():
    with pytest.raises(ValueError, match="whole uint64"):
        _tokenizer.factorize(b"\0" * 7)


_literal = st.binary(max_size=4) | st.sampled_from([b"", b" ", b'"', b'" "', b" [", b"] ", b", ", b" : "])


@st.composite
def templates(draw) -> tuple:
    """Any template the tokenizer accepts: random literals, kinds and emits."""
    variables = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(K_UNTIL, K_UPSTREAM))
        emit = {K_TIME_LOCAL: E_TIME, K_TIME_ISO: E_TIME, K_STATUS: E_STATUS, K_INT: E_INT}.get(kind, E_INTERN)
        emit = draw(st.sampled_from([E_NONE, E_INTERN, emit]))
        variables.append((draw(_literal), kind, emit, draw(st.integers(0, 255)) if kind == K_UNTIL else -1))
    mode = draw(st.sampled_from([T_PLAIN, T_OPTIONAL_QUOTE]))
    tail = draw(_literal) + (b'"' if mode == T_OPTIONAL_QUOTE else b"")
    return tuple(variables), tail, mode


_pieces = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\n", b"\r\n", b"\r", b'"', b"\\", b'\\"', b"\\x22", b" ", b", ", b" : ", b"-", b"\xc2\xa0"]),
    st.sampled_from([b"10/Oct/2000:13:55:60 -0700", b"2000-02-29T23:59:60+23:59", b"200", b"99999999999999999999"]),
    st.just(LINE),
)


@FUZZ
@given(template=templates(), data=st.lists(_pieces, max_size=30).map(b"".join), max_line=st.integers(0, 200))
def test_tokenize_accounts_for_every_line_inside_its_bounds(template, data, max_line):
    lines, accepted, rejected, outputs = _tokenizer.tokenize(data, template, max_line, 2**40)
    assert lines == data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    events = np.frombuffer(accepted, dtype=np.uint32).tolist()
    others = np.frombuffer(rejected, dtype=np.int64).reshape(-1, 4)
    assert sorted(events + others[:, 0].tolist()) == list(range(lines))
    starts = [0] + [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    for index, start, end, reason in others.tolist():
        assert start == starts[index] and start <= end <= len(data) and 1 <= reason <= 5
        assert b"\n" not in data[start:end]
    for (_, _, emit, _), output in zip(template[0], outputs, strict=True):
        if emit == E_INTERN:
            assert len(interned(output)) == len(events)
        elif emit in (E_TIME, E_INT):
            assert len(output[0]) == 8 * len(events)


# -- the text parser against the oracle, on mutated real lines -----------------------------------

COMBINED_TEXT = oracle_parser.COMBINED
MAIN = COMBINED_TEXT + ' "$http_x_forwarded_for"'  # nginx's main, as its default nginx.conf writes it
ISO = COMBINED_TEXT.replace("[$time_local]", "[$time_iso8601]")
FORMATS = {"combined": COMBINED_TEXT, "main": MAIN, "iso": ISO}
# Lines read as late as the logs go: some of them, and some mutated times, are in the future.
LIMITS = [None, dt.datetime(2015, 5, 19, 12, tzinfo=dt.UTC), dt.datetime(2016, 3, 13, 8, tzinfo=dt.UTC)]


@functools.cache
def real_lines() -> tuple[bytes, ...]:
    """The combined lines of the excerpts in tests/fixtures (IPv6 clients, \\xNN escapes, a
    user agent cut off, \\" escaped quotes, a daylight-saving change), without line ends."""
    names = ("apache_logs_excerpt.log", "nginx_logs_excerpt.log", "wordpress_excerpt.log")
    return tuple(line for n in names for line in fixture_log(n).read_bytes().splitlines())


def as_format(line: bytes, fmt: str, forwarded: bytes) -> bytes:
    """A real combined line as the format logs it: main adds an X-Forwarded-For header, iso
    writes the time as $time_iso8601."""
    if fmt == "main":
        return line + b' "' + forwarded + b'"'
    if fmt == "iso":
        m = re.search(rb"\[([^\]]+)\]", line)
        if m:
            moment = dt.datetime.strptime(m[1].decode(), "%d/%b/%Y:%H:%M:%S %z")
            iso = moment.isoformat().replace("+00:00", "Z" if len(line) % 2 else "+00:00")
            return line[: m.start(1)] + iso.encode() + line[m.end(1) :]
    return line


# What a mutation inserts: the format's own delimiters, both escaping styles, control bytes,
# bytes that are not UTF-8, Unicode whitespace, times and numbers at the edges of their ranges.
_TOKENS = [
    b'"', b"\\", b'\\"', b"\\\\", b"\\x22", b"\\x5C", b"\\xZZ", b"\\x", b"\\xe9", b"\\x00", b"\\x0a",
    b"\r", b"\r\r", b"\x00", b"\x1b[1m", b"\x7f", b"\t", b" ", b"-", b"[", b"]", b":", b"/", b"?", b"=", b", ", b" : ",
    b"\xff", b"\xc3", b"\xe2\x82", b"\xc3\xa9", b"\xc2\xa0", b"\xe2\x80\xa8", b"\xe3\x80\x80", b"\xc2\x85",
    b"HTTP/1.1", b"GET ", b"GET  /", b"-0500", b"+2400", b"+2359", b"31/Feb/2015", b"29/Feb/2016", b"29/Feb/2015",
    b"00/Jan/0000", b"23:59:60", b"24:00:00", b"12:60:00", b"oct", b"OCT", b"Foo", b"999", b"000", b"2OO",
    b"9223372036854775807", b"9223372036854775808", b"0000000000000000000001", b"T", b"Z", b"+05:30", b"\n",
]  # fmt: skip


@st.composite
def mutated_chunks(draw) -> tuple[str, bytes, dt.datetime | None]:
    """A format, a chunk of its real lines mutated, and the latest time a line may have."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    lines = real_lines()
    out = []
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 2))
        forwarded = draw(st.sampled_from([b"-", b"203.0.113.9", b"203.0.113.9, 10.0.0.1", lines[i + 1][:15]]))
        line = as_format(lines[i], fmt, forwarded)
        for _ in range(draw(st.integers(0, 3))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "huge", "fuse", "keep"]))
            at = draw(st.integers(0, len(line)))
            if op == "flip" and at < len(line):
                line = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1 :]
            elif op == "insert":
                line = line[:at] + draw(st.sampled_from(_TOKENS) | st.binary(max_size=6)) + line[at:]
            elif op == "delete":
                line = line[:at] + line[at + draw(st.integers(1, 12)) :]
            elif op == "truncate":
                line = line[:at]
            elif op == "huge":  # a field that takes the line to around the 64 KiB limit
                size = 65_536 - len(line) + draw(st.integers(-3, 3))
                line = line[:at] + draw(st.sampled_from([b"A", b"\\x41", b" "])) * max(size, 0) + line[at:]
            elif op == "fuse":  # the line end lost: the next record follows on the same line
                line = line + as_format(lines[i + 1], fmt, forwarded)
        out.append(line)
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = end.join(out) + draw(st.sampled_from([end, b""]))
    return fmt, data, draw(st.sampled_from(LIMITS))


@FUZZ
@given(case=mutated_chunks())
def test_every_mutated_real_line_ends_where_the_oracle_puts_it(case):
    fmt, data, not_after = case
    assert_matches_oracle(data, FORMATS[fmt], not_after=not_after)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_unmutated_excerpts_end_where_the_oracle_puts_them(fmt):
    lines = real_lines()
    data = b"\n".join(as_format(line, fmt, lines[i - 1][:15]) for i, line in enumerate(lines)) + b"\n"
    chunk = assert_matches_oracle(data, FORMATS[fmt])
    # All events, but in main the user agent cut off (apache_logs line 8,899) now runs into the
    # X-Forwarded-For field: that line does not match.
    assert chunk.quarantine.height == (fmt == "main")

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
  and every span it reports lies inside its line.

Examples per test: ``FOOTFALL_TEST_FUZZ_EXAMPLES`` (default 60; ``make test-fuzz`` sets thousands).
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

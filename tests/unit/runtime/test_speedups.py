"""The C loops (`_speedups.c`) give byte for byte what the Python loops give.

The Python loops are the reference; each test runs one workload twice, once with
`speedups.native` set to the C module and once with it set to None, on random
records that mix the common case with everything the C code must hand back
(formatting errors, long lines, engine records, exceptions, non-ASCII and lone
surrogates, limits, drops, redaction, odd timestamps).
"""

from __future__ import annotations

import functools
import importlib
import logging
import random
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from kuberun.contract import logfields
from kuberun.runtime import redacting, speedups
from kuberun.runtime.echoing import Echo
from kuberun.runtime.records import Entry
from kuberun.runtime.sequencing import Counts, Sequencer
from kuberun.runtime.transports import XaddPacker

# Built by `pip install -e .` (setup.py); the test suite requires it, so a build that
# silently lost the extension fails here instead of running the slow loops unnoticed.
NATIVE = cast(speedups.Native, importlib.import_module("kuberun.runtime._speedups"))

TEXTS = [
    "plain",
    "",
    "with % percent",
    "naïve café",
    "emoji 🚀 line",
    "tab\tand\r\nnewline",
    "x" * 300,
    "\ud800 lone surrogate",
    "日本語のログ",
]


def both(monkeypatch: pytest.MonkeyPatch, run: Callable[[], Any]) -> tuple[Any, Any]:
    """`run()` with the C loops, then with the Python loops."""
    monkeypatch.setattr(speedups, "native", NATIVE)
    fast = run()
    monkeypatch.setattr(speedups, "native", None)
    return fast, run()


def random_entry(rng: random.Random, sequence: int, attempt: int = 1) -> Entry:
    timestamp = (
        rng.choice([1_700_000_000.123456, 1_764_633_600.0, 999_999_999.5, 12.25, 1e10 + 0.5])
        + rng.random()
    )
    return Entry(
        sequence,
        timestamp,
        rng.choice(["INFO", "WARNING", "ERROR", "DEBUG", "CRITICAL", "NIVEAU5", "Lvl%"]),
        rng.choice(["app", "", "a.b.c", "kuberun", "ünï"]),
        rng.choice(["log", "stdout", "stderr", "engine"]),
        rng.choice(TEXTS),
        attempt,
        rng.choice([None, None, None, "Traceback\n  line\nValueError: x\n\n", "", "exc 🚀"]),
    )


def batches(seed: int) -> Iterator[list[Entry]]:
    rng = random.Random(seed)
    for _ in range(60):
        start = rng.choice([1, 7, 95, 9_990, 999_999_998])
        attempt = rng.choice([1, 2, 12])
        entries = [random_entry(rng, start + i, attempt) for i in range(rng.randint(1, 40))]
        if rng.random() < 0.2:  # not one attempt's gapless slice
            rng.shuffle(entries)
        yield entries


def pack(key: str, entries: list[Entry]) -> tuple[bytes, bytes]:
    return XaddPacker(key).batch(entries)


@pytest.mark.parametrize("seed", range(5))
def test_pack_gives_the_python_packers_bytes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for entries in batches(seed):
        for key in ("kuberun:{ns:abc}:logs", "kuberun:{ñs}:logs"):
            fast, python = both(monkeypatch, functools.partial(pack, key, entries))
            assert fast == python


def test_pack_spells_every_timestamp_as_python_does(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    stamps = [0.0, 0.5, 1.0, 1.0078125, 2.0078125, 1e15 + 0.25, 2.0**52 - 0.5, 2.0**53, 1e300]
    stamps += [n + k / 128 for n in (1, 3, 1_700_000_000) for k in range(128)]  # ties
    stamps += [rng.uniform(0, 2e10) for _ in range(3000)]
    stamps += [rng.uniform(0, 10) for _ in range(1000)]
    entries = [Entry(1, ts, "INFO", "a", "log", "m", 1) for ts in stamps]
    for entry in entries:
        fast, python = both(monkeypatch, functools.partial(pack, "k", [entry]))
        assert fast == python, entry.timestamp
    assert NATIVE.pack(b"k", [entries[0]._replace(timestamp=float("nan"))]) is None


def test_pack_hands_a_lone_surrogate_back_to_python() -> None:
    entry = Entry(1, 1_700_000_000.0, "INFO", "app", "log", "\udcff", 1)
    assert NATIVE.pack(b"k", [entry]) is None
    assert NATIVE.pack(b"k", [entry._replace(message="ok")]) is not None


def echoed(entries_batches: list[list[Entry]]) -> bytes:
    with tempfile.TemporaryFile() as file:
        echo = Echo(file.fileno())
        for entries in entries_batches:
            echo(entries)
        echo.flush()
        file.seek(0)
        return file.read()


@pytest.mark.parametrize("seed", range(5))
def test_echo_gives_the_python_echos_lines(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    all_batches = list(batches(seed))
    fast, python = both(monkeypatch, lambda: echoed(all_batches))
    assert fast == python
    assert fast.count(b"\n") >= sum(len(b) for b in all_batches)


def test_echo_state_carries_the_second_across_batches() -> None:
    first = Entry(1, 1_700_000_000.5, "INFO", "app", "log", "a", 1)
    data, second, prefix = NATIVE.echo([first], -1, "") or (b"", 0, "")
    assert second == 1_700_000_000 and data == f"{prefix}.500 INFO    app: a\n".encode()
    again = NATIVE.echo([first._replace(timestamp=1_700_000_000.25)], second, "PREFIX")
    assert again is not None and again[0].startswith(b"PREFIX.250 ")


class Odd:
    def __str__(self) -> str:
        return "odd"


def appended(seq: Sequencer, rng: random.Random, count: int) -> None:
    """A mix of what producers append: mostly plain `logging` records and lines."""
    for i in range(count):
        kind = rng.random()
        if kind < 0.55:
            msg, args = rng.choice(
                [
                    ("line %d %r", (i, 1.5)),
                    ("plain", ()),
                    ("%s and %s", ("a", b"b")),
                    ("bad %d", ("not a number",)),  # formatting fails: the line says why
                    ("missing %s %s", (1,)),
                    ("%s", ("x" * 5000,)),  # long: cut by the Python path
                    ("%s", ("ünï 🚀",)),
                    ("%s", (Odd(),)),  # formatted on the caller's thread
                    ("%(k)s", ({"k": 1},)),
                ]
            )
            record = logging.LogRecord("app", logging.INFO, "/x.py", 1, msg, args, None)
            record.created = 1_700_000_000.0 + i / 7
            seq.log(record)
        elif kind < 0.85:
            seq.emit(
                rng.choice(["INFO", "ERROR"]),
                rng.choice(["", "app"]),
                rng.choice(["stdout", "stderr", "fd"]),
                rng.choice(TEXTS),
                exception=rng.choice([None, None, "Traceback: x"]),
                timestamp=1_700_000_000.0 + i,
            )
        elif kind < 0.9:
            seq.engine("INFO", f"engine note {i}")
        else:
            seq.emit("INFO", "app", "stdout", "x" * rng.choice([10, 70_000]))


def run_sequencer(seed: int, **limits: Any) -> tuple[list[Entry], list[Entry], Counts]:
    rng = random.Random(seed)
    echoes: list[Entry] = []
    seq = Sequencer(
        attempt=3,
        max_lines=limits.get("max_lines", 10_000),
        max_bytes=limits.get("max_bytes", 10_000_000),
        capacity=100_000,
        pressure=100_000,
        backpressure_seconds=0.0,
        echo=echoes.extend,
        clock=lambda: 1_700_000_000.0,
        redact=limits.get("redact"),
    )
    kept: list[Entry] = []
    for round_ in range(6):
        appended(seq, rng, rng.randint(1, 300))
        if round_ == 3 and limits.get("drop"):
            kept += seq.take(50, keep=False)  # as while the store fails: counted, echoed
        while True:
            taken = seq.take(rng.choice([1, 7, 64, 1000]))
            if not taken:
                break
            kept += taken
    seq.finish("INFO", "done: {user_lines} line(s), {dropped} dropped")
    kept += seq.take(10)
    return kept, echoes, seq.snapshot()


@pytest.mark.parametrize(
    "limits",
    [
        {},
        {"max_lines": 150},
        {"max_bytes": 20_000},
        {"drop": True},
        {"redact": redacting.Redactor(["secret", "line"]).text},
    ],
    ids=["open", "lines", "bytes", "drops", "redacted"],
)
@pytest.mark.parametrize("seed", range(4))
def test_take_gives_the_python_sequencers_entries_and_counts(
    seed: int, limits: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, python = both(monkeypatch, lambda: run_sequencer(seed, **limits))
    assert fast == python
    kept, _, counts = fast
    assert [e.sequence for e in kept] == list(range(1, len(kept) + 1))
    assert counts.sequenced == len(kept)


class Counting:
    """The C module, counting the entries its `take` sequenced."""

    def __init__(self) -> None:
        self.taken = 0
        self.pack, self.echo = NATIVE.pack, NATIVE.echo

    def take(self, *args: Any) -> tuple[list[Entry], int, int, int]:
        got = NATIVE.take(*args)
        self.taken += len(got[0])
        return got


def test_take_in_c_sequences_most_records(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting()
    monkeypatch.setattr(speedups, "native", counting)
    kept, _, _ = run_sequencer(0)
    assert counting.taken > len(kept) / 2, (counting.taken, len(kept))


def test_take_leaves_what_it_cannot_decide_at_the_head() -> None:
    seq = Sequencer(attempt=1, max_lines=100, max_bytes=10_000, backpressure_seconds=0.0)
    seq.emit("INFO", "app", "stdout", "one")
    seq.engine("INFO", "an engine record")
    seq.emit("INFO", "app", "stdout", "two")
    got, sequenced, lines, nbytes = NATIVE.take(
        seq._raw, 3, 1, 0, 0, 0, 100, 10_000, logfields.MAX_MESSAGE_BYTES // 4, Entry, "log"
    )
    assert [e.message for e in got] == ["one"] and (sequenced, lines, nbytes) == (1, 1, 3)
    assert len(seq._raw) == 2 and seq._raw[0][3] == "an engine record"
    assert type(got[0]) is Entry and got[0].stream_id() == "1-1"


def test_the_module_is_the_c_one_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert speedups.load() is not None
    monkeypatch.setenv(speedups.ENV, "0")
    assert speedups.load() is None

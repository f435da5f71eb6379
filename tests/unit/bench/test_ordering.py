"""The benchmark's order checker: if it were wrong, "0 gaps" would mean nothing."""

from __future__ import annotations

import math

import pytest

from bench import logs, ordering


@pytest.mark.parametrize(
    ("values", "expected", "missing", "duplicates", "out_of_order"),
    [
        ([0, 1, 2, 3], 4, 0, 0, 0),
        ([0, 1, 3], 4, 1, 0, 0),
        ([0, 1, 2], 4, 1, 0, 0),
        ([0, 1, 1, 2, 3], 4, 0, 1, 0),
        ([0, 2, 1, 3], 4, 0, 0, 1),
        ([3, 2, 1, 0], 4, 0, 0, 3),
        ([], 2, 2, 0, 0),
    ],
    ids=["ok", "gap", "tail-lost", "dup", "swap", "reversed", "empty"],
)
def test_check_order(
    values: list[int], expected: int, missing: int, duplicates: int, out_of_order: int
) -> None:
    check = ordering.check_order(values, first=0, expected=expected)
    assert (check.missing, check.duplicates, check.out_of_order) == (
        missing,
        duplicates,
        out_of_order,
    )
    assert check.ok == (missing == duplicates == out_of_order == 0)


def test_open_ended_runs_up_to_the_largest() -> None:
    assert ordering.check_order([1, 2, 4], first=1).missing == 1


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert ordering.percentile(values, 0.5) == 50.0
    assert ordering.percentile(values, 0.99) == 99.0
    assert math.isnan(ordering.percentile([], 0.5))


def test_analyse_reads_ids_sequences_and_latency() -> None:
    def entry(
        entry_id: str, seq: int, index: int, emitted: float, read: float
    ) -> tuple[bytes, dict[bytes, bytes], float]:
        fields = {
            b"seq": str(seq).encode(),
            b"attempt": b"1",
            b"logger": b"bench",
            b"msg": f"line {index} {emitted!r}".encode(),
        }
        return (entry_id.encode(), fields, read)

    report = logs.analyse(
        [entry("1-1", 1, 0, 10.0, 10.5), entry("1-3", 2, 1, 11.0, 11.1)],
        lines=2,
        explicit_ids=True,
    )
    assert report.bad_ids == 1  # 1-3 carries sequence 2
    assert report.line_order.ok and report.lines == 2
    assert report.first_emit == 10.0 and report.last_read == 11.1
    assert report.p99_ms == pytest.approx(500.0)


def test_section_replaced_in_place() -> None:
    document = "# Benchmarks\n\nintro\n"
    once = logs.with_section(document, "logs", "first")
    assert once.startswith(document.rstrip("\n"))
    twice = logs.with_section(once + "\nafter\n", "logs", "second")
    assert "first" not in twice and "second" in twice and twice.endswith("after\n")
    assert twice.count("<!-- bench:logs begin -->") == 1


def test_readable_at_first_sample_past_each_entry() -> None:
    entries = [(f"1-{n}".encode(), {b"seq": str(n).encode()}) for n in (1, 2, 3, 4)]
    samples = [(10.0, (1, 1)), (11.0, (1, 3)), (12.0, (1, 3)), (13.0, (1, 4))]
    times = [read for _, _, read in logs.readable_at(entries, samples)]
    assert times == [10.0, 11.0, 11.0, 13.0]
    unreached = logs.readable_at(entries, samples[:1])
    assert math.isnan(unreached[-1][2])

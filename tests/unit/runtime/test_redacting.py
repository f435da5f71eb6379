"""Secret values hidden in text and JSON, whatever they are called."""

from __future__ import annotations

import logging

from kuberun.runtime import redacting, sequencing
from kuberun.runtime.records import Entry


def test_text_and_json() -> None:
    redactor = redacting.Redactor(["s3cr3t", "s3cr3t-longer", "ab", "from-file\n"])
    assert redactor.text("key=s3cr3t-longer and s3cr3t") == "key=*** and ***"
    assert redactor.text("ab stays: too short to hide") == "ab stays: too short to hide"
    assert redactor.text("from-file without newline") == "*** without newline"
    assert redactor.json({"s3cr3t": ["x s3cr3t", 1, None], "n": 2}) == {
        "***": ["x ***", 1, None],
        "n": 2,
    }
    assert redactor and not redacting.Redactor(["ab"])


def test_nothing_to_hide_changes_nothing() -> None:
    redactor = redacting.Redactor()
    value = {"a": "b"}
    assert redactor.json(value) is value and redactor.text("t") == "t"


def test_the_sequencer_redacts_every_record() -> None:
    """Logged, printed, engine, dropped and late records: every text is redacted,
    in what is kept and in what is echoed."""
    echoed: list[tuple[str, str | None]] = []
    sequencer = sequencing.Sequencer(
        attempt=1,
        max_lines=10,
        max_bytes=10_000,
        capacity=2,
        backpressure_seconds=0.0,
        echo=lambda entries: echoed.extend((e.message, e.exception) for e in entries),
        redact=redacting.Redactor(["hunter22"]).text,
    )
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "pw %s", ("hunter22",), None)
    sequencer.log(record)  # formatted later, on the sender's side
    sequencer.emit("INFO", "app", "log", "password is hunter22", "Traceback: hunter22")
    kept: list[Entry] = sequencer.take(10)
    sequencer.engine("ERROR", "KeyError: hunter22", "tb hunter22")
    kept += sequencer.take(10)
    sequencer.set_healthy(False)
    sequencer.emit("INFO", "", "stdout", "a")
    sequencer.emit("INFO", "", "stdout", "b")
    assert not sequencer.emit("INFO", "", "stdout", "dropped hunter22")  # full: echoed only
    kept += sequencer.take(10)
    sequencer.finish("INFO", "done hunter22")
    kept += sequencer.take(10)
    assert not sequencer.emit("INFO", "", "stdout", "late hunter22")
    assert [(e.message, e.exception) for e in kept][:3] == [
        ("pw ***", None),
        ("password is ***", "Traceback: ***"),
        ("KeyError: ***", "tb ***"),
    ]
    assert kept[-1].message == "done ***"
    assert ("dropped ***", None) in echoed and ("late ***", None) in echoed
    assert not any("hunter22" in f"{m}{x}" for m, x in echoed)

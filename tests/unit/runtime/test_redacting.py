"""Secret values hidden in text and JSON, whatever they are called."""

from __future__ import annotations

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
    kept: list[Entry] = []

    def sink(entry: Entry, wait: float | None) -> bool:
        kept.append(entry)
        return True

    sequencer = sequencing.Sequencer(
        attempt=1,
        max_lines=10,
        max_bytes=10_000,
        sink=sink,
        redact=redacting.Redactor(["hunter22"]).text,
    )
    sequencer.emit("INFO", "app", "log", "password is hunter22", "Traceback: hunter22")
    sequencer.engine("ERROR", "KeyError: hunter22", "tb hunter22")
    assert [(e.message, e.exception) for e in kept] == [
        ("password is ***", "Traceback: ***"),
        ("KeyError: ***", "tb ***"),
    ]

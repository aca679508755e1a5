"""Every clinical sentence is written once (clinical.messages) and docs/drug-levels.md lists it
with its situation and source: the two are held together here, so a sentence reviewed in the
docs is the sentence the code says."""

import re
from pathlib import Path

import pytest

from clinical import messages
from clinical.messages import all_messages

DOC = Path(__file__).resolve().parents[2] / "docs" / "drug-levels.md"


def _rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
        rows.append((cells[0].strip("`"), cells[1], cells[2], cells[3]))
    return rows


@pytest.mark.parametrize("message", all_messages(), ids=lambda m: f"{m.code}:{m.situation[:30]}")
def test_each_message_is_in_the_docs_table_word_for_word_with_its_source(message):
    assert (message.code, message.situation, message.text, message.source) in _rows()


def test_the_docs_table_has_no_message_the_code_lacks():
    assert len(_rows()) == len(all_messages())


def test_every_message_names_a_source_the_docs_list():
    sources = DOC.read_text(encoding="utf-8").split("## Sources")[1]
    for message in all_messages():
        named = [
            name
            for name in ("seed 000", "seed 001", "AGNP", "Ronaldson", "Maudsley", "label")
            if name in message.source
        ]
        assert named, message.code
        assert all(name in sources for name in named)


def test_only_one_message_may_suggest_a_dose_increase():
    increase = [
        m.code
        for m in all_messages()
        if "raising the dose" in m.text
        or "increase the dose" in m.text.lower()
        and "not increase" not in m.text.lower()
    ]
    assert set(increase) <= messages.SUGGESTS_DOSE_INCREASE
    assert messages.SUGGESTS_DOSE_INCREASE == {"below_response_threshold"}


def test_no_message_calls_a_level_toxic_for_its_number():
    for message in all_messages():
        text = message.text.replace("not a toxic level", "")
        assert not re.search(r"\b(is|a) toxic\b", text), message.code


def test_the_docs_point_at_the_repository_only():
    text = DOC.read_text(encoding="utf-8")
    assert "../shared" not in text and "issue" not in text.lower()

"""Sentences about what was read but not interpreted (knowledge/lab_notes.yml).

Other tests of the same substances, doses, pregnancy and earlier results each get one
plain sentence, so nothing a patient typed is silently dropped or silently judged.
"""

from __future__ import annotations

from functools import lru_cache

from b12core.knowledge import knowledge_file, read_yaml
from b12core.labs.models import SPECIMENS, LabInput, LabPanel, LabRange, Note, plain_number
from b12core.texts import say

NOTES_PATH = knowledge_file("lab_notes.yml")


class NotesTableError(ValueError):
    """lab_notes.yml is malformed; the message names the entry."""


@lru_cache(maxsize=1)
def note_texts() -> dict[str, str]:
    data = read_yaml(NOTES_PATH, NotesTableError)
    texts: dict[str, str] = {}
    specimens = data.get("specimens") if isinstance(data, dict) else None
    if not isinstance(specimens, dict) or set(specimens) != set(SPECIMENS):
        raise NotesTableError(f"{NOTES_PATH}: 'specimens' must have exactly {SPECIMENS}")
    for key in (*SPECIMENS, "dose", "pregnancy", "history"):
        text = specimens.get(key) if key in SPECIMENS else data.get(key)
        if not isinstance(text, str) or not text.strip():
            raise NotesTableError(f"{NOTES_PATH}: '{key}' must be a non-empty text")
        texts[key] = " ".join(text.split())
    return texts


def range_position_text(lab_range: LabRange, value, comparator: str | None, unit: str | None):
    """"your lab's range: 197-771 pg/mL: within it" (None when the position is unclear)."""
    shown = lab_range.text + (f" {lab_range.unit or unit}" if (lab_range.unit or unit) else "")
    same_unit = lab_range.unit in (None, unit)
    position = lab_range.position(value, comparator) if same_unit else None
    text = say("labs.lab_range", range=shown)
    return text + (": " + say(f"labs.lab_range_position.{position}") if position else "")


def _shown(value, unit, comparator, lab_range) -> str:
    text = f"{comparator or ''}{plain_number(value)}" + (f" {unit}" if unit else "")
    if lab_range is not None:
        text += f" ({range_position_text(lab_range, value, comparator, unit)})"
    return text


def note_sentence(note: Note) -> str:
    texts = note_texts()
    if note.kind == "dose":
        return texts["dose"].format(shown=note.text)
    shown = _shown(note.value, note.unit, note.comparator, note.lab_range)
    return texts[note.kind].format(shown=shown)


def history_sentence(earlier: tuple[LabInput, ...], names: dict[str, str]) -> str | None:
    if not earlier:
        return None
    parts = [
        f"{names[item.analyte]} {item.comparator or ''}{plain_number(item.value)}"
        + (f" {item.unit}" if item.unit else "")
        for item in earlier if item.value is not None
    ]
    return note_texts()["history"].format(shown="; ".join(parts)) if parts else None


def panel_notes(panel: LabPanel, names: dict[str, str]) -> tuple[str, ...]:
    """Every note of a panel, in a fixed order: specimens and doses, history, pregnancy."""
    sentences = [note_sentence(n) for n in panel.notes]
    history = history_sentence(panel.earlier, names)
    if history:
        sentences.append(history)
    if panel.pregnant:
        sentences.append(note_texts()["pregnancy"])
    return tuple(dict.fromkeys(sentences))

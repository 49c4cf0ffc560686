"""Deterministic lab interpretation: parse a message, place each value in a band, explain.

Pure (no rasa imports); spaCy is imported on first parse, and the data files are read
once per process on first use, so importing this package does no work.

    panel = parse("B12 480 pmol/L, homocysteine 17 umol/L, I have NASH")
    result = interpret(panel)          # Interpretation: values, findings, errors, caveat
"""

from __future__ import annotations

from b12core.labs.interpret import evaluate, interpret
from b12core.labs.models import (
    ANALYTES,
    CONDITIONS,
    ERROR_CODES,
    FINDING_IDS,
    Finding,
    Interpretation,
    LabError,
    LabInput,
    LabPanel,
    LabResult,
    Quote,
)
from b12core.labs.parser import parse, parse_number, parse_unit, warm_up
from b12core.labs.report import to_dict, to_text

__all__ = [
    "ANALYTES",
    "CONDITIONS",
    "ERROR_CODES",
    "FINDING_IDS",
    "Finding",
    "Interpretation",
    "LabError",
    "LabInput",
    "LabPanel",
    "LabResult",
    "Quote",
    "evaluate",
    "interpret",
    "interpret_text",
    "parse",
    "parse_number",
    "parse_unit",
    "to_dict",
    "to_text",
    "warm_up",
]


def interpret_text(
    text: object, condition: str | None = None, expected_analyte: str | None = None
) -> Interpretation:
    """Parse and interpret one message; ``condition`` (if given) overrides the text's."""
    from dataclasses import replace

    panel = parse(text, expected_analyte=expected_analyte)
    if condition is not None:
        panel = replace(panel, condition=condition)
    return interpret(panel)

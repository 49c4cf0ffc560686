"""The command line: end to end in subprocesses as a user runs it, variants in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from b12core.labs.__main__ import main

PROJECT_ROOT = Path(__file__).resolve().parents[3]
# The field names and status codes of earlier releases stay; issue 15 added the lab's range,
# where the value sits in it, and the lab's flag.
VALUE_KEYS = {
    "lab_range",
    "lab_range_unit",
    "lab_position",
    "flag",
    "analyte",
    "value",
    "unit",
    "canonical_value",
    "canonical_unit",
    "status",
    "band",
    "assumed_unit",
    "comparator",
}
# Each run imports spaCy (seconds), so the end-to-end runs start together, once per module.
END_TO_END = {
    "shape": (
        ["B12 480 pmol/L; homocysteine 17.2 umol/L and MMA 0.36, I have NASH", "--json"],
        None,
    ),
    "override": (["b12 1100 pg/ml, I have fatty liver", "--condition", "none", "--json"], None),
    "binary": (["-", "--json"], b"\x00\xff\xfe binary \x89PNG b12"),
    "report": (["B12 1100 pg/mL", "--condition", "nash"], None),
    "usage": (["b12 400", "--condition", "hepatitis"], None),
}


def _start(args: list[str], stdin: bytes | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(
        [sys.executable, "-m", "b12core.labs", *args],
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    return process, stdin


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[int, str, bytes]]:
    started = {name: _start(args, stdin) for name, (args, stdin) in END_TO_END.items()}
    results = {}
    for name, (process, stdin) in started.items():
        out, err = process.communicate(stdin or b"", timeout=180)
        assert b"Traceback" not in err, err.decode(errors="replace")
        results[name] = (process.returncode, out.decode("utf-8"), err)
    return results


def _one_json_object(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def test_json_shape(runs):
    code, out, _ = runs["shape"]
    data = _one_json_object(out)
    assert code == 0
    assert {"values", "condition", "findings", "errors", "disclaimer"} <= set(data)
    assert data["condition"] == "nash"
    assert [v["analyte"] for v in data["values"]] == ["b12", "homocysteine", "mma"]
    for value in data["values"]:
        assert set(value) == VALUE_KEYS
    assert data["values"][2]["assumed_unit"] is True
    assert [f["id"] for f in data["findings"]] == [
        "functional_deficiency_possible",
        "homocysteine_elevated",
    ]
    for finding in data["findings"]:
        assert finding["summary"]
        for quote in finding["quotes"]:
            assert set(quote) == {"passage_id", "section", "text"}
    assert data["errors"] == []
    assert "not medical advice" in data["disclaimer"]


def test_condition_flag_overrides_the_text(runs):
    code, out, _ = runs["override"]
    data = _one_json_object(out)
    assert code == 0 and data["condition"] == "none"
    assert [f["id"] for f in data["findings"]] == ["b12_high_no_liver"]


def test_binary_on_stdin_is_a_clean_error(runs):
    code, out, _ = runs["binary"]
    data = _one_json_object(out)
    assert code == 2 and [e["code"] for e in data["errors"]] == ["no_values"]


def test_readable_report(runs):
    code, out, _ = runs["report"]
    assert code == 0
    assert "Vitamin B12: 1100 pg/mL" in out and "high" in out
    assert "Laboratories set their own" in out and "not medical advice" in out


def test_bad_option_is_a_usage_error_not_a_traceback(runs):
    code, _, err = runs["usage"]
    assert code == 2 and b"invalid choice" in err


def _main_json(capsys, *args: str) -> tuple[dict, int]:
    code = main([*args, "--json"])
    return _one_json_object(capsys.readouterr().out), code


def test_condition_default_and_flag(capsys):
    data, _ = _main_json(capsys, "b12 1100 pg/ml")
    assert data["condition"] == "unknown"
    data, _ = _main_json(capsys, "b12 1100 pg/ml", "--condition", "cirrhosis")
    assert [f["id"] for f in data["findings"]] == ["b12_high_liver"]


def test_errors_in_json(capsys):
    data, code = _main_json(capsys, "b12 300 and mma 0")
    assert code == 2 and data["values"] == []
    assert [(e["code"], e["analyte"]) for e in data["errors"]] == [
        ("unit_needed", "b12"),
        ("invalid_value", "mma"),
    ]
    assert data["errors"][0]["units"] == ["pmol/L", "pg/mL", "ng/L"]


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * 100_000, "b12 480 pmol/L " * 7000, os.fsdecode(b"\xff\xfe\x80 b12")],
    ids=["empty", "blank", "huge-100KB", "huge-values", "undecodable"],
)
def test_bad_input_gives_a_clean_error(capsys, text):
    data, code = _main_json(capsys, text)
    assert code == 2
    assert [e["code"] for e in data["errors"]] == ["no_values"]
    assert data["errors"][0]["message"]


def test_importing_the_package_does_no_work():
    code = (
        "import sys, b12core.labs, b12core.labs.__main__, b12core.labs.bench; "
        "print([m for m in ('spacy', 'b12core.kb') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert done.stdout.decode().strip() == "[]", done.stderr

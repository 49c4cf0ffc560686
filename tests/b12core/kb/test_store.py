"""A missing, corrupt or stale kb.json stops start-up with one line saying how to rebuild."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from b12core.kb import KBError, open_kb
from b12core.kb.build import ARTICLE_PATH, KB_PATH


@pytest.fixture
def kb_copy(tmp_path):
    path = tmp_path / "kb.json"
    shutil.copy(KB_PATH, path)
    return path


def _one_line_error(path) -> str:
    with pytest.raises(KBError) as info:
        open_kb(kb_path=path, article_path=ARTICLE_PATH)
    message = str(info.value)
    assert "\n" not in message
    assert "make kb" in message
    return message


def test_missing(tmp_path):
    assert "is missing" in _one_line_error(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b"\xff\xfe\x00binary", b"[]", b'{"format_version": 1}', b"null"],
)
def test_corrupt(kb_copy, content):
    kb_copy.write_bytes(content)
    message = _one_line_error(kb_copy)
    assert "corrupt" in message or "format" in message


def test_a_passage_that_is_not_verbatim_is_rejected(kb_copy):
    data = json.loads(kb_copy.read_text(encoding="utf-8"))
    data["passages"][3]["text"] = data["passages"][3]["text"].replace("B12", "B6", 1)
    kb_copy.write_text(json.dumps(data), encoding="utf-8")
    assert "not verbatim" in _one_line_error(kb_copy)


def test_stale_against_a_changed_article(tmp_path):
    article = tmp_path / "article.md"
    article.write_text(ARTICLE_PATH.read_text(encoding="utf-8") + "\nExtra.\n", encoding="utf-8")
    with pytest.raises(KBError, match="stale"):
        open_kb(kb_path=KB_PATH, article_path=article)


def test_cli_reports_a_missing_kb_in_one_line(tmp_path, project_root):
    """The real start-up path, in a copy of the project without kb.json."""
    copy = tmp_path / "proj"
    shutil.copytree(project_root / "b12core", copy / "b12core")
    shutil.copytree(project_root / "knowledge", copy / "knowledge")
    (copy / "knowledge" / "kb.json").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "b12core.kb", "--check"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy)},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "kb.json is missing" in lines[0] and "make kb" in lines[0]
    assert "Traceback" not in result.stderr

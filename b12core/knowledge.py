"""Where the project's data lives and the one reader of its YAML files.

Every table in ``knowledge/`` (reference ranges, synonyms, red flags, quotes, texts) is
read through :func:`read_yaml`, so a missing or broken file fails the same way, naming
the file, whichever part of the assistant reads it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"


def knowledge_file(name: str) -> Path:
    return KNOWLEDGE_DIR / name


def read_yaml(path: Path, error: type[Exception] = ValueError) -> object:
    """The parsed file; a missing or broken file raises ``error`` naming the path."""
    try:
        # libyaml's safe loader when PyYAML has it: these files are read at every start-up.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: is not valid YAML ({exc})") from None

"""Reading the engine's YAML data files, with one kind of error per file."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_yaml(path: Path, error: type[Exception]) -> object:
    """The parsed file; a missing or broken file raises ``error`` naming the path."""
    try:
        # libyaml's safe loader when PyYAML has it: these files are read at every start-up.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: is not valid YAML ({exc})") from None

"""Silence the library warnings ``python -m rasa_server run|shell`` printed at start-up.

None of them is about this project or something its operator can act on: they are
deprecations inside Rasa 3.6's pinned dependencies (SQLAlchemy 1.4, setuptools'
pkg_resources, pyparsing 3.3 under matplotlib and packaging, Click 8.2+ under typer
and spaCy, distutils under sanic_cors, jax under TensorFlow Lite) and TensorFlow's
C++ start-up notes. Most show at all because importing ``sanic.app`` adds
``filterwarnings("once", category=DeprecationWarning)``, which makes every library's
DeprecationWarning visible (pyparsing's are UserWarnings as well). Each filter below
names the category, the module that triggers the warning and the start of its
message, so any other warning (and every error, and Rasa's own log lines) still shows.

Call ``install()`` first thing, before Rasa, SQLAlchemy or TensorFlow is imported:
the environment variables are read when those libraries are imported.
"""

from __future__ import annotations

import os
import warnings

# Read when the library is imported; an operator's own value wins.
ENVIRONMENT = {
    # SQLAlchemy 1.4's one "MovedIn20Warning: Deprecated API features detected!"
    # (from rasa.core.tracker_store); SQLALCHEMY_WARN_20=1 still shows them all.
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    # TensorFlow's C++ INFO and WARNING lines on import (oneDNN, "Could not find cuda
    # drivers", CPU instructions, "TF-TRT Warning: Could not find TensorRT"); errors
    # still show. Rasa sets the same value, but only after TensorFlow is imported.
    "TF_CPP_MIN_LOG_LEVEL": "2",
}

# (category, module that triggers it, start of the message); module and message are
# regular expressions matched at the start (the message case-insensitively).
IGNORED = (
    (DeprecationWarning, r"apscheduler\Z", r"pkg_resources is deprecated as an API"),
    (DeprecationWarning, r"pkg_resources\Z",
     r"Deprecated call to `pkg_resources\.declare_namespace\("),
    # PyparsingDeprecationWarning: "'setParseAction' deprecated - use 'set_parse_action'"
    (DeprecationWarning, r"(matplotlib\.fontconfig_pattern|packaging\.(markers|requirements))\Z",
     r"'\w+' deprecated - use '\w+'"),
    (DeprecationWarning, r"sanic_cors\.extension\Z", r"distutils Version classes are deprecated"),
    # SADeprecationWarning, from Rasa's SQL tracker store.
    (DeprecationWarning, r"rasa\.core\.tracker_store\Z", r"Calling URL\(\) directly is deprecated"),
    # "'click.utils.get_text_stream' is deprecated and will be removed in Click 9.0."
    (DeprecationWarning, r"(typer|typer\.completion|spacy\.cli\._util)\Z", r".*\bin Click 9\.0\b"),
    # jax 0.4.30, imported by TensorFlow Lite (with sanic's filter already in place).
    (DeprecationWarning, r"tensorflow\.lite\.python\.util\Z",
     r"jax\.xla_computation is deprecated"),
)


def install() -> None:
    """Set the environment defaults and the warning filters (idempotent)."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    # A filter added later is matched first. sanic.app adds its "once" filter for
    # every DeprecationWarning when imported, so ours come after that import...
    import sanic.app  # noqa: F401

    _add_filters()
    # ...and after Rasa's own, added when its CLI starts: "once" for every UserWarning,
    # which PyparsingDeprecationWarning also is.
    from rasa.utils import common

    if not getattr(common._filter_warnings, "quiet_filters", False):
        rasa_filter_warnings = common._filter_warnings

        def filter_warnings(*args, **kwargs):
            rasa_filter_warnings(*args, **kwargs)
            _add_filters()

        filter_warnings.quiet_filters = True
        common._filter_warnings = filter_warnings


def _add_filters() -> None:
    for category, module, message in IGNORED:
        # An identical filter is moved to the front, not added twice.
        warnings.filterwarnings("ignore", message=message, category=category, module=module)

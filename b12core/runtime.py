"""Process-level settings shared by our entry points (CLIs, the action server)."""

from __future__ import annotations

import sys


def block_tensorflow() -> None:
    """Keep TensorFlow out of processes that never use it.

    thinc (under spaCy) imports TensorFlow whenever it is installed, and Rasa
    installs it: about 2 s and hundreds of MB per process. Call this from an entry
    point only, before spaCy is imported; never from a module the Rasa server loads.
    """
    sys.modules.setdefault("tensorflow", None)

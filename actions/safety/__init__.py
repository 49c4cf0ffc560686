"""Pure safety rules (no rasa imports): red-flag symptoms that need urgent care."""

from actions.safety.red_flags import RedFlagMatch, detect_red_flags, load_red_flags

__all__ = ["RedFlagMatch", "detect_red_flags", "load_red_flags"]

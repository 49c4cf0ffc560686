"""Red-flag triage: pure (no rasa import), shared by the NLU component and every reply path."""

from b12core.safety.triage import (
    CRISIS,
    NONE,
    SAFETY_NET,
    URGENT,
    Finding,
    Triage,
    first_reply,
    load_triage_table,
    messages,
    reply_kind,
    triage,
)

__all__ = ["CRISIS", "NONE", "SAFETY_NET", "URGENT", "Finding", "Triage", "first_reply",
           "load_triage_table", "messages", "reply_kind", "triage"]

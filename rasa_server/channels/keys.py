"""The server's own secret, and what it signs: widget session tokens and log pseudonyms.

Pure (no Rasa import). The secret is ``WIDGET_SESSION_SECRET`` when set (the same value on
every replica, so a widget reconnecting to another one keeps its conversation), else a key
made once in ``var/session.key`` (0600, in a 0700 folder) and kept across restarts.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_ENV = "WIDGET_SESSION_SECRET"
KEY_FILE = Path(__file__).resolve().parents[2] / "var" / "session.key"


@functools.cache
def server_secret() -> bytes:
    """WIDGET_SESSION_SECRET, else the key in var/session.key, made on first use."""
    configured = os.environ.get(SECRET_ENV, "").strip()
    if configured:
        return configured.encode("utf-8")
    KEY_FILE.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = KEY_FILE.read_text("ascii").strip()
        if len(key) >= 32:
            return key.encode("ascii")
        raise RuntimeError(f"{KEY_FILE} is damaged: delete it (open sessions end)") from None
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key.encode("ascii")


def mac(purpose: bytes, value: str) -> str:
    """HMAC-SHA256 (hex) of ``value`` under the server secret, for one ``purpose``."""
    return hmac.new(server_secret(), purpose + value.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def session_token(session_id: str) -> str:
    """The credential of a widget session: HMAC-SHA256 of its id (64 hex digits)."""
    return mac(b"socketio-session:", session_id)


def pseudonym(sender_id: str) -> str:
    """How a conversation is named in the log: a keyed hash, the same for the same id (so
    an operator can follow one conversation) but useless to anyone reading the log."""
    return "sender#" + mac(b"log:", sender_id)[:12]

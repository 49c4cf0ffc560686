"""The project's Rasa input channels (subclasses of Rasa's own), and what they share.

Telegram and Slack are configured from the environment: each is named in credentials.yml by
module path (``rasa_server.channels.telegram.TelegramInput:``) with no values, so Rasa hands
``from_credentials`` ``None`` and the channel reads its settings through :func:`setting`, the one
place these channels read the environment. A channel whose settings are missing is *off*: Rasa
still starts, and the channel's webhook answers 503 with the reason, which is also logged once
at start-up.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

_WHITESPACE = re.compile(r"\s")


def setting(
    credentials: Mapping[str, Any] | None, key: str, env_var: str, default: str | None = None
) -> str | None:
    """A non-empty credentials value, else the environment variable, else ``default``."""
    value = (credentials or {}).get(key)
    if value in (None, ""):
        value = os.environ.get(env_var, "").strip()
    return str(value) if value not in (None, "") else default


def _utf16_len(text: str) -> int:
    # Telegram counts message length in UTF-16 code units (an emoji counts twice).
    return len(text.encode("utf-16-le")) // 2


def _fitting_prefix(text: str, limit: int) -> int:
    """The length of the longest prefix of ``text`` within ``limit`` UTF-16 code units."""
    end = min(len(text), limit)
    while _utf16_len(text[:end]) > limit:
        end -= max(1, (_utf16_len(text[:end]) - limit) // 2)
    return end


def _cut(text: str, end: int) -> int:
    """Where to cut ``text`` (which is longer than ``end``): a paragraph break, else a line
    break, in the second half of the window; else the last space; else ``end`` itself (one
    "word" longer than the whole limit, like a very long URL, cannot be kept whole)."""
    for separator in ("\n\n", "\n"):
        at = text.rfind(separator, 0, end + len(separator))
        if at >= end // 2:
            return at
    spaces = [m.start() for m in _WHITESPACE.finditer(text, 0, end + 1)]
    return spaces[-1] if spaces and spaces[-1] > 0 else end


def split_message(text: str, limit: int) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-16 code units, at paragraph or line
    breaks where possible and never inside a word; only the whitespace at a cut is dropped."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts = []
    rest = text.strip()
    while _utf16_len(rest) > limit:
        at = _cut(rest, _fitting_prefix(rest, limit))
        parts.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class DisabledChannel(InputChannel):
    """Stands in for a channel whose settings are missing: its webhook answers 503."""

    def __init__(self, channel_name: str, reason: str) -> None:
        self.channel_name = channel_name
        self.reason = reason

    def url_prefix(self) -> str:
        return self.channel_name

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        off = Blueprint(f"{self.channel_name}_off")
        body = {"status": "off", "channel": self.channel_name, "reason": self.reason}

        @off.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json(body, status=503)

        @off.route("/webhook", methods=["GET", "POST"])
        async def webhook(_: Request) -> HTTPResponse:
            logger.warning("%s channel is off (%s): request refused", self.channel_name,
                           self.reason)
            return response.json(body, status=503)

        return off

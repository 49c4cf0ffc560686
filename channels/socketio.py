"""Rasa's socket.io channel with an explicit list of allowed browser origins.

Rasa 3.6 builds its socket.io server with ``cors_allowed_origins=[]``, which turns
python-engineio's origin handling off: any web page may open a websocket to the bot,
and long-polling from another origin gets no CORS headers. This channel keeps the
stock behaviour and only hands engineio the origins listed in credentials.yml, so
engineio checks the ``Origin`` header of every request (polling and websocket) and
answers allowed origins with their own ``Access-Control-Allow-Origin``.

credentials.yml::

    channels.socketio.SocketIOInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
      cors_allowed_origins:
        - http://localhost:8080
        - http://127.0.0.1:8080
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput as StockSocketIOInput
from sanic import Blueprint


class OriginError(ValueError):
    """The cors_allowed_origins setting is missing, a wildcard or not a list of origins."""


def parse_origins(value: Any) -> list[str]:
    """The allowed origins from credentials: a list (or comma-separated string) of URLs."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list | tuple):
        raise OriginError("cors_allowed_origins must be a list of origins")
    origins = [str(origin).strip().rstrip("/") for origin in value if str(origin).strip()]
    if not origins:
        raise OriginError("cors_allowed_origins is empty: list the widget's origins")
    for origin in origins:
        if "*" in origin:
            raise OriginError(f"wildcard origin {origin!r} is not allowed: list origins")
        if not origin.startswith(("http://", "https://")) or "/" in origin.split("://", 1)[1]:
            raise OriginError(f"{origin!r} is not an origin (scheme://host[:port])")
    return origins


class SocketIOInput(StockSocketIOInput):
    """The stock socket.io channel plus ``cors_allowed_origins`` (same name: "socketio")."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = dict(credentials or {})
        origins = parse_origins(credentials.pop("cors_allowed_origins", None))
        channel = super().from_credentials(credentials)
        channel.cors_allowed_origins = origins
        return channel

    def __init__(self, *args: Any, cors_allowed_origins: list[str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cors_allowed_origins = cors_allowed_origins or []

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = super().blueprint(on_new_message)
        # engineio reads this attribute on every request; [] would mean "no checks".
        self.sio.eio.cors_allowed_origins = list(self.cors_allowed_origins)
        return webhook

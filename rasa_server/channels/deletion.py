"""A person deletes their own conversation by asking in the chat, on every channel.

"delete my data" (and a few plain variants, the whole message) is answered by the channel
itself, before NLU: a misread intent can never delete anything, and a deletion request never
enters the conversation it is about. The person is asked to confirm with two buttons; the
"yes" button's payload carries an HMAC of the conversation id and an expiry
(:func:`confirm_payload`), so it works on whichever server process receives it and cannot be
forged for someone else's conversation. Typing "yes" right after the question works too, on
the same process. Then :func:`rasa_server.forget.forget_live` removes the conversation from the
tracker store (SQLite or PostgreSQL), the server's cache and the lock store, and the person is
told. Anything else after the question leaves everything as it was and is read as usual.

Texts are the bot's own words about its data, not medical content.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
from typing import Any

from b12core.texts import button, say
from rasa_server.channels.keys import mac

logger = logging.getLogger(__name__)

REQUEST_PAYLOAD = "/delete_my_data"
CONFIRM_INTENT = "/delete_confirmed"
# Telegram carries at most 64 bytes of callback data per button: the payload fits, with 64
# bits of HMAC (plenty for a question that expires in ten minutes).
MAX_PAYLOAD_BYTES = 64
_KEY_HEX = 16
KEEP_PAYLOAD = "/keep_my_data"
CONFIRM_WITHIN_S = 10 * 60


# The whole message (lower-cased, trimmed), so "how do I delete my data?" or a sentence that
# also mentions symptoms goes to the assistant as usual.
_REQUEST = re.compile(
    r"(?:please\s+|can\s+you\s+|could\s+you\s+|i\s+want\s+to\s+|i\s+want\s+you\s+to\s+)?"
    # The verbs with the typos people make ("delte my data" went to the dialogue as goodbye).
    r"(?:delete|delet|delte|deleet|dlete|erase|errase|erace|remove|remvoe|wipe|forget|forgot)\s+"
    r"(?:all\s+(?:of\s+)?)?(?:my|me|everything)"
    r"(?:\s+(?:data|conversation|chat|history|messages|results|information|info|details))?"
    r"(?:\s+please)?\s*[.!?]*"
)
_YES = {"yes", "y", "yes please", "yes delete", "yes delete it", "yes, delete it", "delete",
        "delete it", "confirm", "ok delete", "yes, please"}
_NO = {"no", "n", "no thanks", "no, keep it", "no keep it", "keep it", "cancel", "don't",
       "dont"}
_CONFIRM = re.compile(re.escape(CONFIRM_INTENT) + r"(\{.*\})")


def is_request(text: str) -> bool:
    plain = " ".join(text.lower().split())
    return plain == REQUEST_PAYLOAD or bool(_REQUEST.fullmatch(plain))


def _signature(sender_id: str, until: int) -> str:
    return mac(b"delete-conversation:", f"{until}:{sender_id}")[:_KEY_HEX]


def confirm_payload(sender_id: str, now: float | None = None) -> str:
    until = int((time.time() if now is None else now) + CONFIRM_WITHIN_S)
    key = json.dumps({"u": until, "k": _signature(sender_id, until)}, separators=(",", ":"))
    return CONFIRM_INTENT + key


def confirmed_by_payload(text: str, sender_id: str, now: float | None = None) -> bool | None:
    """True for this conversation's valid, unexpired "yes" button; False for a "yes" payload
    that is not (forged, another conversation's, expired); None when not a "yes" payload."""
    found = _CONFIRM.fullmatch(text.strip())
    if not text.strip().startswith(CONFIRM_INTENT):
        return None
    try:
        fields = json.loads(found.group(1)) if found else {}
        until, key = int(fields["u"]), str(fields["k"])
    except (ValueError, KeyError, TypeError):
        return False
    if until < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(key, _signature(sender_id, until))


class Deletion:
    """The deletion dialogue of one server process: which conversations were just asked."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._asked: dict[str, float] = {}  # sender -> when the question was asked

    def buttons(self, sender_id: str) -> list[dict[str, str]]:
        return [button("delete_yes", confirm_payload(sender_id)),
                button("delete_no", KEEP_PAYLOAD)]

    def step(self, text: str, sender_id: str) -> str | None:
        """What to do with a message: "ask", "delete", "refused" (a stale or forged "yes": ask
        again), "keep", or None (not about deletion: read it as usual)."""
        asked = self._asked.pop(sender_id, None)
        recent = asked is not None and self.clock() - asked <= CONFIRM_WITHIN_S
        by_payload = confirmed_by_payload(text, sender_id)
        if by_payload is not None:
            return "delete" if by_payload else "refused"
        plain = " ".join(text.lower().split()).rstrip(".!")
        if plain == KEEP_PAYLOAD or (recent and plain in _NO):
            return "keep"
        if recent and plain in _YES:
            return "delete"
        if is_request(text):
            return "ask"
        return None

    def asked(self, sender_id: str) -> None:
        self._asked[sender_id] = self.clock()
        if len(self._asked) > 10_000:  # bounded: the oldest questions are forgotten first
            for stale in list(self._asked)[:1000]:
                self._asked.pop(stale, None)


DELETION = Deletion()
_SERVER: dict[str, Any] = {}


def remember_app(app: Any, _loop: Any = None) -> None:
    """A Sanic ``before_server_start`` listener: the app whose agent deletes conversations."""
    _SERVER["app"] = app


async def forget_conversation(sender_id: str) -> int:
    """Delete a conversation from the running server (every channel's deletions come here)."""
    from rasa_server.forget import forget_live

    return await forget_live(_SERVER["app"].ctx.agent, sender_id)


async def handle(text: str, sender_id: str, output: Any, channel: str) -> bool:
    """Answer a message that is about deleting the conversation; False when it is not."""
    step = DELETION.step(text, sender_id)
    if step is None:
        return False
    if step in ("ask", "refused"):
        DELETION.asked(sender_id)
        await output.send_text_with_buttons(sender_id, say("deletion.ask"),
                                            DELETION.buttons(sender_id))
        return True
    if step == "keep":
        await output.send_text_message(sender_id, say("deletion.kept"))
        return True
    try:
        deleted = await forget_conversation(sender_id)
    except Exception as exc:  # the database down, say: nothing was deleted
        from rasa_server.channels.limits import exception_kind

        logger.error("%s: a conversation could not be deleted (%s)", channel, exception_kind(exc))
        await output.send_text_message(sender_id, say("deletion.failed"))
        return True
    logger.info("%s: a conversation was deleted at its user's request (%d events)", channel,
                deleted)
    await output.send_text_message(sender_id, say("deletion.done"))
    return True

"""Rasa's Telegram channel, configured from the environment, with a configurable Bot API URL.

credentials.yml names the channel with no values
(``rasa_server.channels.telegram.TelegramInput:``); the
settings then come from the environment (a non-empty value in credentials.yml wins):

==========================  ===============================================================
TELEGRAM_ACCESS_TOKEN       the bot token from @BotFather; unset: the channel is off
TELEGRAM_VERIFY             the bot's username; when set, updates are refused unless the token
                            belongs to that bot (checked once with getMe)
TELEGRAM_WEBHOOK_URL        the public HTTPS URL of ``/webhooks/telegram/webhook``; when set,
                            setWebhook is called once the server has started
TELEGRAM_WEBHOOK_SECRET     required (1-256 characters A-Z a-z 0-9 _ -): sent to setWebhook as
                            ``secret_token``; every update must carry it in
                            X-Telegram-Bot-Api-Secret-Token. Unset or malformed: the channel is
                            off (an ERROR in the log), since anyone who finds the webhook URL
                            could otherwise post updates in any chat id's name
TELEGRAM_API_BASE_URL       the Bot API server, default https://api.telegram.org (a self-hosted
                            telegram-bot-api server, or a fake one in tests)
==========================  ===============================================================

What differs from Rasa 3.6's own TelegramInput/TelegramOutput, and why:

- The Bot API base URL is configurable (aiogram's ``TelegramAPIServer``).
- setWebhook runs in the server's event loop after start-up instead of ``asyncio.run`` at
  blueprint time (which left aiogram's HTTP session bound to a closed loop, and cannot run
  inside a running loop); a failure is logged and the rest of the server keeps running.
- A reply is sent as one message, split only above Telegram's 4096-character limit at paragraph
  or line breaks (never inside a word), buttons on the last part. Rasa sends one message per
  paragraph, which floods a chat and runs into Telegram's per-chat rate limit.
- A turn's replies are joined (:class:`JoinedTurn`): an interpretation is one or two
  notifications, not three or more; an urgent or crisis reply stays a message of its own.
- Button presses (callback queries) are answered, so the client stops showing a spinner.
- getMe is called once, not on every update; "/start" (what Telegram sends when someone opens
  the bot) is read as the greeting; a failed turn is logged (its exception's type only) and
  acknowledged (200) rather than raised, so Telegram does not redeliver the same update again
  and again, and the chat gets ``service.error``.
- Message limits as on every channel
  (:mod:`rasa_server.channels.limits`): over 2,000 characters, the
  chat gets a kind "please send a shorter message" reply and the turn never starts.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.bot.api import TelegramAPIServer, check_token
from aiogram.types import Message, Update
from aiogram.utils.exceptions import ValidationError
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.telegram import TelegramInput as StockTelegramInput
from rasa.core.channels.telegram import TelegramOutput as StockTelegramOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from b12core.safety import reply_kind
from rasa_server.channels import DisabledChannel, setting, split_message
from rasa_server.channels.limits import exception_kind, guarded, server_listeners

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
MESSAGE_LIMIT = 4096  # characters per sendMessage text (Bot API)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What the Bot API accepts as setWebhook's secret_token.
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
# "/start", "/start@b12_bot" or a deep link "/start payload": someone opened the bot.
_START = re.compile(r"^/start(@\w+)?(\s.*)?$", re.DOTALL)


class TelegramOutput(StockTelegramOutput):
    """Rasa's Telegram output (an aiogram 2 Bot) against any Bot API server."""

    def __init__(self, access_token: str, api_base_url: str = DEFAULT_API_BASE_URL) -> None:
        Bot.__init__(self, access_token, server=TelegramAPIServer.from_base(api_base_url))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for part in split_message(text, MESSAGE_LIMIT):
            await self.send_message(recipient_id, part)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        button_type: str | None = "inline",
        **kwargs: Any,
    ) -> None:
        *leading, last = split_message(text, MESSAGE_LIMIT) or [""]
        for part in leading:
            await self.send_message(recipient_id, part)
        await super().send_text_with_buttons(recipient_id, last, buttons, button_type, **kwargs)


class JoinedTurn(OutputChannel):
    """One turn's replies, sent when the turn ends as few Telegram messages as possible.

    Rasa sends each bot message as it is made, and an interpretation is three of them: three
    notifications on the patient's phone. Here consecutive texts are joined (a blank line
    between them) into the message that carries the turn's buttons, or into one message at
    the end; an urgent or crisis reply is always a message of its own, first if it came first.
    """

    def __init__(self, bot: TelegramOutput) -> None:
        self.bot = bot
        self.pending: list[str] = []

    @classmethod
    def name(cls) -> str:
        return "telegram"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        if reply_kind(text.strip()):
            await self.flush(recipient_id)
            await self.bot.send_text_message(recipient_id, text)
        else:
            self.pending.append(text.strip())

    async def send_text_with_buttons(self, recipient_id: str, text: str,
                                     buttons: list[dict[str, Any]], **kwargs: Any) -> None:
        joined = "\n\n".join([*self.pending, text.strip()])
        self.pending = []
        await self.bot.send_text_with_buttons(recipient_id, joined, buttons, **kwargs)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.flush(recipient_id)
        await self.bot.send_image_url(recipient_id, image, **kwargs)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any],
                               **kwargs: Any) -> None:
        await self.flush(recipient_id)
        await self.bot.send_custom_json(recipient_id, json_message, **kwargs)

    async def flush(self, recipient_id: str) -> None:
        """Send what is still waiting (at the end of the turn, or before a message that
        must not be joined)."""
        if self.pending:
            joined, self.pending = "\n\n".join(self.pending), []
            await self.bot.send_text_message(recipient_id, joined)


class TelegramInput(StockTelegramInput):
    """Rasa's Telegram input (``/webhooks/telegram/webhook``), settings from the environment."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        token = setting(credentials, "access_token", "TELEGRAM_ACCESS_TOKEN")
        if not token:
            return _off("TELEGRAM_ACCESS_TOKEN is not set", logging.INFO)
        try:
            check_token(token)
        except ValidationError:
            return _off("TELEGRAM_ACCESS_TOKEN is not a bot token (<bot id>:<secret>)",
                        logging.ERROR)
        secret = setting(credentials, "webhook_secret", "TELEGRAM_WEBHOOK_SECRET")
        if not secret:
            return _off("TELEGRAM_WEBHOOK_SECRET is not set (updates could not be told from "
                        "forged ones)", logging.ERROR)
        if not _SECRET_TOKEN.fullmatch(secret):
            return _off("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters A-Z a-z 0-9 _ -",
                        logging.ERROR)
        return cls(
            token,
            setting(credentials, "verify", "TELEGRAM_VERIFY"),
            setting(credentials, "webhook_url", "TELEGRAM_WEBHOOK_URL"),
            debug_mode=False,
            api_base_url=setting(credentials, "api_base_url", "TELEGRAM_API_BASE_URL",
                                 DEFAULT_API_BASE_URL),
            webhook_secret=secret,
        )

    def __init__(
        self,
        access_token: str,
        verify: str | None,
        webhook_url: str | None,
        debug_mode: bool = False,
        api_base_url: str = DEFAULT_API_BASE_URL,
        webhook_secret: str | None = None,
    ) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode)
        self.api_base_url = api_base_url
        self.webhook_secret = webhook_secret
        self._bot_username: str | None = None

    def get_output_channel(self) -> TelegramOutput:
        # No setWebhook here (Rasa's does it with asyncio.run): see register_webhook.
        return TelegramOutput(self.access_token, self.api_base_url)

    async def register_webhook(self, bot: TelegramOutput) -> None:
        if not self.webhook_url:
            logger.info("Telegram channel on (Bot API %s); TELEGRAM_WEBHOOK_URL is not set, "
                        "so setWebhook was not called", self.api_base_url)
            return
        payload = {"url": self.webhook_url, "allowed_updates": json.dumps(ALLOWED_UPDATES)}
        if self.webhook_secret:
            payload["secret_token"] = self.webhook_secret
        try:
            await bot.request("setWebhook", payload)
        except Exception as error:
            logger.error("Telegram setWebhook failed (%s): no updates will arrive until the "
                         "webhook is set", error)
            return
        logger.info("Telegram channel on: webhook set to %s (Bot API %s)", self.webhook_url,
                    self.api_base_url)

    async def _is_expected_bot(self, bot: TelegramOutput) -> bool:
        if not self.verify:
            return True
        if self._bot_username is None:
            self._bot_username = (await bot.get_me()).username
        return self._bot_username == self.verify

    def _is_from_telegram(self, request: Request) -> bool:
        if not self.webhook_secret:
            return False  # fail closed: from_credentials never builds a channel without one
        return hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode("utf-8"),
                                   self.webhook_secret.encode("utf-8"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        telegram_webhook = Blueprint("telegram_webhook", __name__)
        bot = self.get_output_channel()
        handle = guarded(on_new_message, "telegram")
        server_listeners(telegram_webhook)

        @telegram_webhook.listener("after_server_start")
        async def set_webhook(_app: Any, _loop: Any) -> None:
            await self.register_webhook(bot)

        @telegram_webhook.listener("before_server_stop")
        async def close_session(_app: Any, _loop: Any) -> None:
            await bot.session.close()

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if not self._is_from_telegram(request):
                logger.warning("Telegram update refused: missing or wrong %s", SECRET_HEADER)
                return response.text("forbidden", status=403)
            if not isinstance(request.json, dict):
                return response.text("expected a Telegram Update object", status=400)
            if not await self._is_expected_bot(bot):
                logger.error("Telegram update refused: the token belongs to @%s, not "
                             "TELEGRAM_VERIFY=%s", self._bot_username, self.verify)
                return response.text("failed")
            try:
                update = Update(**request.json)
                chat_id, text = await self._read(update, bot)
            except Exception as error:
                logger.warning("Telegram update refused: unreadable (%s)", exception_kind(error))
                return response.text("expected a Telegram Update object", status=400)
            if chat_id is None or not text:
                return response.text("success")
            # Limits and failures as on every channel (rasa_server.channels.limits): an
            # over-long message
            # or a failed turn gets a kind reply in the chat, and the update is acknowledged
            # (200) so Telegram does not deliver it again and again.
            turn = JoinedTurn(bot)
            try:
                await handle(UserMessage(text, turn, chat_id, input_channel=self.name(),
                                         metadata=self.get_metadata(request)))
            finally:
                await turn.flush(chat_id)
            return response.text("success")

        return telegram_webhook

    @staticmethod
    async def _read(update: Update, bot: TelegramOutput) -> tuple[str | None, str | None]:
        """The chat and the text of an update (a button's text is its payload)."""
        if update.callback_query:
            query = update.callback_query
            try:
                await bot.answer_callback_query(query.id)
            except Exception as error:
                logger.warning("Telegram answerCallbackQuery failed: %s", error)
            chat = query.message.chat.id if query.message else query.from_user.id
            return str(chat), query.data
        message: Message | None = update.message or update.edited_message
        if message is None or message.text is None:
            return None, None  # stickers, photos, locations...: nothing to answer
        text = "/greet" if _START.match(message.text.strip()) else message.text
        return str(message.chat.id), text


def _off(reason: str, level: int) -> DisabledChannel:
    logger.log(level, "Telegram channel off: %s", reason)
    return DisabledChannel(TelegramInput.name(), reason)

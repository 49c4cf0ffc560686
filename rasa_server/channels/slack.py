"""Rasa's Slack channel, configured from the environment, with a configurable Web API URL.

credentials.yml names the channel with no values
(``rasa_server.channels.slack.SlackInput:``); the settings
then come from the environment (a non-empty value in credentials.yml wins):

=====================  ====================================================================
SLACK_TOKEN            the bot token (xoxb-...); unset: the channel is off
SLACK_SIGNING_SECRET   required: without it the channel is off (an error is logged), since
                       unsigned requests cannot be told apart from forged ones
SLACK_CHANNEL          optional: a channel the bot also answers in without being mentioned
                       (direct messages and @mentions are always answered)
SLACK_API_BASE_URL     the Web API, default https://slack.com/api/ (a proxy or a fake in tests)
=====================  ====================================================================

Every request to ``/webhooks/slack/webhook`` must carry a valid X-Slack-Signature (v0,
HMAC-SHA256 of ``v0:{timestamp}:{body}``) and an X-Slack-Request-Timestamp at most five minutes
old; otherwise it is answered 400 (Rasa's own check). What differs from Rasa 3.6's SlackInput:

- The Web API base URL is configurable (slack_sdk's ``AsyncWebClient(base_url=...)``).
- The URL verification challenge is answered as text/plain (Slack's documented format); Rasa
  answers a bare JSON string.
- A reply is posted as one message, split only above 3000 characters (the limit of the section
  block that carries buttons) at paragraph or line breaks, buttons on the last part; Rasa posts
  one message per paragraph.
- Message limits and failed turns as on every channel
  (:mod:`rasa_server.channels.limits`): an over-long
  message gets a kind reply instead of a turn; a failed turn gets ``service.error`` and one log
  line with the exception's type (Rasa logs the exception's text).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.slack import SlackBot as StockSlackBot
from rasa.core.channels.slack import SlackInput as StockSlackInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from rasa_server.channels import DisabledChannel, setting, split_message
from rasa_server.channels.limits import guarded, server_listeners

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://slack.com/api/"
MESSAGE_LIMIT = 3000  # characters of a section block's text


class SlackBot(StockSlackBot):
    """Rasa's Slack output against any Web API base URL."""

    def __init__(
        self,
        token: str,
        slack_channel: str | None = None,
        thread_id: str | None = None,
        proxy: str | None = None,
        api_base_url: str = DEFAULT_API_BASE_URL,
    ) -> None:
        super().__init__(token, slack_channel, thread_id, proxy)
        self.client = AsyncWebClient(token, proxy=proxy, base_url=api_base_url)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        recipient = self.slack_channel or recipient_id
        for part in split_message(text, MESSAGE_LIMIT):
            await self._post_message(channel=recipient, as_user=True, text=part, type="mrkdwn")

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        *leading, last = split_message(text, MESSAGE_LIMIT) or [""]
        for part in leading:
            await self.send_text_message(recipient_id, part)
        await super().send_text_with_buttons(recipient_id, last, buttons, **kwargs)


class SlackInput(StockSlackInput):
    """Rasa's Slack input (``/webhooks/slack/webhook``), settings from the environment."""

    api_base_url: str = DEFAULT_API_BASE_URL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        token = setting(credentials, "slack_token", "SLACK_TOKEN")
        if not token:
            return _off("SLACK_TOKEN is not set", logging.INFO)
        secret = setting(credentials, "slack_signing_secret", "SLACK_SIGNING_SECRET")
        if not secret:
            return _off("SLACK_SIGNING_SECRET is not set; refusing to run without verifying "
                        "that requests come from Slack", logging.ERROR)
        channel = super().from_credentials({
            **(credentials or {}),
            "slack_token": token,
            "slack_signing_secret": secret,
            "slack_channel": setting(credentials, "slack_channel", "SLACK_CHANNEL"),
        })
        channel.api_base_url = setting(credentials, "api_base_url", "SLACK_API_BASE_URL",
                                       DEFAULT_API_BASE_URL)
        logger.info("Slack channel on (Web API %s)", channel.api_base_url)
        return channel

    def get_output_channel(
        self, channel: str | None = None, thread_id: str | None = None
    ) -> OutputChannel:
        return SlackBot(self.slack_token, channel or self.slack_channel, thread_id, self.proxy,
                        self.api_base_url)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Rasa runs each turn as a background task; a failure would be logged with its text.
        slack_webhook = super().blueprint(guarded(on_new_message, "slack"))
        server_listeners(slack_webhook)

        @slack_webhook.middleware("request")
        async def url_verification(request: Request) -> HTTPResponse | None:
            if request.method != "POST" or request.content_type != "application/json":
                return None
            try:
                body = request.json
            except Exception:
                return None  # Rasa's handler answers malformed requests
            if (isinstance(body, dict) and body.get("type") == "url_verification"
                    and self.is_request_from_slack_authentic(request)):
                return response.text(str(body.get("challenge", "")))
            return None

        return slack_webhook


def _off(reason: str, level: int) -> DisabledChannel:
    logger.log(level, "Slack channel off: %s", reason)
    return DisabledChannel(SlackInput.name(), reason)

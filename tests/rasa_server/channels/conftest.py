"""One stack with the Telegram and Slack channels on, talking to fake APIs on loopback.

The stack (action server + Rasa server, about 30-45 s to start) is shared by every module in
tests/rasa_server/channels; the channels are configured only through environment variables, as in
production, with credentials.yml entries that carry no values.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.stack import RasaStack
from tests.rasa_server.channels.fakes import FakeSlack, FakeTelegram

TELEGRAM_TOKEN = "123456:contract-test-token"
TELEGRAM_BOT_NAME = "b12_test_bot"
TELEGRAM_WEBHOOK_URL = "https://bot.example.org/webhooks/telegram/webhook"
TELEGRAM_WEBHOOK_SECRET = "contract-test-secret_1"
SLACK_TOKEN = "xoxb-contract-test"
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"

CREDENTIALS = """\
rasa_server.channels.rest.RestInput:
rasa_server.channels.telegram.TelegramInput:
rasa_server.channels.slack.SlackInput:
"""

_CHANNEL_ENV = ("TELEGRAM_ACCESS_TOKEN", "TELEGRAM_VERIFY", "TELEGRAM_WEBHOOK_URL",
                "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE_URL", "SLACK_TOKEN",
                "SLACK_SIGNING_SECRET", "SLACK_CHANNEL", "SLACK_API_BASE_URL")
# slack_sdk sends through a proxy named in the environment, even to loopback.
_PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class ChannelStack(RasaStack):
    """RasaStack with its own credentials file and the channels' environment."""

    def __init__(self, workdir: Path, channel_env: dict[str, str]) -> None:
        credentials = workdir / "credentials.yml"
        credentials.write_text(CREDENTIALS, encoding="utf-8")
        super().__init__(workdir, credentials=credentials)
        for name in (*_CHANNEL_ENV, *_PROXY_ENV):
            self.env.pop(name, None)
        self.env.update(channel_env)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.rasa_port}{path}"

    def post(self, path: str, body: bytes | dict, headers: dict[str, str] | None = None
             ) -> tuple[int, bytes]:
        """POST to the Rasa server: (status, body), 4xx/5xx included."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.url(path), data=data,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=90) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


@pytest.fixture(scope="session", autouse=True)
def sanic_test_mode():
    """Several in-process Sanic apps start in this pytest process (test_channels,
    test_limits): in test mode Sanic keeps the original request handler for each app's
    start-up rewrite instead of rewriting the rewritten one (a KeyError)."""
    from sanic import Sanic

    Sanic.test_mode = True


@pytest.fixture(scope="session")
def telegram_api():
    api = FakeTelegram(TELEGRAM_TOKEN).start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def slack_api():
    api = FakeSlack().start()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def channel_stack(tmp_path_factory, telegram_api, slack_api):
    stack = ChannelStack(tmp_path_factory.mktemp("channel-stack"), {
        "TELEGRAM_ACCESS_TOKEN": TELEGRAM_TOKEN,
        "TELEGRAM_VERIFY": TELEGRAM_BOT_NAME,
        "TELEGRAM_WEBHOOK_URL": TELEGRAM_WEBHOOK_URL,
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_WEBHOOK_SECRET,
        "TELEGRAM_API_BASE_URL": telegram_api.base_url,
        "SLACK_TOKEN": SLACK_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "SLACK_API_BASE_URL": slack_api.base_url,
    })
    with stack.running():
        yield stack

"""The channels without a stack: settings from the environment, channels off, splitting."""

from __future__ import annotations

import logging

import aiohttp
import pytest
from rasa.core.channels.channel import register
from sanic import Sanic

from rasa_server.channels import DisabledChannel, setting, split_message
from rasa_server.channels.slack import SlackBot, SlackInput
from rasa_server.channels.telegram import TelegramInput, TelegramOutput
from tests.rasa_server.channels.fakes import sanic_on_loopback

CHANNEL_ENV = ("TELEGRAM_ACCESS_TOKEN", "TELEGRAM_VERIFY", "TELEGRAM_WEBHOOK_URL",
               "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_BASE_URL", "SLACK_TOKEN",
               "SLACK_SIGNING_SECRET", "SLACK_CHANNEL", "SLACK_API_BASE_URL")


@pytest.fixture(autouse=True)
def no_channel_env(monkeypatch):
    for name in CHANNEL_ENV:
        monkeypatch.delenv(name, raising=False)


def test_a_credentials_value_wins_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.setenv("SLACK_CHANNEL", "#from-env")
    from_file = {"slack_channel": "#from-file"}
    assert setting(from_file, "slack_channel", "SLACK_CHANNEL") == "#from-file"
    assert setting({"slack_channel": ""}, "slack_channel", "SLACK_CHANNEL") == "#from-env"
    assert setting(None, "slack_channel", "SLACK_CHANNEL") == "#from-env"
    monkeypatch.setenv("SLACK_CHANNEL", "")
    assert setting(None, "slack_channel", "SLACK_CHANNEL", "#default") == "#default"


def test_telegram_is_off_without_a_token(caplog):
    with caplog.at_level(logging.INFO, logger="rasa_server.channels"):
        channel = TelegramInput.from_credentials(None)
    assert isinstance(channel, DisabledChannel)
    assert channel.url_prefix() == "telegram"
    assert "Telegram channel off: TELEGRAM_ACCESS_TOKEN is not set" in caplog.text


def test_telegram_is_off_with_a_malformed_token(monkeypatch, caplog):
    monkeypatch.setenv("TELEGRAM_ACCESS_TOKEN", "not a token")
    with caplog.at_level(logging.ERROR, logger="rasa_server.channels"):
        assert isinstance(TelegramInput.from_credentials(None), DisabledChannel)
    assert "TELEGRAM_ACCESS_TOKEN is not a bot token" in caplog.text


@pytest.mark.parametrize("secret", [None, "", "has spaces", "x" * 257, "semi;colon"])
def test_telegram_refuses_to_start_without_a_valid_webhook_secret(monkeypatch, caplog, secret):
    monkeypatch.setenv("TELEGRAM_ACCESS_TOKEN", "123456:abc-DEF")
    if secret is not None:
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    with caplog.at_level(logging.ERROR, logger="rasa_server.channels"):
        channel = TelegramInput.from_credentials(None)
    assert isinstance(channel, DisabledChannel)
    assert "Telegram channel off: TELEGRAM_WEBHOOK_SECRET" in caplog.text


def test_telegram_reads_its_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("TELEGRAM_ACCESS_TOKEN", "123456:abc-DEF")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret_-X")
    monkeypatch.setenv("TELEGRAM_VERIFY", "b12_bot")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/webhooks/telegram/webhook")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/")
    channel = TelegramInput.from_credentials(None)
    assert isinstance(channel, TelegramInput)
    assert (channel.access_token, channel.verify) == ("123456:abc-DEF", "b12_bot")
    assert channel.webhook_url == "https://bot.example.org/webhooks/telegram/webhook"
    assert channel.webhook_secret == "s3cret_-X"
    bot = channel.get_output_channel()
    assert isinstance(bot, TelegramOutput)
    assert bot.server.api_url("123456:abc-DEF", "getMe") == (
        "http://127.0.0.1:8081/bot123456:abc-DEF/getMe")


def test_telegram_defaults_to_the_official_bot_api(monkeypatch):
    monkeypatch.setenv("TELEGRAM_ACCESS_TOKEN", "123456:abc-DEF")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret")
    bot = TelegramInput.from_credentials(None).get_output_channel()
    assert bot.server.api_url("t", "getMe") == "https://api.telegram.org/bott/getMe"


def test_slack_is_off_without_a_token(caplog):
    with caplog.at_level(logging.INFO, logger="rasa_server.channels"):
        assert isinstance(SlackInput.from_credentials(None), DisabledChannel)
    assert "Slack channel off: SLACK_TOKEN is not set" in caplog.text


def test_slack_refuses_to_start_without_the_signing_secret(monkeypatch, caplog):
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-1")
    with caplog.at_level(logging.ERROR, logger="rasa_server.channels"):
        channel = SlackInput.from_credentials(None)
    assert isinstance(channel, DisabledChannel)
    assert "Slack channel off: SLACK_SIGNING_SECRET is not set" in caplog.text


def test_slack_reads_its_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("SLACK_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("SLACK_CHANNEL", "C0B12")
    monkeypatch.setenv("SLACK_API_BASE_URL", "http://127.0.0.1:9/api")
    channel = SlackInput.from_credentials(None)
    assert isinstance(channel, SlackInput)
    assert (channel.slack_token, channel.slack_signing_secret) == ("xoxb-1", "s3cret")
    assert channel.slack_channel == "C0B12"
    bot = channel.get_output_channel("D0PAT")
    assert isinstance(bot, SlackBot)
    assert bot.client.base_url == "http://127.0.0.1:9/api/"
    assert bot.slack_channel == "D0PAT"
    assert SlackInput.from_credentials(None).get_output_channel().slack_channel == "C0B12"


async def test_an_off_channel_answers_503_and_the_server_still_serves():
    app = Sanic("channels_off_test", configure_logging=False)
    register([TelegramInput.from_credentials(None), SlackInput.from_credentials(None)], app,
             "/webhooks/")
    async with sanic_on_loopback(app) as port, aiohttp.ClientSession() as client:
        for name, reason in (("telegram", "TELEGRAM_ACCESS_TOKEN is not set"),
                             ("slack", "SLACK_TOKEN is not set")):
            url = f"http://127.0.0.1:{port}/webhooks/{name}/webhook"
            async with client.post(url, json={}) as reply:
                assert reply.status == 503
                assert (await reply.json())["reason"] == reason


def fits(parts: list[str], text: str, limit: int) -> None:
    """Every part within the limit, cut only at whitespace, and nothing lost or reordered."""
    position = 0
    for part in parts:
        assert 0 < len(part) <= limit
        found = text.index(part, position)
        assert text[position:found].strip() == ""
        position = found + len(part)
        assert position == len(text) or text[position].isspace()  # not inside a word
    assert text[position:].strip() == ""


@pytest.mark.parametrize("text", [
    "short",
    "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 40 for i in range(30)),
    "\n".join(f"- line {i} " + "dolor sit amet " * 9 for i in range(120)),
    "one long paragraph " * 900,
    "µmol/L – ünïcödé " * 700,
])
def test_split_keeps_every_word_whole(text):
    fits(split_message(text, 4096), text, 4096)
    fits(split_message(text, 3000), text, 3000)


def test_split_prefers_paragraphs_then_lines():
    paragraphs = ["A" + " a" * 1500, "B" + " b" * 1500, "C" + " c" * 1500]
    assert split_message("\n\n".join(paragraphs), 4096) == [
        "\n\n".join(paragraphs[:1]), "\n\n".join(paragraphs[1:2]), paragraphs[2]]
    lines = ["x" * 1000] * 5
    assert split_message("\n".join(lines), 2500) == ["\n".join(lines[:2])] * 2 + [lines[4]]


def test_split_counts_as_telegram_does_and_cuts_a_giant_word_only_as_a_last_resort():
    emoji = "🙂 " * 3000  # each emoji is two UTF-16 code units
    assert all(len(part.encode("utf-16-le")) // 2 <= 4096 for part in split_message(emoji, 4096))
    assert split_message("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert split_message("   ", 4096) == []

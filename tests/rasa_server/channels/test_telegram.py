"""Contract: the Telegram channel against a fake Bot API, with real-format updates."""

from __future__ import annotations

import json
import re
import time

import pytest

from b12core.disclaimer import full_disclaimer, short_disclaimer
from b12core.texts import say as bot_says
from rasa_server.channels.limits import MAX_MESSAGE_CHARS, too_long_reply
from rasa_server.channels.telegram import MESSAGE_LIMIT, TelegramOutput
from tests.rasa_server.channels.conftest import (
    TELEGRAM_TOKEN,
    TELEGRAM_WEBHOOK_SECRET,
    TELEGRAM_WEBHOOK_URL,
)
from tests.rasa_server.channels.fakes import BOT_USER

pytestmark = pytest.mark.e2e

WEBHOOK = "/webhooks/telegram/webhook"
QUOTE = re.compile(r'^"(?P<text>[^\n]+)"\n\(from the article, section "(?P<section>[^"]+)"\)$',
                   re.MULTILINE)
_update_ids = iter(range(10_000, 20_000))


def user(chat_id: int) -> dict:
    return {"id": chat_id, "is_bot": False, "first_name": "Pat", "language_code": "en"}


def text_update(chat_id: int, text: str) -> dict:
    return {"update_id": next(_update_ids), "message": {
        "message_id": next(_update_ids), "date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
        "from": user(chat_id), "text": text,
    }}


def button_update(chat_id: int, data: str, query_id: str) -> dict:
    return {"update_id": next(_update_ids), "callback_query": {
        "id": query_id, "from": user(chat_id), "chat_instance": "-4242", "data": data,
        "message": {"message_id": next(_update_ids), "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Pat"},
                    "from": BOT_USER, "text": "Would you like to add your other results?"},
    }}


def deliver(stack, update: dict, secret: str | None = TELEGRAM_WEBHOOK_SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    status, _ = stack.post(WEBHOOK, update, headers)
    return status


def keyboard(call) -> list[dict]:
    markup = json.loads(call.params.get("reply_markup", "{}"))
    return [button for row in markup.get("inline_keyboard", []) for button in row]


def test_the_webhook_is_set_once_the_server_has_started(channel_stack, telegram_api):
    calls = telegram_api.wait_for(lambda c: any(x.method == "setWebhook" for x in c), 10)
    [call] = [c for c in calls if c.method == "setWebhook"]
    assert call.params["url"] == TELEGRAM_WEBHOOK_URL
    assert call.params["secret_token"] == TELEGRAM_WEBHOOK_SECRET
    assert "callback_query" in json.loads(call.params["allowed_updates"])


def greet(stack, api, chat: int, text: str) -> list:
    """Open a conversation with ``text``; the messages sent up to the greeting's buttons."""
    assert deliver(stack, text_update(chat, text)) == 200
    return api.sent_to(chat, api.wait_for(lambda c: any(keyboard(m) for m in api.sent_to(chat, c))))


@pytest.mark.parametrize(("chat", "text"), [(5001, "hi"), (5002, "/start")])
def test_a_greeting_or_start_gets_the_full_disclaimer_then_buttons(
    channel_stack, telegram_api, chat, text
):
    # "/start" is what Telegram sends when someone opens the bot.
    sent = greet(channel_stack, telegram_api, chat, text)
    # One notification: the full disclaimer, then the greeting with its buttons.
    [greeting] = sent
    assert greeting.params["text"].startswith(full_disclaimer() + "\n\n")
    assert "What would you like to do?" in greeting.params["text"]
    assert {"text": "Check my results", "callback_data": "/request_lab_check"} in keyboard(greeting)


def test_lab_values_get_quotes_the_short_disclaimer_and_an_inline_keyboard(
    channel_stack, telegram_api, article_text
):
    chat = 5003
    update = text_update(chat, "My B12 is 1100 pg/mL and I have NASH")
    assert deliver(channel_stack, update) == 200
    calls = telegram_api.wait_for(lambda c: any(
        m.params["text"].endswith(short_disclaimer()) for m in telegram_api.sent_to(chat, c)))
    sent = telegram_api.sent_to(chat, calls)
    texts = [m.params["text"] for m in sent]

    # The turn is joined: one message (split only above Telegram's limit), not one per part.
    assert len(texts) <= 2, texts
    assert texts[0].startswith(full_disclaimer())
    expected = '1100 pg/mL (= 811.8 pmol/L). Reference table: in the band it calls "high"'
    assert any(expected in t for t in texts)
    quotes = [q for t in texts for q in QUOTE.finditer(t)]
    assert quotes, texts
    for quote in quotes:
        assert quote["text"] in article_text
        assert quote["section"] in article_text
    assert texts[-1].endswith(short_disclaimer())  # after the closing question

    [offer] = [m for m in sent if keyboard(m)]
    assert "Would you like to add your other results" in offer.params["text"]
    assert keyboard(offer) == [{"text": "Yes, add them", "callback_data": "/affirm"},
                               {"text": "No, thanks", "callback_data": "/deny"}]
    assert all(len(t) <= MESSAGE_LIMIT for t in texts)


def test_a_button_press_is_answered_and_read_as_its_payload(channel_stack, telegram_api):
    chat = 5004
    assert deliver(channel_stack, text_update(chat, "b12 was 1100 pg/mL, I have cirrhosis")) == 200
    telegram_api.wait_for(lambda c: any(keyboard(m) for m in telegram_api.sent_to(chat, c)))
    before = len(telegram_api.sent_to(chat))

    assert deliver(channel_stack, button_update(chat, "/affirm", "cbq-5004")) == 200
    calls = telegram_api.wait_for(lambda c: len(telegram_api.sent_to(chat, c)) > before)
    answers = [i for i, c in enumerate(calls) if c.method == "answerCallbackQuery"
               and c.params.get("callback_query_id") == "cbq-5004"]
    assert answers, "the callback query was not answered"
    replies = telegram_api.sent_to(chat, calls)[before:]
    # "/affirm" accepted the offer: the form asks for the next value.
    assert any("homocysteine result" in m.params["text"] for m in replies)
    assert answers[0] < calls.index(replies[0])


def test_delete_my_data_with_the_inline_button(channel_stack, telegram_api):

    chat = 5009
    greet(channel_stack, telegram_api, chat, "hi")
    assert deliver(channel_stack, text_update(chat, "delete my data")) == 200
    ask = bot_says("deletion.ask")
    calls = telegram_api.wait_for(
        lambda c: any(m.params.get("text") == ask for m in telegram_api.sent_to(chat, c)))
    question = [m for m in telegram_api.sent_to(chat, calls) if m.params.get("text") == ask][-1]
    yes = {b["text"]: b["callback_data"] for b in keyboard(question)}[
        bot_says("buttons.delete_yes")]
    assert len(yes.encode()) <= 64  # Telegram's limit for callback data
    before = len(telegram_api.sent_to(chat))
    assert deliver(channel_stack, button_update(chat, yes, "cbq-5009")) == 200
    calls = telegram_api.wait_for(lambda c: len(telegram_api.sent_to(chat, c)) > before)
    assert telegram_api.sent_to(chat, calls)[before].params["text"] == bot_says("deletion.done")
    # A new conversation: the greeting's full disclaimer again.
    before = len(telegram_api.sent_to(chat))
    assert deliver(channel_stack, text_update(chat, "hi")) == 200
    calls = telegram_api.wait_for(lambda c: len(telegram_api.sent_to(chat, c)) > before)
    assert telegram_api.sent_to(chat, calls)[before].params["text"].startswith(full_disclaimer())


def test_the_urgent_reply_is_a_message_of_its_own(channel_stack, telegram_api):
    from b12core.safety import first_reply

    chat = 5010
    greet(channel_stack, telegram_api, chat, "hi")
    before = len(telegram_api.sent_to(chat))
    text = "I have been vomiting blood since this morning"
    assert deliver(channel_stack, text_update(chat, text)) == 200
    calls = telegram_api.wait_for(lambda c: len(telegram_api.sent_to(chat, c)) > before)
    sent = telegram_api.sent_to(chat, calls)[before:]
    assert sent[0].params["text"] == first_reply(text)  # not joined to anything


def test_an_update_without_the_webhook_secret_is_refused(channel_stack, telegram_api):
    chat = 5005
    assert deliver(channel_stack, text_update(chat, "hi"), secret=None) == 403
    assert deliver(channel_stack, text_update(chat, "hi"), secret="wrong-secret") == 403
    # A later, genuine update is answered; the refused ones never were.
    greet(channel_stack, telegram_api, 5006, "hi")
    assert telegram_api.sent_to(chat) == []


def test_the_bot_is_verified_once_not_on_every_update(channel_stack, telegram_api):
    assert deliver(channel_stack, text_update(5007, "hello")) == 200
    assert [c.method for c in telegram_api.snapshot()].count("getMe") == 1


def test_an_over_long_message_gets_the_kind_reply_and_no_turn(channel_stack, telegram_api):
    chat = 5008
    text = ("my b12 is 300 pg/mL and " * 200)[: MAX_MESSAGE_CHARS + 400]
    assert deliver(channel_stack, text_update(chat, text)) == 200
    calls = telegram_api.wait_for(lambda c: telegram_api.sent_to(chat, c))
    assert [m.params["text"] for m in telegram_api.sent_to(chat, calls)] == [too_long_reply()]
    # Nothing reached the assistant: the next message opens the conversation.
    assert greet(channel_stack, telegram_api, chat, "hi")[1].params["text"].startswith(
        full_disclaimer())


class RecordingBot(TelegramOutput):
    def __init__(self) -> None:
        super().__init__(TELEGRAM_TOKEN)
        self.sent: list[tuple[str, dict | None]] = []

    async def send_message(self, chat_id, text, reply_markup=None, **kwargs):
        self.sent.append((text, reply_markup.to_python() if reply_markup else None))


def paragraph(i: int) -> str:
    return f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(60))


async def test_a_long_reply_is_split_at_paragraphs_with_buttons_on_the_last_part():
    start = "\n\n".join(paragraph(i) for i in range(40))[:9_990].rsplit(" ", 1)[0]
    text = start + " " + "e" * (10_000 - len(start) - 1)  # a 10,000-character reply
    assert len(text) == 10_000
    bot = RecordingBot()
    buttons = [{"title": "Yes, add them", "payload": "/affirm"},
               {"title": "No, thanks", "payload": "/deny"}]
    await bot.send_text_with_buttons("42", text, buttons)

    parts = [part for part, _ in bot.sent]
    assert len(parts) == 3
    assert all(len(part) <= MESSAGE_LIMIT for part in parts)
    assert all(part.startswith("Paragraph ") for part in parts)  # cut at paragraph breaks
    assert re.sub(r"\s+", " ", " ".join(parts)) == re.sub(r"\s+", " ", text)  # nothing lost
    assert [markup for _, markup in bot.sent[:-1]] == [None, None]
    assert bot.sent[-1][1]["inline_keyboard"] == [[
        {"text": "Yes, add them", "callback_data": "/affirm"},
        {"text": "No, thanks", "callback_data": "/deny"}]]

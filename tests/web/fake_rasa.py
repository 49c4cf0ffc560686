"""A scripted stand-in for Rasa's socket.io channel, for widget tests that need exact replies.

`python -m tests.web.fake_rasa --port N --origin http://127.0.0.1:M` speaks the same
protocol as Rasa 3.6 with session_persistence (session_request / session_confirm,
user_uttered / bot_uttered) and sends its replies through the real server's output
(rasa_server.channels.socketio.WidgetOutput, Rasa's SocketIOOutput underneath), so the wire
format of text, buttons, custom json and urgent replies is exactly what the widget gets.
"""

from __future__ import annotations

import argparse
import uuid

DISCLAIMER = ("Before we start: this assistant gives general information only. "
              "It is not medical advice.")
HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script> & <b>bold</b>'
QUOTE = ('"High serum B12 can coexist with functional deficiency."\n'
         '(from the article, section "B12, the Liver, and Misleading Blood Levels")')
LAB_TABLE = {
    "type": "lab_table",
    "caption": "Your results against general reference ranges",
    "columns": ["Test", "Your value", "In reference units", "Position", "Normal range"],
    "rows": [
        ["Vitamin B12", "1100 pg/mL", "811.8 pmol/L", "high", "258 to 664 pmol/L"],
        ["Homocysteine <script>", "17.2 µmol/L", "17.2 µmol/L", "elevated", "≤ 15 µmol/L"],
    ],
}


async def reply(output, recipient: str, message: str) -> None:
    """The scripted answer to one user message."""
    if message == "/greet":
        await output.send_text_message(recipient, DISCLAIMER)
        await output.send_text_with_buttons(recipient, "What would you like to do?", [
            {"title": "Check my results", "payload": "/request_lab_check"}])
    elif message == "html please":
        await output.send_text_message(recipient, HOSTILE)
        await output.send_text_with_buttons(recipient, "Pick one", [
            {"title": '<img src=y onerror="window.__xss=3">', "payload": "/deny"}])
    elif message == "urgent please":
        from b12core.safety import first_reply

        await output.send_text_message(recipient, first_reply("I am vomiting blood"))
    elif message == "crisis please":
        from b12core.safety import first_reply

        await output.send_text_message(recipient, first_reply("I want to end my life"))
    elif message == "long please":
        for index in range(12):
            await output.send_text_message(recipient, f"Part {index + 1} of a long reply.\n"
                                           + "A line to fill the view. " * 12)
    elif message == "form please":
        await send_form_question(output, recipient)
    elif message == "error please":
        from b12core.texts import say

        await output.send_text_message(recipient, say("service.error"))
    elif message == "four values please":
        await send_interpretation(output, recipient)
    elif message == "table please":
        # A custom json message reaches the client as bot_uttered's data only when it is
        # wrapped in "data" (SocketIOOutput.send_custom_json calls sio.emit(evt, **json)).
        await output.send_custom_json(recipient, {"data": dict(LAB_TABLE)})
        await output.send_text_message(recipient, f"Your results:\n- Vitamin B12: high\n\n{QUOTE}")
        await output.send_text_message(recipient, "General information only, not medical advice.")
    else:
        await output.send_text_message(recipient, f"You said: {message}")


# B12 as a printout gives it: with the lab's own range (shown beside the general one).
LAB_RANGE = {"text": "197-771", "unit": "pg/mL", "lower": "197", "upper": "771",
             "lower_inclusive": True, "upper_inclusive": True}
FOUR_VALUES = {"b12": {"value": "250", "unit": "pg/mL", "lab_range": LAB_RANGE},
               "homocysteine": {"value": "18", "unit": "µmol/L"},
               "mma": {"value": "0.5", "unit": "µmol/L"}, "folate": {"value": "3", "unit": "ng/mL"},
               "condition": "nash"}


async def send_form_question(output, recipient: str) -> None:
    """The real form's unit question for a bare B12 number, with its unit and skip buttons."""
    from rasa_sdk.executor import CollectingDispatcher

    from actions.lab_check import ActionAskB12
    from tests.trackers import make_tracker

    tracker = make_tracker("my b12 is 300", form="lab_form", requested="b12",
                           slots={"pending_value": {"analyte": "b12", "value": "300"}})
    dispatcher = CollectingDispatcher()
    await ActionAskB12().run(dispatcher, tracker, {})
    for message in dispatcher.messages:
        await output.send_text_with_buttons(recipient, message["text"], message["buttons"])


async def send_interpretation(output, recipient: str) -> None:
    """The real action's interpretation of four values, sent as Rasa would send it."""
    from rasa_sdk.executor import CollectingDispatcher

    from actions.lab_check import ActionInterpretLabs
    from tests.trackers import make_tracker

    tracker = make_tracker("four values please", slots=FOUR_VALUES)
    tracker.events[-1]["input_channel"] = "socketio"
    dispatcher = CollectingDispatcher()
    await ActionInterpretLabs().run(dispatcher, tracker, {})
    for message in dispatcher.messages:
        if message.get("custom"):
            await output.send_custom_json(recipient, dict(message["custom"]))
        elif message.get("buttons"):
            await output.send_text_with_buttons(recipient, message["text"], message["buttons"])
        else:
            await output.send_text_message(recipient, message["text"])


def build_app(origins: list[str]):
    import socketio
    from aiohttp import web

    from rasa_server.channels.socketio import WidgetOutput, maybe_await

    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins=origins)
    app = web.Application()
    sio.attach(app, socketio_path="/socket.io")

    @sio.on("session_request")
    async def session_request(sid, data):
        session_id = (data or {}).get("session_id") or uuid.uuid4().hex
        await maybe_await(sio.enter_room(sid, session_id))
        await sio.emit("session_confirm", session_id, room=sid)

    @sio.on("user_uttered")
    async def user_uttered(sid, data):
        session_id = (data or {}).get("session_id")
        if session_id:
            await reply(WidgetOutput(sio, "bot_uttered"), session_id, data.get("message", ""))

    async def health(_request):
        return web.json_response({"status": "ok"})

    app.router.add_get("/", health)
    return app


def main() -> None:
    from aiohttp import web

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--origin", action="append", required=True)
    args = parser.parse_args()
    web.run_app(build_app(args.origin), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()

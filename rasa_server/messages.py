"""Texts the Rasa server sends when part of the service fails.

They carry no health information, only what happened and what to do next,
including where to go if symptoms cannot wait for the chat to come back.
"""

ACTIONS_UNAVAILABLE = (
    "Sorry, part of this assistant is not responding right now, so I can't "
    "answer that message. Please try again in a minute or two; what you told me "
    "before is kept. If you feel very unwell or have severe symptoms, don't wait "
    "for this chat: call your local emergency number or go to an emergency "
    "department."
)

SERVICE_ERROR = (
    "Sorry, something went wrong on our side and your message was not processed. "
    "Please send it again in a minute. If you feel very unwell or have severe "
    "symptoms, don't wait for this chat: call your local emergency number or go "
    "to an emergency department."
)

DIALOGUE_RECOVERED = (
    "Sorry, I got stuck there. I've stopped the lab check (the values you gave "
    "are kept). You can say \"check my results\" to go on, \"start over\" to clear "
    "them, or ask me a question."
)

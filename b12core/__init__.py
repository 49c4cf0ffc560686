"""The pure core both processes share: what the assistant knows and how it reads input.

``kb`` (the article's passages and the answer index), ``labs`` (the deterministic lab
engine), ``safety`` (red-flag triage), ``disclaimer`` and ``replies`` (the assistant's own
texts), ``spacy_model`` (the project's spaCy pipeline) and ``knowledge`` (the one reader of
``knowledge/``). No rasa, rasa_sdk or web framework import anywhere below this package
(tests/test_architecture.py), so it runs in the Rasa server, the action server and the
command lines alike.
"""

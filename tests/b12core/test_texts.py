"""The text catalogue (knowledge/texts.yml): loaded strictly, every key the code names
exists with the placeholders it is given, every text is used, and no sentence the bot
says is left in the Python code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from b12core.knowledge import PROJECT_ROOT
from b12core.texts import TextsError, button, load_texts, placeholders, say, texts

# The code that talks to people: the action server, the pure core and the Rasa server.
USER_FACING = ("actions", "b12core", "rasa_server")
# Calls that fetch a catalogue text (limits.py imports ``say`` as ``bot_text``: it has a
# ``say`` of its own that sends a message).
CATALOGUE_CALLS = {"say": "", "bot_text": "", "button": "buttons."}
# Strings in these calls are for operators and developers, not for the people chatting.
OPERATOR_SINKS = {"debug", "info", "warning", "error", "exception", "critical", "log", "warn",
                  "filterwarnings", "print", "add_argument", "ArgumentParser", "SystemExit",
                  "_off"}
# Whole modules that never talk to people, and why.
OPERATOR_MODULES = {
    "b12core/labs/bench.py": "benchmark inputs: what people type, not what the bot says",
    "b12core/kb/__main__.py": "developer command line (python -m b12core.kb)",
    "b12core/labs/__main__.py": "developer command line (python -m b12core.labs)",
    "b12core/spacy_model.py": "the spaCy pipeline's package description",
    "rasa_server/__main__.py": "start-up problems printed for the operator",
    "rasa_server/quiet.py": "third-party warning texts that are silenced",
    "rasa_server/stores.py": "SQL",
    "rasa_server/forget.py": "SQL",
}
# Single strings elsewhere that are not the bot's words: the start of each, and why.
NOT_BOT_WORDS = {
    "rasa_server/resilience.py": {". Failed to validate Action server": "Rasa's own log text"},
    "rasa_server/channels/limits.py": {
        " [SQL statement and parameters withheld": "put in log lines",
        "Failed to parse arguments in line": "Rasa's warning, matched to keep it out of logs"},
}
_WORD = re.compile(r"[A-Za-z][a-z']+")


def _python_files():
    for package in USER_FACING:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            yield path.relative_to(PROJECT_ROOT).as_posix(), path


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def catalogue_calls():
    """(file, line, key or key prefix ending in ".", keyword names) of every catalogue call."""
    found = []
    for name, path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _call_name(node) in CATALOGUE_CALLS
                    and node.args):
                continue
            first, prefix = node.args[0], CATALOGUE_CALLS[_call_name(node)]
            # say("a" if x else "b", ...) names two keys.
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            fields = frozenset(k.arg for k in node.keywords if k.arg)
            if _call_name(node) == "button":
                fields = frozenset()
            for option in options:
                if isinstance(option, ast.Constant) and isinstance(option.value, str):
                    key = prefix + option.value
                elif isinstance(option, ast.JoinedStr):
                    # f"lab_check.ask.{analyte}": a pattern, each {...} one key part or more
                    key = prefix + "".join(
                        re.escape(v.value) if isinstance(v, ast.Constant) else "[a-z0-9_]+"
                        for v in option.values)
                    key = "^" + key + "$"
                else:
                    # limits.py's own say(message, ...) sends a message; any other call
                    # must name its key where it is made, so this test can check it.
                    assert _call_name(node) == "say" and name.endswith("limits.py"), (
                        f"{name}:{node.lineno}: name the key in the call")
                    continue
                found.append((name, node.lineno, key, fields))
    return found


def test_the_catalogue_loads_and_every_text_is_clean():
    catalogue = load_texts()
    assert len(catalogue) > 100
    for key, text in catalogue.items():
        assert text == " ".join(text.split()) or "\n" in text, key  # folded, no double spaces
        placeholders(text)


def test_every_key_the_code_names_exists_with_the_placeholders_it_is_given():
    catalogue = texts()
    calls = catalogue_calls()
    assert len(calls) > 80
    for name, line, key, fields in calls:
        keys = _keys(key, catalogue)
        assert keys and all(k in catalogue for k in keys), f"{name}:{line}: no text {key!r}"
        for k in keys:
            assert placeholders(catalogue[k]) == fields, (
                f"{name}:{line}: {k} needs {sorted(placeholders(catalogue[k]))}, "
                f"the code gives {sorted(fields)}")


def _keys(named: str, catalogue) -> list[str]:
    """The catalogue keys a call names: one key, or every key its f-string pattern matches."""
    if named.startswith("^"):
        return [k for k in catalogue if re.fullmatch(named[1:-1], k)]
    return [named]


def test_every_text_in_the_catalogue_is_used():
    catalogue = texts()
    used = {k for _, _, named, _ in catalogue_calls() for k in _keys(named, catalogue)}
    assert [k for k in catalogue if k not in used] == []


def _is_prose(text: str) -> bool:
    """A sentence or a label a person would read: four words or more that start with a
    capital letter or end like a sentence (lower-case phrases are what people type)."""
    text = text.strip()
    if len(_WORD.findall(text)) < 4 or text.count(" ") < 3:
        return False
    return text[:1].isupper() or text[-1:] in ".?!:"


def _strings(tree: ast.AST):
    parents = _parents(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            value = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and not isinstance(parents.get(node), ast.JoinedStr)):
            value = node.value
        else:
            continue
        if isinstance(parents.get(node), ast.Expr):
            continue  # a docstring
        up, for_operator = parents.get(node), False
        scopes = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module
        while up is not None and not isinstance(up, scopes):
            if isinstance(up, ast.Raise) or (isinstance(up, ast.Call)
                                             and _call_name(up) in OPERATOR_SINKS):
                for_operator = True
                break
            up = parents.get(up)
        if not for_operator:
            yield node.lineno, value


def test_no_sentence_the_bot_says_is_left_in_the_python_code():
    left = []
    for name, path in _python_files():
        if name in OPERATOR_MODULES:
            continue
        allowed = tuple(NOT_BOT_WORDS.get(name, {}))
        for line, value in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if _is_prose(value) and not value.startswith(allowed):
                left.append(f"{name}:{line}: {value[:70]!r}")
    assert left == [], "move these to knowledge/texts.yml:\n" + "\n".join(left)


def test_the_prose_check_finds_a_sentence_and_leaves_typed_phrases_alone():
    # The check itself must be able to fail.
    tree = ast.parse('X = "Sorry, I did not get that."\nY = ("none of them", "no idea at all")\n'
                     'def f():\n    """Why this exists, in four words."""\n'
                     '    logger.info("Started the server on a port")\n')
    assert [v for _, v in _strings(tree) if _is_prose(v)] == ["Sorry, I did not get that."]


def test_say_fills_exactly_the_placeholders_of_its_text():
    assert "2,000 characters" in say("channels.too_long", chars=2000)
    with pytest.raises(TextsError, match="needs"):
        say("channels.too_long")
    with pytest.raises(TextsError, match="needs"):
        say("deletion.ask", chars=1)
    with pytest.raises(TextsError, match="no text"):
        say("deletion.nothing_here")
    assert button("no_thanks", "/deny") == {"title": "No, thanks", "payload": "/deny"}
    assert button("dont_have_others")["payload"] == "I don't have the others"


@pytest.mark.parametrize("content, message", [
    ("a: {b: ''}\n", "non-empty text"),
    ("a: [x]\n", "non-empty text"),
    ("A: text\n", "lower-case key"),
    ("a: 'Give {} here'\n", "lower-case name"),
    ("a: 'Give {Name} here'\n", "lower-case name"),
    ("a: 'Give {name here'\n", "a:"),
    ("a: {}\n", "non-empty mapping"),
    ("a: '  padded'\n", "outer spaces"),
    ("[1, 2]\n", "non-empty mapping"),
])
def test_a_malformed_catalogue_fails_loudly(tmp_path: Path, content: str, message: str):
    path = tmp_path / "texts.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TextsError, match=message):
        load_texts(path)

"""The red-flag evaluation sets and the regression corpora, read the same way everywhere.

Every set was written by an outsider session that never saw the triage table, and split
into tune and test halves before any change:
- red_flag_eval.yml: its test half was measured once (urgent 138/163, calm 53/55), then
  tuned on;
- red_flag_eval_fresh.yml: its test half was measured once (urgent 136/165, calm 54/55)
  and then shown in full by an accident of pytest collection, so it became tuning data;
- red_flag_tune_extra.yml: tuning only (hard phrasings, idioms);
- red_flag_eval_final.yml: its test half was measured once (table alone urgent 149/165,
  calm 54/55; over REST 150/165, 54/55), then tuned on;
- red_flag_eval_v5.yml: tune half tuned on (first contact: urgent 142/165, calm 53/55); its
  test half was measured once (table alone urgent 145/165, calm 53/55; over REST 147/165,
  52/55), never read, then added to the learned detector's training data;
- red_flag_eval_v6.yml: tune half tuned on (first contact with the learned detector:
  urgent 164/165, calm 51/55); its test half is the untouched one that ``make test``
  reports (``held_out_cases``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[2] / "data"
NLU = Path(__file__).resolve().parents[3] / "data" / "nlu"
URGENT_CLASSES = ("gi_bleeding", "jaundice_acute", "encephalopathy", "abdomen", "neuro",
                  "chest_breathing", "fainting", "self_harm", "overdose", "fever_cirrhosis")
# The bar on the untouched test half.
MUST_BE_COMPLETE = ("self_harm", "neuro", "gi_bleeding")
URGENT_RECALL_TARGET = 0.99
CALM_ANSWERED_TARGET = 0.95


@dataclass(frozen=True)
class Case:
    text: str
    urgent: bool
    klass: str
    source: str


def eval_cases(name: str, half: str) -> list[Case]:
    data = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    return [Case(r["text"], r["label"] == "urgent", r["class"], f"{name}:{half}")
            for r in data[half]]


def every_case() -> list[Case]:
    """Every message of every red-flag set, both halves (for benchmarks, not scores)."""
    cases = []
    for path in sorted(DATA.glob("red_flag_*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for half in ("tune", "test"):
            if half in data:
                cases += eval_cases(path.name, half)
    return cases


def tune_cases() -> list[Case]:
    return [*eval_cases("red_flag_eval.yml", "tune"), *eval_cases("red_flag_eval.yml", "test"),
            *eval_cases("red_flag_eval_fresh.yml", "tune"),
            *eval_cases("red_flag_eval_fresh.yml", "test"),
            *eval_cases("red_flag_tune_extra.yml", "tune"),
            *eval_cases("red_flag_eval_final.yml", "tune"),
            *eval_cases("red_flag_eval_final.yml", "test"),
            *eval_cases("red_flag_eval_v5.yml", "tune"),
            *eval_cases("red_flag_eval_v5.yml", "test"),
            *eval_cases("red_flag_eval_v6.yml", "tune")]


def held_out_cases() -> list[Case]:
    return eval_cases("red_flag_eval_v6.yml", "test")


_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")


def nlu_examples() -> list[tuple[str, str]]:
    """(intent, text) of every NLU training example, entity annotations removed."""
    out = []
    for path in sorted(NLU.glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or ():
            for line in (item.get("examples") or "").splitlines():
                line = line.strip()
                if line.startswith("- ") and item.get("intent"):
                    text = _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), line[2:])
                    out.append((item["intent"], text))
    return out


def heldout_examples() -> list[tuple[str, str]]:
    data = yaml.safe_load((DATA / "nlu_heldout.yml").read_text(encoding="utf-8"))
    return [(m.get("intent", ""), m["text"]) for m in data["messages"]]


def _texts(node, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "question", "message") and isinstance(value, str):
                out.append(value)
            else:
                _texts(value, out)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, str):
                out.append(value)
            else:
                _texts(value, out)


TRIAGE_CALM_READING_HALVES = (
    ("v2", "tune"), ("v2", "test"), ("v3", "tune"), ("v3", "test"), ("v4", "tune"),
    ("v4", "test"), ("v5", "tune"), ("v5", "test"), ("v6", "tune"), ("v6", "test"),
    ("v7", "tune"), ("v7", "test"), ("v8", "tune"),
)


def ordinary_messages() -> list[str]:
    """Every message of the project's other test sets: questions, lab values, replies."""
    texts = [t for intent, t in nlu_examples() + heldout_examples()
             if intent != "report_red_flag"]
    for name in ("kb_questions.yml", "lab_messages.yml", "conversation_replies.yml"):
        _texts(yaml.safe_load((DATA / name).read_text(encoding="utf-8")), texts)
    # Lab reports, doses and histories as patients paste them (issue 15's reading sets):
    # the halves that had been used for tuning when the learned triage model was built
    # (knowledge/triage_learned.json); later halves join when the model is rebuilt.
    from tests.b12core.labs.reading_eval import load_cases

    for name, half in TRIAGE_CALM_READING_HALVES:
        texts += [case["text"] for case in load_cases(half, name)]
    return list(dict.fromkeys(texts))


def red_flag_examples() -> list[str]:
    return [t for intent, t in nlu_examples() + heldout_examples()
            if intent == "report_red_flag"]


def score(cases: list[Case], hits: list[bool]) -> dict[str, tuple[int, int]]:
    """Class -> (hits, total)."""
    right, total = Counter(), Counter()
    for case, hit in zip(cases, hits, strict=True):
        total[case.klass] += 1
        right[case.klass] += hit
    return {k: (right[k], total[k]) for k in total}


def summary(scores: dict[str, tuple[int, int]], cases: list[Case]) -> list[str]:
    urgent = [c for c in URGENT_CLASSES if c in scores]
    calm = [c for c in scores if c not in URGENT_CLASSES]
    u_hit = sum(scores[c][0] for c in urgent)
    u_all = sum(scores[c][1] for c in urgent)
    c_hit = sum(scores[c][0] for c in calm)
    c_all = sum(scores[c][1] for c in calm)
    lines = [f"urgent or crisis reply first: {u_hit}/{u_all} = {u_hit / u_all:.1%}; "
             f"calm answered (no alarm): {c_hit}/{c_all} = {c_hit / c_all:.1%} "
             f"(false-alarm rate {(c_all - c_hit) / c_all:.1%})"]
    lines.append("  recall per class: " + ", ".join(
        f"{c} {scores[c][0]}/{scores[c][1]}" for c in urgent))
    lines.append("  calm per class: " + ", ".join(
        f"{c} {scores[c][0]}/{scores[c][1]}" for c in calm))
    return lines


def meets_targets(scores: dict[str, tuple[int, int]]) -> list[str]:
    """The issue's bar, as a list of what falls short (empty when met)."""
    short = [f"{c}: {scores[c][0]}/{scores[c][1]}" for c in MUST_BE_COMPLETE
             if scores[c][0] < scores[c][1]]
    urgent = [scores[c] for c in URGENT_CLASSES if c in scores]
    calm = [v for c, v in scores.items() if c not in URGENT_CLASSES]
    if sum(h for h, _ in urgent) < URGENT_RECALL_TARGET * sum(n for _, n in urgent):
        short.append("urgent recall below 99%")
    if sum(h for h, _ in calm) < CALM_ANSWERED_TARGET * sum(n for _, n in calm):
        short.append("calm answered below 95%")
    return short

"""security/pip-audit-accepted.yml: every accepted finding is well formed and explained.

No network: this checks the file against constraints.txt and the installed venv only,
so a stale version or a vague reason fails here before `make audit` runs.
"""

from __future__ import annotations

import re

import pytest
from packaging.version import Version

ADVISORY_ID = re.compile(
    r"^(GHSA(-[23456789cfghjmpqrvwx]{4}){3}|CVE-\d{4}-\d{4,}|PYSEC-\d{4}-\d+)$"
)
# A reason must end in a verdict on this deployment, not only describe the advisory.
VERDICT = re.compile(r"\b(not reachable|not exploitable|reachable|exploitable)\b", re.I)
# What a pin quote looks like: a requirement with an operator, from a named package.
REQUIREMENT = re.compile(r"\b(requires|allows)\b.*(==|<|>=)")


@pytest.fixture(scope="module")
def entries(audit):
    return audit.load_accepted(audit.ACCEPTED)


@pytest.fixture(scope="module")
def pins(audit):
    return audit.audited_pins(audit.CONSTRAINTS, audit.venv_site_packages())


def test_the_file_passes_the_audit_scripts_own_checks(audit, entries):
    assert audit.entry_problems(entries) == []


def test_each_entry_names_a_package_at_its_pinned_version(audit, entries, pins):
    wrong = []
    for entry in entries:
        name = audit.canonical(entry["package"])
        if pins.get(name) != str(entry["version"]):
            wrong.append(f"{entry['id']}: {name} {entry['version']} (pinned: {pins.get(name)})")
    assert wrong == [], "accepted for a version that is not installed: re-read these"


def test_ids_and_aliases_are_advisory_ids(entries):
    bad = [
        vuln_id
        for entry in entries
        for vuln_id in [entry["id"], *entry.get("aliases", [])]
        if not ADVISORY_ID.match(vuln_id)
    ]
    assert bad == []


def test_the_fix_is_newer_than_the_pin(entries):
    fixed = [e for e in entries if e.get("fixed_in")]  # some advisories have no fix at all
    stale = [e["id"] for e in fixed if Version(str(e["fixed_in"])) <= Version(e["version"])]
    assert stale == [], "a fix at or below the pin means the finding is gone: remove the entry"


def test_each_pin_quote_is_a_requirement(entries):
    vague = [e["id"] for e in entries if not REQUIREMENT.search(e["pinned_by"])]
    assert vague == [], "pinned_by must quote the requirement that blocks the fix"


def test_each_reason_gives_a_verdict(entries):
    undecided = [e["id"] for e in entries if not VERDICT.search(e["reason"])]
    assert undecided == [], "say whether this deployment reaches the vulnerable code"


def test_no_reason_is_copied_from_another_entry(entries):
    reasons = [" ".join(e["reason"].split()) for e in entries]
    copied = sorted({r[:60] for r in reasons if reasons.count(r) > 1})
    assert copied == [], "each advisory concerns its own code path: explain each one"

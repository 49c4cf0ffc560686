"""scripts/audit.py: matching findings to accepted entries, and failing loudly.

pip-audit is replaced by a stub that prints a canned JSON report, so the gate's
verdicts (new finding, re-pinned finding, stale entry, unreachable service) are
checked without any network.
"""

from __future__ import annotations

import json
import stat

import pytest

REASON = (
    "The advisory concerns the pure-Python parser of an aiohttp.web server; this "
    "deployment runs no aiohttp server, only the client. Not reachable."
)


def entry(vuln_id="GHSA-aaaa-bbbb-cccc", aliases=("CVE-2024-1",), version="3.9.5", **extra):
    fields = {
        "id": vuln_id,
        "aliases": list(aliases),
        "package": "aiohttp",
        "version": version,
        "pinned_by": "rasa 3.6.21 requires aiohttp (>=3.9.0,<3.10)",
        "reason": REASON,
    }
    return fields | extra


def report(*vulns, skipped=()):
    deps = [{"name": "aiohttp", "version": "3.9.5", "vulns": list(vulns)}]
    deps += [{"name": name, "skip_reason": "Dependency not found on PyPI"} for name in skipped]
    return {"dependencies": deps, "fixes": []}


def vuln(vuln_id="CVE-2024-1", aliases=("GHSA-aaaa-bbbb-cccc",)):
    return {"id": vuln_id, "fix_versions": ["3.10.11"], "aliases": list(aliases)}


def test_a_finding_is_accepted_through_any_shared_id(audit):
    findings = audit.parse_report(report(vuln())).findings
    verdict = audit.judge(findings, [entry()])
    assert [f.id for f in verdict.accepted] == ["CVE-2024-1"]
    assert verdict.unaccepted == [] and verdict.stale == []


def test_an_unknown_finding_is_not_accepted(audit):
    findings = audit.parse_report(report(vuln("GHSA-zzzz-zzzz-zzzz", ()))).findings
    verdict = audit.judge(findings, [entry()])
    assert [f.id for f, _ in verdict.unaccepted] == ["GHSA-zzzz-zzzz-zzzz"]
    assert [e["id"] for e in verdict.stale] == ["GHSA-aaaa-bbbb-cccc"]


def test_an_acceptance_does_not_carry_over_to_another_version(audit):
    findings = audit.parse_report(report(vuln())).findings
    verdict = audit.judge(findings, [entry(version="3.9.4")])
    [(_, note)] = verdict.unaccepted
    assert "accepted for 3.9.4 only" in note


def test_an_entry_for_another_package_does_not_match(audit):
    findings = audit.parse_report(report(vuln())).findings
    verdict = audit.judge(findings, [entry(package="requests")])
    assert len(verdict.unaccepted) == 1


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"reason": ""}, "`reason` is missing"),
        ({"reason": "Not exploitable."}, "too short"),
        ({"pinned_by": None}, "`pinned_by` is missing"),
        ({"aliases": "CVE-2024-1"}, "`aliases` must be a list"),
        ({"version": 1.1}, "must be a string"),
    ],
)
def test_a_malformed_entry_is_reported(audit, broken, problem):
    [found] = audit.entry_problems([entry() | broken])
    assert problem in found


def test_the_same_advisory_accepted_twice_is_reported(audit):
    problems = audit.entry_problems([entry(), entry(vuln_id="CVE-2024-1", aliases=())])
    assert any("already accepted" in p for p in problems)


def test_a_service_that_answers_for_no_package_is_a_failure(audit):
    parsed = audit.parse_report({"dependencies": [{"name": "x", "skip_reason": "404"}]})
    with pytest.raises(audit.AuditError, match="answered for none of the 1 packages"):
        audit.check_coverage(parsed)


def test_a_skipped_package_is_a_failure(audit):
    with pytest.raises(audit.AuditError, match="1 of 2 packages could not be audited"):
        audit.check_coverage(audit.parse_report(report(skipped=["numpy"])))


def test_only_exact_pins_are_audited(audit, tmp_path):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# pins\nruamel.yaml==0.17.21  # comment\nrequests>=2\n")
    with pytest.raises(audit.AuditError, match="constraints.txt:3: not an exact pin"):
        audit.read_pins(constraints)
    constraints.write_text("ruamel.yaml==0.17.21\n")
    assert audit.read_pins(constraints) == {"ruamel-yaml": "0.17.21"}


@pytest.fixture
def gate(audit, tmp_path, monkeypatch, capsys):
    """Run main() against a stub pip-audit that prints `data` (or fails with `stderr`)."""
    monkeypatch.setattr(audit, "WORK_DIR", tmp_path / "work")
    monkeypatch.setattr(audit, "CACHE_DIR", tmp_path / "cache")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("aiohttp==3.9.5\n")

    def run(data=None, stderr="", entries=()):
        accepted = tmp_path / "accepted.yml"
        accepted.write_text(json.dumps({"accepted": list(entries)}))
        (tmp_path / "report.json").write_text(json.dumps(data) if data else "")
        stub = tmp_path / "pip-audit"
        stub.write_text(
            f"#!/bin/sh\ncat '{tmp_path / 'report.json'}'\necho '{stderr}' >&2\n"
            f"[ -s '{tmp_path / 'report.json'}' ] || exit 1\n"
        )
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
        args = ["--accepted", str(accepted), "--constraints", str(constraints)]
        code = audit.main([*args, "--pip-audit", str(stub)])
        out = capsys.readouterr()
        return code, out.out + out.err

    return run


def test_the_gate_passes_when_every_finding_is_accepted(gate):
    code, output = gate(report(vuln()), entries=[entry()])
    assert code == 0
    assert "packages audited, 1 findings, all accepted" in output


def test_the_gate_fails_on_a_new_finding_and_names_it(gate):
    code, output = gate(report(vuln()))
    assert code == 1
    assert "aiohttp 3.9.5: CVE-2024-1 (GHSA-aaaa-bbbb-cccc), fixed in 3.10.11" in output


def test_the_gate_warns_about_a_stale_acceptance(gate):
    code, output = gate(report(), entries=[entry()])
    assert code == 0
    assert "no longer reported" in output


def test_the_gate_fails_when_pip_audit_cannot_reach_its_service(gate):
    code, output = gate(stderr="ConnectionError: Failed to resolve api.osv.dev")
    assert code == 1
    assert "vulnerability service cannot be reached" in output

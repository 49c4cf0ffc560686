"""`make audit`: pip-audit the pinned dependencies; every finding must be accepted with a reason.

Rasa 3.6.21 pins old releases (aiohttp<3.10, protobuf 4.23.3, ...), so some known
vulnerabilities cannot be fixed by upgrading. Each one we live with is written down in
security/pip-audit-accepted.yml: why it cannot be upgraded and why it does or does not
reach this deployment. A finding that is not written down fails the audit, and so does
an audit that could not be done: a vulnerability service that answers for no package
is a failure, never a pass.

What is audited: the exact pins of constraints.txt (what `make install` installs), plus
pip, setuptools and wheel as installed in .venv, which `pip freeze` leaves out of
constraints.txt although rasa pins setuptools. pip-audit runs from its own venv
(var/audit-venv) with --no-deps --disable-pip: nothing is resolved or installed, each
pin is only looked up.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ACCEPTED = PROJECT_ROOT / "security" / "pip-audit-accepted.yml"
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
PIP_AUDIT = PROJECT_ROOT / "var" / "audit-venv" / "bin" / "pip-audit"
WORK_DIR = PROJECT_ROOT / "var" / "audit"
CACHE_DIR = PROJECT_ROOT / "var" / "cache" / "pip-audit"
# Installed into every venv but never listed by `pip freeze`, so never in constraints.txt.
INSTALLER_PACKAGES = ("pip", "setuptools", "wheel")
REQUIRED_FIELDS = ("id", "package", "version", "pinned_by", "reason")
# A reason must say which code path the advisory concerns and whether we reach it.
MIN_REASON_CHARS = 120
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


class AuditError(Exception):
    """The audit could not be done: reported as a failure, never as a pass."""


def canonical(name: str) -> str:
    """PEP 503 name, so `ruamel.yaml`, `ruamel-yaml` and `Ruamel_YAML` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """`name==version` pins by canonical name; --no-deps audits only exact pins."""
    pins = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        if not match:
            raise AuditError(f"{path.name}:{number}: not an exact pin: {raw!r}")
        pins[canonical(match[1])] = match[2]
    return pins


def venv_site_packages(root: Path = PROJECT_ROOT) -> Path | None:
    """The project venv's site-packages, whichever Python runs this script."""
    found = sorted((root / ".venv" / "lib").glob("python3.*/site-packages"))
    return found[0] if found else None


def installer_pins(site_packages: Path | None) -> dict[str, str]:
    """Versions of pip, setuptools and wheel installed in the project venv."""
    if site_packages is None:
        return {}
    pins = {}
    for dist in metadata.distributions(path=[str(site_packages)]):
        name = canonical(dist.metadata["Name"] or "")
        if name in INSTALLER_PACKAGES:
            pins[name] = dist.version
    return pins


def audited_pins(constraints: Path, site_packages: Path | None) -> dict[str, str]:
    """Everything the audit looks up: the constraints plus the venv's installer packages."""
    pins = read_pins(constraints)
    for name, version in installer_pins(site_packages).items():
        pins.setdefault(name, version)
    return pins


def load_accepted(path: Path) -> list[dict]:
    """The accepted findings; an empty or missing list means none is accepted."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = data.get("accepted") if isinstance(data, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise AuditError(f"{path.name}: `accepted` must be a list")
    return entries


def entry_problems(entries: list) -> list[str]:
    """What is wrong with the accepted entries; checked before any network call."""
    problems = []
    seen: dict[str, str] = {}
    for index, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            problems.append(f"entry {index}: not a mapping")
            continue
        label = f"entry {index} ({entry.get('id', 'no id')})"
        for key in REQUIRED_FIELDS:
            value = entry.get(key)
            if value is not None and not isinstance(value, str):
                problems.append(f"{label}: `{key}` must be a string (quote versions: '1.10')")
            elif not value or not value.strip():
                problems.append(f"{label}: `{key}` is missing or empty")
        reason = entry.get("reason")
        if isinstance(reason, str) and 0 < len(reason.strip()) < MIN_REASON_CHARS:
            problems.append(
                f"{label}: `reason` is too short to say which code path the advisory "
                f"concerns and whether this deployment reaches it ({MIN_REASON_CHARS}+ chars)"
            )
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            problems.append(f"{label}: `aliases` must be a list of ids")
            aliases = []
        for vuln_id in [entry.get("id"), *aliases]:
            if not isinstance(vuln_id, str):
                continue
            key = f"{canonical(str(entry.get('package', '')))} {vuln_id}"
            if key in seen:
                problems.append(f"{label}: {vuln_id} is already accepted by {seen[key]}")
            seen[key] = label
    return problems


@dataclass(frozen=True)
class Finding:
    """One vulnerability pip-audit reported for one pinned package."""

    package: str
    version: str
    id: str
    aliases: tuple[str, ...] = ()
    fix_versions: tuple[str, ...] = ()
    description: str = ""

    @property
    def ids(self) -> set[str]:
        return {self.id, *self.aliases}

    def describe(self) -> str:
        aliases = f" ({', '.join(sorted(self.aliases))})" if self.aliases else ""
        fixed = f", fixed in {', '.join(self.fix_versions)}" if self.fix_versions else ""
        summary = " ".join(self.description.split())[:110]
        return f"{self.package} {self.version}: {self.id}{aliases}{fixed}\n      {summary}"


@dataclass
class Report:
    """pip-audit's JSON report, read into findings, audited packages and skips."""

    findings: list[Finding] = field(default_factory=list)
    audited: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def parse_report(data: dict) -> Report:
    """Read `pip-audit --format json` output."""
    report = Report()
    for dep in data.get("dependencies", []):
        name = dep["name"]
        if "skip_reason" in dep:
            report.skipped.append((name, dep["skip_reason"]))
            continue
        report.audited.append(name)
        for vuln in dep.get("vulns", []):
            report.findings.append(
                Finding(
                    package=canonical(name),
                    version=dep["version"],
                    id=vuln["id"],
                    aliases=tuple(vuln.get("aliases", [])),
                    fix_versions=tuple(vuln.get("fix_versions", [])),
                    description=vuln.get("description") or "",
                )
            )
    return report


def check_coverage(report: Report) -> None:
    """Fail when any package went unaudited: pip-audit itself only warns and passes."""
    if not report.skipped:
        return
    total = len(report.skipped) + len(report.audited)
    if not report.audited:
        raise AuditError(
            f"the vulnerability service answered for none of the {total} packages, so "
            "nothing was audited. With the PyPI service this means "
            "https://pypi.org/pypi/<name>/<version>/json is unreachable or blocked from "
            "this network (pip-audit reads its 404s as 'not on PyPI' and would pass). "
            f"First skip: {report.skipped[0][1]}"
        )
    lines = "\n".join(f"  {name}: {reason}" for name, reason in report.skipped)
    raise AuditError(f"{len(report.skipped)} of {total} packages could not be audited:\n{lines}")


@dataclass
class Verdict:
    """Findings held against the accepted file."""

    accepted: list[Finding] = field(default_factory=list)
    unaccepted: list[tuple[Finding, str]] = field(default_factory=list)
    stale: list[dict] = field(default_factory=list)


def judge(findings: list[Finding], entries: list[dict]) -> Verdict:
    """Match findings to entries by package and any shared id (id or alias)."""
    verdict = Verdict()
    used: set[int] = set()
    for finding in findings:
        match = None
        for index, entry in enumerate(entries):
            ids = {entry["id"], *entry.get("aliases", [])}
            if canonical(entry["package"]) == finding.package and ids & finding.ids:
                match = index
                break
        if match is None:
            verdict.unaccepted.append((finding, ""))
            continue
        used.add(match)
        accepted_version = str(entries[match]["version"])
        if accepted_version != finding.version:
            # The reason quotes the old pin: someone must re-read it for the new one.
            note = f"accepted for {accepted_version} only: review the entry for {finding.version}"
            verdict.unaccepted.append((finding, note))
        else:
            verdict.accepted.append(finding)
    verdict.stale = [entry for index, entry in enumerate(entries) if index not in used]
    return verdict


def run_pip_audit(
    requirements: Path, pip_audit: Path, service: str, osv_url: str | None, timeout: int
) -> dict:
    """pip-audit's JSON report for the pinned requirements file."""
    if not pip_audit.exists():
        raise AuditError(f"{pip_audit} is missing: `make audit` creates var/audit-venv")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    command = [str(pip_audit), "-r", str(requirements), "--no-deps", "--disable-pip"]
    command += ["--format", "json", "--progress-spinner", "off"]
    command += ["--cache-dir", str(CACHE_DIR), "--timeout", str(timeout)]
    command += ["--vulnerability-service", service]
    if osv_url:
        command += ["--osv-url", osv_url]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        tail = "\n".join(result.stderr.strip().splitlines()[-4:])
        hint = ""
        if re.search(r"Connection|resolve|timed out|blocking", result.stderr, re.IGNORECASE):
            hint = f"the {service} vulnerability service cannot be reached. "
        raise AuditError(
            f"{hint}pip-audit exited {result.returncode} without a report:\n{tail}"
        ) from None


def print_verdict(verdict: Verdict, accepted_path: Path) -> None:
    for entry in verdict.stale:
        print(
            f"audit: warning: accepted but no longer reported, remove it from "
            f"{accepted_path.name}: {entry['package']} {entry['version']} {entry['id']}"
        )
    if verdict.unaccepted:
        print(f"audit: {len(verdict.unaccepted)} finding(s) not accepted in {accepted_path.name}:")
        for finding, note in verdict.unaccepted:
            print(f"  - {finding.describe()}")
            if note:
                print(f"      {note}")
        print("Upgrade the package if its pins allow, or accept the finding with a reason")
        print("(security/README-audit.md says how).")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accepted", type=Path, default=ACCEPTED)
    parser.add_argument("--constraints", type=Path, default=CONSTRAINTS)
    parser.add_argument("--pip-audit", type=Path, default=PIP_AUDIT)
    parser.add_argument("--service", choices=("pypi", "osv"), default="pypi")
    parser.add_argument("--osv-url", help="an OSV-compatible mirror (with --service osv)")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        entries = load_accepted(args.accepted)
        problems = entry_problems(entries)
        if problems:
            raise AuditError(f"{args.accepted.name} is invalid:\n  " + "\n  ".join(problems))
        site_packages = venv_site_packages()
        if site_packages is None:
            print("audit: warning: no .venv, so pip, setuptools and wheel are not audited")
        pins = audited_pins(args.constraints, site_packages)
        WORK_DIR.mkdir(parents=True, exist_ok=True)
        requirements = WORK_DIR / "requirements.txt"
        requirements.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
        data = run_pip_audit(requirements, args.pip_audit, args.service, args.osv_url, args.timeout)
        report = parse_report(data)
        check_coverage(report)
    except AuditError as error:
        print(f"audit: FAILED: {error}", file=sys.stderr)
        return 1
    verdict = judge(report.findings, entries)
    print_verdict(verdict, args.accepted)
    seconds = time.monotonic() - started
    counts = f"{len(report.audited)} packages audited, {len(report.findings)} findings"
    if verdict.unaccepted:
        print(f"audit: FAILED: {counts}, {len(verdict.unaccepted)} not accepted ({seconds:.1f} s)")
        return 1
    print(f"audit: OK: {counts}, all accepted ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

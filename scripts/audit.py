"""Known vulnerabilities of both locked environments, by pip-audit, against the accepted list.

    .venv/bin/python scripts/audit.py [--strict]        (make audit; make test runs it before the tests)

pip-audit reads the pinned versions from requirements-test.lock (every package of requirements.lock, at the same
version, plus the test tools) and bot/requirements.lock (the Rasa server); nothing is installed or resolved
(--disable-pip). Every vulnerability it reports must be listed for that lock in security/pip-audit-ignore.txt,
with why it is accepted and what would fix it; any other fails the audit (exit 1). An entry no longer reported
is named, so the list can be trimmed.

Vulnerability data, the first that answers: PyPI's per-release JSON (pip-audit's default service), OSV's API,
or an OSV-format folder of advisories named by FAQBOT_ADVISORY_DB (a checkout of the PyPA advisory database,
or OSV's PyPI export unzipped), served to pip-audit on loopback. Where none answers, the audit says so and
passes, or fails with --strict (or FAQBOT_AUDIT_STRICT=1), exit 3.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements-test.lock", "bot/requirements.lock")
IGNORE_FILE = ROOT / "security" / "pip-audit-ignore.txt"
PYPI_PROBE = "https://pypi.org/pypi/pip-audit/2.10.1/json"
OSV_URL = "https://api.osv.dev/v1/query"
TIMEOUT = 15


@dataclass
class Accepted:
    id: str
    package: str
    locks: set[str]
    why: str = ""
    fix: str = ""
    found: bool = False


@dataclass
class Finding:
    lock: str
    package: str
    version: str
    id: str
    aliases: list[str] = field(default_factory=list)
    fix_versions: list[str] = field(default_factory=list)
    description: str = ""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_accepted(path: Path = IGNORE_FILE) -> list[Accepted]:
    """Entries: `ID  PACKAGE  LOCK[,LOCK]` at the start of a line, then indented `why:` and `fix:` paragraphs."""
    entries: list[Accepted] = []
    problems: list[str] = []
    key = ""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            parts = line.split()
            if len(parts) != 3:
                problems.append(f"line {number}: expected `ID PACKAGE LOCK[,LOCK]`, got {line!r}")
                continue
            entries.append(Accepted(parts[0], canonical(parts[1].split("==")[0]), set(parts[2].split(","))))
            key = ""
        elif entries:
            text = line.strip()
            head, _, rest = text.partition(":")
            if head in ("why", "fix"):
                key, text = head, rest.strip()
            if key:
                setattr(entries[-1], key, (getattr(entries[-1], key) + " " + text).strip())
    for entry in entries:
        if not entry.why or not entry.fix:
            problems.append(f"{entry.id} ({entry.package}): needs both a `why:` and a `fix:` paragraph")
        for lock in sorted(entry.locks - set(LOCKS)):
            problems.append(f"{entry.id}: unknown lock {lock} (one of {', '.join(LOCKS)})")
    if problems:
        raise SystemExit(f"audit: {path.relative_to(ROOT)}:\n  " + "\n  ".join(problems))
    return entries


# --- where the vulnerability data comes from ---------------------------------------------------------------


def pypi_answers() -> bool:
    try:
        with urllib.request.urlopen(PYPI_PROBE, timeout=TIMEOUT) as response:
            return bool(response.status == 200 and "vulnerabilities" in json.load(response))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def osv_answers() -> bool:
    query = json.dumps({"package": {"name": "pip-audit", "ecosystem": "PyPI"}, "version": "2.10.1"}).encode()
    request = urllib.request.Request(OSV_URL, data=query, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _version(text: str) -> Any:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


def _affects(affected: dict[str, Any], version: Any, text: str) -> bool:
    if text in affected.get("versions", []):
        return True
    for ranges in affected.get("ranges", []):
        if ranges.get("type") != "ECOSYSTEM":
            continue
        events = []
        for event in ranges.get("events", []):
            kind, value = next(iter(event.items()))
            at = _version("0" if value == "0" else value)
            if at is not None:
                events.append((at, kind))
        inside = False
        for at, kind in sorted(events, key=lambda e: e[0]):
            if kind == "introduced" and version >= at:
                inside = True
            elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
                inside = False
        if inside:
            return True
    return False


class AdvisoryFolder:
    """OSV records (JSON or YAML, any depth) indexed by PyPI package name, answering OSV's /v1/query."""

    def __init__(self, folder: Path) -> None:
        import yaml

        self.by_package: dict[str, list[dict[str, Any]]] = {}
        for path in sorted(folder.rglob("*")):
            if path.suffix not in (".json", ".yaml", ".yml") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            try:
                record = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
            except (ValueError, yaml.YAMLError):
                continue
            if not isinstance(record, dict) or "id" not in record:
                continue
            for affected in record.get("affected") or []:
                package = affected.get("package") or {}
                if package.get("ecosystem") == "PyPI" and package.get("name"):
                    package["name"] = canonical(package["name"])
                    self.by_package.setdefault(package["name"], []).append(record)
        self.count = sum(len(records) for records in self.by_package.values())

    def query(self, name: str, text: str) -> list[dict[str, Any]]:
        version = _version(text)
        if version is None:
            return []
        found = []
        for record in self.by_package.get(canonical(name), []):
            for affected in record.get("affected") or []:
                if (affected.get("package") or {}).get("name") == canonical(name) and _affects(affected, version, text):
                    found.append(json.loads(json.dumps(record, default=str)))
                    break
        return found


def serve(folder: AdvisoryFolder) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            vulns = folder.query(body["package"]["name"], body["version"])
            data = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/query"


# --- the audit ----------------------------------------------------------------------------------------------


def run_pip_audit(lock: str, service: list[str]) -> tuple[list[Finding], list[str]]:
    """pip-audit over one lock: what it found, and the packages it could not look up."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--disable-pip", "-r", str(ROOT / lock), "-f", "json"]
        command += ["-o", str(out), "--desc", "on", "--aliases", "on", "--progress-spinner", "off", *service]
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if not out.exists():
            raise SystemExit(f"audit: pip-audit failed on {lock}:\n{result.stderr.strip()}")
        report = json.loads(out.read_text(encoding="utf-8"))
    findings: list[Finding] = []
    skipped: list[str] = []
    for dep in report["dependencies"]:
        if "skip_reason" in dep:
            skipped.append(dep["name"])
        for vuln in dep.get("vulns", []):
            findings.append(
                Finding(
                    lock,
                    dep["name"],
                    dep["version"],
                    vuln["id"],
                    vuln.get("aliases", []),
                    vuln.get("fix_versions", []),
                    vuln.get("description", ""),
                )
            )
    return findings, skipped


def count_pins(lock: str) -> int:
    text = ROOT.joinpath(lock).read_text(encoding="utf-8")
    return len(re.findall(r"^[A-Za-z0-9][A-Za-z0-9._-]*==", text, re.M))


def matching(finding: Finding, accepted: list[Accepted]) -> Accepted | None:
    names = {finding.id, *finding.aliases}
    for entry in accepted:
        if entry.id in names and finding.lock in entry.locks and entry.package == finding.package:
            return entry
    return None


def choose_service() -> tuple[list[str], str]:
    """pip-audit's arguments for the first source of vulnerability data that answers, and its name."""
    if pypi_answers():
        return ["-s", "pypi"], "PyPI's per-release vulnerability data"
    if osv_answers():
        return ["-s", "osv"], "OSV's API"
    folder_name = os.environ.get("FAQBOT_ADVISORY_DB")
    if folder_name:
        folder = AdvisoryFolder(Path(folder_name))
        _, url = serve(folder)  # a daemon thread: it ends with this process
        return ["-s", "osv", "--osv-url", url], f"{folder.count} advisories in {folder_name}"
    return [], ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="fail (exit 3) when no vulnerability data answers")
    args = parser.parse_args()
    strict = args.strict or os.environ.get("FAQBOT_AUDIT_STRICT") == "1"
    accepted = read_accepted()

    service, source = choose_service()
    if not service:
        print(
            "audit: NOT RUN: no vulnerability data could be reached (PyPI's per-release JSON, OSV's API) and"
            " FAQBOT_ADVISORY_DB names no folder of advisories; see README.md, Dependencies.",
            file=sys.stderr,
        )
        return 3 if strict else 0

    new: list[Finding] = []
    for lock in LOCKS:
        findings, skipped = run_pip_audit(lock, service)
        total = count_pins(lock)
        if skipped and len(skipped) == total:
            print(f"audit: NOT RUN on {lock}: {source} knew none of its {total} packages.", file=sys.stderr)
            if strict:
                return 3
            continue
        known = [f for f in findings if matching(f, accepted)]
        unknown = [f for f in findings if not matching(f, accepted)]
        for finding in known:
            entry = matching(finding, accepted)
            assert entry is not None
            entry.found = True
        new += unknown
        print(
            f"audit: {lock}: {total} packages, {len(findings)} known vulnerabilities"
            f" ({len(known)} accepted in {IGNORE_FILE.relative_to(ROOT)}, {len(unknown)} new)"
            + (f"; not looked up: {', '.join(skipped)}" if skipped else "")
        )
        for finding in sorted(known, key=lambda f: (f.package, f.id)):
            print(f"  accepted  {finding.id:<22} {finding.package}=={finding.version}")
    print(f"audit: data from {source}")
    for entry in accepted:
        if not entry.found:
            print(
                f"audit: {entry.id} ({entry.package}) was not reported: once fixed, remove it from {IGNORE_FILE.name}"
            )
    if new:
        print("audit: NEW vulnerabilities (fix them, or list each with why and fix in security/pip-audit-ignore.txt):")
        for f in sorted(new, key=lambda f: (f.lock, f.package, f.id)):
            also = f" ({', '.join(f.aliases)})" if f.aliases else ""
            fixed = ", ".join(f.fix_versions) or "no fixed release"
            print(f"  {f.id}{also}  {f.package}=={f.version} in {f.lock}; fixed in: {fixed}")
            print(f"      {f.description[:200]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

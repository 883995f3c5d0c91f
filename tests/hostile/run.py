"""schemathesis against a running service's /openapi.json, every check on, and the figures printed.

    python -m tests.hostile.run --base-url http://127.0.0.1:8000 --token=TOKEN [--max-examples 200]
    make fuzz URL=http://127.0.0.1:8000 TOKEN=TOKEN [EXAMPLES=200]

(TOKEN from `make token ROLE=editor` on that instance; write `--token=...`, as a token may begin with "-".)

The token (role editor or admin) lets the staff and editors' operations be tested past their 401; the
run changes the service's content (it creates, edits, imports and deletes pairs), so point it at a
test instance, never at production. Prints the operations, the test cases generated, and each kind of
failure found (schemathesis's own report of each failure, with a curl command to reproduce it, comes
first). Exits 1 when anything failed. tests/integration/test_schemathesis.py runs the same with fewer
examples.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@dataclass
class Result:
    operations: int
    tested: int
    test_cases: int
    failures: list[dict] = field(default_factory=list)  # one per kind: code, title, count, operations
    errors: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    output: str = ""  # schemathesis's own report

    @property
    def failed(self) -> int:
        return sum(f["count"] for f in self.failures)

    def summary(self) -> str:
        lines = [
            f"schemathesis: {self.tested} of {self.operations} operations tested, {self.test_cases} test cases "
            f"in {self.seconds:.0f} s; {self.failed} failures, {sum(e['count'] for e in self.errors)} errors",
        ]
        for f in self.failures:
            lines.append(f"  {f['code']} {f['title']}: {f['count']} ({', '.join(f['operations'])})")
        for e in self.errors:
            lines.append(f"  error: {e['title']}: {e['count']}")
        return "\n".join(lines)


def run(
    base_url: str,
    token: str,
    max_examples: int = 50,
    phases: str = "examples,coverage,fuzzing,stateful",
    # One worker: Python 3.11's ast module is not thread-safe (CPython gh-106905), and Hypothesis parses
    # lambdas' source while building strategies, so two schemathesis workers can die with "SystemError:
    # AST constructor recursion depth mismatch" (seen in a fresh-clone run). The server is the bottleneck anyway.
    workers: int = 1,
    seed: int | None = None,
    max_time: int | None = None,
) -> Result:
    """Run schemathesis with every check against `base_url`; the figures from its JSON report."""
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as tmp:
        report = Path(tmp) / "report.json"
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "--no-color",
            "run",
            base_url.rstrip("/") + "/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(max_examples),
            "--phases",
            phases,
            "--workers",
            str(workers),
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--request-timeout",
            "60",
            "--generation-database",
            "none",
            "--warnings",
            "off",
        ]
        if seed is not None:
            command += ["--seed", str(seed)]
        if max_time is not None:
            command += ["--max-time", str(max_time)]
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp)
        output = done.stdout + done.stderr
        if not report.exists():
            raise RuntimeError(f"schemathesis wrote no report (exit {done.returncode}):\n{output[-4000:]}")
        data = json.loads(report.read_text())
    ops = data.get("operations") or {}
    return Result(
        operations=ops.get("total", 0),
        tested=ops.get("tested", 0),
        test_cases=data["test_cases"]["generated"],
        failures=data["failures"],
        errors=data["errors"],
        seconds=float(data.get("running_time") or 0),
        output=output.replace(token, "[token]"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="where the service answers, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="a bearer token of role editor or admin")
    parser.add_argument("--max-examples", type=int, default=200, help="test cases per operation and phase")
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--workers", type=int, default=1, help="more than 1 may crash on Python 3.11 (see run())")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--max-time", type=int, help="seconds: fuzzing and stateful testing repeat until spent")
    args = parser.parse_args(argv)
    result = run(args.base_url, args.token, args.max_examples, args.phases, args.workers, args.seed, args.max_time)
    if result.failures or result.errors:
        print(result.output)
    print(result.summary())
    return 1 if result.failures or result.errors else 0


if __name__ == "__main__":
    sys.exit(main())

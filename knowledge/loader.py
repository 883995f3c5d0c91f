"""Loads the shipped Q&A files (knowledge/qa/*.yml) into validated pairs.

Every problem names the file, the pair and the field, so an editor can find it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from knowledge.schema import QAPair

# libyaml's safe loader where PyYAML was built with it (ten times faster), else the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

QA_DIR = Path(__file__).resolve().parent / "qa"


@dataclass(frozen=True)
class Problem:
    file: str
    pair: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: pair {self.pair}: {self.field}: {self.message}"


class ContentError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def validation_problems(exc: ValidationError, file: str, pair: str) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(pair)"
        out.append(Problem(file, pair, loc, err["msg"].removeprefix("Value error, ")))
    return out


def load_pairs(qa_dir: Path = QA_DIR) -> list[QAPair]:
    """All pairs of all files; raises ContentError listing every problem found."""
    return [pair for _file, pair in load_pair_files(qa_dir)]


def load_pair_files(qa_dir: Path = QA_DIR) -> list[tuple[str, QAPair]]:
    """(file name, pair) for every pair; raises ContentError listing every problem found."""
    pairs: list[tuple[str, QAPair]] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    files = sorted(qa_dir.glob("*.yml")) + sorted(qa_dir.glob("*.yaml"))
    for path in files:
        name = path.name
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        except yaml.YAMLError as exc:
            problems.append(Problem(name, "-", "(file)", f"not valid YAML: {exc}"))
            continue
        if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
            problems.append(Problem(name, "-", "pairs", "the file must hold a list under 'pairs:'"))
            continue
        for i, raw in enumerate(data["pairs"], start=1):
            label = str(raw.get("id", f"#{i}")) if isinstance(raw, dict) else f"#{i}"
            try:
                pair = QAPair.model_validate(raw)
            except ValidationError as exc:
                problems.extend(validation_problems(exc, name, label))
                continue
            if pair.id in seen:
                problems.append(Problem(name, pair.id, "id", f"duplicate id, also in {seen[pair.id]}"))
                continue
            seen[pair.id] = name
            pairs.append((name, pair))
    if problems:
        raise ContentError(problems)
    return pairs

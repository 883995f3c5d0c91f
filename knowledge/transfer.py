"""Import and export of Q&A pairs as JSON or CSV: every row checked, every bad row named with its field.

An import is all or nothing: `read_rows` returns the pairs only when every row is valid, otherwise
the problems of every bad row (the caller writes nothing). Text is kept exactly as typed.

CSV, one pair per row, with a header:
  id,question,alternates,answer,evidence,caveats,sources,tags,status,audience,reviewed_on,review_due
- alternates, caveats and tags: one item per line inside the cell (a spreadsheet's Alt+Enter);
- sources: a JSON array of {"title", "publisher", "published", "url", "passage"} in the cell;
- id may be empty (made from the question); empty dates mean none; an empty audience takes the
  import's (staff search only, unless the import marks the collection for the chat).
The export writes the same columns, so an exported file imports unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from knowledge.loader import validation_problems
from knowledge.schema import QAPair, slugify

CSV_COLUMNS = (
    "id",
    "question",
    "alternates",
    "answer",
    "evidence",
    "caveats",
    "sources",
    "tags",
    "status",
    "audience",
    "reviewed_on",
    "review_due",
)
_LIST_COLUMNS = ("alternates", "caveats", "tags")
_REQUIRED_COLUMNS = ("question", "answer")
MAX_ROWS = 10_000


@dataclass
class RowProblem:
    row: int  # JSON: the index in the list (0-based); CSV: the data row's number (1-based, header not counted)
    id: str | None
    errors: list[dict[str, str]] = field(default_factory=list)  # [{"field": ..., "msg": ...}]
    line: int | None = None  # CSV: the line in the file where the row starts

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "id": self.id, "errors": self.errors}
        if self.line is not None:
            out["line"] = self.line
        return out


class ImportProblems(Exception):
    """The rows cannot be imported; `problems` names each bad row (or the file, as row 0)."""

    def __init__(self, problems: list[RowProblem], total: int):
        self.problems = problems
        self.total = total
        super().__init__(f"{len(problems)} of {total} rows are not valid; nothing was written.")


def read_rows(
    rows: list[Any],
    first: int = 0,
    lines: list[int] | None = None,
    audience: str = "staff",
    known: Mapping[str, str] | None = None,
) -> list[QAPair]:
    """Pairs from decoded rows (dicts). Raises ImportProblems naming every bad row.

    A row that does not say its audience keeps the one its pair has (`known`: id -> audience), and a
    new pair gets `audience`: an imported collection is for staff search unless the import (or the
    row) marks it for the chat."""
    if len(rows) > MAX_ROWS:
        raise ImportProblems(
            [RowProblem(first, None, [{"field": "(file)", "msg": f"at most {MAX_ROWS} rows per import"}])], len(rows)
        )
    pairs: list[QAPair] = []
    bad: list[RowProblem] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        number = i + first
        line = lines[i] if lines else None
        label = row.get("id") if isinstance(row, dict) and isinstance(row.get("id"), str) else None
        if not isinstance(row, dict):
            bad.append(RowProblem(number, None, [{"field": "(row)", "msg": "each row must be an object"}], line))
            continue
        data = dict(row)
        if not data.get("id") and isinstance(data.get("question"), str) and data["question"].strip():
            data["id"] = slugify(data["question"])
        if not data.get("audience"):
            data["audience"] = (known or {}).get(str(data.get("id")), audience)
        try:
            pair = QAPair.model_validate(data)
        except ValidationError as exc:
            errors = [{"field": p.field, "msg": p.message} for p in validation_problems(exc, "", "")]
            bad.append(RowProblem(number, label or data.get("id"), errors, line))
            continue
        if pair.id in seen:
            msg = f"the same id as row {seen[pair.id]}"
            bad.append(RowProblem(number, pair.id, [{"field": "id", "msg": msg}], line))
            continue
        seen[pair.id] = number
        pairs.append(pair)
    if bad:
        raise ImportProblems(bad, len(rows))
    return pairs


def read_json(data: Any, audience: str = "staff", known: Mapping[str, str] | None = None) -> list[QAPair]:
    if not isinstance(data, list):
        raise ImportProblems([RowProblem(0, None, [{"field": "(file)", "msg": "expected a JSON list of pairs"}])], 0)
    return read_rows(data, audience=audience, known=known)


def read_csv(text: str, audience: str = "staff", known: Mapping[str, str] | None = None) -> list[QAPair]:
    """Pairs from CSV text (see the module's docstring for the columns)."""
    text = text.removeprefix("\ufeff")  # a spreadsheet's byte-order mark
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in CSV_COLUMNS]
    missing = [c for c in _REQUIRED_COLUMNS if c not in header]
    if unknown or missing:
        msgs = []
        if missing:
            msgs.append(f"missing column(s): {', '.join(missing)}")
        if unknown:
            msgs.append(
                f"unknown column(s): {', '.join(repr(c) for c in unknown)}; the columns are {', '.join(CSV_COLUMNS)}"
            )
        raise ImportProblems([RowProblem(0, None, [{"field": "(header)", "msg": "; ".join(msgs)}], 1)], 0)
    rows: list[Any] = []
    lines: list[int] = []
    cell_errors: dict[int, list[dict[str, str]]] = {}
    try:
        line = reader.line_num + 1
        for raw in reader:
            lines.append(line)
            line = reader.line_num + 1
            index = len(rows)
            if None in raw:  # more cells than columns
                cell_errors.setdefault(index, []).append({"field": "(row)", "msg": "more cells than columns"})
            rows.append(_csv_row(raw, cell_errors.setdefault(index, [])))
    except csv.Error as exc:
        raise ImportProblems(
            [RowProblem(len(rows) + 1, None, [{"field": "(file)", "msg": f"not valid CSV: {exc}"}], reader.line_num)],
            len(rows),
        ) from exc
    problems: list[RowProblem] = []
    pairs: list[QAPair] = []
    try:
        pairs = read_rows(rows, first=1, lines=lines, audience=audience, known=known)
    except ImportProblems as exc:
        problems = exc.problems
    # Cells that could not even be read (a sources cell that is not JSON) are named with the rest.
    by_row = {p.row: p for p in problems}
    for index, errors in cell_errors.items():
        if errors:
            p = by_row.get(index + 1)
            if p is None:
                p = by_row[index + 1] = RowProblem(index + 1, rows[index].get("id") or None, [], lines[index])
            p.errors = errors + [e for e in p.errors if e["field"] not in {x["field"] for x in errors}]
    if by_row:
        raise ImportProblems(sorted(by_row.values(), key=lambda p: p.row), len(rows))
    return pairs


def _csv_row(raw: dict[str | None, Any], errors: list[dict[str, str]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in CSV_COLUMNS:
        value = raw.get(column)
        if value is None:
            continue
        value = str(value)
        if column in _LIST_COLUMNS:
            row[column] = [item.strip() for item in value.splitlines() if item.strip()]
        elif column == "sources":
            if not value.strip():
                row[column] = []
                continue
            try:
                row[column] = json.loads(value)
            except json.JSONDecodeError as exc:
                errors.append({"field": "sources", "msg": f"must be a JSON list of sources: {exc.msg}"})
                row[column] = []
        elif column in ("reviewed_on", "review_due", "id", "evidence", "status", "audience") and not value.strip():
            continue  # empty: the default (no date, a made-up id, background evidence, a draft)
        else:
            row[column] = value
    return row


def to_json(pairs: list[QAPair]) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json") for p in pairs]


def to_csv(pairs: list[QAPair]) -> str:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for p in pairs:
        data = p.model_dump(mode="json")
        writer.writerow(
            {
                "id": p.id,
                "question": p.question,
                "alternates": "\n".join(p.alternates),
                "answer": p.answer,
                "evidence": p.evidence,
                "caveats": "\n".join(p.caveats),
                "sources": json.dumps(data["sources"], ensure_ascii=False) if p.sources else "",
                "tags": "\n".join(p.tags),
                "status": p.status,
                "audience": p.audience,
                "reviewed_on": data["reviewed_on"] or "",
                "review_due": data["review_due"] or "",
            }
        )
    return out.getvalue()

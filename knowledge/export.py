"""Write the store's published, live pairs back to the Q&A files (knowledge/qa/*.yml), in their format.

    python -m knowledge.export DATABASE_URL [--qa-dir DIR]

(`make export-content` runs `python -m api.cli export-content`, which knows the configured database.)

Each pair stays in the file it came from, in the same place; a pair the store holds as it is in its
file keeps its text byte for byte (its comments and line breaks too), so an export of untouched
content changes nothing and a changed pair is the only change in `git diff`. A new pair goes to the
end of the file named after its first tag (`<tag>.yml`), or `added.yml` when it has none; a pair no
longer published (a draft, deleted) is dropped from its file. Every file is replaced whole (written
beside, then renamed), so a reader never sees half a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from knowledge.atomic import atomic_write_bytes
from knowledge.loader import QA_DIR
from knowledge.schema import QAPair, slugify

ANSWER_WIDTH = 96  # the shipped files wrap answers at about this many characters (after the indent)
NEW_FILE = "added.yml"
_PAIR_START = re.compile(r"^  - id:")
_PLAIN = re.compile(r"^[A-Za-z0-9(][^\n\t]*$")


@dataclass
class ExportReport:
    written: list[str] = field(default_factory=list)  # files whose content changed
    unchanged: list[str] = field(default_factory=list)
    added: dict[str, list[str]] = field(default_factory=dict)  # file -> ids of pairs new to the files
    changed: list[str] = field(default_factory=list)  # ids whose text was rewritten
    dropped: list[str] = field(default_factory=list)  # ids no longer published, removed from their files

    def summary(self) -> str:
        added = sum(len(v) for v in self.added.values())
        return (
            f"{len(self.written)} files written, {len(self.unchanged)} unchanged; "
            f"{len(self.changed)} pairs changed, {added} added, {len(self.dropped)} dropped"
        )


@dataclass
class _File:
    header: str  # everything before the first pair (comments and `pairs:`)
    chunks: list[tuple[str, str | None]]  # (id, the pair's text as written) in file order


def export_pairs(pairs: list[QAPair], qa_dir: Path = QA_DIR) -> ExportReport:
    """Write `pairs` (the published, live ones) into the files of `qa_dir`; what changed."""
    report = ExportReport()
    wanted = {p.id: p for p in pairs}
    files = {path.name: _read(path) for path in sorted(qa_dir.glob("*.yml"))}
    placed: set[str] = set()
    out: dict[str, list[str]] = {}
    for name, f in files.items():
        texts = []
        for pair_id, chunk in f.chunks:
            pair = wanted.get(pair_id)
            if pair is None or pair_id in placed:
                report.dropped.append(pair_id)
                continue
            placed.add(pair_id)
            if chunk is not None and _same(chunk, pair):
                texts.append(chunk)
            else:
                texts.append(pair_text(pair))
                report.changed.append(pair_id)
        out[name] = texts
    for pair in sorted(pairs, key=lambda p: p.id):
        if pair.id in placed:
            continue
        name = _new_file_name(pair)
        if name not in files:
            files[name] = _File(_new_header(name), [])
            out[name] = []
        out[name].append(pair_text(pair))
        report.added.setdefault(name, []).append(pair.id)
        placed.add(pair.id)
    for name, texts in out.items():
        header = files[name].header
        content = header + "\n".join(texts) if texts else header.removesuffix("pairs:\n") + "pairs: []\n"
        path = qa_dir / name
        old = path.read_text(encoding="utf-8") if path.exists() else None
        if old == content:
            report.unchanged.append(name)
            continue
        atomic_write_bytes(path, content.encode("utf-8"))
        report.written.append(name)
    return report


def export_store(store, qa_dir: Path = QA_DIR) -> ExportReport:
    """Export a knowledge.store.Store's published, live pairs."""
    return export_pairs(store.published_pairs(), qa_dir)


# --- reading a file into per-pair chunks --------------------------------------------------------


def _read(path: Path) -> _File:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _PAIR_START.match(line)]
    if not starts:
        return _File(_normal_header("".join(lines)), [])
    header = _normal_header("".join(lines[: starts[0]]))
    chunks: list[tuple[str, str | None]] = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        chunk = "".join(lines[start:end]).rstrip("\n") + "\n"
        pair_id = _chunk_id(chunk)
        chunks.append((pair_id or f"#{k}", chunk if pair_id else None))
    return _File(header, chunks)


def _normal_header(text: str) -> str:
    """The text before the first pair, ending in `pairs:` and a newline."""
    text = re.sub(r"pairs:\s*(\[\s*\])?\s*$", "", text.rstrip()).rstrip("\n")
    return (text + "\n" if text else "") + "pairs:\n"


def _chunk_id(chunk: str) -> str | None:
    try:
        data = yaml.safe_load(chunk)
    except yaml.YAMLError:
        return None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict) and "id" in data[0]:
        return str(data[0]["id"])
    return None


def _same(chunk: str, pair: QAPair) -> bool:
    """Whether the text of a pair in a file says exactly what the store holds."""
    try:
        data = yaml.safe_load(chunk)
        return QAPair.model_validate(data[0]).model_dump(mode="json") == pair.model_dump(mode="json")
    except Exception:
        return False


def _new_file_name(pair: QAPair) -> str:
    if pair.tags:
        slug = slugify(pair.tags[0])
        if slug and slug != "pair":
            return f"{slug}.yml"
    return NEW_FILE


def _new_header(name: str) -> str:
    return f"# {name.removesuffix('.yml')}: pairs added by editors (python -m api.cli export-content)\npairs:\n"


# --- writing a pair in the files' style ---------------------------------------------------------


def pair_text(pair: QAPair) -> str:
    """The pair as the shipped files write it (indented under `pairs:`), checked to read back the same."""
    text = _styled(pair)
    if _same(text, pair):
        return text
    return _plain_dump(pair)


def _styled(pair: QAPair) -> str:
    d = pair.model_dump(mode="json")
    out = [f"  - id: {_scalar(d['id'])}", f"    question: {_scalar(d['question'])}"]
    out += _list("alternates", d["alternates"])
    out += _answer(d["answer"])
    out.append(f"    evidence: {d['evidence']}")
    out += _list("caveats", d["caveats"])
    if d["sources"]:
        out.append("    sources:")
        for s in d["sources"]:
            out.append(f"      - title: {_quoted(s['title'])}")
            out.append(f"        publisher: {_quoted(s['publisher'])}")
            out.append(f"        published: {_quoted(s['published'])}")
            out.append(f"        url: {_scalar(s['url']) if s.get('url') else 'null'}")
            out.append(f"        passage: {_quoted(s['passage']) if s.get('passage') else 'null'}")
    else:
        out.append("    sources: []")
    out.append("    tags: [" + ", ".join(_flow(t) for t in d["tags"]) + "]")
    out.append(f"    status: {d['status']}")
    if d["audience"] != "visitors":
        out.append(f"    audience: {d['audience']}")
    out.append(f"    reviewed_on: {_date(d['reviewed_on'])}")
    out.append(f"    review_due: {_date(d['review_due'])}")
    return "\n".join(out) + "\n"


def _plain_dump(pair: QAPair) -> str:
    """A safe fallback for text the styled writer cannot hold (PyYAML's own quoting)."""
    dumped = yaml.safe_dump(
        [pair.model_dump(mode="json")],
        allow_unicode=True,
        sort_keys=False,
        width=ANSWER_WIDTH,
        default_flow_style=False,
    )
    return "".join("  " + line if line.strip() else line for line in dumped.splitlines(keepends=True))


def _list(name: str, items: list[str]) -> list[str]:
    if not items:
        return [f"    {name}: []"]
    return [f"    {name}:"] + [f"      - {_scalar(item)}" for item in items]


def _answer(answer: str) -> list[str]:
    paragraphs = answer.split("\n")
    if any(p != p.strip() or "\t" in p for p in paragraphs) or not answer.strip():
        return [f"    answer: {_quoted(answer)}"]
    lines = ["    answer: >-"]
    for i, para in enumerate(paragraphs):
        if i:
            lines.append("")
        if para:
            wrapped = textwrap.wrap(para, ANSWER_WIDTH, break_long_words=False, break_on_hyphens=False)
            lines += ["      " + w for w in wrapped]
    return lines


def _scalar(value: str) -> str:
    """Plain when YAML reads it back as the same string, else double-quoted."""
    if _PLAIN.match(value) and ": " not in value and " #" not in value and not value.endswith(":"):
        try:
            if yaml.safe_load(f"k: {value}") == {"k": value}:
                return value
        except yaml.YAMLError:
            pass
    return _quoted(value)


def _flow(value: str) -> str:
    if re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value) and yaml.safe_load(f"[{value}]") == [value]:
        return value
    return _quoted(value)


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _date(value: Any) -> str:
    if value is None:
        return "null"
    return _quoted(value.isoformat() if isinstance(value, dt.date) else str(value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url", help="the store's database, e.g. sqlite:///var/faqbot.db")
    parser.add_argument("--qa-dir", default=str(QA_DIR), help="folder of Q&A files (default: knowledge/qa)")
    args = parser.parse_args(argv)
    from knowledge.store import Store

    store = Store(args.database_url)
    try:
        report = export_store(store, Path(args.qa_dir))
    finally:
        store.close()
    for name in report.written:
        print(f"wrote {Path(args.qa_dir) / name}")
    if report.dropped:
        print(f"dropped (no longer published): {', '.join(report.dropped)}")
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Turns the captured source articles into dated passages.

The captures still hold the sites' chrome: menus, share buttons, newsletter boxes, image captions
and unrelated "popular slideshows". A line of an article is prose: a sentence of several words
that ends like a sentence (or a long standfirst). Everything else, and lines matching known chrome
phrases, is dropped. Passages follow the article's own paragraphs; a very short paragraph is joined
to the next so that a passage carries enough context to be found; near-duplicates are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from knowledge.schema import Source

# libyaml's safe loader where PyYAML was built with it (ten times faster), else the pure-Python one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KNOWLEDGE_DIR = Path(__file__).resolve().parent

_CHROME = re.compile(
    r"did you find this information useful|click here|sign up|newsletter|share \||print this page"
    r"|all rights reserved|^©|return to |you are here|advertis",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*$")
MIN_PROSE_WORDS = 8
LONG_LINE_WORDS = 15
SHORT_PASSAGE_WORDS = 25
# A passage whose words are this much contained in an earlier one adds nothing.
NEAR_DUPLICATE_CONTAINMENT = 0.9


@dataclass(frozen=True)
class SourceMeta:
    id: str
    file: str
    title: str
    publisher: str
    published: str
    url: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Passage:
    id: str  # "<source id>#p<n>", stable while the article text is unchanged
    source_id: str
    position: int  # 1-based paragraph position in the article after cleaning
    text: str
    title: str
    publisher: str
    published: str
    url: str | None
    tags: tuple[str, ...] = field(default=())

    def citation(self) -> Source:
        return Source(
            title=self.title, publisher=self.publisher, published=self.published, url=self.url, passage=self.text
        )


def is_prose(line: str) -> bool:
    words = line.split()
    if not words or _CHROME.search(line):
        return False
    if len(words) >= LONG_LINE_WORDS:
        return True
    return len(words) >= MIN_PROSE_WORDS and bool(_SENTENCE_END.search(line))


def clean_paragraphs(raw: str) -> list[str]:
    """The article's prose paragraphs, in order, with the chrome removed."""
    paragraphs = []
    for line in raw.splitlines():
        line = " ".join(line.split())
        if is_prose(line):
            paragraphs.append(line)
    return paragraphs


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def chunk(paragraphs: list[str]) -> list[str]:
    """Join a short paragraph to the one after it; drop near-duplicates."""
    chunks: list[str] = []
    pending = ""
    for p in paragraphs:
        text = f"{pending} {p}".strip() if pending else p
        if len(text.split()) < SHORT_PASSAGE_WORDS and p is not paragraphs[-1]:
            pending = text
            continue
        pending = ""
        chunks.append(text)
    if pending:
        chunks.append(pending)
    kept: list[str] = []
    for c in chunks:
        tc = _tokens(c)
        if any(len(tc & _tokens(k)) / max(1, len(tc)) >= NEAR_DUPLICATE_CONTAINMENT for k in kept):
            continue
        kept.append(c)
    return kept


def load_sources(knowledge_dir: Path = KNOWLEDGE_DIR) -> list[SourceMeta]:
    data = yaml.load((knowledge_dir / "sources.yml").read_text(encoding="utf-8"), Loader=SAFE_LOADER)
    return [SourceMeta(**{**s, "tags": tuple(s.get("tags") or ())}) for s in data["sources"]]


def load_passages(knowledge_dir: Path = KNOWLEDGE_DIR) -> list[Passage]:
    passages = []
    for meta in load_sources(knowledge_dir):
        raw = (knowledge_dir / meta.file).read_text(encoding="utf-8")
        for n, text in enumerate(chunk(clean_paragraphs(raw)), start=1):
            passages.append(
                Passage(
                    id=f"{meta.id}#p{n}",
                    source_id=meta.id,
                    position=n,
                    text=text,
                    title=meta.title,
                    publisher=meta.publisher,
                    published=meta.published,
                    url=meta.url,
                    tags=meta.tags,
                )
            )
    return passages

"""The shape of rules.yml, checked by pydantic when a detector is built, with errors an editor can act on.

Why a schema: the rules are edited by hand, and a typo in a category, a mode or a field name would
otherwise silently switch a rule off. Every problem becomes one ``RulesError`` naming the file, the
rule (its position, category and mode) and the pattern. Structure is checked here; whether each
regular expression compiles and names only known fragments is checked as the detector compiles it
(bot/safety/detector.py), with the same kind of message.

Imported only when a rules file is read, so ``import bot.safety`` stays free of YAML and pydantic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator
from pydantic_core import ErrorDetails

from bot.safety.base import CATEGORIES, COOCCURRENCE, MODES, RulesError

# libyaml's loader when PyYAML has it (about 25 times faster at start-up), the pure-Python one otherwise.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAGS = ("plain", "near", "pattern-rule", "cooccurrence-rule")  # the unions' branch names, not fields

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
Mode = Literal[MODES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    """No coercion (YAML's `no` is a boolean, not a word) and no unknown keys (a misspelt key is an error)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class NearPattern(_Strict):
    """A pattern that counts only if `requires` is near it and `unless` (or `unless_before`) is not."""

    pattern: str
    unless: str | None = None
    requires: str | None = None
    unless_before: str | None = None
    # The pattern names the subject itself (suicide, an overdose, assisted dying): in a question about
    # it with nobody in it (context.topic_question), its match adds the crisis numbers instead.
    topic: bool = False


def _pattern_kind(value: Any) -> str:
    return "near" if isinstance(value, (dict, NearPattern)) else "plain"


Pattern = Annotated[Annotated[str, Tag("plain")] | Annotated[NearPattern, Tag("near")], Discriminator(_pattern_kind)]


class PatternRule(_Strict):
    """A rule of mode always, personal, current or recurring: fires when one of its patterns matches."""

    category: Category
    mode: Mode  # every mode is accepted here so that an unknown one is reported with the full list
    name: str | None = None
    patterns: list[Pattern] = Field(min_length=1)


class CooccurrenceRule(_Strict):
    """The co-occurrence rule: a symptom word and a procedure word no more than `window` characters apart."""

    category: Category
    mode: Literal["cooccurrence"]
    name: str | None = None
    window: int = Field(gt=0)
    procedure: str
    symptoms: str
    ambiguous_symptoms: str


def _rule_kind(value: Any) -> str:
    mode = value.get("mode") if isinstance(value, dict) else getattr(value, "mode", None)
    return "cooccurrence-rule" if mode == COOCCURRENCE else "pattern-rule"


Rule = Annotated[
    Annotated[PatternRule, Tag("pattern-rule")] | Annotated[CooccurrenceRule, Tag("cooccurrence-rule")],
    Discriminator(_rule_kind),
]


class Windows(_Strict):
    """How far around a match its conditions are looked for, in characters of normalised text."""

    near: int = Field(gt=0)
    before: int = Field(gt=0)


class Normalisation(_Strict):
    character_folds: dict[str, str]
    word_fixes: dict[str, str]
    phrase_fixes: dict[str, str]

    @field_validator("character_folds")
    @classmethod
    def _single_characters(cls, folds: dict[str, str]) -> dict[str, str]:
        bad = [k for k in folds if len(k) != 1]
        if bad:
            raise ValueError(f"each key must be one character, not {bad[0]!r}")
        return folds

    @field_validator("word_fixes", "phrase_fixes")
    @classmethod
    def _normalised_words(cls, fixes: dict[str, str]) -> dict[str, str]:
        # Fixes apply to normalised text: lowercase ASCII words and single spaces, or they never fire.
        for key in fixes:
            if (
                not key
                or key != " ".join(key.split())
                or not all(w.isascii() and w.isalnum() and w == w.lower() for w in key.split())
            ):
                raise ValueError(f"{key!r} is not lowercase ASCII words separated by single spaces")
        return fixes


class Context(_Strict):
    """The cues that decide whether a message is a general question, about the past, or recurring."""

    person: str
    not_a_person: list[str] = Field(min_length=1)
    question_openers: list[str] = Field(min_length=1)
    general: str
    future: str
    urgent: str
    strong_urgent: str
    recent: str
    history: str
    habitual: str
    # A question about a subject as a subject (its rate, risk, research, law, support): where a
    # `topic` pattern's match is all a message has, and nobody is in it, the numbers are added instead
    # of the safety reply. None: no pattern is ever held back this way.
    topic_question: str | None = None
    # Fiction, a play or a piece of writing: "a character in my novel considers suicide". With
    # `past`, a frame in which a `topic` match with someone in it is held back for
    # the crisis net to decide (see SafetyMatch.personal). None: only topic questions are held back.
    fiction: str | None = None
    # Clearly over: "years ago", "as a teenager", "back in 2010". With `fiction`, the only frames in which
    # a `topic` match with someone in it is held back (a question cue is not enough: "my son is suicidal,
    # is there support for families?" is happening now). None: no such hold.
    past: str | None = None
    # The writer's own state now ("I feel", "I keep", "I've been"): never a frame, whatever else is said.
    present_self: str | None = None


class RulesFile(_Strict):
    windows: Windows
    normalisation: Normalisation
    fragments: dict[str, str]
    context: Context
    conditions: dict[str, str] = {}
    rules: list[Rule] = Field(min_length=1)

    @field_validator("fragments")
    @classmethod
    def _fragment_names(cls, fragments: dict[str, str]) -> dict[str, str]:
        for name in fragments:
            if not (name.isascii() and name[:1].isalpha() and name.replace("_", "").isalnum() and name.isupper()):
                raise ValueError(f"fragment name {name!r} must be upper case letters, digits and _")
        return fragments


# --- Reading a file --------------------------------------------------------------------------------


def rule_label(index: int, raw: Any) -> str:
    """ "rule 3 (chest_breathing/always "chest and breathing")": how errors name a rule."""
    raw = raw if isinstance(raw, dict) else {}
    label = f"rule {index + 1} ({raw.get('category', '?')}/{raw.get('mode', '?')}"
    return label + (f' "{raw["name"]}")' if isinstance(raw.get("name"), str) else ")")


def _describe(error: ErrorDetails, data: Any) -> str:
    """One pydantic error as "where: what", with the rule and the pattern it is about."""
    raw_loc = error["loc"]  # drop the unions' tags, which follow a list index
    loc = [p for i, p in enumerate(raw_loc) if not (p in _TAGS and i and isinstance(raw_loc[i - 1], int))]
    where: list[str] = []
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = data.get("rules") if isinstance(data, dict) else None
        raw_rule = rules[loc[1]] if isinstance(rules, list) and loc[1] < len(rules) else None
        where.append(rule_label(loc[1], raw_rule))
        rest = loc[2:]
        if len(rest) >= 2 and rest[0] == "patterns" and isinstance(rest[1], int):
            patterns = raw_rule.get("patterns") if isinstance(raw_rule, dict) else None
            raw_pattern = patterns[rest[1]] if isinstance(patterns, list) and rest[1] < len(patterns) else None
            where.append(f"pattern {rest[1] + 1} {_short(raw_pattern)}")
            rest = rest[2:]
        if rest:
            where.append(".".join(str(p) for p in rest))
    else:
        where.append(".".join(str(p) for p in loc) or "the file")
    message = error["msg"].removeprefix("Value error, ")
    return f"{', '.join(where)}: {message}"


def _short(value: Any, limit: int = 100) -> str:
    """The pattern (or whatever stands in its place) as it is written in the file, cut short."""
    value = value.get("pattern", value) if isinstance(value, dict) else value
    text = "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_rules(path: Path) -> RulesFile:
    """Load and validate a rules file; any problem is one RulesError naming the file and the place."""
    try:
        with path.open(encoding="utf-8") as f:  # a file object, so that YAML's errors name the file
            data = yaml.load(f, Loader=_SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise RulesError(f"{path}: cannot be read as YAML: {e}") from e
    if not isinstance(data, dict):
        raise RulesError(
            f"{path}: expected a mapping with windows, normalisation, fragments, context, "
            f"conditions and rules, got {type(data).__name__}"
        )
    try:
        return RulesFile.model_validate(data)
    except ValidationError as e:
        problems = [_describe(err, data) for err in e.errors(include_url=False)]
        raise RulesError(
            f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in the safety rules:\n"
            + "\n".join(f"  {p}" for p in problems)
        ) from None

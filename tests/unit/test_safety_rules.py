"""The safety rules as data: the rules file's errors, lazy loading, and the trigger index's correctness.

tests/unit/test_safety.py checks what the shipped rules detect; this file checks the machinery around
them: a broken rules file is one clear error naming the rule and the pattern, importing the package
does no work, the shared detector is built once, and the trigger index (a speed-up) never changes a
result.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import bot.safety
from bot.safety import (
    DETECTOR_ERROR,
    MEDICAL_EMERGENCY,
    Detector,
    RulesError,
    SafetyMatch,
    default_detector,
    detect,
    load_detector,
    warm,
)
from bot.safety.triggers import trigger

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
EVAL = REPO / "tests" / "eval"

# A small rules file with one of everything; each bad case below breaks one thing in it.
MINIMAL = r"""
windows: {near: 60, before: 25}
normalisation:
  character_folds: {"\u2019": "'"}
  word_fixes: {'cnt': 'cant'}
  phrase_fixes: {'i am': 'im'}
fragments:
  PILLS: '(?:pills|tablets)'
  BREATHE: 'br(?:ea|e)th(?:e|ing)?'
context:
  person: '\b(?:i|me|my)\b'
  not_a_person: ['\btell me\b']
  question_openers: [what, how]
  general: '\b(?:risks?|people)\b'
  future: '\bif i\b'
  urgent: '\bhelp\b'
  strong_urgent: '\bhelp\b'
  recent: '\btoday\b'
  history: '\byears ago\b'
  habitual: '\bsometimes\b'
conditions:
  accident: &accident '\b(?:fell|tripped)\b'
rules:
  - category: suicide_self_harm
    mode: always
    name: suicide
    patterns:
      - '\bkill myself\b'
      - pattern: '\bhurt myself\b'
        unless: *accident
      - '\b<PILLS> next to me\b'
  - category: chest_breathing
    mode: personal
    patterns: ['\bcant <BREATHE>\b']
  - category: post_procedure_complication
    mode: cooccurrence
    window: 120
    procedure: '\b(?:stent|groin)\b'
    symptoms: '\bbleeding\b'
    ambiguous_symptoms: '\bpain\b'
"""


def write_rules(tmp_path: Path, old: str = "", new: str = "") -> Path:
    assert old in MINIMAL, f"the test's edit does not apply: {old!r}"
    path = tmp_path / "rules.yml"
    path.write_text(MINIMAL.replace(old, new, 1) if old else MINIMAL, encoding="utf-8")
    return path


def test_a_minimal_rules_file_builds_a_working_detector(tmp_path):
    d = load_detector(write_rules(tmp_path))
    assert isinstance(d, Detector)
    assert d.detect("I want to kill myself") == SafetyMatch("suicide_self_harm", "kill myself")
    assert d.detect("I fell and hurt myself") is None  # the condition, reached through a YAML alias
    assert d.detect("the tablets next to me") == SafetyMatch("suicide_self_harm", "tablets next to me")
    assert d.detect("I cnt breathe").category == "chest_breathing"  # a word fix and a fragment
    assert d.detect("what are the risks, cant breathe?") is None  # a personal rule held back
    assert d.detect("my groin is bleeding from the stent") == SafetyMatch(
        "post_procedure_complication", "bleeding + groin"
    )


def test_the_shipped_rules_build_and_name_every_category():
    d = load_detector()
    assert {rule.category for rule in d.rules} == set(bot.safety.CATEGORIES)
    assert d.source.endswith("bot/safety/rules.yml")


BAD_FILES = [
    # (what is broken, the edit, words the error must contain)
    (
        "unknown category",
        ("category: chest_breathing", "category: chest_pain"),
        ["rule 2 (chest_pain/personal)", "category", "chest_breathing"],
    ),
    (
        "unknown mode",
        ("mode: personal", "mode: sometimes"),
        ["rule 2 (chest_breathing/sometimes)", "mode", "recurring"],
    ),
    (
        "missing patterns",
        ("    patterns: ['\\bcant <BREATHE>\\b']\n", ""),
        ["rule 2 (chest_breathing/personal)", "patterns: Field required"],
    ),
    (
        "missing category",
        ("  - category: chest_breathing\n    mode: personal", "  - mode: personal"),
        ["rule 2 (?/personal)", "category: Field required"],
    ),
    (
        "regex that does not compile",
        ("'\\bcant <BREATHE>\\b'", "'\\bcant (<BREATHE>\\b'"),
        ["rule 2 (chest_breathing/personal), pattern 1", "does not compile", "'\\bcant (<BREATHE>\\b'"],
    ),
    (
        "unknown fragment",
        ("'\\b<PILLS> next to me\\b'", "'\\b<PILS> next to me\\b'"),
        ['rule 1 (suicide_self_harm/always "suicide"), pattern 3', "unknown fragment <PILS>", "<PILS> next to me"],
    ),
    (
        "condition that does not compile",
        ("unless: *accident", "unless: '\\b(?:fell'"),
        ['rule 1 (suicide_self_harm/always "suicide"), pattern 2 (unless)', "does not compile", "(?:fell"],
    ),
    (
        "misspelt condition key",
        ("unless: *accident", "unles: *accident"),
        ['rule 1 (suicide_self_harm/always "suicide"), pattern 2', "unles", "Extra inputs are not permitted"],
    ),
    (
        "pattern that is not a string",
        ("      - '\\bkill myself\\b'", "      - 42"),
        ['rule 1 (suicide_self_harm/always "suicide"), pattern 1 42', "valid string"],
    ),
    (
        "co-occurrence rule without its symptoms",
        ("    symptoms: '\\bbleeding\\b'\n", ""),
        ["rule 3 (post_procedure_complication/cooccurrence)", "symptoms: Field required"],
    ),
    (
        "pattern rule with a window",
        ("mode: personal", "mode: personal\n    window: 5"),
        ["rule 2 (chest_breathing/personal)", "window", "Extra inputs are not permitted"],
    ),
    (
        "context cue that does not compile",
        ("future: '\\bif i\\b'", "future: '\\bif i)'"),
        ["context.future", "does not compile"],
    ),
    (
        "fragment that uses an unknown fragment",
        ("'(?:pills|tablets)'", "'(?:pills|<MEDS>)'"),
        ["fragments.PILLS", "unknown fragment <MEDS>"],
    ),
    ("word fix that can never fire", ("{'cnt': 'cant'}", "{'Cnt': 'cant'}"), ["normalisation.word_fixes", "'Cnt'"]),
    ("YAML that does not parse", ("windows: {near: 60, before: 25}", "windows: {near: 60"), ["cannot be read as YAML"]),
]


@pytest.mark.parametrize(("edit", "expected"), [case[1:] for case in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_a_broken_rules_file_is_one_error_naming_the_file_the_rule_and_the_pattern(tmp_path, edit, expected):
    path = write_rules(tmp_path, *edit)
    with pytest.raises(RulesError) as caught:
        load_detector(path)
    message = str(caught.value)
    assert str(path) in message
    for words in expected:
        assert words in message, f"{words!r} not in:\n{message}"


def test_every_problem_in_a_file_is_reported_at_once(tmp_path):
    path = write_rules(tmp_path, "'\\bkill myself\\b'", "'\\bkill (myself\\b'")
    path.write_text(path.read_text().replace("'\\bcant <BREATHE>\\b'", "'\\bcant <BREATH>\\b'"))
    with pytest.raises(RulesError, match="2 problems") as caught:
        load_detector(path)
    assert "rule 1 (suicide_self_harm/always" in str(caught.value) and "<BREATH>" in str(caught.value)


def test_a_missing_rules_file_is_a_rules_error(tmp_path):
    with pytest.raises(RulesError, match="cannot be read"):
        load_detector(tmp_path / "nowhere.yml")


# --- loading: nothing at import, once at start-up, fail closed ----------------------------------


def test_importing_the_package_reads_no_file_and_compiles_nothing():
    # In a fresh interpreter: what importing bot.safety adds, after the standard library it uses.
    code = """
import collections.abc, dataclasses, functools, json, logging, pathlib, re, sys, threading, typing, unicodedata
import bot
before = set(sys.modules)
compiled = []
real = re.compile
re.compile = lambda *a, **k: (compiled.append(a[0]), real(*a, **k))[1]
import bot.safety
new = set(sys.modules) - before
print(json.dumps({"compiled": compiled, "heavy": sorted(m for m in new if m.split(".")[0] in ("yaml", "pydantic")),
                  "built": bot.safety._default is not None}))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"compiled": [], "heavy": [], "built": False}


def test_the_shared_detector_is_built_once_even_when_many_threads_ask_first(monkeypatch):
    built = []

    def slow_load():
        time.sleep(0.05)
        built.append(load_detector())
        return built[-1]

    monkeypatch.setattr(bot.safety, "_default", None)
    monkeypatch.setattr(bot.safety, "load_detector", slow_load)
    seen: list[Detector] = []
    threads = [threading.Thread(target=lambda: seen.append(default_detector())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and len(seen) == 8 and all(d is built[0] for d in seen)
    assert warm() is built[0]


def test_a_rules_file_that_cannot_be_built_stops_warm_up_and_fails_closed_in_detect(monkeypatch, caplog):
    def broken():
        raise RulesError("rules.yml: 1 problem")

    monkeypatch.setattr(bot.safety, "_default", None)
    monkeypatch.setattr(bot.safety, "load_detector", broken)
    with pytest.raises(RulesError):
        warm()
    assert detect("what is ccsvi?") == SafetyMatch(MEDICAL_EMERGENCY, DETECTOR_ERROR)
    assert "could not be built" in caplog.text
    assert detect(None) is None


def test_the_detector_does_not_use_the_private_regex_parser():
    # re._parser (sre_parse) is not a public API: it may change with any Python release.
    for path in (REPO / "bot" / "safety").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                private = [n for n in names if n.startswith("sre_") or (n.startswith("_") and n != "__future__")]
                assert not private, f"{path.name} imports {private}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
                assert not node.attr.startswith("_"), f"{path.name} uses re.{node.attr}"


# --- triggers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\bkill me (?:now|please)\b", (frozenset({"kill"}), ())),
        (r"\b(?:cant|unable to) breathe\b", (frozenset({"cant", "unable"}), ())),
        (r"\bsu[ai]?s?[cs]i?d\w*", (frozenset(), ("su",))),
        (r"\bover ?dos(?:e|es|ing)\b", (frozenset(), ("over",))),
        (r"\bk+i*l+ myself\b", (frozenset(), ("k",))),
        (r"\bheart (?:is )?racing\b", (frozenset({"heart"}), ())),
        (r"\b(?:a|an) (?:\w+ )?dose\b", (frozenset({"a", "an"}), ())),
    ],
)
def test_a_trigger_is_the_words_a_match_can_start_with(pattern, expected):
    assert trigger(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        r"kill myself",  # no \b: a match may start inside a word
        r"\b\w+ myself",  # the first word could be any word
        r"\b(?:\w+ )?kill",  # an optional first word
        r"(?i)\bkill",  # inline flags: not read
        r"\b(kill) \1",  # a back-reference: not read
        r"\b(?:kill|) me",  # an empty alternative
        r"\b\x6bill",  # an escape the parser does not know
        r"\bkill{x}",  # a "{" re reads as a literal
    ],
)
def test_a_pattern_the_parser_is_unsure_of_has_no_trigger(pattern):
    assert trigger(pattern) is None


def messages_of_the_eval_files() -> list[str]:
    out = []
    for name, field in (("safety.jsonl", "message"), ("devset.jsonl", "query"), ("out_of_scope.jsonl", "query")):
        lines = (EVAL / name).read_text(encoding="utf-8").splitlines()
        out += [json.loads(line)[field] for line in lines if line.strip()]
    return out


def test_the_trigger_index_never_changes_a_result():
    # With triggers, each pattern is tried only where one of its trigger words starts; without, every
    # pattern is searched over the whole text. Same category and same phrase for every message.
    fast, full = default_detector(), load_detector(use_triggers=False)
    assert all(p.trigger is None for p in full.patterns)
    assert sum(p.trigger is not None for p in fast.patterns) > 0.9 * len(fast.patterns)
    messages = messages_of_the_eval_files()
    assert len(messages) > 1000
    differ = [(m, a, b) for m in messages if (a := fast.detect(m)) != (b := full.detect(m))]
    assert differ == []

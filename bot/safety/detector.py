"""The safety matcher: a ``Detector`` compiled once from rules.yml, then asked about every visitor message.

Why it is built this way: detection runs before anything else sees a message, so it must be fast
(well under a millisecond for 1000 characters, standard library only, no model) and must never be
the reason a crisis is missed. So:

- the rules are data (rules.yml) and are validated and compiled once, when the detector is built: a
  broken rules file stops the service from starting instead of switching a rule off quietly;
- each pattern is tried only where one of its trigger words starts (bot/safety/triggers.py); a
  pattern without a trigger is searched over the whole text;
- ``Detector.detect`` never raises. On an internal error (a bug) it logs and fails closed: it returns
  a ``medical_emergency`` match whose phrase is ``DETECTOR_ERROR``, so a crisis reply is shown
  rather than a crisis missed.

What the modes mean is written in rules.yml, next to the rules.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.safety.base import DETECTOR_ERROR, MEDICAL_EMERGENCY, RulesError, SafetyMatch
from bot.safety.normalise import Normaliser
from bot.safety.triggers import Trigger, trigger

if TYPE_CHECKING:
    from bot.safety.schema import Context, CooccurrenceRule, NearPattern, PatternRule, RulesFile

log = logging.getLogger("faqbot.safety")

# Read by path next to this module: nothing is pip-installed, and a copy of the package carries it.
RULES_PATH = Path(__file__).resolve().with_name("rules.yml")


def as_written(pattern: str) -> str:
    """A pattern as an editor wrote it in rules.yml (single-quoted), for error messages."""
    return "'" + pattern.replace("'", "''") + "'"


@dataclass(frozen=True, eq=False)
class _Compiled:
    """One pattern, its trigger (None: search the whole text) and the conditions on its surroundings."""

    regex: re.Pattern[str]
    trigger: Trigger | None
    unless: re.Pattern[str] | None = None
    requires: re.Pattern[str] | None = None
    unless_before: re.Pattern[str] | None = None
    topic: bool = False  # names the subject: held back in a question about it (context.topic_question)

    def finditer(self, msg: _Message) -> Iterator[re.Match[str]]:
        """Matches in the message, tried only where a trigger word starts."""
        if self.trigger is None:
            yield from self.regex.finditer(msg.text)
            return
        starts = msg.starts.get(self)
        if not starts:
            return
        text, match = msg.text, self.regex.match
        for start in sorted(starts):
            m = match(text, start)
            if m:
                yield m

    def search(self, msg: _Message) -> re.Match[str] | None:
        return next(self.finditer(msg), None)


@dataclass(frozen=True)
class _Cooccurrence:
    window: int
    procedure: _Compiled
    symptoms: _Compiled
    ambiguous_symptoms: _Compiled


@dataclass(frozen=True)
class _Rule:
    category: str
    mode: str
    patterns: tuple[_Compiled, ...] = ()
    cooccurrence: _Cooccurrence | None = None


@dataclass(frozen=True)
class _Context:
    """The compiled context cues (rules.yml, `context`)."""

    person: _Compiled
    not_a_person: re.Pattern[str]
    question_openers: frozenset[str]
    general: _Compiled
    future: _Compiled
    urgent: _Compiled
    strong_urgent: _Compiled
    recent: _Compiled
    history: _Compiled
    habitual: _Compiled
    topic_question: _Compiled | None
    fiction: _Compiled | None
    present_self: _Compiled | None
    past: _Compiled | None


class _Compiler:
    """Expands <FRAGMENT>s and compiles patterns, collecting every problem with the place it comes from.

    A pattern that fails is recorded and replaced by one that never matches, so that every problem in
    the file is found in one pass; the detector then raises them together and is never built."""

    def __init__(self, fragments: Mapping[str, str], use_triggers: bool):
        self.fragments = dict(fragments)
        self.use_triggers = use_triggers
        self.problems: list[str] = []
        self._name = re.compile(r"(?<!\(\?P)<([A-Z][A-Z0-9_]*)>")  # not a named group's (?P<NAME>
        self._expanded: dict[str, str] = {}
        self._never = re.compile(r"(?!)")

    def expand(self, pattern: str, where: str) -> str:
        try:
            return self._expand(pattern, ())
        except RulesError as e:
            self.problems.append(f"{where}: {e}: {as_written(pattern)}")
            return self._never.pattern

    def _expand(self, text: str, inside: tuple[str, ...]) -> str:
        def fragment(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in self.fragments:
                raise RulesError(f"unknown fragment <{name}> (known: {', '.join(sorted(self.fragments))})")
            if name in inside:
                raise RulesError(f"fragment <{name}> contains itself (via {' -> '.join(inside)})")
            if name not in self._expanded:
                self._expanded[name] = self._expand(self.fragments[name], (*inside, name))
            return self._expanded[name]

        return self._name.sub(fragment, text)  # a function's result is inserted as is: backslashes stay

    def regex(self, pattern: str, where: str) -> re.Pattern[str]:
        source = self.expand(pattern, where)
        try:
            return re.compile(source)
        except re.error as e:
            expanded = " once its fragments are expanded" if source != pattern else ""
            self.problems.append(f"{where}: does not compile{expanded} ({e}): {as_written(pattern)}")
            return self._never

    def pattern(self, pattern: str | NearPattern, where: str) -> _Compiled:
        """A plain pattern, or one with conditions (unless / requires / unless_before)."""
        if isinstance(pattern, str):
            regex = self.regex(pattern, where)
            return _Compiled(regex, trigger(regex.pattern) if self.use_triggers else None)
        regex = self.regex(pattern.pattern, where)
        conditions = {
            field: self.regex(value, f"{where} ({field})")
            for field in ("unless", "requires", "unless_before")
            if (value := getattr(pattern, field)) is not None
        }
        return _Compiled(
            regex, trigger(regex.pattern) if self.use_triggers else None, **conditions, topic=pattern.topic
        )


def _compile_context(c: _Compiler, ctx: Context) -> _Context:
    not_a_person = [c.regex(p, f"context.not_a_person {i + 1}").pattern for i, p in enumerate(ctx.not_a_person)]
    return _Context(
        person=c.pattern(ctx.person, "context.person"),
        not_a_person=re.compile("|".join(not_a_person)),
        question_openers=frozenset(ctx.question_openers),
        general=c.pattern(ctx.general, "context.general"),
        future=c.pattern(ctx.future, "context.future"),
        urgent=c.pattern(ctx.urgent, "context.urgent"),
        strong_urgent=c.pattern(ctx.strong_urgent, "context.strong_urgent"),
        recent=c.pattern(ctx.recent, "context.recent"),
        history=c.pattern(ctx.history, "context.history"),
        habitual=c.pattern(ctx.habitual, "context.habitual"),
        topic_question=c.pattern(ctx.topic_question, "context.topic_question") if ctx.topic_question else None,
        fiction=c.pattern(ctx.fiction, "context.fiction") if ctx.fiction else None,
        present_self=c.pattern(ctx.present_self, "context.present_self") if ctx.present_self else None,
        past=c.pattern(ctx.past, "context.past") if ctx.past else None,
    )


def _compile_rules(c: _Compiler, rules: list[PatternRule | CooccurrenceRule]) -> tuple[_Rule, ...]:
    from bot.safety.schema import CooccurrenceRule, rule_label

    out = []
    for i, rule in enumerate(rules):
        label = rule_label(i, rule.model_dump())
        if isinstance(rule, CooccurrenceRule):
            cooccurrence = _Cooccurrence(
                rule.window,
                c.pattern(rule.procedure, f"{label}, procedure"),
                c.pattern(rule.symptoms, f"{label}, symptoms"),
                c.pattern(rule.ambiguous_symptoms, f"{label}, ambiguous_symptoms"),
            )
            out.append(_Rule(rule.category, rule.mode, cooccurrence=cooccurrence))
        else:
            patterns = tuple(c.pattern(p, f"{label}, pattern {j + 1}") for j, p in enumerate(rule.patterns))
            out.append(_Rule(rule.category, rule.mode, patterns))
    return tuple(out)


class Detector:
    """Crisis and emergency detection compiled from one rules file. Thread-safe once built."""

    def __init__(self, rules: RulesFile, *, source: str = "<rules>", use_triggers: bool = True):
        self.source = source
        self.use_triggers = use_triggers
        c = _Compiler(rules.fragments, use_triggers)
        for name, fragment in rules.fragments.items():  # checked where written, not only where used
            c.expand(fragment, f"fragments.{name}")
        for name, condition in rules.conditions.items():
            c.regex(condition, f"conditions.{name}")
        self.context = _compile_context(c, rules.context)
        self.rules = _compile_rules(c, rules.rules)
        if c.problems:
            n = len(c.problems)
            raise RulesError(
                f"{source}: {n} problem{'s' if n > 1 else ''} in the safety rules:\n"
                + "\n".join(f"  {p}" for p in c.problems)
            )
        self.near_window = rules.windows.near
        self.before_window = rules.windows.before
        self.normalise = Normaliser(
            rules.normalisation.character_folds, rules.normalisation.word_fixes, rules.normalisation.phrase_fixes
        )
        self.clause_end = re.compile(r"[.?!;:,\n\r\u2026()-]+")
        self.first_word = re.compile(r"[a-z]+")
        self._by_word, self._by_beginning = self._trigger_index()
        # the patterns a word can start a match of, cached: visitors' vocabulary repeats
        self.triggered_by = functools.lru_cache(maxsize=65536)(self._triggered_by)

    def __repr__(self) -> str:
        return f"Detector({self.source!r}, {len(self.rules)} rules, {len(self.patterns)} patterns)"

    @property
    def patterns(self) -> list[_Compiled]:
        """Every compiled pattern with a place in the trigger index: the rules' and the context cues'."""
        out = [p for rule in self.rules for p in rule.patterns]
        out += [
            p
            for rule in self.rules
            if rule.cooccurrence
            for p in (rule.cooccurrence.procedure, rule.cooccurrence.symptoms, rule.cooccurrence.ambiguous_symptoms)
        ]
        ctx = self.context
        out += [
            ctx.person,
            ctx.general,
            ctx.future,
            ctx.urgent,
            ctx.strong_urgent,
            ctx.recent,
            ctx.history,
            ctx.habitual,
        ]
        if ctx.topic_question is not None:
            out.append(ctx.topic_question)
        if ctx.fiction is not None:
            out.append(ctx.fiction)
        if ctx.present_self is not None:
            out.append(ctx.present_self)
        if ctx.past is not None:
            out.append(ctx.past)
        return out

    def _trigger_index(self) -> tuple[dict[str, list[_Compiled]], dict[str, list[tuple[str, _Compiled]]]]:
        """Trigger word -> patterns, and first two letters (or the one) -> (word beginning, pattern)."""
        by_word: dict[str, list[_Compiled]] = {}
        by_beginning: dict[str, list[tuple[str, _Compiled]]] = {}
        for p in self.patterns:
            if p.trigger is None:
                continue
            whole, beginnings = p.trigger
            for word in whole:
                by_word.setdefault(word, []).append(p)
            for b in beginnings:
                by_beginning.setdefault(b[:2], []).append((b, p))
        return by_word, by_beginning

    def _triggered_by(self, word: str) -> tuple[_Compiled, ...]:
        found = list(self._by_word.get(word, ()))
        for key in (word[:2], word[:1]) if len(word) > 1 else (word,):
            found.extend(p for b, p in self._by_beginning.get(key, ()) if word.startswith(b))
        return tuple(found)

    # --- detection -------------------------------------------------------------------------------

    def detect(self, message: object) -> SafetyMatch | None:
        """The crisis or emergency in a visitor's message, or None. Never raises; fast enough to run first."""
        try:
            if not isinstance(message, str):
                if message is None:
                    return None
                if isinstance(message, (bytes, bytearray)):
                    message = bytes(message).decode("utf-8", errors="replace")
                else:
                    message = str(message)
            return self._detect(message)
        except Exception:  # a bug here must not hide a crisis: fail closed, loudly
            log.exception("safety detector failed; treating the message as an emergency")
            return SafetyMatch(MEDICAL_EMERGENCY, DETECTOR_ERROR)

    def topic(self, message: object) -> SafetyMatch | None:
        """The match the rules held back because the message asks about its subject as a subject ("what is
        the suicide rate in MS?"), with nobody in it and no other rule firing: such a message is answered,
        with the crisis numbers added under the answer (the crisis net, bot/safety/semantic.py, sees to
        that). None when ``detect`` finds a crisis, or nothing was held back. Never raises."""
        try:
            if not isinstance(message, str):
                return None
            return self._examine(message)[1]
        except Exception:
            log.exception("safety detector failed on a topic question; ignored (detect fails closed)")
            return None

    def _detect(self, message: str) -> SafetyMatch | None:
        return self._examine(message)[0]

    def _examine(self, message: str) -> tuple[SafetyMatch | None, SafetyMatch | None]:
        """(the match that calls for the safety reply, or None; else the topic match held back, or None)."""
        msg = _Message(self, message)
        if not msg.text:
            return None, None
        held: SafetyMatch | None = None
        for rule in self.rules:
            topic = None
            if rule.cooccurrence is not None:
                phrase = self._post_procedure(rule.cooccurrence, msg)
            else:
                phrase, topic = self._first_match(rule.patterns, msg)
                if (
                    (phrase is not None or topic is not None)
                    and rule.mode != "always"
                    and (
                        msg.general
                        or (rule.mode == "current" and msg.historic)
                        or (rule.mode == "recurring" and msg.habitual)
                    )
                ):
                    phrase = topic = None
            if phrase is not None:
                return SafetyMatch(rule.category, phrase), None
            if topic is not None and held is None:
                held = SafetyMatch(rule.category, topic, personal=not msg.topic_question)
        return None, held

    def _first_match(self, patterns: tuple[_Compiled, ...], msg: _Message) -> tuple[str | None, str | None]:
        """(the first match that counts, or None; the first `topic` match held back as a topic question, or None)."""
        text, near, before = msg.text, self.near_window, self.before_window
        held = None
        for p in patterns:
            for m in p.finditer(msg):
                lo, hi = max(0, m.start() - near), m.end() + near
                if p.unless and p.unless.search(text, lo, hi):
                    continue
                if p.requires and not p.requires.search(text, lo, hi):
                    continue
                if p.unless_before and p.unless_before.search(text[max(0, m.start() - before) : m.start()]):
                    continue
                if p.topic and (msg.topic_question or msg.framed_personal):
                    held = held or m.group(0)
                    break  # this pattern's other matches are the same subject
                return m.group(0), None
        return None, held

    @staticmethod
    def _near_pair(first: list[re.Match[str]], second: list[re.Match[str]], window: int) -> tuple[str, str] | None:
        for a in first:
            for b in second:
                if abs(a.start() - b.start()) <= window:
                    return a.group(0), b.group(0)
        return None

    def _post_procedure(self, rule: _Cooccurrence, msg: _Message) -> str | None:
        """A symptom word near a procedure word: "<symptom> + <procedure>", or None."""
        procedures = list(rule.procedure.finditer(msg))
        if not procedures:
            return None
        pair = self._near_pair(list(rule.symptoms.finditer(msg)), procedures, rule.window)
        if pair is None and msg.recent:
            pair = self._near_pair(list(rule.ambiguous_symptoms.finditer(msg)), procedures, rule.window)
        if pair is None or msg.general or msg.historic:
            return None
        return f"{pair[0]} + {pair[1]}"


class _Message:
    """One normalised message and facts about it, each worked out at most once."""

    def __init__(self, detector: Detector, message: str):
        self.detector = detector
        self.context = detector.context
        self.message = message
        self.text = detector.normalise(message)
        self.positions: dict[str, list[int]] = {}  # word -> where it starts in self.text
        i = 0
        for word in self.text.split(" "):
            self.positions.setdefault(word, []).append(i)
            i += len(word) + 1
        self.starts: dict[_Compiled, list[int]] = {}  # pattern -> where its trigger words start
        starts, triggered_by = self.starts, detector.triggered_by
        for word, where in self.positions.items():
            for p in triggered_by(word):
                if p in starts:
                    starts[p].extend(where)
                else:
                    starts[p] = list(where)
        self._general: bool | None = None
        self._historic: bool | None = None
        self._recent: bool | None = None
        self._topic_question: bool | None = None

    @property
    def recent(self) -> bool:
        if self._recent is None:
            self._recent = self.context.recent.search(self) is not None
        return self._recent

    @property
    def general(self) -> bool:
        """True when the message reads as a question about risks in general, with nobody in it."""
        if self._general is None:
            self._general = self._is_general()
        return self._general

    @property
    def topic_question(self) -> bool:
        """True when the message asks about a subject as a subject (context.topic_question), with nobody
        in it and nothing happening now: "what is the suicide rate in MS?", not "my son is suicidal"."""
        if self._topic_question is None:
            cue = self.context.topic_question
            self._topic_question = (
                cue is not None and cue.search(self) is not None and not self.recent and not self.has_person
            )
        return self._topic_question

    @property
    def framed_personal(self) -> bool:
        """True when someone is in the message, but in a frame that says it is not happening now: the past
        ("I used to self-harm, fifteen years ago") or a story ("a character in my novel"). A question about
        the subject is not such a frame when someone is in it ("my son is suicidal, is there support for
        families?" is happening now). Never with anything recent or urgent, nor the writer's own present
        state, and only with a rules file that has topic questions at all."""
        ctx = self.context
        if ctx.topic_question is None or self.recent or not self.has_person or ctx.strong_urgent.search(self):
            return False
        if ctx.present_self is not None and ctx.present_self.search(self):
            return False
        cues = (ctx.past, ctx.fiction)
        return any(c is not None and c.search(self) is not None for c in cues)

    @property
    def has_person(self) -> bool:
        """True when someone is in the message once the words about asking ("can I", "tell me") are removed."""
        ctx = self.context
        return bool(ctx.person.search(self) and ctx.person.regex.search(ctx.not_a_person.sub(" ", self.text)))

    def _is_general(self) -> bool:
        ctx = self.context
        if ctx.future.search(self) and not self.recent and not ctx.strong_urgent.search(self):
            return True
        if ctx.urgent.search(self):
            return False
        if self.has_person:
            return False
        return bool(self._openers() & ctx.question_openers) or ctx.general.search(self) is not None

    def _openers(self) -> set[str]:
        """First word of every clause, commas included as clause ends: "..., is that right?"."""
        words = set()
        message = self.message.lower()
        if not message.isascii():
            message = message.translate(self.detector.normalise.fold_table)
        first_word = self.detector.first_word
        for clause in self.detector.clause_end.split(message.replace("'", "")):
            first = first_word.search(clause)
            if first:
                words.add(first.group())
        return words

    @property
    def habitual(self) -> bool:
        """True when the message says the symptom keeps coming back, with nothing recent."""
        return (
            self.context.habitual.search(self) is not None
            and not self.recent
            and self.context.urgent.search(self) is None
        )

    @property
    def historic(self) -> bool:
        """True when the message is about the past or a long-standing symptom, with nothing recent."""
        if self._historic is None:
            self._historic = (
                self.context.history.search(self) is not None
                and not self.recent
                and self.context.urgent.search(self) is None
            )
        return self._historic


def load_detector(path: str | Path | None = None, *, use_triggers: bool = True) -> Detector:
    """Read, validate and compile a rules file (bot/safety/rules.yml by default); RulesError if it is broken.

    ``use_triggers=False`` searches every pattern over the whole text: slower, for proving that the
    trigger index never changes a result."""
    from bot.safety.schema import read_rules

    path = Path(path) if path is not None else RULES_PATH
    return Detector(read_rules(path), source=str(path), use_triggers=use_triggers)

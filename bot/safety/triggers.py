"""Trigger words: the words a pattern's match can start with, read from the pattern's text.

Why: about 300 patterns cannot all be searched over 1000 characters in well under a millisecond. So
each pattern gets a *trigger* when the detector is built, and is tried only where one of its trigger
words starts in the message (``regex.match`` at that position), not at every character.

How: a small parser of the regular-expression subset the rules use (literals, escapes, ``\\b``,
groups, alternation, quantifiers, classes, look-arounds) collects the literal text every match must
begin with. A pattern needs a trigger only to be fast, never to be found: whenever the parser is
unsure (an inline flag, a back-reference, an unfamiliar escape, a start that is not ``\\b`` and a
word), it returns None and the pattern is searched over the whole text. So a parser that knows too
little costs speed, never recall. (The private ``re._parser`` did this job before; it is not a
public API and may change with any Python release.)

The triggers rely on what ``normalise`` produces: words of ASCII letters and digits, and " . ",
separated by single spaces. So a ``\\b`` after a letter is a space (or the end of the text), and a
match that starts with ``\\b`` and a letter starts at a word.
"""

from __future__ import annotations

# Past this many literal beginnings, stop reading further into the pattern (a shorter, less specific
# trigger is still a correct one).
MAX_STARTS = 300

# A parsed pattern is a list of nodes: ("lit", char), ("bound",) for \b, ("stop",) for anything
# that is not literal text (a class, a look-around, an anchor), ("group", [alternative, ...]) and
# ("repeat", minimum, node).
Node = tuple
Alternatives = list[list[Node]]
Trigger = tuple[frozenset[str], tuple[str, ...]]

_BOUND: Node = ("bound",)
_STOP: Node = ("stop",)
_CLASS_ESCAPES = frozenset("wWdDsS")
_ANCHOR_ESCAPES = frozenset("ABZ")


class _Unsure(Exception):
    """The pattern uses something this parser does not read: no trigger, search the whole text."""


class _Parser:
    """Recursive descent over a pattern's text, mirroring ``re``'s reading of the subset it knows."""

    def __init__(self, pattern: str):
        self.s = pattern
        self.pos = 0

    def parse(self) -> Alternatives:
        alternatives = self.alternatives()
        if self.pos != len(self.s):  # an unbalanced ")"
            raise _Unsure
        return alternatives

    def alternatives(self) -> Alternatives:
        """Alternatives up to the end of the text or the ")" closing the current group."""
        out: Alternatives = [[]]
        while self.pos < len(self.s):
            ch = self.s[self.pos]
            if ch == ")":
                break
            if ch == "|":
                self.pos += 1
                out.append([])
                continue
            out[-1].append(self.quantified(self.atom()))
        return out

    def atom(self) -> Node:
        s, ch = self.s, self.s[self.pos]
        self.pos += 1
        if ch == "(":
            return self.group()
        if ch == "[":
            self.skip_class()
            return _STOP
        if ch in ".^$":
            return _STOP
        if ch == "\\":
            if self.pos >= len(s):
                raise _Unsure
            esc = s[self.pos]
            self.pos += 1
            if esc == "b":
                return _BOUND
            if esc in _CLASS_ESCAPES or esc in _ANCHOR_ESCAPES:
                return _STOP
            if esc.isascii() and not esc.isalnum():
                return ("lit", esc)
            raise _Unsure  # \n, \x41, \1, \N{...}: possible, but not used by the rules
        if ch in "*+?{)":
            raise _Unsure  # a quantifier with nothing to repeat, or a literal "{" re reads its own way
        return ("lit", ch)

    def group(self) -> Node:
        s = self.s
        lookaround = False
        if s.startswith("?", self.pos):
            if s.startswith("?:", self.pos):
                self.pos += 2
            elif s.startswith("?P<", self.pos):
                end = s.find(">", self.pos)
                if end < 0:
                    raise _Unsure
                self.pos = end + 1
            elif s.startswith(("?=", "?!"), self.pos):
                self.pos += 2
                lookaround = True
            elif s.startswith(("?<=", "?<!"), self.pos):
                self.pos += 3
                lookaround = True
            else:
                raise _Unsure  # inline flags, comments, conditionals, back-references by name
        alternatives = self.alternatives()
        if not s.startswith(")", self.pos):
            raise _Unsure
        self.pos += 1
        return _STOP if lookaround else ("group", alternatives)

    def skip_class(self) -> None:
        """Move past a character class; its content does not matter (a class stops the literal start)."""
        s = self.s
        if s.startswith("^", self.pos):
            self.pos += 1
        if s.startswith("]", self.pos):  # a "]" first is a literal "]"
            self.pos += 1
        while self.pos < len(s):
            ch = s[self.pos]
            self.pos += 2 if ch == "\\" else 1
            if ch == "]":
                return
        raise _Unsure

    def quantified(self, node: Node) -> Node:
        s = self.s
        if self.pos >= len(s) or s[self.pos] not in "*+?{":
            return node
        ch = s[self.pos]
        if ch == "{":
            end = s.find("}", self.pos)
            lo, comma, hi = s[self.pos + 1 : end].partition(",") if end > 0 else ("x", "", "")
            if not (lo.isdigit() or (comma and lo == "")) or not (hi == "" or hi.isdigit()):
                raise _Unsure  # re would read this "{" as a literal
            minimum = int(lo) if lo else 0
            self.pos = end + 1
        else:
            minimum = 1 if ch == "+" else 0
            self.pos += 1
        if self.pos < len(s) and s[self.pos] in "?+":  # lazy or possessive: the same minimum
            self.pos += 1
        if self.pos < len(s) and s[self.pos] in "*+?{":
            raise _Unsure
        return ("repeat", minimum, node)


def _starts(items: list[Node]) -> tuple[set[str], set[str]]:
    """Literal beginnings of a node list: (still literal to its end, cut short by something else)."""
    open_: set[str] = {""}
    closed: set[str] = set()
    for node in items:
        kind = node[0]
        if kind == "bound":  # after a word, a boundary is a space in normalised text
            open_ = {p + " " if p and p[-1].isalnum() else p for p in open_}
            continue
        if kind == "lit":
            open_ = {p + node[1] for p in open_}
            continue
        sub_open: set[str]
        sub_closed: set[str]
        if kind == "group":
            sub_open, sub_closed = set(), set()
            for alternative in node[1]:
                o, c = _starts(alternative)
                sub_open |= o
                sub_closed |= c
        elif kind == "repeat" and node[1] >= 1:  # one repetition is certain; what follows it is not
            o, c = _starts([node[2]])
            sub_open, sub_closed = set(), o | c
        else:
            return set(), closed | open_
        closed |= {p + q for p in open_ for q in sub_closed}
        open_ = {p + q for p in open_ for q in sub_open}
        if not open_ or len(open_) + len(closed) > MAX_STARTS:
            return set(), closed | open_
    return open_, closed


def parse(pattern: str) -> Alternatives | None:
    """The pattern's top-level alternatives as nodes, or None when the parser is unsure of it."""
    try:
        return _Parser(pattern).parse()
    except (_Unsure, RecursionError):
        return None


def trigger(pattern: str) -> Trigger | None:
    """(whole first words, first-word beginnings) that every match needs, or None when it cannot be told.

    A match of ``\\bkill me (?:now|please)`` starts at the word "kill": whole word {"kill"}. A match of
    ``\\bsu[ai]?s?[cs]i?d\\w*`` starts at a word beginning "su": beginnings ("su",)."""
    alternatives = parse(pattern)
    if alternatives is None or not all(alt and alt[0] == _BOUND for alt in alternatives):
        return None  # a match could begin inside a word, or anywhere: no trigger to look for
    items = alternatives[0] if len(alternatives) == 1 else [("group", alternatives)]
    open_, closed = _starts(items)
    words, beginnings = set(), set()
    for start in open_ | closed:
        if " " in start:
            words.add(start.split(" ", 1)[0])
        else:
            beginnings.add(start)
    if "" in words or "" in beginnings or not (words or beginnings):
        return None
    return frozenset(words), tuple(sorted(beginnings))

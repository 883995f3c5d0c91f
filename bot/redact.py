"""Personal details taken out of a visitor's message before it is stored (privacy.store_transcripts).

`redact(text)` replaces what identifies a person with a placeholder and keeps the rest, so a
stored conversation still shows what was asked:

- email addresses                                      -> [email]
- NHS numbers: ten digits, bare or spaced 3-3-4         -> [nhs-number]
- UK phone numbers: 07…, 01…/02…, 03…, 0800/0808…,
  +44 / 0044 with or without (0), spaces or hyphens     -> [phone]
- UK postcodes, every format, any case, with or
  without the space ("SW1A 1AA", "m1 1ae", "EC1A1BB")   -> [postcode]
- any other run of nine or more digits (a hospital
  number, an NHS number mistyped without spaces)        -> [number]

Where a rule has to guess, it leans towards taking too much out: a transcript with a harmless
number replaced loses little, one with a person's number kept is a breach. An NHS number is told
from other ten-digit numbers by its own mod-11 check digit when it is written as one run of digits;
written 3-3-4 (the NHS's own way) it is taken out whether or not the check holds, since a mistyped
number still points at someone. UK phone numbers begin with 0 (or +44) and NHS numbers never do,
so the two do not collide.

- people's names                                        -> [name]
  where the message shows a word is a name: after "my name is", "I'm called" (any case); after a
  title ("Dr Patel", "Mrs. Jones"); after "my wife", "our son", "my neurologist" and other people's
  roles; in a sign-off ("Thanks, Jane", a last line "- Tom"); after "I'm"/"I am" when the word is a
  given name ("I'm Sarah"); and, capitalised anywhere, a common UK given name from
  bot/given_names.txt ("Sarah said"), with the capitalised word after it (the surname).

A capitalised word the knowledge base itself uses (`keep`: "Dr Zamboni", who proposed CCSVI) is kept
after a title or a role, and as a listed given name; after "my name is" it goes all the same.

Not covered (by design, as the rules would take out ordinary words): a name that is also an ordinary
word or place and is not shown to be a name ("Grace", "Will"), a lower-case name outside those
contexts ("sarah said"), street addresses, dates of birth written in words, and a postcode's first
half alone ("SW1A").
"""

from __future__ import annotations

import re
from collections.abc import Container
from functools import lru_cache
from pathlib import Path

EMAIL = "[email]"
PHONE = "[phone]"
NHS_NUMBER = "[nhs-number]"
POSTCODE = "[postcode]"
NUMBER = "[number]"
NAME = "[name]"

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")

# Between groups of digits: a space (also a no-break or tab, up to three) or a hyphen with or without spaces.
_SPACE = r"[ \t\u00a0\u202f]"
_SEP = rf"(?:{_SPACE}{{1,3}}|{_SPACE}?[-\u2010\u2011\u2013]{_SPACE}?)"

# Ten digits as one run or as 3-3-4 with spaces or hyphens, not touching other digits or letters.
_NHS = re.compile(rf"(?<![\w])(\d{{3}})({_SEP}?)(\d{{3}})({_SEP}?)(\d{{4}})(?![\w])")

# A phone number's start: +44 / 0044 (and an optional "(0)"), or a national 0, maybe in brackets.
# Then groups of digits with one space, hyphen or closing bracket between them; how many groups
# belong to the number is decided by counting digits (_phone).
_PHONE = re.compile(
    rf"(?<![\w+])(?P<prefix>(?:\+|00){_SPACE}?44{_SEP}?(?:\(0\){_SEP}?)?|\((?=0)|(?=0))"
    rf"(?P<body>\d+(?:(?:{_SEP}|\){_SPACE}?)\d+)*)"
)
_DIGIT_GROUP = re.compile(r"\d+")

# The Royal Mail's formats: A9 9AA, A99 9AA, A9A 9AA, AA9 9AA, AA99 9AA, AA9A 9AA (and GIR 0AA). The
# letters each position may hold keep ordinary words out ("b12 3rd" still reads as one: a rare loss).
_POSTCODE = re.compile(
    r"(?<![\w])(?:[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]?|GIR) ?\d[ABD-HJLNP-UW-Z]{2}(?![\w])",
    re.IGNORECASE,
)

_LONG_NUMBER = re.compile(r"(?<!\d)\d{9,}(?!\d)")


def nhs_check_digit_ok(digits: str) -> bool:
    """The NHS number's mod-11 check: weights 10..2 on the first nine digits; 11 - (sum mod 11) is the
    tenth digit (11 means 0; 10 means no valid number has these nine digits)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _nhs(m: re.Match[str]) -> str:
    digits = m.group(1) + m.group(3) + m.group(5)
    if digits.startswith("0"):  # a phone number (NHS numbers never begin with 0)
        return m.group(0)
    if m.group(2) or m.group(4) or nhs_check_digit_ok(digits):
        return NHS_NUMBER
    return m.group(0)


def _phone(m: re.Match[str]) -> str:
    prefix, body = m.group("prefix"), m.group("body")
    international = prefix.lstrip("(").strip() != ""
    groups = list(_DIGIT_GROUP.finditer(body))
    # Digits a whole number has after its prefix: 0 plus 9 or 10 digits nationally, 9 or 10 after +44
    # (some write "+44 07911 …": the 0 is then counted as the national one).
    valid = (9, 10) if international and not body.startswith("0") else (10, 11)
    count, end = 0, None
    if not international and len(groups[0].group()) < 3:
        groups = []  # 0 and the area code come first, three digits at least ("01-02-2024" is a date)
    for g in groups:
        count += len(g.group())
        if count in valid:
            end = g.end()
        if count > max(valid):
            break
    if end is None:
        # Not a phone number from here: let the rest be looked at again (it may hold one).
        first = _DIGIT_GROUP.match(body).end()  # type: ignore[union-attr]
        return m.group(0)[: len(prefix) + first] + _PHONE.sub(_phone, body[first:])
    return PHONE + _PHONE.sub(_phone, body[end:])


def redact(text: str, keep: Container[str] = frozenset()) -> str:
    """The text with email addresses, phone numbers, NHS numbers, postcodes, long numbers and people's
    names replaced. `keep`: lower-case words that are not taken for names unless the message says they
    are ("my name is ..."): the words of the knowledge base, so "Dr Zamboni" stays."""
    text = _EMAIL.sub(EMAIL, text)
    text = _PHONE.sub(_phone, text)  # before NHS numbers: "+44 791 112 3456" is a phone number
    text = _NHS.sub(_nhs, text)
    text = _POSTCODE.sub(POSTCODE, text)
    text = _LONG_NUMBER.sub(NUMBER, text)
    return redact_names(text, keep)


# --- names ----------------------------------------------------------------------------------------

# A word: letters, with apostrophes or hyphens inside ("O'Neil", "Mary-Jane", "name's").
_TOKEN = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
# Capitalised as a name is: "Sarah", "O'Neil", "McDonald", "Mary-Jane"; not "MS" or "NHS".
_CAPITALISED = re.compile(r"[A-Z][a-z]*(?:['’-]?[A-Z]?[a-z]+)*")
# What may stand between a cue and the name, or between a name's parts.
_JOIN = re.compile(r"[ \t\u00a0]*[,:]?[ \t\u00a0]*")
_BETWEEN_PARTS = re.compile(r"[ \t\u00a0]+")
# "my name is Sarah", "i'm called sarah": whatever follows is a name, in any case.
_INTRODUCTIONS = (("my", "name", "is"), ("my", "name's"), ("my", "names"), ("i'm", "called"), ("i", "am", "called"))
# "Dr Patel", "Mrs. Jones". "Ms" only so written: "MS" and "ms" are the illness.
_TITLES = frozenset("dr doctor mr mrs miss mx prof professor sir dame rev".split())
# "my wife Sarah", "our neurologist Dr Patel": people a visitor names after their role.
_POSSESSIVES = frozenset("my our his her their your".split())
_ROLES = frozenset(
    """
wife husband partner son daughter child kid mum mom mother dad father brother sister friend boyfriend girlfriend
fiance fiancee aunt auntie uncle cousin nephew niece grandson granddaughter grandma grandmother grandad granddad
grandfather gran nan colleague carer neighbour neighbor neurologist consultant nurse gp doctor surgeon
physio stepson stepdaughter
""".split()
)
_SIGN_OFFS = frozenset("thanks thank you cheers regards wishes love".split())
# "I'm Sarah", "I am Tom": a name when the word is a listed given name.
_SELF = (("i'm",), ("im",), ("i", "am"))
# Function words are never names ("my name is not important", "my husband has").
_NOT_NAMES = frozenset(
    """
a about after again all also am an and any are as at be because been before being but by can could did do does
doing done for from get got had has have having he her here him his how i if in into is it its just me more my no
not now of on only or our out over she should so some such than that the their them then there these they this
those to too under up very was we were what when where which while who why will with would you your yours also
still really just currently recently diagnosed told says said asked
""".split()
)


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """The given names taken for names wherever they stand capitalised (bot/given_names.txt)."""
    path = Path(__file__).with_name("given_names.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


def redact_names(text: str, keep: Container[str] = frozenset()) -> str:
    """The text with people's names replaced by [name] (see the module's docstring for where)."""
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return text
    lower = [t.group().lower().replace("’", "'") for t in tokens]
    names = given_names()
    taken: set[int] = set()

    def joined(i: int) -> bool:
        """Token i follows token i-1 with only a space, comma or colon between (same clause)."""
        return i > 0 and _JOIN.fullmatch(text[tokens[i - 1].end() : tokens[i].start()]) is not None

    def after(i: int, cue: tuple[str, ...]) -> bool:
        n = len(cue)
        return i >= n and tuple(lower[i - n : i]) == cue and all(joined(j) for j in range(i - n + 1, i + 1))

    def capitalised(i: int) -> bool:
        return _CAPITALISED.fullmatch(tokens[i].group()) is not None and len(tokens[i].group()) > 1

    def name_like(i: int) -> bool:
        """Capitalised and neither a function word nor a word of the knowledge base, or a listed given name."""
        w = lower[i]
        if w in _NOT_NAMES or w in _TITLES or (w in keep and w not in names):
            return False
        return capitalised(i) or w in names

    def take(i: int, surname: bool = True) -> None:
        taken.add(i)
        nxt = i + 1
        if (
            surname
            and nxt < len(tokens)
            and _BETWEEN_PARTS.fullmatch(text[tokens[i].end() : tokens[nxt].start()])
            and capitalised(nxt)
            and lower[nxt] not in _NOT_NAMES
            and lower[nxt] not in keep
        ):
            taken.add(nxt)

    for i, w in enumerate(lower):
        if any(after(i, cue) for cue in _INTRODUCTIONS):
            # Up to three words, any case, until a function word: "my name is sarah jane smith and ...".
            j = i
            while (
                j < len(tokens)
                and j < i + 3
                and lower[j] not in _NOT_NAMES
                and (j == i or _BETWEEN_PARTS.fullmatch(text[tokens[j - 1].end() : tokens[j].start()]))
            ):
                taken.add(j)
                j += 1
            continue
        titled = (
            i > 0
            and (lower[i - 1] in _TITLES or tokens[i - 1].group() == "Ms")
            and re.fullmatch(r"\.?[ \t\u00a0]+", text[tokens[i - 1].end() : tokens[i].start()]) is not None
        )
        by_role = i > 1 and lower[i - 1] in _ROLES and lower[i - 2] in _POSSESSIVES and joined(i)
        listed = w in names and w not in keep and (capitalised(i) or any(after(i, cue) for cue in _SELF))
        if ((titled or by_role) and name_like(i)) or listed:
            take(i)
    _sign_off(text, tokens, lower, taken, names, keep)
    if not taken:
        return text
    out, last = [], 0
    for i in sorted(taken):
        start = tokens[i].start()
        if i - 1 in taken and _BETWEEN_PARTS.fullmatch(text[tokens[i - 1].end() : start]):
            last = tokens[i].end()  # "Sarah Jones": one placeholder for the whole name
            continue
        out.append(text[last:start])
        out.append(NAME)
        last = tokens[i].end()
    out.append(text[last:])
    return "".join(out)


def _sign_off(
    text: str, tokens: list[re.Match[str]], lower: list[str], taken: set[int], names: frozenset[str], keep
) -> None:
    """A name signed at the end: "..., thanks Jane", "Cheers, Tom Smith!", a last line "- Tom", or a last
    line that is a listed given name ("\nSarah")."""
    n = len(tokens)
    if n < 2 or text[tokens[-1].end() :].strip(" \t\n.!"):
        return
    for size in (2, 1):
        first = n - size
        if first < 1:
            continue
        parts = range(first, n)
        if any(lower[i] in _NOT_NAMES or lower[i] in _SIGN_OFFS or lower[i] in _TITLES for i in parts):
            continue
        if any(lower[i] in keep and lower[i] not in names for i in parts):
            continue
        if not all(_CAPITALISED.fullmatch(tokens[i].group()) or lower[i] in names for i in parts):
            continue
        if size == 2 and not _BETWEEN_PARTS.fullmatch(text[tokens[first].end() : tokens[first + 1].start()]):
            continue
        before = text[tokens[first - 1].end() : tokens[first].start()]
        signed = _signs_off(text, tokens, lower, first - 1) and re.fullmatch(r"[ \t\n,!.\-–—]*", before)
        dashed = re.fullmatch(r"[ \t.!?]*\n?[ \t]*[-–—][ \t]*", before) and not re.fullmatch(r"\S*", before)
        own_line = re.fullmatch(r"[ \t.!?]*\n[ \t]*", before) and lower[first] in names
        if signed or dashed or own_line:
            taken.update(parts)
            return


def _signs_off(text: str, tokens: list[re.Match[str]], lower: list[str], k: int) -> bool:
    """Token k closes the message as a sign-off does: "thank you", or "Thanks"/"Cheers"/"Love" opening its
    sentence or line ("... of Love Island" is no sign-off), or "regards"/"wishes"."""
    w = lower[k]
    if w == "you":
        return k > 0 and lower[k - 1] == "thank"
    if w in ("regards", "wishes"):
        return True
    if w not in _SIGN_OFFS:
        return False
    return k == 0 or bool(re.search(r"[.!?,\n]", text[tokens[k - 1].end() : tokens[k].start()]))

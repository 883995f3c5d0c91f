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

Not covered (by design, as the rules would take out ordinary words): names, street addresses,
dates of birth written in words, and a postcode's first half alone ("SW1A").
"""

from __future__ import annotations

import re

EMAIL = "[email]"
PHONE = "[phone]"
NHS_NUMBER = "[nhs-number]"
POSTCODE = "[postcode]"
NUMBER = "[number]"

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


def redact(text: str) -> str:
    """The text with email addresses, phone numbers, NHS numbers, postcodes and long numbers replaced."""
    text = _EMAIL.sub(EMAIL, text)
    text = _PHONE.sub(_phone, text)  # before NHS numbers: "+44 791 112 3456" is a phone number
    text = _NHS.sub(_nhs, text)
    text = _POSTCODE.sub(POSTCODE, text)
    return _LONG_NUMBER.sub(NUMBER, text)

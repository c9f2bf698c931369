"""Checksums of card numbers (Luhn) and IBANs (ISO 13616 mod-97).

Shared by the scanner (a valid checksum is strong evidence that a column holds real card numbers or
IBANs) and by generators (fakes must be checksum-valid so downstream validation keeps working).
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s-]")
_IBAN_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")

# Official lengths for the countries we meet most; other countries only get the generic shape check.
IBAN_LENGTHS: dict[str, int] = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27,
    "GB": 22, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
}  # fmt: skip


def luhn_valid(s: str) -> bool:
    """True if `s` (spaces/hyphens allowed) is at least two digits with a valid Luhn check digit."""
    digits = _SEPARATORS.sub("", s)
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:  # every second digit from the right is doubled
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_LETTER_DIGITS = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})


def _iban_number(rearranged: str) -> int:
    """Letters become 10..35, as ISO 13616 asks, so the string can be reduced mod 97."""
    return int(rearranged.translate(_LETTER_DIGITS))


def iban_valid(s: str) -> bool:
    """True if `s` (spaces allowed, any case) has IBAN shape, known length and mod-97 == 1."""
    iban = s.replace(" ", "").upper()
    if not iban.isascii() or not _IBAN_SHAPE.fullmatch(iban):
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    return _iban_number(iban[4:] + iban[:4]) % 97 == 1


def iban_check_digits(country: str, bban: str) -> str:
    """The two check digits that make `country + digits + bban` a valid IBAN."""
    rest = (bban + country + "00").upper()
    if not rest.isascii() or not rest.isalnum():
        raise ValueError("IBAN parts must be ASCII letters and digits")
    return f"{98 - _iban_number(rest) % 97:02d}"

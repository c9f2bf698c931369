"""Where personal data shows: identifier patterns, the checks that confirm a match, and known names.

Two families, on purpose, because a miss costs differently:
- *inside text* (`PATTERNS`, `classify`, `VALID`, `known_names`): what free text and JSON scrub and what
  the leak check looks for. A miss leaks, so bare runs of 10+ digits count as phones. Anonymized outputs
  depend on these: change them only with a digest of a release before and after.
- *whole values* (`is_email`, `is_phone`, `is_card_number`, `mentions_pii`, `folded_names`): the scan's
  evidence for calling a column by a kind. Bare digit runs are mostly ids and amounts, so they count as
  phones only with a trunk prefix; a wrong proposal is reviewed by a person anyway.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_pipeline.anonymize.hashing import text_array
from data_pipeline.anonymize.pools import COUNTRY_LOCALES, pool
from data_pipeline.checksums import IBAN_LENGTHS, iban_valid, luhn_valid

# ---------------------------------------------------------------------------------------- in text

_SEP = r"[ .\-/]"
_DATES = "|".join(
    rf"\d{{4}}{s}\d{{1,2}}{s}\d{{1,2}}|\d{{1,2}}{s}\d{{1,2}}{s}\d{{2,4}}" for s in (r"-", r"/", r"\.")
)
_PHONE = (  # "S" stands for a separator (_SEP)
    r"(?<![\w+])(?<!\d[-/.])"
    rf"(?!(?:{_DATES})(?![-/.]?\d))"  # not a date (2024-03-05, 05.03.2024, 3/5/24)
    r"(?:\+\d{1,3}(?:S?\(\d{1,4}\))?(?:S?\d{1,4}){2,6}"  # +44 20 7946 0000, +49 (0)30 1234567
    r"|\(\d{1,4}\)S?\d{2,4}(?:S?\d{2,4}){1,4}"  # (555) 010-1234
    r"|\d{1,4}(?:S\d{2,4}){2,5}"  # 020 7946 0000, 555.010.1234, 01 23 45 67 89
    r"|\d{2,5}S\d{4,10}"  # 030/1234567, 07123 456789
    r"|\d{10,15}"  # 5550101234
    r")(?!\w)"
).replace("S", _SEP)
PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
    "card_number": re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
    "phone": re.compile(_PHONE),  # written like a phone: bare runs need 10+ digits; dates excluded
}


_DIGIT = r"0-9\x{80}-\x{10FFFF}"  # a superset of Python's Unicode \d, in RE2's class syntax


def re2_superset(pattern: str) -> str:
    r"""`pattern` without what RE2 (Arrow's regex engine) lacks or reads narrower: lookarounds and
    `\b` dropped, `\d` as an ASCII digit or any non-ASCII character. Whatever Python's regex finds in
    a text, this finds too, so Arrow can pick, over a whole column, the few rows Python's regex must
    look at. Not `\p{Nd}`: RE2 compiles its many ranges into every repetition, and Arrow compiles the
    pattern again on every call, which cost more than the scan on a batch.

    >>> print(re2_superset(r"(?<![\w)])\d{3}\b"))
    [0-9\x{80}-\x{10FFFF}]{3}
    """
    out, i, in_class = [], 0, False
    while i < len(pattern):
        lookaround = next((p for p in ("(?<!", "(?<=", "(?!", "(?=") if pattern.startswith(p, i)), None)
        if lookaround and not in_class:
            i, depth, skipping_class = i + len(lookaround), 1, False
            while depth:
                char = pattern[i]
                if char == "\\":
                    i += 1
                elif skipping_class:
                    skipping_class = char != "]"
                elif char == "[":
                    skipping_class = True
                elif char in "()":
                    depth += 1 if char == "(" else -1
                i += 1
            continue
        token = pattern[i : i + 2] if pattern[i] == "\\" else pattern[i]
        if token == "\\d":
            token = _DIGIT if in_class else f"[{_DIGIT}]"
        elif token == "\\b" and not in_class:
            token = ""
        elif token == "[" and not in_class:
            in_class = True
        elif token == "]" and in_class:
            in_class = False
        out.append(token)
        i += 2 if pattern[i] == "\\" else 1
    return "".join(out)


KINDS = ("email", "iban", "card_number", "phone")  # the order in which a match is classified
PREFILTERS = {kind: re2_superset(p.pattern) for kind, p in PATTERNS.items()}  # for pyarrow.compute
ANY_IDENTIFIER = re.compile("|".join(f"(?:{PATTERNS[k].pattern})" for k in KINDS))


def may_hold(text: pd.Series, kinds: Iterable[str] = KINDS) -> np.ndarray:
    """Which texts can hold an identifier of any of `kinds`: one pass of Arrow's RE2 over the whole
    column (`PREFILTERS`, every kind at once), so Python's regexes need only look at those."""
    pattern = "|".join(f"(?:{PREFILTERS[kind]})" for kind in kinds)
    return pc.match_substring_regex(text_array(text), pattern).to_numpy(zero_copy_only=False)


RE2_EXACT = frozenset({"email"})  # RE2 reads these patterns as Python does: ASCII classes, no lookaround


def find_all(text: pd.Series, kind: str) -> pd.Series:
    """Every match of `kind`'s pattern in each text, indexed by row (a row once per match). Where
    RE2 reads the pattern exactly as Python does (RE2_EXACT), Arrow counts the matches of every
    text and finds the one of each text holding one; Python's regex reads texts holding several.
    Other kinds: Arrow keeps the texts that can hold a match (`may_hold`), Python's regex reads them.

    >>> find_all(pd.Series(["a@b.io and c@d.io", "mail e@f.io"]), "email").sort_values().tolist()
    ['a@b.io', 'c@d.io', 'e@f.io']
    """
    pattern = PATTERNS[kind]
    if kind not in RE2_EXACT and len(text):
        text = text[may_hold(text, [kind])]
    if not len(text):
        return pd.Series([], dtype=object)
    if kind not in RE2_EXACT:
        return text.str.findall(pattern).explode().dropna()
    arrow = text_array(text)
    counts = pc.count_substring_regex(arrow, pattern.pattern).to_numpy(zero_copy_only=False)
    one = counts == 1
    first = pc.struct_field(pc.extract_regex(arrow.filter(pa.array(one)), f"(?P<m>{pattern.pattern})"), [0])
    found = pd.Series(first.to_numpy(zero_copy_only=False), index=text.index[one], dtype=object)
    several = counts > 1
    if not several.any():
        return found
    return pd.concat([found, text[several].str.findall(pattern).explode()])


_DATE_LIKE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


def phone_like(s: str) -> bool:
    """7-15 digits written like a phone number: with '+', '(', separators, or >= 10 digits in a row.

    Shorter bare runs (order numbers) and dates are left alone.
    """
    digits = sum(ch.isdigit() for ch in s)
    if not 7 <= digits <= 15 or _DATE_LIKE.fullmatch(s):
        return False
    return s.startswith(("+", "(")) or not s.isdigit() or digits >= 10


VALID = {
    "card_number": luhn_valid,
    "iban": lambda s: iban_valid(s.replace(" ", "")),
    "phone": phone_like,
}


def _iban_core(match: str) -> str | None:
    """The valid IBAN at the start of `match` (a greedy match can run into following capitals)."""
    compact = match.replace(" ", "")
    length = IBAN_LENGTHS.get(compact[:2], len(compact))
    if len(compact) < length:
        return None
    seen, end = 0, 0
    while seen < length:
        seen += match[end] != " "
        end += 1
    core = match[:end]
    return core if iban_valid(core.replace(" ", "")) else None


def _card_core(match: str) -> str | None:
    """The longest Luhn-valid card number (13-19 digits) at the start of `match`."""
    ends = [i for i in range(len(match), 0, -1) if i == len(match) or not match[i].isdigit()]
    for end in ends:
        core = match[:end].rstrip(" -")
        if 13 <= sum(c.isdigit() for c in core) <= 19 and luhn_valid(core):
            return core
    return None


def classify(match: str) -> tuple[str, str] | None:
    """(kind, the part of the match that is that identifier), or None to keep the match."""
    if "@" in match:
        return "email", match
    if match[:2].isalpha():
        core = _iban_core(match)
        return ("iban", core) if core else None
    core = _card_core(match)
    if core:
        return "card_number", core
    return ("phone", match) if phone_like(match) else None


WORD = re.compile(r"\b[^\W\d_]{2,}\b")
# Function words that some locale also lists as a name: left alone, or prose breaks ("Can you ...").
NOT_NAMES = frozenset(
    {"An", "And", "Are", "As", "At", "Be", "But", "By", "Can", "Da", "Das", "De", "Dear", "Del", "Dem",
     "Den", "Der", "Des", "Di", "Die", "Do", "Du", "Ein", "El", "En", "Es", "For", "Gut", "Hallo", "He",
     "Hello", "Her", "Hi", "His", "Hope", "How", "Il", "In", "Is", "It", "June", "La", "Las", "Le",
     "Les", "Lo", "Los", "May", "Me", "Merci", "Mit", "My", "No", "Not", "Of", "On", "Or", "Our",
     "Please", "So", "Thanks", "The", "They", "This", "To", "Un", "Une", "Und", "Us", "We", "Will",
     "With", "Yes", "You", "Your"}
)  # fmt: skip


@cache
def known_names(locale: str) -> tuple[frozenset[str], frozenset[str]]:
    """Capitalized first and last names of every locale the pools know, minus function words."""
    first: set[str] = set()
    last: set[str] = set()
    for code in sorted(set(COUNTRY_LOCALES.values()) | {locale}):
        first |= set(pool(code, "first_name"))
        last |= set(pool(code, "last_name"))
    usable = {n for n in first | last if n[:1].isupper() and WORD.fullmatch(n)} - NOT_NAMES
    return frozenset(first & usable), frozenset((last & usable) - first)


# People in text: names are replaced where they name someone, so ordinary capitalized words that some
# locale also lists as a name ("Story", "Saga", "India") stay. Someone is named by two or more names in
# a row ("Ann Lee"; after a known first name an unknown capitalized word is a surname too: "Ann
# Okonkwo"), a title ("Mr Story"), a greeting or closing ("Hi Ann", "Thanks, Ann"), a signature (a name
# ending the text after a full stop, comma or line break) or a list of names ("Ann, Bob and Carla").
HONORIFICS = frozenset(
    {"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Dame", "Herr", "Frau", "Mme", "Mlle",
     "Monsieur", "Madame", "Sr", "Sra", "Srta", "Sig", "Signor", "Signora", "Dhr", "Mevr"}
)  # fmt: skip
_GREETING = re.compile(
    r"(?:^|[^\w])(?:hi|hello|hey|dear|thanks|thank you|many thanks|regards|best|cheers|sincerely|yours"
    r"|love|greetings|hallo|liebe|lieber|gruß|grüße|grüßen|danke|bonjour|salut|cher|chère|merci"
    r"|cordialement|hola|querido|querida|saludos|gracias|ciao|caro|cara|grazie|saluti|beste|groeten"
    r"|this is|name is|i am|i'm|call me|ask for|speak to|talk to|contact)[\s,:;!-]*$",
    re.IGNORECASE,
)
_SIGNATURE_BEFORE = re.compile(r"[.!?,;:\n]\s*$")
_SIGNATURE_AFTER = re.compile(r"(?:[ -][A-Z]\.)*[\s.!]*")  # "Hans-J." ends a signature too
# between the words of one name: a space or hyphen, an initial ("Hans-J. Hentschel", "Ann B. Lee"),
# an O'/D' prefix ("Carl O'Neill": the prefix is no word of its own)
_JOIN = re.compile(r"[ -]|[ -][A-Z]\.? |[ -][A-Z]'")
_LIST_GAP = re.compile(r"\s*(?:,|;|&|/|\band\b|\bund\b|\bet\b|\by\b|\be\b|\ben\b|\bor\b)\s*")
_TOKEN = re.compile(r"\x01\d+\x02|\b[^\W\d_]{2,}\b")  # a word, or a marker of a row's own value
NOT_SURNAMES = frozenset(
    {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
     "March", "April", "July", "August", "September", "October", "November", "December", "Team",
     "Support", "Service", "Ltd", "Inc", "Company", "Group", "Bank", "II", "III", "IV", "Jr", "Junior",
     "Senior", "PhD", "MD"}
)  # fmt: skip
PARTICLES = frozenset(  # inside a name, kept as they are: "Alain De Oliveira", "Henriette Dos Santos"
    {"Al", "Bin", "Da", "Das", "De", "Del", "Della", "Den", "Der", "Des", "Di", "Do", "Dos", "Du", "El",
     "La", "Las", "Le", "Lo", "Los", "Ten", "Ter", "Van", "Von", "Zu"}
)  # fmt: skip


@cache
def place_names() -> frozenset[str]:
    """Country names of every locale the pools know ("India", "Georgia", "Jordan"): as a first name they
    need a known surname beside them to name someone."""
    names: set[str] = set()
    for code in sorted(set(COUNTRY_LOCALES.values())):
        try:
            provider = importlib.import_module(f"faker.providers.address.{code}").Provider
        except ModuleNotFoundError:
            continue
        names |= {c for c in getattr(provider, "countries", ()) if isinstance(c, str)}
    return frozenset(names)


def find_people(
    text: str,
    first: frozenset[str],
    last: frozenset[str],
    first_markers: frozenset[str] = frozenset(),
    own: Mapping[str, str] | None = None,
) -> list[tuple[int, int, str]]:
    """(start, end, rule) of every first name (`first_name`) and surname (`last_name`) that names
    someone in `text`. `first_markers`: markers standing for the row's own first names (a surname
    after one is a surname too); markers are never returned. `own`: the words of the row's own name
    columns and their rule, replaced wherever they stand, however short ("Jo asked ...")."""
    if not own and text.islower() and "\x01" not in text:
        return []  # no capital, no marker, no own word: nobody is named (most JSON leaves, codes)
    tokens = [(m.start(), m.end(), m.group(0)) for m in _TOKEN.finditer(text)]
    runs: list[list[tuple[int, int, str]]] = []
    for token in tokens:
        word = token[2]
        if not (word[0] == "\x01" or word[0].isupper()):
            continue
        if runs:
            prev = runs[-1][-1]
            gap = text[prev[1] : token[0]]
            if _JOIN.fullmatch(gap) or (gap == ". " and prev[2] in HONORIFICS):
                runs[-1].append(token)
                continue
        runs.append([token])
    places = place_names()
    found: list[tuple[int, int, str]] = []
    lone: dict[int, tuple[int, int, str]] = {}  # run -> its one first name, a name if listed with others
    decided: list[bool] = []
    for number, run in enumerate(runs):
        lead = 0
        while lead < len(run) - 1 and (run[lead][2] in HONORIFICS or _GREETING.search(run[lead][2] + " ")):
            lead += 1
        titled = any(t[2] in HONORIFICS for t in run[:lead])
        greeted = lead > 0 or bool(_GREETING.search(text[: run[0][0]][-40:]))
        names = run[lead:]
        while len(names) > 1 and not titled and not _known(names[0][2], first, last, first_markers):
            names = names[1:]  # a sentence's first word ("Ask Ann, Bob and Carla")
        spans = _person(names, first, last, first_markers, places, titled)
        known = [t for t in names if t[2] in first or t[2] in last]
        if not spans and known:
            signed = bool(_SIGNATURE_BEFORE.search(text[: names[0][0]])) and bool(
                _SIGNATURE_AFTER.fullmatch(text[names[-1][1] :])
            )
            if greeted or signed:  # "Thanks, Anna", "... Regards. Smith", "Thanks, June Bell"
                spans = [(t[0], t[1], "first_name" if t[2] in first else "last_name") for t in known]
            elif len(names) == 1 and names[0][2] in first and names[0][2] not in places:
                lone[number] = names[0]
        found += spans
        decided.append(bool(spans))
    found += _listed(text, runs, lone, decided)
    if own:
        taken = {start for start, _, _ in found}
        found += [(a, b, own[w]) for a, b, w in tokens if w in own and a not in taken]
    return sorted(found)


def _known(word: str, *lists: frozenset[str]) -> bool:
    """In any of the lists (never their union: building it per word cost more than the scrub)."""
    return any(word in names for names in lists)


def _person(
    names: list[tuple[int, int, str]],
    first: frozenset[str],
    last: frozenset[str],
    first_markers: frozenset[str],
    places: frozenset[str],
    titled: bool,
) -> list[tuple[int, int, str]]:
    """The names of one run of capitalized words, when the run names someone."""
    words = [t[2] for t in names]
    if titled:
        titled_names = [t for t in names[:3] if t[2][0] != "\x01"]
        return [(t[0], t[1], "first_name" if t[2] in first else "last_name") for t in titled_names]
    for i, word in enumerate(words[:-1]):
        known_first = (word in first and word not in places) or word in first_markers
        if not known_first and not (word in first and words[i + 1] in last):
            continue
        # a known first name and any capitalized word after it: someone ("Meghan May", "Jodi Le")
        out = [] if word in first_markers else [(names[i][0], names[i][1], "first_name")]
        for start, end, later in names[i + 1 : i + 5]:
            if later in PARTICLES:
                continue
            if later in NOT_NAMES or later[0] == "\x01" or (later in NOT_SURNAMES - first - last):
                break
            out.append((start, end, "first_name" if later in first else "last_name"))
        return out
    if len(words) >= 2 and all(w in first or w in last for w in words):
        return [(t[0], t[1], "first_name" if t[2] in first else "last_name") for t in names]
    return []


def _listed(
    text: str,
    runs: list[list[tuple[int, int, str]]],
    lone: dict[int, tuple[int, int, str]],
    decided: list[bool],
) -> list[tuple[int, int, str]]:
    """Lone first names listed beside other names ("Ann, Bob and Carla", "Ann Lee, Bob & Carla")."""
    out = []
    for number, token in lone.items():
        neighbours = [n for n in (number - 1, number + 1) if 0 <= n < len(runs)]
        for n in neighbours:
            a, b = (runs[n], runs[number]) if n < number else (runs[number], runs[n])
            listed = _LIST_GAP.fullmatch(text[a[-1][1] : b[0][0]]) is not None
            if listed and (decided[n] or n in lone):
                out.append((token[0], token[1], "first_name"))
                break
    return out


# ------------------------------------------------------------------------------------ whole values

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE_SHAPE = re.compile(r"[+(]?[0-9][0-9 ().\-/]{4,24}[0-9]")
_PHONE_IN_TEXT = re.compile(r"(?<![\w+\-/.])[+(]?[0-9][0-9 ().\-/]{4,24}[0-9](?![\w\-/])")
_CARD_IN_TEXT = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_MONEY = re.compile(r"-?\d+[.,]\d{1,2}")
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension|#)\s*\d{1,6}$", re.IGNORECASE)


def fold(text: str) -> str:
    """Lowercase ASCII, so 'Straße'/'strasse' and 'Prénom'/'prenom' compare equal."""
    text = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ẞ", "SS"))
    return text.encode("ascii", "ignore").decode().lower()


def is_email(text: str) -> bool:
    return _EMAIL.fullmatch(text) is not None


def is_phone(text: str) -> bool:
    """Looks like a phone number: 7-15 digits in a phone-like layout, not a date or an amount."""
    text = _EXTENSION.sub("", text)
    if not _PHONE_SHAPE.fullmatch(text) or ISO_DATE.fullmatch(text) or _MONEY.fullmatch(text):
        return False
    digits = sum(ch.isdigit() for ch in text)
    if not 7 <= digits <= 15:
        return False
    if text.isdigit():  # bare digits are mostly ids and amounts; trust only trunk-prefixed ones
        return text.startswith("00") or (text.startswith("0") and digits >= 10)
    return True


def is_card_number(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def mentions_pii(text: str) -> bool:
    """True if the text contains an email, a phone number, a card number or an IBAN."""
    if _EMAIL.search(text):
        return True
    if any(is_card_number(m) for m in _CARD_IN_TEXT.findall(text)):
        return True
    if any(iban_valid(m) for m in PATTERNS["iban"].findall(text)):
        return True
    return any(is_phone(m.strip()) for m in _PHONE_IN_TEXT.findall(text))


@lru_cache(maxsize=8)
def folded_names(locale: str) -> tuple[frozenset[str], frozenset[str]]:
    """Folded first and last names from Faker's person provider of `locale` (en_US if missing)."""
    try:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    except ModuleNotFoundError:
        provider = importlib.import_module("faker.providers.person.en_US").Provider
    lists: dict[str, set[str]] = {"first_name": set(), "last_name": set()}
    for attr in dir(provider):
        for kind, found in lists.items():
            if attr.startswith(kind) and isinstance(getattr(provider, attr), (tuple, list, dict)):
                found.update(fold(str(n)) for n in getattr(provider, attr))
    return frozenset(lists["first_name"]), frozenset(lists["last_name"])

"""PII scan: propose an anonymization policy from column names and sampled values.

The proposal is a draft a person must review, never a verdict: `run` refuses `unknown` columns
until someone decides them. Where evidence conflicts it leans towards "personal", because a missed
column leaks real data while an over-classified one only costs some realism.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import yaml

from data_pipeline.anonymize import RULES
from data_pipeline.anonymize.detect import (
    ISO_DATE,
    fold,
    folded_names,
    is_card_number,
    is_email,
    is_phone,
    mentions_pii,
)
from data_pipeline.checksums import iban_valid
from data_pipeline.schema import Column, listed_tables

# Column-name vocabulary per kind, in priority order (the first kind whose words end the name
# wins, so `email_address` is an email and not a street). `_` inside a word is optional.
_NAME_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("password_hash", ("password", "passwd", "pwd", "password_hash", "pass_hash", "pw_hash",
                       "hashed_password", "encrypted_password", "password_digest", "crypted_password",
                       "passwort", "kennwort", "mot_de_passe", "contrasena", "wachtwoord")),
    ("ip_address", ("ip", "ip_address", "ip_addr", "ipv4", "ipv6", "remote_addr", "ip_adresse")),
    ("email", ("email", "e_mail", "mail", "email_address", "mail_address", "email_adresse",
               "mail_adresse", "e_mail_adresse", "adresse_mail", "adresse_email", "courriel",
               "correo", "correo_electronico", "email_adres")),
    ("username", ("username", "user_name", "login", "login_name", "benutzername", "benutzer",
                  "nom_utilisateur", "usuario", "nombre_usuario", "gebruikersnaam", "screen_name",
                  "nickname")),
    ("card_number", ("card_number", "card_no", "card_num", "credit_card", "credit_card_number",
                     "cc_number", "cc_num", "ccnum", "pan", "karten_nummer", "kreditkarte",
                     "kreditkarten_nummer", "numero_carte", "carte_bancaire", "numero_tarjeta",
                     "tarjeta", "tarjeta_credito", "kaart_nummer")),
    ("iban", ("iban", "iban_number", "iban_nr")),
    ("national_id", ("ssn", "social_security", "social_security_number",
                     "sozialversicherungs_nummer", "sv_nummer", "svnr", "steuer_id",
                     "steuer_nummer", "tax_id", "national_id",
                     "nino", "bsn", "dni", "nif", "nie", "nir", "numero_securite_sociale",
                     "passport", "passport_number", "reisepass", "ausweis_nummer", "id_card",
                     "driver_license", "drivers_license", "fuehrerschein")),
    ("birth_date", ("birth_date", "date_of_birth", "dob", "birthday", "born", "born_on",
                    "geburts_datum", "geburtstag", "geb_datum", "gebdat", "date_naissance",
                    "date_de_naissance", "naissance", "fecha_nacimiento", "fecha_de_nacimiento",
                    "nacimiento", "geboorte_datum")),
    ("first_name", ("first_name", "fname", "given_name", "forename", "vorname", "prenom", "nombre",
                    "voornaam")),
    ("last_name", ("last_name", "lname", "surname", "family_name", "nachname", "familien_name",
                   "zuname", "nom", "nom_de_famille", "nom_famille", "apellido", "apellidos",
                   "achternaam", "maiden_name", "geburtsname")),
    ("full_name", ("full_name", "person_name", "customer_name", "client_name", "contact_name",
                   "contact_person", "employee_name", "patient_name", "member_name", "owner_name",
                   "account_holder", "holder_name", "card_holder", "cardholder_name",
                   "kunden_name", "ansprech_partner", "nom_complet", "nombre_completo",
                   "volledige_naam", "recipient", "recipient_name", "empfaenger", "shipping_name",
                   "billing_name")),
    ("phone", ("phone", "phone_number", "phone_no", "tel", "tel_no", "telephone",
               "telephone_number", "telefon", "telefon_nummer", "telefono", "telefoon",
               "telefoon_nummer", "mobile", "mobile_phone", "mobile_number", "mobil",
               "mobil_nummer", "mobiel", "handy", "handy_nummer", "cell", "cell_phone", "fax",
               "fax_nummer", "portable", "movil", "gsm", "ruf_nummer", "numero_telephone",
               "numero_de_telephone")),
    ("postal_code", ("zip", "zip_code", "postal_code", "post_code", "plz", "postleitzahl",
                     "code_postal", "cp", "codigo_postal", "cod_postal")),
    ("street_address", ("street", "street_address", "address", "address_line", "addr", "adresse",
                        "anschrift", "strasse", "str", "haus_nummer", "house_number", "rue", "voie",
                        "calle", "direccion", "domicilio", "straat", "adres", "huis_nummer")),
    ("city", ("city", "town", "ort", "wohnort", "stadt", "ville", "commune", "ciudad", "localidad",
              "municipio", "plaats", "woonplaats", "stad", "locality", "municipality")),
    ("company", ("company", "company_name", "employer", "firma", "firmen_name", "arbeitgeber",
                 "unternehmen", "societe", "entreprise", "empresa", "bedrijf")),
    ("gender", ("gender", "sex", "geschlecht", "sexe", "sexo", "genero", "geslacht", "salutation",
                "anrede", "civilite")),
    ("salary", ("salary", "income", "wage", "wages", "gehalt", "lohn", "einkommen", "salaire",
                "revenu", "salario", "sueldo", "salaris", "inkomen")),
    ("free_text", ("note", "notes", "comment", "comments", "remark", "remarks", "body", "text",
                   "message", "description", "details", "content", "subject", "memo", "feedback",
                   "bemerkung", "bemerkungen", "kommentar", "notiz", "notizen", "anmerkung",
                   "nachricht", "beschreibung", "betreff", "remarque", "commentaire",
                   "observation", "objet", "comentario", "comentarios", "observaciones", "nota",
                   "notas", "mensaje", "asunto", "descripcion", "opmerking", "opmerkingen",
                   "omschrijving", "bericht", "onderwerp")),
    ("safe", ("status", "state", "category", "kategorie", "categorie", "categoria", "sku", "price",
              "amount", "total", "subtotal", "quantity", "qty", "count", "currency", "country",
              "country_code", "land", "pays", "pais", "method", "type", "kind", "discount", "tax",
              "vat", "weight", "line_no", "line_number", "sort_order", "rank", "priority",
              "version", "code", "preis", "betrag", "summe", "menge", "anzahl", "waehrung", "prix",
              "montant", "quantite", "precio", "importe", "cantidad", "prijs", "bedrag", "aantal",
              "product_name", "brand", "color", "colour", "size", "unit")),
)  # fmt: skip
_AMBIGUOUS_NAMES = frozenset({"name", "title", "label", "display_name", "bezeichnung", "titel"})
_QUALIFIERS = frozenset({"primary", "secondary", "home", "work", "private", "privat", "business",
                         "personal", "alt", "alternate", "old", "new", "prev", "previous",
                         "current"})  # fmt: skip
_EVENT = re.compile(
    r"(?:^|_)(?:at|on|date|time|ts|timestamp|datetime|datum|zeit|fecha|created|updated|modified"
    r"|deleted)$"
)
_NAME_RULES = tuple(
    (kind, re.compile(r"(?:^|_)(?:" + "|".join(w.replace("_", "_?") for w in words) + r")$"))
    for kind, words in _NAME_WORDS
)

# What each detected kind proposes (POLICY.md); options ride along beside class and rule.
_PROPOSALS: dict[str, dict[str, Any]] = {
    "first_name": {"class": "pii", "rule": "first_name"},
    "last_name": {"class": "pii", "rule": "last_name"},
    "full_name": {"class": "pii", "rule": "full_name"},
    "email": {"class": "pii", "rule": "email"},
    "phone": {"class": "pii", "rule": "phone"},
    "street_address": {"class": "pii", "rule": "street_address"},
    "city": {"class": "pii", "rule": "city"},
    # A full postal code plus a birth year singles people out (k-anonymity fails on real sizes):
    # the proposal replaces postal codes and keeps only the decade of birth.
    "postal_code": {"class": "pii", "rule": "postal_code"},
    "birth_date": {"class": "quasi", "rule": "generalize_date", "to": "decade"},
    "card_number": {"class": "pii", "rule": "card_number"},
    "iban": {"class": "pii", "rule": "iban"},
    "free_text": {"class": "pii", "rule": "free_text"},
    "national_id": {"class": "pii", "rule": "token"},
    "username": {"class": "pii", "rule": "username"},
    "company": {"class": "pii", "rule": "company"},
    "gender": {"class": "quasi", "rule": "keep"},
    "salary": {"class": "pii", "rule": "generalize_number", "bucket": 10000},
    "safe": {"class": "safe", "rule": "keep"},
    # a secret, not data: dropped (a NOT NULL column gets a constant; see _fitted)
    "password_hash": {"class": "pii", "rule": "null"},
    "binary": {"class": "pii", "rule": "null"},  # files, images, keys: nothing to inspect, nothing kept
    "name_list": {"class": "pii", "rule": "free_text"},  # "Ann Lee, Bob Marsh & Carla Diaz"
}
_PERSON_KINDS = ("full_name", "first_name", "last_name")
# shapes names cannot fake
_STRONG_VALUE_KINDS = frozenset({"email", "card_number", "iban", "password_hash"})
_PASSWORD_HASH = re.compile(  # crypt(3) and Django/passlib formats: bcrypt, argon2, scrypt, pbkdf2, sha-crypt
    r"\$(?:2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}|argon2(?:id|i|d)\$\S+|scrypt\$\S+|pbkdf2[-_]sha\d+\$\S+"
    r"|[156]\$[^$]{1,16}\$[./A-Za-z0-9]{22,86})"
    r"|(?:pbkdf2_sha\d+|bcrypt(?:_sha256)?|argon2|scrypt)\$\S+"
)
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128}")
_BARE_PHONE = re.compile(r"\+?\d{10,15}")
_LIST_SPLIT = re.compile(r"\s*(?:,|;|&|/|\band\b|\bund\b|\bet\b|\by\b)\s*")

# Addresses (matched on folded text): "12 Main Street Apt. 3", "3, rue de la Paix",
# "Hauptstraße 12/1", "Via Roma, 5", "Davidpad 44", "Flat 3\nHall Island".
_HOUSE_NO = r"\d{1,5}(?:\s?[a-z]\b|[/-]\d{1,5})?"
_STREET_WORDS = (
    "street|st|avenue|ave|road|rd|lane|ln|drive|dr|way|blvd|boulevard|court|ct|place|pl|square"
    "|terrace|parkway|highway|hwy|circle|trail|crescent|close|row|walk|rue|chemin|impasse|allee"
    "|quai|route|calle|avenida|plaza|paseo|camino|ronda|pasaje|carretera|urbanizacion|acceso"
    "|cuesta|canada|travesia|glorieta|callejon|rambla|carrer|via|viale|piazza|piazzale|strada"
    "|corso|vicolo|largo|contrada|stretto|incrocio|borgo|rotonda|lungomare"
)
_STREET_SUFFIXES = (  # German and Dutch compounds: Hauptstraße, Mozart-Platz, Amelialaan
    "strasse|str|weg|platz|allee|gasse|ring|damm|ufer|chaussee|pfad|steig|markt|straat|laan"
    "|plein|pad|hof|steeg|singel|gracht|dijk|kade|baan|boulevard"
)
_NUMBER_FIRST = re.compile(rf"{_HOUSE_NO},?\s+[^\W\d_][^\d]*(?:,?\s*(?:apt|suite|unit|flat|no|#)\.?\s*\w+)?")
_NAMED_STREET = re.compile(
    rf"(?:\b(?:{_STREET_WORDS})\b|(?:{_STREET_SUFFIXES})\b\.?)[^\d]*?,?\s+{_HOUSE_NO}\b"
)
_STREET_FIRST = re.compile(  # French/Spanish/Italian addresses often have no house number
    r"(?:rue|boulevard|bd|avenue|av|chemin|impasse|allee|quai|calle|avenida|plaza|paseo|via"
    r"|viale|piazza|contrada)\s+\D+"
)
_BUILDING_FIRST = re.compile(r"(?:flat|studio|apartment|apt|unit|suite)\s+\w+\s+\D+")
_HONORIFICS = frozenset(
    {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "sr", "sra",
     "jr", "ii", "iii", "iv", "md", "phd", "dds", "dvm"}
)  # fmt: skip

MIN_SHARE = 0.8  # share of sampled values that must have a shape to call the column by it
NAME_SHARE = 0.5  # share of values found in Faker's name lists of the locale
CONTRADICTS = 0.1  # below this share of matching values, the values contradict the column name
MIN_EVIDENCE = 20  # fewer sampled values never contradict a name


def normalize_name(name: str) -> str:
    """snake_case ASCII without trailing qualifiers: 'ePhoneNumber2_home' -> 'e_phone_number'."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    tokens = [t for t in re.split(r"[^a-z0-9]+", fold(snake)) if t]
    while len(tokens) > 1 and (tokens[-1] in _QUALIFIERS or tokens[-1].isdigit()):
        tokens.pop()
    if tokens and re.fullmatch(r"[a-z]+\d", tokens[-1]):  # address1, phone2
        tokens[-1] = tokens[-1].rstrip("0123456789")
    return "_".join(tokens)


def classify_by_name(name: str) -> str | None:
    """The kind a column name suggests, in several languages; None when the name says nothing.

    Kinds: the keys of the proposal table, plus `ip_address`, `event_time` (a when-it-happened
    column) and `ambiguous_name` (`name`, `title`: a person's or a thing's, only values can tell).
    """
    norm = normalize_name(name)
    if not norm:
        return None
    for kind, pattern in _NAME_RULES:
        if pattern.search(norm):
            return kind
    if _EVENT.search(norm):
        return "event_time"
    if norm in _AMBIGUOUS_NAMES or norm.endswith("_title"):
        return "ambiguous_name"
    return None


# ------------------------------------------------------------------------------------- values


def is_street_address(text: str) -> bool:
    """A house number next to street words, in the orders of several countries."""
    folded = " ".join(fold(text).split())
    return bool(
        _NUMBER_FIRST.fullmatch(folded)
        or _NAMED_STREET.search(folded)
        or _STREET_FIRST.fullmatch(folded)
        or _BUILDING_FIRST.fullmatch(folded)
    )


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time() else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and (m := ISO_DATE.fullmatch(value.strip())):
        if value.strip()[10:].strip(" T0:.") != "":  # a time of day: an event, not a birthday
            return None
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    return None


def looks_like_birth_dates(values: Sequence[object], today: dt.date | None = None) -> bool:
    """Dates between 1900 and ten years ago, spread over more than a decade when we have many."""
    today = today or dt.date.today()
    dates = [_as_date(v) for v in values]
    if not dates or any(d is None for d in dates):
        return False
    limit = today.replace(year=today.year - 10, day=min(today.day, 28))
    inside = sum(dt.date(1900, 1, 1) <= d <= limit for d in dates if d)  # type: ignore[operator]
    spread = (max(dates) - min(dates)).days / 365.25  # type: ignore[operator, type-var]
    return inside / len(dates) >= 0.95 and (len(dates) < MIN_EVIDENCE or spread >= 15)


def _person_kind(texts: list[str], locale: str) -> str | None:
    """full/first/last name when enough values are made of Faker's names for the locale."""
    firsts, lasts = folded_names(locale)
    words = [
        [w for w in re.split(r"[\s,]+", fold(t)) if w and "." not in w and w not in _HONORIFICS] or [""]
        for t in texts
    ]
    n = len(words)
    single = [w[0] for w in words if len(w) == 1]

    def known(word: str, names: frozenset[str]) -> bool:
        return word in names or all(part in names for part in word.split("-"))

    def full_name(w: list[str]) -> bool:
        return len(w) >= 2 and (
            (known(w[0], firsts) and known(w[-1], lasts))
            or (known(w[0], lasts) and known(w[-1], firsts))  # "Doe, Jane"
        )

    full = sum(full_name(w) for w in words)
    if full / n >= NAME_SHARE:
        return "full_name"
    first_share = sum(w in firsts for w in single) / n
    last_share = sum(w in lasts for w in single) / n
    if max(first_share, last_share) >= NAME_SHARE:
        return "first_name" if first_share >= last_share else "last_name"
    return None


def is_password_hash(text: str) -> bool:
    """A password hash in one of the usual storage formats (bcrypt, argon2, scrypt, pbkdf2, sha-crypt)."""
    return _PASSWORD_HASH.fullmatch(text) is not None


def _name_list_kind(texts: list[str], locale: str) -> bool:
    """Most values list two or more people: "Ann Lee, Bob Marsh & Carla Diaz", "Ann, Bob and Carla"."""
    firsts, _ = folded_names(locale)

    def listing(text: str) -> bool:
        items = [i for i in _LIST_SPLIT.split(text) if i]
        people = [i for i in items if fold(i.split()[0]) in firsts and len(i.split()) <= 4]
        return len(items) >= 2 and len(people) >= max(2, 2 * len(items) / 3)

    return _share(texts, listing) >= NAME_SHARE


def is_prose(texts: list[str]) -> bool:
    """Sentences rather than codes or names: free text, where PII hides inside the value."""
    return statistics.median(len(t.split()) for t in texts) >= 5


def _share(texts: list[str], test: Any) -> float:
    return sum(1 for t in texts if test(t)) / len(texts) if texts else 0.0


def _texts(values: Sequence[object]) -> list[str]:
    out = []
    for v in values:
        if v is None or isinstance(v, bytes | bytearray | memoryview):
            continue
        text = str(v).strip()
        if text:
            out.append(text)
    return out


def classify_by_values(values: Sequence[object], family: str = "string", locale: str = "en_US") -> str | None:
    """The kind sampled non-NULL `values` show; None when they show nothing personal.

    `family` is the column's generic type ('string', 'integer', 'date', ...): dates are tested
    for birth dates, integers for card numbers, text for every shape.
    """
    texts = _texts(values)
    if not texts:
        return None
    if family in ("date", "datetime"):
        return "birth_date" if looks_like_birth_dates(values) else None
    if family == "integer":
        return "card_number" if _share(texts, is_card_number) >= MIN_SHARE else None
    if family != "string":
        return None
    if _share(texts, lambda t: ISO_DATE.fullmatch(t) is not None) >= 0.95:
        return "birth_date" if looks_like_birth_dates(texts) else None
    for kind, test in (("email", is_email), ("card_number", is_card_number),
                       ("iban", iban_valid), ("phone", is_phone),
                       ("password_hash", is_password_hash)):  # fmt: skip
        if _share(texts, test) >= MIN_SHARE:
            return kind
    bare = [t for t in texts if _BARE_PHONE.fullmatch(t)]  # phones without punctuation: 5550101234
    if len(bare) >= MIN_SHARE * len(texts) and len(set(bare)) >= 0.9 * len(bare):
        return "phone"
    if _share(texts, is_street_address) >= 0.7:
        return "street_address"
    if _name_list_kind(texts, locale):
        return "name_list"
    if person := _person_kind(texts, locale):
        return person
    if any(mentions_pii(t) for t in texts):
        return "free_text"
    return None


_SHAPE_TESTS = {"email": is_email, "card_number": is_card_number, "iban": iban_valid,
                "phone": lambda t: is_phone(t) or re.fullmatch(r"\+?\d{7,15}", t) is not None,
                "password_hash": lambda t: is_password_hash(t) or _HEX_DIGEST.fullmatch(t) is not None,
                }  # fmt: skip


# ------------------------------------------------------------------------------------- policy


def type_family(col_type: sa.types.TypeEngine) -> str:
    """SQLAlchemy's generic family of a column type, as the policy resolver names them."""
    try:
        py = col_type.python_type
    except NotImplementedError:
        return "other"
    return {int: "integer", float: "float", decimal.Decimal: "numeric", str: "string",
            bool: "boolean", dt.datetime: "datetime", dt.date: "date",
            bytes: "binary"}.get(py, "other")  # fmt: skip


def _column(family: str, type_name: str = "", nullable: bool = True, length: int | None = None) -> Column:
    return Column("column", type_name or family.upper(), family, nullable, length)


def _unknown(note: str) -> dict[str, Any]:
    return {"class": "unknown", "rule": "keep", "note": note}


def _propose(kind: str, family: str, note: str | None = None) -> dict[str, Any]:
    """The kind's proposal when its rule reads the column's type (date rules read ISO text with
    `format: iso`). Text rules also take `other` types (JSON, UUID, ...) when a person says so, never
    in a proposal."""
    out = dict(_PROPOSALS[kind])
    rule = RULES[out["rule"]]
    if family == "string" and rule.text_via and not rule.fits(_column(family)):
        out[rule.text_via[0]] = rule.text_via[1]
    if not rule.fits(_column(family), out) or (family == "other" and rule.types is not None):
        return _unknown(f"looks like {kind} but its type is {family}: `{rule.name}` cannot read it; decide")
    if note:
        out["note"] = note
    return out


def _documents(values: Sequence[object]) -> list[object] | None:
    """JSON documents and arrays (dicts and lists, or text most of which parses as one); None otherwise."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict | list | tuple) for v in present):
        return [list(v) if isinstance(v, tuple) else v for v in present]
    if not all(isinstance(v, str) for v in present):
        return None
    docs = []
    for text in present:
        if text.lstrip()[:1] in ("{", "["):
            try:
                docs.append(json.loads(text))
            except ValueError:
                continue
    return docs if docs and len(docs) >= MIN_SHARE * len(present) else None


def _leaves(node: object, path: tuple[str, ...], out: dict[str, list[str]]) -> None:
    """Every string below `node` by its path ('contact.email', 'items.*.email'; '*' for list items)."""
    if isinstance(node, dict):
        for key, value in node.items():
            _leaves(value, (*path, str(key)), out)
    elif isinstance(node, list):
        for value in node:
            _leaves(value, (*path, "*"), out)
    elif isinstance(node, str) and path:
        out.setdefault(".".join(path), []).append(node)


def _propose_document(name: str, docs: list[object], locale: str) -> dict[str, Any]:
    """`json` with a rule for each path whose key or values are personal; every other string of the
    documents is scrubbed as free text by the rule itself. Arrays are documents whose items sit at `*`."""
    found: dict[str, list[str]] = {}
    for doc in docs[:500]:
        _leaves(doc, (), found)
    paths: dict[str, Any] = {}
    for path, texts in found.items():
        keys = [k for k in path.split(".") if k != "*"]
        key = keys[-1] if keys else name.removesuffix("s")  # an array of e-mails: the column's own name
        by_name, by_values = classify_by_name(key), classify_by_values(texts, "string", locale)
        kind = by_name if by_name in _PROPOSALS and by_values not in _STRONG_VALUE_KINDS else by_values
        if kind in (None, "safe", "free_text", "name_list", "salary", "gender"):
            continue  # free text scrubs what is left; numbers and codes stay
        spec = {k: v for k, v in _PROPOSALS[kind].items() if k != "class"}
        paths[path] = spec["rule"] if len(spec) == 1 else spec
    arrays = " (an array: its items at `*`)" if all(isinstance(d, list) for d in docs) else ""
    if not found:
        return _propose("safe", "other", f"JSON without strings in {len(docs)} sampled documents{arrays}")
    named = f"paths found: {', '.join(paths)}" if paths else "no personal keys or values found"
    return {
        "class": "pii",
        "rule": "json",
        "paths": paths,
        "note": f"JSON{arrays} in {len(docs)} sampled documents, {named}; every other string is scrubbed "
        "as free text (if they hold nothing personal: class safe, rule keep)",
    }


def propose_column(name: str, family: str, values: Sequence[object], locale: str = "en_US") -> dict[str, Any]:
    """Policy entry for a non-key column from its name, type family and sampled values."""
    by_name = classify_by_name(name)
    if family == "binary" or any(isinstance(v, bytes | bytearray | memoryview) for v in values):
        return _propose("binary", "binary", "binary data (files, images, keys) cannot be inspected: dropped")
    docs = _documents(values) if family in ("string", "other") else None
    if docs is not None:
        return _propose_document(name, docs, locale)
    by_values = classify_by_values(values, family, locale)
    texts = _texts(values)
    seen = f"{len(texts)} sampled values"
    if by_name == "password_hash" or by_values == "password_hash":
        return _propose("password_hash", family, "a password hash: a secret, dropped")
    if by_name == "phone" and family == "integer":
        return {"class": "pii", "rule": "token", "note": "phone numbers stored as integers: keyed integers"}

    if by_values in _STRONG_VALUE_KINDS and by_values != by_name:
        return _propose(by_values, family, f"values are {by_values} ({seen})")
    if by_name == "ip_address":
        return _unknown("IP address: no built-in rule; use null, token or a project rule")
    if by_name in _SHAPE_TESTS and family == "string" and len(texts) >= MIN_EVIDENCE:
        share = _share(texts, _SHAPE_TESTS[by_name])
        if share < CONTRADICTS:
            return _unknown(f"name suggests {by_name} but only {share:.0%} of {seen} look like one")
    if by_name in ("safe", "event_time"):  # only the strong shapes above overrule these names
        return _propose("safe", family)
    if by_name in _PROPOSALS:
        return _propose(by_name, family)
    if by_name == "ambiguous_name":
        if by_values in _PERSON_KINDS or by_values == "free_text":
            return _propose(by_values, family, f"values look like {by_values} ({seen})")
        if not texts:
            return _unknown("a name/title column in an empty table: a person's or a thing's?")
        return _propose("safe", family, f"name/title values are not person names ({seen})")
    if by_values is not None:
        return _propose(by_values, family, f"detected from values ({seen})")
    if family in ("integer", "float", "numeric", "boolean"):
        return _propose("safe", family)
    if family in ("date", "datetime"):
        return _propose("safe", family, "a date/time that does not look like a birth date")
    if family == "string":
        if not texts:
            return _unknown("no name evidence and the table is empty")
        distinct = len(set(texts))
        average = sum(map(len, texts)) / len(texts)
        prose = " prose without emails/phones," if is_prose(texts) else ""
        return _unknown(
            f"no name or value evidence:{prose} {distinct} distinct of {seen}, "
            f"{average:.0f} characters on average"
        )
    return _unknown(f"type family {family}: values cannot be inspected; decide")


def _sample(
    conn: sa.Connection, table: str, columns: list[str], limit: int, schema: str | None = None
) -> list[tuple]:
    source = sa.table(table, schema=schema)
    query = sa.select(*(sa.column(c) for c in columns)).select_from(source).limit(limit)
    return [tuple(row) for row in conn.execute(query)]


class Draft(dict):
    """A proposed policy (plain YAML data), with review flags per (table, column) that the YAML carries
    as comments: proposals the run's own checks would reject, and changes made so it would not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.flags: dict[tuple[str, str], list[str]] = {}

    def flag(self, table: str, column: str, text: str) -> None:
        self.flags.setdefault((table, column), []).append(text)


TOKEN_WIDTH = 13  # characters of a text token (without prefix)


def _propose_key(name: str, column: Column, values: Sequence[object], locale: str) -> dict[str, Any]:
    """Keys identify rows: kept, unless their values identify people (e-mails, national ids, usernames
    as keys), which are tokenized where a token fits the column."""
    if column.generic == "integer":
        return {"class": "key", "rule": "keep"}
    kind = classify_by_values(values, column.generic, locale) if column.generic == "string" else None
    by_name = classify_by_name(name)
    if kind in (None, "safe") and by_name in ("email", "username", "national_id", "phone", "full_name"):
        kind = by_name
    if kind in (None, "safe"):
        return {"class": "key", "rule": "keep"}  # codes, UUIDs, timestamps: rows, not people
    if RULES["token"].fits(column) and (column.length is None or column.length >= TOKEN_WIDTH):
        return {"class": "key", "rule": "token", "note": f"a key holding {kind} values: tokenized"}
    return _unknown(f"a key holding {kind} values, but a {TOKEN_WIDTH}-character token does not fit "
                    f"{column.type}: widen it or use a project rule")  # fmt: skip


def _fitted(spec: dict[str, Any], column: Column, unique: bool) -> tuple[dict[str, Any], str | None]:
    """The proposal as the run would take it (never a rule it refuses), and a flag for the draft when
    it had to change."""
    if spec["class"] == "unknown":
        return spec, None
    flag = None
    if spec["rule"] == "null" and not column.nullable:
        if column.generic not in ("string", "binary", "other"):
            return _unknown("NOT NULL: the proposed `null` would be refused; decide"), None
        spec = {"class": spec["class"], "rule": "constant", "value": "", "note": spec.get("note", "")}
        flag = (
            "NOT NULL, so `null` would be refused: every value becomes '' instead; if the application "
            "needs a valid value (a known test password's hash, a placeholder file), set `value:`"
        )
    rule = RULES[spec["rule"]]
    options = {k: v for k, v in spec.items() if k not in ("class", "rule", "note")}
    problems = rule.check(spec["class"], options, column)
    if problems:
        return _unknown("; ".join(problems)), None
    if unique and not rule.unique_safe:
        token = RULES["token"]
        if spec["class"] in token.classes and token.fits(column) and (column.length or 99) >= TOKEN_WIDTH:
            note = f"UNIQUE: `{rule.name}` can map two values alike (refused here); tokens stay apart"
            return {"class": spec["class"], "rule": "token", "note": note}, flag
        return _unknown(f"UNIQUE: `{rule.name}` can map two values alike; choose a unique-safe rule"), None
    return spec, flag


def _generalized(value: object, spec: dict[str, Any]) -> object:
    """What a quasi-identifier's rule leaves of a value, for counting k-anonymity groups (a keyed fake
    groups exactly like its original)."""
    if value is None:
        return None
    rule = spec["rule"]
    if rule == "generalize_date":
        day = _as_date(value) if not isinstance(value, dt.datetime) else value.date()
        if day is None and isinstance(value, str) and (m := ISO_DATE.match(value.strip())):
            day = dt.date(int(m[1]), int(m[2]), 1)
        if day is None:
            return value
        to = spec.get("to", "year")
        if to == "month":
            return day.year, day.month
        return day.year - day.year % 10 if to == "decade" else day.year
    if rule == "generalize_number" and isinstance(value, int | float | decimal.Decimal):
        return float(value) // float(spec["bucket"])
    if rule == "generalize_postal":
        return str(value)[: int(spec.get("keep", 2))]
    return value


def _k_anonymity_flag(
    proposed: dict[str, dict[str, Any]], names: list[str], rows: list[tuple], whole: bool, k: int
) -> str | None:
    """Why the run's k-anonymity check would fail on this table, when the scan saw all of it."""
    quasi = [c for c, spec in proposed.items() if spec["class"] == "quasi"]
    if not quasi or not rows or not whole:
        return None
    at = [names.index(c) for c in quasi]
    groups = Counter(
        tuple(_generalized(row[i], proposed[c]) for i, c in zip(at, quasi, strict=True)) for row in rows
    )
    smallest = min(groups.values())
    if smallest >= k:
        return None
    return (
        f"k-anonymity (k={k}) would fail: the smallest group of ({', '.join(quasi)}) has {smallest} of this "
        f"table's {len(rows)} rows; generalize further (e.g. `to: decade`), replace a column instead "
        "(class pii), or set DP_K_ANONYMITY lower"
    )


def _sa_type_name(col_type: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return str(col_type.compile(dialect=dialect))
    except Exception:  # noqa: BLE001 - exotic types still get a readable name
        return type(col_type).__name__.upper()


def propose_policy(engine: sa.Engine, sample_rows: int = 1000, locale: str = "en_US", k: int = 5) -> Draft:
    """Reflect every table and propose a policy (POLICY.md format) that the run accepts as it is,
    `unknown` columns aside: every rule reads its column's type, fits UNIQUE and NOT NULL columns, and FK
    columns map like their keys. Proposals the run's checks would still reject are flagged.

    PK/FK columns are keys (kept, tokenized when their values identify people); every other column is
    judged by its name and by the first `sample_rows` rows of values.
    """
    inspector = sa.inspect(engine)
    draft = Draft(version=1, locale=locale, tables={})
    columns_of: dict[str, dict[str, Column]] = {}
    references: list[tuple[str, str, str, str]] = []  # (table, column, referenced table, its column)
    with engine.connect() as conn:
        for nsp, table in listed_tables(engine):  # a partitioned table once, without its partitions
            columns = inspector.get_columns(table, schema=nsp)
            if engine.dialect.name == "postgresql":  # the target computes generated columns
                columns = [c for c in columns if not c.get("computed")]
            pk = list(inspector.get_pk_constraint(table, schema=nsp).get("constrained_columns") or [])
            keys = set(pk)
            for fk in inspector.get_foreign_keys(table, schema=nsp):
                keys.update(fk.get("constrained_columns") or [])
                references += [
                    (table, c, fk["referred_table"], r)
                    for c, r in zip(fk["constrained_columns"], fk["referred_columns"], strict=True)
                ]
            unique = {pk[0]} if len(pk) == 1 else set()
            unique |= {
                u["column_names"][0] for u in inspector.get_unique_constraints(table, schema=nsp)
                if len(u["column_names"]) == 1
            }  # fmt: skip
            unique |= {
                ix["column_names"][0] for ix in inspector.get_indexes(table, schema=nsp)
                if ix.get("unique") and len(ix["column_names"]) == 1
            }  # fmt: skip
            names = [c["name"] for c in columns]
            rows = _sample(conn, table, names, sample_rows, nsp) if names else []
            proposed: dict[str, Any] = {}
            columns_of[table] = {}
            for i, col in enumerate(columns):
                family = type_family(col["type"])
                column = Column(
                    col["name"],
                    _sa_type_name(col["type"], engine.dialect),
                    family,
                    bool(col.get("nullable", True)) and col["name"] not in pk,
                    getattr(col["type"], "length", None),
                    col["name"] in pk,
                )
                columns_of[table][col["name"]] = column
                values = [row[i] for row in rows if row[i] is not None]
                spec = (
                    _propose_key(col["name"], column, values, locale)
                    if col["name"] in keys
                    else propose_column(col["name"], family, values, locale)
                )
                spec, flag = _fitted(spec, column, col["name"] in unique)
                proposed[col["name"]] = spec
                if flag:
                    draft.flag(table, col["name"], flag)
            flag = _k_anonymity_flag(proposed, names, rows, len(rows) < sample_rows, k)
            for column_name, spec in proposed.items():
                if flag and spec["class"] == "quasi":
                    draft.flag(table, column_name, flag)
            draft["tables"][table] = {"columns": proposed}
    _keys_like_their_references(draft, references)
    return draft


def _keys_like_their_references(draft: Draft, references: list[tuple[str, str, str, str]]) -> None:
    """A FK column maps like the key it references (the run refuses anything else): kept or tokenized
    alike, following chains of references."""
    tables = draft["tables"]
    target = {(t, c): (rt, rc) for t, c, rt, rc in references}

    def root(at: tuple[str, str]) -> tuple[str, str]:
        seen = set()
        while at in target and at not in seen and target[at] != at:
            seen.add(at)
            at = target[at]
        return at

    for table, column, _, _ in references:
        ref_table, ref_column = root((table, column))
        key = tables.get(ref_table, {}).get("columns", {}).get(ref_column)
        if key is None or (ref_table, ref_column) == (table, column):
            continue
        if key["class"] == "unknown":
            decide = f"references {ref_table}.{ref_column}: decide that first"
            tables[table]["columns"][column] = _unknown(decide)
        else:
            tables[table]["columns"][column] = {"class": "key", "rule": key["rule"]}


_HEADER = """\
# Anonymization policy PROPOSED by `data_pipeline.scan` from column names and sampled values.
# It is a draft: review every column before use. The scan can miss personal data (it only saw a
# sample), and `run` refuses columns classified `unknown` until a person decides them.
"""


def policy_to_yaml(policy: dict) -> str:
    """The policy as YAML, one line per column, under a header saying it must be reviewed; a flagged
    proposal gets `# CHECK:` comment lines above it."""
    plain = dict(policy)
    body = yaml.safe_dump(plain, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    flags = getattr(policy, "flags", {})
    if not flags:
        return _HEADER + body
    out, table = [], None
    for line in body.splitlines():
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            table = yaml.safe_load(line.strip())  # "  customers:" -> {"customers": None}
            table = next(iter(table)) if isinstance(table, dict) else None
        elif line.startswith("      ") and not line.startswith("       "):
            entry = yaml.safe_load(line.strip()) if line.rstrip().endswith("}") else None
            column = next(iter(entry)) if isinstance(entry, dict) else line.strip().split(":")[0]
            out += [f"      # CHECK: {text}" for text in flags.get((table, column), [])]
        out.append(line)
    return _HEADER + "\n".join(out) + "\n"

"""PII scan: propose an anonymization policy from column names and sampled values.

The proposal is a draft a person must review, never a verdict: `run` refuses `unknown` columns
until someone decides them. Where evidence conflicts it leans towards "personal", because a missed
column leaks real data while an over-classified one only costs some realism.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import statistics
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
from data_pipeline.schema import listed_tables

# Column-name vocabulary per kind, in priority order (the first kind whose words end the name
# wins, so `email_address` is an email and not a street). `_` inside a word is optional.
_NAME_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
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
}
_PERSON_KINDS = ("full_name", "first_name", "last_name")
_STRONG_VALUE_KINDS = frozenset({"email", "card_number", "iban"})  # shapes names cannot fake

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
                       ("iban", iban_valid), ("phone", is_phone)):  # fmt: skip
        if _share(texts, test) >= MIN_SHARE:
            return kind
    if _share(texts, is_street_address) >= 0.7:
        return "street_address"
    if person := _person_kind(texts, locale):
        return person
    if any(mentions_pii(t) for t in texts):
        return "free_text"
    return None


_SHAPE_TESTS = {"email": is_email, "phone": is_phone, "card_number": is_card_number,
                "iban": iban_valid}  # fmt: skip


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


def _fits(kind: str, family: str) -> bool:
    """Whether the proposed rule takes the column's type. Text rules also take `other` types (JSON,
    UUID, ...) when a person says so, never in a proposal."""
    types = RULES[_PROPOSALS[kind]["rule"]].types
    return types is None or (family in types and family != "other")


def _unknown(note: str) -> dict[str, Any]:
    return {"class": "unknown", "rule": "keep", "note": note}


def _propose(kind: str, family: str, note: str | None = None) -> dict[str, Any]:
    if not _fits(kind, family):
        return _unknown(f"looks like {kind} but its type is {family}: no rule fits; decide")
    out = dict(_PROPOSALS[kind])
    if note:
        out["note"] = note
    return out


def propose_column(name: str, family: str, values: Sequence[object], locale: str = "en_US") -> dict[str, Any]:
    """Policy entry for a non-key column from its name, type family and sampled values."""
    by_name = classify_by_name(name)
    by_values = classify_by_values(values, family, locale)
    texts = _texts(values)
    seen = f"{len(texts)} sampled values"

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


def propose_policy(engine: sa.Engine, sample_rows: int = 1000, locale: str = "en_US") -> dict:
    """Reflect every table of the default schema and propose a policy (POLICY.md format).

    PK/FK columns are keys (kept when integer, tokenized when natural keys); every other column is
    judged by its name and by the first `sample_rows` rows of values.
    """
    inspector = sa.inspect(engine)
    tables: dict[str, Any] = {}
    with engine.connect() as conn:
        for nsp, table in listed_tables(engine):  # a partitioned table once, without its partitions
            columns = inspector.get_columns(table, schema=nsp)
            if engine.dialect.name == "postgresql":  # the target computes generated columns
                columns = [c for c in columns if not c.get("computed")]
            keys = set(inspector.get_pk_constraint(table, schema=nsp).get("constrained_columns") or [])
            for fk in inspector.get_foreign_keys(table, schema=nsp):
                keys.update(fk.get("constrained_columns") or [])
            names = [c["name"] for c in columns]
            rows = _sample(conn, table, names, sample_rows, nsp) if names else []
            proposed: dict[str, Any] = {}
            for i, col in enumerate(columns):
                family = type_family(col["type"])
                if col["name"] in keys:
                    rule = "keep" if family == "integer" else "token"
                    proposed[col["name"]] = {"class": "key", "rule": rule}
                    continue
                values = [row[i] for row in rows if row[i] is not None]
                proposed[col["name"]] = propose_column(col["name"], family, values, locale)
            tables[table] = {"columns": proposed}
    return {"version": 1, "locale": locale, "tables": tables}


_HEADER = """\
# Anonymization policy PROPOSED by `data_pipeline.scan` from column names and sampled values.
# It is a draft: review every column before use. The scan can miss personal data (it only saw a
# sample), and `run` refuses columns classified `unknown` until a person decides them.
"""


def policy_to_yaml(policy: dict) -> str:
    """The policy as YAML, one line per column, under a header saying it must be reviewed."""
    body = yaml.safe_dump(policy, sort_keys=False, default_flow_style=None, allow_unicode=True, width=100)
    return _HEADER + body

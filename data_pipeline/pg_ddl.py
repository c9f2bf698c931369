"""The source's DDL, exactly, from PostgreSQL's own tool: `pg_dump --schema-only`.

Publishing PostgreSQL -> PostgreSQL recreates the source's schema in the target from one
`pg_dump --schema-only --format=custom` archive of the source, split by `pg_restore` into its
pre-data section (schemas, extensions, types, domains, functions, tables with their defaults,
identity and generated columns and CHECK constraints, partitions, sequences, views, materialized
views, comments), run before the rows are loaded, and its post-data section (primary keys, unique
and foreign keys, every index, triggers, rules, policies), run after. Triggers therefore never fire
on the copied rows; materialized views are refreshed after the load, sequences set past the data.

pg_dump must be at least the source server's major version: the one in DP_PG_BINDIR if set, else the
newest of Debian's /usr/lib/postgresql/*/bin and PATH; one too old is refused in one line.
Nothing of pg_dump's DDL is rewritten: the archive's table of contents only loses the CREATE SCHEMA
entries (schemas are created IF NOT EXISTS: the target may hold the release marker in one) and the
extensions' own comments (only an extension's owner may set them), and the script's session settings
are made local to the publish transaction (a dump's `SET lock_timeout = 0` must not undo ours).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from data_pipeline.errors import BadInput
from data_pipeline.schema import INTERNAL_PREFIX

SYSTEM_SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
NOT_EXTENSION_MEMBER = (
    "NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '{catalog}'::regclass "
    "AND e.objid = {oid} AND e.deptype = 'e')"
)


@dataclass(frozen=True)
class Ddl:
    """The source's schema as SQL: run `pre` before the load and `post` after it."""

    pre: str
    post: str
    schemas: tuple[str, ...]  # every schema the dump covers (created IF NOT EXISTS before `pre`)
    extensions: tuple[str, ...]  # extensions the dump creates: the target must be able to
    matviews: tuple[str, ...]  # materialized views populated in the source (quoted), in dump order
    tool: str  # "pg_dump 15.18": which pg_dump made it


def server_major(conn: sa.Connection) -> int:
    return int(conn.exec_driver_sql("SHOW server_version_num").scalar()) // 10000


def _version(path: str) -> tuple[int, str] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    match = re.search(r"\)\s*(\d+)(\.\d+)?", out)
    return (int(match.group(1)), match.group(1) + (match.group(2) or "")) if match else None


def find_tool(name: str, needed_major: int) -> tuple[str, str]:
    """(path, version) of the newest `name` (pg_dump, pg_restore); refused if older than needed."""
    chosen = os.environ.get("DP_PG_BINDIR")
    if chosen and (Path(chosen) / name).is_file():
        paths = [str(Path(chosen) / name)]  # the one asked for, checked all the same
    else:
        dirs = [str(d) for d in Path("/usr/lib/postgresql").glob("*/bin")]
        paths = [str(Path(d) / name) for d in dirs if (Path(d) / name).is_file()]
        if which := shutil.which(name):
            paths.append(which)
    found = [(v, p) for p in dict.fromkeys(paths) if (v := _version(p))]
    if not found:
        raise BadInput(
            f"{name} not found: install Debian's postgresql-client (scripts/system-deps.sh) "
            "or set DP_PG_BINDIR"
        )
    (major, version), path = max(found, key=lambda item: item[0][0])
    if major < needed_major:
        raise BadInput(
            f"{name} {version} ({path}) is older than the source server (PostgreSQL {needed_major}): "
            f"install postgresql-client-{needed_major} or point DP_PG_BINDIR at a newer one"
        )
    return path, version


def _quote_conninfo(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def libpq_args(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string for the URL (never the password: that goes in PGPASSWORD)."""
    params = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{k}={_quote_conninfo(str(v))}" for k, v in params.items() if v not in (None, ""))
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "30")}
    env.pop("PGPASSWORD", None)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return conninfo, env


def covered_schemas(conn: sa.Connection, schema: str | None) -> tuple[str, ...]:
    """The schemas a copy covers: `schema`, or every user schema (not the system's nor an extension's)."""
    if schema is not None:
        return (schema,)
    rows = conn.execute(
        sa.text(
            f"SELECT n.nspname FROM pg_namespace n WHERE {SYSTEM_SCHEMAS} AND "
            + NOT_EXTENSION_MEMBER.format(catalog="pg_namespace", oid="n.oid")
            + " ORDER BY 1"
        )
    )
    return tuple(rows.scalars())


def _pattern(name: str) -> str:
    """A pg_dump pattern matching exactly this name (quoted: no wildcards, case kept)."""
    return '"' + name.replace('"', '""') + '"'


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, encoding="utf-8")
    if done.returncode != 0:
        reason = next((line for line in done.stderr.splitlines() if line.strip()), "no output")
        raise BadInput(f"{what} failed: {reason.strip()[:300]}")
    return done.stdout


def dump(engine: sa.Engine, schema: str | None = None, lock_wait: str = "30s") -> Ddl:
    """The source's DDL (one schema, or the whole database), from one pg_dump archive. pg_dump
    takes a share lock on every table it describes: it gives up after `lock_wait` rather than queue
    behind a migration on the source."""
    with engine.connect() as conn:
        major = server_major(conn)
        schemas = covered_schemas(conn, schema)
    pg_dump, version = find_tool("pg_dump", major)
    pg_restore, _ = find_tool("pg_restore", major)
    conninfo, env = libpq_args(engine.url)
    with tempfile.TemporaryDirectory(prefix="dp-ddl-") as tmp:
        archive = str(Path(tmp) / "schema.dump")
        args = [
            pg_dump,
            "--schema-only",
            "--format=custom",
            f"--file={archive}",
            "--encoding=UTF8",
            "--no-subscriptions",
            "--no-publications",
            "--no-security-labels",
            "--no-tablespaces",
            f"--lock-wait-timeout={lock_wait}",
            f"--exclude-table=*.{INTERNAL_PREFIX}*",
        ]
        if schema is not None:  # one schema, and the extensions it may use (pg_dump 14 and later)
            args += [f"--schema={_pattern(schema)}"]
            args += ["--extension=*"] if int(version.split(".")[0]) >= 14 else []
        _run([*args, f"--dbname={conninfo}"], env, f"pg_dump of the source ({version})")
        toc = _run([pg_restore, "--list", archive], env, "pg_restore --list")
        entries, names = _read_toc(engine, toc)
        listing = Path(tmp) / "toc.list"
        listing.write_text("".join(entries))

        def section(name: str) -> str:
            return _run(
                [
                    pg_restore,
                    f"--section={name}",
                    f"--use-list={listing}",
                    "--no-owner",
                    "--no-privileges",
                    "--file=-",
                    archive,
                ],
                env,
                f"pg_restore --section={name}",
            )

        return Ddl(
            pre=script(section("pre-data")),
            post=script(section("post-data")),
            schemas=schemas,
            extensions=names["extensions"],
            matviews=names["matviews"],
            tool=f"pg_dump {version}",
        )


_TOC_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")


def _read_toc(engine: sa.Engine, toc: str) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """The archive's entries to restore, and the extensions and populated materialized views it has
    (named from the source's catalog by OID: TOC tags are not quoted)."""
    kept, extension_oids, matview_oids = [], [], []
    for line in toc.splitlines(keepends=True):
        match = _TOC_LINE.match(line)
        if not match:
            kept.append(line)
            continue
        catalog, oid, rest = match.group(2), int(match.group(3)), match.group(4)
        if rest.startswith("SCHEMA ") or rest.startswith("COMMENT - EXTENSION "):
            kept.append(";" + line)  # created IF NOT EXISTS by publish / the extension's own comment
            continue
        if rest.startswith("EXTENSION "):
            extension_oids.append(oid)
        elif catalog == "1259" and rest.startswith("MATERIALIZED VIEW "):
            matview_oids.append(oid)
        kept.append(line)
    with engine.connect() as conn:
        extensions = dict(
            conn.execute(
                sa.text("SELECT oid, extname FROM pg_extension WHERE oid = ANY(:oids)"),
                {"oids": extension_oids},
            ).all()
        )
        matviews = dict(
            conn.execute(
                sa.text(
                    "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = ANY(:oids) AND c.relispopulated"
                ),
                {"oids": matview_oids},
            ).all()
        )
    return kept, {
        "extensions": tuple(extensions[o] for o in extension_oids if o in extensions),
        "matviews": tuple(matviews[o] for o in matview_oids if o in matviews),
    }


# The preamble's session settings (before the first entry; nothing of the source is there): the
# timeouts go (the publish transaction keeps its own lock_timeout), the encoding too (asked for
# UTF8), psql's \restrict too; the rest become LOCAL to the publish transaction
_DROPPED = re.compile(
    r"^(SET (statement_timeout|lock_timeout|idle_in_transaction_session_timeout|transaction_timeout|"
    r"client_encoding) = .*;|\\restrict \S+)$"
)
_LOCAL = re.compile(r"^SET ((\w+) = .*;)$")
_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', '', false);"
_UNRESTRICT = re.compile(r"^\\unrestrict \S+$")
TOUCHED = (
    "search_path",
    "standard_conforming_strings",
    "check_function_bodies",
    "xmloption",
    "client_min_messages",
    "row_security",
    "default_tablespace",
    "default_table_access_method",
)


def script(sql: str) -> str:
    """pg_restore's SQL as it runs inside the publish transaction: the preamble's session settings
    local, psql's \\restrict lines out. The entries themselves are left exactly as dumped."""
    first = sql.find("\n-- Name: ")
    preamble, entries = (sql, "") if first < 0 else (sql[:first], sql[first + 1 :])
    lines = []
    for line in preamble.splitlines():
        if _DROPPED.match(line):
            continue
        if line == _SEARCH_PATH:
            line = "SELECT pg_catalog.set_config('search_path', '', true);"
        elif local := _LOCAL.match(line):
            line = f"SET LOCAL {local.group(1)}"
        lines.append(line)
    body = entries.rstrip().splitlines()
    if body and _UNRESTRICT.match(body[-1]):
        body.pop()
    return "\n".join(lines + body) + "\n"


def apply(conn: sa.Connection, sql: str) -> None:
    """Run DDL in the connection's transaction; the settings it changes are restored after."""
    saved = conn.execute(
        sa.text("SELECT " + ", ".join(f"current_setting('{name}')" for name in TOUCHED))
    ).one()
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.execute(sql)  # no parameters: the driver sends the script as it is
    for name, value in zip(TOUCHED, saved, strict=True):
        conn.execute(sa.text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value})


def require_extensions(conn: sa.Connection, extensions: tuple[str, ...]) -> None:
    """A target that cannot have an extension the source uses is refused before anything changes."""
    if not extensions:
        return
    available = set(
        conn.execute(
            sa.text("SELECT name FROM pg_available_extensions WHERE name = ANY(:names)"),
            {"names": list(extensions)},
        ).scalars()
    )
    missing = [e for e in extensions if e not in available]
    if missing:
        database = conn.engine.url.database
        raise BadInput(
            f"the target server lacks extension(s) {', '.join(missing)} that the source uses: install "
            f"them there (e.g. Debian's postgresql-contrib) or CREATE EXTENSION in database {database}"
        )


_DROPS = (
    # what a release may have created in a schema, dropped before the new one is created; the
    # release marker and extensions' members stay
    ("v", "DROP VIEW IF EXISTS {} CASCADE"),
    ("m", "DROP MATERIALIZED VIEW IF EXISTS {} CASCADE"),
    ("f", "DROP FOREIGN TABLE IF EXISTS {} CASCADE"),
    ("r", "DROP TABLE IF EXISTS {} CASCADE"),
    ("p", "DROP TABLE IF EXISTS {} CASCADE"),
    ("S", "DROP SEQUENCE IF EXISTS {} CASCADE"),
)


def clear(conn: sa.Connection, schemas: tuple[str, ...]) -> None:
    """Drop every object of these schemas that a release creates (not extensions' members, not the
    release marker), so that the dump's DDL can create them again."""
    quoted = "quote_ident(n.nspname) || '.' || quote_ident({})"
    params = {"schemas": list(schemas), "internal": INTERNAL_PREFIX.replace("_", "\\_") + "%"}
    path = conn.exec_driver_sql("SELECT current_setting('search_path')").scalar()
    conn.exec_driver_sql("SELECT set_config('search_path', 'pg_catalog', true)")  # names qualified below
    for kind, statement in _DROPS:
        names = (
            conn.execute(
                sa.text(
                    f"SELECT {quoted.format('c.relname')} FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname = ANY(:schemas) AND c.relkind = :kind "
                    "AND NOT c.relispartition "
                    "AND c.relname NOT LIKE :internal AND "
                    + NOT_EXTENSION_MEMBER.format(catalog="pg_class", oid="c.oid")
                ),
                {**params, "kind": kind},
            )
            .scalars()
            .all()
        )
        if names:
            conn.exec_driver_sql(statement.format(", ".join(names)))
    routines = conn.execute(
        sa.text(
            "SELECT p.prokind, p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = "
            "p.pronamespace WHERE n.nspname = ANY(:schemas) AND "
            + NOT_EXTENSION_MEMBER.format(catalog="pg_proc", oid="p.oid")
        ),
        params,
    ).all()
    drop = {"a": "AGGREGATE", "p": "PROCEDURE"}
    for kind, signature in routines:
        conn.exec_driver_sql(f"DROP {drop.get(kind, 'FUNCTION')} IF EXISTS {signature} CASCADE")
    types = conn.execute(
        sa.text(
            "SELECT t.typtype, t.oid::regtype::text FROM pg_type t "
            "JOIN pg_namespace n ON n.oid = t.typnamespace "
            "WHERE n.nspname = ANY(:schemas) AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND "
            "(SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')) AND "
            + NOT_EXTENSION_MEMBER.format(catalog="pg_type", oid="t.oid")
        ),
        params,
    ).all()
    for kind, name in types:
        conn.exec_driver_sql(f"DROP {'DOMAIN' if kind == 'd' else 'TYPE'} IF EXISTS {name} CASCADE")
    conn.execute(sa.text("SELECT set_config('search_path', :path, true)"), {"path": path})


def create_schemas(conn: sa.Connection, schemas: tuple[str, ...]) -> None:
    quote = conn.dialect.identifier_preparer.quote_identifier
    for name in schemas:
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote(name)}")


_SEQUENCES = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, s.seqincrement AS step,
       quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS owner_table,
       quote_ident(a.attname) AS owner_column
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence s ON s.seqrelid = c.oid
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE c.relkind = 'S' AND n.nspname = ANY(:schemas)
ORDER BY 1
"""


def sequences(conn: sa.Connection, schemas: tuple[str, ...]) -> list[sa.Row]:
    """Every sequence of these schemas: name, increment, and the column it belongs to (if any)."""
    return conn.execute(sa.text(_SEQUENCES), {"schemas": list(schemas)}).all()


def sequence_values(conn: sa.Connection, schemas: tuple[str, ...]) -> dict[str, int]:
    """The source's sequences that have handed out values: name -> last value."""
    rows = conn.execute(
        sa.text(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value "
            "FROM pg_sequences "
            "WHERE schemaname = ANY(:schemas) AND last_value IS NOT NULL"
        ),
        {"schemas": list(schemas)},
    ).all()
    return {name: int(value) for name, value in rows}


def column_high(conn: sa.Connection, row: sa.Row) -> int | None:
    """The largest value the sequence's column holds (the smallest for a descending sequence)."""
    if row.owner_table is None:
        return None
    edge = "max" if row.step > 0 else "min"
    return conn.exec_driver_sql(f"SELECT {edge}({row.owner_column}) FROM {row.owner_table}").scalar()


def set_sequences(conn: sa.Connection, schemas: tuple[str, ...], source_values: dict[str, int]) -> None:
    """Every sequence continues past both the source's last value and the published data, so the
    application's next INSERT gets a fresh key."""
    for row in sequences(conn, schemas):
        candidates = [v for v in (source_values.get(row.name), column_high(conn, row)) if v is not None]
        if candidates:
            value = max(candidates) if row.step > 0 else min(candidates)
            conn.execute(
                sa.text("SELECT setval(CAST(:name AS regclass), :value, true)"),
                {"name": row.name, "value": value},
            )


def refresh_matviews(conn: sa.Connection, matviews: tuple[str, ...]) -> None:
    """Materialized views the source had populated, filled from the published rows (dump order:
    one built on another comes after it)."""
    for name in matviews:
        conn.exec_driver_sql(f"REFRESH MATERIALIZED VIEW {name}")

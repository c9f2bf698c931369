"""Atomic publish: a whole release lands in the target in ONE transaction, or nothing does.

Old objects are dropped and the release's created and loaded inside a single transaction (both
PostgreSQL and SQLite have transactional DDL; our SQLite engine really BEGINs). A crash at any moment
leaves the previous whole release. `_dp_release` in the target says which release it holds.

PostgreSQL -> PostgreSQL: the target gets the source's schema exactly, from `pg_dump --schema-only`
of the source (data_pipeline.pg_ddl): its pre-data DDL before the load (types, domains, functions,
tables with defaults, identity and generated columns, CHECK constraints, partitions, views), rows by
COPY into each table (a partitioned table's into its parent, which routes them to the partitions;
generated columns are computed by the target), its post-data DDL after the load (keys, every index,
triggers: they never fire on the copied rows), then materialized views refreshed and sequences set
past the data. `verify` compares the two catalogs before the marker is written: a difference rolls
the release back. Other pairs (SQLite on either side): portable SQLAlchemy tables, keys after the
load on PostgreSQL, the same verify of what both backends have.

On a PostgreSQL target the transaction sets `lock_timeout` (DP_LOCK_TIMEOUT, default 30s): a target
held by another session fails in one line naming that session instead of waiting forever. Everything
that can be prepared beforehand (the dump, the source's catalog) is, so the old objects' exclusive
locks are taken at the last moment and held only while the new release is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import sqlalchemy as sa

from data_pipeline import load, pg_ddl, staging, verify
from data_pipeline.errors import BadInput, Busy, ChecksFailed
from data_pipeline.locks import bound_lock_waits, lock_timeout
from data_pipeline.schema import INTERNAL_PREFIX, Schema, Table
from data_pipeline.staging import Candidate

MARKER = f"{INTERNAL_PREFIX}release"
Progress = Callable[[str, int], None]
LOCK_KEY = "hashtext('data_pipeline.publish')"  # concurrent publishers to one target queue on it


@dataclass(frozen=True)
class Source:
    """Where the release was read from: a PostgreSQL source lends a PostgreSQL target its DDL."""

    engine: sa.Engine
    schema: str | None = None  # DP_SOURCE_SCHEMA: one schema; None: the whole database


class TargetBusy(Busy):
    """Another session holds what the publish must lock (exit 4): nothing was published."""


def target_metadata(
    schema: Schema, dialect: str, target_schema: str | None, constraints: bool = True
) -> sa.MetaData:
    """The release's tables; `constraints=False`: columns only (no keys), to be loaded first."""
    meta = sa.MetaData(schema=target_schema)
    for table in schema.tables:
        native = table.dialect == dialect
        sa.Table(
            table.name,
            meta,
            *[
                sa.Column(
                    c.name,
                    load.sa_type(c, native),
                    nullable=c.nullable,
                    primary_key=constraints and c.name in table.primary_key,
                    autoincrement=False,
                )
                for c in table.columns
            ],
            *[
                sa.ForeignKeyConstraint(
                    list(fk.columns),
                    [".".join(filter(None, (target_schema, fk.ref_table, r))) for r in fk.ref_columns],
                )
                for fk in table.foreign_keys
                if constraints
            ],
            *[
                sa.UniqueConstraint(*u)
                for u in table.unique
                if constraints and set(u) != set(table.primary_key)
            ],
        )
    marker_table(meta)
    return meta


def marker_table(meta: sa.MetaData) -> sa.Table:
    """`_dp_release`: one row per release published to this target (`schemas`: the schemas a
    PostgreSQL -> PostgreSQL release covered, cleared by the next one)."""
    return sa.Table(
        MARKER,
        meta,
        sa.Column("release", sa.Integer, nullable=False),
        sa.Column("published_at", sa.String(40), nullable=False),
        sa.Column("policy_digest", sa.String(64), nullable=False),
        sa.Column("tables", sa.Text, nullable=False),
        sa.Column("schemas", sa.Text, nullable=True),
    )


def _native_enums(conn: sa.Connection, schema: Schema, target_schema: str | None) -> None:
    """PostgreSQL ENUM types must exist before tables that use them."""
    for table in schema.tables:
        for column in table.columns:
            if column.enum and table.dialect == "postgresql":
                enum = sa.dialects.postgresql.ENUM(
                    *column.enum, name=column.type.split(".")[-1].strip('"'), schema=target_schema
                )
                enum.create(conn, checkfirst=True)


def _add_constraints(conn: sa.Connection, meta: sa.MetaData) -> None:
    """Keys after the load (PostgreSQL): primary keys and unique constraints first, so that every
    foreign key finds the index it references; each FK is then validated by one join."""
    tables = [t for t in meta.tables.values() if t.name != MARKER]
    for sa_table in tables:
        if sa_table.primary_key.columns:
            conn.execute(sa.schema.AddConstraint(sa_table.primary_key))
        for constraint in sa_table.constraints:
            if isinstance(constraint, sa.UniqueConstraint) and not isinstance(
                constraint, sa.PrimaryKeyConstraint
            ):
                conn.execute(sa.schema.AddConstraint(constraint))
    for sa_table in tables:
        for fk in sa_table.foreign_key_constraints:
            conn.execute(sa.schema.AddConstraint(fk))


def publish(
    engine: sa.Engine,
    schema: Schema,
    data: Callable[[Table], Iterable[pa.Table]],
    *,
    release: int,
    policy_digest: str,
    target_schema: str | None = None,
    progress: Progress | None = None,
    source: Source | None = None,
    republish: bool = False,
    candidate: Candidate | None = None,
    checks: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Replace the target's tables with this release's, atomically. Returns rows per table.
    A new release's number must be above every one the target has held; `republish`: a rollback.
    With a PostgreSQL `source` and target: the source's own schema (pg_dump), verified. With a
    `candidate` (staging.py) the rows come from it, inside the server; otherwise from `data`.
    `checks`: the caller's own, inside the transaction (what they raise rolls it back), before the
    target's constraints would find the same thing in a server's words; on PostgreSQL, beside the
    server building keys and indexes, while the client would wait."""
    dialect = engine.dialect.name
    if source is not None and dialect == "postgresql" and source.engine.dialect.name == "postgresql":
        return _publish_pg(
            engine,
            schema,
            data,
            source,
            release,
            policy_digest,
            target_schema,
            progress,
            republish,
            candidate,
            checks,
        )
    if dialect == "sqlite":
        target_schema = None  # SQLite has no schemas: the file is the namespace
    meta = target_metadata(schema, dialect, target_schema)
    rows: dict[str, int] = {}
    busy = _busy_fails_fast(engine, (target_schema,) if target_schema else ())
    with busy, staging.attached(engine, candidate) as conn, conn.begin():
        if dialect == "postgresql":
            _lock_target(conn)
            if target_schema:
                conn.execute(sa.schema.CreateSchema(target_schema, if_not_exists=True))
        existing = set(sa.inspect(conn).get_table_names(schema=target_schema))
        ours = (  # the marker stays: it holds the target's release history
            {t.name for t in meta.tables.values() if t.name != MARKER}
            | _previous_tables(conn, existing, target_schema)
        ) & existing
        if ours:
            old = sa.MetaData(schema=target_schema)
            old.reflect(conn, only=sorted(ours))
            old.drop_all(conn)
        _native_enums(conn, schema, target_schema)
        if dialect == "postgresql":
            # bare tables now, keys once loaded
            target_metadata(schema, dialect, target_schema, constraints=False).create_all(conn)
        else:
            meta.create_all(conn)
        by_name = {t.name: t for t in meta.tables.values()}
        for table in schema.tables:
            sa_table = by_name[table.name]
            if candidate is not None:
                count = staging.promote_rows(conn, table, _qualified(conn, sa_table.schema, table.name))
            else:
                count = load.into(conn, sa_table, table, data(table), native=table.dialect == dialect)
            rows[table.name] = count
            if progress:
                progress(table.name, count)
        if checks is not None:
            checks()
        if dialect == "postgresql":
            _add_constraints(conn, meta)
        differences = verify.portable(conn, schema, target_schema, rows)
        if differences:
            raise ChecksFailed(f"release {release} refused, nothing published: {verify.message(differences)}")
        if not republish:
            refuse_taken(conn, release, target_schema)
        conn.execute(
            by_name[MARKER]
            .insert()
            .values(
                release=release,
                published_at=datetime.now(UTC).isoformat(),
                policy_digest=policy_digest,
                tables=",".join(schema.names),
            )
        )
    return rows


def _qualified(conn: sa.Connection, schema: str | None, name: str) -> str:
    quote = conn.dialect.identifier_preparer.quote_identifier
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def _lock_target(conn: sa.Connection) -> None:
    """Never wait forever for a lock; concurrent publishers to one target queue on the advisory
    lock (that wait is bounded too); index builds sort in memory up to maintenance_work_mem."""
    bound_lock_waits(conn)
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_KEY})")


def _pgcode(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", exc), "pgcode", None)


@contextmanager
def _busy_fails_fast(engine: sa.Engine, schemas: tuple[str, ...]) -> Iterator[None]:
    """A lock not granted within lock_timeout becomes one line naming who holds it."""
    try:
        yield
    except Exception as exc:
        if engine.dialect.name == "postgresql" and _pgcode(exc) == "55P03":  # lock_not_available
            raise TargetBusy(busy_message(engine, schemas)) from None
        raise


_HOLDERS = f"""
SELECT a.pid, a.usename, coalesce(a.state, '?') AS state,
       extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::bigint AS seconds,
       left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 60) AS query,
       string_agg(DISTINCT coalesce(
           (SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = l.relation),
           'the publish lock'), ', ') AS objects
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.locktype = 'relation' AND l.relation IN (
            SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind NOT IN ('i', 'I') AND (n.nspname = ANY(:schemas)
                  OR (cardinality(:schemas) = 0 AND n.nspname = current_schema()))))
       OR (l.locktype = 'advisory' AND l.objsubid = 1
           AND ((l.classid::bigint << 32) | l.objid::bigint) = {LOCK_KEY}::bigint))
GROUP BY a.pid, a.usename, a.state, a.xact_start, a.query_start, a.query
ORDER BY seconds DESC NULLS LAST
"""


def busy_message(engine: sa.Engine, schemas: tuple[str, ...]) -> str:
    """'target busy: ...' naming the session that holds what the publish needs (pid, user, for how
    long, its query's first words)."""
    timeout = lock_timeout()
    try:
        with engine.connect() as conn:
            holders = conn.execute(sa.text(_HOLDERS), {"schemas": list(schemas)}).all()
    except sa.exc.SQLAlchemyError:
        holders = []
    head = f"target busy: a lock was not granted within lock_timeout {timeout}; nothing published"
    if not holders:
        return f"{head} (the holding session has finished since; run again)"
    h = holders[0]
    others = f" and {len(holders) - 1} other session(s)" if len(holders) > 1 else ""
    minutes, seconds = divmod(int(h.seconds or 0), 60)
    return (
        f"{head}: session pid {h.pid} (user {h.usename}, {h.state} for {minutes} min {seconds} s, "
        f'query "{h.query}") holds {h.objects}{others}; end it (SELECT pg_terminate_backend({h.pid})) '
        f"or raise DP_LOCK_TIMEOUT"
    )


def _publish_pg(
    engine: sa.Engine,
    schema: Schema,
    data: Callable[[Table], Iterable[pa.Table]],
    source: Source,
    release: int,
    policy_digest: str,
    target_schema: str | None,
    progress: Progress | None,
    republish: bool = False,
    candidate: Candidate | None = None,
    checks: Callable[[], None] | None = None,
) -> dict[str, int]:
    """PostgreSQL -> PostgreSQL: the source's schema from pg_dump, the rows by COPY (or from the
    candidate), verified."""
    if target_schema is not None and target_schema != source.schema:
        raise BadInput(
            "a PostgreSQL -> PostgreSQL release keeps the source's schema names (its DDL is pg_dump's): "
            "unset DP_TARGET_SCHEMA or set it to DP_SOURCE_SCHEMA"
        )
    # everything that can be prepared before the target is locked
    ddl = pg_ddl.dump(source.engine, source.schema, lock_timeout())
    with source.engine.connect() as conn, conn.begin():
        home = conn.exec_driver_sql("SELECT current_schema()").scalar()
        expected = verify.catalog(conn, ddl.schemas)
        sequence_values = pg_ddl.sequence_values(conn, ddl.schemas)
        source_id = _database_id(conn)
    rows: dict[str, int] = {}
    with _busy_fails_fast(engine, ddl.schemas), engine.begin() as conn:
        if _database_id(conn) == source_id:
            raise BadInput("the target is the source database itself: publish elsewhere")
        pg_ddl.require_extensions(conn, ddl.extensions)
        _lock_target(conn)
        marker_schema = target_schema or conn.exec_driver_sql("SELECT current_schema()").scalar()
        previous = _previous_schemas(conn, marker_schema)
        pg_ddl.clear(conn, tuple(dict.fromkeys((*ddl.schemas, *previous))))
        pg_ddl.create_schemas(conn, ddl.schemas)
        _apply(conn, ddl.pre, "pre-data", ddl.tool)
        _same_columns(conn, schema, home)
        for table in schema.tables:
            name = _qualified(conn, table.schema or home, table.name)
            if candidate is not None:
                rows[table.name] = staging.promote_rows(conn, table, name)
            else:
                rows[table.name] = load.copy(conn, name, data(table), table, table.dialect == "postgresql")
            if progress:
                progress(table.name, rows[table.name])
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="publish-checks") as beside:
            checked = beside.submit(checks or (lambda: None))
            try:
                _apply(conn, ddl.post, "post-data", ddl.tool)
            except Exception:
                checked.result()  # what the checks find is the reason to give, not the server's words
                raise
            checked.result()
        pg_ddl.refresh_matviews(conn, ddl.matviews)
        pg_ddl.set_sequences(conn, ddl.schemas, sequence_values)
        differences = verify.compare(expected, verify.catalog(conn, ddl.schemas))
        differences += verify.pg_data(conn, schema, home, rows, ddl.schemas)
        if differences:
            raise ChecksFailed(f"release {release} refused, nothing published: {verify.message(differences)}")
        if not republish:
            refuse_taken(conn, release, target_schema)
        marker = marker_table(sa.MetaData(schema=target_schema))
        marker.create(conn, checkfirst=True)
        conn.exec_driver_sql(
            f"ALTER TABLE {_qualified(conn, marker_schema, MARKER)} ADD COLUMN IF NOT EXISTS schemas text"
        )
        conn.execute(
            marker.insert().values(
                release=release,
                published_at=datetime.now(UTC).isoformat(),
                policy_digest=policy_digest,
                tables=",".join(schema.names),
                schemas=json.dumps(list(ddl.schemas)),
            )
        )
    return rows


def _database_id(conn: sa.Connection) -> tuple:
    """Which database this is (server start time and database OID): a target that is the source
    would be cleared before it is read."""
    return tuple(
        conn.exec_driver_sql(
            "SELECT pg_postmaster_start_time(), oid FROM pg_database WHERE datname = current_database()"
        ).one()
    )


def _apply(conn: sa.Connection, sql: str, section: str, tool: str) -> None:
    import psycopg2

    try:
        pg_ddl.apply(conn, sql)
    except psycopg2.Error as exc:
        if exc.pgcode == "55P03":
            raise
        reason = (exc.pgerror or str(exc)).strip().splitlines()[0]
        raise BadInput(
            f"the target does not take the source's {section} DDL ({tool}): {reason}; nothing published"
        ) from None


def _same_columns(conn: sa.Connection, schema: Schema, home: str) -> None:
    """The release's columns are the tables' loadable columns (generated ones aside): a release
    whose schema is not the source's current one (a rollback across a migration) is refused."""
    for table in schema.tables:
        found = (
            conn.execute(
                sa.text(
                    "SELECT attname FROM pg_attribute WHERE attrelid = CAST(:name AS regclass) "
                    "AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
                ),
                {"name": _qualified(conn, table.schema or home, table.name)},
            )
            .scalars()
            .all()
        )
        if list(found) != list(table.column_names):
            raise BadInput(
                f"table {table.name}: the source now has columns {list(found)}, the release "
                f"{list(table.column_names)}; a PostgreSQL release is published with the source's current DDL"
            )


def _previous_schemas(conn: sa.Connection, marker_schema: str) -> tuple[str, ...]:
    """The schemas the release the target holds covered (so that one dropped since is cleared)."""
    exists = conn.execute(
        sa.text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = :schema AND table_name = :marker "
            "AND column_name = 'schemas'"
        ),
        {"schema": marker_schema, "marker": MARKER},
    ).first()
    if not exists:
        return ()
    last = conn.exec_driver_sql(
        f"SELECT schemas FROM {_qualified(conn, marker_schema, MARKER)} ORDER BY published_at DESC LIMIT 1"
    ).scalar()
    return tuple(json.loads(last)) if last else ()


def _previous_tables(conn: sa.Connection, existing: set[str], target_schema: str | None) -> set[str]:
    """Tables the previous release published (so a table removed since is dropped too)."""
    if MARKER not in existing:
        return set()
    marker = sa.table(MARKER, sa.column("tables"), sa.column("published_at"), schema=target_schema)
    rows = conn.execute(sa.select(marker.c.tables).order_by(marker.c.published_at.desc()).limit(1)).scalars()
    return {name for row in rows for name in (row or "").split(",") if name}


def release_history(engine: sa.Engine, target_schema: str | None = None) -> list[sa.Row]:
    """Every release published to the target, oldest first, read from the target itself: rows of
    (release, published_at, policy_digest, tables). A rollback adds a row for the release it
    publishes again; a target published before the marker kept its history has its last row only."""
    if engine.dialect.name == "sqlite":
        target_schema = None
    if MARKER not in sa.inspect(engine).get_table_names(schema=target_schema):
        return []
    names = ("release", "published_at", "policy_digest", "tables")
    marker = sa.table(MARKER, *(sa.column(n) for n in names), schema=target_schema)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(marker).order_by(marker.c.published_at)))


def published_release(engine: sa.Engine, target_schema: str | None = None) -> int | None:
    """The release number the target holds now (its newest marker row), read from the target itself."""
    history = release_history(engine, target_schema)
    return history[-1].release if history else None


def refuse_taken(conn: sa.Connection, release: int, target_schema: str | None) -> None:
    """Inside the publish transaction: a new release's number is above every release this target has
    held, whoever published it (another DP_HOME, machine or database user), or nothing is published."""
    if MARKER not in sa.inspect(conn).get_table_names(schema=target_schema):
        return
    marker = sa.table(MARKER, sa.column("release"), schema=target_schema)
    highest = conn.execute(sa.select(sa.func.max(marker.c.release))).scalar()
    if highest is not None and highest >= release:
        raise BadInput(
            f"the target already holds release {highest} (published elsewhere since this run began); "
            f"nothing was published as release {release}: run again to publish release {highest + 1}"
        )

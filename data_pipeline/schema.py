"""The source's shape, reflected once into plain frozen dataclasses the other layers share."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from data_pipeline.errors import BadInput

INTERNAL_PREFIX = "_dp_"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the dialect's type, compiled: 'VARCHAR(120)', 'INTEGER', 'DATE'
    generic: str  # SQLAlchemy's generic family: 'string', 'integer', 'numeric', 'date', ...
    nullable: bool
    length: int | None = None
    primary_key: bool = False
    precision: int | None = None
    scale: int | None = None
    timezone: bool = False
    enum: tuple[str, ...] | None = None  # labels of a native ENUM type (type holds its name)


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...]
    unique: tuple[tuple[str, ...], ...]  # UNIQUE constraints and unique indexes
    dialect: str = ""  # where it was reflected: same-dialect targets get the exact native types
    schema: str | None = None  # database schema (namespace), None for the default

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def unique_columns(self) -> set[str]:
        """Columns that must stay unique on their own after anonymization."""
        singles = {cols[0] for cols in self.unique if len(cols) == 1}
        if len(self.primary_key) == 1:
            singles.add(self.primary_key[0])
        return singles

    def fk_for(self, column: str) -> tuple[ForeignKey, str] | None:
        """The FK a column belongs to and the referenced column it must map like."""
        for fk in self.foreign_keys:
            if column in fk.columns:
                return fk, fk.ref_columns[fk.columns.index(column)]
        return None


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]  # in dependency order: referenced tables first

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def to_dict(self) -> dict:
        return {"tables": [asdict(t) for t in self.tables]}

    @staticmethod
    def from_dict(data: dict) -> Schema:
        return Schema(tuple(table_from_dict(t) for t in data["tables"]))


def table_from_dict(data: dict) -> Table:
    """Inverse of `asdict(table)`: manifests store tables as JSON."""
    return Table(
        name=data["name"],
        columns=tuple(
            Column(**{**c, "enum": tuple(c["enum"]) if c.get("enum") else None}) for c in data["columns"]
        ),
        primary_key=tuple(data["primary_key"]),
        foreign_keys=tuple(
            ForeignKey(tuple(f["columns"]), f["ref_table"], tuple(f["ref_columns"]))
            for f in data["foreign_keys"]
        ),
        unique=tuple(tuple(u) for u in data["unique"]),
        dialect=data.get("dialect", ""),
        schema=data.get("schema"),
    )


def _generic(col_type: sa.types.TypeEngine) -> str:
    try:
        py = col_type.python_type
    except NotImplementedError:
        return "other"
    import datetime
    import decimal

    return {
        int: "integer",
        float: "float",
        decimal.Decimal: "numeric",
        str: "string",
        bool: "boolean",
        datetime.datetime: "datetime",
        datetime.date: "date",
        bytes: "binary",
    }.get(py, "other")


def _compile(col_type: sa.types.TypeEngine, dialect: sa.Dialect) -> str:
    try:
        return col_type.compile(dialect=dialect)
    except Exception:  # noqa: BLE001 - exotic types still get a readable name
        return type(col_type).__name__.upper()


_PG_TABLES = """
SELECT n.nspname, c.relname, n.nspname = current_schema() AS home
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND (CAST(:schema AS text) IS NULL OR n.nspname = :schema)
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.deptype = 'e'
                  AND ((d.classid = 'pg_class'::regclass AND d.objid = c.oid)
                       OR (d.classid = 'pg_namespace'::regclass AND d.objid = n.oid)))
ORDER BY 1, 2
"""


def listed_tables(
    engine: sa.Engine | sa.Connection, schema: str | None = None
) -> list[tuple[str | None, str]]:
    """The tables the pipeline copies, as (schema, name); schema None: the default schema.

    On PostgreSQL without `schema`: every user schema. A partition is not a table of its own (its
    rows are read and loaded once, through its partitioned parent), nor is an extension's table.
    Elsewhere: the schema's tables. Internal `_dp_` tables are never listed.
    """
    if engine.dialect.name != "postgresql":
        names = sa.inspect(engine).get_table_names(schema=schema)
        return [(schema, n) for n in names if not n.startswith(INTERNAL_PREFIX)]
    with engine.connect() if isinstance(engine, sa.Engine) else nullcontext(engine) as conn:
        rows = conn.execute(sa.text(_PG_TABLES), {"schema": schema}).all()
    listed = [(None if home and schema is None else nsp, name) for nsp, name, home in rows]
    listed = [(nsp, name) for nsp, name in listed if not name.startswith(INTERNAL_PREFIX)]
    seen: dict[str, str | None] = {}
    for nsp, name in listed:
        if name in seen:
            raise BadInput(
                f'table "{name}" exists in schemas {seen[name] or "(default)"} and {nsp or "(default)"}: '
                "tables are named without their schema; set DP_SOURCE_SCHEMA to copy one schema"
            )
        seen[name] = nsp
    return listed


def _partitions(engine: sa.Engine) -> set[tuple[str | None, str]]:
    """Every partition, as (schema, name) the way SQLAlchemy names a referenced table."""
    query = (
        "SELECT CASE WHEN n.nspname = current_schema() THEN NULL ELSE n.nspname END, c.relname "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relispartition"
    )
    with engine.connect() as conn:
        return {(nsp, name) for nsp, name in conn.exec_driver_sql(query)}


def _column(c: sa.Column, dialect: sa.Dialect) -> Column:
    """A DOMAIN's values are its base type's: that type gives the family, length and scale."""
    from sqlalchemy.dialects.postgresql import DOMAIN

    base = c.type.data_type if isinstance(c.type, DOMAIN) else c.type
    return Column(
        name=str(c.name),
        type=_compile(c.type, dialect),
        generic=_generic(base),
        nullable=bool(c.nullable) and not c.primary_key,
        length=getattr(base, "length", None),
        primary_key=c.primary_key,
        precision=getattr(base, "precision", None),
        scale=getattr(base, "scale", None),
        timezone=bool(getattr(base, "timezone", False)),
        enum=tuple(base.enums) if isinstance(base, sa.Enum) and base.enums else None,
    )


def reflect(engine: sa.Engine, schema: str | None = None) -> Schema:
    """Every table of the database, its keys and uniqueness, referenced tables first.

    PostgreSQL: every user schema unless `schema` names one (tables keep their own schema; names
    must be unique across schemas), partitioned tables once (no partitions), and no generated
    columns (the target computes them).
    """
    meta = sa.MetaData()
    try:
        listed = listed_tables(engine, schema)
        by_schema: dict[str | None, list[str]] = {}
        for nsp, name in listed:
            by_schema.setdefault(nsp, []).append(name)
        for nsp, names in by_schema.items():
            meta.reflect(bind=engine, schema=nsp, only=names)
    except sa.exc.SQLAlchemyError as exc:
        raise BadInput(f"cannot read the schema of {engine.url!r}: {type(exc).__name__}") from None
    wanted = {(nsp, name) for nsp, name in listed}
    postgres = engine.dialect.name == "postgresql"
    partitions = _partitions(engine) if postgres else set()
    inspector = sa.inspect(engine)
    tables = []
    for sa_table in meta.sorted_tables:
        if (sa_table.schema, sa_table.name) not in wanted:
            continue  # reflected only as the target of a foreign key
        kept = [c for c in sa_table.columns if not (postgres and c.computed is not None)]
        names = {str(c.name) for c in kept}
        unique = [
            tuple(map(str, uc["column_names"]))
            for uc in inspector.get_unique_constraints(sa_table.name, schema=sa_table.schema)
        ]
        unique += [
            tuple(map(str, ix["column_names"]))
            for ix in inspector.get_indexes(sa_table.name, schema=sa_table.schema)
            if ix.get("unique")
        ]
        columns = tuple(_column(c, engine.dialect) for c in kept)
        fks = tuple(
            ForeignKey(
                columns=tuple(str(e.parent.name) for e in fk.elements),
                ref_table=str(fk.referred_table.name),
                ref_columns=tuple(str(e.column.name) for e in fk.elements),
            )
            for fk in sa_table.foreign_key_constraints
            # PostgreSQL clones a key referencing a partitioned table onto each partition
            if (fk.referred_table.schema, fk.referred_table.name) not in partitions
        )
        tables.append(
            Table(
                name=str(sa_table.name),
                columns=columns,
                primary_key=tuple(str(c.name) for c in sa_table.primary_key.columns),
                foreign_keys=fks,
                unique=tuple(dict.fromkeys(u for u in unique if u and set(u) <= names)),
                dialect=engine.dialect.name,
                schema=schema if schema is not None else sa_table.schema,
            )
        )
    return Schema(tables=tuple(tables))

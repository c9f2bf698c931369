"""The source's shape, reflected once into plain frozen dataclasses the other layers share."""

from __future__ import annotations

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


def reflect(engine: sa.Engine, schema: str | None = None) -> Schema:
    """Every table of the database, its keys and uniqueness, referenced tables first."""
    meta = sa.MetaData()
    try:
        meta.reflect(bind=engine, schema=schema)
    except sa.exc.SQLAlchemyError as exc:
        raise BadInput(f"cannot read the schema of {engine.url!r}: {type(exc).__name__}") from None
    inspector = sa.inspect(engine)
    tables = []
    for sa_table in meta.sorted_tables:
        if sa_table.name.startswith(INTERNAL_PREFIX):
            continue
        unique = [
            tuple(map(str, uc["column_names"]))
            for uc in inspector.get_unique_constraints(sa_table.name, schema=schema)
        ]
        unique += [
            tuple(map(str, ix["column_names"]))
            for ix in inspector.get_indexes(sa_table.name, schema=schema)
            if ix.get("unique")
        ]
        columns = tuple(
            Column(
                name=str(c.name),
                type=_compile(c.type, engine.dialect),
                generic=_generic(c.type),
                nullable=bool(c.nullable) and not c.primary_key,
                length=getattr(c.type, "length", None),
                primary_key=c.primary_key,
                precision=getattr(c.type, "precision", None),
                scale=getattr(c.type, "scale", None),
                timezone=bool(getattr(c.type, "timezone", False)),
                enum=tuple(c.type.enums) if isinstance(c.type, sa.Enum) and c.type.enums else None,
            )
            for c in sa_table.columns
        )
        fks = tuple(
            ForeignKey(
                columns=tuple(str(e.parent.name) for e in fk.elements),
                ref_table=str(fk.referred_table.name),
                ref_columns=tuple(str(e.column.name) for e in fk.elements),
            )
            for fk in sa_table.foreign_key_constraints
        )
        tables.append(
            Table(
                name=str(sa_table.name),
                columns=columns,
                primary_key=tuple(str(c.name) for c in sa_table.primary_key.columns),
                foreign_keys=fks,
                unique=tuple(dict.fromkeys(u for u in unique if u)),
                dialect=engine.dialect.name,
                schema=schema,
            )
        )
    return Schema(tables=tuple(tables))

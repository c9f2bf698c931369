"""Anonymization speed: each rule and the whole customers table vs naive Faker per row.

The data is the demo shop's customers table (data_pipeline.demo, same generator and seed), turned into
the pandas dtypes the pipeline's vault hands the engine (Arrow strings, datetime64, date objects). The
engine runs in chunks like the pipeline (50,000 rows). Faker pools are built first and timed apart;
the naive reference calls Faker once per value, as hand-written scripts do, on a sample.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from faker import Faker

from data_pipeline.anonymize.engine import TableAnonymizer
from data_pipeline.anonymize.pools import Pools, pool
from data_pipeline.checkpoint import arrow_schema
from data_pipeline.config import DEFAULT_POLICY
from data_pipeline.demo import _Shop, demo_metadata
from data_pipeline.keys import AnonKey
from data_pipeline.policy import load_policy
from data_pipeline.schema import Table, reflect

COLUMNS = ("id", "first_name", "last_name", "email", "phone", "street", "city", "birth_date", "created_at")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers to anonymize")
    parser.add_argument("--chunk", type=int, default=50_000, help="rows per engine call (pipeline: 50,000)")
    parser.add_argument("--naive-rows", type=int, default=20_000, help="sample for the Faker-per-row reference")
    parser.add_argument("--seed", type=int, default=7)


def customers(rows: int, seed: int) -> tuple[Table, pd.DataFrame]:
    """The demo customers (8 anonymized columns + id) with the dtypes the vault yields."""
    engine = sa.create_engine("sqlite://")
    demo_metadata().create_all(engine)
    full = reflect(engine).table("customers")
    table = Table(full.name, tuple(c for c in full.columns if c.name in COLUMNS), full.primary_key, (),
                  full.unique)
    generated = _Shop(rows, seed).customers()
    schema = arrow_schema(table)
    arrays = {}
    for field in schema:
        values = generated[field.name]
        mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
        data = values.data if mask is not None else values
        arrays[field.name] = pa.array(data, mask=mask).cast(field.type)
    return table, pa.table(arrays, schema=schema).to_pandas()


def policy_for(table: Table) -> dict:
    engine = sa.create_engine("sqlite://")
    demo_metadata().create_all(engine)
    resolved = load_policy(DEFAULT_POLICY, reflect(engine)).for_table("customers")
    columns = {c: resolved[c] for c in table.column_names}
    columns["birth_date"] = replace(columns["birth_date"], options={"to": "year"})
    return columns


def run_engine(anonymizer: TableAnonymizer, frame: pd.DataFrame, chunk: int) -> float:
    start = time.perf_counter()
    for begin in range(0, len(frame), chunk):
        anonymizer(frame.iloc[begin : begin + chunk])
    return time.perf_counter() - start


def naive(frame: pd.DataFrame, rows: int) -> float:
    """Faker per row, the way a hand-written script does it: rows/s."""
    fake = Faker("en_US")
    fake.seed_instance(1)
    rng = random.Random(1)
    sample = frame.head(rows)
    start = time.perf_counter()
    out = []
    for birth, created in zip(sample["birth_date"].tolist(), sample["created_at"].tolist(), strict=True):
        out.append((
            fake.first_name(), fake.last_name(), fake.email(), fake.phone_number(),
            fake.street_address(), fake.city(),
            birth.replace(month=1, day=1) if isinstance(birth, dt.date) else None,
            created + dt.timedelta(days=rng.randint(-30, 30)),
        ))  # fmt: skip
    pd.DataFrame(out)
    return len(sample) / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> None:
    print(f"generating {args.rows:,} demo customers ...", flush=True)
    table, frame = customers(args.rows, args.seed)
    policy = policy_for(table)
    key = AnonKey(b"benchmark-key-not-secret-0123456789")
    start = time.perf_counter()
    pools = Pools("en_US")
    pools.warm()
    pool_seconds = time.perf_counter() - start
    print(f"Faker pools (en_US, built once per run and locale): {pool_seconds:.2f} s "
          f"({sum(len(pool('en_US', k)) for k in ('first_name', 'last_name', 'city', 'street_address')):,} values)")

    print(f"\n{'column':<12} {'rule':<16} {'seconds':>8} {'rows/s':>12}")
    for name in COLUMNS[1:]:
        sub = Table(table.name, tuple(c for c in table.columns if c.name in ("id", name)), table.primary_key,
                    (), table.unique)
        anonymizer = TableAnonymizer(sub, {c: policy[c] for c in ("id", name)}, key, pools)
        seconds = run_engine(anonymizer, frame[["id", name]], args.chunk)
        print(f"{name:<12} {policy[name].rule:<16} {seconds:8.3f} {args.rows / seconds:12,.0f}")

    anonymizer = TableAnonymizer(table, policy, key, pools)
    whole = run_engine(anonymizer, frame, args.chunk)
    one = run_engine(anonymizer, frame, len(frame)) if args.chunk < len(frame) else whole
    reference = naive(frame, args.naive_rows)
    fast = args.rows / whole
    print(f"\nwhole table, {len(COLUMNS) - 1} columns, chunks of {args.chunk:,}: {whole:.2f} s = {fast:,.0f} rows/s")
    print(f"whole table, one chunk of {args.rows:,}: {one:.2f} s = {args.rows / one:,.0f} rows/s")
    print(f"naive Faker per row ({args.naive_rows:,}-row sample): {reference:,.0f} rows/s")
    print(f"ratio: {fast / reference:,.0f}x naive")

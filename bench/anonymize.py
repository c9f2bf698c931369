"""Anonymization speed: each rule and the whole customers table vs naive Faker per row.

The data is the demo shop's customers table (data_pipeline.demo, same generator and seed), turned into
the pandas dtypes the pipeline's vault hands the engine (checkpoint.to_frame: Arrow strings, datetime64). The
engine runs in chunks like the pipeline (checkpoint.ANONYMIZE_ROWS). Faker pools are built first and timed
apart; the naive reference calls Faker once per value, as hand-written scripts do, on a sample.
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
from data_pipeline.checkpoint import ANONYMIZE_ROWS, arrow_schema, to_frame
from data_pipeline.config import DEFAULT_POLICY
from data_pipeline.demo import _Shop, demo_metadata
from data_pipeline.keys import AnonKey
from data_pipeline.policy import load_policy
from data_pipeline.schema import Table, reflect

COLUMNS = ("id", "first_name", "last_name", "email", "phone", "street", "city", "birth_date", "created_at")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=1_000_000, help="customers to anonymize")
    parser.add_argument(
        "--chunk",
        type=int,
        default=ANONYMIZE_ROWS,
        help=f"rows per engine call (default: the pipeline's, {ANONYMIZE_ROWS:,})",
    )
    parser.add_argument(
        "--naive-rows", type=int, default=10_000, help="sample for the Faker-per-row reference (per pass)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes per measurement; the best counts")
    parser.add_argument("--seed", type=int, default=7)


def customers(rows: int, seed: int) -> tuple[Table, pd.DataFrame]:
    """The demo customers (8 anonymized columns + id) with the dtypes the vault yields."""
    engine = sa.create_engine("sqlite://")
    demo_metadata().create_all(engine)
    full = reflect(engine).table("customers")
    table = Table(
        full.name, tuple(c for c in full.columns if c.name in COLUMNS), full.primary_key, (), full.unique
    )
    generated = _Shop(rows, seed).customers()
    schema = arrow_schema(table)
    arrays = {}
    for field in schema:
        values = generated[field.name]
        mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
        data = values.data if mask is not None else values
        arrays[field.name] = pa.array(data, mask=mask).cast(field.type)
    return table, to_frame(pa.table(arrays, schema=schema))


def policy_for(table: Table) -> dict:
    engine = sa.create_engine("sqlite://")
    demo_metadata().create_all(engine)
    resolved = load_policy(DEFAULT_POLICY, reflect(engine)).for_table("customers")
    # The reference table: en_US pools (country-consistent picks are measured by the pipeline)
    columns = {
        c: replace(
            resolved[c], options={k: v for k, v in resolved[c].options.items() if k != "country_column"}
        )
        for c in table.column_names
    }
    columns["birth_date"] = replace(columns["birth_date"], options={"to": "year"})
    return columns


def engine_pass(anonymizer: TableAnonymizer, frame: pd.DataFrame, chunk: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one pass over `frame` (the machine is shared: the CPU time of
    this process is the steadier number)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for begin in range(0, len(frame), chunk):
        anonymizer(frame.iloc[begin : begin + chunk])
    return time.perf_counter() - start, time.process_time() - start_cpu


def naive_pass(frame: pd.DataFrame, rows: int) -> tuple[float, float]:
    """Faker per row over the first `rows` rows, the way a hand-written script does it: wall-clock
    and CPU seconds."""
    fake = Faker("en_US")
    fake.seed_instance(1)
    rng = random.Random(1)
    sample = frame.head(rows)
    births = pa.array(sample["birth_date"]).cast(pa.date32()).to_pylist()  # a script reads date objects
    created = sample["created_at"].tolist()
    start, start_cpu = time.perf_counter(), time.process_time()
    out = []
    for birth, stamp in zip(births, created, strict=True):
        out.append((
            fake.first_name(), fake.last_name(), fake.email(), fake.phone_number(),
            fake.street_address(), fake.city(),
            birth.replace(month=1, day=1) if isinstance(birth, dt.date) else None,
            stamp + dt.timedelta(days=rng.randint(-30, 30)),
        ))  # fmt: skip
    pd.DataFrame(out)
    return time.perf_counter() - start, time.process_time() - start_cpu


def best(passes: list[tuple[float, float]]) -> tuple[float, float]:
    return min(w for w, _ in passes), min(c for _, c in passes)


def run(args: argparse.Namespace) -> None:
    print(f"generating {args.rows:,} demo customers ...", flush=True)
    table, frame = customers(args.rows, args.seed)
    policy = policy_for(table)
    key = AnonKey(b"benchmark-key-not-secret-0123456789")
    start = time.perf_counter()
    pools = Pools("en_US")
    pools.warm()
    pool_seconds = time.perf_counter() - start
    size = sum(len(pool("en_US", k)) for k in ("first_name", "last_name", "city", "street_name"))
    print(f"Faker pools (en_US, built once per run and locale): {pool_seconds:.2f} s ({size:,} values)")

    rows = args.rows
    print(f"\n{'column':<12} {'rule':<16} {'wall s':>7} {'rows/s':>11} {'cpu s':>7} {'rows/s (cpu)':>13}")
    for name in COLUMNS[1:]:
        sub = Table(
            table.name,
            tuple(c for c in table.columns if c.name in ("id", name)),
            table.primary_key,
            (),
            table.unique,
        )
        anonymizer = TableAnonymizer(sub, {c: policy[c] for c in ("id", name)}, key, pools)
        wall, cpu = best(
            [engine_pass(anonymizer, frame[["id", name]], args.chunk) for _ in range(args.repeat)]
        )
        print(
            f"{name:<12} {policy[name].rule:<16} {wall:7.3f} {rows / wall:11,.0f} "
            f"{cpu:7.3f} {rows / cpu:13,.0f}"
        )

    # the whole table and the naive reference take turns, so that both see the machine's slow and
    # fast spells alike; the best pass of each counts
    anonymizer = TableAnonymizer(table, policy, key, pools)
    engine_passes, naive_passes = [], []
    for _ in range(args.repeat):
        engine_passes.append(engine_pass(anonymizer, frame, args.chunk))
        naive_passes.append(naive_pass(frame, args.naive_rows))
    wall, cpu = best(engine_passes)
    naive_wall, naive_cpu = best(naive_passes)
    reference, reference_cpu = args.naive_rows / naive_wall, args.naive_rows / naive_cpu
    print(
        f"\nwhole table ({len(COLUMNS) - 1} columns, chunks of {args.chunk:,}, best of {args.repeat}): "
        f"{wall:.2f} s wall = {rows / wall:,.0f} rows/s; {cpu:.2f} s cpu = {rows / cpu:,.0f} rows/s"
    )
    print(
        f"naive Faker per row ({args.naive_rows:,}-row sample, best of {args.repeat}, taking turns): "
        f"{reference:,.0f} rows/s wall, {reference_cpu:,.0f} rows/s cpu"
    )
    print(f"ratio: {rows / wall / reference:,.0f}x naive (wall), {rows / cpu / reference_cpu:,.0f}x (cpu)")

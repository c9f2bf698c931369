"""`scan` on a database of your own drafts a policy the run accepts: every proposed rule reads its
column's type and fits UNIQUE and NOT NULL columns, phones without punctuation, password hashes, binary
columns, arrays, JSON and lists of names are recognised, and a proposal the run's own checks would
still reject (k-anonymity on a small table) or that had to change (NOT NULL) is flagged `# CHECK:`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from data_pipeline.keys import generate_key_file

BCRYPT = "$2b$12$" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"
FIRST = ["Ann", "Bob", "Carla", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "James"]
LAST = ["Lee", "Marsh", "Diaz", "Smith", "Brown", "Clark", "Evans", "Young", "Hall", "Allen"]


def invoke(*args: str, env: dict[str, str] | None = None):
    from data_pipeline.cli import app

    return CliRunner().invoke(app, list(args), env=env)


def scan(home: Path, source: str, out: Path) -> tuple[dict, str]:
    result = invoke("scan", "--home", str(home), "--source", source, "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    return yaml.safe_load(text), text


def comments_above(text: str, column: str) -> list[str]:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{column}:"))
    out = []
    while lines[at - 1].strip().startswith("# CHECK:"):
        at -= 1
        out.insert(0, lines[at].strip())
    return out


@pytest.fixture
def own_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "own.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE members (id INTEGER PRIMARY KEY, phone TEXT, mobile TEXT UNIQUE, "
            "password TEXT NOT NULL, avatar BLOB NOT NULL, attendees TEXT, prefs TEXT)"
        )
        conn.execute(
            sa.text("INSERT INTO members VALUES (:id, :phone, :mobile, :pw, :avatar, :attendees, :prefs)"),
            [
                {
                    "id": i,
                    "phone": f"55501{i:05d}",
                    "mobile": f"+4915{i:08d}",
                    "pw": BCRYPT[:-2] + f"{i:02d}",
                    "avatar": bytes([i % 256]) * 8,
                    "attendees": f"{FIRST[i % 10]} {LAST[i % 10]}, {FIRST[(i + 3) % 10]} "
                    f"{LAST[(i + 1) % 10]} & {FIRST[(i + 5) % 10]} {LAST[(i + 7) % 10]}",
                    "prefs": json.dumps(
                        {
                            "contact": {
                                "email": f"m{i}@club.example",
                                "name": f"{FIRST[i % 10]} {LAST[i % 10]}",
                            },
                            "theme": "dark",
                            "size": i,
                        }
                    ),
                }
                for i in range(1, 61)
            ],
        )
        conn.exec_driver_sql("CREATE TABLE board (id INTEGER PRIMARY KEY, gender TEXT, born DATE)")
        conn.execute(
            sa.text("INSERT INTO board VALUES (:id, :gender, :born)"),
            [{"id": i, "gender": "fm"[i % 2], "born": f"19{50 + 7 * i}-0{1 + i}-1{i}"} for i in range(1, 4)],
        )
    engine.dispose()
    return f"sqlite:///{path}"


def test_scan_recognises_your_columns_and_flags_what_the_run_would_reject(
    tmp_path: Path, own_sqlite: str, no_suites: Path
) -> None:
    home = tmp_path / "home"
    generate_key_file(home / "anon.key")
    policy, text = scan(home, own_sqlite, tmp_path / "draft.yaml")
    members = policy["tables"]["members"]["columns"]
    assert members["phone"]["rule"] == "phone"  # 5550100001: a phone without punctuation
    assert members["mobile"]["rule"] == "token"  # UNIQUE: `phone` would map two numbers alike
    assert members["password"] == {
        "class": "pii",
        "rule": "constant",
        "value": "",
        "note": members["password"]["note"],
    }
    assert any("NOT NULL" in c for c in comments_above(text, "password"))
    assert members["avatar"]["rule"] == "constant" and comments_above(text, "avatar")
    assert members["attendees"]["rule"] == "free_text"  # a list of people
    assert members["prefs"]["rule"] == "json"
    assert members["prefs"]["paths"] == {"contact.email": "email", "contact.name": "full_name"}
    board = policy["tables"]["board"]["columns"]
    assert board["born"]["class"] == "quasi" and board["gender"] == {"class": "quasi", "rule": "keep"}
    flag = comments_above(text, "gender")
    assert flag and "k-anonymity (k=5) would fail" in flag[0] and "3 rows" in flag[0]

    # the draft loads as it is; the run's k-anonymity check rejects what was flagged, and only that
    target = f"sqlite:///{tmp_path / 'target.db'}"
    args = [
        "--home",
        str(home),
        "--source",
        own_sqlite,
        "--target",
        target,
        "--policy",
        str(tmp_path / "draft.yaml"),
    ]
    result = invoke("run", *args, env={"DP_SUITES": str(no_suites)})
    assert result.exit_code == 1, result.output
    assert "anonymized/board:k_anonymity" in result.output
    summary = result.output.split("summary:")[1]
    assert "members " in summary and "checks failed" not in summary.split("members")[1].splitlines()[0]


def test_scan_of_postgresql_types_gives_a_policy_the_run_takes(
    tmp_path: Path, pg_url: str, no_suites: Path
) -> None:
    """A partitioned table keyed by a timestamptz, arrays, jsonb and bytea: the draft runs unchanged."""
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE visits (id bigint, at timestamptz, guest_emails text[], payload jsonb, "
            "scan bytea, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
        )
        conn.exec_driver_sql(
            "CREATE TABLE visits_2024 PARTITION OF visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
        )
        conn.execute(
            sa.text("INSERT INTO visits VALUES (:id, :at, :emails, CAST(:payload AS jsonb), :scan)"),
            [
                {
                    "id": i,
                    "at": f"2024-03-{1 + i % 28:02d} 10:00+00",
                    "emails": [f"guest{i}@visit.example", f"other{i}@visit.example"],
                    "payload": json.dumps(
                        {"visitor": {"email": f"v{i}@visit.example", "phone": f"+44 20 7946 {i:04d}"}}
                    ),
                    "scan": bytes([i]),
                }
                for i in range(1, 41)
            ],
        )
    engine.dispose()
    home = tmp_path / "home"
    generate_key_file(home / "anon.key")
    policy, text = scan(home, pg_url, tmp_path / "draft.yaml")
    visits = policy["tables"]["visits"]["columns"]
    assert visits["at"] == {"class": "key", "rule": "keep"}  # a token cannot be a timestamptz
    assert visits["guest_emails"]["rule"] == "json" and visits["guest_emails"]["paths"] == {"*": "email"}
    assert visits["payload"]["paths"] == {"visitor.email": "email", "visitor.phone": "phone"}
    assert visits["scan"]["rule"] == "null"
    assert not [c for c in visits.values() if c["class"] == "unknown"]

    target = f"sqlite:///{tmp_path / 'target.db'}"
    args = [
        "--home",
        str(home),
        "--source",
        pg_url,
        "--target",
        target,
        "--policy",
        str(tmp_path / "draft.yaml"),
    ]
    result = invoke("run", *args, env={"DP_SUITES": str(no_suites)})
    assert result.exit_code == 0, result.output
    published = sa.create_engine(target)
    with published.connect() as conn:
        rows = conn.execute(sa.text("SELECT guest_emails, payload, scan FROM visits")).all()
    published.dispose()
    assert len(rows) == 40 and all(scan is None for _, _, scan in rows)
    text = json.dumps([list(r[:2]) for r in rows])
    originals = [f"+44 20 7946 {i:04d}" for i in range(1, 41)]  # not "7946": a fake may hold it
    assert "visit.example" not in text and not [o for o in originals if o in text]

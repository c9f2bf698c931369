"""Settings resolved once: explicit flags first, then environment variables, then defaults.

Every path of state hangs off DP_HOME. Raw (un-anonymized) data may only be written under
`DP_HOME/vault/`; everything else under DP_HOME must be safe to share.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.engine import make_url

from data_pipeline.errors import BadInput

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO_ROOT / "anonymizers" / "policy.yaml"
DEFAULT_SUITES = REPO_ROOT / "expectations"
T = TypeVar("T", int, float)


def redact_url(url: str) -> str:
    """The URL with its password hidden: the only form a URL may take in logs and metadata."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL must still never leak
        return "<unparsable database URL>"


@dataclass(frozen=True)
class Settings:
    home: Path
    source_url: str
    target_url: str
    policy_path: Path
    suites_dir: Path = DEFAULT_SUITES
    raw_retention_days: float = 7.0
    keep_releases: int = 10
    k_anonymity: int = 5
    source_schema: str | None = None  # a database schema other than the default (DP_SOURCE_SCHEMA)
    target_schema: str | None = None  # defaults to the source's (DP_TARGET_SCHEMA)
    partition_rows: int = 1_000_000  # tables above it are anonymized in parts (0: never)
    snapshot_connections: int = 2  # tables of a PostgreSQL source read at once, in one snapshot
    schedule_cron: str = "0 2 * * *"
    retention_cron: str = "0 3 * * *"
    subset: tuple[str, ...] = ()  # --subset TABLE=N% / 'TABLE:condition' (DP_SUBSET, a JSON list)
    subset_other: str | None = None  # tables the subset never reaches: copy or empty (DP_SUBSET_OTHER)
    gx_dir: Path | None = None  # a GX File Data Context (DP_GX_DIR, or gx/ at the repo root)

    @property
    def vault(self) -> Path:
        return self.home / "vault"

    @property
    def checkpoints(self) -> Path:
        """Anonymized checkpoints: safe to keep, never raw."""
        return self.home / "checkpoints"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def ledger_url(self) -> str:
        return os.environ.get("DP_LEDGER_URL") or f"sqlite:///{self.home / 'ledger.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "anon.key"

    @property
    def demo_source_path(self) -> Path:
        return self.home / "demo_source.db"

    @property
    def spill_dir(self) -> Path:
        """Scratch files of the checks' bounded-memory sets: hashes and counts of anonymized output
        (never a raw value), each set's own directory removed when its check is done."""
        return self.home / "tmp"


def load_settings(
    *,
    home: str | Path | None = None,
    source_url: str | None = None,
    target_url: str | None = None,
    policy: str | Path | None = None,
    suites: str | Path | None = None,
    gx_dir: str | Path | None = None,
) -> Settings:
    """Flags win over environment variables, which win over defaults."""
    env = os.environ
    home_path = Path(home or env.get("DP_HOME") or Path.cwd() / ".data_pipeline").resolve()
    demo_source = f"sqlite:///{home_path / 'demo_source.db'}"
    source = source_url or env.get("DP_SOURCE_URL") or demo_source
    # the demo's suites are for the demo's tables; a source of your own gets yours (`expectations init`)
    own_suites = DEFAULT_SUITES if source == demo_source else home_path / "expectations"
    return Settings(
        home=home_path,
        source_url=source,
        target_url=target_url or env.get("DP_TARGET_URL") or f"sqlite:///{home_path / 'target.db'}",
        policy_path=Path(policy or env.get("DP_POLICY") or DEFAULT_POLICY),
        suites_dir=Path(suites or env.get("DP_SUITES") or own_suites),
        raw_retention_days=_number(env, "DP_RAW_RETENTION", 7.0, float, "a number of days"),
        keep_releases=_number(env, "DP_KEEP_RELEASES", 10, int, "a whole number, 0 or more"),
        k_anonymity=_number(env, "DP_K_ANONYMITY", 5, int, "a whole number, 1 or more", least=1),
        partition_rows=_number(env, "DP_PARTITION_ROWS", 1_000_000, int, "a number of rows (0: never)"),
        snapshot_connections=_number(env, "DP_SNAPSHOT_CONNECTIONS", 2, int, "1 or more", least=1),
        source_schema=env.get("DP_SOURCE_SCHEMA") or None,
        target_schema=env.get("DP_TARGET_SCHEMA") or env.get("DP_SOURCE_SCHEMA") or None,
        schedule_cron=env.get("DP_SCHEDULE_CRON", "0 2 * * *"),
        retention_cron=env.get("DP_RETENTION_CRON", "0 3 * * *"),
        subset=tuple(json.loads(env["DP_SUBSET"])) if env.get("DP_SUBSET") else (),
        subset_other=env.get("DP_SUBSET_OTHER") or None,
        gx_dir=gx_project(gx_dir or env.get("DP_GX_DIR")),
    )


def _number(
    env: Mapping[str, str], name: str, default: T, kind: Callable[[str], T], expected: str, least: float = 0
) -> T:
    """A numeric setting; a value that is not one is a user's mistake: one line naming the variable."""
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = kind(text.strip())
    except ValueError:
        value = None
    if value is None or value != value or value < least:  # NaN, negative
        raise BadInput(f"{name}={text}: expected {expected}")
    return value


def gx_project(explicit: str | Path | None) -> Path | None:
    """The GX File Data Context to honour: the given directory (it must hold great_expectations.yml),
    else `gx/` at the repo root when it does; None otherwise."""
    if explicit:
        return Path(explicit).resolve()
    default = REPO_ROOT / "gx"
    return default if (default / "great_expectations.yml").is_file() else None


def is_default_demo_source(settings: Settings) -> bool:
    return settings.source_url == f"sqlite:///{settings.demo_source_path}"

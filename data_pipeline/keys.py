"""The anonymization key: where it comes from and what is derived from it.

The master key never leaves this module in clear: rules get per-domain sub-keys (HMAC-SHA256), and the
ledger and manifests only see the key *epoch*, a keyed fingerprint that cannot be reversed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from data_pipeline.errors import BadInput

KEY_ENV = "DP_ANON_KEY"
MIN_KEY_CHARS = 16


@dataclass(frozen=True)
class AnonKey:
    """A secret key; its repr never shows the secret, so it cannot slip into logs or metadata."""

    secret: bytes = field(repr=False)

    def derive(self, purpose: str) -> bytes:
        return hmac.new(self.secret, purpose.encode(), hashlib.sha256).digest()

    def hash_key(self, domain: str) -> str:
        """A 16-character sub-key for SipHash-2-4 (as pandas' `hash_array` takes it), 96 bits."""
        return base64.urlsafe_b64encode(self.derive(f"siphash:{domain}")[:12]).decode()

    @property
    def epoch(self) -> str:
        """Identifies which key produced a release without revealing it."""
        return self.derive("epoch").hex()[:12]

    def __str__(self) -> str:
        return f"AnonKey(epoch={self.epoch})"


def generate_key_file(path: Path) -> bool:
    """Create a random key readable only by its owner; False when one already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    return True


def load_key(key_file: Path) -> AnonKey:
    """DP_ANON_KEY wins; else the key file in DP_HOME. Without either the run is refused."""
    raw = os.environ.get(KEY_ENV)
    source = f"environment variable {KEY_ENV}"
    if not raw and key_file.exists():
        if key_file.stat().st_mode & 0o077:
            raise BadInput(f"key file {key_file} is readable by others; run `chmod 600 {key_file}`")
        raw = key_file.read_text().strip()
        source = f"key file {key_file}"
    if not raw:
        raise BadInput(
            f"no anonymization key: set {KEY_ENV} or run `data-pipeline keygen` "
            f"(writes {key_file}, mode 0600)"
        )
    if len(raw) < MIN_KEY_CHARS:
        raise BadInput(f"the anonymization key from {source} is shorter than {MIN_KEY_CHARS} chars")
    return AnonKey(raw.encode())

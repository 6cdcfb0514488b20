"""The canonical form of a config and its ``config_hash``.

Algorithm (so other tools can recompute it): serialize the merged config as
JSON with keys sorted, no whitespace (``","`` and ``":"`` separators), non-ASCII
characters written as UTF-8 (not ``\\u`` escapes), floats written by Python's
``repr`` (shortest round-trip form), NaN and infinities refused; encode as
UTF-8; take the SHA-256 hex digest.  ``1``, ``1.0`` and ``true`` therefore
hash differently, and key order in the file does not matter.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping


def canonical_json(config: Mapping[str, Any]) -> str:
    return json.dumps(
        config, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def config_hash(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()

"""sha256: the hex SHA-256 digest of the request body (``?algorithm=`` picks another hashlib algorithm)."""

from __future__ import annotations

import hashlib
from typing import Any

ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "sha3_256", "blake2b")


def handle(event: Any, context: Any) -> dict[str, Any]:
    algorithm = event.query.get("algorithm", "sha256").lower().replace("-", "_")
    if algorithm not in ALGORITHMS:
        return {"statusCode": 400, "body": f"algorithm must be one of {', '.join(ALGORITHMS)}\n"}
    digest = hashlib.new(algorithm, bytes(event.body)).hexdigest()
    return {
        "statusCode": 200,
        "body": digest + "\n",
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
    }

"""SHA-256 hex digests without loading OpenSSL.

`import hashlib` loads _hashlib (libcrypto) first: 3.5 ms of start-up measured here, a large
share of a warm or incremental `show` (issue 2). The interpreter's built-in module gives the
same digests (tests/unit/test_digest.py compares them); hashlib is the fallback.
"""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (records.py)
if TYPE_CHECKING:
    from typing import Any

_sha256: Callable[[bytes], Any]
try:
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
except ImportError:  # Python 3.11
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:  # pragma: no cover - an interpreter without the built-in modules
        from hashlib import sha256 as _sha256  # type: ignore[no-redef,unused-ignore]


def sha256_hex(data: bytes) -> str:
    digest: str = _sha256(data).hexdigest()
    return digest

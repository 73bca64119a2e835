"""digest.sha256_hex is hashlib's SHA-256 (index file names and fingerprints depend on it)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from gitops.digest import sha256_hex


@given(st.binary(max_size=4096))
def test_same_digest_as_hashlib(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_known_value() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

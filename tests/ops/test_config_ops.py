"""The [ops] keys of .git-batch.toml: defaults and validation that names the key."""

from __future__ import annotations

import pytest

from gitops.config import Config, parse_config_text, render_id
from gitops.errors import ConfigError


def test_ops_defaults() -> None:
    ops = Config().ops
    assert (ops.branch, ops.remote, ops.require_signed) == ("batch-ops", "origin", True)
    assert ops.ecosystems == ("homebrew", "cargo", "npm", "pypi")
    assert ops.on_unreachable == "closed"
    assert render_id(ops.id_format, "2026-03-01", 7, "") == "2026-03-01-007"


def test_ops_keys_are_read() -> None:
    cfg = parse_config_text('[ops]\necosystems = ["npm", "rubygems"]\non_unreachable = "open"\n'
                            'id_format = "{date}-{seq:04d}"\n[batch]\n'
                            "id_pattern = '^\\d{4}-\\d{2}-\\d{2}-\\d{4}$'\n", "t.toml")
    assert cfg.ops.ecosystems == ("npm", "rubygems") and cfg.ops.on_unreachable == "open"
    assert render_id(cfg.ops.id_format, "2026-03-01", 7, "") == "2026-03-01-0007"


@pytest.mark.parametrize(("body", "key"), [
    ('ecosystems = ["Home Brew"]', "ops.ecosystems"),
    ('ecosystems = ["npm", "npm"]', "ops.ecosystems"),
    ('on_unreachable = "maybe"', "ops.on_unreachable"),
    ('id_format = "{date}"', "ops.id_format"),
    ('id_format = "{date}-{seq:03d}-{who}"', "ops.id_format"),
    ('id_format = "{date}-{seq:03d"', "ops.id_format"),
    ('id_format = "{date}_{seq:03d}"', "ops.id_format"),
    ('allowed_signers = "/etc/allowed"', "ops.allowed_signers"),
    ('allowed_signers = "../outside"', "ops.allowed_signers"),
    ('branch = "-x"', "ops.branch"),
    ('branch = "a..b"', "ops.branch"),
    ('remote = "a b"', "ops.remote"),
    ('remote = "https://example.com/r.git"', "ops.remote"),
    ("require_signed = 0", "ops.require_signed"),
    ('requre_signed = false', "ops.requre_signed"),
])
def test_bad_ops_values_name_the_file_and_key(body: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config_text(f"[ops]\n{body}\n", ".git-batch.toml")
    assert err.value.message.startswith(".git-batch.toml: ")
    assert f"'{key}'" in err.value.message

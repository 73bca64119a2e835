"""Merge defaults < .git-batch.toml < GIT_BATCH_* env < flags into one frozen Config.

Every key has a default, so the tool works in a repository with no file. A bad file is an error
that names the file, the key and what was expected; unknown keys are errors too (a typo must not
silently fall back to a default during an incident).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import string
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, NamedTuple

from gitops.errors import ConfigError, UsageError

CONFIG_FILENAME = ".git-batch.toml"
DEFAULT_ID_PATTERN = r"^\d{4}-\d{2}-\d{2}-\d{3}$"


class IdFile(NamedTuple):
    """A file a batch commit adds that names its batch: JSON lines with the id in field."""

    glob: str  # which added files count, e.g. "data/metrics/*.jsonl"
    field: str  # the key of each line's object that holds the batch id, e.g. "batch_id"


class BatchConfig(NamedTuple):
    trailer_key: str = "Batch-Id"
    legacy_keys: tuple[str, ...] = ("batch_id",)
    id_pattern: str = DEFAULT_ID_PATTERN
    ecosystem_trailer: str = "Batch-Ecosystem"
    # optional id and ecosystem sources of registries whose pipelines wrote neither trailer:
    ecosystem_line: str = ""  # e.g. "ecosystem": a message line `ecosystem: NAME`; "" = off
    id_files: tuple[IdFile, ...] = ()  # [{ glob = "data/metrics/*.jsonl", field = "batch_id" }]


class PathsConfig(NamedTuple):
    managed: tuple[str, ...] = ("recipes/**",)
    exclude: tuple[str, ...] = ()  # inside managed paths, but not batch-owned (generated files)


class RepoConfig(NamedTuple):
    base_branch: str = ""  # empty: origin/HEAD's target, else main, else HEAD
    pull_ref_pattern: str = "refs/pull/*/head"
    inflight_refs: tuple[str, ...] = ("refs/heads/*", "refs/remotes/*", "refs/pull/*/head")


class RecipesConfig(NamedTuple):
    dependency_fields: tuple[str, ...] = (
        "metadata.dependencies",
        "metadata.runtime_dependencies",
        "steps[].dependencies",
    )
    # names a recipe also satisfies: dotted fields, `*` for every key of a table
    # ("metadata.satisfies.*": one list per ecosystem)
    alias_fields: tuple[str, ...] = ("metadata.aliases",)
    protected_marker: str = "metadata.curated"


class RevertConfig(NamedTuple):
    """[revert]: how later edits by other commits count."""

    # a later commit that changed more managed files than this is a mechanical edit (a
    # migration, a reformatting), not a person adopting the file (docs/revert.md)
    mechanical_edit_files: int = 50


class OpsConfig(NamedTuple):
    branch: str = "batch-ops"
    remote: str = "origin"
    allowed_signers: str = ".git-batch/allowed_signers"  # a path on the base branch
    require_signed: bool = True
    ecosystems: tuple[str, ...] = ("homebrew", "cargo", "npm", "pypi")
    on_unreachable: str = "closed"  # gate when --fetch fails: "closed" refuses, "open" goes on
    id_format: str = "{date}-{seq:03d}"  # `id new`; fields: date, seq, ecosystem


class HooksConfig(NamedTuple):
    """Which commits must carry a batch trailer (hooks and `git batch check`)."""

    # "managed": every commit touching managed paths; "bots": only those by bot_identities;
    # "off": no trailer is required (malformed or misplaced trailers are still refused)
    require_trailer: str = "managed"
    bot_identities: tuple[str, ...] = ()  # author emails or globs ("*[bot]@users.noreply...")
    target_branches: tuple[str, ...] = ()  # empty: every branch; else only commits landing here
    exempt_humans: bool = False  # with "managed": authors not in bot_identities need no trailer


# --- automatic controls: [breaker], [budget], [slo] ---


# --- automatic controls: the policies of the circuit breaker, the budget and the SLOs ---

BREAKER_MAX_WINDOW = 100  # the largest breaker window a policy may ask for
BUDGET_WINDOWS = ("rolling", "calendar")


class BreakerPolicy(NamedTuple):
    """[breaker]: when an ecosystem's circuit breaker opens and how it recovers."""

    threshold: float = 0.5  # open below this success rate ...
    window: int = 10  # ... over the last this many counted attempts
    min_attempts: int = 5  # never open with fewer counted attempts in the window
    recovery: timedelta = timedelta(minutes=60)  # open -> half_open after this (first time)
    max_backoff: timedelta = timedelta(hours=24)  # doubling stops here
    probes: int = 1  # packages a half-open breaker admits per run
    package_categories: frozenset[str] = frozenset({"validation", "unsupported"})

    def counts(self, category: str) -> bool:
        """Does a failure of this category count against the ecosystem?"""
        return category not in self.package_categories


class BudgetPolicy(NamedTuple):
    """[budget]: CI minutes per platform over a window, and when to sample or stop."""

    limits: tuple[tuple[str, int], ...] = ()  # (platform, minutes per window)
    window: str = "rolling"  # or "calendar"
    sample_at: float = 0.80
    stop_at: float = 0.95
    sample_rate: float = 0.25  # the share of packages to build on a sampling platform

    def limit_of(self, platform: str) -> int | None:
        return dict(self.limits).get(platform)


class SloPolicy(NamedTuple):
    """[slo]: the success-rate objective per ecosystem, and when it is critical."""

    target: float = 0.98
    critical: float = 0.50
    targets: tuple[tuple[str, float], ...] = ()  # per-ecosystem overrides

    def target_of(self, ecosystem: str) -> float:
        return dict(self.targets).get(ecosystem, self.target)


class BreakerConfig(NamedTuple):
    """[breaker] and [breaker.ecosystems.<name>]: the circuit breaker per ecosystem."""

    default: BreakerPolicy = BreakerPolicy()
    ecosystems: tuple[tuple[str, BreakerPolicy], ...] = ()  # overrides, sorted by name

    def policy_of(self, ecosystem: str) -> BreakerPolicy:
        return dict(self.ecosystems).get(ecosystem, self.default)


class BudgetConfig(NamedTuple):
    """[budget] and [budget.limits]: CI minutes per platform over a window."""

    policy: BudgetPolicy = BudgetPolicy()


class SloConfig(NamedTuple):
    """[slo] and [slo.ecosystems]: success-rate objectives per ecosystem."""

    policy: SloPolicy = SloPolicy()


class Config(NamedTuple):
    batch: BatchConfig = BatchConfig()
    paths: PathsConfig = PathsConfig()
    repo: RepoConfig = RepoConfig()
    recipes: RecipesConfig = RecipesConfig()
    ops: OpsConfig = OpsConfig()
    revert: RevertConfig = RevertConfig()
    breaker: BreakerConfig = BreakerConfig()
    budget: BudgetConfig = BudgetConfig()
    slo: SloConfig = SloConfig()
    hooks: HooksConfig = HooksConfig()
    source: str = "defaults"  # where the file came from, for messages

    @property
    def id_regex(self) -> re.Pattern[str]:
        return _compile_id(self.batch.id_pattern)

    def is_managed(self, path: str) -> bool:
        """Whether path is batch-owned: under a managed glob and under no exclude glob."""
        return bool(_compile_globs(self.paths.managed).match(path)) and not (
            self.paths.exclude and _compile_globs(self.paths.exclude).match(path))

    def history_fingerprint(self) -> str:
        """A digest of every setting the history index depends on; it is rebuilt on change."""
        return _fingerprint(self)


@functools.lru_cache(maxsize=8)
def _fingerprint(cfg: Config) -> str:
    data = {
        "trailer_key": cfg.batch.trailer_key.lower(),
        "legacy_keys": sorted(k.lower() for k in cfg.batch.legacy_keys),
        "id_pattern": cfg.batch.id_pattern,
        "ecosystem_trailer": cfg.batch.ecosystem_trailer.lower(),
        "ecosystem_line": cfg.batch.ecosystem_line.lower(),
        "id_files": [list(f) for f in cfg.batch.id_files],
        "pull_ref_pattern": cfg.repo.pull_ref_pattern,
        "inflight_refs": list(cfg.repo.inflight_refs),
        # the index also keeps the recipes at the tip (names, dependencies, aliases)
        "managed": list(cfg.paths.managed),
        "exclude": list(cfg.paths.exclude),
        "recipes": [list(cfg.recipes.dependency_fields), list(cfg.recipes.alias_fields),
                    cfg.recipes.protected_marker],
    }

    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


_SECTIONS: dict[str, type[Any]] = {
    "batch": BatchConfig,
    "paths": PathsConfig,
    "repo": RepoConfig,
    "recipes": RecipesConfig,
    "ops": OpsConfig,
    "revert": RevertConfig,
    "breaker": BreakerConfig,
    "budget": BudgetConfig,
    "slo": SloConfig,
    "hooks": HooksConfig,
}

_cache_id: dict[str, re.Pattern[str]] = {}
_cache_globs: dict[tuple[str, ...], re.Pattern[str]] = {}


def _compile_id(pattern: str) -> re.Pattern[str]:
    if pattern not in _cache_id:
        _cache_id[pattern] = re.compile(pattern)
    return _cache_id[pattern]


def check_batch_id(cfg: Config, batch_id: str) -> str:
    """Refuse ids that could be options, carry control characters, or miss the pattern."""
    if not batch_id or batch_id.startswith("-"):
        raise UsageError(f"batch id {batch_id!r} must not be empty or start with '-'.",
                         hint="pass the id itself, for example 2026-03-03-001")
    if any(ord(c) < 32 or ord(c) == 127 for c in batch_id):
        raise UsageError("batch id contains control characters.",
                         hint="copy the id from 'git batch list'")
    if not cfg.id_regex.fullmatch(batch_id):
        raise UsageError(
            f"batch id '{batch_id}' does not match the id pattern {cfg.batch.id_pattern}"
            f" (from {cfg.source}).",
            hint="copy the id from 'git batch list', or change batch.id_pattern",
        )
    return batch_id


def glob_to_regex(glob: str) -> str:
    """Translate a path glob (`**` any depth, `*` and `?` within one segment) into a regex."""
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


def _compile_globs(globs: tuple[str, ...]) -> re.Pattern[str]:
    if globs not in _cache_globs:
        body = "|".join(f"(?:{glob_to_regex(g)})" for g in globs) or "(?!)"
        _cache_globs[globs] = re.compile(f"^(?:{body})$", re.DOTALL)
    return _cache_globs[globs]


def pull_ref_regex(cfg: Config) -> re.Pattern[str]:
    """Regex of pull request head refs; group 1 is the pull request number."""
    before, _, after = cfg.repo.pull_ref_pattern.partition("*")
    return re.compile(f"^{re.escape(before)}(\\d+){re.escape(after)}$")


def pull_prefix(cfg: Config) -> str:
    """The ref directory holding pull request refs ('refs/pull/')."""
    before = cfg.repo.pull_ref_pattern.partition("*")[0]
    return before[: before.rfind("/") + 1]


def _expect(src: str, key: str, what: str, got: object) -> ConfigError:
    return ConfigError(
        f"{src}: key '{key}' must be {what}, not {got!r}.",
        hint=f"fix '{key}' in {src}, or remove it to use the default",
    )


def _coerce(src: str, key: str, default: object, value: object) -> object:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _expect(src, key, "true or false", value)
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise _expect(src, key, "a string", value)
        return value
    if isinstance(default, int):
        return _count(src, key, value, 1, 10**6)
    if key == "batch.id_files":
        return _id_files(src, key, value)
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise _expect(src, key, "a list of non-empty strings", value)
        return tuple(value)
    raise AssertionError(f"unhandled default type for {key}")  # pragma: no cover


def _id_files(src: str, key: str, value: object) -> tuple[IdFile, ...]:
    what = 'a list of tables such as { glob = "data/metrics/*.jsonl", field = "batch_id" }'
    if not isinstance(value, list):
        raise _expect(src, key, what, value)
    out = []
    for item in value:
        if (not isinstance(item, dict) or set(item) != {"glob", "field"}
                or not all(isinstance(v, str) and v for v in item.values())):
            raise _expect(src, key, what, item)
        out.append(IdFile(item["glob"], item["field"]))
    return tuple(out)


def _apply(base: Config, data: Mapping[str, object], src: str) -> Config:
    changes: dict[str, Any] = {}
    for section, body in data.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"{src}: unknown section '{section}'.",
                hint=f"known sections: {', '.join(sorted(_SECTIONS))}",
            )
        if not isinstance(body, dict):
            raise _expect(src, section, "a table", body)
        if section in _CONTROLS:
            changes[section] = _CONTROLS[section](getattr(base, section), body, src)
            continue
        current = getattr(base, section)
        known = current._asdict()
        updates: dict[str, object] = {}
        for key, value in body.items():
            dotted = f"{section}.{key}"
            if key not in known:
                raise ConfigError(
                    f"{src}: unknown key '{dotted}'.",
                    hint=f"known keys in [{section}]: {', '.join(sorted(known))}",
                )
            updates[key] = _coerce(src, dotted, known[key], value)
        changes[section] = current._replace(**updates)
    return base._replace(**changes)


def validate(cfg: Config, src: str) -> Config:
    """Check values that types alone do not catch; return cfg unchanged."""
    try:
        re.compile(cfg.batch.id_pattern)
    except re.error as exc:
        raise _expect(src, "batch.id_pattern", f"a valid regular expression ({exc})",
                      cfg.batch.id_pattern) from None
    token = re.compile(r"^[A-Za-z0-9-]+$")
    if not token.match(cfg.batch.trailer_key):
        raise _expect(src, "batch.trailer_key", "a trailer token (letters, digits, '-')",
                      cfg.batch.trailer_key)
    if not token.match(cfg.batch.ecosystem_trailer):
        raise _expect(src, "batch.ecosystem_trailer", "a trailer token (letters, digits, '-')",
                      cfg.batch.ecosystem_trailer)
    if cfg.batch.ecosystem_line and not re.match(r"^[A-Za-z0-9_-]+$", cfg.batch.ecosystem_line):
        raise _expect(src, "batch.ecosystem_line", "a line key of letters, digits, '_' or '-' "
                      "(or \"\" for none)", cfg.batch.ecosystem_line)
    for field in cfg.recipes.alias_fields:
        if any(not part for part in field.split(".")):
            raise _expect(src, "recipes.alias_fields", "dotted field paths such as "
                          "'metadata.satisfies.*'", field)
    for key in cfg.batch.legacy_keys:
        if not re.match(r"^[A-Za-z0-9_-]+$", key):
            raise _expect(src, "batch.legacy_keys", "keys of letters, digits, '_' or '-'", key)
    for glob in (*cfg.paths.managed, *cfg.paths.exclude, *(f.glob for f in cfg.batch.id_files)):
        if glob.startswith("/") or "\\" in glob:
            raise _expect(src, "paths.managed", "repository-relative globs such as 'recipes/**'",
                          glob)
    if cfg.repo.pull_ref_pattern.count("*") != 1 or not cfg.repo.pull_ref_pattern.startswith(
        "refs/"
    ):
        raise _expect(src, "repo.pull_ref_pattern", "a ref pattern with one '*' for the number",
                      cfg.repo.pull_ref_pattern)
    if cfg.repo.base_branch.startswith("-") or any(ord(c) < 32 for c in cfg.repo.base_branch):
        raise _expect(src, "repo.base_branch", "a branch name", cfg.repo.base_branch)
    _validate_ops(cfg, src)
    _validate_hooks(cfg, src)
    return cfg


_REMOTE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_ECOSYSTEM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_ID_FIELDS = frozenset({"date", "seq", "ecosystem"})


def is_remote_name(name: str) -> bool:
    """A configured remote's name (never a URL or an option)."""
    return bool(_REMOTE_NAME.match(name)) and ".." not in name


def is_branch_name(name: str) -> bool:
    """A conservative subset of `git check-ref-format --branch`."""
    parts = name.split("/")
    return (bool(re.match(r"^[A-Za-z0-9._/-]+$", name)) and not name.startswith("-")
            and all(p and not p.startswith(".") and not p.endswith(".lock") for p in parts)
            and ".." not in name and not name.endswith("."))


def render_id(fmt: str, date: str, seq: int, ecosystem: str) -> str:
    """The batch id `id new` hands out (ops.id_format)."""
    return fmt.format(date=date, seq=seq, ecosystem=ecosystem)


def _validate_ops(cfg: Config, src: str) -> None:
    ops = cfg.ops
    if not is_branch_name(ops.branch):
        raise _expect(src, "ops.branch", "a branch name such as 'batch-ops'", ops.branch)
    if not is_remote_name(ops.remote):
        raise _expect(src, "ops.remote", "a remote name such as 'origin'", ops.remote)
    signers = ops.allowed_signers
    if (not signers or signers.startswith(("/", "-")) or "\\" in signers
            or any(ord(c) < 32 for c in signers) or ".." in signers.split("/")):
        raise _expect(src, "ops.allowed_signers",
                      "a repository-relative path such as '.git-batch/allowed_signers'", signers)
    for name in ops.ecosystems:
        if not _ECOSYSTEM_NAME.match(name):
            raise _expect(src, "ops.ecosystems",
                          "names of lowercase letters, digits, '.', '_', '-'", name)
    if len(set(ops.ecosystems)) != len(ops.ecosystems):
        raise _expect(src, "ops.ecosystems", "a list without duplicates", list(ops.ecosystems))
    if ops.on_unreachable not in ("closed", "open"):
        raise _expect(src, "ops.on_unreachable", "'closed' or 'open'", ops.on_unreachable)
    try:
        fields_used = _format_fields(ops.id_format)
        samples = [render_id(ops.id_format, "2026-01-28", n, "cargo") for n in (1, 999)]
    except (ValueError, KeyError, IndexError) as exc:
        raise _expect(src, "ops.id_format", f"a format with {{date}} and {{seq}} ({exc})",
                      ops.id_format) from None
    if not fields_used <= _ID_FIELDS or not {"date", "seq"} <= fields_used:
        raise _expect(src, "ops.id_format", "a format using {date} and {seq} (and optionally "
                      "{ecosystem}) only", ops.id_format)
    # The default format fits the default pattern only; a registry with a pattern of its own
    # learns which to change when it asks for an id (id_format_problem), not on every command.
    if ops.id_format != OpsConfig().id_format and (problem := id_format_problem(cfg, samples)):
        raise _expect(src, "ops.id_format", problem, ops.id_format)


def id_format_problem(cfg: Config, samples: list[str] | None = None) -> str | None:
    """Why the ids ops.id_format gives do not match batch.id_pattern, or None when they do."""
    regex = _compile_id(cfg.batch.id_pattern)
    for sample in samples or [render_id(cfg.ops.id_format, "2026-01-28", 1, "cargo")]:
        if not regex.fullmatch(sample):
            return (f"ids matching batch.id_pattern ({cfg.batch.id_pattern}); it gives "
                    f"{sample!r}: set ops.id_format to a format whose ids that pattern matches")
    return None


def _format_fields(fmt: str) -> set[str]:
    """The field names a str.format string uses (ValueError when it does not parse)."""
    return {f for _lit, f, _spec, _conv in string.Formatter().parse(fmt) if f is not None}


def _validate_hooks(cfg: Config, src: str) -> None:
    hooks = cfg.hooks
    if hooks.require_trailer not in ("managed", "bots", "off"):
        raise _expect(src, "hooks.require_trailer", "'managed', 'bots' or 'off'",
                      hooks.require_trailer)
    if (hooks.require_trailer == "bots" or hooks.exempt_humans) and not hooks.bot_identities:
        raise _expect(src, "hooks.bot_identities", "a non-empty list of bot author emails when "
                      "require_trailer = 'bots' or exempt_humans = true", [])
    for name in hooks.target_branches:
        if not is_branch_name(name.removeprefix("refs/heads/")):
            raise _expect(src, "hooks.target_branches", "branch names such as 'main'", name)


# --- automatic controls: parsing of [breaker], [budget], [slo] ---

_PLATFORM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _known(src: str, key: str, table: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    for name in table:
        if name not in allowed:
            raise ConfigError(f"{src}: unknown key '{key}.{name}'.",
                              hint=f"known keys in [{key}]: {', '.join(sorted(allowed))}")


def _fraction(src: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise _expect(src, key, "a fraction between 0 and 1 (0.5 is 50 %)", value)
    return float(value)


def _count(src: str, key: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _expect(src, key, f"a whole number from {low} to {high}", value)
    return value


def _names(src: str, key: str, value: object) -> Mapping[str, object]:
    if not isinstance(value, dict):
        raise _expect(src, key, "a table", value)
    for name in value:
        if not _ECOSYSTEM_NAME.match(name):
            raise _expect(src, f"{key}.{name}", "a name of lowercase letters, digits, '.', '_', "
                          "'-'", name)
    return value


_BREAKER_KEYS = ("threshold", "window", "min_attempts", "recovery_minutes",
                 "max_backoff_minutes", "probes", "package_categories")


def _breaker_policy(base: BreakerPolicy, body: Mapping[str, object], src: str, key: str
                    ) -> BreakerPolicy:
    _known(src, key, body, _BREAKER_KEYS + (("ecosystems",) if key == "breaker" else ()))
    p = base
    minute = timedelta(minutes=1)
    for name, value in body.items():
        dotted = f"{key}.{name}"
        if name == "threshold":
            p = p._replace(threshold=_fraction(src, dotted, value))
        elif name == "window":
            p = p._replace(window=_count(src, dotted, value, 1, BREAKER_MAX_WINDOW))
        elif name == "min_attempts":
            p = p._replace(min_attempts=_count(src, dotted, value, 1, BREAKER_MAX_WINDOW))
        elif name == "recovery_minutes":
            p = p._replace(recovery=minute * _count(src, dotted, value, 1, 7 * 24 * 60))
        elif name == "max_backoff_minutes":
            p = p._replace(max_backoff=minute * _count(src, dotted, value, 1, 30 * 24 * 60))
        elif name == "probes":
            p = p._replace(probes=_count(src, dotted, value, 1, 10))
        elif name == "package_categories":
            cats = _coerce(src, dotted, (), value)
            assert isinstance(cats, tuple)
            p = p._replace(package_categories=frozenset(cats))
    if p.min_attempts > p.window:
        raise _expect(src, f"{key}.min_attempts", f"at most {key}.window ({p.window})",
                      p.min_attempts)
    if p.max_backoff < p.recovery:
        raise _expect(src, f"{key}.max_backoff_minutes",
                      f"at least {key}.recovery_minutes ({int(p.recovery.total_seconds() // 60)})",
                      int(p.max_backoff.total_seconds() // 60))
    return p


def _parse_breaker(current: BreakerConfig, body: Mapping[str, object], src: str
                   ) -> BreakerConfig:
    default = _breaker_policy(current.default, body, src, "breaker")
    overrides: dict[str, Mapping[str, object]] = {}
    for name, table in _names(src, "breaker.ecosystems", body.get("ecosystems", {})).items():
        if not isinstance(table, dict):
            raise _expect(src, f"breaker.ecosystems.{name}", "a table", table)
        overrides[name] = table
    # an override changes only the keys it names; the rest follows [breaker]
    merged = dict(current.ecosystems)
    merged.update({name: _breaker_policy(default, t, src, f"breaker.ecosystems.{name}")
                   for name, t in overrides.items()})
    return BreakerConfig(default, tuple(sorted(merged.items())))


def _parse_budget(current: BudgetConfig, body: Mapping[str, object], src: str) -> BudgetConfig:
    _known(src, "budget", body, ("window", "sample_at", "stop_at", "sample_rate", "limits"))
    p = current.policy
    for name, value in body.items():
        dotted = f"budget.{name}"
        if name == "window":
            if value not in BUDGET_WINDOWS:
                raise _expect(src, dotted, "'rolling' (the last 7 days) or 'calendar' (Monday "
                              "to Sunday, UTC)", value)
            p = p._replace(window=str(value))
        elif name == "sample_at":
            p = p._replace(sample_at=_fraction(src, dotted, value))
        elif name == "stop_at":
            p = p._replace(stop_at=_fraction(src, dotted, value))
        elif name == "sample_rate":
            p = p._replace(sample_rate=_fraction(src, dotted, value))
        elif name == "limits":
            if not isinstance(value, dict):
                raise _expect(src, dotted, "a table of platform = minutes", value)
            limits = dict(p.limits)
            for platform, minutes in value.items():
                if not _PLATFORM_NAME.match(platform):
                    raise _expect(src, f"{dotted}.{platform}", "a platform name such as 'macos'",
                                  platform)
                limits[platform] = _count(src, f"{dotted}.{platform}", minutes, 1, 10**9)
            p = p._replace(limits=tuple(sorted(limits.items())))
    if not 0 < p.sample_at <= p.stop_at:
        raise _expect(src, "budget.sample_at", f"above 0 and at most budget.stop_at "
                      f"({p.stop_at})", p.sample_at)
    if p.sample_rate <= 0:
        raise _expect(src, "budget.sample_rate", "a fraction above 0", p.sample_rate)
    return BudgetConfig(p)


def _parse_slo(current: SloConfig, body: Mapping[str, object], src: str) -> SloConfig:
    _known(src, "slo", body, ("target", "critical", "ecosystems"))
    p = current.policy
    if "target" in body:
        p = p._replace(target=_fraction(src, "slo.target", body["target"]))
    if "critical" in body:
        p = p._replace(critical=_fraction(src, "slo.critical", body["critical"]))
    targets = dict(p.targets)
    for name, value in _names(src, "slo.ecosystems", body.get("ecosystems", {})).items():
        targets[name] = _fraction(src, f"slo.ecosystems.{name}", value)
    p = p._replace(targets=tuple(sorted(targets.items())))
    for name, target in (("slo.target", p.target), *((f"slo.ecosystems.{n}", t)
                                                       for n, t in p.targets)):
        if target < p.critical:
            raise _expect(src, name, f"at least slo.critical ({p.critical})", target)
    return SloConfig(p)


def controls_default_lines(section: str) -> list[str]:
    """`key = value` lines of a controls section's defaults (for the sample config)."""
    if section == "breaker":
        b = BreakerPolicy()
        cats = ", ".join(f'"{c}"' for c in sorted(b.package_categories))
        return [f"threshold = {b.threshold}", f"window = {b.window}",
                f"min_attempts = {b.min_attempts}",
                f"recovery_minutes = {int(b.recovery.total_seconds() // 60)}",
                f"max_backoff_minutes = {int(b.max_backoff.total_seconds() // 60)}",
                f"probes = {b.probes}", f"package_categories = [{cats}]",
                "# [breaker.ecosystems.homebrew] overrides any of these per ecosystem"]
    if section == "budget":
        g = BudgetPolicy()
        return [f'window = "{g.window}"', f"sample_at = {g.sample_at}",
                f"stop_at = {g.stop_at}", f"sample_rate = {g.sample_rate}",
                "# [budget.limits] macos = 1000, linux = 5000 (CI minutes per window)"]
    o = SloPolicy()
    return [f"target = {o.target}", f"critical = {o.critical}",
            "# [slo.ecosystems] homebrew = 0.85 overrides the target per ecosystem"]


_CONTROLS: dict[str, Any] = {"breaker": _parse_breaker, "budget": _parse_budget,
                             "slo": _parse_slo}


def parse_config_text(text: str, src: str, base: Config | None = None) -> Config:
    """Parse TOML text from src (a path or a description) over base (defaults)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{src}: not valid TOML: {exc}.", hint=f"fix the syntax in {src}"
        ) from None
    cfg = _apply(base or Config(), data, src)
    return validate(cfg._replace(source=src), src)


def load_config_file(path: str | os.PathLike[str]) -> Config:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: configuration file not found.",
            hint="pass an existing file with --config or GIT_BATCH_CONFIG",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}.") from None
    return parse_config_text(text, str(path))


ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "GIT_BATCH_BASE_BRANCH": ("repo", "base_branch"),
    "GIT_BATCH_OPS_BRANCH": ("ops", "branch"),
    "GIT_BATCH_REMOTE": ("ops", "remote"),
}


def apply_env(cfg: Config, environ: Mapping[str, str]) -> Config:
    """Apply GIT_BATCH_* overrides (the layer between the file and the flags)."""
    for var, (section, key) in ENV_OVERRIDES.items():
        value = environ.get(var)
        if value:
            cfg = cfg._replace(**{section: getattr(cfg, section)._replace(**{key: value})})
    return validate(cfg, f"environment ({', '.join(ENV_OVERRIDES)})")


def with_base_branch(cfg: Config, base: str | None) -> Config:
    """Apply the --base flag, the last layer."""
    if not base:
        return cfg
    return validate(cfg._replace(repo=cfg.repo._replace(base_branch=base)), "--base")

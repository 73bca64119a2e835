"""`trailer add`: write the batch trailer into a commit message as git would."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gitops import config, errors
from gitops.cli.common import Options, emit
from gitops.git import trailers


@click.group("trailer")
def trailer_group() -> None:
    """Write batch trailers into commit messages

    \b
    Example:
      git batch trailer add 2026-03-03-001 < msg > msg2
    """


@trailer_group.command("add")
@click.argument("batch_id", metavar="ID")
@click.option("--in-place", "in_place", metavar="FILE", type=click.Path(dir_okay=False),
              help="Rewrite FILE instead of reading stdin (for a prepare-commit-msg hook).")
@click.option("--ecosystem", metavar="NAME", help="Also add the ecosystem trailer.")
@click.pass_obj
def trailer_add_cmd(opts: Options, batch_id: str, in_place: str | None,
                    ecosystem: str | None) -> None:
    """Add 'Batch-Id: ID' to a commit message as git interpret-trailers would

    Reads the message on stdin and writes it to stdout, or rewrites --in-place FILE. The id
    must match the configured pattern. An identical trailer at the end is not repeated.

    \b
    Example:
      git batch trailer add 2026-03-03-001 < msg > msg2
      git batch trailer add 2026-03-03-001 --in-place .git/COMMIT_EDITMSG
    """
    try:
        cfg = opts.context().config
    except errors.RepositoryError:
        # Outside a repository (a message file in CI): defaults, or the --config file.
        cfg = config.load_config_file(Path(opts.config)) if opts.config else config.Config()
    config.check_batch_id(cfg, batch_id)
    if in_place:
        try:
            message = Path(in_place).read_text(encoding="utf-8")
        except OSError as exc:
            raise errors.UsageError(f"cannot read {in_place}: {exc.strerror}.") from None
    else:
        message = sys.stdin.read()
    out = trailers.add_trailer(message, cfg.batch.trailer_key, batch_id)
    if ecosystem:
        out = trailers.add_trailer(out, cfg.batch.ecosystem_trailer, ecosystem)
    if in_place:
        tmp = Path(in_place + ".git-batch.tmp")
        tmp.write_text(out, encoding="utf-8")
        os.replace(tmp, in_place)
    else:
        emit(out)



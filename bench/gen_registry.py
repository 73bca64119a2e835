"""Time the generation of a sample registry: `python bench/gen_registry.py PATH --commits N`.

Prints the wall time, commits per second and the repository's size, so that benchmarks of the
history code can say what they ran against. PATH must be new or an empty directory.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    from gitops import demo  # noqa: PLC0415  (after the sys.path line above)

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="where to create the registry (new or empty)")
    parser.add_argument("--commits", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bare", action="store_true", help="no working tree (skips checkout)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    info = demo.generate(args.path, commits=args.commits, seed=args.seed, bare=args.bare)
    elapsed = time.perf_counter() - start

    forms = Counter(b.form for b in info.batches)
    size = subprocess.run(
        ("git", "count-objects", "-v"), cwd=args.path, capture_output=True, text=True, check=True
    ).stdout
    pack_kib = next(
        (line.split()[1] for line in size.splitlines() if line.startswith("size-pack:")), "?"
    )
    print(f"generated {info.commits} commits in {elapsed:.1f} s "
          f"({info.commits / elapsed:,.0f} commits/s), seed {args.seed}")
    mix = ", ".join(f"{n} {form}" for form, n in sorted(forms.items()))
    print(f"batches: {len(info.batches)} ({mix})")
    print(f"pack size: {int(pack_kib) / 1024:.1f} MiB" if pack_kib.isdigit() else "pack size: ?")
    return 0


if __name__ == "__main__":
    sys.exit(main())

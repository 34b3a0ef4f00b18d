"""`pullgate-pre-commit`: `pullgate check --offline` on the files pre-commit passes.

pre-commit hands over every staged YAML and JSON file, manifests or not. A commit that touches only
a workflow or a package.json holds no Kubernetes object, which `pullgate check` rightly calls an
input problem; here those files are left out first, and with none left there is nothing to check.
A file that cannot be read or parsed is kept: pullgate names it with its line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gate.cli import check
from gate.cli import main as pullgate
from gate.manifests import InputError, read_bundle


def split_paths(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """The hook's own options (`args:` in the user's config) and the file names pre-commit appends,
    told apart by the check command's own parser."""
    context = check.make_context("check", list(args), resilient_parsing=True)
    count = len(context.params.get("paths") or ())
    cut = len(args) - count
    return list(args[:cut]), list(args[cut:])


def holds_objects(path: str) -> bool:
    try:
        return bool(read_bundle([path]).objects)
    except InputError:
        return True


def main(argv: Sequence[str] | None = None) -> None:
    options, files = split_paths(sys.argv[1:] if argv is None else argv)
    manifests = [path for path in files if holds_objects(path)]
    if not manifests:
        return
    pullgate(["check", "--offline", *options, *manifests], prog_name="pullgate")


if __name__ == "__main__":
    main()

"""One root cause, one finding: no image use gets two error findings where one follows from the
other (the catalog's `subsumes` relation, the README's "One root cause, one finding" table).

`conftest.py` wraps every in-process run of every suite with `watch_runs`, so each scenario is
also held to this rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import pytest

from gate.causes import CATALOG
from gate.findings import Finding


def use_key(finding: Finding) -> tuple:
    use = finding.use
    return (use.file, use.line, use.kind, use.namespace, use.name, use.container)


def double_verdicts(findings: Iterable[Finding]) -> list[tuple[str, str, str]]:
    """(use, root cause, cause that follows from it) for every use reported twice."""
    errors: dict[tuple, list[str]] = defaultdict(list)
    for f in findings:
        if f.is_error:
            errors[use_key(f)].append(f.cause)
    found = []
    for key, causes in errors.items():
        for root in causes:
            for other in causes:
                if other in CATALOG[root].subsumes:
                    found.append((f"{key[0]}:{key[1]} {key[5]}", root, other))
    return found


@contextmanager
def watch_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, str]]]:
    """Every `run_check` in the block hands its findings (before the policy moves any aside)
    to `double_verdicts`; the list yielded collects what it found."""
    import gate.runner

    seen: list[tuple[str, str, str]] = []
    original = gate.runner.apply_policy

    def judged(policy, findings):  # noqa: ANN001, ANN202 - apply_policy's own signature
        seen.extend(double_verdicts(findings))
        return original(policy, findings)

    monkeypatch.setattr(gate.runner, "apply_policy", judged)
    yield seen

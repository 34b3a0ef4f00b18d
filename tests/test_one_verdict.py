"""One root cause, one finding: the catalog's `subsumes` relation, as the README states it and as
`tests/one_verdict.py` holds every in-process run of every suite to it."""

from __future__ import annotations

import re
from pathlib import Path

from one_verdict import double_verdicts
from outcomes import MIXED, write

from gate.causes import CATALOG, Severity
from gate.findings import make_finding
from gate.runner import CheckOptions, run_check

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_table() -> dict[str, set[str]]:
    text = README.read_text()
    section = text.split("### One root cause, one finding", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \| (.+) \|$", section, re.MULTILINE)
    return {root: set(re.findall(r"`([a-z-]+)`", rest)) for root, rest in rows}


def test_the_readme_table_is_the_catalog_relation():
    in_catalog = {c.id: set(c.subsumes) for c in CATALOG.values() if c.subsumes}
    assert readme_table() == in_catalog


def test_every_subsumed_cause_is_in_the_catalog_and_not_its_own_root():
    for row in CATALOG.values():
        for other in row.subsumes:
            assert other in CATALOG and other != row.id


def test_two_errors_on_one_use_where_one_follows_are_caught(tmp_path):
    """The checker every suite runs under finds a double verdict when there is one."""
    outcome = run_check(CheckOptions(paths=[str(write(tmp_path, MIXED))], offline=True))
    use = outcome.bundle.uses[0]
    twice = [
        make_finding(cause, use, None, "default", {}, severity=Severity.ERROR)
        for cause in ("pull-secret-missing", "pull-secret-no-match")
    ]
    assert double_verdicts(twice) == [
        (f"{use.file}:{use.line} {use.container}", "pull-secret-missing", "pull-secret-no-match")
    ]
    warning = [
        twice[0],
        make_finding("unauthorized", use, None, "default", {}, severity=Severity.WARNING),
    ]
    assert double_verdicts(warning) == []

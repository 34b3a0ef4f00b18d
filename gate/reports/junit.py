"""`--format junit`: one test case per unique image, for test tabs (Azure Pipelines
PublishTestResults, GitHub test reporters, Jenkins).

A test case fails when its image has an error finding (or a warning, with --strict); the failure
carries the cause table text of every cause for that image. Warnings of a passing image and
findings an ignore rule moved aside go to the case's system-out. Test cases are grouped by
registry (classname), named by the normalized reference.
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from gate.causes import CATALOG
from gate.findings import Finding
from gate.reports.parts import use_place
from gate.reports.safe import clean
from gate.reports.text import cause_block
from gate.runner import Outcome, parse_uses

SUITE = "pullgate"
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_chars(text: str) -> str:
    """`text` with what XML 1.0 cannot carry shown as U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _cases(outcome: Outcome) -> dict[str, tuple[str, list[str]]]:
    """image key -> (classname, uses as 'file:line kind ns/name container')."""
    parsed = parse_uses(outcome.bundle.uses)
    cases: dict[str, tuple[str, list[str]]] = {}
    for use in outcome.bundle.uses:
        ref = parsed.get(use.image) if not use.problem else None
        if ref is not None and not isinstance(ref, Exception):
            key, group = str(ref), ref.domain
        else:
            key, group = use.image or "(no image)", "invalid-reference"
        cases.setdefault(clean(key), (clean(group), []))[1].append(clean(use_place(use)))
    return cases


def _titled(cause_id: str, findings: list[Finding]) -> str:
    level = "error" if any(f.is_error for f in findings) else "warning"
    return f"{level} {cause_id}: {CATALOG[cause_id].title}\n{cause_block(findings)}"


def _key(finding: Finding) -> str:
    return finding.resolved or finding.use.image or "(no image)"


def render(outcome: Outcome, strict: bool = False) -> str:
    findings: dict[str, list[Finding]] = defaultdict(list)
    for f in outcome.findings:
        findings[_key(f)].append(f)
    ignored: dict[str, list[str]] = defaultdict(list)
    for item in outcome.suppressed:
        ignored[_key(item.finding)].append(
            f"ignored {item.finding.cause}: {item.reason}"
            f" ({item.file or '.pullgate.yaml'}:{item.line})"
        )
    cases = _cases(outcome)
    for key, group in findings.items():  # findings whose image the bundle does not list
        cases.setdefault(key, ("pullgate", [f"{f.use.file}:{f.use.line}" for f in group]))

    failures = 0
    elements = []
    for key, (group, uses) in sorted(cases.items(), key=lambda kv: (kv[1][0], kv[0])):
        case = ET.Element("testcase", {"name": _xml_chars(key), "classname": _xml_chars(group)})
        mine = findings.get(key, [])
        failing = [f for f in mine if f.is_error or strict]
        by_cause: dict[str, list[Finding]] = defaultdict(list)
        for f in mine:
            by_cause[f.cause].append(f)
        if failing:
            failures += 1
            causes = sorted({f.cause for f in failing})
            summary = "; ".join(f"{c}: {CATALOG[c].title}" for c in causes)
            failure = ET.SubElement(
                case, "failure", {"type": causes[0], "message": _xml_chars(summary)}
            )
            body = [_titled(c, by_cause[c]) for c in causes]
            failure.text = _xml_chars("\n\n".join(body) + "\n")
        failed = {f.cause for f in failing}
        out = [f"used by {where}" for where in uses]
        out += [_titled(c, g) for c, g in sorted(by_cause.items()) if c not in failed]
        out += ignored.get(key, [])
        if out:
            ET.SubElement(case, "system-out").text = _xml_chars("\n".join(out) + "\n")
        elements.append(case)

    timestamp = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    attrs = {
        "tests": str(len(elements)),
        "failures": str(failures),
        "errors": "0",
        "time": f"{outcome.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": SUITE, **attrs})
    suite = ET.SubElement(
        root,
        "testsuite",
        {"name": f"{SUITE} check", **attrs, "skipped": "0", "timestamp": timestamp},
    )
    for note in outcome.notes:
        where = f"{note.file}:{note.line}: " if note.file else ""
        ET.SubElement(suite, "system-err").text = _xml_chars(f"note: {where}{note.message}\n")
    suite.extend(elements)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"

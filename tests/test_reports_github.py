"""`--format github`: workflow commands that annotate the manifest lines."""

import re

from outcomes import MIGRATE_LINE, MIXED, NGINX_LINE, WARNINGS_ONLY, offline, write

from gate.reports import github

ANNOTATION = re.compile(r"^::(error|warning|notice) (?P<props>[^:]*)::(?P<message>.*)$")


def unescape(text):
    return (
        text.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",")
    ).replace("%25", "%")


def annotations(text):
    found = []
    for line in text.splitlines():
        m = ANNOTATION.match(line)
        if m:
            props = dict(p.split("=", 1) for p in m["props"].split(","))
            found.append((m[1], {k: unescape(v) for k, v in props.items()}, unescape(m["message"])))
    return found


def test_every_finding_is_an_annotation_on_its_image_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = offline(write(tmp_path, MIXED))
    found = annotations(github.render(outcome))
    assert len(found) == len(outcome.findings)
    places = {(kind, props["file"], props["line"]) for kind, props, _ in found}
    assert ("error", "app.yaml", str(MIGRATE_LINE)) in places
    assert ("warning", "app.yaml", str(NGINX_LINE)) in places


def test_annotation_carries_cause_title_and_fix(tmp_path):
    outcome = offline(write(tmp_path, MIXED))
    [(_, props, message)] = [a for a in annotations(github.render(outcome)) if a[0] == "error"]
    assert props["title"] == "pullgate invalid-reference: Registry.Example.com/Shop/Migrate:2.0"
    assert "Fix:" in message and "\n" in message


def test_annotations_are_grouped_per_cause(tmp_path):
    lines = github.render(offline(write(tmp_path, MIXED))).splitlines()
    groups = [line for line in lines if line.startswith("::group::")]
    assert len(groups) == len({f.cause for f in offline(write(tmp_path, MIXED)).findings})
    assert lines.count("::endgroup::") == len(groups)


def test_strict_turns_warnings_into_errors(tmp_path):
    outcome = offline(write(tmp_path, WARNINGS_ONLY))
    assert {a[0] for a in annotations(github.render(outcome))} == {"warning"}
    assert {a[0] for a in annotations(github.render(outcome, strict=True))} == {"error"}


def test_properties_and_data_are_escaped_as_the_runner_expects():
    line = github.command("error", "50% done\nnext", file="a,b.yaml", title="x: y")
    assert line == "::error file=a%2Cb.yaml,title=x%3A y::50%25 done%0Anext"


def test_the_last_line_is_the_verdict(tmp_path):
    text = github.render(offline(write(tmp_path, MIXED)))
    assert text.splitlines()[-1].startswith("pullgate: FAIL: 1 error")

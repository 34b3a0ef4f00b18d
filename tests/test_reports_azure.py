"""`--format azure`: Azure Pipelines logging commands."""

import re

from outcomes import CLEAN, MIGRATE_LINE, MIXED, WARNINGS_ONLY, offline, write

from gate.reports import azure

ISSUE = re.compile(r"^##vso\[task\.logissue (?P<props>[^\]]*)\](?P<message>.*)$")


def issues(text):
    found = []
    for line in text.splitlines():
        m = ISSUE.match(line)
        if m:
            props = dict(p.split("=", 1) for p in m["props"].split(";") if p)
            found.append((props, m["message"]))
    return found


def test_every_finding_is_a_logged_issue_with_file_line_and_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = offline(write(tmp_path, MIXED))
    found = issues(azure.render(outcome))
    assert len(found) == len(outcome.findings)
    [(props, message)] = [i for i in found if i[0]["type"] == "error"]
    assert props["sourcepath"] == "app.yaml"
    assert props["linenumber"] == str(MIGRATE_LINE)
    assert props["code"] == "invalid-reference"
    assert "%0AFix:" in message


def test_failing_gate_completes_the_task_as_failed(tmp_path):
    last = azure.render(offline(write(tmp_path, MIXED))).splitlines()[-1]
    assert last.startswith("##vso[task.complete result=Failed;]")


def test_warnings_only_complete_with_issues(tmp_path):
    last = azure.render(offline(write(tmp_path, WARNINGS_ONLY))).splitlines()[-1]
    assert last.startswith("##vso[task.complete result=SucceededWithIssues;]")


def test_clean_run_leaves_the_task_result_alone(tmp_path):
    assert "task.complete" not in azure.render(offline(write(tmp_path, CLEAN)))


def test_groups_are_balanced(tmp_path):
    lines = azure.render(offline(write(tmp_path, MIXED))).splitlines()
    opened = [line for line in lines if line.startswith("##[group]")]
    assert opened and lines.count("##[endgroup]") == len(opened)


def test_properties_and_message_are_escaped_as_the_agent_expects():
    line = azure.logissue("error", "100% sure\nreally", sourcepath="a;b].yaml")
    assert (
        line == "##vso[task.logissue type=error;sourcepath=a%3Bb%5D.yaml;]100%AZP25 sure%0Areally"
    )

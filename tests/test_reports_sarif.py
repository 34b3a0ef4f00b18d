"""`--format sarif`: valid SARIF 2.1.0 that code scanning can place on the manifest lines."""

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from outcomes import CLEAN, MIGRATE_LINE, MIXED, NGINX_LINE, offline, write

from gate.causes import CATALOG
from gate.cli import main
from gate.config import load_config
from gate.reports import sarif

SCHEMA = json.loads((Path(__file__).parent / "data/schemas/sarif-schema-2.1.0.json").read_text())
VALIDATOR = jsonschema.Draft4Validator(
    SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
)


def sarif_of(outcome):
    return json.loads(sarif.render(outcome))


def assert_valid(document):
    errors = [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(document)]
    assert errors == []


@pytest.fixture
def mixed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return offline(write(tmp_path, MIXED))


def test_failing_run_is_valid_sarif_2_1_0(mixed):
    assert_valid(sarif_of(mixed))


def test_clean_run_is_valid_sarif_with_an_empty_results_array(tmp_path):
    document = sarif_of(offline(write(tmp_path, CLEAN)))
    assert_valid(document)
    assert document["runs"][0]["results"] == []


def test_one_rule_per_cause_with_the_catalogs_help(mixed):
    rules = sarif_of(mixed)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(CATALOG)
    tag = next(r for r in rules if r["id"] == "tag-not-found")
    assert CATALOG["tag-not-found"].meaning in tag["help"]["text"]
    assert "az acr repository show-tags" in tag["help"]["text"]
    assert tag["defaultConfiguration"]["level"] == "error"


def test_results_point_at_the_image_line_of_the_manifest(mixed):
    results = sarif_of(mixed)["runs"][0]["results"]
    places = {
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in results
    }
    assert ("invalid-reference", "app.yaml", MIGRATE_LINE) in places
    assert ("mutable-tag", "app.yaml", NGINX_LINE) in places


def test_results_name_their_rule_by_id_and_index(mixed):
    run = sarif_of(mixed)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] == ("error" if r["ruleId"] == "invalid-reference" else "warning")


def test_ignored_findings_are_suppressed_results_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(
        tmp_path,
        "ignore:\n  - cause: rate-limit-risk\n    reason: mirrored by the node's containerd\n",
        ".pullgate.yaml",
    )
    outcome = offline(write(tmp_path, MIXED), load_config(config).policy)
    document = sarif_of(outcome)
    assert_valid(document)
    [ignored] = [r for r in document["runs"][0]["results"] if "suppressions" in r]
    assert ignored["ruleId"] == "rate-limit-risk"
    assert "mirrored by the node's containerd" in ignored["suppressions"][0]["justification"]


def test_expired_ignores_are_configuration_notifications_on_the_config_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write(
        tmp_path,
        "ignore:\n  - cause: mutable-tag\n    reason: until the base image moves\n"
        "    expires: 2000-01-31\n",
        ".pullgate.yaml",
    )
    document = sarif_of(offline(write(tmp_path, MIXED), load_config(config).policy))
    assert_valid(document)
    [note] = document["runs"][0]["invocations"][0]["toolConfigurationNotifications"]
    assert "expired on 2000-01-31" in note["message"]["text"]
    place = note["locations"][0]["physicalLocation"]
    assert place["artifactLocation"]["uri"] == ".pullgate.yaml"
    assert place["region"]["startLine"] == 2


def test_sarif_on_stdout_is_nothing_but_sarif(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MIXED)
    result = CliRunner().invoke(main, ["check", "--offline", "--format", "sarif", "app.yaml"])
    assert result.exit_code == 1
    assert_valid(json.loads(result.stdout))

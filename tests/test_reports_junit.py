"""`--format junit`: one test case per unique image, loadable by test tabs."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from outcomes import CLEAN, MIXED, WARNINGS_ONLY, offline, write

from gate.reports import junit

XSD = xmlschema.XMLSchema(Path(__file__).parent / "data/schemas/junit-10.xsd")


@pytest.fixture
def mixed(tmp_path):
    return offline(write(tmp_path, MIXED))


def cases(xml_text):
    return {c.get("name"): c for c in ET.fromstring(xml_text).iter("testcase")}


def test_failing_run_is_valid_junit_xml(mixed):
    XSD.validate(junit.render(mixed))


def test_clean_run_is_valid_junit_xml(tmp_path):
    XSD.validate(junit.render(offline(write(tmp_path, CLEAN))))


def test_one_test_case_per_unique_image_passing_ones_included(mixed):
    names = set(cases(junit.render(mixed)))
    assert names == {
        "Registry.Example.com/Shop/Migrate:2.0",
        "docker.io/library/nginx:latest",
        "registry.example.com/shop/tool:1.0@sha256:"
        "5e2c6f2b8c1d4a3f9e0b7a6d5c4b3a291807f6e5d4c3b2a19080f7e6d5c4b3a2",
    }


def test_an_image_with_an_error_fails_with_the_cause_table_text(mixed):
    case = cases(junit.render(mixed))["Registry.Example.com/Shop/Migrate:2.0"]
    failure = case.find("failure")
    assert failure.get("type") == "invalid-reference"
    for field in ("Events:", "Means:", "Cause:", "Fix:", "Used by:"):
        assert field in failure.text


def test_counts_match_the_test_cases(mixed):
    root = ET.fromstring(junit.render(mixed))
    suite = root.find("testsuite")
    assert suite.get("tests") == "3"
    assert suite.get("failures") == "1"
    assert root.get("failures") == "1"


def test_warnings_pass_unless_strict(tmp_path):
    outcome = offline(write(tmp_path, WARNINGS_ONLY))
    [case] = cases(junit.render(outcome)).values()
    assert case.find("failure") is None
    assert "never-pull" in case.find("system-out").text
    [case] = cases(junit.render(outcome, strict=True)).values()
    assert case.find("failure").get("type") == "never-pull"


def test_control_characters_in_messages_stay_valid_xml(tmp_path):
    text = MIXED.replace("Registry.Example.com/Shop/Migrate:2.0", '"bad\\x01image"')
    outcome = offline(write(tmp_path, text))
    XSD.validate(junit.render(outcome))

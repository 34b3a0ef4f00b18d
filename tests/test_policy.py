"""Policy in .pullgate.yaml: allowed registries, required digests, ignore rules, severities."""

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from outcomes import DIGEST, MIXED, offline, write

from gate.causes import Severity
from gate.cli import main
from gate.config import _KEYS, ConfigError, load_config
from gate.policy import POLICY_KEYS, apply_policy

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "gate/schemas/pullgate-config.schema.json").read_text()
)

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
spec:
  containers:
    - name: api
      image: {image}
      imagePullPolicy: Never
"""


def policy(tmp_path, text):
    return load_config(write(tmp_path, text, ".pullgate.yaml")).policy


def causes(outcome):
    return sorted(f.cause for f in outcome.findings)


def pod(tmp_path, image):
    return write(tmp_path, POD.format(image=image))


# ---- registries ------------------------------------------------------------------------------


def test_image_outside_the_allow_list_is_registry_not_allowed(tmp_path):
    rules = policy(tmp_path, "registries:\n  allow: ['*.azurecr.io', mcr.microsoft.com]\n")
    outcome = offline(pod(tmp_path, "ghcr.io/acme/api:1.0"), rules)
    [finding] = [f for f in outcome.findings if f.cause == "registry-not-allowed"]
    assert finding.is_error
    assert "ghcr.io" in finding.signature and "registries.allow" in finding.signature
    assert "az acr import" in finding.fix


def test_image_on_the_allow_list_passes(tmp_path):
    rules = policy(tmp_path, "registries:\n  allow: ['*.azurecr.io']\n")
    outcome = offline(pod(tmp_path, "contoso.azurecr.io/api:1.0"), rules)
    assert "registry-not-allowed" not in causes(outcome)


def test_deny_wins_over_allow_and_names_the_rule_line(tmp_path):
    rules = policy(tmp_path, "registries:\n  allow: ['*']\n  deny:\n    - docker.io\n")
    outcome = offline(pod(tmp_path, "nginx:1.27"), rules)
    [denied] = [f for f in outcome.findings if f.cause == "registry-not-allowed"]
    assert "registries.deny" in denied.signature and ".pullgate.yaml:4" in denied.signature


def test_a_glob_with_a_slash_matches_the_repository_name(tmp_path):
    rules = policy(tmp_path, "registries:\n  allow: ['contoso.azurecr.io/team-a/*']\n")
    assert "registry-not-allowed" not in causes(
        offline(pod(tmp_path, "contoso.azurecr.io/team-a/api:1"), rules)
    )
    assert "registry-not-allowed" in causes(
        offline(pod(tmp_path, "contoso.azurecr.io/team-b/api:1"), rules)
    )


# ---- require-digest --------------------------------------------------------------------------


def test_require_digest_flags_tag_only_images(tmp_path):
    rules = policy(tmp_path, "require-digest: true\n")
    [finding] = [
        f
        for f in offline(pod(tmp_path, "contoso.azurecr.io/api:1.0"), rules).findings
        if f.cause == "digest-required"
    ]
    assert "contoso.azurecr.io/api:1.0@sha256:<digest>" in finding.fix
    assert "pullgate pin" in finding.fix


def test_require_digest_passes_pinned_images(tmp_path):
    rules = policy(tmp_path, "require-digest: true\n")
    outcome = offline(pod(tmp_path, f"contoso.azurecr.io/api:1.0@{DIGEST}"), rules)
    assert "digest-required" not in causes(outcome)


def test_require_digest_per_registry(tmp_path):
    rules = policy(tmp_path, "require-digest: ['*.azurecr.io']\n")
    assert "digest-required" in causes(offline(pod(tmp_path, "contoso.azurecr.io/api:1"), rules))
    assert "digest-required" not in causes(offline(pod(tmp_path, "ghcr.io/acme/api:1"), rules))


# ---- ignore rules ----------------------------------------------------------------------------


def test_an_ignore_rule_moves_findings_aside_with_its_reason(tmp_path):
    rules = policy(
        tmp_path,
        "ignore:\n  - cause: invalid-reference\n    namespace: shop\n"
        "    reason: migrate is rendered by a later step\n",
    )
    outcome = offline(write(tmp_path, MIXED), rules)
    assert "invalid-reference" not in causes(outcome)
    [ignored] = outcome.suppressed
    assert ignored.finding.cause == "invalid-reference"
    assert ignored.reason == "migrate is rendered by a later step"
    assert not outcome.failed()


def test_all_matchers_of_a_rule_must_match(tmp_path):
    rules = policy(
        tmp_path,
        "ignore:\n  - cause: invalid-reference\n    namespace: other\n    reason: not here\n",
    )
    assert "invalid-reference" in causes(offline(write(tmp_path, MIXED), rules))


def test_an_expired_ignore_stops_applying_and_says_so(tmp_path):
    rules = policy(
        tmp_path,
        "ignore:\n  - cause: invalid-reference\n    reason: temporary\n    expires: 2000-01-31\n",
    )
    outcome = offline(write(tmp_path, MIXED), rules)
    assert "invalid-reference" in causes(outcome)
    [note] = outcome.notes
    assert (note.file.endswith(".pullgate.yaml"), note.line) == (True, 2)
    assert "expired on 2000-01-31" in note.message and "reported again" in note.message


def test_an_ignore_applies_through_its_expiry_day(tmp_path):
    rules = policy(
        tmp_path,
        "ignore:\n  - cause: mutable-tag\n    reason: until Friday\n    expires: 2030-05-31\n",
    )
    findings = offline(write(tmp_path, MIXED)).findings
    assert apply_policy(rules, findings, today=dt.date(2030, 5, 31)).suppressed
    assert not apply_policy(rules, findings, today=dt.date(2030, 6, 1)).suppressed


def test_expired_ignores_show_in_the_text_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MIXED)
    write(
        tmp_path,
        "ignore:\n  - image: nginx\n    reason: r\n    expires: 2001-02-03\n",
        ".pullgate.yaml",
    )
    result = CliRunner().invoke(main, ["check", "--offline", "app.yaml"])
    assert "note: " in result.stdout and "expired on 2001-02-03" in result.stdout


# ---- severity --------------------------------------------------------------------------------


def test_severity_override_makes_a_warning_fail_the_gate(tmp_path):
    rules = policy(tmp_path, "severity:\n  never-pull: error\n")
    outcome = offline(pod(tmp_path, f"contoso.azurecr.io/api:1@{DIGEST}"), rules)
    [finding] = outcome.findings
    assert finding.cause == "never-pull" and finding.severity is Severity.ERROR
    assert outcome.failed()


# ---- errors with lines -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registries:\n  allw: [x]\n", r":2: unknown key 'allw' in registries"),
        ("registries:\n  allow: docker.io\n", r":2: registries.allow must be a list"),
        ("require-digest: yes please\n", r":1: require-digest must be true, false or a list"),
        ("ignore:\n  - cause: mutable-tag\n", r":2: ignore\[0\] needs a reason"),
        ("ignore:\n  - reason: x\n", r":2: ignore\[0\] needs at least one of"),
        (
            "ignore:\n  - cause: mutable-tags\n    reason: x\n",
            r":2: .*unknown cause 'mutable-tags'",
        ),
        ("ignore:\n  - image: a\n    reason: x\n    expires: soon\n", r":4: .*must be a date"),
        (
            "ignore:\n  - image: a\n    reason: x\n    until: 2030-01-01\n",
            r":4: unknown key 'until'",
        ),
        ("severity:\n  mutable-tag: fatal\n", r":2: severity.mutable-tag must be error or warning"),
        ("severity:\n  nope: error\n", r":2: severity: unknown cause 'nope'"),
        ("ignore: {cause: x}\n", r":1: ignore must be a list"),
    ],
)
def test_bad_policy_is_an_error_with_the_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text, ".pullgate.yaml"))


def test_bad_policy_is_exit_2_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MIXED)
    write(tmp_path, "severity:\n  mutable-tag: fatal\n", ".pullgate.yaml")
    result = CliRunner().invoke(main, ["check", "--offline", "app.yaml"])
    assert result.exit_code == 2
    assert ".pullgate.yaml:2: severity.mutable-tag must be error or warning" in result.stderr


# ---- the JSON Schema -------------------------------------------------------------------------

VALID = """\
platforms: [linux/amd64, linux/arm64]
insecure-registries: ["127.0.0.1:5000", "localhost:5001"]
concurrency: 8
timeout: 5
deadline: 120
registries:
  allow: ["*.azurecr.io", mcr.microsoft.com]
  deny: [docker.io]
require-digest: ["*.azurecr.io"]
ignore:
  - cause: rate-limit-risk
    image: "docker.io/library/*"
    namespace: kube-system
    reason: mirrored by the node's containerd config
    expires: 2030-12-31
  - cause: [mutable-tag, never-pull]
    name: dev-*
    kind: Deployment
    container: debug
    reason: dev only
severity:
  mutable-tag: error
"""

INVALID = [
    "registries:\n  allw: [x]\n",
    "require-digest: maybe\n",
    "ignore:\n  - cause: mutable-tag\n",
    "ignore:\n  - reason: x\n",
    "severity:\n  mutable-tag: fatal\n",
    "concurrency: many\n",
    "platfroms: [linux/amd64]\n",
    "platforms: [linux]\n",
    "platforms: [linux/arm/v²]\n",
    "timeout: .inf\n",
    "insecure-registries: [registry.lab:5000]\n",
    "ca-file: certs/ca.pem\n",
    "docker-config: ci/config.json\n",
]


def as_json(text):
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_full_config_is_valid_for_the_schema_and_the_loader(tmp_path):
    jsonschema.validate(as_json(VALID), SCHEMA)
    config = load_config(write(tmp_path, VALID, ".pullgate.yaml"))
    assert len(config.policy.ignores) == 2 and config.policy.severity


@pytest.mark.parametrize("text", INVALID)
def test_schema_and_loader_reject_the_same_mistakes(tmp_path, text):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(as_json(text), SCHEMA)
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text, ".pullgate.yaml"))


def test_the_schema_documents_every_key_the_loader_reads():
    assert set(SCHEMA["properties"]) == set(_KEYS) | POLICY_KEYS

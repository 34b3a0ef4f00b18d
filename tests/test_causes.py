"""The cause catalog is a contract: ids, severities and complete rows."""

import pytest

from gate.causes import CATALOG, Severity, fill, match_text

ERRORS = {
    "invalid-reference",
    "tag-not-found",
    "platform-mismatch",
    "unauthorized",
    "rate-limited",
    "dns",
    "unreachable",
    "tls",
    "registry-error",
}
WARNINGS = {"mutable-tag", "never-pull", "rate-limit-risk"}


def test_catalog_holds_every_contract_cause_with_its_severity():
    for cause_id in ERRORS:
        assert CATALOG[cause_id].severity is Severity.ERROR
    for cause_id in WARNINGS:
        assert CATALOG[cause_id].severity is Severity.WARNING


@pytest.mark.parametrize("cause_id", sorted(CATALOG))
def test_every_row_has_signature_meaning_cause_and_default_fix(cause_id):
    row = CATALOG[cause_id]
    assert row.signature and row.meaning and row.cause and row.fix_template("default")


def test_unknown_placeholders_stay_visible_as_templates():
    assert fill("az acr import --name {acr}", {}) == "az acr import --name <acr>"


def test_acr_flavor_fix_attaches_the_registry():
    fix = CATALOG["unauthorized"].render_fix(
        "acr", {"acr": "myacr", "cluster": "aks1", "resource_group": "rg"}
    )
    assert "az aks update -g rg -n aks1 --attach-acr myacr" in fix


@pytest.mark.parametrize(
    ("message", "cause_id"),
    [
        ('failed to resolve reference "x": docker.io/library/x:nope: not found', "tag-not-found"),
        (
            "unexpected status from HEAD request to https://myacr.azurecr.io/v2/a/manifests/1: "
            "401 Unauthorized",
            "unauthorized",
        ),
        (
            "429 Too Many Requests - Server message: toomanyrequests: You have reached your pull "
            "rate limit",
            "rate-limited",
        ),
        ("dial tcp: lookup myacr.privatelink.azurecr.io: no such host", "dns"),
        ("dial tcp 20.1.2.3:443: i/o timeout", "unreachable"),
        ("x509: certificate signed by unknown authority", "tls"),
        ("no match for platform in manifest: not found", "platform-mismatch"),
    ],
)
def test_kubelet_messages_match_their_cause(message, cause_id):
    assert match_text(message).id == cause_id

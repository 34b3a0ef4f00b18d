"""Cluster mode's rows in the cause catalog: ids and severities are a contract, and `explain`
recognises the events they predict."""

import pytest

from gate.causes import CATALOG, Severity, match_text

ERRORS = {
    "pull-secret-missing",
    "pull-secret-malformed",
    "pull-secret-no-match",
    "pull-secret-rejected",
    "namespace-missing",
    "service-account-missing",
}
WARNINGS = {"pull-secret-external", "unschedulable", "cluster-forbidden"}


def test_cluster_causes_have_their_contract_severity():
    assert {c for c in ERRORS if CATALOG[c].severity is Severity.ERROR} == ERRORS
    assert {c for c in WARNINGS if CATALOG[c].severity is Severity.WARNING} == WARNINGS


@pytest.mark.parametrize(
    ("message", "cause_id"),
    [
        (
            "Unable to retrieve some image pull secrets (regcred); attempting to pull the image"
            " may not succeed.",
            "pull-secret-missing",
        ),
        (
            "0/6 nodes are available: 3 node(s) didn't match Pod's node affinity/selector, 3"
            " node(s) had untolerated taint {os: windows}. preemption: 0/6 nodes are available",
            "unschedulable",
        ),
        (
            'Error from server (NotFound): error when creating "app.yaml": namespaces "shop" not'
            " found",
            "namespace-missing",
        ),
        (
            'Error creating: pods "web-5d8c7f-" is forbidden: error looking up service account'
            ' shop/builder: serviceaccount "builder" not found',
            "service-account-missing",
        ),
    ],
)
def test_events_of_cluster_causes_are_recognised(message, cause_id):
    assert match_text(message).id == cause_id

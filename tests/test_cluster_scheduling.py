"""Which node pools a pod template can land on: the scheduler's hard filters, as specification."""

import pytest
from kube_fake import node

from gate.cluster.scheduling import ClusterTargets, rejection, tolerates
from gate.cluster.state import Taint, node_from
from gate.manifests import pod_spec_as_created
from gate.platforms import Platform

WINDOWS_TAINT = {"key": "os", "value": "windows", "effect": "NoSchedule"}
NODES = [
    node_from(node("aks-amdpool-0", "amdpool", extra_labels={"tier": "3", "disk": "ssd"})),
    node_from(node("aks-amdpool-1", "amdpool", extra_labels={"tier": "3", "disk": "ssd"})),
    node_from(node("aks-armpool-0", "armpool", arch="arm64", extra_labels={"tier": "5"})),
    node_from(
        node(
            "akswin000000",
            "winpool",
            os_="windows",
            taints=[WINDOWS_TAINT],
            extra_labels={"node.kubernetes.io/windows-build": "10.0.20348"},
        )
    ),
]
CLUSTER = ClusterTargets(NODES)


def pools(spec):
    return sorted({n.pool for n in CLUSTER.placement(spec).candidates})


def affinity(*expressions):
    term = {"matchExpressions": list(expressions)}
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    }


def test_pod_without_constraints_lands_on_every_untainted_pool():
    assert pools({}) == ["amdpool", "armpool"]


def test_node_selector_keeps_pools_whose_labels_match():
    assert pools({"nodeSelector": {"kubernetes.io/arch": "arm64"}}) == ["armpool"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}, ["amdpool"]),
        ({"key": "kubernetes.io/arch", "operator": "NotIn", "values": ["amd64"]}, ["armpool"]),
        ({"key": "disk", "operator": "Exists"}, ["amdpool"]),
        ({"key": "disk", "operator": "DoesNotExist"}, ["armpool"]),
        ({"key": "tier", "operator": "Gt", "values": ["4"]}, ["armpool"]),
        ({"key": "tier", "operator": "Lt", "values": ["4"]}, ["amdpool"]),
    ],
)
def test_required_node_affinity_operators(expression, expected):
    assert pools(affinity(expression)) == expected


def test_gt_on_a_label_that_is_not_a_number_matches_nothing():
    assert pools(affinity({"key": "disk", "operator": "Gt", "values": ["1"]})) == []


def test_node_selector_terms_are_ored_and_expressions_anded():
    spec = affinity(
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "disk", "operator": "DoesNotExist"},
    )
    assert pools(spec) == []
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ].append({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["5"]}]})
    assert pools(spec) == ["armpool"]


def test_an_empty_node_selector_term_matches_no_node():
    spec = affinity()
    assert pools(spec) == []


def test_match_fields_select_by_node_name():
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {
                                    "key": "metadata.name",
                                    "operator": "In",
                                    "values": ["aks-armpool-0"],
                                }
                            ]
                        }
                    ]
                }
            }
        }
    }
    assert pools(spec) == ["armpool"]


def test_windows_pool_needs_a_toleration_for_its_taint():
    spec = {"nodeSelector": {"kubernetes.io/os": "windows"}}
    assert pools(spec) == []
    spec["tolerations"] = [{"key": "os", "operator": "Equal", "value": "windows"}]
    assert pools(spec) == ["winpool"]


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        ({"key": "os", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),
        ({"key": "os", "value": "linux"}, False),
        ({"key": "os", "value": "windows", "effect": "NoExecute"}, False),
        ({"key": "os", "value": "windows", "effect": "NoSchedule"}, True),
    ],
)
def test_toleration_matching(toleration, tolerated):
    assert tolerates(toleration, Taint("os", "windows", "NoSchedule")) is tolerated


def test_prefer_no_schedule_taints_do_not_filter():
    soft = node_from(
        node(
            "n", "softpool", taints=[{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]
        )
    )
    assert rejection({}, soft) is None


def test_a_cordoned_node_takes_no_new_pods():
    cordoned = node_from(node("n", "pool", unschedulable=True))
    assert rejection({}, cordoned) == "node(s) were unschedulable"


def test_node_name_pins_the_pod_to_that_node():
    assert pools({"nodeName": "aks-armpool-0"}) == ["armpool"]


def test_unschedulable_placement_reads_like_the_scheduler_event():
    placement = CLUSTER.placement({"nodeSelector": {"kubernetes.io/os": "windows"}})
    assert placement.unschedulable
    assert placement.describe() == (
        "0/4 nodes are available: 3 node(s) didn't match Pod's node affinity/selector,"
        " 1 node(s) had untolerated taint {os: windows}"
    )
    assert placement.rejected == {
        "amdpool": "node(s) didn't match Pod's node affinity/selector",
        "armpool": "node(s) didn't match Pod's node affinity/selector",
        "winpool": "node(s) had untolerated taint {os: windows}",
    }


def test_targets_are_the_candidate_pools_platforms_named_by_pool():
    targets = CLUSTER.targets_for({})
    assert [(str(g.platform), g.pools) for g in targets.groups] == [
        ("linux/amd64", ("amdpool",)),
        ("linux/arm64", ("armpool",)),
    ]


def test_windows_targets_carry_the_node_build():
    spec = {
        "nodeSelector": {"kubernetes.io/os": "windows"},
        "tolerations": [{"operator": "Exists"}],
    }
    [group] = CLUSTER.targets_for(spec).groups
    assert group.platform == Platform("windows", "amd64", "", "10.0.20348")
    assert group.pools == ("winpool",)


def test_pool_falls_back_to_the_bare_agentpool_label_then_the_node_name():
    legacy = node("n1", "x")
    del legacy["metadata"]["labels"]["kubernetes.azure.com/agentpool"]
    legacy["metadata"]["labels"]["agentpool"] = "legacypool"
    assert node_from(legacy).pool == "legacypool"
    del legacy["metadata"]["labels"]["agentpool"]
    assert node_from(legacy).pool == "n1"


NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}
NETWORK_DOWN = {"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    "troubled",
    [
        node_from(node("n", "cordoned", unschedulable=True)),
        node_from(node("n", "notready", taints=[NOT_READY])),
    ],
)
def test_daemonset_pods_get_the_controllers_tolerations(troubled):
    assert rejection(pod_spec_as_created("Deployment", {}), troubled) is not None
    assert rejection(pod_spec_as_created("DaemonSet", {}), troubled) is None


def test_daemonset_tolerates_network_unavailable_only_on_the_host_network():
    down = node_from(node("n", "pool", taints=[NETWORK_DOWN]))
    assert rejection(pod_spec_as_created("DaemonSet", {}), down) is not None
    assert rejection(pod_spec_as_created("DaemonSet", {"hostNetwork": True}), down) is None


def test_daemonset_keeps_the_tolerations_written_in_its_template():
    spec = pod_spec_as_created("DaemonSet", {"tolerations": [WINDOWS_TAINT]})
    assert spec["tolerations"][0] == WINDOWS_TAINT
    assert len(spec["tolerations"]) == 7

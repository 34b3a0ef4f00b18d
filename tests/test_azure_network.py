"""The nodes' network view of a registry, predicted from ARM (issue 14), read through the real
azure-mgmt-containerservice, -containerregistry, -network and -privatedns clients from the fake
ARM serving the REST reference's JSON: private endpoints in the nodes' VNet or a peered one,
private DNS zones missing, unlinked or without a record, custom DNS, the registry firewall against
the nodes' egress, and an Azure Firewall on a user-defined route."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from arm_fake import (
    SUB,
    Arm,
    a_record,
    agent_pool,
    application_rule,
    arm_session,
    azure_firewall,
    classic_application_rule,
    classic_collection,
    classic_network_rule,
    cluster_id,
    endpoint_connection,
    firewall_policy,
    managed_cluster,
    network_id,
    network_rule,
    network_security_group,
    private_endpoint,
    private_zone,
    public_ip,
    registry,
    route_table,
    rule_collection_group,
    security_rule,
    serve_arm,
    virtual_network,
    zone_link,
)
from registry_server import TLSFiles

from gate.azure.arm import ArmSession
from gate.azure.cluster import read_cluster
from gate.azure.network import NetworkReader, NodeNetwork, NodeView
from gate.azure.options import AksOptions
from gate.azure.registry import RegistryFinder

KUBELET = "6f0c9d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"
CID = cluster_id("rg-aks", "aks-prod")
LOGIN = "contoso.azurecr.io"
DATA = "contoso.westeurope.data.azurecr.io"
VNET_AKS = network_id("rg-net", "virtualNetworks", "vnet-aks")
VNET_HUB = network_id("rg-hub", "virtualNetworks", "vnet-hub")
VNET_OTHER = network_id("rg-other", "virtualNetworks", "vnet-other")
NODES_SUBNET = f"{VNET_AKS}/subnets/nodes"
FIREWALL_IP = "10.0.1.4"


@dataclass
class World:
    arm: Arm
    session: ArmSession
    registry: dict

    def private_endpoint_in(self, vnet: str, name: str = "pe-contoso") -> dict:
        pe = private_endpoint(
            "rg-acr", name, f"{vnet}/subnets/endpoints", self.registry["id"],
            {LOGIN: "10.224.1.5", DATA: "10.224.1.6"},
        )  # fmt: skip
        self.arm.add(pe)
        endpoint_connection(self.registry, pe)
        return pe

    def zone(self, linked_to: tuple[str, ...] = (VNET_AKS,), records: tuple[str, ...] = ()) -> dict:
        zone = private_zone("rg-dns")
        self.arm.add(zone)
        for vnet in linked_to:
            self.arm.add(zone_link(zone, f"link-{vnet.rsplit('/', 1)[-1]}", vnet))
        addresses = {"contoso": "10.224.1.5", "contoso.westeurope.data": "10.224.1.6"}
        for name in records or tuple(addresses):
            self.arm.add(a_record(zone, name, addresses[name]))
        return zone

    def predict(self) -> NodeView:
        cluster = read_cluster(self.session, AksOptions("rg-aks/aks-prod"), SUB)
        found = RegistryFinder(self.session, SUB).find(LOGIN).registry
        assert found is not None and found.network is not None
        reader = NetworkReader(self.session, cluster.network)
        return NodeNetwork(reader).predict(found.network)


def make_cluster(arm: Arm, **kwargs: object) -> None:
    pools = [agent_pool(CID, "system", "Standard_D4s_v5", mode="System", subnet=NODES_SUBNET)]
    arm.clusters.clear()
    arm.add_cluster(managed_cluster("rg-aks", "aks-prod", pools, KUBELET, **kwargs), pools)


@pytest.fixture
def world(tls_files: TLSFiles) -> Iterator[World]:
    arm = Arm()
    make_cluster(arm)
    reg = registry("rg-acr", "contoso", public=False, data_endpoints=(DATA,))
    arm.registries.append(reg)
    arm.add(
        virtual_network("rg-net", "vnet-aks", "10.224.0.0/12", [("nodes", "10.224.0.0/16")],
                        peered=(VNET_HUB,)),
        virtual_network("rg-hub", "vnet-hub", "10.0.0.0/16", [("endpoints", "10.0.2.0/24")],
                        peered=(VNET_AKS,)),
        virtual_network("rg-other", "vnet-other", "10.9.0.0/16", [("endpoints", "10.9.2.0/24")]),
    )  # fmt: skip
    with serve_arm(arm, tls_files) as server:
        yield World(arm, arm_session(server), reg)


def causes(view: NodeView) -> list[tuple[str, str, str]]:
    return [(p.cause, p.host, p.flavor) for p in view.errors + view.warnings]


# ---- the private path ----------------------------------------------------------------------


def test_private_endpoint_in_the_nodes_vnet_with_a_linked_zone_is_reachable(world):
    world.private_endpoint_in(VNET_AKS)
    world.zone()
    view = world.predict()
    assert view.reachable and view.warnings == []
    assert view.path == "private endpoint pe-contoso (in the nodes' VNet vnet-aks)"


def test_private_endpoint_in_a_peered_vnet_is_reachable(world):
    world.private_endpoint_in(VNET_HUB)
    world.zone()
    view = world.predict()
    assert view.reachable
    assert view.path == "private endpoint pe-contoso (in peered VNet vnet-hub)"


def test_private_endpoint_in_a_vnet_the_nodes_do_not_reach_is_unreachable(world):
    world.private_endpoint_in(VNET_OTHER)
    world.zone()
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-no-private-path")]
    assert "pe-contoso in VNet vnet-other" in view.errors[0].evidence
    assert view.errors[0].values["vnet_name"] == "vnet-aks"


def test_pending_private_endpoint_does_not_count(world):
    world.private_endpoint_in(VNET_AKS)
    world.registry["properties"]["privateEndpointConnections"][0]["properties"][
        "privateLinkServiceConnectionState"
    ]["status"] = "Pending"
    world.zone()
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-no-private-path")]
    assert "no approved private endpoint: pe-contoso (Pending)" in view.errors[0].evidence


# ---- private DNS ------------------------------------------------------------------------------


def test_zone_missing_is_a_dns_error_naming_the_zone_and_the_vnet(world):
    world.private_endpoint_in(VNET_AKS)
    view = world.predict()
    assert causes(view) == [("dns", LOGIN, "aks-zone-missing")]
    problem = view.errors[0]
    assert problem.detail == f"lookup {LOGIN}: no such host"
    assert problem.values["vnet_id"] == VNET_AKS and problem.values["pe_name"] == "pe-contoso"


def test_zone_not_linked_to_the_nodes_vnet_is_a_dns_error(world):
    world.private_endpoint_in(VNET_HUB)
    world.zone(linked_to=(VNET_HUB,))
    view = world.predict()
    assert causes(view) == [("dns", LOGIN, "aks-zone-unlinked")]
    assert view.errors[0].values["zone_rg"] == "rg-dns"
    assert "is not linked to the nodes' VNet vnet-aks" in view.errors[0].evidence


def test_missing_record_for_the_login_server_is_a_dns_error(world):
    world.private_endpoint_in(VNET_AKS)
    world.zone(records=("contoso.westeurope.data",))
    view = world.predict()
    assert causes(view) == [("dns", LOGIN, "aks-record-missing")]
    assert view.errors[0].values["record"] == "contoso"
    assert view.errors[0].values["record_address"] == "10.224.1.5"


def test_missing_record_for_a_data_endpoint_is_a_dns_error_for_that_endpoint(world):
    world.private_endpoint_in(VNET_AKS)
    world.zone(records=("contoso",))
    view = world.predict()
    assert causes(view) == [("dns", DATA, "aks-record-missing")]
    assert view.errors[0].values["record"] == "contoso.westeurope.data"
    assert view.errors[0].detail == f"lookup {DATA}: no such host"


def test_missing_record_breaks_resolution_even_with_public_access_open(world):
    world.registry["properties"]["publicNetworkAccess"] = "Enabled"
    world.private_endpoint_in(VNET_AKS)
    world.zone(records=("contoso",))
    assert causes(world.predict()) == [("dns", DATA, "aks-record-missing")]


def test_custom_dns_servers_are_a_warning_with_the_command_to_check(world):
    world.arm.add(
        virtual_network("rg-net", "vnet-aks", "10.224.0.0/12", [("nodes", "10.224.0.0/16")],
                        dns_servers=("10.0.0.68", "10.0.0.69"), peered=(VNET_HUB,))
    )  # fmt: skip
    world.private_endpoint_in(VNET_AKS)
    view = world.predict()  # no zone at all: ARM cannot tell what the custom servers answer
    assert causes(view) == [("aks-custom-dns", LOGIN, "")]
    assert view.warnings[0].values["dns_servers"] == "10.0.0.68, 10.0.0.69"
    assert "10.224.1.5" in str(view.warnings[0].values["expect"])


# ---- the public path and egress -----------------------------------------------------------


def public_with_firewall(world: World, rules: list[dict]) -> None:
    world.registry["properties"]["publicNetworkAccess"] = "Enabled"
    rt = route_table("rg-net", "rt-aks", FIREWALL_IP)
    pip = public_ip("rg-hub", "fw-hub-pip", "20.61.8.9")
    policy = network_id("rg-hub", "firewallPolicies", "fwp-hub")
    fw = azure_firewall("rg-hub", "fw-hub", FIREWALL_IP, pip["id"], policy,
                        f"{VNET_HUB}/subnets/AzureFirewallSubnet")  # fmt: skip
    world.arm.add(
        rt, pip, fw, firewall_policy("rg-hub", "fwp-hub"),
        rule_collection_group(policy, "aks", rules),
        virtual_network("rg-net", "vnet-aks", "10.224.0.0/12", [("nodes", "10.224.0.0/16")],
                        route_table=rt["id"]),
    )  # fmt: skip
    make_cluster(world.arm, outbound="userDefinedRouting")


def test_udr_firewall_policy_without_a_rule_for_the_registry_warns(world):
    public_with_firewall(world, [application_rule("aks", ["mcr.microsoft.com"])])
    view = world.predict()
    assert view.reachable
    assert causes(view) == [("aks-egress-firewall", LOGIN, "aks-firewall-policy")]
    warning = view.warnings[0]
    assert warning.values["missing_fqdns"] == f"{LOGIN} {DATA}"
    assert warning.values["policy"] == "fwp-hub" and warning.values["policy_rg"] == "rg-hub"
    assert warning.values["rule_group"] == "aks"
    assert "no rule allows it" in warning.evidence


def test_udr_firewall_policy_allowing_the_registry_fqdns_passes(world):
    public_with_firewall(world, [application_rule("acr", ["*.azurecr.io"])])
    view = world.predict()
    assert view.reachable and view.warnings == []
    assert view.path == "the registry's public endpoint through Azure Firewall fw-hub"


def test_udr_firewall_egress_ip_is_checked_against_the_registry_firewall(world):
    public_with_firewall(world, [application_rule("acr", ["*.azurecr.io"])])
    world.registry["properties"]["networkRuleSet"] = {
        "defaultAction": "Deny",
        "ipRules": [{"action": "Allow", "value": "20.61.8.0/24"}],
    }
    assert world.predict().reachable
    world.registry["properties"]["networkRuleSet"]["ipRules"] = []
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-firewall-deny")]
    assert "(Azure Firewall fw-hub: 20.61.8.9)" in view.errors[0].evidence


def test_an_open_registry_reads_only_the_nodes_vnet_when_their_subnet_has_no_nsg(world):
    world.registry["properties"]["publicNetworkAccess"] = "Enabled"
    before = len(world.arm.requests)
    view = world.predict()
    assert view.reachable and view.path == "the registry's public endpoint"
    reads = [r for r in world.arm.requests[before:] if "microsoft.network" in r.lower()]
    assert [r.rsplit("/", 1)[-1] for r in reads] == ["vnet-aks"]


def test_managed_vnet_is_found_in_the_node_resource_group(world):
    pools = [agent_pool(CID, "system", "Standard_D4s_v5", mode="System")]  # no vnetSubnetID
    world.arm.clusters.clear()
    world.arm.add_cluster(managed_cluster("rg-aks", "aks-prod", pools, KUBELET), pools)
    managed = virtual_network("MC_rg-aks_aks-prod_westeurope", "aks-vnet-12345678", "10.224.0.0/12")
    world.arm.add(managed)
    world.private_endpoint_in(managed["id"])
    world.zone(linked_to=(managed["id"],))
    view = world.predict()
    assert view.reachable
    assert view.path == "private endpoint pe-contoso (in the nodes' VNet aks-vnet-12345678)"


# ---- network security groups on the nodes' subnet -------------------------------------------


def nsg_on_nodes(world: World, rules: list[dict], **vnet: object) -> dict:
    """An NSG with `rules` (and the default rules) attached to the nodes' subnet."""
    nsg = network_security_group("rg-net", "nsg-aks", rules)
    world.arm.add(
        nsg,
        virtual_network("rg-net", "vnet-aks", "10.224.0.0/12", [("nodes", "10.224.0.0/16")],
                        peered=(VNET_HUB,), nsg=nsg["id"], **vnet),  # type: ignore[arg-type]
    )  # fmt: skip
    return nsg


def open_to_the_public(world: World) -> None:
    world.registry["properties"]["publicNetworkAccess"] = "Enabled"


def test_nsg_denying_https_to_the_internet_makes_the_registry_unreachable(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [security_rule("deny-internet-https", 200, "Deny", "Internet")])
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-nsg-deny")]
    problem = view.errors[0]
    assert problem.detail == "i/o timeout"
    assert "rule deny-internet-https (Deny, priority 200)" in problem.evidence
    assert problem.values["nsg"] == "nsg-aks" and problem.values["nsg_rg"] == "rg-net"
    assert problem.values["nsg_priority"] == 199
    assert problem.values["nsg_destinations"] == "AzureContainerRegistry Storage.westeurope"


def test_free_priority_skips_the_priorities_already_taken(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [
        security_rule("deny-all-https", 300, "Deny", "*"),
        security_rule("allow-dns", 299, "Allow", "168.63.129.16", ports="53", protocol="*"),
        security_rule("allow-ntp", 298, "Allow", "Internet", ports="123", protocol="Udp"),
    ])  # fmt: skip
    [problem] = world.predict().errors
    assert problem.values["nsg_priority"] == 297
    assert "rule deny-all-https (Deny, priority 300)" in problem.evidence


def test_allows_for_the_registry_and_storage_ahead_of_the_deny_pass(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [
        security_rule("allow-acr", 100, "Allow", "AzureContainerRegistry"),
        security_rule("allow-acr-data", 110, "Allow", "Storage.WestEurope"),
        security_rule("deny-internet", 4000, "Deny", "Internet", ports="*", protocol="*"),
    ])  # fmt: skip
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_an_allow_for_the_registry_tag_alone_leaves_the_data_endpoint_unproven(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [
        security_rule("allow-acr", 100, "Allow", "AzureContainerRegistry"),
        security_rule("deny-internet", 4000, "Deny", "Internet", ports="*", protocol="*"),
    ])  # fmt: skip
    view = world.predict()
    assert view.reachable  # the login server is surely allowed
    assert causes(view) == [("aks-nsg-unproven", DATA, "")]
    said = view.warnings[0].evidence
    assert f"{DATA} (data endpoint): dropped by its rule deny-internet" in said
    assert "rule allow-acr (Allow, priority 100) applies, which ARM cannot prove" in said


def test_default_rules_only_let_https_out(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [])
    before = len(world.arm.requests)
    view = world.predict()
    assert view.reachable and view.warnings == [] and view.errors == []
    reads = [r for r in world.arm.requests[before:] if "microsoft.network" in r.lower()]
    assert [r.rsplit("/", 1)[-1] for r in reads] == ["vnet-aks", "nsg-aks"]


def test_deny_on_another_port_or_protocol_does_not_apply(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [
        security_rule("deny-http", 100, "Deny", "Internet", ports="80"),
        security_rule("deny-udp", 110, "Deny", "*", ports="443", protocol="Udp"),
        security_rule("deny-private", 120, "Deny", "10.0.0.0/8", ports="*"),
    ])  # fmt: skip
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_deny_of_a_public_prefix_is_a_warning_saying_what_cannot_be_proven(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [security_rule("deny-block", 100, "Deny", ["20.0.0.0/8", "51.0.0.0/8"])])
    view = world.predict()
    assert view.reachable
    assert causes(view) == [("aks-nsg-unproven", LOGIN, "")]
    said = view.warnings[0].evidence
    assert f"{LOGIN} (login server): allowed by its default rule AllowInternetOutBound" in said
    assert f"whether 20.0.0.0/8 holds the public address of {LOGIN}" in said


def test_deny_to_a_private_endpoint_in_the_vnet_is_unreachable(world):
    world.private_endpoint_in(VNET_AKS)
    world.zone()
    nsg_on_nodes(world, [security_rule("deny-vnet-https", 300, "Deny", "VirtualNetwork")])
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-nsg-deny")]
    problem = view.errors[0]
    assert problem.values["nsg_destinations"] == "10.224.1.5 10.224.1.6"
    assert problem.values["nsg_priority"] == 299
    assert "rule deny-vnet-https (Deny, priority 300)" in problem.evidence
    assert problem.values["nsg_blocked"] == (
        f"{LOGIN} (login server at 10.224.1.5), {DATA} (data endpoint at 10.224.1.6)"
    )


def test_deny_to_the_internet_does_not_touch_a_private_endpoint(world):
    world.private_endpoint_in(VNET_AKS)
    world.zone()
    nsg_on_nodes(world, [security_rule("deny-internet", 100, "Deny", "Internet", ports="*")])
    view = world.predict()
    assert view.reachable and view.warnings == []
    assert view.path == "private endpoint pe-contoso (in the nodes' VNet vnet-aks)"


def test_deny_of_the_endpoint_subnet_prefix_blocks_only_addresses_inside_it(world):
    world.private_endpoint_in(VNET_AKS)
    world.zone()
    nsg_on_nodes(world, [security_rule("deny-other", 100, "Deny", "10.224.2.0/24")])
    assert world.predict().reachable
    nsg_on_nodes(world, [security_rule("deny-endpoints", 100, "Deny", "10.224.1.0/24")])
    assert causes(world.predict()) == [("unreachable", LOGIN, "aks-nsg-deny")]


def test_an_nsg_that_cannot_be_read_is_a_warning(world):
    open_to_the_public(world)
    nsg = nsg_on_nodes(world, [])
    world.arm.forbidden.add(nsg["id"].lower())
    view = world.predict()
    assert view.reachable
    assert causes(view) == [("aks-nsg-unproven", LOGIN, "")]
    assert "could not be read" in view.warnings[0].evidence


def test_an_nsg_that_cannot_be_read_is_asked_once_per_run(world):
    open_to_the_public(world)
    nsg = nsg_on_nodes(world, [])
    world.arm.forbidden.add(nsg["id"].lower())
    cluster = read_cluster(world.session, AksOptions("rg-aks/aks-prod"), SUB)
    found = RegistryFinder(world.session, SUB).find(LOGIN).registry
    assert found is not None and found.network is not None
    nodes = NodeNetwork(NetworkReader(world.session, cluster.network))
    before = len(world.arm.requests)
    views = [nodes.predict(found.network) for _ in range(2)]
    assert [causes(v) for v in views] == [[("aks-nsg-unproven", LOGIN, "")]] * 2
    reads = [r for r in world.arm.requests[before:] if "networksecuritygroups" in r.lower()]
    assert len(reads) == 1


def test_with_a_default_route_to_a_firewall_virtual_network_covers_the_registry(world):
    """A 0.0.0.0/0 user-defined route puts every address in the VirtualNetwork tag."""
    public_with_firewall(world, [application_rule("acr", ["*.azurecr.io"])])
    rt = network_id("rg-net", "routeTables", "rt-aks")
    nsg_on_nodes(world, [
        security_rule("allow-vnet-https", 100, "Allow", "VirtualNetwork"),
        security_rule("deny-all", 200, "Deny", "*", ports="*", protocol="*"),
    ], route_table=rt)  # fmt: skip
    view = world.predict()
    assert view.reachable and view.warnings == []
    assert view.path == "the registry's public endpoint through Azure Firewall fw-hub"


# ---- Azure Firewall classic rule collections ------------------------------------------------


def classic_firewall(world: World) -> dict:
    public_with_firewall(world, [])
    fw = world.arm.network[network_id("rg-hub", "azureFirewalls", "fw-hub").lower()]
    fw["properties"].pop("firewallPolicy")
    return fw


def test_classic_application_rules_allowing_the_registry_pass(world):
    fw = classic_firewall(world)
    classic_collection(fw, "application", "aks-egress", 200, "Allow",
                       [classic_application_rule("acr", ["*.azurecr.io"])])  # fmt: skip
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_classic_application_rules_without_the_data_endpoint_warn_with_the_classic_fix(world):
    fw = classic_firewall(world)
    classic_collection(fw, "application", "aks-egress", 200, "Allow", [
        classic_application_rule("acr", [LOGIN]),
        classic_application_rule("aks", [], tags=["AzureKubernetesService"]),
    ])  # fmt: skip
    view = world.predict()
    assert causes(view) == [("aks-egress-firewall", LOGIN, "aks-firewall-classic")]
    warning = view.warnings[0]
    assert warning.values["missing_fqdns"] == DATA
    assert warning.values["firewall_rg"] == "rg-hub"
    assert warning.values["collection_priority"] == 65000
    assert "classic rule collections" in warning.evidence


def test_classic_deny_collection_ahead_of_the_allow_drops_the_registry(world):
    fw = classic_firewall(world)
    classic_collection(fw, "application", "block-registries", 150, "Deny",
                       [classic_application_rule("acr", ["*.azurecr.io"])])  # fmt: skip
    classic_collection(fw, "application", "aks-egress", 200, "Allow",
                       [classic_application_rule("acr", ["*.azurecr.io"])])  # fmt: skip
    view = world.predict()
    warning = view.warnings[0]
    assert "application rule acr in collection block-registries (Deny, priority 150)" in (
        warning.evidence
    )
    assert warning.values["collection_priority"] == 149


def test_classic_network_rule_for_the_registry_tag_and_app_rule_for_data_pass(world):
    fw = classic_firewall(world)
    tagged = classic_network_rule("acr", ["AzureContainerRegistry"], ["443"])
    classic_collection(fw, "network", "acr", 100, "Allow", [tagged])
    classic_collection(fw, "application", "acr-data", 200, "Allow",
                       [classic_application_rule("data", ["*.data.azurecr.io"])])  # fmt: skip
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_classic_network_rule_on_another_port_does_not_allow(world):
    fw = classic_firewall(world)
    http_only = classic_network_rule("acr", ["AzureContainerRegistry"], ["80"])
    classic_collection(fw, "network", "acr", 100, "Allow", [http_only])
    view = world.predict()
    assert causes(view) == [("aks-egress-firewall", LOGIN, "aks-firewall-classic")]
    assert view.warnings[0].values["missing_fqdns"] == f"{LOGIN} {DATA}"


def test_policy_network_rule_with_the_registry_tag_allows_the_login_server(world):
    public_with_firewall(world, [
        network_rule("acr", ["AzureContainerRegistry.westeurope"], ["443"]),
        application_rule("data", ["*.data.azurecr.io"]),
    ])  # fmt: skip
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_port_ranges_and_lists_that_hold_443_apply(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [security_rule("deny-range", 100, "Deny", "*", ports="400-500")])
    assert causes(world.predict()) == [("unreachable", LOGIN, "aks-nsg-deny")]
    nsg_on_nodes(world, [security_rule("deny-list", 100, "Deny", "*", ports=["80", "443"])])
    assert causes(world.predict()) == [("unreachable", LOGIN, "aks-nsg-deny")]


def test_a_storage_deny_blocks_the_data_endpoint_after_the_login_server_answers(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [security_rule("deny-storage", 100, "Deny", "Storage")])
    view = world.predict()
    assert causes(view) == [("unreachable", DATA, "aks-nsg-deny")]
    assert view.errors[0].values["nsg_destinations"] == "Storage.westeurope"


def test_a_deny_for_another_source_does_not_touch_the_nodes(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [security_rule("deny-jump", 100, "Deny", "*", source="10.9.0.0/16")])
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_an_allow_for_another_regions_registry_tag_cannot_be_proven(world):
    open_to_the_public(world)
    nsg_on_nodes(world, [
        security_rule("allow-acr-us", 100, "Allow", ["AzureContainerRegistry.EastUS", "Storage"]),
        security_rule("deny-internet", 200, "Deny", "Internet"),
    ])  # fmt: skip
    view = world.predict()
    assert view.reachable
    assert causes(view) == [("aks-nsg-unproven", LOGIN, "")]
    assert "AzureContainerRegistry.EastUS names another region than westeurope" in (
        view.warnings[0].evidence
    )


def test_a_region_tag_for_a_geo_replicated_registry_cannot_be_proven(world):
    open_to_the_public(world)
    world.registry["properties"]["dataEndpointHostNames"] = [
        DATA, "contoso.eastus.data.azurecr.io",
    ]  # fmt: skip
    nsg_on_nodes(world, [
        security_rule("allow-acr-we", 100, "Allow", ["AzureContainerRegistry.WestEurope",
                                                     "Storage"]),
        security_rule("deny-internet", 200, "Deny", "Internet"),
    ])  # fmt: skip
    view = world.predict()
    assert causes(view) == [("aks-nsg-unproven", LOGIN, "")]
    assert "one of the registry's regions (eastus, westeurope)" in view.warnings[0].evidence


def test_a_parent_policys_deny_comes_before_the_childs_allow(world):
    public_with_firewall(world, [application_rule("acr", ["*.azurecr.io"])])
    base = network_id("rg-hub", "firewallPolicies", "fwp-base")
    world.arm.add(
        firewall_policy("rg-hub", "fwp-base"),
        firewall_policy("rg-hub", "fwp-hub", base=base),
        rule_collection_group(base, "platform", [application_rule("registries", ["*.azurecr.io"])],
                              action="Deny", priority=500),
    )  # fmt: skip
    view = world.predict()
    assert causes(view) == [("aks-egress-firewall", LOGIN, "aks-firewall-policy")]
    assert "application rule registries in collection platform-deny (Deny, priority 500/100)" in (
        view.warnings[0].evidence
    )


def test_a_parent_policys_allow_lets_the_registry_out(world):
    public_with_firewall(world, [application_rule("aks", ["mcr.microsoft.com"])])
    base = network_id("rg-hub", "firewallPolicies", "fwp-base")
    world.arm.add(
        firewall_policy("rg-hub", "fwp-base"),
        firewall_policy("rg-hub", "fwp-hub", base=base),
        rule_collection_group(base, "platform", [application_rule("acr", ["*.azurecr.io"])]),
    )
    view = world.predict()
    assert view.reachable and view.warnings == []


def test_a_zone_not_linked_to_the_nodes_leaves_an_open_registry_on_its_public_path(world):
    """Without a linked privatelink zone Azure DNS gives the nodes the public address; with
    public access enabled the pull goes there and the endpoint is bypassed, not broken."""
    world.registry["properties"]["publicNetworkAccess"] = "Enabled"
    world.private_endpoint_in(VNET_HUB)
    world.zone(linked_to=(VNET_HUB,))
    view = world.predict()
    assert view.reachable and view.warnings == []
    assert view.path == "the registry's public endpoint"


def test_a_linked_zone_pointing_at_an_endpoint_the_nodes_do_not_reach_is_unreachable(world):
    """The linked zone answers with the endpoint's private address: the nodes never try the
    public endpoint, open or not."""
    world.registry["properties"]["publicNetworkAccess"] = "Enabled"
    world.private_endpoint_in(VNET_OTHER)
    world.zone()
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-no-private-path")]
    assert view.errors[0].evidence.startswith(
        "zone privatelink.azurecr.io (resource group rg-dns), linked to their VNet vnet-aks,"
        " resolves contoso.azurecr.io to the private address 10.224.1.5 and its private"
        " endpoints (pe-contoso in VNet vnet-other) are in no VNet the nodes reach"
    )


def test_a_record_pointing_elsewhere_than_the_endpoint_is_unreachable(world):
    """An endpoint re-created without its DNS zone group leaves the old address in the zone:
    the nodes resolve, then connect to an address nothing serves."""
    world.private_endpoint_in(VNET_AKS)
    zone = world.zone(records=("contoso.westeurope.data",))
    world.arm.add(a_record(zone, "contoso", "10.224.1.99"))
    view = world.predict()
    assert causes(view) == [("unreachable", LOGIN, "aks-record-stale")]
    problem = view.errors[0]
    assert problem.evidence == (
        "zone privatelink.azurecr.io (resource group rg-dns) answers contoso.azurecr.io with"
        " 10.224.1.99, but private endpoint pe-contoso holds 10.224.1.5 for it"
    )
    assert problem.values["remove_commands"] == (
        "az network private-dns record-set a remove-record -g rg-dns -z privatelink.azurecr.io"
        " -n contoso -a 10.224.1.99 --keep-empty-record-set"
    )

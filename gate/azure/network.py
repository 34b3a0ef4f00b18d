"""The nodes' network view of a registry, predicted from ARM without a pod (what `az aks
check-acr` learns by running nslookup and a connection on a node).

Read, only as far as the registry needs it:
- the nodes' VNets: each pool's `vnetSubnetID`, or the managed VNet in the node resource group;
  their DNS servers (Azure-provided or custom) and connected peerings;
- the registry's network (already on the registry resource): `publicNetworkAccess`, the firewall's
  `networkRuleSet` (default action, IP rules), private endpoint connections, data endpoints;
- for a registry with private endpoints: each endpoint's subnet, the `privatelink.azurecr.io`
  zones of the subscriptions involved, their VNet links and A records;
- the nodes' egress, only when the registry firewall or a UDR firewall makes it matter: the
  outbound IPs of the load balancer or NAT gateway, or the Azure Firewall the default route
  points at (its public IPs, and its policy's rule collection groups or its classic rule
  collections, evaluated in gate/azure/egress_rules.py);
- the network security group of each of the nodes' subnets (named by the VNet read above),
  read only where one is attached, its outbound rules evaluated for the login server and data
  endpoints on the path the nodes take (public addresses or the private endpoint's).

A registry open to the public with no private endpoint, on a cluster whose egress is its load
balancer or NAT gateway, costs the nodes' VNet read and one read per NSG on their subnets.
Everything here works on the REST JSON of the models (`as_dict()`), the shapes of the public
REST reference.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gate.azure.arm import ArmDenied, ArmNotFound, ArmSession, AzureError
from gate.azure.egress_rules import (
    FirewallRule,
    SecurityRule,
    Target,
    Verdict,
    classic_rules,
    data_region,
    evaluate_firewall,
    evaluate_nsg,
    free_priority,
    policy_rules,
    region_key,
    security_rules,
)
from gate.azure.ids import parse_id

AZURE_DNS = "168.63.129.16"


def as_json(model: Any) -> dict:
    """A model's REST JSON (camelCase, `properties` nested)."""
    if isinstance(model, dict):
        return model
    as_dict = getattr(model, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else {}


def _props(resource: dict) -> dict:
    found = resource.get("properties")
    return found if isinstance(found, dict) else {}


def _ids(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(str(i["id"]) for i in items if isinstance(i, dict) and i.get("id"))


def _ref(props: dict, key: str) -> str:
    """The id of the resource `props[key]` refers to ({"id": ...}), "" when none."""
    found = props.get(key)
    return str(found.get("id") or "") if isinstance(found, dict) else ""


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def vnet_of(subnet_id: str) -> str:
    """The VNet id of a subnet id (`.../virtualNetworks/V/subnets/S`)."""
    low = subnet_id.lower()
    cut = low.find("/subnets/")
    return subnet_id[:cut] if cut >= 0 else subnet_id


# ---- what the cluster and the registry resources already say -------------------------------


@dataclass(frozen=True)
class ClusterNetwork:
    subnets: tuple[str, ...] = ()  # vnetSubnetID of the pools that name one
    managed_vnet: bool = False  # some pool runs in the AKS-managed VNet
    node_resource_group: str = ""
    outbound_type: str = "loadBalancer"
    outbound_ip_ids: tuple[str, ...] = ()  # load balancer or managed NAT gateway
    subscription: str = ""


def cluster_network(cluster: dict, pools: Iterable[dict], subscription: str) -> ClusterNetwork:
    props = _props(cluster)
    subnets: list[str] = []
    managed = False
    for pool in pools:
        subnet = _props(pool).get("vnetSubnetID") or pool.get("vnetSubnetID")
        if subnet:
            subnets.append(str(subnet))
        else:
            managed = True
    profile = props.get("networkProfile") or {}
    outbound = str(profile.get("outboundType") or "loadBalancer")
    lb = profile.get("loadBalancerProfile") or {}
    nat = profile.get("natGatewayProfile") or {}
    ips = _ids(lb.get("effectiveOutboundIPs")) or _ids(nat.get("effectiveOutboundIPs"))
    return ClusterNetwork(
        tuple(dict.fromkeys(subnets)),
        managed,
        str(props.get("nodeResourceGroup") or ""),
        outbound,
        ips,
        subscription,
    )


@dataclass(frozen=True)
class Endpoint:
    id: str
    status: str  # the connection's approval state: Approved, Pending, Rejected, Disconnected


@dataclass(frozen=True)
class RegistryNetwork:
    id: str
    name: str
    login_server: str
    location: str
    public: bool
    default_action: str
    ip_rules: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    data_endpoints: tuple[str, ...]

    @property
    def public_open(self) -> bool:
        return self.public and self.default_action.lower() != "deny"

    @property
    def private(self) -> bool:
        """Anything beyond an open public endpoint: the case that needs more reads."""
        return bool(self.endpoints) or not self.public_open


def registry_network(registry: dict) -> RegistryNetwork:
    props = _props(registry)
    rules = props.get("networkRuleSet") or {}
    ip_rules = tuple(
        str(r.get("value") or r.get("iPAddressOrRange") or "")
        for r in rules.get("ipRules") or ()
        if isinstance(r, dict) and str(r.get("action") or "Allow").lower() == "allow"
    )
    endpoints = []
    for conn in props.get("privateEndpointConnections") or ():
        cprops = _props(conn)
        pe = (cprops.get("privateEndpoint") or {}).get("id")
        state = (cprops.get("privateLinkServiceConnectionState") or {}).get("status") or ""
        if pe:
            endpoints.append(Endpoint(str(pe), str(state)))
    return RegistryNetwork(
        id=str(registry.get("id") or ""),
        name=str(registry.get("name") or ""),
        login_server=str(props.get("loginServer") or "").lower(),
        location=str(registry.get("location") or ""),
        public=str(props.get("publicNetworkAccess") or "Enabled").lower() != "disabled",
        default_action=str(rules.get("defaultAction") or "Allow"),
        ip_rules=tuple(r for r in ip_rules if r),
        endpoints=tuple(endpoints),
        data_endpoints=tuple(str(h).lower() for h in props.get("dataEndpointHostNames") or ()),
    )


# ---- ARM reads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    prefix: str
    nsg: str  # the network security group id, "" when none is attached


@dataclass(frozen=True)
class VNet:
    id: str
    name: str
    dns_servers: tuple[str, ...] = ()
    peered: tuple[str, ...] = ()  # remote VNet ids of Connected peerings
    subnets: tuple[Subnet, ...] = ()

    @property
    def custom_dns(self) -> tuple[str, ...]:
        return tuple(s for s in self.dns_servers if s != AZURE_DNS)


@dataclass(frozen=True)
class PrivateEndpoint:
    id: str
    name: str
    resource_group: str
    subnet: str
    addresses: dict[str, str] = field(default_factory=dict)  # fqdn -> private IP

    @property
    def vnet(self) -> str:
        return vnet_of(self.subnet)


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    resource_group: str
    subscription: str
    links: tuple[str, ...]  # linked VNet ids
    records: dict[str, tuple[str, ...]]  # relative A record name (lower) -> addresses


@dataclass(frozen=True)
class Firewall:
    id: str
    name: str
    private_ip: str
    public_ips: tuple[str, ...]
    policy: str  # firewall policy id, "" for classic rules
    rules: tuple[FirewallRule, ...]  # its network and application rules
    groups: tuple[str, ...] = ()  # the policy's rule collection group names

    @property
    def resource_group(self) -> str:
        return parse_id(self.id).get("resourcegroups", "")


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str
    resource_group: str
    rules: tuple[SecurityRule, ...]  # outbound, by priority, the default rules last


@dataclass(frozen=True)
class Egress:
    ips: tuple[str, ...]
    via: str  # "load balancer", "NAT gateway", "Azure Firewall fw-hub", ...
    firewall: Firewall | None = None
    problem: str = ""  # why the egress IPs are not known


class NetworkReader:
    """ARM reads for the nodes' view, each at most once per run, through the session's clients
    (the run's credential, timeouts, CA and proxy settings)."""

    def __init__(self, session: ArmSession, cluster: ClusterNetwork) -> None:
        self.session = session
        self.cluster = cluster
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    def _once(self, key: tuple[str, str], read: Callable[[], Any]) -> Any:
        """`read()`'s answer, or its ARM error, kept for the run: a read that failed for one
        registry is not asked again for the next."""
        with self._lock:
            if key not in self._cache:
                try:
                    self._cache[key] = read()
                except (ArmDenied, ArmNotFound, AzureError) as exc:
                    self._cache[key] = exc
            found = self._cache[key]
        if isinstance(found, Exception):
            raise found
        return found

    def _call(self, operation: str, scope: str, fn: Callable[[], Any]) -> Any:
        return self.session.call(operation, scope, fn)

    def _get(self, action: str, resource_id: str, read: Callable[[Any, dict], Any]) -> dict:
        """GET one resource by id with the network client of its subscription."""
        parts = parse_id(resource_id)
        client = self.session.network(parts.get("subscriptions", self.cluster.subscription))
        return as_json(
            self._call(f"read {_kind(action)} ({action})", resource_id, lambda: read(client, parts))
        )

    # -- the nodes' VNets

    def vnets(self) -> list[VNet]:
        return self._once(("vnets", ""), self._read_vnets)

    def _read_vnets(self) -> list[VNet]:
        found: dict[str, dict] = {}
        for subnet in self.cluster.subnets:
            vnet_id = vnet_of(subnet)
            if vnet_id.lower() not in {k.lower() for k in found}:
                found[vnet_id] = self._get(
                    "Microsoft.Network/virtualNetworks/read",
                    vnet_id,
                    lambda c, p: c.virtual_networks.get(p["resourcegroups"], p["virtualnetworks"]),
                )
        if self.cluster.managed_vnet and self.cluster.node_resource_group:
            rg = self.cluster.node_resource_group
            client = self.session.network(self.cluster.subscription)
            scope = f"/subscriptions/{self.cluster.subscription}/resourceGroups/{rg}"
            for model in self._call(
                "list virtual networks (Microsoft.Network/virtualNetworks/read)",
                scope,
                lambda: list(client.virtual_networks.list(rg)),
            ):
                vnet = as_json(model)
                found.setdefault(str(vnet.get("id")), vnet)
        return [_vnet(v) for v in found.values()]

    def subnet(self, subnet_id: str) -> dict:
        return self._once(
            ("subnet", subnet_id.lower()),
            lambda: self._get(
                "Microsoft.Network/virtualNetworks/subnets/read",
                subnet_id,
                lambda c, p: c.subnets.get(p["resourcegroups"], p["virtualnetworks"], p["subnets"]),
            ),
        )

    # -- private endpoints and DNS

    def private_endpoint(self, endpoint_id: str) -> PrivateEndpoint:
        def read() -> PrivateEndpoint:
            pe = self._get(
                "Microsoft.Network/privateEndpoints/read",
                endpoint_id,
                lambda c, p: c.private_endpoints.get(p["resourcegroups"], p["privateendpoints"]),
            )
            props = _props(pe)
            addresses = {
                str(c.get("fqdn") or "").lower(): str((c.get("ipAddresses") or [""])[0])
                for c in props.get("customDnsConfigs") or ()
                if isinstance(c, dict)
            }
            return PrivateEndpoint(
                endpoint_id,
                _name(endpoint_id),
                parse_id(endpoint_id).get("resourcegroups", ""),
                _ref(props, "subnet"),
                addresses,
            )

        return self._once(("pe", endpoint_id.lower()), read)

    def zones(self, zone_name: str, subscriptions: Iterable[str]) -> list[Zone]:
        found: list[Zone] = []
        for sub in dict.fromkeys(s.lower() for s in subscriptions if s):
            found += self._once(
                ("zones", f"{sub}|{zone_name}"), lambda s=sub: self._zones(s, zone_name)
            )
        return found

    def _zones(self, subscription: str, zone_name: str) -> list[Zone]:
        client = self.session.privatedns(subscription)
        listed = self._call(
            "list private DNS zones (Microsoft.Network/privateDnsZones/read)",
            f"/subscriptions/{subscription}",
            lambda: list(client.private_zones.list()),
        )
        zones = []
        for model in listed:
            zone = as_json(model)
            if str(zone.get("name") or "").lower() != zone_name:
                continue
            zone_id = str(zone.get("id") or "")
            rg = parse_id(zone_id).get("resourcegroups", "")
            links = self._call(
                "list virtual network links"
                " (Microsoft.Network/privateDnsZones/virtualNetworkLinks/read)",
                zone_id,
                lambda r=rg: list(client.virtual_network_links.list(r, zone_name)),
            )
            records = self._call(
                "list A records (Microsoft.Network/privateDnsZones/A/read)",
                zone_id,
                lambda r=rg: list(client.record_sets.list_by_type(r, zone_name, "A")),
            )
            zones.append(
                Zone(
                    zone_id,
                    zone_name,
                    rg,
                    subscription,
                    tuple(_ref(_props(as_json(link)), "virtualNetwork") for link in links),
                    {
                        str(as_json(r).get("name") or "").lower(): tuple(
                            str(a.get("ipv4Address"))
                            for a in _props(as_json(r)).get("aRecords") or ()
                            if isinstance(a, dict)
                        )
                        for r in records
                    },
                )
            )
        return zones

    # -- egress

    def egress(self) -> Egress:
        return self._once(("egress", ""), self._egress)

    def _egress(self) -> Egress:
        outbound = self.cluster.outbound_type.lower()
        if outbound == "userdefinedrouting":
            return self._firewall_egress()
        if outbound == "userassignednatgateway":
            return self._nat_egress()
        via = "managed NAT gateway" if outbound == "managednatgateway" else "load balancer"
        if not self.cluster.outbound_ip_ids:
            return Egress((), via, problem=f"the cluster lists no outbound IP of its {via}")
        return Egress(self._public_ips(self.cluster.outbound_ip_ids), via)

    def _public_ips(self, ids: Iterable[str]) -> tuple[str, ...]:
        found = []
        for ip_id in ids:
            ip = self._get(
                "Microsoft.Network/publicIPAddresses/read",
                ip_id,
                lambda c, p: c.public_ip_addresses.get(p["resourcegroups"], p["publicipaddresses"]),
            )
            address = _props(ip).get("ipAddress")
            if address:
                found.append(str(address))
        return tuple(found)

    def _first_subnet(self) -> dict:
        return self.subnet(self.cluster.subnets[0]) if self.cluster.subnets else {}

    def _nat_egress(self) -> Egress:
        nat_id = _ref(_props(self._first_subnet()), "natGateway")
        if not nat_id:
            return Egress((), "NAT gateway", problem="the nodes' subnet names no NAT gateway")
        nat = self._get(
            "Microsoft.Network/natGateways/read",
            nat_id,
            lambda c, p: c.nat_gateways.get(p["resourcegroups"], p["natgateways"]),
        )
        return Egress(
            self._public_ips(_ids(_props(nat).get("publicIpAddresses"))),
            f"NAT gateway {_name(nat_id)}",
        )

    def _firewall_egress(self) -> Egress:
        table_id = _ref(_props(self._first_subnet()), "routeTable")
        if not table_id:
            return Egress(
                (), "user-defined routing", problem="the nodes' subnet has no route table"
            )
        table = self._get(
            "Microsoft.Network/routeTables/read",
            table_id,
            lambda c, p: c.route_tables.get(p["resourcegroups"], p["routetables"]),
        )
        hop = ""
        for route in _props(table).get("routes") or ():
            rprops = _props(route)
            if rprops.get("addressPrefix") == "0.0.0.0/0":
                hop = str(rprops.get("nextHopIpAddress") or "")
        if not hop:
            return Egress(
                (),
                f"route table {_name(table_id)}",
                problem=f"route table {_name(table_id)} has no 0.0.0.0/0 route to an appliance",
            )
        firewall = self._firewall_at(hop)
        if firewall is None:
            return Egress(
                (),
                f"appliance {hop}",
                problem=f"the default route goes to {hop}, which is no Azure Firewall pullgate"
                " can read: its public IPs are not known",
            )
        return Egress(firewall.public_ips, f"Azure Firewall {firewall.name}", firewall)

    def _firewall_at(self, private_ip: str) -> Firewall | None:
        sub = self.cluster.subscription
        client = self.session.network(sub)
        for model in self._call(
            "list firewalls (Microsoft.Network/azureFirewalls/read)",
            f"/subscriptions/{sub}",
            lambda: list(client.azure_firewalls.list_all()),
        ):
            fw = as_json(model)
            props = _props(fw)
            configs = [_props(c) for c in props.get("ipConfigurations") or ()]
            if not any(c.get("privateIPAddress") == private_ip for c in configs):
                continue
            public = _ids([c.get("publicIPAddress") for c in configs if c.get("publicIPAddress")])
            policy = _ref(props, "firewallPolicy")
            base = self._base_policy(policy) if policy else ""
            parent = self._policy_groups(base) if base else []
            groups = self._policy_groups(policy) if policy else []
            rules = (
                policy_rules(parent, 0) + policy_rules(groups, 1)
                if policy
                else classic_rules(props)
            )
            return Firewall(
                str(fw.get("id")),
                str(fw.get("name")),
                private_ip,
                self._public_ips(public),
                policy,
                tuple(rules),
                tuple(str(g.get("name") or "") for g in groups),
            )
        return None

    def _base_policy(self, policy_id: str) -> str:
        """The parent policy whose rules the firewall's policy inherits, "" when none."""
        policy = self._get(
            "Microsoft.Network/firewallPolicies/read",
            policy_id,
            lambda c, p: c.firewall_policies.get(p["resourcegroups"], p["firewallpolicies"]),
        )
        return _ref(_props(policy), "basePolicy")

    def _policy_groups(self, policy_id: str) -> list[dict]:
        parts = parse_id(policy_id)
        client = self.session.network(parts.get("subscriptions", self.cluster.subscription))
        groups = self._call(
            "list rule collection groups"
            " (Microsoft.Network/firewallPolicies/ruleCollectionGroups/read)",
            policy_id,
            lambda: list(
                client.firewall_policy_rule_collection_groups.list(
                    parts["resourcegroups"], parts["firewallpolicies"]
                )
            ),
        )
        return [as_json(g) for g in groups]

    # -- network security groups

    def node_subnets(self) -> list[tuple[Subnet, str]]:
        """The subnets the nodes run in, with their VNet's name: each pool's vnetSubnetID, or
        every subnet of the managed VNet."""
        wanted = {s.lower() for s in self.cluster.subnets}
        found = []
        for vnet in self.vnets():
            for sub in vnet.subnets:
                byo = sub.id.lower() in wanted
                if byo or (self.cluster.managed_vnet and not _named_vnet(vnet.id, wanted)):
                    found.append((sub, vnet.name))
        return found

    def security_group(self, nsg_id: str) -> SecurityGroup:
        def read() -> SecurityGroup:
            nsg = self._get(
                "Microsoft.Network/networkSecurityGroups/read",
                nsg_id,
                lambda c, p: c.network_security_groups.get(
                    p["resourcegroups"], p["networksecuritygroups"]
                ),
            )
            return SecurityGroup(
                nsg_id,
                _name(nsg_id),
                parse_id(nsg_id).get("resourcegroups", ""),
                tuple(security_rules(nsg)),
            )

        return self._once(("nsg", nsg_id.lower()), read)


def _named_vnet(vnet_id: str, subnets: set[str]) -> bool:
    """Whether some pool names a subnet of this VNet (so it is no managed VNet)."""
    return any(vnet_of(s).lower() == vnet_id.lower() for s in subnets)


def _kind(action: str) -> str:
    """ "Microsoft.Network/privateEndpoints/read" -> "private endpoint"."""
    parts = action.split("/")
    noun = parts[-2] if len(parts) >= 3 else action
    words = []
    for ch in noun:
        words.append(f" {ch.lower()}" if ch.isupper() else ch)
    text = "".join(words).strip()
    return text.removesuffix("es") if text.endswith("sses") else text.removesuffix("s")


def _vnet(vnet: dict) -> VNet:
    props = _props(vnet)
    peered = tuple(
        _ref(_props(p), "remoteVirtualNetwork")
        for p in props.get("virtualNetworkPeerings") or ()
        if str(_props(p).get("peeringState") or "").lower() == "connected"
    )
    subnets = []
    for sub in props.get("subnets") or ():
        sprops = _props(sub)
        prefixes = sprops.get("addressPrefixes") or [sprops.get("addressPrefix") or ""]
        subnets.append(
            Subnet(
                str(sub.get("id") or ""),
                str(sub.get("name") or ""),
                str(prefixes[0] or ""),
                _ref(sprops, "networkSecurityGroup"),
            )
        )
    return VNet(
        str(vnet.get("id") or ""),
        str(vnet.get("name") or ""),
        tuple(str(s) for s in (props.get("dhcpOptions") or {}).get("dnsServers") or ()),
        peered,
        tuple(subnets),
    )


def ip_allowed(ip: str, rules: Iterable[str]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for rule in rules:
        try:
            if address in ipaddress.ip_network(rule, strict=False):
                return True
        except ValueError:
            continue
    return False


# ---- the prediction ----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeProblem:
    """One thing the nodes would meet: an error (cause `dns` or `unreachable`) or a warning."""

    cause: str
    host: str  # the login server or a data endpoint
    detail: str  # the runtime's words, for the signature
    evidence: str  # what ARM says, in English
    flavor: str = ""  # the catalog fix flavor
    values: dict[str, object] = field(default_factory=dict)  # fix placeholders


@dataclass
class NodeView:
    path: str = ""  # how the nodes reach the registry, when they do
    errors: list[NodeProblem] = field(default_factory=list)
    warnings: list[NodeProblem] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return not self.errors


def zone_record(host: str, suffix: str) -> str:
    """`contoso.azurecr.io` -> `contoso`; `contoso.westeurope.data.azurecr.io` ->
    `contoso.westeurope.data` (relative names in privatelink.azurecr.io)."""
    return host.lower().removesuffix(suffix).rstrip(".")


class NodeNetwork:
    """Predicts, per registry, what the nodes meet on the way to its login server and data
    endpoints."""

    def __init__(self, reader: NetworkReader, acr_suffix: str = ".azurecr.io") -> None:
        self.reader = reader
        self.suffix = acr_suffix
        self.zone_name = "privatelink" + acr_suffix

    def predict(self, registry: RegistryNetwork) -> NodeView:
        if not registry.private:
            return self._public(registry, NodeView())
        vnets = self.reader.vnets()
        reach = {v.id.lower() for v in vnets} | {p.lower() for v in vnets for p in v.peered}
        approved = [e for e in registry.endpoints if e.status.lower() == "approved"]
        endpoints = [self.reader.private_endpoint(e.id) for e in approved]
        near = [pe for pe in endpoints if pe.vnet.lower() in reach]
        view = NodeView()
        dns = self._dns(registry, vnets, near, endpoints, view) if registry.endpoints else None
        if near and dns == "private":
            view.path = f"private endpoint {near[0].name} ({_where(near[0], vnets)})"
            self._security_groups(view, self._private_targets(registry, near[0]))
            return view
        if view.errors:
            return view
        if registry.public:
            return self._public(registry, view)
        view.errors.append(self._no_private_path(registry, vnets, endpoints, registry.endpoints))
        return view

    # -- DNS for a registry with private endpoints

    def _dns(
        self,
        registry: RegistryNetwork,
        vnets: list[VNet],
        near: list[PrivateEndpoint],
        endpoints: list[PrivateEndpoint],
        view: NodeView,
    ) -> str:
        """ "private" when the nodes resolve every host to a private endpoint, "public" when
        they get the public answer, "" when resolution fails (errors added to `view`)."""
        custom = sorted({s for v in vnets for s in v.custom_dns})
        hosts = [registry.login_server, *registry.data_endpoints]
        subs = [self.reader.cluster.subscription, parse_id(registry.id).get("subscriptions", "")]
        subs += [parse_id(pe.id).get("subscriptions", "") for pe in endpoints]
        zones = self.reader.zones(self.zone_name, subs)
        node_vnets = {v.id.lower() for v in vnets}
        linked = [z for z in zones if node_vnets & {link.lower() for link in z.links}]
        if custom:
            view.warnings.append(self._custom_dns(registry, custom, zones, near))
            return "private" if near else "public"
        if not linked:
            if not near or registry.public:
                # Azure DNS answers with the public address: the nodes take the public path
                # (an endpoint they could reach is bypassed, not broken).
                return "public"
            view.errors.append(self._zone_problem(registry, vnets, near[0], zones))
            return ""
        missing = [
            h for h in hosts if not any(zone_record(h, self.suffix) in z.records for z in linked)
        ]
        for host in missing:
            # The public CNAME points into privatelink.azurecr.io, which a linked zone answers
            # for: a missing record is NXDOMAIN on the node, whatever the public access.
            view.errors.append(self._record_missing(registry, host, linked[0], endpoints))
        if missing:
            return ""
        if not near:
            # The linked zone answers with a private address the nodes have no path to: they
            # never try the public endpoint, whatever its access.
            view.errors.append(self._unreached_record(registry, vnets, endpoints, linked[0]))
            return ""
        stale = [p for h in hosts if (p := self._stale_record(h, linked, near[0]))]
        view.errors += stale
        return "" if stale else "private"

    def _stale_record(
        self, host: str, linked: list[Zone], pe: PrivateEndpoint
    ) -> NodeProblem | None:
        """A record that points elsewhere than the endpoint's address for the host (an
        endpoint re-created without its DNS zone group): the nodes connect to an address
        nothing serves."""
        address = pe.addresses.get(host) or pe.addresses.get(host.lower())
        record = zone_record(host, self.suffix)
        zone = next(z for z in linked if record in z.records)
        found = zone.records[record]
        if not address or address in found:
            return None
        return NodeProblem(
            "unreachable",
            host,
            "i/o timeout",
            f"zone {self.zone_name} (resource group {zone.resource_group}) answers {host} with"
            f" {', '.join(found) or 'no address'}, but private endpoint {pe.name} holds"
            f" {address} for it",
            "aks-record-stale",
            {
                "zone": self.zone_name,
                "zone_rg": zone.resource_group,
                "zone_id": zone.id,
                "record": record,
                "record_address": address,
                "stale_addresses": ", ".join(found),
                "remove_commands": "; ".join(
                    f"az network private-dns record-set a remove-record -g {zone.resource_group}"
                    f" -z {self.zone_name} -n {record} -a {a} --keep-empty-record-set"
                    for a in found
                ),
                "pe_name": pe.name,
                "pe_rg": pe.resource_group,
            },
        )

    def _zone_problem(
        self,
        registry: RegistryNetwork,
        vnets: list[VNet],
        pe: PrivateEndpoint,
        zones: list[Zone],
    ) -> NodeProblem:
        vnet = vnets[0] if vnets else VNet("", "<cluster-vnet>")
        values: dict[str, object] = {
            "zone": self.zone_name,
            "vnet_name": vnet.name,
            "vnet_id": vnet.id,
            "pe_name": pe.name,
            "pe_rg": pe.resource_group,
        }
        host = registry.login_server
        if zones:
            zone = zones[0]
            where = ", ".join(f"{z.resource_group}" for z in zones)
            values |= {"zone_rg": zone.resource_group}
            return NodeProblem(
                "dns",
                host,
                f"lookup {host}: no such host",
                f"private DNS zone {self.zone_name} (resource group {where}) is not linked to"
                f" the nodes' VNet {vnet.name}; the nodes resolve {host} through Azure DNS,"
                f" which then has no answer for the private endpoint {pe.name}",
                "aks-zone-unlinked",
                values,
            )
        values |= {"zone_rg": pe.resource_group}
        return NodeProblem(
            "dns",
            host,
            f"lookup {host}: no such host",
            f"no private DNS zone {self.zone_name} in the subscriptions read; the nodes'"
            f" VNet {vnet.name} cannot resolve {host} to its private endpoint {pe.name}",
            "aks-zone-missing",
            values,
        )

    def _record_missing(
        self, registry: RegistryNetwork, host: str, zone: Zone, endpoints: list[PrivateEndpoint]
    ) -> NodeProblem:
        record = zone_record(host, self.suffix)
        address = next((pe.addresses[host] for pe in endpoints if host in pe.addresses), "")
        what = "login server" if host == registry.login_server else "data endpoint"
        pe = endpoints[0] if endpoints else None
        return NodeProblem(
            "dns",
            host,
            f"lookup {host}: no such host",
            f"zone {self.zone_name} (resource group {zone.resource_group}) is linked to the"
            f" nodes' VNet but has no A record {record} for the {what} {host}",
            "aks-record-missing",
            {
                "zone": self.zone_name,
                "zone_rg": zone.resource_group,
                "record": record,
                "record_address": address or "<private endpoint IP>",
                "pe_name": pe.name if pe else "<private-endpoint>",
                "pe_rg": pe.resource_group if pe else "<resource-group>",
                "zone_id": zone.id,
            },
        )

    def _custom_dns(
        self,
        registry: RegistryNetwork,
        servers: list[str],
        zones: list[Zone],
        near: list[PrivateEndpoint],
    ) -> NodeProblem:
        zone_text = (
            f"zone {self.zone_name} in resource group {zones[0].resource_group}"
            if zones
            else f"no {self.zone_name} zone in the subscriptions read"
        )
        expect = (
            f" (expect {near[0].addresses.get(registry.login_server) or 'a private address'}"
            f" of private endpoint {near[0].name})"
            if near
            else ""
        )
        return NodeProblem(
            "aks-custom-dns",
            registry.login_server,
            "",
            f"the nodes' VNet uses custom DNS servers {', '.join(servers)}; ARM cannot show"
            f" whether they forward {self.zone_name} to Azure DNS ({zone_text})",
            "",
            {"dns_servers": ", ".join(servers), "expect": expect, "zone": self.zone_name},
        )

    # -- reachability

    def _unreached_record(
        self,
        registry: RegistryNetwork,
        vnets: list[VNet],
        endpoints: list[PrivateEndpoint],
        zone: Zone,
    ) -> NodeProblem:
        host = registry.login_server
        addresses = ", ".join(zone.records.get(zone_record(host, self.suffix), ())) or "?"
        vnet = vnets[0].name if vnets else "the cluster's VNet"
        closed = (
            f"zone {self.zone_name} (resource group {zone.resource_group}), linked to their VNet"
            f" {vnet}, resolves {host} to the private address {addresses}"
        )
        return self._no_private_path(registry, vnets, endpoints, registry.endpoints, closed)

    def _no_private_path(
        self,
        registry: RegistryNetwork,
        vnets: list[VNet],
        endpoints: list[PrivateEndpoint],
        connections: tuple[Endpoint, ...],
        closed: str = "",
    ) -> NodeProblem:
        names = ", ".join(v.name for v in vnets) or "the cluster's VNet"
        closed = closed or (
            "publicNetworkAccess is Disabled"
            if not registry.public
            else "the registry firewall denies by default"
        )
        if endpoints:
            elsewhere = "; ".join(f"{pe.name} in VNet {_name(pe.vnet)}" for pe in endpoints)
            seen = f"its private endpoints ({elsewhere}) are in no VNet the nodes reach"
        elif connections:
            states = ", ".join(f"{_name(e.id)} ({e.status or 'no state'})" for e in connections)
            seen = f"it has no approved private endpoint: {states}"
        else:
            seen = "it has no private endpoint"
        vnet = vnets[0] if vnets else VNet("", "<cluster-vnet>")
        return NodeProblem(
            "unreachable",
            registry.login_server,
            "i/o timeout",
            f"{closed} and {seen} (nodes' VNets: {names})",
            "aks-no-private-path",
            {
                "closed": closed,
                "private_path": seen,
                "vnet_name": vnet.name,
                "vnet_rg": parse_id(vnet.id).get("resourcegroups", "<vnet-resource-group>"),
                "pe_vnet": _name(endpoints[0].vnet) if endpoints else "",
            },
        )

    def _public(self, registry: RegistryNetwork, view: NodeView) -> NodeView:
        """The public path: the nodes' NSGs, the registry firewall's IP rules against the nodes'
        egress, and an Azure Firewall in the way."""
        deny = registry.public and registry.default_action.lower() == "deny"
        udr = self.reader.cluster.outbound_type.lower() == "userdefinedrouting"
        egress = self.reader.egress() if deny or udr else None
        routed = egress is not None and udr and not egress.problem
        if not self._security_groups(view, self._public_targets(registry, routed)):
            return view
        if egress is None:
            view.path = view.path or "the registry's public endpoint"
            return view
        if deny and not self._registry_firewall(registry, egress, view):
            return view
        if egress.firewall is not None:
            self._firewall_rules(registry, egress.firewall, view)
        view.path = view.path or f"the registry's public endpoint through {egress.via}"
        return view

    def _registry_firewall(self, registry: RegistryNetwork, egress: Egress, view: NodeView) -> bool:
        """Whether the registry firewall (default action Deny) lets the nodes' egress IPs in,
        or cannot be judged; False adds the error."""
        allowed = [ip for ip in egress.ips if ip_allowed(ip, registry.ip_rules)]
        if egress.problem or not egress.ips:
            view.warnings.append(
                NodeProblem(
                    "aks-egress-unknown",
                    registry.login_server,
                    "",
                    f"the registry firewall denies by default and {egress.problem or 'the'}"
                    f" nodes' egress IPs are not known",
                    "",
                    {"via": egress.via},
                )
            )
            return True
        if allowed:
            return True
        ips = ", ".join(egress.ips)
        rules = ", ".join(registry.ip_rules) or "none"
        view.errors.append(
            NodeProblem(
                "unreachable",
                registry.login_server,
                f"403 Forbidden: client with IP '{egress.ips[0]}' is not allowed access",
                f"the registry firewall denies by default and the nodes' egress"
                f" ({egress.via}: {ips}) is not among its IP rules ({rules})",
                "aks-firewall-deny",
                {
                    "egress_ips": ips,
                    "egress_via": egress.via,
                    "ip_rules": rules,
                    "ip_rule_commands": "; ".join(
                        f"az acr network-rule add -n {registry.name} --ip-address {ip}"
                        for ip in egress.ips
                    ),
                },
            )
        )
        return False

    # -- the endpoints the kubelet connects to

    def _hosts(self, registry: RegistryNetwork) -> list[tuple[str, str]]:
        hosts = [(registry.login_server, "login server")]
        hosts += [(h, "data endpoint") for h in registry.data_endpoints]
        return hosts

    def _public_targets(self, registry: RegistryNetwork, routed: bool) -> list[Target]:
        region = region_key(registry.location)
        replicas = tuple(sorted({data_region(h, region) for h in registry.data_endpoints}))
        targets = [
            Target(host, role, data_region(host, region) if role != "login server" else region,
                   via_udr=routed, replicas=replicas)
            for host, role in self._hosts(registry)
        ]  # fmt: skip
        if not registry.data_endpoints:  # layers come from the registry's storage accounts
            targets.append(Target("*.blob.core.windows.net", "storage", region, via_udr=routed))
        return targets

    def _private_targets(self, registry: RegistryNetwork, pe: PrivateEndpoint) -> list[Target]:
        region = region_key(registry.location)
        return [
            Target(host, role, region, pe.addresses.get(host, ""), private=True)
            for host, role in self._hosts(registry)
        ]

    # -- network security groups on the nodes' subnets

    def _security_groups(self, view: NodeView, targets: list[Target]) -> bool:
        """Evaluate the outbound rules of each NSG on the nodes' subnets for every endpoint;
        False when one surely blocks (the error is added)."""
        for subnet, vnet_name in self.reader.node_subnets():
            if not subnet.nsg:
                continue
            try:
                nsg = self.reader.security_group(subnet.nsg)
            except (ArmDenied, ArmNotFound) as exc:
                view.warnings.append(self._nsg_unread(targets[0].host, subnet, exc))
                continue
            verdicts = [(t, evaluate_nsg(list(nsg.rules), t, subnet.prefix)) for t in targets]
            denied = [(t, v) for t, v in verdicts if not v.allowed and v.proven]
            if denied:
                view.errors.append(self._nsg_deny(nsg, subnet, vnet_name, denied))
                return False
            unproven = [(t, v) for t, v in verdicts if not v.proven]
            if unproven:
                view.warnings.append(self._nsg_unproven(nsg, subnet, unproven))
        return True

    def _nsg_deny(
        self,
        nsg: SecurityGroup,
        subnet: Subnet,
        vnet_name: str,
        denied: list[tuple[Target, Verdict]],
    ) -> NodeProblem:
        # The kubelet meets the login server first; a data endpoint only once that answers.
        target, verdict = denied[0]
        priority = free_priority(list(nsg.rules), verdict.deny_priority)
        destinations = " ".join(dict.fromkeys(_nsg_destination(t) for t, _ in denied))
        blocked = ", ".join(
            f"{t.host} ({t.role}{' at ' + t.private_ip if t.private_ip else ''})" for t, _ in denied
        )
        return NodeProblem(
            "unreachable",
            target.host,
            "i/o timeout",
            f"network security group {nsg.name} on the nodes' subnet {subnet.name} (VNet"
            f" {vnet_name}) drops outbound TCP 443 to {blocked}: its {verdict.rule} matches"
            " before any rule allows it",
            "aks-nsg-deny",
            {
                "nsg": nsg.name,
                "nsg_rg": nsg.resource_group,
                "nsg_rule": verdict.rule,
                "nsg_subnet": subnet.name,
                "nsg_blocked": blocked,
                "nsg_priority": priority if priority is not None else "<priority>",
                "nsg_destinations": destinations,
            },
        )

    def _nsg_unproven(
        self, nsg: SecurityGroup, subnet: Subnet, unproven: list[tuple[Target, Verdict]]
    ) -> NodeProblem:
        parts = [
            f"{t.host} ({t.role}): {'allowed' if v.allowed else 'dropped'} by its {v.rule},"
            f" unless {'; '.join(v.unproven)}"
            for t, v in unproven
        ]
        return NodeProblem(
            "aks-nsg-unproven",
            unproven[0][0].host,
            "",
            f"network security group {nsg.name} on the nodes' subnet {subnet.name}: "
            + " | ".join(parts),
            "",
            {
                "nsg": nsg.name,
                "nsg_rg": nsg.resource_group,
                "nsg_subnet": subnet.name,
                "nsg_unproven": " | ".join(parts),
            },
        )

    def _nsg_unread(self, host: str, subnet: Subnet, exc: Exception) -> NodeProblem:
        name = _name(subnet.nsg)
        return NodeProblem(
            "aks-nsg-unproven",
            host,
            "",
            f"network security group {name} on the nodes' subnet {subnet.name} could not be"
            f" read ({exc}); its outbound rules are not evaluated",
            "",
            {
                "nsg": name,
                "nsg_rg": parse_id(subnet.nsg).get("resourcegroups", "<resource-group>"),
                "nsg_subnet": subnet.name,
                "nsg_unproven": f"the group could not be read ({exc})",
            },
        )

    # -- an Azure Firewall on the default route

    def _firewall_rules(self, registry: RegistryNetwork, fw: Firewall, view: NodeView) -> None:
        # VirtualNetwork is an NSG tag; Azure Firewall rules do not take it.
        targets = self._public_targets(registry, routed=False)
        prefix = self._first_prefix()
        verdicts = [(t, evaluate_firewall(list(fw.rules), t, prefix)) for t in targets]
        denied = [(t, v) for t, v in verdicts if not v.allowed or not v.proven]
        if not denied:
            return
        policy = _name(fw.policy) if fw.policy else ""
        missing = " ".join(t.host for t, v in denied if not v.allowed)
        said = "; ".join(
            f"{t.host}: {'allowed' if v.allowed else 'dropped'} ({v.rule})"
            + (f", unless {'; '.join(v.unproven)}" if v.unproven else "")
            for t, v in denied
        )
        where = f"policy {policy}" if policy else "classic rule collections"
        view.warnings.append(
            NodeProblem(
                "aks-egress-firewall",
                registry.login_server,
                "",
                f"the nodes' egress goes through Azure Firewall {fw.name} ({where}): {said}",
                "aks-firewall-policy" if policy else "aks-firewall-classic",
                {
                    "firewall": fw.name,
                    "firewall_rg": fw.resource_group,
                    "firewall_rules": where,
                    "firewall_said": said,
                    "policy": policy or "<firewall-policy>",
                    "policy_rg": parse_id(fw.policy).get("resourcegroups", "<resource-group>")
                    if fw.policy
                    else "<resource-group>",
                    "rule_group": fw.groups[0] if fw.groups else "<group>",
                    "collection_priority": _free_collection_priority(fw, denied),
                    "missing_fqdns": missing or " ".join(t.host for t, _ in denied),
                },
            )
        )

    def _first_prefix(self) -> str:
        subnets = self.reader.node_subnets()
        return subnets[0][0].prefix if subnets else ""


def _nsg_destination(target: Target) -> str:
    """What an allow rule for this endpoint names: the private endpoint's address, or the
    service tag ACR documents for it."""
    if target.private:
        return target.private_ip or "VirtualNetwork"
    if target.is_data:
        return f"Storage.{target.region}" if target.region else "Storage"
    return "AzureContainerRegistry"


def _free_collection_priority(fw: Firewall, denied: list[tuple[Target, Verdict]]) -> int | str:
    """An application rule collection priority that comes before the deny that decided."""
    used = {r.order[-1] for r in fw.rules if r.kind == "application"}
    below = min((v.deny_priority for _, v in denied if v.deny_priority), default=65001)
    for priority in range(min(below - 1, 65000), 99, -1):
        if priority not in used:
            return priority
    return "<priority>"


def _where(pe: PrivateEndpoint, vnets: list[VNet]) -> str:
    own = {v.id.lower() for v in vnets}
    vnet = _name(pe.vnet)
    return f"in the nodes' VNet {vnet}" if pe.vnet.lower() in own else f"in peered VNet {vnet}"

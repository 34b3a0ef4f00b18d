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
  points at (its public IPs and its policy's rules).

A registry open to the public with no private endpoint, on a cluster whose egress is its load
balancer or NAT gateway, needs no read at all. Everything here works on the REST JSON of the
models (`as_dict()`), the shapes of the public REST reference.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from gate.azure.arm import ArmSession
from gate.azure.ids import parse_id

AZURE_DNS = "168.63.129.16"
ACR_SERVICE_TAG = "azurecontainerregistry"


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
class VNet:
    id: str
    name: str
    dns_servers: tuple[str, ...] = ()
    peered: tuple[str, ...] = ()  # remote VNet ids of Connected peerings

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
    allowed: tuple[str, ...]  # FQDN patterns, FQDN tags and service tags its Allow rules let out


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
        with self._lock:
            if key not in self._cache:
                self._cache[key] = read()
            return self._cache[key]

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
                str((props.get("subnet") or {}).get("id") or ""),
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
                    tuple(
                        str((_props(as_json(link)).get("virtualNetwork") or {}).get("id") or "")
                        for link in links
                    ),
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
        nat_id = str((_props(self._first_subnet()).get("natGateway") or {}).get("id") or "")
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
        table_id = str((_props(self._first_subnet()).get("routeTable") or {}).get("id") or "")
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
            policy = str((props.get("firewallPolicy") or {}).get("id") or "")
            allowed = self._policy_allows(policy) if policy else _classic_allows(props)
            return Firewall(
                str(fw.get("id")),
                str(fw.get("name")),
                private_ip,
                self._public_ips(public),
                policy,
                allowed,
            )
        return None

    def _policy_allows(self, policy_id: str) -> tuple[str, ...]:
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
        allowed: list[str] = []
        for group in groups:
            for collection in _props(as_json(group)).get("ruleCollections") or ():
                if str((collection.get("action") or {}).get("type") or "").lower() != "allow":
                    continue
                for rule in collection.get("rules") or ():
                    allowed += _rule_targets(rule)
        return tuple(allowed)


def _kind(action: str) -> str:
    """ "Microsoft.Network/privateEndpoints/read" -> "private endpoint"."""
    parts = action.split("/")
    noun = parts[-2] if len(parts) >= 3 else action
    words = []
    for ch in noun:
        words.append(f" {ch.lower()}" if ch.isupper() else ch)
    text = "".join(words).strip()
    return text.removesuffix("es") if text.endswith("sses") else text.removesuffix("s")


def _rule_targets(rule: dict) -> list[str]:
    kind = str(rule.get("ruleType") or "").lower()
    if kind == "applicationrule":
        return [
            *(str(f).lower() for f in rule.get("targetFqdns") or ()),
            *(f"tag:{str(t).lower()}" for t in rule.get("fqdnTags") or ()),
        ]
    if kind == "networkrule":
        return [
            *(f"tag:{str(a).lower()}" for a in rule.get("destinationAddresses") or ()),
            *(str(f).lower() for f in rule.get("destinationFqdns") or ()),
        ]
    return []


def _classic_allows(props: dict) -> tuple[str, ...]:
    allowed: list[str] = []
    for collection in props.get("applicationRuleCollections") or ():
        cprops = _props(collection)
        if str((cprops.get("action") or {}).get("type") or "").lower() != "allow":
            continue
        for rule in cprops.get("rules") or ():
            allowed += [str(f).lower() for f in rule.get("targetFqdns") or ()]
            allowed += [f"tag:{str(t).lower()}" for t in rule.get("fqdnTags") or ()]
    return tuple(allowed)


def _vnet(vnet: dict) -> VNet:
    props = _props(vnet)
    peered = tuple(
        str((_props(p).get("remoteVirtualNetwork") or {}).get("id") or "")
        for p in props.get("virtualNetworkPeerings") or ()
        if str(_props(p).get("peeringState") or "").lower() == "connected"
    )
    return VNet(
        str(vnet.get("id") or ""),
        str(vnet.get("name") or ""),
        tuple(str(s) for s in (props.get("dhcpOptions") or {}).get("dnsServers") or ()),
        peered,
    )


def firewall_lets_out(allowed: Iterable[str], host: str) -> bool:
    """Whether an Allow rule's target FQDN (globs like *.azurecr.io) or the AzureContainerRegistry
    service tag covers `host`."""
    for target in allowed:
        if target.startswith("tag:"):
            tag = target[4:].split(".")[0]
            if tag == ACR_SERVICE_TAG:
                return True
            continue
        if target == "*" or fnmatch.fnmatchcase(host, target):
            return True
    return False


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
            if not near:
                return "public"  # Azure DNS answers with the public address
            view.errors.append(self._zone_problem(registry, vnets, near[0], zones))
            return ""
        missing = [
            h for h in hosts if not any(zone_record(h, self.suffix) in z.records for z in linked)
        ]
        for host in missing:
            # The public CNAME points into privatelink.azurecr.io, which a linked zone answers
            # for: a missing record is NXDOMAIN on the node, whatever the public access.
            view.errors.append(self._record_missing(registry, host, linked[0], endpoints))
        return "" if missing else ("private" if near else "public")

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

    def _no_private_path(
        self,
        registry: RegistryNetwork,
        vnets: list[VNet],
        endpoints: list[PrivateEndpoint],
        connections: tuple[Endpoint, ...],
    ) -> NodeProblem:
        names = ", ".join(v.name for v in vnets) or "the cluster's VNet"
        closed = (
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
                "vnet_name": vnet.name,
                "vnet_rg": parse_id(vnet.id).get("resourcegroups", "<vnet-resource-group>"),
                "pe_vnet": _name(endpoints[0].vnet) if endpoints else "",
            },
        )

    def _public(self, registry: RegistryNetwork, view: NodeView) -> NodeView:
        """The public path: the registry firewall's IP rules against the nodes' egress, and an
        Azure Firewall in the way."""
        deny = registry.public and registry.default_action.lower() == "deny"
        udr = self.reader.cluster.outbound_type.lower() == "userdefinedrouting"
        if not deny and not udr:
            view.path = view.path or "the registry's public endpoint"
            return view
        egress = self.reader.egress()
        if deny:
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
            elif not allowed:
                ips = ", ".join(egress.ips)
                view.errors.append(
                    NodeProblem(
                        "unreachable",
                        registry.login_server,
                        f"403 Forbidden: client with IP '{egress.ips[0]}' is not allowed access",
                        f"the registry firewall denies by default and the nodes' egress"
                        f" ({egress.via}: {ips}) is not among its IP rules"
                        f" ({', '.join(registry.ip_rules) or 'none'})",
                        "aks-firewall-deny",
                        {
                            "egress_ips": ips,
                            "ip_rule_commands": "; ".join(
                                f"az acr network-rule add -n {registry.name} --ip-address {ip}"
                                for ip in egress.ips
                            ),
                        },
                    )
                )
                return view
        if egress.firewall is not None:
            self._firewall_rules(registry, egress.firewall, view)
        view.path = view.path or f"the registry's public endpoint through {egress.via}"
        return view

    def _firewall_rules(self, registry: RegistryNetwork, fw: Firewall, view: NodeView) -> None:
        hosts = [registry.login_server, *registry.data_endpoints]
        if not registry.data_endpoints:
            hosts.append("*.blob.core.windows.net")
        missing = [
            h for h in hosts if not firewall_lets_out(fw.allowed, h.replace("*.", "storage."))
        ]
        if not missing:
            return
        policy = _name(fw.policy) if fw.policy else ""
        view.warnings.append(
            NodeProblem(
                "aks-egress-firewall",
                registry.login_server,
                "",
                f"the nodes' egress goes through Azure Firewall {fw.name}"
                + (f" (policy {policy})" if policy else " (classic rules)")
                + f", whose Allow rules do not cover {', '.join(missing)}",
                "",
                {
                    "firewall": fw.name,
                    "policy": policy or "<firewall-policy>",
                    "policy_rg": parse_id(fw.policy).get("resourcegroups", "<resource-group>")
                    if fw.policy
                    else "<resource-group>",
                    "missing_fqdns": " ".join(missing),
                },
            )
        )


def _where(pe: PrivateEndpoint, vnets: list[VNet]) -> str:
    own = {v.id.lower() for v in vnets}
    vnet = _name(pe.vnet)
    return f"in the nodes' VNet {vnet}" if pe.vnet.lower() in own else f"in peered VNet {vnet}"

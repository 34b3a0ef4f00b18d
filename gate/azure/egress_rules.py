"""Outbound rules on the nodes' way to a registry, evaluated as Azure evaluates them, from their
REST JSON: a network security group's security rules (priority order, the default rules last)
and an Azure Firewall's network and application rules (network rules first, then application
rules, each by collection priority; what no rule allows is denied).

Every match is three-valued: a rule surely applies, surely does not, or pullgate cannot tell
from ARM (an IP prefix where the registry's public addresses are unknown, an application
security group, a service tag of another region). Only sure matches decide; the unsure ones
between the start and the deciding rule are kept, so a verdict that rests on them is reported
as not proven instead of guessed.
"""

from __future__ import annotations

import fnmatch
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Protocol

HTTPS = 443
EPHEMERAL = (1024, 65535)  # the source ports a node's connection can leave from
RULE_PRIORITIES = (100, 4096)  # what a user NSG rule may take


class Match(IntEnum):
    NO = 0
    MAYBE = 1
    YES = 2


@dataclass(frozen=True)
class Judged:
    match: Match
    why: str = ""  # for MAYBE: what could not be proven


NO = Judged(Match.NO)
YES = Judged(Match.YES)


def any_of(items: Iterable[Judged]) -> Judged:
    """A list field: matches when one element does."""
    best = NO
    for item in items:
        if item.match > best.match:
            best = item
    return best


def all_of(items: Iterable[Judged]) -> Judged:
    """A rule: matches when every field does."""
    worst = YES
    for item in items:
        if item.match < worst.match:
            worst = item
        if worst.match is Match.NO:
            return NO
    return worst


def region_key(location: str) -> str:
    """`West Europe` -> `westeurope`, the spelling of service tag regions."""
    return location.replace(" ", "").lower()


@dataclass(frozen=True)
class Target:
    """One endpoint the kubelet connects to on 443: the login server or a data endpoint, over
    the public path (its address unknown to ARM) or a private endpoint (its address known when
    the endpoint lists it)."""

    host: str
    role: str  # "login server" or "data endpoint"
    region: str  # the registry's location, or the data endpoint's region
    private_ip: str = ""  # the private endpoint's address
    private: bool = False
    via_udr: bool = False  # a 0.0.0.0/0 user-defined route puts every address in VirtualNetwork
    replicas: tuple[str, ...] = ()  # regions of a geo-replicated registry (its data endpoints)

    @property
    def is_data(self) -> bool:
        return self.role != "login server"


def data_region(host: str, fallback: str) -> str:
    """`contoso.westeurope.data.azurecr.io` -> `westeurope`."""
    parts = host.split(".")
    if len(parts) > 3 and parts[2] == "data":
        return parts[1]
    return region_key(fallback)


# ---- address, tag, port and protocol matching -------------------------------------------------


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _tag(text: str) -> tuple[str, str]:
    """`AzureContainerRegistry.WestEurope` -> (`azurecontainerregistry`, `westeurope`)."""
    name, _, region = text.strip().lower().partition(".")
    return name, region


def destination(prefix: str, target: Target) -> Judged:
    """Whether an address prefix, IP or service tag covers the target's address."""
    text = prefix.strip()
    if text in ("*", "0.0.0.0/0", "any"):
        return YES
    net = _network(text)
    if net is not None:
        return _cidr(net, text, target)
    name, region = _tag(text)
    if target.private:
        # Service tags other than VirtualNetwork hold public prefixes only.
        return YES if name == "virtualnetwork" else NO
    if name == "internet":
        return YES
    if name == "virtualnetwork":
        return YES if target.via_udr else NO
    same = not region or region == target.region
    other = f"{text} names another region than {target.region}"
    if same and region and not target.is_data and set(target.replicas) - {region}:
        # The login server answers from the replica nearest the nodes, in any of these regions.
        same = False
        other = f"{text} names one of the registry's regions ({', '.join(target.replicas)})"
    if name == "azurecloud":
        return YES if same else Judged(Match.MAYBE, other + " (a replica there is not read)")
    if name == "azurecontainerregistry":
        if target.is_data:
            return Judged(
                Match.MAYBE,
                f"whether {text} holds the addresses of data endpoint {target.host} (ACR"
                " documents the Storage tag for its data endpoints)",
            )
        return YES if same else Judged(Match.MAYBE, other + " (a replica there is not read)")
    if name == "storage":
        if not target.is_data:
            return NO
        return YES if same else Judged(Match.MAYBE, other)
    return NO  # another service's tag: its prefixes are that service's


def _cidr(net: ipaddress.IPv4Network | ipaddress.IPv6Network, text: str, target: Target) -> Judged:
    if target.private:
        if not target.private_ip:
            return Judged(
                Match.MAYBE, f"the private endpoint's address for {target.host} is not listed"
            )
        try:
            return YES if ipaddress.ip_address(target.private_ip) in net else NO
        except ValueError:
            return NO
    if net.is_private:
        return NO  # a public registry address is never in private space
    return Judged(
        Match.MAYBE,
        f"whether {text} holds the public address of {target.host} (ARM does not list it)",
    )


def source(prefix: str, subnet_prefix: str) -> Judged:
    """Whether a source prefix covers the nodes' subnet."""
    text = prefix.strip()
    name, _ = _tag(text)
    if text in ("*", "any") or name == "virtualnetwork":
        return YES
    net = _network(text)
    if net is None:
        return NO  # AzureLoadBalancer, Internet, another service: not the nodes
    nodes = _network(subnet_prefix)
    if nodes is None:
        return Judged(Match.MAYBE, f"whether the nodes' addresses are in {text}")
    if nodes.version != net.version or not nodes.overlaps(net):
        return NO
    if nodes.subnet_of(net):  # type: ignore[arg-type]
        return YES
    return Judged(Match.MAYBE, f"whether the nodes' addresses are in {text} (part of the subnet)")


def port_covers(ranges: Iterable[str], port: int = HTTPS) -> bool:
    for text in ranges:
        text = str(text).strip()
        if text in ("*", "any", ""):
            return True
        low, _, high = text.partition("-")
        try:
            if int(low) <= port <= int(high or low):
                return True
        except ValueError:
            continue
    return False


def _source_ports(ranges: list[str]) -> Judged:
    for text in ranges:
        low, _, high = text.strip().partition("-")
        if text.strip() == "*":
            return YES
        try:
            if int(low) <= EPHEMERAL[0] and int(high or low) >= EPHEMERAL[1]:
                return YES
        except ValueError:
            continue
    return Judged(Match.MAYBE, f"the node's source port against {', '.join(ranges)}")


def tcp(protocol: str) -> bool:
    return protocol.strip().lower() in ("*", "tcp", "any")


def _strings(*values: object) -> list[str]:
    found: list[str] = []
    for value in values:
        if isinstance(value, str) and value:
            found.append(value)
        elif isinstance(value, list):
            found += [str(v) for v in value if v]
    return found


# ---- network security groups ------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityRule:
    name: str
    priority: int
    access: str  # "Allow" or "Deny"
    protocol: str
    sources: tuple[str, ...]
    source_ports: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[str, ...]
    source_groups: tuple[str, ...] = ()  # application security group names
    destination_groups: tuple[str, ...] = ()
    default: bool = False

    @property
    def allows(self) -> bool:
        return self.access.lower() == "allow"

    @property
    def rank(self) -> int:
        return self.priority

    def describe(self) -> str:
        kind = "default rule" if self.default else "rule"
        return f"{kind} {self.name} ({self.access}, priority {self.priority})"

    def judge(self, target: Target, subnet_prefix: str) -> Judged:
        if not tcp(self.protocol) or not port_covers(self.ports):
            return NO
        dest = [destination(d, target) for d in self.destinations]
        dest += [_asg(g, target) for g in self.destination_groups]
        src = [source(s, subnet_prefix) for s in self.sources]
        src += [
            Judged(Match.MAYBE, f"whether the nodes are in application security group {g}")
            for g in self.source_groups
        ]
        return all_of([any_of(src), _source_ports(list(self.source_ports)), any_of(dest)])


def _asg(group: str, target: Target) -> Judged:
    if not target.private:
        return NO  # an application security group holds NICs in a VNet, never a public address
    return Judged(
        Match.MAYBE, f"whether the private endpoint is in application security group {group}"
    )


def security_rules(nsg: dict) -> list[SecurityRule]:
    """The outbound rules of an NSG's REST JSON, custom and default, by priority."""
    props = nsg.get("properties") or {}
    rules = []
    for key, default in (("securityRules", False), ("defaultSecurityRules", True)):
        for rule in props.get(key) or ():
            rprops = rule.get("properties") or {}
            if str(rprops.get("direction") or "").lower() != "outbound":
                continue
            rules.append(
                SecurityRule(
                    name=str(rule.get("name") or ""),
                    priority=int(rprops.get("priority") or 0),
                    access=str(rprops.get("access") or ""),
                    protocol=str(rprops.get("protocol") or "*"),
                    sources=tuple(
                        _strings(
                            rprops.get("sourceAddressPrefix"), rprops.get("sourceAddressPrefixes")
                        )
                    ),
                    source_ports=tuple(
                        _strings(rprops.get("sourcePortRange"), rprops.get("sourcePortRanges"))
                    )
                    or ("*",),
                    destinations=tuple(
                        _strings(
                            rprops.get("destinationAddressPrefix"),
                            rprops.get("destinationAddressPrefixes"),
                        )
                    ),
                    ports=tuple(
                        _strings(
                            rprops.get("destinationPortRange"), rprops.get("destinationPortRanges")
                        )
                    ),
                    source_groups=_group_names(rprops.get("sourceApplicationSecurityGroups")),
                    destination_groups=_group_names(
                        rprops.get("destinationApplicationSecurityGroups")
                    ),
                    default=default,
                )
            )
    return sorted(rules, key=lambda r: (r.priority, r.default))


def _group_names(groups: object) -> tuple[str, ...]:
    if not isinstance(groups, list):
        return ()
    return tuple(
        str(g.get("id") or "").rstrip("/").rsplit("/", 1)[-1] for g in groups if isinstance(g, dict)
    )


@dataclass(frozen=True)
class Verdict:
    """What the rules do to one connection: `allowed` by the deciding rule (for a firewall,
    its implicit deny when no rule matches), and the unsure matches met before it that would
    have decided the other way."""

    allowed: bool
    rule: str  # the deciding rule, described
    unproven: tuple[str, ...] = ()
    deny_priority: int = 0  # the deciding deny's priority (for a free priority above it)

    @property
    def proven(self) -> bool:
        return not self.unproven


class Rule(Protocol):
    @property
    def allows(self) -> bool: ...

    @property
    def rank(self) -> int: ...

    def describe(self) -> str: ...

    def judge(self, target: Target, subnet_prefix: str) -> Judged: ...


def first_match(rules: Iterable[Rule], target: Target, subnet_prefix: str) -> Verdict | None:
    """The first rule that surely matches decides; None when none does."""
    unsure: list[tuple[Rule, str]] = []
    for rule in rules:
        judged = rule.judge(target, subnet_prefix)
        if judged.match is Match.YES:
            against = _unproven(unsure, not rule.allows)
            return Verdict(rule.allows, rule.describe(), against, 0 if rule.allows else rule.rank)
        if judged.match is Match.MAYBE:
            unsure.append((rule, judged.why))
    return Verdict(False, "", _unproven(unsure, True)) if unsure else None


def _unproven(unsure: list[tuple[Rule, str]], allows: bool) -> tuple[str, ...]:
    """The unsure rules that would have decided the other way."""
    return tuple(
        f"{r.describe()} applies, which ARM cannot prove: {why}"
        for r, why in unsure
        if r.allows == allows
    )


def evaluate_nsg(rules: list[SecurityRule], target: Target, subnet_prefix: str) -> Verdict:
    verdict = first_match(rules, target, subnet_prefix)
    if verdict is None or not verdict.rule:
        # Every NSG ends in DenyAllOutBound; a group listed without its defaults allows the rest.
        return Verdict(True, "no rule (the default rules were not listed)")
    return verdict


def free_priority(rules: list[SecurityRule], below: int) -> int | None:
    """The highest free user priority that still comes before `below`."""
    used = {r.priority for r in rules if not r.default}
    for priority in range(min(below - 1, RULE_PRIORITIES[1]), RULE_PRIORITIES[0] - 1, -1):
        if priority not in used:
            return priority
    return None


# ---- Azure Firewall -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FirewallRule:
    kind: str  # "network" or "application"
    action: str  # "Allow" or "Deny"
    order: tuple[int, ...]  # (group priority, collection priority) or (collection priority,)
    collection: str
    name: str
    protocols: tuple[str, ...] = ()  # network: TCP/UDP/Any; application: Https:443 ...
    ports: tuple[str, ...] = ()  # network rules' destination ports
    sources: tuple[str, ...] = ()
    source_groups: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()  # network rules: prefixes, IPs, service tags
    address_groups: tuple[str, ...] = ()
    fqdns: tuple[str, ...] = ()  # application target FQDNs, network destination FQDNs
    fqdn_tags: tuple[str, ...] = ()
    other_targets: tuple[str, ...] = ()  # web categories, target URLs: not decidable here
    tier: int = 0  # 0 for a parent policy's rules, which come before the child policy's

    @property
    def allows(self) -> bool:
        return self.action.lower() == "allow"

    @property
    def rank(self) -> int:
        return self.order[-1]

    def describe(self) -> str:
        return (
            f"{self.kind} rule {self.name} in collection {self.collection}"
            f" ({self.action}, priority {'/'.join(str(p) for p in self.order)})"
        )

    def judge(self, target: Target, subnet_prefix: str) -> Judged:
        src = [source(s, subnet_prefix) for s in self.sources] or [YES]
        src += [
            Judged(Match.MAYBE, f"whether the nodes are in IP group {g}")
            for g in self.source_groups
        ]
        if self.kind == "network":
            if not any(tcp(p) for p in self.protocols) or not port_covers(self.ports):
                return NO
            dest = [destination(a, target) for a in self.addresses]
            dest += [YES for f in self.fqdns if f.lower() == target.host]
            dest += [
                Judged(Match.MAYBE, f"whether IP group {g} holds {target.host}'s address")
                for g in self.address_groups
            ]
            return all_of([any_of(src), any_of(dest)])
        if not any(_https(p) for p in self.protocols):
            return NO
        dest = [_fqdn(f, target.host) for f in self.fqdns]
        # FQDN tags (AzureKubernetesService, WindowsUpdate, ...) list Microsoft's own endpoints;
        # none covers a customer's registry.
        dest += [
            Judged(Match.MAYBE, f"whether {t} lets {target.host} through")
            for t in self.other_targets
        ]
        return all_of([any_of(src), any_of(dest)])


def _https(protocol: str) -> bool:
    kind, _, port = protocol.replace("=", ":").partition(":")
    return kind.strip().lower() == "https" and (not port or port_covers([port]))


def _fqdn(pattern: str, host: str) -> Judged:
    pattern = pattern.strip().lower()
    return YES if pattern == "*" or fnmatch.fnmatchcase(host, pattern) else NO


def _protocols(rule: dict) -> tuple[str, ...]:
    found = []
    for p in rule.get("protocols") or rule.get("ipProtocols") or ():
        if isinstance(p, dict):
            found.append(f"{p.get('protocolType') or ''}:{p.get('port') or ''}")
        else:
            found.append(str(p))
    return tuple(found)


def firewall_rule(
    kind: str, action: str, order: tuple[int, ...], collection: str, rule: dict
) -> FirewallRule:
    """One rule of a classic collection or a policy's filter collection (same field names)."""
    return FirewallRule(
        kind=kind,
        action=action,
        order=order,
        collection=collection,
        name=str(rule.get("name") or ""),
        protocols=_protocols(rule),
        ports=tuple(_strings(rule.get("destinationPorts"))),
        sources=tuple(_strings(rule.get("sourceAddresses"))),
        source_groups=tuple(_names(rule.get("sourceIpGroups"))),
        addresses=tuple(_strings(rule.get("destinationAddresses"))),
        address_groups=tuple(_names(rule.get("destinationIpGroups"))),
        fqdns=tuple(
            f.lower() for f in _strings(rule.get("targetFqdns"), rule.get("destinationFqdns"))
        ),
        fqdn_tags=tuple(_strings(rule.get("fqdnTags"))),
        other_targets=tuple(
            [f"web category {c}" for c in _strings(rule.get("webCategories"))]
            + [f"target URL {u}" for u in _strings(rule.get("targetUrls"))]
        ),
    )


def _names(ids: object) -> list[str]:
    return [str(i).rstrip("/").rsplit("/", 1)[-1] for i in _strings(ids)]


def classic_rules(props: dict) -> list[FirewallRule]:
    """`networkRuleCollections` and `applicationRuleCollections` of an azureFirewalls resource."""
    rules = []
    for key, kind in (
        ("networkRuleCollections", "network"),
        ("applicationRuleCollections", "application"),
    ):
        for collection in props.get(key) or ():
            cprops = collection.get("properties") or {}
            action = str((cprops.get("action") or {}).get("type") or "")
            order = (int(cprops.get("priority") or 0),)
            rules += [
                firewall_rule(kind, action, order, str(collection.get("name") or ""), r)
                for r in cprops.get("rules") or ()
            ]
    return rules


def policy_rules(groups: Iterable[dict], tier: int = 0) -> list[FirewallRule]:
    """The filter collections of a firewall policy's rule collection groups (`tier` 0 for a
    parent policy, 1 for the policy that inherits from it)."""
    rules = []
    for group in groups:
        gprops = group.get("properties") or {}
        gprio = int(gprops.get("priority") or 0)
        for collection in gprops.get("ruleCollections") or ():
            if collection.get("ruleCollectionType") == "FirewallPolicyNatRuleCollection":
                continue
            action = str((collection.get("action") or {}).get("type") or "")
            order = (gprio, int(collection.get("priority") or 0))
            for rule in collection.get("rules") or ():
                kind = str(rule.get("ruleType") or "").lower()
                if kind in ("networkrule", "applicationrule"):
                    found = firewall_rule(
                        kind.removesuffix("rule"), action, order,
                        str(collection.get("name") or ""), rule,
                    )  # fmt: skip
                    rules.append(replace(found, tier=tier))
    return rules


def evaluate_firewall(rules: list[FirewallRule], target: Target, subnet_prefix: str) -> Verdict:
    """Network rules first, then application rules; within each, a parent policy's before the
    child's, then by group and collection priority; the first sure match decides; what nothing
    allows is denied."""
    ordered = sorted(rules, key=lambda r: (r.kind != "network", r.tier, r.order))
    verdict = first_match(ordered, target, subnet_prefix)
    implicit = "no rule allows it, and Azure Firewall denies what no rule allows"
    if verdict is None:
        return Verdict(False, implicit)
    if not verdict.rule:
        return Verdict(False, implicit, verdict.unproven)
    return verdict

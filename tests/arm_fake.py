"""A small HTTPS Azure Resource Manager (and Microsoft Graph) for tests: the real ARM JSON shapes
of managed clusters, agent pools, container registries, role assignments and role definitions,
ARM error bodies (403 AuthorizationFailed, 404 ResourceNotFound, 400 for a filter it does not
take), `nextLink` paging and `api-version` checks, behind a self-signed CA and a bearer token.

Driven in tests through the real `azure-mgmt-containerservice`, `azure-mgmt-authorization` and
`azure-mgmt-containerregistry` clients (`base_url` pointed here, `connection_verify` the CA file,
`retry_total=0`) with a static TokenCredential.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo
from registry_server import TLSFiles, serve_https

from gate.azure.arm import CLOUDS, ArmSession

SUB = "0b1f6471-1bf0-4dda-aec3-cb9272f09590"
OTHER_SUB = "7d3a9c1e-5b2f-4e8a-9c6d-2f1e0a3b4c5d"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PIPELINE_OID = "3c1d2e4f-0a9b-4c8d-8e7f-6a5b4c3d2e1f"  # the identity pullgate runs as


def _jwt(claims: dict) -> str:
    """An unsigned token shaped like Entra's (header.payload.signature, base64url)."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.ZmFrZS1zaWduYXR1cmU"


TOKEN = _jwt({"aud": "https://management.azure.com", "oid": PIPELINE_OID, "tid": "fake-tenant"})
CREATED = "2024-11-02T09:14:07.0000000Z"

# Built-in role definitions (GUIDs and permissions as Azure publishes them).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ACR_PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
REPO_READER = "b93aa761-3e63-49ed-ac28-beffa264f7ac"
REPO_CONTRIBUTOR = "2efddaa5-3f1f-4df3-97df-af3f13818f4c"
DATA_IMPORTER = "577a9874-89fd-4f24-9dbd-b5034d0ad23a"
_REPO = "Microsoft.ContainerRegistry/registries/repositories"
BUILT_IN = {
    ACR_PULL: ("AcrPull", {"actions": ["Microsoft.ContainerRegistry/registries/pull/read"]}),
    ACR_PUSH: (
        "AcrPush",
        {
            "actions": [
                "Microsoft.ContainerRegistry/registries/pull/read",
                "Microsoft.ContainerRegistry/registries/push/write",
            ]
        },
    ),
    OWNER: ("Owner", {"actions": ["*"]}),
    CONTRIBUTOR: (
        "Contributor",
        {
            "actions": ["*"],
            "notActions": [
                "Microsoft.Authorization/*/Delete",
                "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action",
                "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete",
                "Microsoft.Compute/galleries/share/action",
                "Microsoft.Purview/consents/write",
                "Microsoft.Purview/consents/delete",
            ],
        },
    ),
    READER: ("Reader", {"actions": ["*/read"]}),
    REPO_READER: (
        "Container Registry Repository Reader",
        {"dataActions": [f"{_REPO}/content/read", f"{_REPO}/metadata/read"]},
    ),
    DATA_IMPORTER: (
        "Container Registry Data Importer and Data Reader",
        {
            "actions": [
                "Microsoft.ContainerRegistry/registries/importImage/action",
                "Microsoft.ContainerRegistry/registries/pull/read",
                "Microsoft.ContainerRegistry/registries/read",
            ]
        },
    ),
    REPO_CONTRIBUTOR: (
        "Container Registry Repository Contributor",
        {
            "dataActions": [
                f"{_REPO}/content/read",
                f"{_REPO}/content/write",
                f"{_REPO}/content/delete",
                f"{_REPO}/metadata/read",
                f"{_REPO}/metadata/write",
                f"{_REPO}/metadata/delete",
            ]
        },
    ),
}


def pull_condition(*clauses: str, joiner: str = "OR") -> str:
    """The condition shape the ACR docs use: pull actions only when a repository clause holds."""
    body = f" {joiner} ".join(
        f"@Request[Microsoft.ContainerRegistry/registries/repositories:name] {c}" for c in clauses
    )
    return (
        f"((!(ActionMatches{{'{_REPO}/content/read'}})"
        f" AND !(ActionMatches{{'{_REPO}/metadata/read'}}))"
        f" OR ({body}))"
    )


# ---- ARM JSON ----------------------------------------------------------------------------------


def rg_id(rg: str, sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def cluster_id(rg: str, name: str, sub: str = SUB) -> str:
    return f"{rg_id(rg, sub)}/providers/Microsoft.ContainerService/managedClusters/{name}"


def registry_id(rg: str, name: str, sub: str = SUB) -> str:
    return f"{rg_id(rg, sub)}/providers/Microsoft.ContainerRegistry/registries/{name}"


def role_definition_id(guid: str, sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def role_definition(guid: str, name: str, permissions: dict, custom: bool = False) -> dict:
    return {
        "id": role_definition_id(guid),
        "name": guid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": name,
            "type": "CustomRole" if custom else "BuiltInRole",
            "description": f"{name} (test)",
            "assignableScopes": [f"/subscriptions/{SUB}"] if custom else ["/"],
            "permissions": [
                {
                    "actions": permissions.get("actions", []),
                    "notActions": permissions.get("notActions", []),
                    "dataActions": permissions.get("dataActions", []),
                    "notDataActions": permissions.get("notDataActions", []),
                }
            ],
            "createdOn": CREATED,
            "updatedOn": CREATED,
            "createdBy": None,
            "updatedBy": None,
        },
    }


def role_assignment(
    scope: str,
    role_guid: str,
    principal_id: str,
    principal_type: str = "ServicePrincipal",
    condition: str | None = None,
) -> dict:
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{role_guid}|{principal_id}|{condition}"))
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}",
        "name": guid,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": role_definition_id(role_guid),
            "principalId": principal_id,
            "principalType": principal_type,
            "scope": scope,
            "condition": condition,
            "conditionVersion": "2.0" if condition else None,
            "createdOn": CREATED,
            "updatedOn": CREATED,
            "createdBy": PIPELINE_OID,
            "updatedBy": PIPELINE_OID,
            "delegatedManagedIdentityResourceId": None,
            "description": None,
        },
    }


def agent_pool(
    cluster: str,
    name: str,
    vm_size: str,
    os_type: str = "Linux",
    os_sku: str | None = None,
    count: int = 3,
    mode: str = "User",
    labels: dict | None = None,
    taints: list[str] | None = None,
    autoscale: tuple[int, int] | None = None,
    spot: bool = False,
    subnet: str | None = None,
) -> dict:
    props: dict = {
        "count": count,
        "vmSize": vm_size,
        "osDiskSizeGB": 128,
        "osDiskType": "Managed",
        "kubeletDiskType": "OS",
        "maxPods": 30 if os_type == "Windows" else 110,
        "type": "VirtualMachineScaleSets",
        "enableAutoScaling": autoscale is not None,
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "orchestratorVersion": "1.31.2",
        "currentOrchestratorVersion": "1.31.2",
        "enableNodePublicIP": False,
        "mode": mode,
        "enableEncryptionAtHost": False,
        "enableUltraSSD": False,
        "osType": os_type,
        "osSKU": os_sku or ("Windows2022" if os_type == "Windows" else "Ubuntu"),
        "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202410.27.0",
        "upgradeSettings": {"maxSurge": "10%"},
        "enableFIPS": False,
        "securityProfile": {"enableVTPM": False, "enableSecureBoot": False},
    }
    if autoscale:
        props["minCount"], props["maxCount"] = autoscale
    if labels:
        props["nodeLabels"] = labels
    if taints:
        props["nodeTaints"] = taints
    if subnet:
        props["vnetSubnetID"] = subnet
    if spot:
        props["scaleSetPriority"] = "Spot"
        props["scaleSetEvictionPolicy"] = "Delete"
        props["spotMaxPrice"] = -1
    return {
        "id": f"{cluster}/agentPools/{name}",
        "name": name,
        "type": "Microsoft.ContainerService/managedClusters/agentPools",
        "properties": props,
    }


def managed_cluster(
    rg: str,
    name: str,
    pools: list[dict],
    kubelet_object_id: str | None = None,
    sp_client_id: str | None = None,
    outbound: str = "loadBalancer",
    outbound_ips: tuple[str, ...] = (),
) -> dict:
    cid = cluster_id(rg, name)
    props: dict = {
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": "1.31.2",
        "currentKubernetesVersion": "1.31.2",
        "dnsPrefix": f"{name}-dns",
        "fqdn": f"{name}-dns-4f1c2e3d.hcp.westeurope.azmk8s.io",
        "azurePortalFQDN": f"{name}-dns-4f1c2e3d.portal.hcp.westeurope.azmk8s.io",
        "agentPoolProfiles": [{"name": p["name"], **p["properties"]} for p in pools],
        "servicePrincipalProfile": {"clientId": sp_client_id or "msi"},
        "nodeResourceGroup": f"MC_{rg}_{name}_westeurope",
        "enableRBAC": True,
        "supportPlan": "KubernetesOfficial",
        "networkProfile": {
            "networkPlugin": "azure",
            "networkPluginMode": "overlay",
            "networkPolicy": "none",
            "loadBalancerSku": "standard",
            "podCidr": "10.244.0.0/16",
            "serviceCidr": "10.0.0.0/16",
            "dnsServiceIP": "10.0.0.10",
            "outboundType": outbound,
            **(
                {
                    "loadBalancerProfile": {
                        "managedOutboundIPs": {"count": len(outbound_ips)},
                        "effectiveOutboundIPs": [{"id": ip} for ip in outbound_ips],
                        "backendPoolType": "NodeIPConfiguration",
                    }
                }
                if outbound == "loadBalancer" and outbound_ips
                else {}
            ),
        },
        "maxAgentPools": 100,
        "disableLocalAccounts": False,
        "oidcIssuerProfile": {"enabled": False},
    }
    cluster: dict = {
        "id": cid,
        "location": "westeurope",
        "name": name,
        "type": "Microsoft.ContainerService/ManagedClusters",
        "sku": {"name": "Base", "tier": "Free"},
        "properties": props,
    }
    if sp_client_id is None:
        identity_name = f"{name}-agentpool"
        props["identityProfile"] = {
            "kubeletidentity": {
                "resourceId": f"/subscriptions/{SUB}/resourcegroups/MC_{rg}_{name}_westeurope"
                f"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity_name}",
                "clientId": "9e2b1c3d-4f5a-4b6c-8d7e-0f1a2b3c4d5e",
                "objectId": kubelet_object_id,
            }
        }
        cluster["identity"] = {
            "type": "SystemAssigned",
            "principalId": "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a",
            "tenantId": TENANT,
        }
    return cluster


def registry(
    rg: str,
    name: str,
    sub: str = SUB,
    abac: bool = False,
    public: bool = True,
    default_action: str = "Allow",
    data_endpoints: tuple[str, ...] = (),
    anonymous: bool = False,
    login_server: str | None = None,
) -> dict:
    return {
        "id": registry_id(rg, name, sub),
        "name": name,
        "type": "Microsoft.ContainerRegistry/registries",
        "location": "westeurope",
        "tags": {},
        "sku": {"name": "Premium", "tier": "Premium"},
        "systemData": {"createdBy": "ops@contoso.com", "createdByType": "User"},
        "properties": {
            "loginServer": login_server or f"{name}.azurecr.io",
            "creationDate": "2024-03-11T10:02:17.3459061Z",
            "provisioningState": "Succeeded",
            "adminUserEnabled": False,
            "networkRuleSet": {"defaultAction": default_action, "ipRules": []},
            "policies": {
                "quarantinePolicy": {"status": "disabled"},
                "trustPolicy": {"type": "Notary", "status": "disabled"},
                "retentionPolicy": {"days": 7, "status": "disabled"},
                "exportPolicy": {"status": "enabled"},
            },
            "encryption": {"status": "disabled"},
            "dataEndpointEnabled": bool(data_endpoints),
            "dataEndpointHostNames": list(data_endpoints),
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Enabled" if public else "Disabled",
            "networkRuleBypassOptions": "AzureServices",
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": anonymous,
            "roleAssignmentMode": "AbacRepositoryPermissions"
            if abac
            else "LegacyRegistryPermissions",
        },
    }


# ---- Microsoft.Network and Microsoft.Network/privateDnsZones JSON (REST reference shapes) ------


def network_id(rg: str, kind: str, name: str, sub: str = SUB) -> str:
    return f"{rg_id(rg, sub)}/providers/Microsoft.Network/{kind}/{name}"


def subnet(
    vnet: str,
    name: str,
    prefix: str,
    route_table: str | None = None,
    nat: str | None = None,
    nsg: str | None = None,
) -> dict:
    props: dict = {
        "addressPrefix": prefix,
        "provisioningState": "Succeeded",
        "privateEndpointNetworkPolicies": "Disabled",
        "privateLinkServiceNetworkPolicies": "Enabled",
    }
    if route_table:
        props["routeTable"] = {"id": route_table}
    if nat:
        props["natGateway"] = {"id": nat}
    if nsg:
        props["networkSecurityGroup"] = {"id": nsg}
    return {
        "id": f"{vnet}/subnets/{name}",
        "name": name,
        "etag": 'W/"4f1c2e3d-0000-0000-0000-000000000000"',
        "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": props,
    }


def virtual_network(
    rg: str,
    name: str,
    prefix: str,
    subnets: list[tuple[str, str]] | None = None,
    dns_servers: tuple[str, ...] = (),
    peered: tuple[str, ...] = (),
    sub: str = SUB,
    route_table: str | None = None,
    nat: str | None = None,
    nsg: str | None = None,
) -> dict:
    vid = network_id(rg, "virtualNetworks", name, sub)
    props: dict = {
        "addressSpace": {"addressPrefixes": [prefix]},
        "subnets": [
            subnet(vid, n, pfx, route_table, nat, nsg)
            for n, pfx in subnets or [("default", prefix)]
        ],
        "virtualNetworkPeerings": [
            {
                "id": f"{vid}/virtualNetworkPeerings/to-{remote.rsplit('/', 1)[-1]}",
                "name": f"to-{remote.rsplit('/', 1)[-1]}",
                "type": "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
                "properties": {
                    "peeringState": "Connected",
                    "peeringSyncLevel": "FullyInSync",
                    "remoteVirtualNetwork": {"id": remote},
                    "allowVirtualNetworkAccess": True,
                    "allowForwardedTraffic": False,
                    "allowGatewayTransit": False,
                    "useRemoteGateways": False,
                    "provisioningState": "Succeeded",
                },
            }
            for remote in peered
        ],
        "provisioningState": "Succeeded",
        "enableDdosProtection": False,
    }
    if dns_servers:
        props["dhcpOptions"] = {"dnsServers": list(dns_servers)}
    return {
        "id": vid,
        "name": name,
        "type": "Microsoft.Network/virtualNetworks",
        "location": "westeurope",
        "etag": 'W/"0c1d2e3f-0000-0000-0000-000000000000"',
        "properties": props,
    }


def private_endpoint(
    rg: str, name: str, subnet_id: str, target: str, addresses: dict[str, str]
) -> dict:
    pid = network_id(rg, "privateEndpoints", name)
    return {
        "id": pid,
        "name": name,
        "type": "Microsoft.Network/privateEndpoints",
        "location": "westeurope",
        "properties": {
            "provisioningState": "Succeeded",
            "subnet": {"id": subnet_id},
            "networkInterfaces": [{"id": network_id(rg, "networkInterfaces", f"{name}.nic")}],
            "privateLinkServiceConnections": [
                {
                    "id": f"{pid}/privateLinkServiceConnections/{name}",
                    "name": name,
                    "properties": {
                        "privateLinkServiceId": target,
                        "groupIds": ["registry"],
                        "privateLinkServiceConnectionState": {
                            "status": "Approved",
                            "description": "Auto-Approved",
                            "actionsRequired": "None",
                        },
                    },
                }
            ],
            "customDnsConfigs": [
                {"fqdn": fqdn, "ipAddresses": [ip]} for fqdn, ip in addresses.items()
            ],
        },
    }


def endpoint_connection(registry_json: dict, endpoint: dict, status: str = "Approved") -> None:
    """Add the registry side of a private endpoint (privateEndpointConnections)."""
    registry_json["properties"]["privateEndpointConnections"].append(
        {
            "id": f"{registry_json['id']}/privateEndpointConnections/{endpoint['name']}",
            "name": endpoint["name"],
            "type": "Microsoft.ContainerRegistry/registries/privateEndpointConnections",
            "properties": {
                "privateEndpoint": {"id": endpoint["id"]},
                "privateLinkServiceConnectionState": {
                    "status": status,
                    "description": "Auto-Approved",
                    "actionsRequired": "None",
                },
                "provisioningState": "Succeeded",
            },
        }
    )


def private_zone(rg: str, name: str = "privatelink.azurecr.io", sub: str = SUB) -> dict:
    return {
        "id": network_id(rg, "privateDnsZones", name, sub),
        "name": name,
        "type": "Microsoft.Network/privateDnsZones",
        "etag": "6f0c9d1e-0000-0000-0000-000000000000",
        "location": "global",
        "properties": {
            "maxNumberOfRecordSets": 25000,
            "numberOfRecordSets": 1,
            "maxNumberOfVirtualNetworkLinks": 1000,
            "numberOfVirtualNetworkLinks": 0,
            "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
            "numberOfVirtualNetworkLinksWithRegistration": 0,
            "provisioningState": "Succeeded",
        },
    }


def zone_link(zone: dict, name: str, vnet_id: str) -> dict:
    return {
        "id": f"{zone['id']}/virtualNetworkLinks/{name}",
        "name": name,
        "type": "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        "etag": "1a2b3c4d-0000-0000-0000-000000000000",
        "location": "global",
        "properties": {
            "virtualNetwork": {"id": vnet_id},
            "registrationEnabled": False,
            "virtualNetworkLinkState": "Completed",
            "provisioningState": "Succeeded",
        },
    }


def a_record(zone: dict, name: str, ip: str) -> dict:
    return {
        "id": f"{zone['id']}/A/{name}",
        "name": name,
        "type": "Microsoft.Network/privateDnsZones/A",
        "etag": "2b3c4d5e-0000-0000-0000-000000000000",
        "properties": {
            "ttl": 10,
            "fqdn": f"{name}.{zone['name']}.",
            "isAutoRegistered": False,
            "aRecords": [{"ipv4Address": ip}],
        },
    }


def public_ip(rg: str, name: str, ip: str) -> dict:
    return {
        "id": network_id(rg, "publicIPAddresses", name),
        "name": name,
        "type": "Microsoft.Network/publicIPAddresses",
        "location": "westeurope",
        "sku": {"name": "Standard", "tier": "Regional"},
        "properties": {
            "publicIPAllocationMethod": "Static",
            "publicIPAddressVersion": "IPv4",
            "ipAddress": ip,
            "idleTimeoutInMinutes": 4,
            "provisioningState": "Succeeded",
        },
    }


def route_table(rg: str, name: str, next_hop: str) -> dict:
    rid = network_id(rg, "routeTables", name)
    return {
        "id": rid,
        "name": name,
        "type": "Microsoft.Network/routeTables",
        "location": "westeurope",
        "properties": {
            "disableBgpRoutePropagation": False,
            "routes": [
                {
                    "id": f"{rid}/routes/default-egress",
                    "name": "default-egress",
                    "type": "Microsoft.Network/routeTables/routes",
                    "properties": {
                        "addressPrefix": "0.0.0.0/0",
                        "nextHopType": "VirtualAppliance",
                        "nextHopIpAddress": next_hop,
                        "provisioningState": "Succeeded",
                    },
                }
            ],
            "provisioningState": "Succeeded",
        },
    }


def azure_firewall(
    rg: str, name: str, private_ip: str, public_ip_id: str, policy_id: str, subnet_id: str
) -> dict:
    fid = network_id(rg, "azureFirewalls", name)
    return {
        "id": fid,
        "name": name,
        "type": "Microsoft.Network/azureFirewalls",
        "location": "westeurope",
        "properties": {
            "sku": {"name": "AZFW_VNet", "tier": "Standard"},
            "threatIntelMode": "Alert",
            "ipConfigurations": [
                {
                    "id": f"{fid}/azureFirewallIpConfigurations/ipconfig1",
                    "name": "ipconfig1",
                    "properties": {
                        "privateIPAddress": private_ip,
                        "publicIPAddress": {"id": public_ip_id},
                        "subnet": {"id": subnet_id},
                        "provisioningState": "Succeeded",
                    },
                }
            ],
            "firewallPolicy": {"id": policy_id},
            "provisioningState": "Succeeded",
        },
    }


def firewall_policy(rg: str, name: str, base: str | None = None) -> dict:
    pid = network_id(rg, "firewallPolicies", name)
    props: dict = {
        "provisioningState": "Succeeded",
        "threatIntelMode": "Alert",
        "sku": {"tier": "Standard"},
        "ruleCollectionGroups": [],
        "childPolicies": [],
        "firewalls": [],
    }
    if base:
        props["basePolicy"] = {"id": base}
    return {
        "id": pid,
        "name": name,
        "type": "Microsoft.Network/firewallPolicies",
        "location": "westeurope",
        "etag": "5e6f7a8b-0000-0000-0000-000000000000",
        "properties": props,
    }


def application_rule(name: str, fqdns: list[str], tags: list[str] | None = None) -> dict:
    return {
        "ruleType": "ApplicationRule",
        "name": name,
        "protocols": [{"protocolType": "Https", "port": 443}],
        "sourceAddresses": ["10.224.0.0/16"],
        "targetFqdns": fqdns,
        "fqdnTags": tags or [],
        "terminateTLS": False,
    }


def network_rule(name: str, destinations: list[str], ports: list[str]) -> dict:
    return {
        "ruleType": "NetworkRule",
        "name": name,
        "ipProtocols": ["TCP"],
        "sourceAddresses": ["10.224.0.0/16"],
        "destinationAddresses": destinations,
        "destinationPorts": ports,
    }


def rule_collection_group(
    policy_id: str, name: str, rules: list[dict], action: str = "Allow", priority: int = 200
) -> dict:
    return {
        "id": f"{policy_id}/ruleCollectionGroups/{name}",
        "name": name,
        "type": "Microsoft.Network/FirewallPolicies/ruleCollectionGroups",
        "etag": "3c4d5e6f-0000-0000-0000-000000000000",
        "properties": {
            "priority": priority,
            "ruleCollections": [
                {
                    "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
                    "name": f"{name}-{action.lower()}",
                    "priority": 100,
                    "action": {"type": action},
                    "rules": rules,
                }
            ],
            "provisioningState": "Succeeded",
        },
    }


_DEFAULT_OUTBOUND = (
    ("AllowVnetOutBound", "VirtualNetwork", "VirtualNetwork", "Allow", 65000,
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", "*", "Internet", "Allow", 65001,
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", "*", "*", "Deny", 65500, "Deny all outbound traffic"),
)  # fmt: skip
_DEFAULT_INBOUND = (
    ("AllowVnetInBound", "VirtualNetwork", "VirtualNetwork", "Allow", 65000,
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", "AzureLoadBalancer", "*", "Allow", 65001,
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", "*", "*", "Deny", 65500, "Deny all inbound traffic"),
)  # fmt: skip


def security_rule(
    name: str,
    priority: int,
    access: str,
    destination: str | list[str],
    ports: str | list[str] = "443",
    protocol: str = "Tcp",
    direction: str = "Outbound",
    source: str = "*",
) -> dict:
    """A securityRules entry; a list of destinations or ports uses the plural fields."""
    props: dict = {
        "provisioningState": "Succeeded",
        "protocol": protocol,
        "sourcePortRange": "*",
        "sourceAddressPrefix": source,
        "access": access,
        "priority": priority,
        "direction": direction,
    }
    if isinstance(destination, list):
        props["destinationAddressPrefixes"] = destination
    else:
        props["destinationAddressPrefix"] = destination
    if isinstance(ports, list):
        props["destinationPortRanges"] = ports
    else:
        props["destinationPortRange"] = ports
    return {"name": name, "properties": props}


def network_security_group(rg: str, name: str, rules: list[dict]) -> dict:
    """An NSG as GET returns it: its rules, and the six default rules every NSG has."""
    nid = network_id(rg, "networkSecurityGroups", name)

    def default(entry: tuple, direction: str) -> dict:
        rule, src, dst, access, priority, description = entry
        return {
            "name": rule,
            "id": f"{nid}/defaultSecurityRules/{rule}",
            "properties": {
                "provisioningState": "Succeeded",
                "description": description,
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": src,
                "destinationAddressPrefix": dst,
                "access": access,
                "priority": priority,
                "direction": direction,
            },
        }

    return {
        "id": nid,
        "name": name,
        "type": "Microsoft.Network/networkSecurityGroups",
        "location": "westeurope",
        "properties": {
            "provisioningState": "Succeeded",
            "securityRules": [{**r, "id": f"{nid}/securityRules/{r['name']}"} for r in rules],
            "defaultSecurityRules": [default(d, "Inbound") for d in _DEFAULT_INBOUND]
            + [default(d, "Outbound") for d in _DEFAULT_OUTBOUND],
        },
    }


def classic_collection(
    firewall: dict, kind: str, name: str, priority: int, action: str, rules: list[dict]
) -> None:
    """Add a classic `applicationRuleCollections` / `networkRuleCollections` entry to an
    azureFirewalls resource (and drop its policy: classic rules and a policy do not mix)."""
    props = firewall["properties"]
    props.pop("firewallPolicy", None)
    key = f"{kind}RuleCollections"
    props.setdefault(key, []).append(
        {
            "name": name,
            "id": f"{firewall['id']}/{key}/{name}",
            "properties": {
                "priority": priority,
                "action": {"type": action},
                "rules": rules,
                "provisioningState": "Succeeded",
            },
        }
    )


def classic_application_rule(
    name: str, fqdns: list[str], tags: list[str] | None = None, sources: list[str] | None = None
) -> dict:
    rule: dict = {
        "name": name,
        "protocols": [{"protocolType": "Https", "port": 443}],
        "sourceAddresses": sources or ["10.224.0.0/16"],
    }
    if fqdns:
        rule["targetFqdns"] = fqdns
    if tags:
        rule["fqdnTags"] = tags
    return rule


def classic_network_rule(
    name: str, destinations: list[str], ports: list[str], protocols: list[str] | None = None
) -> dict:
    return {
        "name": name,
        "sourceAddresses": ["10.224.0.0/16"],
        "destinationAddresses": destinations,
        "destinationPorts": ports,
        "protocols": protocols or ["TCP"],
    }


def arm_error(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


# ---- the fake --------------------------------------------------------------------------------


@dataclass
class Arm:
    """What the fake serves. `forbidden` holds lower-cased path prefixes answered with 403."""

    clusters: list[dict] = field(default_factory=list)
    pools: dict[str, list[dict]] = field(default_factory=dict)  # cluster id -> agent pools
    registries: list[dict] = field(default_factory=list)
    assignments: list[dict] = field(default_factory=list)
    roles: dict[str, dict] = field(default_factory=dict)  # GUID -> definition
    groups: dict[str, list[str]] = field(default_factory=dict)  # principal -> group object ids
    management_groups: list[str] = field(default_factory=list)  # ancestors of SUB
    service_principals: dict[str, str] = field(default_factory=dict)  # app id -> object id
    forbidden: set[str] = field(default_factory=set)
    assigned_to_filter: bool = True  # False: 400 for assignedTo(), as some clouds do
    graph_status: int = 200
    page_size: int = 2
    requests: list[str] = field(default_factory=list)
    network: dict[str, dict] = field(default_factory=dict)  # lower-cased id -> resource JSON
    fail_network: int = 0  # answer every Microsoft.Network read with this status (e.g. 500)
    stall: float = 0.0  # seconds every GET waits before its answer (until `released` is set)
    released: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        for guid, (name, permissions) in BUILT_IN.items():
            self.roles.setdefault(guid, role_definition(guid, name, permissions))

    def add_cluster(self, cluster: dict, pools: list[dict]) -> None:
        self.clusters.append(cluster)
        self.pools[cluster["id"].lower()] = pools

    def add_custom_role(self, name: str, permissions: dict) -> str:
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        self.roles[guid] = role_definition(guid, name, permissions, custom=True)
        return guid

    def add(self, *resources: dict) -> None:
        """Microsoft.Network resources (a VNet's subnets become resources of their own)."""
        for resource in resources:
            self.network[resource["id"].lower()] = resource
            for child in resource.get("properties", {}).get("subnets", []):
                self.network[child["id"].lower()] = child

    def network_reads(self) -> list[str]:
        return [r for r in self.requests if "/providers/microsoft.network/" in r.lower()]

    def assign(self, scope: str, role_guid: str, principal_id: str, **kw: object) -> None:
        self.assignments.append(role_assignment(scope, role_guid, principal_id, **kw))


def _covers(scope: str, target: str) -> bool:
    scope, target = scope.lower().rstrip("/"), target.lower().rstrip("/")
    return target == scope or target.startswith(scope + "/")


_CLUSTER = re.compile(
    r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.containerservice/"
    r"managedclusters/([^/]+)(/agentpools)?$"
)
_REGISTRIES = re.compile(
    r"^/subscriptions/([^/]+)/providers/microsoft\.containerregistry/registries$"
)
_REGISTRY = re.compile(
    r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.containerregistry/"
    r"registries/([^/]+)$"
)
_ASSIGNMENTS = re.compile(r"^(.*)/providers/microsoft\.authorization/roleassignments$")
_DEFINITION = re.compile(r"^.*/providers/microsoft\.authorization/roledefinitions/([^/]+)$")
_SUBSCRIPTION_LIST = re.compile(r"^/subscriptions/([^/]+)/providers/microsoft\.network/([^/]+)$")
_COLLECTIONS = {
    "virtualnetworks",
    "privatednszones",
    "virtualnetworklinks",
    "a",
    "azurefirewalls",
    "rulecollectiongroups",
}
_GRAPH_SP = re.compile(r"^/v1\.0/serviceprincipals\(appid='([^']+)'\)$")
_FILTER_PRINCIPAL = re.compile(r"^principalId eq '([^']+)'$", re.IGNORECASE)
_FILTER_ASSIGNED = re.compile(r"^assignedTo\('([^']+)'\)$", re.IGNORECASE)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    arm: Arm

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", "7c1e9a0b-3f2d-4c5b-9a8e-1d2c3b4a5f6e")
        self.end_headers()
        self.wfile.write(data)

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"https://{host}:{port}"

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.arm.stall:
            self.arm.released.wait(self.arm.stall)
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        low = path.lower()
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.arm.requests.append(
            f"GET {path}" + (f"?$filter={query['$filter']}" if "$filter" in query else "")
        )
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, arm_error("InvalidAuthenticationToken", "The access token is invalid."))
            return
        match = _GRAPH_SP.match(low)
        if match:
            self._graph(match.group(1))
            return
        if "api-version" not in query:
            self._send(
                400,
                arm_error(
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ),
            )
            return
        for prefix in self.arm.forbidden:
            if low.startswith(prefix):
                self._send(
                    403,
                    arm_error(
                        "AuthorizationFailed",
                        f"The client '{PIPELINE_OID}' with object id '{PIPELINE_OID}' does not"
                        f" have authorization to perform action over scope '{path}' or the scope"
                        " is invalid. If access was recently granted, please refresh your"
                        " credentials.",
                    ),
                )
                return
        self._route(path, low, query)

    def _route(self, path: str, low: str, query: dict) -> None:
        arm = self.arm
        if match := _CLUSTER.match(low):
            cid = low.removesuffix("/agentpools")
            found = next((c for c in arm.clusters if c["id"].lower() == cid), None)
            if found is None:
                self._send(
                    404,
                    arm_error(
                        "ResourceNotFound",
                        "The Resource 'Microsoft.ContainerService/managedClusters/"
                        f"{match.group(3)}' under resource group '{match.group(2)}' was not found.",
                    ),
                )
            elif match.group(4):
                self._list(arm.pools.get(cid, []), path, query)
            else:
                self._send(200, found)
        elif match := _REGISTRIES.match(low):
            sub = match.group(1)
            items = [
                r for r in arm.registries if r["id"].lower().startswith(f"/subscriptions/{sub}/")
            ]
            self._list(items, path, query)
        elif _REGISTRY.match(low):
            found = next((r for r in arm.registries if r["id"].lower() == low), None)
            if found is None:
                self._send(
                    404, arm_error("ResourceNotFound", f"The Resource '{path}' was not found.")
                )
            else:
                self._send(200, found)
        elif "/providers/microsoft.network/" in low and arm.fail_network:
            self._send(
                arm.fail_network,
                arm_error("InternalServerError", "An internal server error occurred."),
            )
        elif "/providers/microsoft.network/" in low:
            self._network(path, low, query)
        elif match := _ASSIGNMENTS.match(low):
            self._assignments(match.group(1), path, query)
        elif match := _DEFINITION.match(low):
            found = arm.roles.get(match.group(1))
            if found is None:
                self._send(
                    404,
                    arm_error(
                        "RoleDefinitionDoesNotExist",
                        "The specified role definition does not exist.",
                    ),
                )
            else:
                self._send(200, found)
        else:
            self._send(404, arm_error("InvalidResourceType", f"No route for '{path}'."))

    def _network(self, path: str, low: str, query: dict) -> None:
        """A Microsoft.Network resource by id, or a collection: the direct children of `path`,
        or (subscription-wide, `/subscriptions/S/providers/Microsoft.Network/TYPE`) every
        resource of that type in the subscription."""
        found = self.arm.network.get(low)
        if found is not None:
            self._send(200, found)
            return
        wide = _SUBSCRIPTION_LIST.match(low)
        if wide:
            sub, kind = wide.groups()
            items = [
                r
                for key, r in self.arm.network.items()
                if key.startswith(f"/subscriptions/{sub}/")
                and key.rsplit("/", 2)[-2] == kind
                and "/providers/microsoft.network/" in key
                and key.split("/providers/microsoft.network/", 1)[1].count("/") == 1
            ]
        else:
            items = [
                r
                for key, r in self.arm.network.items()
                if key.startswith(low + "/") and "/" not in key[len(low) + 1 :]
            ]
        if items or low.rsplit("/", 1)[-1] in _COLLECTIONS:
            self._list(items, path, query)
            return
        self._send(
            404,
            arm_error("ResourceNotFound", f"The Resource '{path}' was not found."),
        )

    def _list(self, items: list[dict], path: str, query: dict) -> None:
        start = int(query.get("$skiptoken", "0"))
        size = self.arm.page_size
        body: dict = {"value": items[start : start + size]}
        if start + size < len(items):
            rest = {k: v for k, v in query.items() if k != "$skiptoken"}
            rest["$skiptoken"] = str(start + size)
            body["nextLink"] = f"{self._base()}{path}?{urlencode(rest)}"
        self._send(200, body)

    def _assignments(self, scope: str, path: str, query: dict) -> None:
        text = query.get("$filter", "")
        principals: set[str] | None = None
        if match := _FILTER_ASSIGNED.match(text):
            if not self.arm.assigned_to_filter:
                self._send(
                    400,
                    arm_error("UnsupportedQuery", "The filter 'assignedTo' is not supported."),
                )
                return
            principal = match.group(1).lower()
            principals = {principal, *(g.lower() for g in self.arm.groups.get(principal, []))}
        elif match := _FILTER_PRINCIPAL.match(text):
            principals = {match.group(1).lower()}
        elif text.lower() != "atscope()" and text:
            self._send(400, arm_error("InvalidFilter", f"The filter '{text}' is not valid."))
            return

        def above(a_scope: str) -> bool:
            if a_scope.lower() in (m.lower() for m in self.arm.management_groups):
                return True
            return _covers(a_scope, scope)

        found = []
        for a in self.arm.assignments:
            a_scope = a["properties"]["scope"]
            if principals is None:
                keep = above(a_scope)
            else:
                keep = a["properties"]["principalId"].lower() in principals and (
                    above(a_scope) or _covers(scope, a_scope)
                )
            if keep:
                found.append(a)
        self._list(found, path, query)

    def _graph(self, app_id: str) -> None:
        if self.arm.graph_status != 200:
            self._send(
                self.arm.graph_status,
                {
                    "error": {
                        "code": "Authorization_RequestDenied",
                        "message": "Insufficient privileges to complete the operation.",
                    }
                },
            )
            return
        found = self.arm.service_principals.get(app_id)
        if found is None:
            self._send(
                404,
                {
                    "error": {
                        "code": "Request_ResourceNotFound",
                        "message": f"Resource '{app_id}' does not exist.",
                    }
                },
            )
            return
        self._send(
            200,
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id)/$entity",
                "id": found,
            },
        )


# ---- TLS, credential, server ----------------------------------------------------------------


class StaticCredential:
    """A TokenCredential with one fixed token; records the scopes asked for."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: object = None) -> AccessTokenInfo:
        self.scopes.append(scopes)
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


@dataclass
class ArmServer:
    url: str
    ca_file: Path
    arm: Arm


def arm_session(server: ArmServer, **overrides: object) -> ArmSession:
    """pullgate's ARM session against the fake (ARM and Graph), as the tests use it: a static
    token, the fake's CA, 5 s timeouts, no retries; `overrides` for the rest."""
    settings: dict = {
        "credential": StaticCredential(),
        "base_url": server.url,
        "graph_url": server.url,
        "verify": str(server.ca_file),
        "timeout": 5,
        "retries": 0,
        **overrides,
    }
    return ArmSession(CLOUDS["AzureCloud"], **settings)


@contextmanager
def serve_arm(arm: Arm, tls: TLSFiles) -> Iterator[ArmServer]:
    handler = type("Handler", (_Handler,), {"arm": arm})
    with serve_https(handler, tls) as url:
        yield ArmServer(url, tls.ca_file, arm)


# ---- ACR's token endpoints in front of the real registry's token issuer --------------------


class AcrAuthFront:
    """ACR's `/oauth2/exchange` and `/oauth2/token` (HTTPS) in front of the tests' token issuer
    (registry_server.TokenServer), used as the registry's token realm.

    - `POST /oauth2/exchange` (grant_type=access_token): an Entra token equal to `entra_token`
      gets an ACR refresh token that stands for token-server user `user`.
    - `POST /oauth2/token` (grant_type=refresh_token): a known refresh token gets a repository
      token, issued by the real TokenServer as that user (so the registry trusts it).
    - `GET /oauth2/token` with Basic auth: passed to the TokenServer (the fixtures push so).
    """

    def __init__(self, inner: object, user: tuple[str, str], entra_token: str, tls: object) -> None:
        self.inner = inner
        self.user = user
        self.entra_token = entra_token
        self.tls = tls
        self.exchanges: list[dict] = []
        self.grants: list[dict] = []
        self._refresh: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # what start_registry reads from a token server
    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self.port}/oauth2/token"

    @property
    def service(self) -> str:
        return self.inner.service

    @property
    def issuer(self) -> str:
        return self.inner.issuer

    @property
    def cert_file(self) -> Path:
        return self.inner.cert_file

    def add_user(self, name: str, password: str, admin: bool = False) -> None:
        self.inner.add_user(name, password, admin=admin)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def exchange_url(self, host: str) -> str:
        return f"https://127.0.0.1:{self.port}/oauth2/exchange"

    def start(self) -> AcrAuthFront:
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                if url.path != "/oauth2/token":
                    self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
                    return
                self._reply(
                    *front.inner.issue(parse_qs(url.query), self.headers.get("Authorization"))
                )

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = urlsplit(self.path).path
                if path == "/oauth2/exchange":
                    self._reply(*front.exchange(form))
                elif path == "/oauth2/token":
                    self._reply(*front.token(form))
                else:
                    self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def reset(self, entra_token: str) -> None:
        with self._lock:
            self.entra_token = entra_token
            self.exchanges.clear()
            self.grants.clear()
            self._refresh.clear()

    @property
    def refresh_tokens(self) -> list[str]:
        with self._lock:
            return list(self._refresh)

    def exchange(self, form: dict[str, str]) -> tuple[int, dict]:
        ok = (
            form.get("grant_type") == "access_token"
            and form.get("access_token") == self.entra_token
        )
        with self._lock:
            self.exchanges.append({"service": form.get("service"), "ok": ok})
            if not ok:
                return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid AAD token"}]}
            refresh = f"acr-refresh-{uuid.uuid4().hex}"
            self._refresh[refresh] = self.user
        return 200, {"refresh_token": refresh}

    def token(self, form: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            user = self._refresh.get(form.get("refresh_token", ""))
            self.grants.append({"scope": form.get("scope"), "ok": user is not None})
        if form.get("grant_type") != "refresh_token" or user is None:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid refresh token"}]}
        basic = base64.b64encode(f"{user[0]}:{user[1]}".encode()).decode()
        status, body = self.inner.issue(
            {"scope": [form.get("scope", "")], "service": [form.get("service", "")]},
            f"Basic {basic}",
        )
        return status, {"access_token": body.get("access_token")} if status == 200 else body

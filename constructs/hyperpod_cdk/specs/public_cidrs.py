"""How open a public endpoint's CIDR list is: one rule for the config check and the lint rule pack.

The EKS public endpoint (``eks.public_access_cidrs``, HyperPod-EKS1) may accept at most a /8 of IPv4 or
a /16 of IPv6 addresses in total, judged on the union of the list.
"""

from __future__ import annotations

import ipaddress

# The most addresses the public endpoint may accept per family: a /8 of IPv4 (or /16 of IPv6). Judged on
# the union, so 0.0.0.0/1 + 128.0.0.0/1 (the whole IPv4 internet in two halves) is open too (review
# round 8, tools, L6: only a literal /0 counted).
MAX_OPEN_ADDRESSES = {4: 2**24, 6: 2**112}


def open_cidrs(cidrs: list[object]) -> list[str]:
    """The CIDRs of each family whose union covers more than :data:`MAX_OPEN_ADDRESSES` (or say /0)."""
    families: dict[int, list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]] = {4: [], 6: []}
    unreadable = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            if str(cidr).strip().endswith("/0"):
                unreadable.append(str(cidr))
            continue
        families[network.version].append((str(cidr), network))
    found = unreadable
    for version, members in families.items():
        networks = [network for _, network in members]
        union = ipaddress.collapse_addresses(networks)  # type: ignore[type-var]  # one family per call
        if sum(network.num_addresses for network in union) > MAX_OPEN_ADDRESSES[version]:
            # Name the /0 when there is one (the usual mistake), else every CIDR of the family.
            everything = [text for text, network in members if network.prefixlen == 0]
            found += everything or [text for text, _ in members]
    return found

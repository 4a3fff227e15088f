"""Kubernetes object names (DNS-1123), checked the same way by the config, the charts and the validator.

https://kubernetes.io/docs/concepts/overview/working-with-objects/names/: a label (namespaces,
volume names) is at most 63 characters of ``[a-z0-9-]`` starting and ending alphanumeric; a
subdomain (most other objects) is at most 253 characters of such parts joined by dots.
"""

from __future__ import annotations

import re

__all__ = ["DNS_LABEL_PATTERN", "DNS_SUBDOMAIN", "DNS_SUBDOMAIN_PATTERN", "is_dns_label", "is_dns_subdomain"]

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN_PATTERN)


def is_dns_label(value: object) -> bool:
    """A string of at most 63 characters matching :data:`DNS_LABEL_PATTERN`."""
    return isinstance(value, str) and len(value) <= 63 and DNS_LABEL.match(value) is not None


def is_dns_subdomain(value: object) -> bool:
    """A string of at most 253 characters matching :data:`DNS_SUBDOMAIN_PATTERN`."""
    return isinstance(value, str) and len(value) <= 253 and DNS_SUBDOMAIN.match(value) is not None

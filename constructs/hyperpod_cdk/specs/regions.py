"""Which AWS regions exist, from the endpoint data botocore ships (offline, no API call)."""

from __future__ import annotations

from functools import cache


@cache
def known_regions() -> frozenset[str]:
    """Every region of every partition in botocore's ``endpoints.json``.

    A region newer than the installed botocore is missing until boto3 is upgraded; the error
    message says so.
    """
    from botocore.loaders import Loader

    data = Loader().load_data("endpoints")
    return frozenset(region for partition in data["partitions"] for region in partition["regions"])


def known_region(region: str) -> bool:
    return region in known_regions()

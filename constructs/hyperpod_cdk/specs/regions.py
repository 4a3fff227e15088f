"""Which AWS regions exist, from the endpoint data botocore ships (offline, no API call), and where
Amazon Managed Grafana is offered."""

from __future__ import annotations

from functools import cache

# Where AWS's own observability template creates Amazon Managed Grafana (AMGRegionMapping in
# aws/sagemaker-hyperpod-cluster-setup eks/cloudformation/observability-template.yaml @0ab564d7;
# awslabs/awsome-distributed-ai's observability module uses the same nine).
GRAFANA_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "ap-northeast-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
    }
)


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

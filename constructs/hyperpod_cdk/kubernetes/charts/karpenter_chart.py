"""The Kubernetes objects HyperPod's managed Karpenter needs: a ``HyperpodNodeClass`` and a ``NodePool``.

HyperPod installs and runs the Karpenter controller itself once ``AutoScaling`` is enabled on the
cluster, but ships no node class or node pool
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling.html):

* ``HyperpodNodeClass`` (``karpenter.sagemaker.amazonaws.com/v1``) lists the instance groups
  Karpenter may scale, at most 10; groups must already exist in the cluster
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-nodeclass.html).
  Spot groups are tried before On-Demand groups of the same class, so listing both gives the
  documented On-Demand fallback
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-spot.html).
* ``NodePool`` (``karpenter.sh/v1``) references the class. HyperPod's provider honours only the
  ``node.kubernetes.io/instance-type``, ``topology.kubernetes.io/zone`` and ``kubernetes.io/arch``
  requirements (amd64 only), so the pool narrows nothing beyond the class
  (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-nodepool.html).

Both can only be applied once the cluster's ``AutoScaling.Status`` is ``InService``, which installs
the CRDs: the platform waits for the ``hyperpodnodeclasses`` CRD before applying this chart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import cdk8s
from constructs import Construct

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.api_object import api_object
from hyperpod_cdk.specs.kubernetes_names import is_dns_label

__all__ = ["NODE_CLASS_API_VERSION", "NODE_CLASS_CRD", "NODE_POOL_API_VERSION", "KarpenterChart"]

NODE_CLASS_API_VERSION = "karpenter.sagemaker.amazonaws.com/v1"
NODE_CLASS_KIND = "HyperpodNodeClass"
NODE_POOL_API_VERSION = "karpenter.sh/v1"
#: The CRD HyperPod installs with autoscaling; its presence means the NodeClass can be applied.
NODE_CLASS_CRD = "hyperpodnodeclasses.karpenter.sagemaker.amazonaws.com"
MAX_GROUPS = 10
_DURATION = re.compile(r"^([0-9]+(s|m|h))+$|^Never$")


class KarpenterChart(cdk8s.Chart):
    """One ``HyperpodNodeClass`` over ``instance_groups`` and one ``NodePool`` drawing from it.

    Defaults suit training: nodes never expire (``expireAfter: Never``, as AWS's NodePool sample),
    and Karpenter only removes empty nodes (``WhenEmpty``) after ``consolidate_after`` (2 minutes,
    the upper end AWS suggests so Spot interruptions and scale-in evict pods gracefully), so it
    never consolidates a node that still runs a training pod.

    Args:
        instance_groups: names of the HyperPod instance groups Karpenter scales (1-10).
        name: name of the node class and the node pool. Default ``hyperpod``.
        consolidate_after: how long a node stays empty before Karpenter removes it. Default ``2m``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        instance_groups: Sequence[str],
        name: str = "hyperpod",
        consolidate_after: str = "2m",
    ) -> None:
        groups = list(instance_groups)
        if not 1 <= len(groups) <= MAX_GROUPS:
            raise HyperPodConfigError(
                "karpenter.instance_groups", f"a HyperpodNodeClass takes 1 to {MAX_GROUPS} groups, got {len(groups)}"
            )
        if len(set(groups)) != len(groups):
            raise HyperPodConfigError("karpenter.instance_groups", "list each instance group once")
        if not is_dns_label(name):
            raise HyperPodConfigError("karpenter.name", f"{name!r} is not a valid Kubernetes name")
        if not isinstance(consolidate_after, str) or not _DURATION.match(consolidate_after):
            raise HyperPodConfigError(
                "karpenter.consolidate_after", f"{consolidate_after!r} is not a duration such as 2m, 30s or Never"
            )
        super().__init__(
            scope, id, labels={"app.kubernetes.io/managed-by": "hyperpod-cdk"}, disable_resource_name_hashes=True
        )
        self.name = name
        metadata = {"name": name}
        node_class_spec = {"spec": {"instanceGroups": groups}}
        node_class = api_object(self, "NodeClass", NODE_CLASS_API_VERSION, NODE_CLASS_KIND, metadata, node_class_spec)
        node_pool = api_object(
            self,
            "NodePool",
            NODE_POOL_API_VERSION,
            "NodePool",
            metadata,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "nodeClassRef": {
                                "group": NODE_CLASS_API_VERSION.split("/")[0],
                                "kind": NODE_CLASS_KIND,
                                "name": name,
                            },
                            "expireAfter": "Never",
                            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "Exists"}],
                        },
                    },
                    "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": consolidate_after},
                }
            },
        )
        node_pool.add_dependency(node_class)

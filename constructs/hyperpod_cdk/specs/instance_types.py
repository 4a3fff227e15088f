"""Per-instance-type facts used to size HyperPod subnets (pure data, no AWS calls).

How many IPv4 addresses one HyperPod node takes from its subnet
-----------------------------------------------------------------
The HyperPod prerequisites page ("Setting up SageMaker HyperPod with a custom Amazon VPC")
states that a P5 instance creates 32 IP addresses on a Slurm-orchestrated cluster ("one per
network card") and 81 on an EKS-orchestrated cluster ("50 from the primary card plus one from
each of the remaining 31 cards"), pointing to the EC2 network specifications for other types:
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-prerequisites.html#sagemaker-hyperpod-prerequisites-optional-vpc

Generalising that statement gives the model used here::

    Slurm: network_cards
    EKS:   ipv4_per_interface + (network_cards - 1)

On Slurm each network card carries one interface with one address. On EKS the Amazon VPC CNI
also fills the primary interface (card 0) with secondary addresses for pods, up to the
instance type's "IPv4 addresses per interface"; the other cards still take one address each.
For ml.p5.48xlarge (32 network cards, 50 IPv4 addresses per interface) this gives exactly the
documented 32 and 50 + 31 = 81. For a single-card type it gives 1 (Slurm) and
``ipv4_per_interface`` (EKS).

This is the per-node figure the HyperPod documentation plans with. The VPC CNI can attach
further interfaces to card 0 when a node runs more pods than one interface can address, each
adding up to ``ipv4_per_interface`` addresses, so leave headroom in a subnet that will carry
dense pod packing.

Where the numbers come from
---------------------------
``data/instance_types.json`` holds one row per HyperPod instance type: every ``ml.*`` type
cfn-lint lists for ``AWS::SageMaker::Cluster`` in any region (``data/hyperpod_instance_types.json``,
the vendored copy of its per-region enum), plus ``ml.p5e.48xlarge``. Its ``_sources`` key names
the source of each column:

* Network cards and IPv4 addresses per interface: the table the Amazon VPC CNI generates from
  EC2 DescribeInstanceTypes (``_VPC_CNI_LIMITS``); it agrees with the EC2 instance-type network
  specifications (https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html#ac_network and the
  gp/co/mo/so pages) for every type that was checked by hand.
* EFA interfaces, accelerator kind and count, chip: Karpenter's instance-type reference, also
  generated from DescribeInstanceTypes (``_KARPENTER_TYPES``). ``ml.trn2.3xlarge`` is missing
  there and was filled in from the EC2 specification pages.
* Deep health checks: the HyperPod deep health check pages list every check as applying to
  "GPU" and/or "Trainium" instance types, and the HyperPod EKS prerequisites say deep health
  checks support GPU and Trn instances; Inferentia and CPU types get none,
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-deep-health-checks.html
  and
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-resiliency-slurm-deep-health-checks.html

``tests/test_instance_specs.py`` fails when cfn-lint lists a type this table lacks.

An ``ml.X`` SageMaker type has the network hardware of the EC2 type ``X``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

__all__ = [
    "INSTANCE_SPECS",
    "InstanceSpec",
    "Orchestrator",
    "ips_per_node",
    "is_arm64",
    "spec_for",
    "supports_deep_health_checks",
]

DATA = Path(__file__).resolve().parent / "data" / "instance_types.json"
HYPERPOD_VPC_DOC = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-prerequisites.html"
    "#sagemaker-hyperpod-prerequisites-optional-vpc"
)
DEEP_HEALTH_CHECK_DOCS = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-deep-health-checks.html",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-resiliency-slurm-deep-health-checks.html",
)
_VPC_CNI_LIMITS = (
    "https://github.com/aws/amazon-vpc-cni-k8s/blob/b52188387f2e2f10bf289ace929d6a63b176a4fa/"
    "pkg/vpc/vpc_ip_resource_limit.go"
)
_KARPENTER_TYPES = (
    "https://github.com/aws/karpenter-provider-aws/blob/1d927085dd81a9df9301e613f371dac5b4d16bfe/"
    "website/content/en/preview/reference/instance-types.md"
)

Accelerator = Literal["nvidia", "neuron"]
_ACCELERATORS: frozenset[str] = frozenset({"nvidia", "neuron"})

# Families the deep health check docs cover (GPU: P and G; Trainium: trn), used only for
# instance types missing from INSTANCE_SPECS.
_ACCELERATED_FAMILY = re.compile(r"^ml\.(?:p|g|gr|trn)\d")
# EC2 names AWS Graviton (arm64) families with a "g" after the generation digit (c7g, m8g ...):
# https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html
_GRAVITON_FAMILY = re.compile(r"^ml\.[a-z]+\d+g[a-z]*\.")


class Orchestrator(str, Enum):
    """The HyperPod cluster orchestrator."""

    EKS = "eks"
    SLURM = "slurm"


@dataclass(frozen=True)
class InstanceSpec:
    """Network and accelerator facts for one SageMaker HyperPod instance type."""

    network_cards: int
    ipv4_per_interface: int
    accelerator: str | None  # "nvidia", "neuron" or None
    accelerators: int  # GPUs or Neuron devices; 0 for CPU types
    efa: int  # EFA interfaces (the vpc.amazonaws.com/efa a node offers pods); 0 without EFA
    source: str  # URL the network numbers come from
    chip: str | None = None  # "h100", "trainium2", "inferentia2" ...; None for CPU types

    def __post_init__(self) -> None:
        if self.network_cards < 1:
            raise ValueError(f"network_cards must be at least 1, got {self.network_cards}")
        if self.ipv4_per_interface < 1:
            raise ValueError(f"ipv4_per_interface must be at least 1, got {self.ipv4_per_interface}")
        if self.accelerator is not None and self.accelerator not in _ACCELERATORS:
            raise ValueError(f"accelerator must be 'nvidia', 'neuron' or None, got {self.accelerator!r}")
        if (self.accelerator is None) != (self.accelerators == 0) or self.accelerators < 0:
            raise ValueError(f"accelerators={self.accelerators} does not fit accelerator={self.accelerator!r}")
        if not 0 <= self.efa <= self.network_cards:
            raise ValueError(f"efa must be between 0 and network_cards ({self.network_cards}), got {self.efa}")
        if not self.source.startswith("https://"):
            raise ValueError(f"source must be an https URL, got {self.source!r}")

    def ips_per_node(self, orchestrator: Orchestrator) -> int:
        """IPv4 addresses one node takes from its subnet (see the module docstring)."""
        if Orchestrator(orchestrator) is Orchestrator.SLURM:
            return self.network_cards
        return self.ipv4_per_interface + (self.network_cards - 1)

    @property
    def deep_health_checks(self) -> bool:
        """GPU and Trainium types get HyperPod deep health checks; Inferentia and CPU types do not."""
        if self.accelerator == "nvidia":
            return True
        return self.accelerator == "neuron" and (self.chip or "").startswith("trainium")


def _row(name: str, row: Mapping[str, Any]) -> InstanceSpec:
    kind = row["accelerator"]
    return InstanceSpec(
        network_cards=int(row["network_cards"]),
        ipv4_per_interface=int(row["ipv4_per_interface"]),
        # Trainium and Inferentia are both AWS Neuron devices (aws.amazon.com/neuron).
        accelerator={"nvidia": "nvidia", "trainium": "neuron", "inferentia": "neuron", None: None}[kind],
        accelerators=int(row["accelerators"]),
        efa=int(row["efa"]),
        # The one type whose per-node IP counts the HyperPod docs state (32 Slurm / 81 EKS).
        source=HYPERPOD_VPC_DOC if name == "ml.p5.48xlarge" else _VPC_CNI_LIMITS,
        chip=row.get("chip"),
    )


def _load() -> dict[str, InstanceSpec]:
    rows = json.loads(DATA.read_text(encoding="utf-8"))["types"]
    return {name: _row(name, row) for name, row in sorted(rows.items())}


INSTANCE_SPECS: Mapping[str, InstanceSpec] = MappingProxyType(_load())


def is_arm64(instance_type: str) -> bool:
    """Whether ``instance_type`` is an AWS Graviton (arm64) type, by its family name."""
    return _GRAVITON_FAMILY.match(instance_type) is not None


def spec_for(instance_type: str) -> InstanceSpec | None:
    """The spec for a SageMaker instance type such as ``ml.p5.48xlarge``, or None if unknown."""
    return INSTANCE_SPECS.get(instance_type)


def _unknown_type_message(instance_type: str) -> str:
    hint = ""
    if not instance_type.startswith("ml.") and f"ml.{instance_type}" in INSTANCE_SPECS:
        hint = f" (HyperPod types carry the ml. prefix: did you mean 'ml.{instance_type}'?)"
    else:
        close = difflib.get_close_matches(instance_type, list(INSTANCE_SPECS), n=3, cutoff=0.75)
        if close:
            hint = " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
    return (
        f"no IP sizing data for instance type '{instance_type}'{hint} (the {len(INSTANCE_SPECS)} known types "
        "are in hyperpod_cdk/specs/data/instance_types.json). For another type, work the count out from its "
        f"EC2 network specifications (Slurm: network cards; EKS: IPv4 addresses per interface + network cards - 1), "
        f"see {HYPERPOD_VPC_DOC}"
    )


def ips_per_node(instance_type: str, orchestrator: Orchestrator) -> int:
    """IPv4 addresses one node of ``instance_type`` takes from its subnet.

    Raises KeyError naming the type when it is not in INSTANCE_SPECS.
    """
    spec = spec_for(instance_type)
    if spec is None:
        raise KeyError(_unknown_type_message(instance_type))
    return spec.ips_per_node(orchestrator)


def supports_deep_health_checks(instance_type: str) -> bool:
    """Whether HyperPod deep health checks apply: GPU (NVIDIA) and Trainium types only.

    Every check in the HyperPod deep health check docs (DEEP_HEALTH_CHECK_DOCS) is marked as
    compatible with "GPU" and/or "Trainium" instance types. Types missing from INSTANCE_SPECS
    are judged by family (ml.p*, ml.g*, ml.gr*, ml.trn*).
    """
    spec = spec_for(instance_type)
    if spec is not None:
        return spec.deep_health_checks
    return _ACCELERATED_FAMILY.match(instance_type) is not None

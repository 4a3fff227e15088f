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
* Network cards and IPv4 addresses per interface: the EC2 instance-type network
  specifications,
  https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html#ac_network (accelerated),
  https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html#gp_network (general purpose),
  https://docs.aws.amazon.com/ec2/latest/instancetypes/co.html#co_network (compute optimized).
  For p4d, p4de, trn1, trn1n, g5, m5, c5 and t3 the values were read from the EC2 User Guide
  tables "Network cards" and "IP addresses per network interface per instance type"
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-eni.html; the mid-2023 copy
  published in github.com/awsdocs/amazon-ec2-user-guide, doc_source/using-eni.md at commit
  e3707c431483ec0ffffcabebd36cf799ba682cd0). Types released after that copy (p5e, p5en,
  p6-b200, trn2, g6, g6e) come from the table the Amazon VPC CNI generates from EC2
  DescribeInstanceTypes (``_VPC_CNI_LIMITS`` below); their ``source`` is that file. All rows
  were cross-checked against that table and agree.
* Accelerator and EFA counts: ``INSTANCE_RESOURCES`` in AWS's sagemaker-hyperpod package
  (github.com/aws/sagemaker-hyperpod-cli, src/sagemaker/hyperpod/training/constants.py,
  version 3.12.0), keyed by the same ``ml.*`` names; the EC2 EFA guide says one EFA per network
  card on multi-card types (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/efa.html), and
  every EFA count here equals the card count on multi-card types. The older EC2 accelerated
  computing and EFA pages (same awsdocs commit) agree for g5, p4d, p4de, trn1 and trn1n, and
  list no plain m5 or c5 size as EFA-capable.
* Deep health checks: the HyperPod deep health check pages list every check as applying to
  "GPU" and/or "Trainium" instance types,
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-deep-health-checks.html
  and
  https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-resiliency-slurm-deep-health-checks.html

An ``ml.X`` SageMaker type has the network hardware of the EC2 type ``X``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Literal

__all__ = [
    "INSTANCE_SPECS",
    "InstanceSpec",
    "Orchestrator",
    "ips_per_node",
    "spec_for",
    "supports_deep_health_checks",
]

HYPERPOD_VPC_DOC = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-prerequisites.html"
    "#sagemaker-hyperpod-prerequisites-optional-vpc"
)
DEEP_HEALTH_CHECK_DOCS = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-deep-health-checks.html",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-resiliency-slurm-deep-health-checks.html",
)
_EC2_ACCELERATED = "https://docs.aws.amazon.com/ec2/latest/instancetypes/ac.html#ac_network"
_EC2_GENERAL_PURPOSE = "https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html#gp_network"
_EC2_COMPUTE_OPTIMIZED = "https://docs.aws.amazon.com/ec2/latest/instancetypes/co.html#co_network"
_VPC_CNI_LIMITS = (
    "https://github.com/aws/amazon-vpc-cni-k8s/blob/6152e01c83bb8f04fdc8690e99134ebe1445db29/"
    "pkg/vpc/vpc_ip_resource_limit.go"
)

Accelerator = Literal["nvidia", "neuron"]
_ACCELERATORS: frozenset[str] = frozenset({"nvidia", "neuron"})

# Families the deep health check docs cover (GPU: P and G; Trainium: trn), used only for
# instance types missing from INSTANCE_SPECS.
_ACCELERATED_FAMILY = re.compile(r"^ml\.(?:p|g|gr|trn)\d")


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

    def __post_init__(self) -> None:
        if self.network_cards < 1:
            raise ValueError(f"network_cards must be at least 1, got {self.network_cards}")
        if self.ipv4_per_interface < 1:
            raise ValueError(f"ipv4_per_interface must be at least 1, got {self.ipv4_per_interface}")
        if self.accelerator is not None and self.accelerator not in _ACCELERATORS:
            raise ValueError(f"accelerator must be 'nvidia', 'neuron' or None, got {self.accelerator!r}")
        if (self.accelerator is None) != (self.accelerators == 0) or self.accelerators < 0:
            raise ValueError(
                f"accelerators={self.accelerators} does not fit accelerator={self.accelerator!r}"
            )
        if not 0 <= self.efa <= self.network_cards:
            raise ValueError(
                f"efa must be between 0 and network_cards ({self.network_cards}), got {self.efa}"
            )
        if not self.source.startswith("https://"):
            raise ValueError(f"source must be an https URL, got {self.source!r}")

    def ips_per_node(self, orchestrator: Orchestrator) -> int:
        """IPv4 addresses one node takes from its subnet (see the module docstring)."""
        if Orchestrator(orchestrator) is Orchestrator.SLURM:
            return self.network_cards
        return self.ipv4_per_interface + (self.network_cards - 1)


def _spec(
    cards: int, ipv4: int, accelerator: Accelerator | None, accelerators: int, efa: int, source: str
) -> InstanceSpec:
    return InstanceSpec(
        network_cards=cards,
        ipv4_per_interface=ipv4,
        accelerator=accelerator,
        accelerators=accelerators,
        efa=efa,
        source=source,
    )


def _single_card_family(
    family: str,
    rows: Mapping[str, tuple[int, int, int]],
    accelerator: Accelerator | None,
    source: str,
) -> dict[str, InstanceSpec]:
    """``rows`` maps size -> (ipv4_per_interface, accelerators, efa) for one-card sizes."""
    return {
        f"ml.{family}.{size}": _spec(1, ipv4, accelerator, count, efa, source)
        for size, (ipv4, count, efa) in rows.items()
    }


_SPECS: dict[str, InstanceSpec] = {
    # NVIDIA P family.
    "ml.p4d.24xlarge": _spec(4, 50, "nvidia", 8, 4, _EC2_ACCELERATED),
    "ml.p4de.24xlarge": _spec(4, 50, "nvidia", 8, 4, _EC2_ACCELERATED),
    # The one type with numbers stated in the HyperPod docs: 32 (Slurm) / 81 (EKS).
    "ml.p5.48xlarge": _spec(32, 50, "nvidia", 8, 32, HYPERPOD_VPC_DOC),
    "ml.p5e.48xlarge": _spec(32, 50, "nvidia", 8, 32, _VPC_CNI_LIMITS),
    "ml.p5en.48xlarge": _spec(16, 50, "nvidia", 8, 16, _VPC_CNI_LIMITS),
    "ml.p6-b200.48xlarge": _spec(8, 50, "nvidia", 8, 8, _VPC_CNI_LIMITS),
    # AWS Trainium.
    "ml.trn1.32xlarge": _spec(8, 50, "neuron", 16, 8, _EC2_ACCELERATED),
    "ml.trn1n.32xlarge": _spec(16, 50, "neuron", 16, 16, _EC2_ACCELERATED),
    "ml.trn2.48xlarge": _spec(16, 50, "neuron", 16, 16, _VPC_CNI_LIMITS),
    # NVIDIA G family: (ipv4_per_interface, GPUs, EFA); one network card unless noted.
    **_single_card_family(
        "g5",
        {
            "xlarge": (15, 1, 0),
            "2xlarge": (15, 1, 0),
            "4xlarge": (30, 1, 0),
            "8xlarge": (30, 1, 1),
            "12xlarge": (50, 4, 1),
            "16xlarge": (30, 1, 1),
            "24xlarge": (50, 4, 1),
            "48xlarge": (50, 8, 1),
        },
        "nvidia",
        _EC2_ACCELERATED,
    ),
    **_single_card_family(
        "g6",
        {
            "xlarge": (15, 1, 0),
            "2xlarge": (15, 1, 0),
            "4xlarge": (30, 1, 0),
            "8xlarge": (30, 1, 1),
            "12xlarge": (30, 4, 1),
            "16xlarge": (50, 1, 1),
            "24xlarge": (50, 4, 1),
            "48xlarge": (50, 8, 1),
        },
        "nvidia",
        _VPC_CNI_LIMITS,
    ),
    **_single_card_family(
        "g6e",
        {
            "xlarge": (15, 1, 0),
            "2xlarge": (15, 1, 0),
            "4xlarge": (30, 1, 0),
            "8xlarge": (30, 1, 1),
            "12xlarge": (30, 4, 1),
            "16xlarge": (50, 1, 1),
        },
        "nvidia",
        _VPC_CNI_LIMITS,
    ),
    "ml.g6e.24xlarge": _spec(2, 50, "nvidia", 4, 2, _VPC_CNI_LIMITS),
    "ml.g6e.48xlarge": _spec(4, 50, "nvidia", 8, 4, _VPC_CNI_LIMITS),
    # CPU types (controller, login and utility groups): one card, no EFA.
    **_single_card_family(
        "m5",
        {
            "large": (10, 0, 0),
            "xlarge": (15, 0, 0),
            "2xlarge": (15, 0, 0),
            "4xlarge": (30, 0, 0),
            "8xlarge": (30, 0, 0),
            "12xlarge": (30, 0, 0),
            "16xlarge": (50, 0, 0),
            "24xlarge": (50, 0, 0),
        },
        None,
        _EC2_GENERAL_PURPOSE,
    ),
    **_single_card_family(
        "c5",
        {
            "large": (10, 0, 0),
            "xlarge": (15, 0, 0),
            "2xlarge": (15, 0, 0),
            "4xlarge": (30, 0, 0),
            "9xlarge": (30, 0, 0),
            "12xlarge": (30, 0, 0),
            "18xlarge": (50, 0, 0),
            "24xlarge": (50, 0, 0),
        },
        None,
        _EC2_COMPUTE_OPTIMIZED,
    ),
    **_single_card_family(
        "t3",
        {
            "medium": (6, 0, 0),
            "large": (12, 0, 0),
            "xlarge": (15, 0, 0),
            "2xlarge": (15, 0, 0),
        },
        None,
        _EC2_GENERAL_PURPOSE,
    ),
}

INSTANCE_SPECS: Mapping[str, InstanceSpec] = MappingProxyType(dict(sorted(_SPECS.items())))


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
        f"no IP sizing data for instance type '{instance_type}'{hint}. Known types: "
        f"{', '.join(INSTANCE_SPECS)}. For another type, work the count out from its EC2 network "
        f"specifications (Slurm: network cards; EKS: IPv4 addresses per interface + network cards - 1), "
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
        return spec.accelerator is not None
    return _ACCELERATED_FAMILY.match(instance_type) is not None

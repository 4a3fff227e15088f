"""Tests for hyperpod_cdk.specs.instance_types (per-type IP sizing data)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hyperpod_cdk.specs.instance_types import (
    HYPERPOD_VPC_DOC,
    INSTANCE_SPECS,
    InstanceSpec,
    Orchestrator,
    ips_per_node,
    spec_for,
    supports_deep_health_checks,
)

KEY_PATTERN = re.compile(r"^ml\.[a-z0-9-]+\.([0-9]*x?large|medium)$")

# The types the brief asks for; every one of them was confirmed, so all must be present.
REQUIRED_TYPES = [
    "ml.p4d.24xlarge",
    "ml.p4de.24xlarge",
    "ml.p5.48xlarge",
    "ml.p5e.48xlarge",
    "ml.p5en.48xlarge",
    "ml.p6-b200.48xlarge",
    "ml.trn1.32xlarge",
    "ml.trn1n.32xlarge",
    "ml.trn2.48xlarge",
    *(
        f"ml.{f}.{s}"
        for f in ("g5", "g6", "g6e")
        for s in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
    ),
    *(f"ml.m5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge")),
    *(f"ml.c5.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge")),
    *(f"ml.t3.{s}" for s in ("medium", "large", "xlarge", "2xlarge")),
]


def test_p5_matches_hyperpod_documentation() -> None:
    # HyperPod prerequisites, custom VPC section: 32 IPs per P5 on Slurm, 81 (50 + 31) on EKS.
    assert ips_per_node("ml.p5.48xlarge", Orchestrator.EKS) == 81
    assert ips_per_node("ml.p5.48xlarge", Orchestrator.SLURM) == 32
    spec = INSTANCE_SPECS["ml.p5.48xlarge"]
    assert (spec.network_cards, spec.ipv4_per_interface) == (32, 50)
    assert spec.source == HYPERPOD_VPC_DOC


@pytest.mark.parametrize("instance_type", sorted(INSTANCE_SPECS))
def test_formula_consistent_for_every_row(instance_type: str) -> None:
    spec = INSTANCE_SPECS[instance_type]
    assert spec.ips_per_node(Orchestrator.SLURM) == spec.network_cards
    assert spec.ips_per_node(Orchestrator.EKS) == spec.ipv4_per_interface + spec.network_cards - 1
    assert ips_per_node(instance_type, Orchestrator.EKS) == spec.ips_per_node(Orchestrator.EKS)
    assert ips_per_node(instance_type, Orchestrator.SLURM) == spec.ips_per_node(Orchestrator.SLURM)
    # EKS never needs fewer addresses than Slurm.
    assert spec.ips_per_node(Orchestrator.EKS) >= spec.ips_per_node(Orchestrator.SLURM)


@pytest.mark.parametrize("instance_type", sorted(INSTANCE_SPECS))
def test_row_is_well_formed(instance_type: str) -> None:
    assert KEY_PATTERN.match(instance_type), instance_type
    spec = INSTANCE_SPECS[instance_type]
    assert spec.source.startswith("https://")
    assert spec.accelerator in (None, "nvidia", "neuron")
    assert (spec.accelerator is None) == (spec.accelerators == 0)
    # At most one EFA per network card; multi-card types use EFA on every card, except that
    # ml.p6-b300.48xlarge keeps its card 0 for ENA only (16 EFA on 17 cards).
    assert 0 <= spec.efa <= spec.network_cards
    if spec.network_cards > 1:
        assert spec.efa == spec.network_cards - (instance_type == "ml.p6-b300.48xlarge")


def test_every_requested_type_is_present() -> None:
    missing = [t for t in REQUIRED_TYPES if t not in INSTANCE_SPECS]
    assert missing == []


@pytest.mark.parametrize(
    ("instance_type", "eks", "slurm"),
    [
        ("ml.p4d.24xlarge", 53, 4),
        ("ml.p5en.48xlarge", 65, 16),
        ("ml.p6-b200.48xlarge", 57, 8),
        ("ml.trn1.32xlarge", 57, 8),
        ("ml.trn2.48xlarge", 65, 16),
        ("ml.g6e.48xlarge", 53, 4),
        ("ml.g5.xlarge", 15, 1),
        ("ml.m5.large", 10, 1),
        ("ml.t3.medium", 6, 1),
    ],
)
def test_spot_values(instance_type: str, eks: int, slurm: int) -> None:
    assert ips_per_node(instance_type, Orchestrator.EKS) == eks
    assert ips_per_node(instance_type, Orchestrator.SLURM) == slurm


def test_orchestrator_accepts_plain_strings() -> None:
    assert ips_per_node("ml.p5.48xlarge", "eks") == 81  # type: ignore[arg-type]
    assert INSTANCE_SPECS["ml.p5.48xlarge"].ips_per_node("slurm") == 32  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ips_per_node("ml.p5.48xlarge", "kubernetes")  # type: ignore[arg-type]


def test_unknown_type_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError) as excinfo:
        ips_per_node("ml.x9.huge", Orchestrator.EKS)
    assert "ml.x9.huge" in str(excinfo.value)
    assert spec_for("ml.x9.huge") is None


def test_missing_prefix_gets_a_hint() -> None:
    with pytest.raises(KeyError) as excinfo:
        ips_per_node("p5.48xlarge", Orchestrator.SLURM)
    message = str(excinfo.value)
    assert "'p5.48xlarge'" in message
    assert "ml.p5.48xlarge" in message


def test_spec_for_known_type() -> None:
    spec = spec_for("ml.trn1.32xlarge")
    assert spec is not None
    assert (spec.accelerator, spec.accelerators, spec.efa) == ("neuron", 16, 8)


@pytest.mark.parametrize(
    "instance_type",
    ["ml.p5.48xlarge", "ml.g5.xlarge", "ml.g5.48xlarge", "ml.trn1.32xlarge", "ml.trn2.48xlarge"],
)
def test_deep_health_checks_on_accelerated_types(instance_type: str) -> None:
    assert supports_deep_health_checks(instance_type)


@pytest.mark.parametrize("instance_type", ["ml.m5.xlarge", "ml.c5.large", "ml.c5.24xlarge", "ml.t3.medium"])
def test_no_deep_health_checks_on_cpu_types(instance_type: str) -> None:
    assert not supports_deep_health_checks(instance_type)


def test_deep_health_checks_for_types_outside_the_table_go_by_family() -> None:
    assert supports_deep_health_checks("ml.p7.48xlarge")
    assert supports_deep_health_checks("ml.trn3.48xlarge")
    assert not supports_deep_health_checks("ml.m9i.large")


@pytest.mark.parametrize(
    "instance_type",
    [
        "ml.p6-b300.48xlarge",
        "ml.p6-b200.48xlarge",
        "ml.p5en.48xlarge",
        "ml.p5.4xlarge",
        "ml.g7e.2xlarge",
        "ml.g7e.48xlarge",
        "ml.g7.12xlarge",
        "ml.g6.xlarge",
        "ml.g4dn.xlarge",
        "ml.gr6.4xlarge",
        "ml.trn2.3xlarge",
        "ml.trn2.48xlarge",
        "ml.trn1.2xlarge",
    ],
)
def test_new_gpu_and_trainium_types_get_deep_health_checks(instance_type: str) -> None:
    assert INSTANCE_SPECS[instance_type].deep_health_checks
    assert supports_deep_health_checks(instance_type)


@pytest.mark.parametrize("instance_type", ["ml.inf2.xlarge", "ml.inf2.48xlarge", "ml.c5n.18xlarge", "ml.m8g.medium"])
def test_inferentia_and_cpu_types_get_none(instance_type: str) -> None:
    # Inferentia is a Neuron device too, but the checks are documented for GPU and Trainium only.
    assert not supports_deep_health_checks(instance_type)


def test_every_hyperpod_type_cfn_lint_lists_has_a_row() -> None:
    """Drift test: every type in cfn-lint's HyperPod enum (all regions) has network data here."""
    from hyperpod_cdk.specs.offerings import from_cfn_lint

    listed = {t for types in from_cfn_lint().values() for t in types}
    assert len(listed) >= 212
    assert sorted(listed - set(INSTANCE_SPECS)) == []
    # Rows cfn-lint does not list must be known extras, not typos.
    assert sorted(set(INSTANCE_SPECS) - listed) == ["ml.p5e.48xlarge"]


@pytest.mark.parametrize(
    ("instance_type", "eks", "slurm", "efa", "accelerators"),
    [
        ("ml.p6-b300.48xlarge", 66, 17, 16, 8),
        ("ml.p5.4xlarge", 30, 1, 1, 1),
        ("ml.g7e.48xlarge", 67, 4, 4, 8),
        ("ml.g7e.2xlarge", 64, 1, 0, 1),
        ("ml.trn2.3xlarge", 15, 1, 1, 1),
        ("ml.c5n.18xlarge", 50, 1, 1, 0),
        ("ml.c5n.large", 10, 1, 0, 0),
    ],
)
def test_new_types(instance_type: str, eks: int, slurm: int, efa: int, accelerators: int) -> None:
    spec = INSTANCE_SPECS[instance_type]
    assert (ips_per_node(instance_type, Orchestrator.EKS), ips_per_node(instance_type, Orchestrator.SLURM)) == (
        eks,
        slurm,
    )
    assert (spec.efa, spec.accelerators) == (efa, accelerators)


def test_graviton_types_are_arm64() -> None:
    from hyperpod_cdk.specs.instance_types import is_arm64

    arm = sorted(t for t in INSTANCE_SPECS if is_arm64(t))
    assert {t.split(".")[1] for t in arm} == {"c6g", "c7g", "c8g", "m6g", "m7g", "m8g"}
    assert not is_arm64("ml.g5.xlarge") and not is_arm64("ml.gr6.4xlarge")


def test_table_is_read_only_and_specs_frozen() -> None:
    with pytest.raises(TypeError):
        INSTANCE_SPECS["ml.p5.48xlarge"] = INSTANCE_SPECS["ml.p4d.24xlarge"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        INSTANCE_SPECS["ml.p5.48xlarge"].network_cards = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"network_cards": 0},
        {"ipv4_per_interface": 0},
        {"accelerator": "amd"},
        {"accelerator": None},
        {"accelerators": 0},
        {"efa": 2},
        {"source": "docs"},
    ],
)
def test_invalid_spec_rejected(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "network_cards": 1,
        "ipv4_per_interface": 15,
        "accelerator": "nvidia",
        "accelerators": 1,
        "efa": 1,
        "source": "https://example.com",
    }
    with pytest.raises(ValueError):
        InstanceSpec(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2"])
def test_every_type_cfn_lint_lists_parses_in_a_config(region: str) -> None:
    """Done-when of issue 11: each HyperPod type of us-east-1 and us-west-2 is accepted as a group."""
    from hyperpod_cdk.config import InstanceGroup, check_offered
    from hyperpod_cdk.specs.offerings import from_cfn_lint

    types = from_cfn_lint()[region]
    assert len(types) >= 206
    for instance_type in types:
        group = InstanceGroup(name="g", instance_type=instance_type, instance_count=1)
        check_offered(region, group, "instance_type")
        assert ips_per_node(instance_type, Orchestrator.EKS) >= 1

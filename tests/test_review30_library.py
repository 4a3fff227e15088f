"""Review round 30 (platform, the library from a user's stack): each check the config has holds for
``HyperPodPlatform.add_instance_group`` and ``grant_submit`` too, and a refusal adds nothing.

- R30P-M1: ``lifecycle_hook: OnInitComplete`` with the bundled scripts (item 3), and the keys one orchestrator
  does not use, were refused in YAML only;
- R30P-M2: an autoscale group added in code was never in the Karpenter HyperpodNodeClass (built from the config);
- R30P-M3, L1: ``grant_submit`` made a second access entry for an admin or for a role granted to another team
  (EKS allows one per principal), and twice for one team raised a raw construct-tree error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml
from aws_cdk import aws_iam as iam

from hyperpod_cdk import HyperPodConfigError, HyperPodPlatform, parse_config

REPO = Path(__file__).resolve().parents[1]
ADMIN = "arn:aws:iam::123456789012:role/OnCall"


def _platform(config_file: str, mutate: Any = None) -> HyperPodPlatform:
    data = yaml.safe_load((REPO / config_file).read_text())
    if mutate is not None:
        mutate(data)
    stack = cdk.Stack(cdk.App(), "User", env=cdk.Environment(region=data["region"]))
    return HyperPodPlatform(stack, "Platform", config=parse_config(data))


def _teams_and_admin(data: dict[str, Any]) -> None:
    data["eks"]["admin_principal_arns"] = [ADMIN]
    data.setdefault("kubernetes", {})["teams"] = [{"name": "alpha"}, {"name": "beta"}]


@pytest.fixture(scope="module")
def eks() -> HyperPodPlatform:
    return _platform("hyperpod.yaml", _teams_and_admin)


@pytest.fixture(scope="module")
def slurm() -> HyperPodPlatform:
    return _platform("examples/slurm.yaml")


def _refused(platform: HyperPodPlatform, group: dict[str, Any]) -> str:
    before = list(platform.cluster.instance_groups)
    with pytest.raises(HyperPodConfigError) as caught:
        platform.add_instance_group(group)
    assert platform.cluster.instance_groups == before  # nothing half-added
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_the_bundled_scripts_under_on_init_complete_are_refused_in_code_too(eks: HyperPodPlatform) -> None:
    group = {"name": "late", "instance_type": "ml.g5.12xlarge", "instance_count": 1, "lifecycle_hook": "OnInitComplete"}
    said = _refused(eks, group)
    assert said.startswith("User/Platform: hyperpod.instance_groups[2](late).lifecycle_hook: OnInitComplete runs")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"lifecycle_hook": "OnInitComplete"}, "lifecycle_hook"),
        ({"capacity_type": "Spot"}, "capacity_type"),
        ({"image_release_version": "1.2.3"}, "image_release_version"),
    ],
)
def test_keys_slurm_does_not_use_are_refused_in_code_too(slurm: HyperPodPlatform, extra: dict, field: str) -> None:
    group = {"name": "late", "instance_type": "ml.g5.12xlarge", "instance_count": 1, **extra}
    assert f".{field}: only used with orchestrator: eks" in _refused(slurm, group)


def test_a_group_the_config_accepts_is_still_added(eks: HyperPodPlatform) -> None:
    added = eks.add_instance_group({"name": "cpu-extra", "instance_type": "ml.m5.2xlarge", "instance_count": 1})
    assert eks.cluster.instance_groups[-1] is added


def test_an_autoscale_group_cannot_be_added_in_code() -> None:
    karpenter = _platform("examples/eks-scaling.yaml")
    group = {
        "name": "spot-g5",
        "instance_type": "ml.g5.8xlarge",
        "instance_count": 0,
        "autoscale": True,
        "max_instance_count": 2,
    }
    said = _refused(karpenter, group)
    assert ".autoscale: add_instance_group cannot add a group Karpenter scales" in said


def test_grant_submit_refuses_an_admin(eks: HyperPodPlatform) -> None:
    stack = cdk.Stack.of(eks)
    with pytest.raises(HyperPodConfigError, match=r"grant_submit\.grantee: .*OnCall is in config eks\.admin_principal"):
        eks.grant_submit(iam.Role.from_role_arn(stack, "OnCall", ADMIN), "alpha")


def test_grant_submit_gives_one_role_one_team(eks: HyperPodPlatform) -> None:
    stack = cdk.Stack.of(eks)
    made = iam.Role(stack, "Researcher", assumed_by=iam.AccountRootPrincipal())
    imported = iam.Role.from_role_arn(stack, "Imported", "arn:aws:iam::123456789012:role/Researcher")
    for role in (made, imported):
        eks.grant_submit(role, "alpha")
        for team in ("alpha", "beta"):
            with pytest.raises(HyperPodConfigError, match="granted to team 'alpha' already"):
                eks.grant_submit(role, team)

"""specs/service_rules.py: one table of HyperPod's service rules, and the three callers that use it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.specs.service_rules import SERVICE_RULES, SUBJECTS, ClusterFacts, check_cluster, service_rule

REPO = Path(__file__).resolve().parent.parent


def test_every_rule_has_an_id_severity_message_fix_and_aws_source():
    assert len({r.id for r in SERVICE_RULES}) == len(SERVICE_RULES)
    for rule in SERVICE_RULES:
        assert rule.id.startswith("HyperPod-") and rule.severity in ("error", "warning")
        assert rule.title and rule.message and rule.fix
        assert rule.source.startswith("https://docs.aws.amazon.com/"), rule.id
        # Every placeholder of the fix is a subject a caller can name.
        rule.fix.format_map({s: s for s in SUBJECTS})


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ClusterFacts(node_provisioning_mode="Continuous", customer_managed_key=True), []),
        (ClusterFacts(node_provisioning_mode=None, customer_managed_key=True), [("HyperPod-KMS1", "volume_key")]),
        (
            ClusterFacts(
                node_provisioning_mode="Continuous", autoscaler="Karpenter", has_cluster_role=True, orchestrator="eks"
            ),
            [],
        ),
        (
            ClusterFacts(
                node_provisioning_mode=None, node_recovery="None", autoscaler="Karpenter", orchestrator="slurm"
            ),
            [
                ("HyperPod-KAR1", "node_provisioning_mode"),
                ("HyperPod-KAR1", "node_recovery"),
                ("HyperPod-KAR1", "cluster_role"),
                ("HyperPod-KAR1", "orchestrator"),
            ],
        ),
        (ClusterFacts(external_accounting=True), [("HyperPod-ACCT1", "accounting_database")]),
        (ClusterFacts(tiered_storage_memory_percent=19), [("HyperPod-TSC1", "tiered_storage_memory_percent")]),
        (ClusterFacts(tiered_storage_memory_percent=True), [("HyperPod-TSC1", "tiered_storage_memory_percent")]),
        (ClusterFacts(tiered_storage_memory_percent=100), []),
    ],
)
def test_checks_are_pure_functions_of_the_facts(facts, expected):
    assert [(v.rule.id, v.subject) for v in check_cluster(facts)] == expected


def test_the_fix_names_the_callers_field():
    (violation,) = check_cluster(ClusterFacts(customer_managed_key=True))
    assert violation.line({"node_provisioning_mode": "hyperpod.node_provisioning_mode"}).endswith(
        "; set hyperpod.node_provisioning_mode to Continuous, or drop volume key (AWS owned key)"
    )


def test_config_construct_and_lint_report_the_same_rule():
    """KMS1 from the config, the EKS cluster construct and the template rule: one message."""
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_kms as kms

    from hyperpod_cdk import HyperPodCluster
    from hyperpod_cdk.config import parse_config
    from hyperpod_cdk.rules.deploy import cmk_needs_continuous
    from hyperpod_cdk.rules.model import Templates

    message = service_rule("HyperPod-KMS1").message
    data = copy.deepcopy(yaml.safe_load((REPO / "hyperpod.yaml").read_text()))
    data["hyperpod"].update(node_provisioning_mode=None, ebs_kms_key="customer-managed")
    with pytest.raises(HyperPodConfigError) as from_config:
        parse_config(data)
    assert from_config.value.field == "hyperpod.ebs_kms_key" and message in from_config.value.message

    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111111111111", region="us-west-2"))
    subnet = ec2.Subnet.from_subnet_attributes(
        stack, "Sn", subnet_id="subnet-0ccccccccccccccc1", ipv4_cidr_block="10.0.0.0/16"
    )
    sg = ec2.SecurityGroup.from_security_group_id(stack, "Sg", "sg-0123456789abcdef0")
    with pytest.raises(HyperPodConfigError) as from_construct, pytest.warns(DeprecationWarning):
        HyperPodCluster(
            stack,
            "HyperPod",
            cluster_name="a",
            eks_cluster_arn="arn:aws:eks:us-west-2:111111111111:cluster/e",
            instance_groups=[{"name": "cpu", "instance_type": "ml.m5.2xlarge", "instance_count": 1}],
            subnets_by_az_id={"usw2-az2": subnet},
            default_az_id="usw2-az2",
            security_group=sg,
            execution_role_arn="arn:aws:iam::111111111111:role/r",
            lifecycle_source_s3_uri="s3://b/p/",
            node_provisioning_mode=None,
            volume_key=kms.Key(stack, "K"),
        )
    assert from_construct.value.field == "volume_key" and message in from_construct.value.message
    assert "set node_provisioning_mode to Continuous" in from_construct.value.message

    template = {
        "Resources": {
            "C": {
                "Type": "AWS::SageMaker::Cluster",
                "Properties": {
                    "InstanceGroups": [
                        {
                            "InstanceGroupName": "g",
                            "InstanceStorageConfigs": [{"EbsVolumeConfig": {"VolumeKmsKeyId": "k"}}],
                        }
                    ]
                },
            }
        }
    }
    (finding,) = cmk_needs_continuous(Templates({"t.json": template}))
    assert message in finding.detail

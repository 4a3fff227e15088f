"""The constructs whose handlers run in the cluster's VPC (manifests, readiness gates, the Helm installer) share
one set of props and one start (kubernetes/cluster_handler.py): each bad or missing prop is one plain error naming
the field and the construct path, and what they share is built once. No synth: construct trees only."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_kms as kms

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.cluster_handler import ClusterHandlerConstruct
from hyperpod_cdk.kubernetes.helm_dependencies import HyperPodHelmDependencies
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests
from hyperpod_cdk.kubernetes.readiness import HyperPodReadiness

CONSTRUCTS = [HyperPodManifests, HyperPodReadiness, HyperPodHelmDependencies]


def _stack(name: str) -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(cdk.App(), name, env=cdk.Environment(account="123456789012", region="us-west-2"))
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[ec2.SubnetConfiguration(name="p", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)],
    )
    return stack, vpc


def _cluster(stack: cdk.Stack, vpc: ec2.IVpc | None) -> eks.ICluster:
    extra: dict[str, Any] = {"vpc": vpc, "cluster_security_group_id": "sg-0123456789abcdef0"} if vpc else {}
    return eks.Cluster.from_cluster_attributes(stack, "Cluster", cluster_name="existing", **extra)


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_an_imported_cluster_without_its_vpc_is_one_error_naming_cluster(construct):
    stack, vpc = _stack(f"NoVpc{construct.__name__}")
    with pytest.raises(HyperPodConfigError) as raised:
        construct(stack, "Handler", cluster=_cluster(stack, None), subnets=vpc.isolated_subnets)
    message = str(raised.value)
    assert "\n" not in message
    assert f"{stack.node.path}/Handler" in message and "cluster" in message and "vpc=" in message
    assert f"the {construct.HANDLER_NAME} runs in its VPC" in message
    assert stack.node.try_find_child("Handler") is None  # refused before the construct exists


@pytest.mark.parametrize("construct", [HyperPodManifests, HyperPodReadiness])
def test_missing_subnets_are_one_error_naming_subnets_not_a_type_error(construct):
    stack, vpc = _stack(f"NoSubnets{construct.__name__}")
    with pytest.raises(HyperPodConfigError, match=r"subnets: list private subnets that reach the cluster endpoint"):
        construct(stack, "Handler", cluster=_cluster(stack, vpc))


def test_the_installer_without_private_subnets_names_what_it_needs():
    stack, vpc = _stack("NoSubnetsHelm")
    with pytest.raises(HyperPodConfigError, match=r"subnets: no private subnets for the installer; pass subnets="):
        HyperPodHelmDependencies(stack, "Helm", cluster=_cluster(stack, vpc))  # only isolated subnets, GitHub source


def test_each_construct_makes_its_log_group_and_handler_once_with_the_props_given():
    stack, vpc = _stack("Shared")
    cluster = _cluster(stack, vpc)
    key = kms.Key(stack, "Key")
    readiness = HyperPodReadiness(
        stack, "Readiness", cluster=cluster, subnets=vpc.isolated_subnets, log_key=key, kubernetes_version="1.33"
    )
    assert isinstance(readiness, ClusterHandlerConstruct)
    assert readiness.log_key is key
    assert readiness.node.find_child("Logs") is readiness.log_group
    # The default manifests construct reuses the readiness gate's layer and key: one layer, one key.
    manifests = readiness.node.find_child("Manifests")
    assert isinstance(manifests, HyperPodManifests)
    assert manifests.kubectl_layer is readiness.kubectl_layer
    assert manifests.log_key is key and manifests.log_retention == readiness.log_retention
    layers = [c for c in readiness.node.find_all() if c.node.id == "KubectlLayer"]
    assert layers == [readiness.node.find_child("KubectlLayer")]
    assert manifests.access_entry.node.scope is manifests
    assert manifests.function.node.id == "Handler"


def test_from_config_takes_every_handler_prop():
    from hyperpod_cdk.config.kubernetes import HelmDependenciesConfig

    stack, vpc = _stack("FromConfig")
    cluster = _cluster(stack, vpc)
    key = kms.Key(stack, "Key")
    helm = HyperPodHelmDependencies.from_config(
        stack,
        "Helm",
        HelmDependenciesConfig(source_s3_uri="s3://bucket/bundle.tgz"),
        cluster=cluster,
        log_key=key,
        kubernetes_version="1.33",
        log_retention=cdk.aws_logs.RetentionDays.ONE_MONTH,
    )
    assert helm.log_key is key and helm.log_retention == cdk.aws_logs.RetentionDays.ONE_MONTH
    # An S3 source with no subnets given: the VPC's isolated subnets are the default.
    assert [s.node.path for s in helm.in_vpc.subnets] == [s.node.path for s in vpc.isolated_subnets]


def test_readiness_gates_are_absent_until_added():
    stack, vpc = _stack("Gates")
    readiness = HyperPodReadiness(stack, "Readiness", cluster=_cluster(stack, vpc), subnets=vpc.isolated_subnets)
    assert readiness.node_gate is None and readiness.cert_manager_gate is None
    with pytest.raises(HyperPodConfigError, match="Readiness/NodesReady: instance_groups"):
        readiness.add_node_gate(hyperpod_cluster_name="hp", instance_groups=[])
    node_gate = readiness.add_node_gate(hyperpod_cluster_name="hp", instance_groups=["system"])
    cert_gate = readiness.add_cert_manager_gate(after=[node_gate])
    assert (readiness.node_gate, readiness.cert_manager_gate) == (node_gate, cert_gate)
    assert (node_gate.node.id, cert_gate.node.id) == ("NodesReady", "CertManagerReady")


def test_the_inference_operator_on_a_cluster_without_an_issuer_names_oidc_provider():
    from hyperpod_cdk.kubernetes.addons.inference_operator import HyperPodInferenceOperatorAddon

    stack, _ = _stack("Oidc")
    with pytest.raises(HyperPodConfigError, match=r"Oidc/Inference: oidc_provider: the operator's roles trust"):
        HyperPodInferenceOperatorAddon(
            stack,
            "Inference",
            cluster=_cluster(stack, None),
            hyperpod_cluster_arn="arn:aws:sagemaker:us-west-2:123456789012:cluster/abcdef123456",
            encryption_key=kms.Key(stack, "Key"),
        )


def test_every_library_chart_pin_names_the_source_of_its_digest():
    """specs/hyperpod_chart.ArchivePin.source defaults to empty for the installer's copy; the library's own pins
    must each say where the digest was read."""
    from hyperpod_cdk.specs.hyperpod_chart import PINNED_CHARTS

    for pin in PINNED_CHARTS.values():
        for archive in pin.archives:
            assert archive.source.strip(), archive.key


@pytest.mark.parametrize("construct", CONSTRUCTS)
def test_a_missing_cluster_or_a_misspelt_prop_is_one_line_naming_it(construct):
    """Session review R1: with ``**props: Unpack[...]`` and no check, a misspelt ``log_retension`` was dropped
    silently (the log group kept a year) and a missing ``cluster`` was a bare ``KeyError``."""
    stack, vpc = _stack(f"Props{construct.__name__}")
    with pytest.raises(TypeError, match=r"missing a required argument: 'cluster'$"):
        construct(stack, "Missing", subnets=vpc.isolated_subnets)
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'log_retension'$"):
        construct(stack, "Misspelt", cluster=_cluster(stack, vpc), subnets=vpc.isolated_subnets, log_retension=1)
    with pytest.raises(HyperPodConfigError, match=r"cluster: expected an eks\.ICluster, got a str"):
        construct(stack, "Wrong", cluster="existing", subnets=vpc.isolated_subnets)
    assert not [c for c in stack.node.children if c.node.id in ("Missing", "Misspelt", "Wrong")]

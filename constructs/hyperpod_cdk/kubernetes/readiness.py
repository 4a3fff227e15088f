"""HyperPodReadiness: deploy-time gates that wait until the EKS side can take the next step.

Why CloudFormation alone does not wait (sources):

- In ``Continuous`` node provisioning mode the HyperPod cluster "becomes operational once
  cluster-level resources are ready": CloudFormation marks it created before any node exists
  (``NodeProvisioningMode``, https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateCluster.html).
- ``AWS::EKS::Addon`` treats ``DEGRADED`` (pods that cannot run) as done
  (hashicorp/terraform-provider-aws#44669), so an add-on "exists" while its pods are Pending.
- aws-cdk-lib's kubectl handler retries only on i/o timeouts, so a manifest the cert-manager webhook
  must admit fails the stack while the webhook has no pod.

AWS's own Terraform waits for the same things before the same steps (awslabs/awsome-distributed-ai
``1.architectures/7.sagemaker-hyperpod-eks/terraform-modules/hyperpod-eks-tf``: ``scripts/wait-for-hyperpod-nodes.sh``
before cert-manager, ``modules/hyperpod_cluster/cert_manager.tf`` ``kubectl wait`` on the three
cert-manager deployments before the training operator). Here each wait is a custom resource of a
provider-framework provider (``is_complete`` polled every 30 s) whose handler runs kubectl inside the
VPC, like the Helm installer, so it works with a private-only endpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Unpack

from aws_cdk import CustomResource, Duration
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from hyperpod_cdk._handler_functions import function_role, handler_code, handler_function, retained_log_group
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.cluster_handler import ClusterHandlerConstruct, ClusterHandlerProps, describe_cluster
from hyperpod_cdk.kubernetes.manifests import HyperPodManifests
from hyperpod_cdk.rules.acknowledge import acknowledge, acknowledge_managed_policies, acknowledge_wildcards
from hyperpod_cdk.rules.suppress import skip_checkov, skip_handler_checks

HANDLER_DIR = Path(__file__).resolve().parent / "handlers" / "readiness"
RESOURCE_TYPE = "Custom::HyperPodReadiness"
#: Kubernetes group the handler's access entry maps to; the ClusterRole below is bound to it.
KUBERNETES_GROUP = "hyperpod-cdk-readiness"
CERT_MANAGER_DEPLOYMENTS = ("cert-manager", "cert-manager-cainjector", "cert-manager-webhook")
# AWS's Terraform waits 30 min for the first node and 300 s for the pod identity agent; HyperPod
# retries a failing lifecycle script for ~18 min before it gives up on a node (awsome-distributed-ai
# tools/devops-agent/docs/hyperpod-mental-model.md), so 40 min leaves room for one slow first node.
DEFAULT_NODE_TIMEOUT = Duration.minutes(40)
# Three 300 s `kubectl wait`s in AWS's Terraform, one after the other.
DEFAULT_CERT_MANAGER_TIMEOUT = Duration.minutes(15)
# A CloudFormation custom resource times out after one hour (ServiceTimeout, at most 3600 s); the
# framework's own timeout stays below it and every gate's timeout below that.
PROVIDER_TIMEOUT = Duration.minutes(55)
POLL_INTERVAL = Duration.seconds(30)
LOGS_DESCRIPTION = "HyperPod readiness gate logs"


@dataclass(frozen=True)
class _GateKind:
    """A readiness gate: its construct id and the check the handler runs (``Check``)."""

    construct_id: str
    check: str


NODE_GATE = _GateKind("NodesReady", "nodes")
CERT_MANAGER_GATE = _GateKind("CertManagerReady", "cert-manager")

# What the handler may do in the cluster: read nodes, pods and deployments, and dry-run an Issuer.
_CLUSTER_ROLE_RULES = [
    {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]},
    {"apiGroups": ["cert-manager.io"], "resources": ["issuers"], "verbs": ["create"]},
]


class HyperPodReadiness(ClusterHandlerConstruct):
    """Readiness gates for an EKS cluster with HyperPod nodes.

    Creates a provider (an ``on_event`` function outside the VPC, an ``is_complete`` function in
    ``subnets`` with the cluster security group and the kubectl layer, and the provider framework's
    waiter state machine), an EKS access entry mapping the ``is_complete`` role to the Kubernetes
    group ``hyperpod-cdk-readiness``, and a ClusterRole + binding for that group (read nodes, pods and
    deployments; create cert-manager Issuers, used only as a server-side dry run). Gates are added
    with :meth:`add_node_gate` and :meth:`add_cert_manager_gate`; order anything behind one with
    ``construct.node.add_dependency(gate)``.

    Takes the props of :class:`~hyperpod_cdk.kubernetes.cluster_handler.ClusterHandlerProps`
    (``cluster``, ``subnets``: where the kubectl handler runs, ``kubectl_layer``, ``kubernetes_version``,
    ``log_key``, ``log_retention``) and:

    Args:
        manifests: applies the ClusterRole and binding (:attr:`rbac`). Default: a new
            :class:`~hyperpod_cdk.kubernetes.manifests.HyperPodManifests` in this construct.
    """

    HANDLER_NAME = "readiness handler"
    LOGS = ("Logs", "readiness", LOGS_DESCRIPTION)

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        manifests: HyperPodManifests | None = None,
        **props: Unpack[ClusterHandlerProps],
    ) -> None:
        super().__init__(scope, construct_id, **props)
        cluster = self.cluster
        layer = self.kubectl_layer
        # The provider's two functions: one code asset (with the shared EKS-auth module), one log group.
        provider_function = functools.partial(
            handler_function,
            self,
            code=handler_code(HANDLER_DIR),
            log_group=self.log_group,
            managed_policies_reason="Lambda's AWS managed basic (and, in the VPC, VPC access) execution policies: "
            "CloudWatch Logs and the ENI actions Lambda needs to attach the function to the VPC; the handler's own "
            "access is eks:DescribeCluster on one cluster",
        )
        self.on_event_function = provider_function(
            "OnEvent",
            description="Starts a HyperPod readiness gate (hyperpod-cdk)",
            entry="index.on_event",
            timeout=Duration.seconds(30),
            outside_vpc_reason="only records when a readiness wait started; it calls no API and reaches nothing in "
            "the VPC",
        )
        self.is_complete_function = provider_function(
            "IsComplete",
            description="Checks HyperPod readiness with kubectl (hyperpod-cdk)",
            entry="index.is_complete",
            timeout=Duration.minutes(2),
            memory_size=512,
            layers=[layer],
            in_vpc=self.in_vpc,
            environment={"KUBECTL_BINARY": "/opt/kubectl/kubectl"},
            statements=[describe_cluster(self.cluster)],
        )
        role = function_role(self.is_complete_function)
        # The role reaches Kubernetes only as the group bound below (no access policy).
        self.access_entry = eks.CfnAccessEntry(
            self,
            "AccessEntry",
            cluster_name=cluster.cluster_name,
            principal_arn=role.role_arn,
            kubernetes_groups=[KUBERNETES_GROUP],
            type="STANDARD",
        )
        if manifests is None:
            # The same cluster, subnets and retention; this construct's layer and key.
            shared: ClusterHandlerProps = {**props, "kubectl_layer": layer, "log_key": self.log_key}
            manifests = HyperPodManifests(self, "Manifests", **shared)
        self.rbac = manifests.add_manifest(
            "ReadinessRbac",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": KUBERNETES_GROUP},
                "rules": _CLUSTER_ROLE_RULES,
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": KUBERNETES_GROUP},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": KUBERNETES_GROUP},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": KUBERNETES_GROUP}],
            },
        )

        # The same key, with one more statement for this group.
        _, self.state_machine_logs = retained_log_group(
            self,
            "WaiterLogs",
            "readiness-waiter",
            description=LOGS_DESCRIPTION,
            key=self.log_key,
            retention=self.log_retention,
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.on_event_function,
            is_complete_handler=self.is_complete_function,
            query_interval=POLL_INTERVAL,
            total_timeout=PROVIDER_TIMEOUT,
            log_group=self.log_group,
            # aws-cdk-lib turns the waiter's logging off unless asked.
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=cr.LogOptions(
                destination=self.state_machine_logs,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )
        self._acknowledge_provider()
        self._gates: dict[str, CustomResource] = {}

    @property
    def node_gate(self) -> CustomResource | None:
        """The gate :meth:`add_node_gate` added (None until then)."""
        return self._gates.get(NODE_GATE.check)

    @property
    def cert_manager_gate(self) -> CustomResource | None:
        """The gate :meth:`add_cert_manager_gate` added (None until then)."""
        return self._gates.get(CERT_MANAGER_GATE.check)

    def _gate(
        self,
        kind: _GateKind,
        properties: Mapping[str, object],
        after: Sequence[IConstruct],
        timeout: Duration,
    ) -> CustomResource:
        gate = CustomResource(
            self,
            kind.construct_id,
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties={
                "ClusterName": self.cluster.cluster_name,
                "Check": kind.check,
                **properties,
                "TimeoutSeconds": str(int(timeout.to_seconds())),
            },
        )
        # kubectl authenticates as the handler's role: its access entry and RBAC come first.
        gate.node.add_dependency(self.access_entry, self.rbac, *after)
        self._gates[kind.check] = gate
        return gate

    def add_node_gate(
        self,
        *,
        hyperpod_cluster_name: str,
        instance_groups: Sequence[str],
        after: Sequence[IConstruct] = (),
        timeout: Duration = DEFAULT_NODE_TIMEOUT,
    ) -> CustomResource:
        """Wait for a Ready, untainted node of ``instance_groups`` and a Ready pod identity agent.

        Create it after the HyperPod cluster (``after``); put system add-ons (cert-manager, CSI
        drivers) after it.
        """
        if not instance_groups:
            raise prop_error(
                self, NODE_GATE.construct_id, "instance_groups", "name the groups that can host system pods"
            )
        properties = {"HyperPodClusterName": hyperpod_cluster_name, "InstanceGroups": list(instance_groups)}
        return self._gate(NODE_GATE, properties, after, timeout)

    def add_cert_manager_gate(
        self,
        *,
        after: Sequence[IConstruct],
        namespace: str = "cert-manager",
        deployments: Sequence[str] = CERT_MANAGER_DEPLOYMENTS,
        timeout: Duration = DEFAULT_CERT_MANAGER_TIMEOUT,
    ) -> CustomResource:
        """Wait until cert-manager's deployments are Available and its webhook admits an Issuer.

        Create it after the cert-manager add-on (``after``); put cert-manager resources (issuers)
        and add-ons that need cert-manager (the training operator) after it.
        """
        properties = {"Namespace": namespace, "Deployments": list(deployments)}
        return self._gate(CERT_MANAGER_GATE, properties, after, timeout)

    def _acknowledge_provider(self) -> None:
        acknowledge_managed_policies(
            self.provider,
            "aws-cdk-lib's provider framework roles use the AWS managed Lambda basic execution policy for their logs; "
            "the roles are internal to aws-cdk-lib",
        )
        framework = [
            child
            for child in self.provider.node.find_all()
            if isinstance(child, lambda_.Function) and child.node.id.startswith("framework-")
        ]
        for function in framework:
            skip_handler_checks(
                function,
                outside_vpc_reason="the provider framework only invokes this construct's handlers and starts its "
                "waiter state machine (Lambda and Step Functions APIs); it reaches nothing in the VPC",
            )
            acknowledge(
                function,
                "AwsSolutions-L1",
                "aws-cdk-lib pins the provider framework's Node.js runtime to the one its bundled handler is built "
                "for; it moves with aws-cdk-lib, which this project pins",
            )
        acknowledge_wildcards(
            self.provider,
            "the provider framework may invoke any version of this construct's two handlers and its own "
            "framework functions (<function arn>:*); each wildcard covers one function",
            resources=[
                f"{function.function_arn}:*"
                for function in (self.on_event_function, self.is_complete_function, *framework)
            ],
        )
        waiter = self.provider.node.try_find_child("waiter-state-machine")
        if waiter is not None:
            acknowledge_wildcards(
                waiter,
                "Step Functions log delivery (logs:CreateLogDelivery, PutResourcePolicy, DescribeLogGroups ...) "
                "supports no resource-level permissions; aws-cdk-lib grants it to the waiter for its log group",
                resources=["*"],
            )
            acknowledge(
                waiter,
                "AwsSolutions-SF2",
                "aws-cdk-lib's provider framework offers no X-Ray option for its waiter state machine; it only "
                "polls one Lambda function, and every step is logged (level ALL) to a retained log group",
            )
            waiter_policy = waiter.node.try_find_child("Role")
            waiter_policy = waiter_policy.node.try_find_child("DefaultPolicy") if waiter_policy else None
            if waiter_policy is not None:
                skip_checkov(
                    waiter_policy,
                    "CKV_AWS_111",
                    "Step Functions log delivery actions (logs:CreateLogDelivery, PutResourcePolicy ...) support no "
                    "resource-level permissions; the rest of this aws-cdk-lib policy invokes two framework functions",
                )
            state_machine = waiter.node.try_find_child("Resource")
            if state_machine is not None:
                skip_checkov(
                    state_machine,
                    "CKV_AWS_284",
                    "aws-cdk-lib's provider framework offers no X-Ray option for its waiter state machine; its steps "
                    "are logged to a retained log group",
                )

"""Add-on base class: each add-on declares what it needs, and the need is checked at synth.

In the spirit of cdk-eks-blueprints' ``@dependable``: an add-on class lists the EKS add-ons it
**requires** (construction fails with :class:`MissingAddonDependencyError` when one is absent) and
those it merely comes **after** when they are present. Both become CloudFormation ``DependsOn`` of
the add-on's first resource, so the template creates them in order and deletes them in reverse.

"Present" means an ``AWS::EKS::Addon`` of that name for the same cluster defined anywhere in the
app (``cluster.eks_pod_identity_agent``, :class:`~hyperpod_cdk.cluster.eks.HyperPodEksCluster`'s
base add-ons, another add-on construct), or a name passed in ``assume_installed`` for add-ons
that were installed outside this app (an imported cluster).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypedDict

from aws_cdk import CfnResource, Tags
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import resolve_conflicts
from hyperpod_cdk.errors import HyperPodConfigError, check_prop_types, prop_error
from hyperpod_cdk.rules.acknowledge import acknowledge, managed_policy_finding
from hyperpod_cdk.specs.addon_conflicts import CERT_MANAGER as CERT_MANAGER
from hyperpod_cdk.specs.addon_conflicts import POD_IDENTITY_AGENT as POD_IDENTITY_AGENT
from hyperpod_cdk.specs.addon_versions import default_addon_version

_ADDON_TYPE = "AWS::EKS::Addon"


class MissingAddonDependencyError(HyperPodConfigError):
    """An add-on was defined without an add-on it cannot work without."""


def installed_addons(cluster: eks.ICluster) -> dict[str, CfnResource]:
    """The ``AWS::EKS::Addon`` resources defined in this app for ``cluster``, by add-on name."""
    found: dict[str, CfnResource] = {}
    for node in cluster.node.root.node.find_all():
        # Type checks on the Python side: jsii gives every node the class of its jsii type, so
        # isinstance and the class's jsii name cost no round trip to Node (a call per node here
        # made up half of all jsii calls of the default app's synth).
        if not isinstance(node, CfnResource):
            continue
        jsii_type = getattr(type(node), "__jsii_type__", "")
        if not jsii_type.endswith(".CfnAddon") and not (
            jsii_type == "aws-cdk-lib.CfnResource" and node.cfn_resource_type == _ADDON_TYPE
        ):
            continue
        resource = node
        # aws_eks and aws_eks_v2 L1 add-ons (CfnAddon) both expose cluster_name and addon_name.
        if getattr(resource, "cluster_name", None) == cluster.cluster_name:
            found[str(resource.addon_name)] = resource  # type: ignore[attr-defined]
    return found


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, anything else is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class AddonSettings(TypedDict, total=False):
    """The props every add-on construct takes besides ``cluster`` (see :class:`HyperPodAddon`)."""

    version: str | None
    configuration_values: Mapping[str, Any] | None
    assume_installed: Sequence[str]
    kubernetes_version: str | None
    preserve_on_delete: bool | None


class HyperPodAddon(Construct):
    """Base of the add-on constructs: one ``AWS::EKS::Addon``, checked, built and ordered here.

    The constructor runs every step, so a new add-on is a subclass that sets the class attributes
    and, when it needs AWS resources of its own, overrides :meth:`_build` (a subclass with props of
    its own stores them before calling ``super().__init__``, which runs the steps):

    1. the add-ons it ``REQUIRES`` must be defined in the app or in ``assume_installed`` (every
       missing one is named in one :class:`MissingAddonDependencyError`);
    2. :meth:`_build` creates what the add-on needs first (roles, workspaces) and returns its base
       settings, :attr:`DEFAULT_CONFIGURATION` unless overridden;
    3. :meth:`_install` creates the add-on (construct id ``Addon``, :attr:`addon`) with
       ``configuration_values`` deep-merged over those settings (:attr:`configuration`), after
       the add-ons it requires or comes ``AFTER`` and after the inline policy of each of
       :meth:`_roles` (the pods' first AWS call is then already allowed).

    Every add-on construct takes the props below (:class:`AddonSettings` besides ``cluster``; a
    subclass lists its own props in its docstring and takes these as ``**settings``).

    Args:
        cluster: the EKS cluster.
        version: add-on version, e.g. ``v1.18.2-eksbuild.2``. Default: the pin of
            :mod:`hyperpod_cdk.specs.addon_versions` for ``kubernetes_version``, else EKS's default.
        configuration_values: the add-on's settings, deep-merged over the base ones. Default: none.
        assume_installed: add-on names installed outside this app, counted as present. Default: none.
        kubernetes_version: the cluster's Kubernetes version ("1.33"), for the version table.
            Default: unknown, so EKS's default version.
        preserve_on_delete: leave the add-on's software running on the cluster when the stack
            deletes the add-on (``PreserveOnDelete``; EKS stops managing it). Default: True when
            ``cluster`` is imported (not an ``eks.Cluster`` defined in this app: others may use its
            add-ons), else False (the add-on goes with the cluster).
    """

    ADDON_NAME: ClassVar[str]
    #: EKS add-ons that must exist; missing ones raise MissingAddonDependencyError.
    REQUIRES: ClassVar[tuple[str, ...]] = ()
    #: EKS add-ons this one is created after when they exist (ordering only).
    AFTER: ClassVar[tuple[str, ...]] = ()
    #: Config path named in errors.
    CONFIG_FIELD: ClassVar[str] = "kubernetes.addons"
    #: The settings ``configuration_values`` are deep-merged over (unless :meth:`_build` returns others).
    DEFAULT_CONFIGURATION: ClassVar[Mapping[str, Any]] = {}
    #: Tag the add-on ``SageMaker=true``, as the SageMaker HyperPod add-ons are.
    SAGEMAKER_TAG: ClassVar[bool] = False

    addon: eks.Addon
    configuration: dict[str, Any]
    version: str | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        version: str | None = None,
        configuration_values: Mapping[str, Any] | None = None,
        assume_installed: Sequence[str] = (),
        kubernetes_version: str | None = None,
        preserve_on_delete: bool | None = None,
    ) -> None:
        check_prop_types(scope, construct_id, cluster=("eks.ICluster", cluster))
        if preserve_on_delete is not None and not isinstance(preserve_on_delete, bool):
            raise prop_error(
                scope,
                construct_id,
                "preserve_on_delete",
                f"expected true or false, got {type(preserve_on_delete).__name__}",
            )
        if configuration_values is not None and not isinstance(configuration_values, Mapping):
            raise prop_error(
                scope,
                construct_id,
                "configuration_values",
                f"expected a mapping of the add-on's settings, got {type(configuration_values).__name__}",
            )
        present = installed_addons(cluster)
        if self.ADDON_NAME in present:
            raise HyperPodConfigError(
                self.CONFIG_FIELD,
                f"the EKS add-on '{self.ADDON_NAME}' is already defined for this cluster at "
                f"{present[self.ADDON_NAME].node.path}; define it once",
            )
        missing = [name for name in self.REQUIRES if name not in present and name not in assume_installed]
        if missing:
            raise MissingAddonDependencyError(
                self.CONFIG_FIELD,
                f"'{self.ADDON_NAME}' needs the EKS add-on(s) {missing} on the same cluster, defined "
                f"before it (for '{POD_IDENTITY_AGENT}' use cluster.eks_pod_identity_agent; for "
                f"'{CERT_MANAGER}' the CertManagerAddon), or listed in assume_installed when they were "
                "installed outside this app",
            )
        super().__init__(scope, construct_id)
        self.cluster = cluster
        self.kubernetes_version = kubernetes_version
        #: The add-ons this one was ordered after (found in the app).
        self.depends_on: list[IConstruct] = [present[name] for name in (*self.REQUIRES, *self.AFTER) if name in present]
        self.configuration = deep_merge(self._build(), configuration_values or {})
        #: The add-on version: ``version``, else the table's pin for the Kubernetes version, else None (EKS's).
        self.version = version or default_addon_version(self.ADDON_NAME, kubernetes_version)
        #: Whether a stack delete leaves the add-on's software on the cluster (see the prop).
        self.preserve_on_delete = (
            preserve_on_delete if preserve_on_delete is not None else not isinstance(cluster, eks.Cluster)
        )
        self.addon = self._install()

    def _build(self) -> Mapping[str, Any]:
        """Create what the add-on needs before it; return the settings ``configuration_values`` go over."""
        return self.DEFAULT_CONFIGURATION

    def _roles(self) -> Sequence[iam.IRole | None]:
        """The roles whose inline policies the add-on is created after (None for one that is off)."""
        return ()

    def _order(self, first: IConstruct) -> None:
        """Create ``first`` (the add-on's earliest resource) after every dependency."""
        for dependency in self.depends_on:
            first.node.add_dependency(dependency)

    def _install(self) -> eks.Addon:
        """The add-on after its dependencies; a subclass creating a resource before it overrides this."""
        addon = self._addon()
        self._order(addon)
        return addon

    def _addon(self, *after: IConstruct) -> eks.Addon:
        """The ``AWS::EKS::Addon``, created after ``after`` and the inline policies of :meth:`_roles`."""
        addon = eks.Addon(
            self,
            "Addon",
            cluster=self.cluster,
            addon_name=self.ADDON_NAME,
            addon_version=self.version,
            configuration_values=self.configuration or None,
            # On a cluster this app does not own, a stack delete (or turning the add-on off) must not
            # remove software other tenants may use: "Specifying this option preserves the add-on
            # software on your cluster but Amazon EKS stops managing any settings for the add-on"
            # (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-eks-addon.html,
            # PreserveOnDelete; an in-place update). Omitted otherwise: the cluster goes with the stack.
            preserve_on_delete=True if self.preserve_on_delete else None,
        )
        resolve_conflicts(addon, self.ADDON_NAME)
        for construct in after:
            addon.node.add_dependency(construct)
        for role in self._roles():
            policy = role.node.try_find_child("DefaultPolicy") if role is not None else None
            if policy is not None:
                addon.node.add_dependency(policy)
        if self.SAGEMAKER_TAG:
            Tags.of(addon).add("SageMaker", "true")
        return addon


class ConfiguredAddon(HyperPodAddon):
    """An add-on that needs no AWS role: :attr:`DEFAULT_CONFIGURATION` with the user's
    ``configuration_values`` deep-merged over it (cert-manager, metrics-server). Kept as a name of
    its own for the add-ons of that kind; :class:`HyperPodAddon` does all of it."""


class PodIdentityAddon(HyperPodAddon):
    """An add-on whose pods call AWS through EKS Pod Identity: role -> association -> add-on.

    Written once here (as cdk-eks-blueprints' service-account add-ons do): a subclass sets
    :attr:`NAMESPACE`, :attr:`SERVICE_ACCOUNT` and :attr:`ROLE_DESCRIPTION` and gives the role its
    permissions in :meth:`_grant`. :meth:`_build` creates the role (construct id ``Role``,
    :attr:`role`) and :meth:`_install` the standalone association (``PodIdentity``,
    :attr:`association`) and then the add-on. The add-on is created after the association (add-on
    versions that report ``requiresIamPermissions=false`` refuse inline associations:
    awslabs/awsome-distributed-ai#1075) and after the role's inline policy, so the pods' first AWS
    call is already allowed.
    """

    #: Namespace and service account of the pods that assume the role.
    NAMESPACE: ClassVar[str]
    SERVICE_ACCOUNT: ClassVar[str]
    #: The IAM role's description.
    ROLE_DESCRIPTION: ClassVar[str]

    role: iam.Role
    association: eks.CfnPodIdentityAssociation

    def _build(self) -> Mapping[str, Any]:
        """The role only :attr:`SERVICE_ACCOUNT` in :attr:`NAMESPACE` of this cluster can assume, with :meth:`_grant`.

        Trust: ``pods.eks.amazonaws.com`` with ``sts:AssumeRole`` and ``sts:TagSession`` (EKS Pod
        Identity tags the session), limited by the session tags EKS sets (cluster, namespace and
        service account), as the EKS user guide's "pod-id-role" page shows. The cluster is matched by
        ``eks-cluster-arn``, not ``eks-cluster-name``: a name repeats across regions and accounts, an
        ARN does not (session tags: https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html).
        """
        session_tags = {
            "aws:RequestTag/eks-cluster-arn": self.cluster.cluster_arn,
            "aws:RequestTag/kubernetes-namespace": self.NAMESPACE,
            "aws:RequestTag/kubernetes-service-account": self.SERVICE_ACCOUNT,
        }
        principal = iam.ServicePrincipal("pods.eks.amazonaws.com").with_conditions({"StringEquals": session_tags})
        self.role = iam.Role(
            self, "Role", assumed_by=iam.SessionTagsPrincipal(principal), description=self.ROLE_DESCRIPTION
        )
        self._grant(self.role)
        return super()._build()

    def _grant(self, role: iam.Role) -> None:
        """Give the role what the add-on's pods call. Default: nothing."""

    def _roles(self) -> Sequence[iam.IRole | None]:
        return (self.role,)

    def _install(self) -> eks.Addon:
        """A standalone ``AWS::EKS::PodIdentityAssociation`` after the add-on's dependencies, then the add-on.

        Standalone rather than inline on the add-on: recent HyperPod add-on versions report
        ``requiresIamPermissions=false`` and reject inline ``PodIdentityAssociations`` on CreateAddon
        (awslabs/awsome-distributed-ai#1075), and a standalone association also survives add-on
        replacement.
        """
        self.association = eks.CfnPodIdentityAssociation(
            self,
            "PodIdentity",
            cluster_name=self.cluster.cluster_name,
            namespace=self.NAMESPACE,
            service_account=self.SERVICE_ACCOUNT,
            role_arn=self.role.role_arn,
        )
        self._order(self.association)
        return self._addon(self.association)


def add_managed_policy(role: iam.Role, policy_name: str, reason: str) -> None:
    """Attach the AWS managed policy ``policy_name`` to ``role`` and acknowledge cdk-nag's IAM4 for it."""
    role.add_managed_policy(iam.ManagedPolicy.from_aws_managed_policy_name(policy_name))
    acknowledge(role, managed_policy_finding(policy_name), reason)

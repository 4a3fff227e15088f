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
from typing import Any, ClassVar

from aws_cdk import CfnResource
from aws_cdk import aws_eks_v2 as eks
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import resolve_conflicts
from hyperpod_cdk.errors import HyperPodConfigError, check_prop_types
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


class HyperPodAddon(Construct):
    """Base of the add-on constructs.

    Subclasses set :attr:`ADDON_NAME`, :attr:`REQUIRES`, :attr:`AFTER` and :attr:`CONFIG_FIELD`, call
    ``super().__init__`` first (which checks the requirements) and then :meth:`_order` on their
    first resource.

    Args:
        cluster: the EKS cluster.
        assume_installed: add-on names installed outside this app, counted as present.
        kubernetes_version: the cluster's Kubernetes version ("1.33"); picks the default add-on
            version from :mod:`hyperpod_cdk.specs.addon_versions` when no ``version`` is given.
            Default: unknown, so EKS's default version.
    """

    ADDON_NAME: ClassVar[str]
    #: EKS add-ons that must exist; missing ones raise MissingAddonDependencyError.
    REQUIRES: ClassVar[tuple[str, ...]] = ()
    #: EKS add-ons this one is created after when they exist (ordering only).
    AFTER: ClassVar[tuple[str, ...]] = ()
    #: Config path named in errors.
    CONFIG_FIELD: ClassVar[str] = "kubernetes.addons"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: eks.ICluster,
        assume_installed: Sequence[str] = (),
        kubernetes_version: str | None = None,
    ) -> None:
        check_prop_types(scope, construct_id, cluster=("eks.ICluster", cluster))
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

    def _order(self, first: IConstruct) -> None:
        """Create ``first`` (the add-on's earliest resource) after every dependency."""
        for dependency in self.depends_on:
            first.node.add_dependency(dependency)

    def _addon(
        self,
        construct_id: str,
        *,
        version: str | None,
        configuration_values: Mapping[str, Any] | None,
    ) -> eks.Addon:
        if configuration_values is not None and not isinstance(configuration_values, Mapping):
            raise HyperPodConfigError(
                "configuration_values",
                f"expected a mapping of the add-on's settings, got {type(configuration_values).__name__}",
                construct_path=self.node.path,
            )
        """The ``AWS::EKS::Addon``: ``version``, else the table's pin for the Kubernetes version, else EKS's."""
        self.version = version or default_addon_version(self.ADDON_NAME, self.kubernetes_version)
        addon = eks.Addon(
            self,
            construct_id,
            cluster=self.cluster,
            addon_name=self.ADDON_NAME,
            addon_version=self.version,
            configuration_values=dict(configuration_values) if configuration_values else None,
        )
        resolve_conflicts(addon, self.ADDON_NAME)
        return addon


class ConfiguredAddon(HyperPodAddon):
    """An add-on that needs no AWS role: its settings are :attr:`DEFAULT_CONFIGURATION` with the
    user's ``configuration_values`` deep-merged over them (cert-manager, metrics-server).

    Args:
        cluster: the EKS cluster.
        version: add-on version. Default: the pin of :mod:`hyperpod_cdk.specs.addon_versions` for
            ``kubernetes_version``, else EKS's default.
        configuration_values: deep-merged over :attr:`DEFAULT_CONFIGURATION`. Default: none.
        assume_installed: add-on names installed outside this app. Default: none.
        kubernetes_version: the cluster's version, for the version table. Default: unknown.
    """

    DEFAULT_CONFIGURATION: ClassVar[Mapping[str, Any]] = {}

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
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            cluster=cluster,
            assume_installed=assume_installed,
            kubernetes_version=kubernetes_version,
        )
        self.configuration = deep_merge(self.DEFAULT_CONFIGURATION, configuration_values or {})
        self.addon = self._addon("Addon", version=version, configuration_values=self.configuration)
        self._order(self.addon)


class PodIdentityAddon(HyperPodAddon):
    """An add-on whose pods call AWS through EKS Pod Identity: role -> association -> add-on.

    Written once here (as cdk-eks-blueprints' service-account add-ons do): a subclass sets
    :attr:`NAMESPACE`, :attr:`SERVICE_ACCOUNT` and :attr:`ROLE_DESCRIPTION`, calls
    :meth:`_pod_identity_role` (construct id ``Role``), adds its permissions to :attr:`role`, and
    ends with :meth:`_install` (``PodIdentity`` then ``Addon``). The add-on is created after the
    association (add-on versions that report ``requiresIamPermissions=false`` refuse inline
    associations: awslabs/awsome-distributed-ai#1075) and after the role's inline policy, so the
    pods' first AWS call is already allowed.
    """

    #: Namespace and service account of the pods that assume the role.
    NAMESPACE: ClassVar[str]
    SERVICE_ACCOUNT: ClassVar[str]
    #: The IAM role's description.
    ROLE_DESCRIPTION: ClassVar[str]

    role: iam.Role
    association: eks.CfnPodIdentityAssociation
    addon: eks.Addon

    def _pod_identity_role(self) -> iam.Role:
        """The role only :attr:`SERVICE_ACCOUNT` in :attr:`NAMESPACE` of this cluster can assume."""
        self.role = pod_identity_role(
            self,
            "Role",
            cluster=self.cluster,
            namespace=self.NAMESPACE,
            service_account=self.SERVICE_ACCOUNT,
            description=self.ROLE_DESCRIPTION,
        )
        return self.role

    def _install(self, *, version: str | None, configuration_values: Mapping[str, Any] | None) -> eks.Addon:
        """The association, then the add-on after it and after the role's inline policy."""
        self.association = pod_identity_association(
            self,
            "PodIdentity",
            cluster=self.cluster,
            namespace=self.NAMESPACE,
            service_account=self.SERVICE_ACCOUNT,
            role=self.role,
        )
        self._order(self.association)
        self.addon = self._addon("Addon", version=version, configuration_values=configuration_values)
        self.addon.node.add_dependency(self.association)
        default_policy = self.role.node.try_find_child("DefaultPolicy")
        if default_policy is not None:
            self.addon.node.add_dependency(default_policy)
        return self.addon


def pod_identity_role(
    scope: Construct,
    construct_id: str,
    *,
    cluster: eks.ICluster,
    namespace: str,
    service_account: str,
    description: str,
) -> iam.Role:
    """An IAM role only one Kubernetes service account of one cluster can get through EKS Pod Identity.

    Trust: ``pods.eks.amazonaws.com`` with ``sts:AssumeRole`` and ``sts:TagSession`` (EKS Pod
    Identity tags the session), limited by the session tags EKS sets (cluster, namespace and
    service account), as the EKS user guide's "pod-id-role" page shows. The cluster is matched by
    ``eks-cluster-arn``, not ``eks-cluster-name``: a name repeats across regions and accounts, an
    ARN does not (session tags: https://docs.aws.amazon.com/eks/latest/userguide/pod-id-abac.html).
    """
    principal = iam.SessionTagsPrincipal(
        iam.ServicePrincipal("pods.eks.amazonaws.com").with_conditions(
            {
                "StringEquals": {
                    "aws:RequestTag/eks-cluster-arn": cluster.cluster_arn,
                    "aws:RequestTag/kubernetes-namespace": namespace,
                    "aws:RequestTag/kubernetes-service-account": service_account,
                }
            }
        )
    )
    return iam.Role(scope, construct_id, assumed_by=principal, description=description)


def pod_identity_association(
    scope: Construct,
    construct_id: str,
    *,
    cluster: eks.ICluster,
    namespace: str,
    service_account: str,
    role: iam.IRole,
) -> eks.CfnPodIdentityAssociation:
    """A standalone ``AWS::EKS::PodIdentityAssociation``.

    Standalone rather than inline on the add-on: recent HyperPod add-on versions report
    ``requiresIamPermissions=false`` and reject inline ``PodIdentityAssociations`` on CreateAddon
    (awslabs/awsome-distributed-ai#1075), and a standalone association also survives add-on
    replacement.
    """
    return eks.CfnPodIdentityAssociation(
        scope,
        construct_id,
        cluster_name=cluster.cluster_name,
        namespace=namespace,
        service_account=service_account,
        role_arn=role.role_arn,
    )

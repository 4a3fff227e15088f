"""HyperPodManifests: Kubernetes manifests applied by a handler that can apply nothing else.

aws-cdk-lib's kubectl handler (``Custom::AWSCDK-EKS-KubernetesResource`` / ``-HelmChart``) holds
cluster-admin and applies whatever manifest or chart the event carries, so anyone allowed to
invoke it (or its provider framework) could bind ``cluster-admin`` to ``system:authenticated``.
This construct replaces it for the platform's own objects:

- every set (a list of objects, a cdk8s chart, or a read-only wait for objects) is written at
  synth to a content-addressed S3 asset; its sha256 and the deploy-time values of its
  placeholders are in the handler's environment (``MANIFEST_CONTEXT``, a lazy value filled at
  synth), and the handler refuses an S3 object whose digest differs;
- an event only names a set and must carry exactly the properties derived from that copy, so
  invoking the function can re-apply, wait for, or delete what was synthesized, nothing else
  (``handlers/manifests/index.py``).

The handler runs in the cluster's VPC with the kubectl layer and an EKS access entry with
``AmazonEKSClusterAdminPolicy`` (the sets create Namespaces, ClusterRoles and bindings).
"""

from __future__ import annotations

import atexit
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Unpack

import cdk8s
import jsii
from aws_cdk import Aws, CustomResource, Duration, IStableStringProducer, Lazy, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from hyperpod_cdk._handler_functions import check_environment_size, function_role, handler_custom_resource
from hyperpod_cdk.errors import prop_error
from hyperpod_cdk.kubernetes.cluster_handler import ClusterHandlerConstruct, ClusterHandlerProps
from hyperpod_cdk.kubernetes.handlers.shared.manifest_sets import (
    placeholder,
    placeholders_in,
    set_digest,
    set_label_value,
)

HANDLER_DIR = Path(__file__).resolve().parent / "handlers" / "manifests"
RESOURCE_TYPE = "Custom::HyperPodManifests"
CONTEXT_ENV = "MANIFEST_CONTEXT"
PRUNE_LABEL = "hyperpod-cdk.aws/manifest-set"
# A wait polls inside one invocation of at most 15 minutes (as aws-cdk-lib's KubernetesObjectValue does).
MAX_WAIT = Duration.minutes(14)
DEFAULT_WAIT = Duration.minutes(10)
SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
#: Tag on the handler, for SCPs or permission boundaries that deny invoking it.
PURPOSE_TAG = ("hyperpod-cdk:purpose", "manifest-applier-cluster-admin")


class HyperPodManifests(ClusterHandlerConstruct):
    """Applies Kubernetes manifest sets fixed at synth; waits for objects (read-only).

    Add sets with :meth:`add_manifest`, :meth:`add_chart` and :meth:`add_wait`; each returns the
    custom resource to order things after (``node.add_dependency``).

    Takes the props of :class:`~hyperpod_cdk.kubernetes.cluster_handler.ClusterHandlerProps`
    (``cluster``, ``subnets``, ``kubectl_layer``, ``kubernetes_version``, ``log_key``, ``log_retention``).
    """

    HANDLER_NAME = "manifest handler"
    LOGS = ("Logs", "manifests", "HyperPod manifest handler logs")
    HANDLER_DIR = HANDLER_DIR
    PURPOSE_TAG = PURPOSE_TAG

    def __init__(self, scope: Construct, construct_id: str, **props: Unpack[ClusterHandlerProps]) -> None:
        super().__init__(scope, construct_id, **props)
        self._sets: dict[str, dict[str, Any]] = {}
        self._locations: dict[str, s3_assets.Asset] = {}
        self._params: list[str] = []  # index -> the token string it stands for
        self._staging = Path(tempfile.mkdtemp(prefix="hyperpod-cdk-manifests-"))
        # The assets are copied into the cloud assembly; the staging folder goes when the app exits.
        atexit.register(shutil.rmtree, self._staging, ignore_errors=True)
        self.function, self.access_entry = self._cluster_admin_handler(
            description="Applies the Kubernetes manifests fixed at synth (hyperpod-cdk)",
            memory_size=512,
            environment={
                "KUBECTL_BINARY": "/opt/kubectl/kubectl",
                CONTEXT_ENV: Lazy.string(_ContextProducer(self)),
            },
            environment_reason="the environment holds the kubectl path, the sets' sha256 digests and S3 keys, and "
            "deploy-time ids (file system, subnet, security group), no secrets; Lambda encrypts it at rest with an "
            "AWS managed key",
            managed_policies_reason="Lambda's AWS managed basic and VPC execution policies: CloudWatch Logs for the "
            "handler and the ENI actions Lambda needs to attach the function to the VPC; the handler's own access "
            "is eks:DescribeCluster on one cluster and s3:GetObject on its own manifest assets",
        )
        self.role = function_role(self.function)
        self.resources: dict[str, CustomResource] = {}

    # -- sets ---------------------------------------------------------------------------------

    def add_manifest(
        self, name: str, *objects: Mapping[str, Any], adoptable_namespaces: Sequence[str] = ()
    ) -> CustomResource:
        """Apply ``objects`` (Kubernetes objects as dicts; string values may be CDK tokens).

        A namespace of the set that already exists without the set's label is refused (the handler never
        takes one over), except those named in ``adoptable_namespaces``: one that exists then is adopted and
        kept on delete (SageMaker task governance makes ``hyperpod-ns-<team>``: review round 31, R31P-M1)."""
        if not objects:
            raise prop_error(self, name, "objects", "pass at least one Kubernetes object")
        label = _label_value(self, name)
        labelled = []
        for obj in objects:
            body = json.loads(json.dumps(obj))
            if not isinstance(body, dict) or not body.get("kind") or not body.get("apiVersion"):
                raise prop_error(self, name, "objects", "each object needs apiVersion and kind")
            body.setdefault("metadata", {}).setdefault("labels", {})[PRUNE_LABEL] = label
            labelled.append(self._tokens_to_placeholders(body, name))
        entry: dict[str, Any] = {"Kind": "apply", "PruneLabel": f"{PRUNE_LABEL}={label}", "Objects": labelled}
        if adoptable_namespaces:
            entry["AdoptableNamespaces"] = sorted(set(adoptable_namespaces))
        return self._add(name, entry)

    def add_chart(self, name: str, chart: cdk8s.Chart, *, adoptable_namespaces: Sequence[str] = ()) -> CustomResource:
        """Apply every object of a cdk8s chart (``adoptable_namespaces``: as :meth:`add_manifest`)."""
        return self.add_manifest(name, *chart.to_json(), adoptable_namespaces=adoptable_namespaces)

    def add_wait(
        self,
        name: str,
        *,
        object_type: str,
        object_names: Sequence[str],
        json_path: str,
        namespace: str | None = None,
        timeout: Duration = DEFAULT_WAIT,
    ) -> CustomResource:
        """Wait (read-only) until each named object has a value at ``json_path``."""
        seconds = int(timeout.to_seconds())
        if seconds > MAX_WAIT.to_seconds():
            raise prop_error(self, name, "timeout", f"at most {int(MAX_WAIT.to_minutes())} minutes (one Lambda run)")
        if not object_names:
            raise prop_error(self, name, "object_names", "name at least one object")
        entry: dict[str, Any] = {
            "Kind": "wait",
            "ObjectType": object_type,
            "ObjectNames": list(object_names),
            "JsonPath": json_path,
            "TimeoutSeconds": seconds,
        }
        if namespace:
            entry["Namespace"] = namespace
        return self._add(name, self._tokens_to_placeholders(entry, name))

    def add_namespace_labels(self, name: str, labels: Mapping[str, Mapping[str, str]]) -> CustomResource:
        """Label namespaces this app does not own (``{namespace: {key: value}}``): ``kubectl label
        --overwrite`` on create/update, the keys removed on delete; the namespaces are never deleted."""
        if not labels or not all(labels.values()):
            raise prop_error(self, name, "labels", "name at least one namespace and one label for each")
        entry = {
            "Kind": "label",
            "ObjectType": "namespace",
            "Labels": {ns: dict(sorted(values.items())) for ns, values in sorted(labels.items())},
        }
        return self._add(name, self._tokens_to_placeholders(entry, name))

    def _add(self, name: str, entry: dict[str, Any]) -> CustomResource:
        if not SET_NAME.fullmatch(name):
            raise prop_error(self, name, "name", "letters, digits and -, starting with a letter (63 at most)")
        if name in self._sets:
            raise prop_error(self, name, "name", "a set of this name exists already")
        self._sets[name] = entry
        path = self._staging / f"{name}.json"
        path.write_text(json.dumps(entry, sort_keys=True, separators=(",", ":")))
        asset = s3_assets.Asset(self, f"{name}Asset", path=str(path))
        self._locations[name] = asset
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[f"arn:{Aws.PARTITION}:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}"],
            )
        )
        resource = handler_custom_resource(
            self,
            name,
            self.function,
            resource_type=RESOURCE_TYPE,
            properties=self.expected_properties(name),
        )
        # kubectl authenticates as the handler role: its access entry comes first (and outlives it).
        resource.node.add_dependency(self.access_entry)
        self.resources[name] = resource
        self._check_environment_size(name)
        return resource

    def expected_properties(self, name: str) -> dict[str, Any]:
        """The custom resource's properties; the handler derives the same from its own copy."""
        entry = self._sets[name]
        return {
            "ClusterName": self.cluster.cluster_name,
            "Set": name,
            "Sha256": set_digest(entry),
            "Params": {str(i): self._params[i] for i in placeholders_in(entry)},
        }

    def _context(self) -> dict[str, Any]:
        return {
            "ClusterName": self.cluster.cluster_name,
            "Sets": {
                name: {
                    "Sha256": set_digest(entry),
                    "Bucket": self._locations[name].s3_bucket_name,
                    "Key": self._locations[name].s3_object_key,
                }
                for name, entry in self._sets.items()
            },
            "Params": {str(i): token for i, token in enumerate(self._params)},
        }

    def _tokens_to_placeholders(self, value: Any, name: str) -> Any:
        if isinstance(value, dict):
            out = {}
            for key, child in value.items():
                if Token.is_unresolved(key):
                    raise prop_error(self, name, "objects", f"a key is a deploy-time value ({key}); use literal keys")
                out[key] = self._tokens_to_placeholders(child, name)
            return out
        if isinstance(value, list):
            return [self._tokens_to_placeholders(child, name) for child in value]
        if isinstance(value, str) and Token.is_unresolved(value):
            if value not in self._params:
                self._params.append(value)
            return placeholder(self._params.index(value))
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise prop_error(self, name, "objects", f"{type(value).__name__} is not a JSON value")
        return value

    def _check_environment_size(self, name: str) -> None:
        # Tokens counted at their longest: bucket 63, key 69 (hash + .json), ids 100, name 100.
        size = (
            len(
                json.dumps(
                    {
                        "ClusterName": "x" * 100,
                        "Sets": {n: {"Sha256": "0" * 64, "Bucket": "b" * 63, "Key": "k" * 69} for n in self._sets},
                        "Params": {str(i): "p" * 100 for i in range(len(self._params))},
                    }
                )
            )
            + len(CONTEXT_ENV)
            + 40
        )
        check_environment_size(
            self,
            name,
            "name",
            size,
            what="the manifest sets take",
            fix="merge sets, or use fewer deploy-time values",
        )


@jsii.implements(IStableStringProducer)
class _ContextProducer:
    """``MANIFEST_CONTEXT`` once every set is added (the environment is rendered at synth)."""

    def __init__(self, manifests: HyperPodManifests) -> None:
        self._manifests = manifests

    def produce(self) -> str:
        return Stack.of(self._manifests).to_json_string(self._manifests._context())


def _label_value(scope: Construct, name: str) -> str:
    return set_label_value(scope.node.path, name)

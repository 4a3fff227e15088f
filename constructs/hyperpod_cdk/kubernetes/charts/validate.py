"""Validate rendered Kubernetes manifests before they reach a cluster.

Every manifest goes to the strongest offline check available for its kind:

* **Built-in kinds** (Namespace, Role, RoleBinding, PriorityClass, PersistentVolume(Claim), ...)
  are checked against the Kubernetes 1.33 OpenAPI schema by ``kubernetes-validate`` in strict
  mode (unknown fields are errors).
* **HyperPodPyTorchJob** (``sagemaker.amazonaws.com/v1``) is checked by the official
  ``sagemaker-hyperpod`` SDK's pydantic model of the CRD (``HyperPodPytorchJob``, which forbids
  unknown fields; validated ``by_name`` so camelCase keys are really checked, not dropped), then
  by the rules the CRD does not enforce (log-rule operators and regexes, restart bounds,
  ``nprocPerNode``, GPU/EFA requests equal to limits), and each replica's pod template is checked
  as a core/v1 PodTemplate by ``kubernetes-validate``.
* **InferenceEndpointConfig** (``inference.sagemaker.aws.amazon.com/v1``) is checked by the SDK's
  ``_HPEndpoint`` model of its spec (nested models forbid unknown fields; the top level ignores
  them, so top-level keys are checked against the model's fields here).
* **cert-manager** (ClusterIssuer, Issuer, Certificate) and **Kueue** (LocalQueue) have no schema
  offline; they get a structural check written here: apiVersion/kind, required fields, allowed
  keys and value formats. That is weaker than the CRDs' OpenAPI schemas.

Anything else raises: a manifest nobody can check is an error, not a pass.

``kubernetes-validate`` and ``sagemaker-hyperpod`` are development dependencies (``.[dev]``);
they are imported only when a manifest needs them.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts import job_checks as _job_checks
from hyperpod_cdk.kubernetes.charts import jobs as _jobs
from hyperpod_cdk.specs.kubernetes_names import is_dns_label, is_dns_subdomain

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "KUBERNETES_VERSION",
    "ManifestValidationError",
    "manifest_id",
    "validate_chart",
    "validate_manifest",
    "validate_manifests",
]

KUBERNETES_VERSION = "1.33.0"
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "PriorityClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
        "StorageClass",
        "CustomResourceDefinition",
        "ClusterIssuer",
        "ClusterQueue",
        "ResourceFlavor",
        "WorkloadPriorityClass",
    }
)
_GO_DURATION = re.compile(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
CERT_MANAGER = "cert-manager.io/v1"
KUEUE = "kueue.x-k8s.io/v1beta1"


class ManifestValidationError(HyperPodConfigError):
    """A rendered manifest is invalid; ``field`` is ``<Kind>/<name>.<path>``."""


def manifest_id(doc: Mapping[str, Any]) -> str:
    raw = doc.get("metadata")
    metadata: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    name = metadata.get("name", "?")
    namespace = metadata.get("namespace")
    return f"{doc.get('kind', '?')}/{namespace + '/' if namespace else ''}{name}"


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Checker:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.id = manifest_id(doc)

    def fail(self, path: str, message: str) -> ManifestValidationError:
        return ManifestValidationError(f"{self.id}{'.' + path if path else ''}", message)

    def mapping(self, value: Any, path: str, *, required: bool = True) -> Mapping[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(path, "must be a mapping")
        return value

    def keys(self, value: Mapping[str, Any], path: str, allowed: Iterable[str]) -> None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise self.fail(path, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")

    def name(self, value: Any, path: str, *, label: bool = False) -> None:
        if value is None:
            raise self.fail(path, "is required")
        if not (is_dns_label if label else is_dns_subdomain)(value):
            raise self.fail(path, f"{value!r} is not a valid DNS-1123 {'label' if label else 'subdomain'}")


# --------------------------------------------------------------------------------------------


def _common(c: _Checker) -> None:
    doc = c.doc
    metadata = c.mapping(doc.get("metadata"), "metadata")
    c.name(metadata.get("name"), "metadata.name", label=doc["kind"] == "Namespace")
    namespace = metadata.get("namespace")
    if doc["kind"] in CLUSTER_SCOPED_KINDS:
        if namespace is not None:
            raise c.fail("metadata.namespace", f"{doc['kind']} is cluster-scoped and takes no namespace")
    else:
        if namespace is None:
            raise c.fail("metadata.namespace", f"{doc['kind']} is namespaced; set the namespace explicitly")
        c.name(namespace, "metadata.namespace", label=True)


def _kubernetes(c: _Checker, doc: Mapping[str, Any], version: str, prefix: str = "") -> None:
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import SchemaNotFoundError, ValidationError
    except ImportError:  # pragma: no cover - dev dependency
        raise c.fail(prefix, "kubernetes-validate is not installed (pip install -e '.[dev]')") from None
    try:
        kubernetes_validate.validate(dict(doc), desired_version=version, strict=True)
    except SchemaNotFoundError:
        raise c.fail(
            prefix,
            f"no Kubernetes {version} schema for {doc.get('apiVersion')} {doc.get('kind')}; "
            "not a built-in kind and no validator is registered for it",
        ) from None
    except ValidationError as exc:
        raise c.fail(_path([p for p in (prefix,) if p] + list(exc.absolute_path)), exc.message) from None


# HyperPodPyTorchJob ------------------------------------------------------------------------

_RULE_KEYS = {
    "logPattern": "log_pattern",
    "stopPattern": "stop_pattern",
    "operator": "operator",
    "metricThreshold": "metric_threshold",
    "metricEvaluationDataPoints": "metric_evaluation_data_points",
    "expectedStartCutOffInSeconds": "expected_start_cutoff_seconds",
    "expectedRecurringFrequencyInSeconds": "expected_recurring_frequency_seconds",
}


# Builder (Python) field names -> CRD field names, so manifest errors name the YAML key.
_CRD_NAMES = {
    "clean_pod_policy": "cleanPodPolicy",
    "job_max_retry_count": "jobMaxRetryCount",
    "restart_policy": "restartPolicy",
    "eval_period_seconds": "evalPeriodSeconds",
    "num_restart_before_full_job_restart": "numRestartBeforeFullJobRestart",
    "max_full_job_restarts": "maxFullJobRestarts",
    "log_monitoring": "logMonitoringConfiguration",
    **{py: crd for crd, py in _RULE_KEYS.items()},
}


def _crd_path(field: str) -> str:
    parts = []
    for part in field.split("."):
        head, bracket, rest = part.partition("[")
        parts.append(_CRD_NAMES.get(head, head) + bracket + rest)
    return ".".join(parts)


def _sdk_model() -> Any:
    try:
        # sagemaker-hyperpod 3.12.0 resets the warning filters to "always" on import (its cli/__init__.py)
        # and has invalid escape sequences Python reports while compiling it (cli/utils.py). Recording
        # keeps those lines off stderr and restores our filters afterwards.
        with warnings.catch_warnings(record=True):
            from sagemaker.hyperpod.training.hyperpod_pytorch_job import HyperPodPytorchJob
    except ImportError:  # pragma: no cover - dev dependency
        return None
    return HyperPodPytorchJob


def _hyperpod_job(c: _Checker, version: str) -> None:
    doc = c.doc
    c.keys(doc, "", ("apiVersion", "kind", "metadata", "spec"))
    metadata = c.mapping(doc["metadata"], "metadata")
    c.keys(metadata, "metadata", ("name", "namespace", "labels", "annotations"))
    spec = c.mapping(doc.get("spec"), "spec")
    if "metadata" in spec or "status" in spec:
        raise c.fail("spec", "must not contain metadata or status")

    _check_with_sdk_model(c, metadata, spec)
    try:
        _check_spec_rules(spec)
    except HyperPodConfigError as exc:
        raise c.fail(_crd_path(exc.field), exc.message) from None
    _check_replica_templates(c, spec, version)
    _check_elastic_agent(c, spec)


def _check_with_sdk_model(c: _Checker, metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
    """The sagemaker-hyperpod SDK's strict HyperPodPytorchJob model; its first error names the path."""
    model = _sdk_model()
    if model is None:  # pragma: no cover - dev dependency
        raise c.fail("", "sagemaker-hyperpod is not installed (pip install -e '.[dev]')")
    from pydantic import ValidationError

    try:
        # by_name=True: the SDK's field names are the CRD's camelCase keys and its aliases are
        # snake_case. Without it this strict class rejects every camelCase key as unknown, and the
        # lenient base class (_HyperPodPytorchJob, extra="ignore") would drop them unchecked.
        model.model_validate({"metadata": dict(metadata), **spec}, by_name=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = list(error["loc"])
        path = _path(loc if loc and loc[0] == "metadata" else ["spec", *loc])
        raise c.fail(path, f"{error['msg']} (sagemaker-hyperpod HyperPodPytorchJob model)") from None


def _check_spec_rules(spec: Mapping[str, Any]) -> None:
    """What the operator does not check but the job builder does (raises HyperPodConfigError)."""
    _jobs.check_nproc_per_node("spec.nprocPerNode", spec.get("nprocPerNode", "auto"))
    if not isinstance(spec.get("nprocPerNode", "auto"), str):
        raise HyperPodConfigError("spec.nprocPerNode", "must be a string in the CRD")
    replicas = spec.get("replicaSpecs") or []
    if not replicas:
        raise HyperPodConfigError("spec.replicaSpecs", "a job needs at least one replica spec")
    for index, replica in enumerate(replicas):
        _job_checks._check_int(f"spec.replicaSpecs[{index}].replicas", replica.get("replicas", 0), 1)
    run_policy = spec.get("runPolicy") or {}
    restart = run_policy.get("restartPolicy")
    rules = run_policy.get("logMonitoringConfiguration") or []
    _jobs.check_run_policy(
        "spec.runPolicy",
        clean_pod_policy=run_policy.get("cleanPodPolicy"),
        job_max_retry_count=run_policy.get("jobMaxRetryCount"),
        eval_period_seconds=restart.get("evalPeriodSeconds") if restart else ...,
        num_restart_before_full_job_restart=(restart or {}).get("numRestartBeforeFullJobRestart"),
        max_full_job_restarts=(restart or {}).get("maxFullJobRestarts"),
        rule_names=[rule.get("name") for rule in rules],
    )
    for index, rule in enumerate(rules):
        _jobs.check_log_rule(
            f"spec.runPolicy.logMonitoringConfiguration[{index}]",
            name=rule.get("name"),
            **{py: rule.get(crd) for crd, py in _RULE_KEYS.items()},
        )


def _check_replica_templates(c: _Checker, spec: Mapping[str, Any], version: str) -> None:
    """Each replica's pod template against the Kubernetes schema, and its containers' resources."""
    for index, replica in enumerate(spec["replicaSpecs"]):
        template = replica.get("template")
        prefix = f"spec.replicaSpecs[{index}].template"
        if not isinstance(template, Mapping) or not isinstance(template.get("spec"), Mapping):
            raise c.fail(prefix, "each replica needs a pod template with a spec")
        _kubernetes(
            c,
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"}, "template": dict(template)},
            version,
            prefix=f"spec.replicaSpecs[{index}]",
        )
        for cindex, container in enumerate(template["spec"].get("containers") or []):
            resources = container.get("resources") or {}
            try:
                _jobs.Resources(requests=resources.get("requests") or {}, limits=resources.get("limits") or {})
            except HyperPodConfigError as exc:
                raise c.fail(f"{prefix}.spec.containers[{cindex}].{exc.field}", exc.message) from None


def _check_elastic_agent(c: Any, spec: Mapping[str, Any]) -> None:
    """Log rules need a container running hyperpodrun; its log directory must be /tmp/hyperpod.

    A container without ``command`` runs its image's ENTRYPOINT, which may start the agent: such a
    job is not refused.
    """
    rules = (spec.get("runPolicy") or {}).get("logMonitoringConfiguration") or []
    agent_seen = entrypoint_seen = False
    for index, replica in enumerate(spec["replicaSpecs"]):
        for cindex, raw in enumerate(replica["template"]["spec"].get("containers") or []):
            path = f"spec.replicaSpecs[{index}].template.spec.containers[{cindex}].args"
            command, args = list(raw.get("command") or []), list(raw.get("args") or [])
            if not command:
                entrypoint_seen = True
                continue
            argv = _jobs.Container(image="example.com/check:1", command=command, args=args).agent_argv()
            if argv is None:
                continue
            agent_seen = True
            try:
                _jobs.check_agent_argv(path, argv, log_rules=bool(rules))
            except HyperPodConfigError as exc:
                raise c.fail(exc.field, exc.message) from None
    if rules and not agent_seen and not entrypoint_seen:
        raise c.fail(
            "spec.runPolicy.logMonitoringConfiguration",
            "log-monitoring rules need the HyperPod elastic agent, but no container runs hyperpodrun; "
            "start the training with hyperpodrun (pip install hyperpod-elastic-agent), or drop the rules",
        )


# cert-manager --------------------------------------------------------------------------------

_ISSUER_TYPES = ("acme", "ca", "selfSigned", "vault", "venafi")
_CERT_SPEC_KEYS = (
    "additionalOutputFormats",
    "commonName",
    "dnsNames",
    "duration",
    "emailAddresses",
    "encodeUsagesInRequest",
    "ipAddresses",
    "isCA",
    "issuerRef",
    "keystores",
    "literalSubject",
    "nameConstraints",
    "otherNames",
    "privateKey",
    "renewBefore",
    "renewBeforePercentage",
    "revisionHistoryLimit",
    "secretName",
    "secretTemplate",
    "subject",
    "uris",
    "usages",
)
_CERT_IDENTITIES = ("commonName", "dnsNames", "uris", "ipAddresses", "emailAddresses", "literalSubject", "otherNames")
_KEY_SIZES: dict[str, Any] = {"RSA": range(2048, 8193), "ECDSA": (256, 384, 521), "Ed25519": (None,)}


def _issuer(c: _Checker) -> None:
    c.keys(c.doc, "", ("apiVersion", "kind", "metadata", "spec"))
    spec = c.mapping(c.doc.get("spec"), "spec")
    c.keys(spec, "spec", _ISSUER_TYPES)
    kinds = [key for key in _ISSUER_TYPES if key in spec]
    if len(kinds) != 1:
        raise c.fail("spec", f"an issuer needs exactly one of {list(_ISSUER_TYPES)} (got {kinds})")
    body = c.mapping(spec[kinds[0]], f"spec.{kinds[0]}")
    if kinds[0] == "selfSigned":
        c.keys(body, "spec.selfSigned", ("crlDistributionPoints",))
    elif kinds[0] == "ca":
        c.keys(body, "spec.ca", ("secretName", "crlDistributionPoints", "ocspServers", "issuingCertificateURLs"))
        c.name(body.get("secretName"), "spec.ca.secretName")


def _certificate(c: _Checker) -> None:
    c.keys(c.doc, "", ("apiVersion", "kind", "metadata", "spec"))
    spec = c.mapping(c.doc.get("spec"), "spec")
    c.keys(spec, "spec", _CERT_SPEC_KEYS)
    c.name(spec.get("secretName"), "spec.secretName")
    ref = c.mapping(spec.get("issuerRef"), "spec.issuerRef")
    c.keys(ref, "spec.issuerRef", ("name", "kind", "group"))
    c.name(ref.get("name"), "spec.issuerRef.name")
    if ref.get("group", "cert-manager.io") == "cert-manager.io" and ref.get("kind", "Issuer") not in (
        "Issuer",
        "ClusterIssuer",
    ):
        raise c.fail("spec.issuerRef.kind", f"{ref.get('kind')!r} is not Issuer or ClusterIssuer")
    if not any(spec.get(key) for key in _CERT_IDENTITIES):
        raise c.fail("spec", f"a certificate needs at least one of {list(_CERT_IDENTITIES)}")
    common_name = spec.get("commonName")
    if common_name is not None and (not isinstance(common_name, str) or len(common_name) > 64):
        raise c.fail("spec.commonName", "must be a string of at most 64 characters")
    if "isCA" in spec and not isinstance(spec["isCA"], bool):
        raise c.fail("spec.isCA", "must be a boolean")
    for key in ("duration", "renewBefore"):
        if key in spec and (not isinstance(spec[key], str) or not _GO_DURATION.match(spec[key])):
            raise c.fail(f"spec.{key}", f"{spec[key]!r} is not a Go duration such as 2160h")
    private_key = c.mapping(spec.get("privateKey"), "spec.privateKey", required=False)
    c.keys(private_key, "spec.privateKey", ("algorithm", "encoding", "rotationPolicy", "size"))
    algorithm = private_key.get("algorithm", "RSA")
    if algorithm not in _KEY_SIZES:
        raise c.fail("spec.privateKey.algorithm", f"{algorithm!r} is not RSA, ECDSA or Ed25519")
    if "size" in private_key and private_key["size"] not in _KEY_SIZES[algorithm]:
        raise c.fail("spec.privateKey.size", f"{private_key['size']!r} is not a valid {algorithm} key size")
    if private_key.get("rotationPolicy", "Never") not in ("Never", "Always"):
        raise c.fail("spec.privateKey.rotationPolicy", "must be Never or Always")


# InferenceEndpointConfig ---------------------------------------------------------------------

INFERENCE = "inference.sagemaker.aws.amazon.com/v1"


def _inference_endpoint(c: _Checker) -> None:
    c.keys(c.doc, "", ("apiVersion", "kind", "metadata", "spec"))
    c.keys(c.mapping(c.doc["metadata"], "metadata"), "metadata", ("name", "namespace", "labels", "annotations"))
    spec = c.mapping(c.doc.get("spec"), "spec")
    try:
        from pydantic import ValidationError
        from sagemaker.hyperpod.inference.config.hp_endpoint_config import _HPEndpoint
    except ImportError:  # pragma: no cover - dev dependency
        raise c.fail("", "sagemaker-hyperpod is not installed (pip install -e '.[dev]')") from None
    # The top-level model ignores unknown keys (extra="ignore"), so a typo there would pass silently.
    known = set(_HPEndpoint.model_fields)
    for key in spec:
        if key not in known:
            raise c.fail(f"spec.{key}", "not a field of InferenceEndpointConfig (sagemaker-hyperpod _HPEndpoint)")
    try:
        _HPEndpoint.model_validate(dict(spec), by_name=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise c.fail(_path(["spec", *error["loc"]]), f"{error['msg']} (sagemaker-hyperpod _HPEndpoint model)") from None


# Kueue -----------------------------------------------------------------------------------------


def _local_queue(c: _Checker) -> None:
    c.keys(c.doc, "", ("apiVersion", "kind", "metadata", "spec"))
    spec = c.mapping(c.doc.get("spec"), "spec")
    c.keys(spec, "spec", ("clusterQueue", "stopPolicy", "fairSharing"))
    c.name(spec.get("clusterQueue"), "spec.clusterQueue")
    if spec.get("stopPolicy", "None") not in ("None", "Hold", "HoldAndDrain"):
        raise c.fail("spec.stopPolicy", "must be None, Hold or HoldAndDrain")


# Karpenter (HyperPod's managed autoscaler) ----------------------------------------------------


def _node_class(c: _Checker) -> None:
    c.keys(c.doc, "", ("apiVersion", "kind", "metadata", "spec"))
    spec = c.mapping(c.doc.get("spec"), "spec")
    c.keys(spec, "spec", ("instanceGroups",))
    groups = spec.get("instanceGroups")
    if not isinstance(groups, list) or not 1 <= len(groups) <= 10:
        raise c.fail("spec.instanceGroups", "must list 1 to 10 instance group names")
    for index, group in enumerate(groups):
        if not isinstance(group, str) or not group:
            raise c.fail(f"spec.instanceGroups[{index}]", "must be an instance group name")


_NODE_POOL_REQUIREMENT_KEYS = ("node.kubernetes.io/instance-type", "topology.kubernetes.io/zone", "kubernetes.io/arch")


def _node_pool(c: _Checker) -> None:
    c.keys(c.doc, "", ("apiVersion", "kind", "metadata", "spec"))
    spec = c.mapping(c.doc.get("spec"), "spec")
    c.keys(spec, "spec", ("template", "disruption", "limits", "weight"))
    template = c.mapping(c.mapping(spec.get("template"), "spec.template").get("spec"), "spec.template.spec")
    ref = c.mapping(template.get("nodeClassRef"), "spec.template.spec.nodeClassRef")
    if (ref.get("group"), ref.get("kind")) != ("karpenter.sagemaker.amazonaws.com", "HyperpodNodeClass"):
        raise c.fail("spec.template.spec.nodeClassRef", "must reference a HyperpodNodeClass")
    c.name(ref.get("name"), "spec.template.spec.nodeClassRef.name")
    for index, requirement in enumerate(template.get("requirements") or []):
        # HyperPod's Karpenter provider honours only these keys (HyperPod NodePool docs).
        if requirement.get("key") not in _NODE_POOL_REQUIREMENT_KEYS:
            raise c.fail(
                f"spec.template.spec.requirements[{index}].key",
                f"HyperPod's Karpenter supports only {', '.join(_NODE_POOL_REQUIREMENT_KEYS)}",
            )
    disruption = c.mapping(spec.get("disruption"), "spec.disruption", required=False)
    if disruption.get("consolidationPolicy", "WhenEmptyOrUnderutilized") not in (
        "WhenEmpty",
        "WhenEmptyOrUnderutilized",
    ):
        raise c.fail("spec.disruption.consolidationPolicy", "must be WhenEmpty or WhenEmptyOrUnderutilized")


_CUSTOM: dict[tuple[str, str], tuple[str, Any]] = {
    (_jobs.API_VERSION, _jobs.KIND): ("hyperpod-sdk", _hyperpod_job),
    (CERT_MANAGER, "ClusterIssuer"): ("structural", lambda c, v: _issuer(c)),
    (CERT_MANAGER, "Issuer"): ("structural", lambda c, v: _issuer(c)),
    (CERT_MANAGER, "Certificate"): ("structural", lambda c, v: _certificate(c)),
    (KUEUE, "LocalQueue"): ("structural", lambda c, v: _local_queue(c)),
    ("karpenter.sagemaker.amazonaws.com/v1", "HyperpodNodeClass"): ("structural", lambda c, v: _node_class(c)),
    ("karpenter.sh/v1", "NodePool"): ("structural", lambda c, v: _node_pool(c)),
    (INFERENCE, "InferenceEndpointConfig"): ("hyperpod-sdk", lambda c, v: _inference_endpoint(c)),
}
_CUSTOM_GROUPS = {key[0].split("/")[0] for key in _CUSTOM}


def validate_manifest(doc: Mapping[str, Any], *, kubernetes_version: str = KUBERNETES_VERSION) -> str:
    """Validate one manifest; return which check ran (kubernetes, hyperpod-sdk or structural).

    Raises :class:`ManifestValidationError` naming the manifest and the field.
    """
    if not isinstance(doc, Mapping):
        raise ManifestValidationError("manifest", f"must be a mapping (got {type(doc).__name__})")
    c = _Checker(doc)
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise c.fail(key, "is required")
    route = _CUSTOM.get((doc["apiVersion"], doc["kind"]))
    group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
    if route is None and group in _CUSTOM_GROUPS:
        known = sorted(kind for (api, kind) in _CUSTOM if api.startswith(group + "/"))
        hint = [k for k in known if k.lower() == doc["kind"].lower()]
        raise c.fail(
            "kind",
            f"{doc['apiVersion']} {doc['kind']} is not a kind this project validates"
            + (f"; did you mean {hint[0]}?" if hint else f" ({', '.join(known)})"),
        )
    _common(c)
    if route is not None:
        route[1](c, kubernetes_version)
        return route[0]
    _kubernetes(c, doc, kubernetes_version)
    return "kubernetes"


def validate_manifests(docs: Sequence[Mapping[str, Any]], *, kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Validate each manifest and check that no two share kind, namespace and name."""
    seen: set[str] = set()
    results = []
    for doc in docs:
        results.append(validate_manifest(doc, kubernetes_version=kubernetes_version))
        key = f"{doc['apiVersion'].split('/')[0]}:{manifest_id(doc)}"
        if key in seen:
            raise ManifestValidationError(manifest_id(doc), "defined twice")
        seen.add(key)
    return results


def validate_chart(chart: Any, *, kubernetes_version: str = KUBERNETES_VERSION) -> list[dict[str, Any]]:
    """Validate every manifest of a cdk8s chart; return the manifests."""
    docs = [dict(doc) for doc in chart.to_json()]
    validate_manifests(docs, kubernetes_version=kubernetes_version)
    return docs

"""Turn any HyperPod cluster definition into the rules' model: CloudFormation-shaped templates.

One model for every input, so one rule table serves them all:

* a **CloudFormation template** (JSON or YAML, short-form intrinsics): parameters from the caller,
  else their defaults; conditions and ``Fn::If`` evaluated where known (:mod:`.cfn_template`);
* a **CreateCluster / UpdateCluster request** (the ``--cli-input-json`` shape): its PascalCase keys are
  the ``AWS::SageMaker::Cluster`` properties, so the request becomes one such resource;
* a **cdk.out** directory: every ``*.template.json``, the region from ``manifest.json``;
* **``terraform show -json``** output (state or plan): ``awscc_sagemaker_cluster`` (Cloud Control,
  the CloudFormation schema in snake_case), the hashicorp ``aws_sagemaker_cluster`` (nested blocks as
  one-element lists, a few names of its own), and the neighbours the rules read (EKS cluster, add-ons,
  pod identity associations, subnets, security-group rules, Helm releases).

Pure Python: no jsii, no AWS calls. ``--live`` adds what AWS knows (:mod:`hyperpod_cdk.cli.lint_live`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from hyperpod_cdk.input_limits import TEMPLATE_LIMITS, UnreadableInputError, read_input_text
from hyperpod_cdk.rules.cdk_out import CdkOutError, declared_parameters, read_cdk_out
from hyperpod_cdk.rules.cfn_template import Resolved, TemplateError, parse_template, resolve_template
from hyperpod_cdk.rules.model import Templates, as_list, as_map
from hyperpod_cdk.rules.terraform_groups import TERRAFORM_ID, security_group

Json = Any

CLOUDFORMATION = "cloudformation"
CREATE_CLUSTER = "create-cluster"
UPDATE_CLUSTER = "update-cluster"
CDK_OUT = "cdk.out"
TERRAFORM = "terraform"
# Marks a definition that lists only what changes (UpdateCluster): rules that need the whole
# cluster (the system-pod host, the orchestrator) skip it.
PARTIAL_MARK = "hyperpod-cdk:partial"

# Top-level keys of the CreateCluster / UpdateCluster requests that are AWS::SageMaker::Cluster properties.
_REQUEST_KEYS = (
    "ClusterName",
    "InstanceGroups",
    "RestrictedInstanceGroups",
    "VpcConfig",
    "Tags",
    "Orchestrator",
    "NodeRecovery",
    "NodeProvisioningMode",
    "ClusterRole",
    "AutoScaling",
    "TieredStorageConfig",
)


class LintInputError(ValueError):
    """A path that cannot be linted; the message is one line naming the path and the fix."""


@dataclass
class LintInput:
    """One input, as templates the rules read, plus what the loader could not resolve offline."""

    source: str
    kind: str
    templates: Templates
    # (template path, where, why) of values whose structure depends on something unknown offline.
    unresolved: list[tuple[str, str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- entry point


def load(path: str | Path, *, parameters: Mapping[str, str] | None = None, region: str | None = None) -> LintInput:
    """Read one path (file or cdk.out directory) into a :class:`LintInput`."""
    target = Path(path)
    if target.is_dir():
        return load_cdk_out(target, region=region, parameters=parameters)
    if target.is_fifo() or target.is_socket():
        # open() of a pipe blocks until a writer comes: never, in CI.
        raise LintInputError(f"{target}: a named pipe or socket, not a file")
    try:
        # Capped: /dev/zero or a huge file is refused after TEMPLATE_LIMITS.max_bytes, not read whole.
        text = read_input_text(target, TEMPLATE_LIMITS)
    except UnreadableInputError as exc:
        reason = {"missing": "no such file or directory", "os": f"cannot read it ({exc.reason})"}
        raise LintInputError(f"{target}: {reason.get(exc.kind, exc.reason)}") from None
    try:
        data = parse_template(text, str(target))
    except TemplateError as exc:
        raise LintInputError(str(exc)) from None
    return load_data(data, str(target), parameters=parameters, region=region)


def load_data(
    data: Mapping[str, Json], source: str, *, parameters: Mapping[str, str] | None = None, region: str | None = None
) -> LintInput:
    """Classify parsed JSON/YAML and convert it."""
    if "format_version" in data and ("values" in data or "planned_values" in data):
        return from_terraform(data, source, region=region)
    if "Resources" in data or "AWSTemplateFormatVersion" in data:
        return from_cloudformation(data, source, parameters=parameters, region=region)
    if "InstanceGroups" in data or ("ClusterName" in data and any(k in data for k in _REQUEST_KEYS[1:])):
        return from_request(data, source, region=region)
    raise LintInputError(
        f"{source}: not a CloudFormation template (Resources), a CreateCluster/UpdateCluster request "
        "(ClusterName, InstanceGroups) or `terraform show -json` output (format_version, values)"
    )


# --------------------------------------------------------------------------- CloudFormation


def from_cloudformation(
    template: Mapping[str, Json],
    source: str,
    *,
    parameters: Mapping[str, str] | None = None,
    region: str | None = None,
) -> LintInput:
    resolved = resolve_template(template, declared_parameters(template, parameters), region)
    templates = Templates({source: resolved.template}, region=region, closed_world=False)
    templates.written[source] = resolved.written
    lint_input = LintInput(source, CLOUDFORMATION, templates)
    lint_input.unresolved.extend(_unresolved_lines(resolved, source))
    return lint_input


def _unresolved_lines(resolved: Resolved, source: str) -> list[tuple[str, str, str]]:
    """The not-checked lines of what the resolver left to deploy that changes the structure (a transform or a
    condition: which resources or list items exist), and how many more it did not list."""
    lines = [(source, where, why) for where, why in resolved.unexpanded]  # review round 19, R19T-M7
    lines += [(source, where, why) for where, why in resolved.unresolved if "condition" in why]
    if resolved.unresolved_more:
        lines.append(
            (source, "Resources", f"{resolved.unresolved_more:,} more values not known offline are not listed")
        )
    return lines


# --------------------------------------------------------------------------- CreateCluster / UpdateCluster


def from_request(request: Mapping[str, Json], source: str, *, region: str | None = None) -> LintInput:
    properties = {k: request[k] for k in _REQUEST_KEYS if k in request}
    # UpdateCluster has no VpcConfig or Orchestrator (both are create-only) and may list only some groups.
    partial = "VpcConfig" not in request and "Orchestrator" not in request
    kind = UPDATE_CLUSTER if partial or "InstanceGroupsToDelete" in request else CREATE_CLUSTER
    cluster_name = request.get("ClusterName")
    name = cluster_name if isinstance(cluster_name, str) else "Cluster"
    body: dict[str, Json] = {"Type": "AWS::SageMaker::Cluster", "Properties": properties}
    if partial:
        body["Metadata"] = {PARTIAL_MARK: True}
    template = {"Resources": {name: body}}
    templates = Templates({source: template}, region=region, closed_world=False)
    if partial:
        templates.partial.add((source, name))
    return LintInput(source, kind, templates)


# --------------------------------------------------------------------------- cdk.out


def load_cdk_out(
    directory: Path, *, region: str | None = None, parameters: Mapping[str, str] | None = None
) -> LintInput:
    """Every ``*.template.json`` of a cdk.out (within :mod:`.cdk_out`'s caps), each with its stack's region;
    ``parameters`` as for a template file, in each template that declares them (R19T-M1)."""
    try:
        files = read_cdk_out(directory, region, parameters)
        resolved, regions, nested_in = files.templates, files.regions, files.nested_in
    except CdkOutError as exc:
        raise LintInputError(str(exc)) from None
    templates = {path: r.template for path, r in resolved.items()}
    lint_input = LintInput(str(directory), CDK_OUT, Templates(templates, regions=regions, closed_world=False))
    lint_input.templates.written.update((path, r.written) for path, r in resolved.items())
    lint_input.templates.nested_in.update(nested_in)
    lint_input.templates.shared_in.update(files.shared_in)
    for path, r in resolved.items():  # the same lines as the template file gets (review round 17, R17T-M3)
        lint_input.unresolved.extend(_unresolved_lines(r, path))
    return lint_input


# --------------------------------------------------------------------------- Terraform

# snake_case words whose PascalCase is not plain capitalisation (CloudFormation spellings).
_WORDS = {
    "gb": "GB",
    "s3": "S3",
    "fsx": "FSx",
    "gi": "Gi",
    "b": "B",
    "ids": "Ids",
    "id": "Id",
    "eks": "Eks",
    "kms": "Kms",
    "vpc": "Vpc",
    "arn": "Arn",
    "ebs": "Ebs",
    "uri": "Uri",
}
_RENAMES = {
    "life_cycle_config": "LifeCycleConfig",
    "lifecycle_config": "LifeCycleConfig",  # aws_sagemaker_cluster
    "instance_group": "InstanceGroups",  # aws_sagemaker_cluster blocks
    "restricted_instance_group": "RestrictedInstanceGroups",
    "instance_storage_config": "InstanceStorageConfigs",
    "on_start_deep_healthchecks": "OnStartDeepHealthChecks",
    "size_in_gi_b": "SizeInGiB",
}
# Maps whose keys are data, not attribute names (Kubernetes labels, tag maps).
_VERBATIM = {"labels", "tags", "tags_all"}
# aws_sagemaker_cluster nested blocks that hold at most one element.
_SINGLE_BLOCKS = {
    "lifecycle_config",
    "ebs_volume_config",
    "orchestrator",
    "eks",
    "vpc_config",
    "override_vpc_config",
    "kubernetes_config",
    "scheduled_update_config",
    "deployment_config",
    "rolling_update_policy",
    "maximum_batch_size",
    "rollback_maximum_batch_size",
    "auto_scaling",
    "access_config",
    "capacity_requirements",
    "fsx_lustre_config",
    "environment_config",
}


def _pascal(name: str) -> str:
    if name in _RENAMES:
        return _RENAMES[name]
    return "".join(_WORDS.get(part, part[:1].upper() + part[1:]) for part in name.split("_"))


def _convert(value: Json, *, unwrap_blocks: bool, key: str | None = None) -> Json:
    if isinstance(value, Mapping):
        if key in _VERBATIM:
            return dict(value)
        out = {}
        for name, item in value.items():
            if item is None:
                continue  # Terraform's null is "not set"
            if unwrap_blocks and name in _SINGLE_BLOCKS and isinstance(item, list):
                if not item:
                    continue
                item = item[0]
            out[_pascal(name)] = _convert(item, unwrap_blocks=unwrap_blocks, key=name)
        return out
    if isinstance(value, list):
        return [_convert(item, unwrap_blocks=unwrap_blocks) for item in value]
    return value


def _terraform_resources(module: Mapping[str, Json]) -> Iterator[Mapping[str, Json]]:
    for resource in as_list(module.get("resources")):
        if isinstance(resource, Mapping) and resource.get("mode", "managed") == "managed":
            yield resource
    for child in as_list(module.get("child_modules")):
        if isinstance(child, Mapping):
            yield from _terraform_resources(child)


def _tags_list(tags: Json) -> list[dict[str, Json]]:
    if isinstance(tags, Mapping):
        return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    return [{"Key": t.get("key"), "Value": t.get("value")} for t in tags or [] if isinstance(t, Mapping)]


def _sagemaker_cluster(values: Mapping[str, Json], hashicorp: bool) -> dict[str, Json]:
    props = cast(
        "dict[str, Json]",
        _convert({k: v for k, v in values.items() if k not in ("tags", "tags_all")}, unwrap_blocks=hashicorp),
    )
    if values.get("tags"):
        props["Tags"] = _tags_list(values["tags"])
    for key in ("Arn", "ClusterArn", "ClusterStatus", "Id", "CreationTime", "FailureMessage"):
        props.pop(key, None)
    return props


def _eks_cluster(values: Mapping[str, Json], hashicorp: bool) -> dict[str, Json]:
    if not hashicorp:
        return cast("dict[str, Json]", _convert(values, unwrap_blocks=False))
    props: dict[str, Json] = {}
    if values.get("version"):
        props["Version"] = values["version"]
    access = (values.get("access_config") or [{}])[0] or {}
    if access.get("authentication_mode"):
        props["AccessConfig"] = {"AuthenticationMode": access["authentication_mode"]}
    vpc = (values.get("vpc_config") or [{}])[0] or {}
    if vpc:
        props["ResourcesVpcConfig"] = {
            "EndpointPublicAccess": vpc.get("endpoint_public_access", True),
            "EndpointPrivateAccess": vpc.get("endpoint_private_access", False),
            "PublicAccessCidrs": vpc.get("public_access_cidrs") or [],
            "SubnetIds": vpc.get("subnet_ids") or [],
        }
    log_types = values.get("enabled_cluster_log_types")
    if log_types and not (isinstance(log_types, list) and all(isinstance(t, str) for t in log_types)):
        raise TypeError("enabled_cluster_log_types holds a non-string")  # the one-line wrong-type error (R7-M3)
    if log_types:
        props["Logging"] = {
            "ClusterLogging": {"EnabledTypes": [{"Type": t} for t in values["enabled_cluster_log_types"]]}
        }
    encryption = [
        {
            "Resources": e.get("resources") or [],
            "Provider": {"KeyArn": ((e.get("provider") or [{}])[0] or {}).get("key_arn")},
        }
        for e in values.get("encryption_config") or []
        if isinstance(e, Mapping)
    ]
    if encryption:
        props["EncryptionConfig"] = encryption
    return props


def _addon(values: Mapping[str, Json], hashicorp: bool) -> dict[str, Json]:
    if not hashicorp:
        return cast("dict[str, Json]", _convert(values, unwrap_blocks=False))
    props: dict[str, Json] = {"AddonName": values.get("addon_name")}
    if values.get("addon_version"):
        props["AddonVersion"] = values["addon_version"]
    conflicts = values.get("resolve_conflicts_on_create") or values.get("resolve_conflicts")
    if conflicts:
        props["ResolveConflicts"] = conflicts
    if values.get("pod_identity_association"):
        props["PodIdentityAssociations"] = _convert(values["pod_identity_association"], unwrap_blocks=True)
    return props


def _sg_rule(values: Mapping[str, Json], direction: str) -> tuple[str, dict[str, Json]] | None:
    """aws_security_group_rule / aws_vpc_security_group_*_rule as an AWS::EC2::SecurityGroup{In,E}gress."""
    kind = values.get("type", direction)
    props: dict[str, Json] = {"GroupId": values.get("security_group_id")}
    protocol = values.get("protocol") if "protocol" in values else values.get("ip_protocol")
    props["IpProtocol"] = "-1" if str(protocol) in ("-1", "all") else protocol
    if values.get("from_port") is not None:
        props["FromPort"] = values["from_port"]
    if values.get("to_port") is not None:
        props["ToPort"] = values["to_port"]
    peer = values.get("source_security_group_id") or values.get("referenced_security_group_id")
    if values.get("self"):
        peer = values.get("security_group_id")
    if kind == "ingress":
        if peer:
            props["SourceSecurityGroupId"] = peer
        return "AWS::EC2::SecurityGroupIngress", props
    if peer:
        props["DestinationSecurityGroupId"] = peer
    return "AWS::EC2::SecurityGroupEgress", props


# Stands for a value a Terraform plan knows only after apply; rules see a non-literal (not checked).
UNKNOWN_AFTER_APPLY = "Fn::TerraformUnknownAfterApply"


# A marker names its attribute path, cut to this many characters (the end kept): the path repeats the address
# and every key above it, so a full copy per marker was N x L characters (review round 17, R17T-M1).
MAX_UNKNOWN_WHERE_CHARS = 200


class _UnknownMarks:
    """Unknown markers of one resource, one per attribute path: the items of a list share their list's path
    (``[*]``) and marker, so the text and markers kept grow with the distinct paths, not with the items."""

    def __init__(self) -> None:
        self.paths: dict[tuple[str, str], str] = {}
        self.markers: dict[str, Json] = {}

    def child(self, where: str, step: str) -> str:
        found = self.paths.get((where, step))
        if found is None:
            text = where + step
            found = text if len(text) <= MAX_UNKNOWN_WHERE_CHARS else "..." + text[3 - MAX_UNKNOWN_WHERE_CHARS :]
            self.paths[(where, step)] = found
        return found

    def mark(self, values: Json, unknown: Json, where: str) -> Json:
        """``values`` with every attribute ``after_unknown`` flags replaced by an unknown marker."""
        if unknown is True:
            return self.markers.setdefault(where, {UNKNOWN_AFTER_APPLY: where})
        if isinstance(unknown, Mapping) and isinstance(values, Mapping | type(None)):
            out = dict(values or {})
            for key, flag in unknown.items():
                if flag:
                    out[key] = self.mark(out.get(key), flag, self.child(where, "." + key[:40]))
            return out
        if isinstance(unknown, list) and isinstance(values, list | type(None)):
            items = list(values or [])
            items += [None] * (len(unknown) - len(items))
            each = self.child(where, "[*]")
            return [self.mark(v, f, each) if f else v for v, f in zip(items, unknown, strict=True)]
        return values


def _mark_unknown(values: Json, unknown: Json, where: str) -> Json:
    """``values`` with every attribute ``after_unknown`` flags replaced by an unknown marker."""
    marks = _UnknownMarks()
    return marks.mark(values, unknown, marks.child("", where[:MAX_ADDRESS_CHARS]))


def _tf_sg_rule(kind: str, values: Any) -> dict[str, Json] | None:
    converted = _sg_rule(values, "egress" if kind.endswith("egress_rule") else "ingress")
    return {"Type": converted[0], "Properties": converted[1]} if converted else None


def _tf_typed(cfn_type: str, properties: Callable[[Any, bool], Json]) -> Callable[[str, Any], dict[str, Json]]:
    """A converter whose properties depend on the provider (``aws_`` or ``awscc_``)."""
    return lambda kind, values: {"Type": cfn_type, "Properties": properties(values, kind.startswith("aws_"))}


_SAGEMAKER_CLUSTER = _tf_typed("AWS::SageMaker::Cluster", _sagemaker_cluster)
_EKS_CLUSTER = _tf_typed("AWS::EKS::Cluster", _eks_cluster)
_EKS_ADDON = _tf_typed("AWS::EKS::Addon", _addon)
_POD_IDENTITY = _tf_typed(
    "AWS::EKS::PodIdentityAssociation",
    lambda v, _aws: {"Namespace": v.get("namespace"), "ServiceAccount": v.get("service_account")},
)
_SUBNET = _tf_typed("AWS::EC2::Subnet", lambda v, _aws: {"CidrBlock": v.get("cidr_block"), "SubnetId": v.get("id")})
_FSX = _tf_typed(
    "AWS::FSx::FileSystem",
    lambda v, _aws: {
        "FileSystemType": "LUSTRE",
        "SecurityGroupIds": v.get("security_group_ids") or [],
        "SubnetIds": v.get("subnet_ids") or [],
    },
)
_HELM = _tf_typed("Custom::HelmRelease", lambda v, _aws: {"Chart": v.get("chart"), "Name": v.get("name")})
# Terraform resource type -> its CloudFormation-shaped body (None: nothing the rules read).
_TERRAFORM_TYPES: dict[str, Callable[[str, Any], dict[str, Json] | None]] = {
    "awscc_sagemaker_cluster": _SAGEMAKER_CLUSTER,
    "aws_sagemaker_cluster": _SAGEMAKER_CLUSTER,
    "aws_eks_cluster": _EKS_CLUSTER,
    "awscc_eks_cluster": _EKS_CLUSTER,
    "aws_eks_addon": _EKS_ADDON,
    "awscc_eks_addon": _EKS_ADDON,
    "aws_eks_pod_identity_association": _POD_IDENTITY,
    "awscc_eks_pod_identity_association": _POD_IDENTITY,
    "aws_subnet": _SUBNET,
    "awscc_ec2_subnet": _SUBNET,
    "aws_security_group": security_group,
    "aws_security_group_rule": _tf_sg_rule,
    "aws_vpc_security_group_ingress_rule": _tf_sg_rule,
    "aws_vpc_security_group_egress_rule": _tf_sg_rule,
    "aws_fsx_lustre_file_system": _FSX,
    "helm_release": _HELM,
}


def from_terraform(data: Mapping[str, Json], source: str, *, region: str | None = None) -> LintInput:
    values = data.get("planned_values") or data.get("values") or {}
    root = values.get("root_module") if isinstance(values, Mapping) else values
    if not isinstance(root or {}, Mapping):
        raise LintInputError(f"{source}: values.root_module is not an object; not `terraform show -json` output")
    # A plan lists what it knows only after apply in resource_changes[].change.after_unknown.
    changes = data.get("resource_changes")
    unknown_by_address = {
        str(change.get("address")): as_map(change.get("change")).get("after_unknown")
        for change in as_list(changes)
        if isinstance(change, Mapping)
    }
    resources: dict[str, Json] = {}
    for resource in _terraform_resources(root or {}):
        address = str(resource.get("address", f"{resource.get('type', '')}.{resource.get('name')}"))
        if len(address) > MAX_ADDRESS_CHARS:  # before any work on its values (review round 17, R17T-M1)
            raise _address_too_long(source)
        try:
            body = _terraform_body(resource, address, unknown_by_address)
        except (AttributeError, TypeError, KeyError, IndexError):
            # A value of another JSON type than the provider's schema gives (a string where a block list is).
            raise LintInputError(
                f"{source}: {address[:MAX_ADDRESS_CHARS]}: a value of an unexpected type; not `terraform show -json` "
                "output of the aws, awscc or helm provider"
            ) from None
        if body is not None:
            resources[address] = body
    _expand_module_dependencies(resources, source)
    templates = Templates({source: {"Resources": resources}}, region=region, closed_world=False)
    for address, body in resources.items():  # a group's id names it (R30T-L7)
        own = as_map(as_map(body).get("Metadata")).get(TERRAFORM_ID)
        if isinstance(own, str):
            templates.physical_ids[own] = (source, address)
    return LintInput(source, TERRAFORM, templates)


def _terraform_body(resource: Mapping[str, Json], address: str, unknown: Mapping[str, Json]) -> dict[str, Json] | None:
    """One Terraform resource as a CloudFormation-shaped body (None: nothing the rules read)."""
    kind, values = str(resource.get("type", "")), resource.get("values") or {}
    if unknown.get(address):
        values = _mark_unknown(values, unknown[address], address)
    convert = _TERRAFORM_TYPES.get(kind)
    body = convert(kind, values) if convert else None
    if body is None:
        return None
    depends = resource.get("depends_on") or []
    depends = [str(d) for d in (depends if isinstance(depends, list) else [depends])]
    if depends:
        body["DependsOn"] = depends
    return body


# Terraform resources' depends_on, expanded: more than this many edges is not a plan a person wrote;
# nor is an address nested deeper than this (the prefix index holds every dotted prefix).
MAX_DEPENDENCY_EDGES = 200_000
MAX_ADDRESS_CHARS = 2048
MAX_ADDRESS_PARTS = 64


def _without_indexes(address: str) -> str:
    """``module.x[0].type.name["a"]`` -> ``module.x.type.name``, in linear time.

    The same as ``re.sub(r"\\[[^\\]]*\\]", "", address)``, which is quadratic on a run of ``[``.
    """
    out: list[str] = []
    start = 0
    while (open_at := address.find("[", start)) >= 0 and (close_at := address.find("]", open_at + 1)) >= 0:
        out.append(address[start:open_at])
        start = close_at + 1
    out.append(address[start:])
    return "".join(out)


def _address_too_long(source: str) -> LintInputError:
    return LintInputError(
        f"{source}: a resource address over {MAX_ADDRESS_CHARS:,} characters or "
        f"{MAX_ADDRESS_PARTS} parts is not a Terraform plan; not linted"
    )


def _expand_module_dependencies(resources: dict[str, Json], source: str = "terraform") -> None:
    """``depends_on = [module.helm_chart]`` names a module: depend on every resource in it.

    Indexed by every dotted prefix of each address (``module.x[0].type.name[1]`` counts as
    ``module.x.type.name``), so the work is linear in the resources, not resources x dependencies x
    resources; repeated dependencies count once.
    """
    by_prefix: dict[str, list[str]] = {}
    for address in resources:
        parts = _without_indexes(address).split(".")
        if len(address) > MAX_ADDRESS_CHARS or len(parts) > MAX_ADDRESS_PARTS:
            raise _address_too_long(source)
        for end in range(1, len(parts) + 1):
            by_prefix.setdefault(".".join(parts[:end]), []).append(address)
    edges = 0
    for body in resources.values():
        if "DependsOn" not in body:
            continue
        expanded: list[str] = []
        for dependency in dict.fromkeys(body["DependsOn"]):
            members = by_prefix.get(_without_indexes(dependency)) or [dependency]
            edges += len(members)
            if edges > MAX_DEPENDENCY_EDGES:
                raise LintInputError(
                    f"{source}: depends_on expands to over {MAX_DEPENDENCY_EDGES:,} dependencies; not linted"
                )
            expanded.extend(members)
        body["DependsOn"] = expanded


def load_all(
    paths: Iterable[str | Path], *, parameters: Mapping[str, str] | None = None, region: str | None = None
) -> list[LintInput]:
    return [load(p, parameters=parameters, region=region) for p in paths]

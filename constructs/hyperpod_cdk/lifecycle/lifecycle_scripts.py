"""HyperPodLifecycleScripts: lifecycle scripts shipped as a pinned CDK asset."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsii
from aws_cdk import (
    AspectPriority,
    Aspects,
    Duration,
    IAspect,
    IStableAnyProducer,
    IStableStringProducer,
    Lazy,
    RemovalPolicy,
    Size,
    Stack,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct, IConstruct

from hyperpod_cdk._cdk_util import log_group_name_for, logs_key, private_bucket
from hyperpod_cdk._handler_functions import (
    check_environment_size,
    function_role,
    handler_code,
    handler_custom_resource,
    handler_function,
)
from hyperpod_cdk.errors import HyperPodConfigError, check_prop_types, checked_props
from hyperpod_cdk.rules.acknowledge import acknowledge_wildcards

BUNDLED_FOLDERS = ("eks", "slurm", "slurm_api", "common")
#: Written next to the EKS scripts when the platform has FSx for Lustre: on_create.sh then gets the
#: Lustre client ready (lifecycle_scripts/eks/on_create.sh, prepare_lustre_client).
FSX_LUSTRE_FILE = "fsx_lustre.json"
UPLOAD_HANDLER_DIR = Path(__file__).resolve().parent / "handlers" / "lifecycle_upload"
#: The upload function's whole spec (see handlers/lifecycle_upload/index.py).
UPLOAD_SPEC_ENV = "LIFECYCLE_UPLOAD_SPEC"


def bundled_scripts(folder: Literal["eks", "slurm", "slurm_api", "common"]) -> Path:
    """A folder of the lifecycle scripts shipped with hyperpod-cdk.

    In the wheel they are the package ``hyperpod_cdk.lifecycle.scripts`` (mapped at build time from
    the repository's top-level ``lifecycle_scripts/``, their one source); in a source checkout
    (editable install) they are read from that folder directly.
    """
    if folder not in BUNDLED_FOLDERS:
        raise HyperPodConfigError("folder", f"'{folder}' is not one of the bundled folders {BUNDLED_FOLDERS}")
    here = Path(__file__).resolve().parent
    for root in (here / "scripts", here.parents[2] / "lifecycle_scripts"):
        if (root / folder).is_dir():
            return root / folder
    raise HyperPodConfigError(
        "source_dir",
        f"the bundled lifecycle scripts ({folder}) are missing from this installation of hyperpod-cdk; "
        "reinstall it, or pass source_dir",
    )


class HyperPodLifecycleScripts(Construct):
    """Uploads a folder of lifecycle scripts to a locked-down bucket under a content-hash prefix.

    The prefix is the asset hash, so ``LifeCycleConfig.SourceS3Uri`` names exactly the bytes this
    synth packaged: editing a script yields a new prefix (and a visible template change) instead
    of nodes silently picking up whatever a branch on GitHub holds at boot time. Old prefixes are
    kept (``prune=False``), so nodes of a running cluster can still re-run the scripts they were
    created with during node replacement.

    The bucket is KMS-encrypted, versioned, TLS-only, public-access-blocked and retained. The files are
    copied by this construct's own function (512 MB, 2 GiB of /tmp, files streamed in parts): at most
    1.5 GiB in all per deploy, larger and the deploy fails at once naming the file.

    Args:
        source_dir: folder holding ``on_create`` and whatever it calls. Default: the EKS scripts
            shipped with hyperpod-cdk (:func:`bundled_scripts`), with the shared ``common`` folder.
        on_create: entry script name inside ``source_dir``. Default ``on_create.sh``.
        encryption_key: KMS key for the bucket (required: KMS makes node reads auditable in
            CloudTrail and revocable, which S3-managed keys do not).
        json_files: extra JSON files generated from typed config and uploaded next to the scripts
            (``{"provisioning_parameters.json": {...}}``). Values may hold CDK tokens, which
            ``Source.json_data`` substitutes at deploy time. Their resolved template form is part
            of the content hash, so a changed group, partition or file-system reference yields a
            new prefix just like an edited script. Without them the prefix is the asset hash alone.
            A value may be a function returning the document: it is called once, at synth
            (:meth:`freeze`), so the file, and the prefix every ``SourceS3Uri`` names, follow what
            the app added until then (the Slurm platform's ``slurm_nodes.json`` and its groups).
        shared_dirs: folders whose files are deployed into the same prefix as ``source_dir`` (one
            asset each), for helpers several script folders share: HyperPod downloads one prefix
            per instance group, so a shared file has to sit next to ``on_create`` in every prefix
            that uses it. Every asset hash is part of the content hash, so editing a shared file
            yields a new prefix too. A file name (relative path) present in two of the folders,
            or in a folder and ``json_files``, is rejected: one would silently overwrite the other.
        log_key: KMS key for the log group of the upload function (kept one year,
            retained). Default: a new key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        source_dir: str | Path | None = None,
        on_create: str = "on_create.sh",
        json_files: Mapping[str, Any] | None = None,
        shared_dirs: Sequence[str | Path] = (),
        log_key: kms.IKey | None = None,
    ) -> None:
        with checked_props(scope, construct_id):
            if source_dir is None:
                source = bundled_scripts("eks")
                shared = [bundled_scripts("common"), *(Path(d) for d in shared_dirs)]
            else:
                source = Path(source_dir)
                shared = [Path(d) for d in shared_dirs]
            if not (source / on_create).is_file():
                raise HyperPodConfigError(
                    "source_dir", f"{source} has no {on_create}; HyperPod runs it on every new node"
                )
            _check_no_clash(source, shared)
            generated = dict(json_files or {})
            for name in generated:
                if "/" in name or not name.endswith(".json"):
                    raise HyperPodConfigError("json_files", f"'{name}' must be a plain *.json file name")
                for folder in (source, *shared):
                    if (folder / name).exists():
                        raise HyperPodConfigError(
                            "json_files", f"{folder} already has a file named {name}; it would be overwritten"
                        )
        check_prop_types(scope, construct_id, encryption_key=("kms.IKey", encryption_key))
        super().__init__(scope, construct_id)

        self.bucket = private_bucket(
            self,
            "Bucket",
            encryption_key,
            "holds only CloudFormation-deployed, content-addressed lifecycle scripts; writes come "
            "from the deployment custom resource and reads from HyperPod nodes, both in CloudTrail",
        )

        asset = s3_assets.Asset(self, "Asset", path=str(source))
        # Ids SharedAsset0, 1, ... follow the order of shared_dirs.
        shared_assets = [s3_assets.Asset(self, f"SharedAsset{i}", path=str(d)) for i, d in enumerate(shared)]
        self._asset_hashes = [asset.asset_hash, *(a.asset_hash for a in shared_assets)]
        self._pending = generated
        self._prefix: str | None = None
        self._prefix_token: str | None = None
        #: The generated documents; a ``json_files`` function stays one until :meth:`freeze`.
        self.json_files: dict[str, Any] = generated
        self.on_create = on_create
        deferred = any(callable(v) for v in generated.values())
        if not deferred:
            self._render()
        self._json_bound = False
        self._sources: list[_Source] = [_Source(a.s3_bucket_name, a.s3_object_key) for a in (asset, *shared_assets)]
        self.upload_function = self._upload_function(log_key)
        self._role = function_role(self.upload_function)
        for item in self._sources:
            self._allow_read(item)
        self._role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[self.bucket.arn_for_objects(f"{self.prefix}*")],
            )
        )
        # SSE-KMS: a data key for each upload, and Decrypt for a multipart one (large files are streamed in parts).
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
        self._role.add_to_principal_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[encryption_key.key_arn])
        )
        #: The custom resource that copies the scripts (``Custom::HyperPodLifecycleScripts``).
        self.deployment = handler_custom_resource(
            self,
            "Upload",
            self.upload_function,
            resource_type="Custom::HyperPodLifecycleScripts",
            # What the function copies is in its environment; these properties make CloudFormation send
            # an Update whenever that changes, and show in a diff what it copies.
            properties={
                "SourceBucketNames": Lazy.any(_Produce(lambda: [s.bucket for s in self._sources])),
                "SourceObjectKeys": Lazy.any(_Produce(lambda: [s.key for s in self._sources])),
                "SourceMarkers": Lazy.any(_Produce(lambda: [dict(s.markers) for s in self._sources])),
                "DestinationBucketName": self.bucket.bucket_name,
                "DestinationBucketKeyPrefix": self.prefix,
            },
            after_role_policy=True,
        )
        if deferred:
            # At synth, before the aspects that read policies and properties (MUTATING runs first).
            Aspects.of(self).add(_FreezeAtSynth(self), priority=AspectPriority.MUTATING)
        else:
            self.freeze()
        # BucketName is answered only after the upload finished, so LifeCycleConfig waits for it.
        self.source_s3_uri = f"s3://{self.deployment.get_att_string('BucketName')}/{self.prefix}"

    def _upload_function(self, log_key: kms.IKey | None) -> lambda_.Function:
        """The function that copies exactly the synthesized files (review round 15, platform, H2: it replaces
        aws-cdk-lib's BucketDeployment, whose handler took its sources, destination and text substitutions
        from the event). Its environment is the whole spec; see handlers/lifecycle_upload/index.py."""
        return handler_function(
            self,
            "UploadFunction",
            description="hyperpod-cdk: copies the synthesized lifecycle scripts into their content-hash prefix",
            code=handler_code(UPLOAD_HANDLER_DIR),
            log_group=self._deployment_logs(log_key),
            timeout=Duration.minutes(10),
            # The zips go through /tmp and each file is streamed in parts (review round 16, M1): memory holds a
            # few 8 MiB parts, not a file; /tmp holds the largest zip (the handler caps a deploy at 1.5 GiB).
            memory_size=512,
            ephemeral_storage_size=Size.gibibytes(2),
            managed_policies_reason="the lifecycle upload function logs through the AWS managed basic "
            "execution policy; its own statements read the asset zips and write this prefix only",
            environment={UPLOAD_SPEC_ENV: Lazy.string(_ProduceText(self._spec))},
            environment_reason="the spec names asset objects, a bucket, a prefix and deploy-time values of "
            "the generated JSON files (file system ids and names): no secret",
            outside_vpc_reason="copies between two S3 buckets through the public S3 API at deploy time and "
            "reaches nothing inside the VPC",
            # HyperPod runs what it writes as root on every node: lock invoking it down (docs/security-posture.md).
            purpose_tag=("hyperpod-cdk:purpose", "lifecycle-scripts-writer-root-on-nodes"),
        )

    def _spec(self) -> str:
        spec = {
            "sources": [
                {"bucket": s.bucket, "key": s.key, "markers": dict(s.markers), "json_escape": s.json_escape}
                for s in self._sources
            ],
            "bucket": self.bucket.bucket_name,
            "prefix": self.prefix,
        }
        resolved = json.dumps(Stack.of(self).resolve(spec), separators=(",", ":"))
        check_environment_size(
            self,
            self.node.id,
            "json_files",
            len(resolved),
            what="the lifecycle upload spec (asset keys and the deploy-time values of json_files) takes",
            fix="put fewer deploy-time values (tokens) in json_files",
        )
        return Stack.of(self).to_json_string(spec)

    def _allow_read(self, item: _Source) -> None:
        arn = Stack.of(self).format_arn(
            service="s3", region="", account="", resource=item.bucket, resource_name=item.key
        )
        self._role.add_to_principal_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[arn]))

    @property
    def prefix(self) -> str:
        """``lifecycle/<content hash>/``; until :meth:`freeze`, a token that resolves to it at synth."""
        if self._prefix is not None:
            return self._prefix
        if self._prefix_token is None:
            self._prefix_token = Lazy.string(_FrozenPrefix(self))
        return self._prefix_token

    @property
    def frozen(self) -> bool:
        """True once the generated files, and so the prefix, are final: at creation, or at synth when
        a ``json_files`` value is a function."""
        return self._prefix is not None

    def freeze(self) -> str:
        """Render the deferred ``json_files``, add them to the upload and fix the prefix (returned).

        Runs once, at synth (an aspect) or when the prefix is first resolved, so a file built by a
        function reflects what the app added until then (``HyperPodPlatform.add_instance_group``).
        From then on :attr:`json_files` holds the documents, which checks read.
        """
        if self._prefix is None:
            self._render()
        if not self._json_bound:
            self._json_bound = True
            # Here, not in __init__: the acknowledgment resolves the prefix, which a json_files function decides.
            acknowledge_wildcards(
                self._role,
                "the lifecycle upload function writes the files of this synth's content-hash prefix, and only "
                "there; their names are those of the packaged scripts",
                resources=[self.bucket.arn_for_objects(f"{self.prefix}*")],
            )
            # aws-cdk-lib renders each document with its deploy-time values as markers, as a zip asset;
            # the read grant it would add (the whole asset bucket) is dropped: _allow_read grants the one key.
            quiet_role = self._role.without_policy_updates() if isinstance(self._role, iam.Role) else self._role
            for name, data in self._rendered_files():
                config = s3_deployment.Source.json_data(name, data).bind(self, handler_role=quiet_role)
                escape = bool(config.markers_config and config.markers_config.json_escape)
                item = _Source(config.bucket.bucket_name, config.zip_object_key, config.markers or {}, escape)
                self._sources.append(item)
                self._allow_read(item)
        assert self._prefix is not None
        return self._prefix

    def _render(self) -> None:
        """Call the ``json_files`` functions and hash the scripts and documents into the prefix."""
        # A function's own HyperPodConfigError names these scripts (at synth, jsii re-raises it as its text).
        with checked_props(self.node.scope, self.node.id):
            self.json_files = {name: value() if callable(value) else value for name, value in self._pending.items()}
        content_hash = self._asset_hashes[0]
        if len(self._asset_hashes) > 1 or self.json_files:
            # Without shared_dirs this is the same hash as before they existed: prefixes stay put.
            parts = list(self._asset_hashes)
            if self.json_files:
                resolved = Stack.of(self).resolve(self.json_files)
                parts.append(json.dumps(resolved, sort_keys=True, separators=(",", ":")))
            content_hash = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        self._prefix = f"lifecycle/{content_hash}/"

    def _rendered_files(self) -> list[tuple[str, Any]]:
        return list(self.json_files.items()) if self._prefix is not None else []

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read these scripts (their prefix only) and decrypt them with the bucket's key,
        as ``s3.Bucket.grant_read`` does (HyperPod's execution role reads them at node creation)."""
        return self.bucket.grant_read(grantee, f"{self.prefix}*")

    def _deployment_logs(self, log_key: kms.IKey | None) -> logs.ILogGroup:
        name = log_group_name_for(self, "lifecycle-deploy")  # named: the key policy names it
        return logs.LogGroup(
            self,
            "DeployLogs",
            log_group_name=name,
            retention=logs.RetentionDays.ONE_YEAR,
            encryption_key=logs_key(self, log_key, "HyperPod lifecycle script upload logs", name),
            removal_policy=RemovalPolicy.RETAIN,
        )


def _check_no_clash(source: Path, shared: Sequence[Path]) -> None:
    """Reject a relative path that is a file in two of the folders, or a file in one and a folder in another.

    All folders are extracted into one prefix, so the same file in two of them would leave whichever
    the deployment copies last.
    """
    files: dict[str, Path] = {}
    folders: dict[str, Path] = {}
    for d in (source, *shared):
        if not d.is_dir():
            raise HyperPodConfigError("shared_dirs", f"{d} is not a directory")
        for f in sorted(d.rglob("*")):
            rel = f.relative_to(d).as_posix()
            seen, kind = (folders, "folder") if f.is_dir() else (files, "file")
            if rel in files or (kind == "file" and rel in folders):
                other = files.get(rel) or folders[rel]
                raise HyperPodConfigError(
                    "shared_dirs",
                    f"{rel} is in both {other} and {d} (as a {kind} in {d}); they are deployed "
                    "into one prefix, so one would overwrite the other",
                )
            seen.setdefault(rel, d)


@jsii.implements(IStableStringProducer)
class _FrozenPrefix:
    """The prefix as a ``Lazy``: resolving it freezes the scripts, whichever comes first."""

    def __init__(self, scripts: HyperPodLifecycleScripts) -> None:
        self.scripts = scripts

    def produce(self) -> str:
        return self.scripts.freeze()


@jsii.implements(IAspect)
class _FreezeAtSynth:
    """Freezes the scripts when synth visits them (``HyperPodLifecycleScripts.freeze``)."""

    def __init__(self, scripts: HyperPodLifecycleScripts) -> None:
        self.scripts = scripts

    def visit(self, node: IConstruct) -> None:
        if node.node.path == self.scripts.node.path:
            self.scripts.freeze()


@dataclass(frozen=True)
class _Source:
    """One zip the upload copies: where CDK put it, and the deploy-time values of its markers."""

    bucket: str
    key: str
    markers: Mapping[str, Any] = field(default_factory=dict)
    json_escape: bool = False


@jsii.implements(IStableAnyProducer)
class _Produce:
    """A value computed when the template is written, after :meth:`HyperPodLifecycleScripts.freeze`."""

    def __init__(self, produce: Callable[[], Any]) -> None:
        self._produce = produce

    def produce(self) -> Any:
        return self._produce()


@jsii.implements(IStableStringProducer)
class _ProduceText:
    """A string computed when the template is written (jsii types a producer's result by its interface)."""

    def __init__(self, produce: Callable[[], str]) -> None:
        self._produce = produce

    def produce(self) -> str:
        return self._produce()

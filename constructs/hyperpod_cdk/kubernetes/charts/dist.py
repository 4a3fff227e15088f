"""Write every chart as plain, validated YAML.

``python -m hyperpod_cdk.kubernetes.charts.dist --config hyperpod.yaml --out dist/``.

Output (one file per chart)::

    dist/operator.yaml                 team namespaces, RBAC, priority classes, FSx PV/PVCs
    dist/cert-manager.yaml             self-signed + CA ClusterIssuers and the root CA Certificate
    dist/jobs/llama3-1-8b-fsdp.yaml    the Llama 3.1 8B FSDP seed job
    dist/jobs/smoke.yaml               a one-pod CPU smoke test
    dist/inference/example-endpoint.yaml  an InferenceEndpointConfig (inference operator on)

With task governance, the example jobs of a team with a compute quota carry its SageMaker-managed
queue (``kueue.x-k8s.io/queue-name``) and, when ``kubernetes.examples.priority_class`` has a
weight, its ``kueue.x-k8s.io/priority-class``.

These are the same cdk8s charts the CDK app adds to the cluster, so ``kubectl apply -f dist/...``
gives the same objects. Each manifest is validated first (see :mod:`hyperpod_cdk.kubernetes.charts.validate`);
``--no-validate`` skips that when the dev dependencies are not installed.

The Kubernetes settings come from the ``kubernetes:`` key of the config file (see
:class:`~hyperpod_cdk.config.charts.K8sSettings`). When neither ``kubernetes.examples.image`` nor
the top-level ``account`` is set, the FSDP job's image is written as
``${REGISTRY}fsdp:pytorch2.7.1``; fill it in with
``REGISTRY=123456789012.dkr.ecr.us-west-2.amazonaws.com/ envsubst '$REGISTRY' < dist/jobs/llama3-1-8b-fsdp.yaml``.
The inference example reads its model from the first ``kubernetes.addons.s3_csi_driver.bucket_names``
bucket under ``models/<name>``; without one the bucket is written as ``${MODEL_BUCKET}``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cdk8s
import yaml

from hyperpod_cdk.config.charts import K8sSettings
from hyperpod_cdk.config.example_plan import DEFAULT_NODES, plan_training_example
from hyperpod_cdk.config.messages import error_line
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.input_limits import escape_controls
from hyperpod_cdk.kubernetes.charts.cert_manager_chart import CertManagerIssuersChart
from hyperpod_cdk.kubernetes.charts.example_jobs import (
    FSDP_REPOSITORY,
    FSDP_TAG,
    NEURON_REPOSITORY_TAG,
    ecr_image,
    llama3_1_8b_fsdp_job,
    llama3_1_8b_neuron_job,
    smoke_job,
)
from hyperpod_cdk.kubernetes.charts.inference_example import InferenceEndpointChart, inference_endpoint
from hyperpod_cdk.kubernetes.charts.jobs import HyperPodJobChart, HyperPodPyTorchJobSpec, Toleration
from hyperpod_cdk.kubernetes.charts.operator_chart import HyperPodOperatorChart
from hyperpod_cdk.specs.images import mirrored_image
from hyperpod_cdk.specs.instance_types import spec_for

__all__ = ["REGISTRY_PLACEHOLDER", "build_charts", "load_settings", "main", "render_charts", "write_dist"]

REGISTRY_PLACEHOLDER = "${REGISTRY}"
# Stands in for ${REGISTRY} while the job is built and validated (.invalid never resolves, RFC 2606).
_SENTINEL_REGISTRY = "registry.invalid/"
MODEL_BUCKET_PLACEHOLDER = "${MODEL_BUCKET}"
_SENTINEL_BUCKET = "model-bucket.invalid"
OPERATOR_FILE = "operator.yaml"
CERT_MANAGER_FILE = "cert-manager.yaml"
LLAMA_FILE = "jobs/llama3-1-8b-fsdp.yaml"
SMOKE_FILE = "jobs/smoke.yaml"
INFERENCE_NAME = "example-endpoint"
INFERENCE_FILE = f"inference/{INFERENCE_NAME}.yaml"
DEFAULT_INFERENCE_TYPE = "ml.g5.8xlarge"
GUIDE_INSTANCE_TYPE = "ml.p5.48xlarge"


def _tolerations(instance_groups: Sequence[Any], instance_type: str | None) -> list[Toleration]:
    """Tolerations for the taints of the instance groups of ``instance_type`` (deduplicated)."""
    found: dict[tuple[Any, ...], Toleration] = {}
    for group in instance_groups:
        if instance_type is None or getattr(group, "instance_type", None) != instance_type:
            continue
        for taint in getattr(group, "taints", ()):
            toleration = Toleration(
                key=taint.key, operator="Equal" if taint.value else "Exists", value=taint.value, effect=taint.effect
            )
            found[(taint.key, taint.value, taint.effect)] = toleration
    return list(found.values())


def _example_image(
    explicit: str | None, registry: str | None, account: str | None, region: str | None, tag: str
) -> str:
    """``examples.image``; else the FSDP image in ``registry``, in the account's ECR, or behind the placeholder."""
    if explicit:
        return explicit
    if registry:
        return f"{registry.rstrip('/')}/{FSDP_REPOSITORY}:{tag}"
    if account and region:
        return ecr_image(account, region, tag=tag)
    return f"{_SENTINEL_REGISTRY}{FSDP_REPOSITORY}:{tag}"


def _claim_name(settings: K8sSettings, *, platform_fsx: bool, planned: bool) -> str | None:
    if settings.fsx is not None:
        return settings.fsx.claim_name
    if platform_fsx or not planned:
        # storage.fsx gives every team namespace the default claim; without a platform (no groups
        # given) the job stays the guide's, which mounts it.
        return "fsx-claim"
    return None


def _training_job(
    plan: Any, examples: Any, instance_groups: Sequence[Any], common: dict[str, Any]
) -> HyperPodPyTorchJobSpec | None:
    """The training example: planned from the groups, the guide's p5 job without groups, None without
    an accelerated group, or for Trainium without FSx (the Neuron job reads its dataset from /fsx/data)."""
    if plan is None and instance_groups:
        return None  # no accelerated group: only the smoke job fits
    if plan is None:
        instance_type = examples.instance_type or GUIDE_INSTANCE_TYPE
        return llama3_1_8b_fsdp_job(
            nodes=examples.nodes or DEFAULT_NODES,
            instance_type=instance_type,
            tolerations=_tolerations(instance_groups, instance_type),
            **common,
        )
    if plan.accelerator == "neuron" and common.get("claim_name") is None:
        # Its tokenized dataset lives on /fsx/data (docs/first-job.md): an emptyDir is always empty (R35P-M2).
        return None
    builder = llama3_1_8b_neuron_job if plan.accelerator == "neuron" else llama3_1_8b_fsdp_job
    return builder(
        nodes=plan.replicas,
        instance_type=plan.instance_type,
        tolerations=_tolerations(instance_groups, plan.instance_type),
        **common,
    )


def _inference_instance_type(instance_groups: Sequence[Any]) -> str:
    """The first NVIDIA group's instance type, else the default inference type."""
    return next(
        (
            g.instance_type
            for g in instance_groups
            if (spec := spec_for(getattr(g, "instance_type", ""))) is not None and spec.accelerator == "nvidia"
        ),
        DEFAULT_INFERENCE_TYPE,
    )


def build_charts(
    settings: K8sSettings | None = None,
    *,
    account: str | None = None,
    region: str | None = None,
    instance_groups: Sequence[Any] = (),
    app: cdk8s.App | None = None,
    inference: bool | None = None,
    model_bucket: str | None = None,
    platform_fsx: bool = False,
    registry: str | None = None,
) -> dict[str, cdk8s.Chart]:
    """All charts keyed by their file under ``dist/``; built in one cdk8s app.

    ``instance_groups`` (the config's ``hyperpod.instance_groups``) supplies tolerations for taints
    on the example job's instance type and the inference example's instance type (the first NVIDIA
    group's). ``inference`` (default ``settings.inference_example``: the platform config's
    ``addons.inference_operator.enabled``) adds the InferenceEndpointConfig example, reading from
    ``model_bucket``; the operator chart's claim quota of the examples team then counts the claim its
    model volume needs (claim_quota.py, R9P-L1).

    With ``instance_groups`` the training example is planned from them
    (:func:`~hyperpod_cdk.config.example_plan.plan_training_example`): its instance type, GPUs or
    Neuron devices and EFA per pod, ``nprocPerNode`` and replicas come from the target group, and
    it mounts the FSx claim only when there is FSx (``settings.fsx``, or ``platform_fsx`` for
    ``storage.fsx``). A Trainium group gets the Neuron job; a platform without accelerators gets only
    the smoke job. Without groups the guide's p5 job is written as documentation. ``registry``
    (``<account>.dkr.ecr.<region>.amazonaws.com``, e.g. the platform's ECR repository) prefixes the image.
    """
    settings = settings or K8sSettings()
    app = app or cdk8s.App()
    inference = settings.inference_example if inference is None else inference
    examples = settings.examples
    team = settings.team(examples.team)
    governed = settings.task_governance and team.has_quota
    queue = team.queue_name if governed else None
    priority = next((pc for pc in settings.priority_classes if pc.name == examples.priority_class), None)
    kueue_priority = priority.workload_priority_class if governed and priority is not None else None
    plan = plan_training_example(instance_groups, examples) if instance_groups else None
    neuron = plan is not None and plan.accelerator == "neuron"
    tag = NEURON_REPOSITORY_TAG if neuron else FSDP_TAG
    image = _example_image(examples.image, registry, account, region, tag)
    claim = _claim_name(settings, platform_fsx=platform_fsx, planned=bool(instance_groups))
    common: dict[str, Any] = {
        "image": image,
        "namespace": team.effective_namespace,
        "claim_name": claim,
        "queue_name": queue,
        "kueue_priority_class": kueue_priority,
        "priority_class_name": priority.name if priority else None,
    }
    training = _training_job(plan, examples, instance_groups, common)
    smoke = smoke_job(
        namespace=team.effective_namespace,
        # In a closed network the mirror's copy: ECR Public has no VPC endpoint (R35P-M3).
        image=mirrored_image(examples.smoke_image, getattr(settings, "image_mirror", None)),
        queue_name=queue,
        kueue_priority_class=kueue_priority,
    )
    charts: dict[str, cdk8s.Chart] = {
        OPERATOR_FILE: HyperPodOperatorChart.from_settings(app, "operator", settings, inference_example=inference),
        CERT_MANAGER_FILE: CertManagerIssuersChart(app, "cert-manager", namespace=settings.cert_manager_namespace),
        SMOKE_FILE: HyperPodJobChart(app, "smoke", jobs=[smoke]),
    }
    if training is not None:
        charts[f"jobs/{training.name}.yaml"] = HyperPodJobChart(app, training.name, jobs=[training])
    if inference:
        instance_type = _inference_instance_type(instance_groups)
        charts[INFERENCE_FILE] = InferenceEndpointChart(
            app,
            INFERENCE_NAME,
            manifest=inference_endpoint(
                name=INFERENCE_NAME,
                namespace=team.effective_namespace,
                instance_type=instance_type,
                bucket_name=model_bucket or _SENTINEL_BUCKET,
                region=region or "us-west-2",
                model_location=f"models/{INFERENCE_NAME}",
                queue_name=queue,
                kueue_priority_class=kueue_priority,
            ),
        )
    return charts


def _replace_sentinel(value: Any) -> Any:
    if isinstance(value, str):
        value = value.replace(_SENTINEL_REGISTRY, REGISTRY_PLACEHOLDER)
        return value.replace(_SENTINEL_BUCKET, MODEL_BUCKET_PLACEHOLDER)
    if isinstance(value, list):
        return [_replace_sentinel(item) for item in value]
    if isinstance(value, dict):
        return {key: _replace_sentinel(item) for key, item in value.items()}
    return value


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]  # PyYAML ships no type hints: SafeDumper is Any
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_charts(charts: Mapping[str, cdk8s.Chart], *, validate: bool = True, source: str = "") -> dict[str, str]:
    """YAML text per file; manifests are validated before any placeholder is put back."""
    if validate:
        from hyperpod_cdk.kubernetes.charts.validate import validate_manifests
    texts: dict[str, str] = {}
    for path, chart in charts.items():
        docs = [dict(doc) for doc in chart.to_json()]
        if validate:
            validate_manifests(docs)
        docs = _replace_sentinel(docs)
        origin = f" from {source}" if source else ""
        header = [f"# Generated by `python -m hyperpod_cdk.kubernetes.charts.dist`{origin}; do not edit."]
        dumped = yaml.safe_dump_all(docs)
        if REGISTRY_PLACEHOLDER in dumped:
            header.append("# REGISTRY is the stack output TrainingImageRegistry (make jobs fills it in), or your own")
            header.append("# registry with a trailing slash:")
            header.append(
                "#   REGISTRY=123456789012.dkr.ecr.us-west-2.amazonaws.com/hyperpod-demo/ "
                f"envsubst '$REGISTRY' < {path} | kubectl apply -f -"
            )
        if MODEL_BUCKET_PLACEHOLDER in dumped:
            header.append("# Set MODEL_BUCKET to the bucket holding the model files and substitute it:")
            header.append(f"#   MODEL_BUCKET=my-models envsubst '$MODEL_BUCKET' < {path} | kubectl apply -f -")
        body = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)
        texts[path] = "\n".join(header) + "\n" + body
    return texts


def write_dist(texts: Mapping[str, str], out: str | Path) -> list[Path]:
    written = []
    for relative, text in texts.items():
        target = Path(out) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def validators_installed() -> bool:
    """True when both offline validators of :mod:`~hyperpod_cdk.kubernetes.charts.validate` can be imported."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in ("kubernetes_validate", "sagemaker.hyperpod"))
    except ModuleNotFoundError:  # no sagemaker package at all
        return False


def platform_registry(config: Any) -> str | None:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<name>/`` of the platform's image repository (stack
    output ``TrainingImageRegistry``), when the config names the account; None otherwise."""
    if not config.account or not config.kubernetes.examples.image_repository:
        return None
    suffix = "amazonaws.com.cn" if config.region.startswith("cn-") else "amazonaws.com"
    return f"{config.account}.dkr.ecr.{config.region}.{suffix}/{config.name}/"


def load_settings(config_path: str | Path) -> tuple[K8sSettings, Any]:
    """The ``kubernetes:`` settings and the platform config from one ``hyperpod.yaml``."""
    from hyperpod_cdk.config import load_config

    config = load_config(config_path)
    return config.kubernetes, config


def slurm_examples(config: Any, source: str) -> dict[str, str]:
    """The sbatch examples for a Slurm config (smoke and FSDP jobs fitting its training partition)."""
    from hyperpod_cdk.specs.sbatch import sbatch_examples

    return sbatch_examples(
        config.hyperpod.instance_groups,
        fsx_mount_path="/fsx" if config.storage.fsx is not None else None,
        source=source,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hyperpod_cdk.kubernetes.charts.dist", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", default="hyperpod.yaml", help="platform config (default: hyperpod.yaml)")
    parser.add_argument("--out", default="dist", help="output folder (default: dist)")
    parser.add_argument("--no-validate", action="store_true", help="skip manifest validation")
    parser.add_argument(
        "--validate-if-installed",
        action="store_true",
        help="validate only when the validators (dev extras) are installed; otherwise say so and write the files",
    )
    args = parser.parse_args(argv)
    validate = not args.no_validate
    if validate and args.validate_if_installed and not validators_installed():
        validate = False
        print(
            "note: dist/ manifests not schema-checked here (kubernetes-validate and sagemaker-hyperpod come with "
            "`make install-dev`; `make test` checks them)",
            file=sys.stderr,
        )
    try:
        settings, config = load_settings(args.config)
        if config.orchestrator != "eks":
            # No Kubernetes API on Slurm: the sbatch examples instead (specs/sbatch.py).
            for path in write_dist(slurm_examples(config, str(args.config)), args.out):
                print(path)
            return 0
        addons = config.kubernetes.addons
        charts = build_charts(
            settings,
            account=config.account,
            region=config.region,
            instance_groups=config.hyperpod.instance_groups,
            model_bucket=next(iter(addons.s3_csi_driver.bucket_names), None),
            platform_fsx=config.storage.fsx is not None,
            registry=platform_registry(config),
        )
        texts = render_charts(charts, validate=validate, source=str(args.config))
    except HyperPodConfigError as exc:
        print(f"error: {escape_controls(error_line(args.config, exc))}", file=sys.stderr)
        return 2
    for path in write_dist(texts, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

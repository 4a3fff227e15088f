"""Every manifest of every chart validates (Kubernetes 1.33 schemas, the HyperPod SDK models, structural
checks for cert-manager and Kueue), the seed job has the exact fields the issue asks for, the
validators reject broken manifests, and ``dist`` writes the same charts as YAML (with the inference
example when the inference operator is on)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import cdk8s
import pytest
import yaml
from sagemaker.hyperpod.training.hyperpod_pytorch_job import HyperPodPytorchJob

from hyperpod_cdk.config.charts import ExampleJobSettings, QuotaResource
from hyperpod_cdk.kubernetes.charts import FsxVolume, K8sSettings, Team
from hyperpod_cdk.kubernetes.charts.dist import (
    INFERENCE_FILE,
    LLAMA_FILE,
    SMOKE_FILE,
    build_charts,
    main,
    render_charts,
)
from hyperpod_cdk.kubernetes.charts.validate import ManifestValidationError, validate_manifest, validate_manifests

REPO = Path(__file__).resolve().parents[1]
ACCOUNT, REGION = "123456789012", "us-west-2"


@pytest.fixture(scope="session")
def synthesized() -> dict[str, list[dict[str, Any]]]:
    """Manifests of every chart in two configurations: the defaults, and everything switched on."""
    app = cdk8s.App()
    default = build_charts(K8sSettings(), app=app)
    full_settings = K8sSettings(
        teams=[
            Team(name="research"),
            Team(name="prod", compute_quota=[QuotaResource(instance_type="ml.p4d.24xlarge", count=4)]),
        ],
        task_governance=True,
        fsx=FsxVolume(
            file_system_id="fs-0123456789abcdef0", dns_name="fs-0123.fsx.us-west-2.amazonaws.com", mount_name="abcdefgh"
        ),
        examples=ExampleJobSettings(
            team="prod", nodes=4, instance_type="ml.p4d.24xlarge", priority_class="hyperpod-training"
        ),
    )
    full = build_charts(
        full_settings, account=ACCOUNT, region=REGION, app=cdk8s.App(), inference=True, model_bucket="my-models"
    )
    manifests = {f"default/{path}": [dict(d) for d in chart.to_json()] for path, chart in default.items()}
    manifests |= {f"full/{path}": [dict(d) for d in chart.to_json()] for path, chart in full.items()}
    return manifests


@pytest.fixture(scope="session")
def seed_job(synthesized: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    (job,) = synthesized[f"default/{LLAMA_FILE}"]
    return job


def all_docs(synthesized: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [doc for docs in synthesized.values() for doc in docs]


def test_every_manifest_validates(synthesized: dict[str, list[dict[str, Any]]]) -> None:
    routes: dict[str, set[str]] = {}
    for docs in synthesized.values():
        for doc, route in zip(docs, validate_manifests(docs), strict=True):
            routes.setdefault(route, set()).add(doc["kind"])
    assert routes == {
        "kubernetes": {
            "Namespace",
            "NetworkPolicy",
            "Role",
            "RoleBinding",
            "PriorityClass",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "ResourceQuota",
            "Job",
        },
        "hyperpod-sdk": {"HyperPodPyTorchJob", "InferenceEndpointConfig"},
        "structural": {"ClusterIssuer", "Certificate"},
    }


def test_every_job_passes_the_official_sdk_model(synthesized: dict[str, list[dict[str, Any]]]) -> None:
    jobs = [doc for doc in all_docs(synthesized) if doc["kind"] == "HyperPodPyTorchJob"]
    assert len(jobs) == 4
    for doc in jobs:
        model = HyperPodPytorchJob.model_validate({"metadata": doc["metadata"], **doc["spec"]}, by_name=True)
        assert model.nprocPerNode == doc["spec"]["nprocPerNode"]
        assert len(model.replicaSpecs or []) == len(doc["spec"]["replicaSpecs"])
        assert model.runPolicy is not None
        # Log rules only where a container runs the elastic agent (hyperpodrun): without it they never fire.
        containers = [c for r in doc["spec"]["replicaSpecs"] for c in r["template"]["spec"]["containers"]]
        runs_agent = any("hyperpodrun" in " ".join(c.get("command", [])) for c in containers)
        assert bool(model.runPolicy.logMonitoringConfiguration) == runs_agent, doc["metadata"]["name"]


def test_seed_job_exact_fields(seed_job: dict[str, Any]) -> None:
    assert seed_job["apiVersion"] == "sagemaker.amazonaws.com/v1"
    assert seed_job["kind"] == "HyperPodPyTorchJob"
    assert seed_job["metadata"] == {"name": "llama3-1-8b-fsdp", "namespace": "hyperpod-ns-training"}
    spec = seed_job["spec"]
    assert spec["nprocPerNode"] == "8" and isinstance(spec["nprocPerNode"], str)
    run = spec["runPolicy"]
    assert run["cleanPodPolicy"] == "None"
    assert run["jobMaxRetryCount"] == 10
    assert run["restartPolicy"] == {
        "evalPeriodSeconds": 21600,
        "numRestartBeforeFullJobRestart": 3,
        "maxFullJobRestarts": 1,
    }
    assert run["logMonitoringConfiguration"] == [
        {"name": "JobStart", "logPattern": ".*Loss:.*", "expectedStartCutOffInSeconds": 240},
        {"name": "JobHangingDetection", "logPattern": ".*Loss:.*", "expectedRecurringFrequencyInSeconds": 600},
    ]
    (replica,) = spec["replicaSpecs"]
    assert (replica["name"], replica["replicas"]) == ("pods", 2)
    pod = replica["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [
        {
            "matchExpressions": [
                {"key": "sagemaker.amazonaws.com/node-health-status", "operator": "In", "values": ["Schedulable"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["ml.p5.48xlarge"]},
            ]
        }
    ]
    (container,) = pod["containers"]
    assert container["command"] == ["hyperpodrun"]
    args = container["args"]
    assert args[:7] == [
        "--nnodes=2",
        "--nproc-per-node=8",
        "--server-host=0.0.0.0",
        "--server-port=8080",
        "--tee=3",
        "--log_dir=/tmp/hyperpod",
        "/fsdp/train.py",
    ]
    for arg in (
        "--model_type=llama_v3",
        "--max_context_width=8192",
        "--num_layers=32",
        "--hidden_width=4096",
        "--intermediate_size=14336",
        "--num_key_value_heads=8",
        "--dataset=allenai/c4",
        "--sharding_strategy=full",
        "--max_steps=100",
        "--checkpoint_dir=/fsx/checkpoints",
        "--resume_from_checkpoint=/fsx/checkpoints",
    ):
        assert arg in args
    resources = container["resources"]
    for kind in ("requests", "limits"):
        assert resources[kind]["nvidia.com/gpu"] == 8
        assert resources[kind]["vpc.amazonaws.com/efa"] == 32
    assert {"cpu", "memory"} <= set(resources["requests"])
    env = {e["name"]: e["value"] for e in container["env"]}
    assert {
        k: env.get(k)
        for k in (
            "FI_PROVIDER",
            "FI_EFA_USE_DEVICE_RDMA",
            "FI_EFA_FORK_SAFE",
            "NCCL_DEBUG",
            "TORCH_NCCL_ASYNC_ERROR_HANDLING",
        )
    } == {
        "FI_PROVIDER": "efa",
        "FI_EFA_USE_DEVICE_RDMA": "1",
        "FI_EFA_FORK_SAFE": "1",
        "NCCL_DEBUG": "INFO",
        "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
    }
    assert "LOGLEVEL" in env
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["fsx"]["persistentVolumeClaim"] == {"claimName": "fsx-claim"}
    assert volumes["shm"]["emptyDir"] == {"medium": "Memory"}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"fsx": "/fsx", "shm": "/dev/shm"}


def test_full_configuration_labels_jobs_with_the_team_queue(synthesized: dict[str, list[dict[str, Any]]]) -> None:
    (job,) = synthesized[f"full/{LLAMA_FILE}"]
    assert job["metadata"]["namespace"] == "hyperpod-ns-prod"
    # The quota team's SageMaker-managed queue and the weighted class's WorkloadPriorityClass.
    assert job["metadata"]["labels"] == {
        "kueue.x-k8s.io/queue-name": "hyperpod-ns-prod-localqueue",
        "kueue.x-k8s.io/priority-class": "hyperpod-training-priority",
    }
    (smoke,) = synthesized[f"full/{SMOKE_FILE}"]
    assert smoke["metadata"]["labels"] == job["metadata"]["labels"]
    pod = job["spec"]["replicaSpecs"][0]["template"]["spec"]
    assert pod["priorityClassName"] == "hyperpod-training"
    container = job["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fsdp:pytorch2.7.1"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 4}
    assert "--nnodes=4" in container["args"]


def test_smoke_job_is_small_and_cpu_only(synthesized: dict[str, list[dict[str, Any]]]) -> None:
    (job,) = synthesized[f"default/{SMOKE_FILE}"]
    assert job["spec"]["nprocPerNode"] == "1"
    (replica,) = job["spec"]["replicaSpecs"]
    assert replica["replicas"] == 1
    container = replica["template"]["spec"]["containers"][0]
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert "Loss: " in container["command"][-1]


# ---- the validators must be able to fail ---------------------------------------------------------


def mutated(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with ``value`` set at a dotted path (ints index lists; None deletes)."""
    doc = copy.deepcopy(doc)
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
    node: Any = doc
    for part in parents:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return doc


# No chart writes Kueue objects any more (SageMaker owns them); the LocalQueue validator is still
# there for manifests users bring, so it is checked on a hand-written queue.
LOCAL_QUEUE = {
    "apiVersion": "kueue.x-k8s.io/v1beta1",
    "kind": "LocalQueue",
    "metadata": {"name": "q", "namespace": "team"},
    "spec": {"clusterQueue": "cq"},
}


def find(synthesized: dict[str, list[dict[str, Any]]], kind: str) -> dict[str, Any]:
    if kind == "LocalQueue":
        assert validate_manifest(LOCAL_QUEUE) == "structural"
        return copy.deepcopy(LOCAL_QUEUE)
    return next(doc for doc in all_docs(synthesized) if doc["kind"] == kind)


RULES = "spec.runPolicy.logMonitoringConfiguration"
POD = "spec.replicaSpecs.0.template.spec"

BROKEN: list[tuple[str, str, str, Any, str]] = [
    # (id, kind, dotted path, new value, substring of the error's field)
    ("job-kind-lowercase-t", "HyperPodPyTorchJob", "kind", "HyperPodPytorchJob", ".kind"),
    ("job-nproc-int", "HyperPodPyTorchJob", "spec.nprocPerNode", 8, "spec.nprocPerNode"),
    ("job-unknown-spec-key", "HyperPodPyTorchJob", "spec.replicaSpec", [], "spec.replicaSpec"),
    ("job-misspelled-rule-key", "HyperPodPyTorchJob", f"{RULES}.0.logPatern", "x", "logMonitoringConfiguration"),
    ("job-rule-operator", "HyperPodPyTorchJob", f"{RULES}.0.operator", "ge", "logMonitoringConfiguration[0].operator"),
    (
        "job-rule-regex",
        "HyperPodPyTorchJob",
        f"{RULES}.1.logPattern",
        "Loss: (",
        "logMonitoringConfiguration[1].logPattern",
    ),
    (
        "job-rule-duplicate-name",
        "HyperPodPyTorchJob",
        f"{RULES}.1.name",
        "JobStart",
        "logMonitoringConfiguration[1].name",
    ),
    (
        "job-clean-pod-policy",
        "HyperPodPyTorchJob",
        "spec.runPolicy.cleanPodPolicy",
        "Sometimes",
        "spec.runPolicy.cleanPodPolicy",
    ),
    (
        "job-max-retry-negative",
        "HyperPodPyTorchJob",
        "spec.runPolicy.jobMaxRetryCount",
        -1,
        "spec.runPolicy.jobMaxRetryCount",
    ),
    ("job-replicas-zero", "HyperPodPyTorchJob", "spec.replicaSpecs.0.replicas", 0, "spec.replicaSpecs[0].replicas"),
    (
        "job-gpu-limit-mismatch",
        "HyperPodPyTorchJob",
        f"{POD}.containers.0.resources.limits.nvidia.com/gpu",
        4,
        "resources.limits[nvidia.com/gpu]",
    ),
    (
        "job-pod-port-string",
        "HyperPodPyTorchJob",
        f"{POD}.containers.0.ports",
        [{"containerPort": "8080"}],
        ".spec.replicaSpecs[0].template.spec.containers[0].ports[0].containerPort",
    ),
    ("job-metadata-extra", "HyperPodPyTorchJob", "metadata.uid", "x", "metadata"),
    ("role-unknown-field", "Role", "rules.0.verb", ["get"], "rules[0]"),
    ("rolebinding-no-roleref", "RoleBinding", "roleRef", None, "RoleBinding/"),
    ("namespace-bad-name", "Namespace", "metadata.name", "Team_A", "metadata.name"),
    ("priorityclass-value-string", "PriorityClass", "value", "high", "value"),
    ("priorityclass-namespaced", "PriorityClass", "metadata.namespace", "default", "metadata.namespace"),
    ("role-without-namespace", "Role", "metadata.namespace", None, "metadata.namespace"),
    ("issuer-two-types", "ClusterIssuer", "spec.ca", {"secretName": "x"}, "spec"),
    ("issuer-unknown-type", "ClusterIssuer", "spec.selfsigned", {}, "spec"),
    ("certificate-no-secret", "Certificate", "spec.secretName", None, "spec.secretName"),
    ("certificate-issuer-kind", "Certificate", "spec.issuerRef.kind", "Issuers", "spec.issuerRef.kind"),
    ("certificate-isca-string", "Certificate", "spec.isCA", "true", "spec.isCA"),
    ("certificate-duration", "Certificate", "spec.duration", "10y", "spec.duration"),
    ("localqueue-no-cluster-queue", "LocalQueue", "spec.clusterQueue", None, "spec.clusterQueue"),
    ("localqueue-unknown-field", "LocalQueue", "spec.queue", "x", "spec"),
    ("inference-unknown-top-level", "InferenceEndpointConfig", "spec.modelname", "x", "spec.modelname"),
    ("inference-no-worker", "InferenceEndpointConfig", "spec.worker", None, "spec.worker"),
    ("inference-nested-unknown", "InferenceEndpointConfig", "spec.worker.imageName", "x", "spec.worker.imageName"),
    (
        "inference-bad-source",
        "InferenceEndpointConfig",
        "spec.modelSourceConfig.modelSourceType",
        "ftp",
        "spec.modelSourceConfig.modelSourceType",
    ),
    ("cert-manager-unknown-kind", "ClusterIssuer", "kind", "Clusterissuer", ".kind"),
]


@pytest.mark.parametrize("kind, path, value, field", [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_validators_reject_broken_manifests(
    synthesized: dict[str, list[dict[str, Any]]], kind: str, path: str, value: Any, field: str
) -> None:
    doc = find(synthesized, kind)
    if path.startswith(RULES):  # the agent-less smoke job carries no log rules: take a job that does
        doc = copy.deepcopy(
            next(
                d
                for d in all_docs(synthesized)
                if d["kind"] == kind and d["spec"]["runPolicy"].get("logMonitoringConfiguration")
            )
        )
    if "nvidia.com/gpu" in path:  # the key contains dots; set it directly
        doc = copy.deepcopy(doc)
        doc["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = (
            value
        )
    else:
        doc = mutated(doc, path, value)
    with pytest.raises(ManifestValidationError) as info:
        validate_manifest(doc)
    assert field in info.value.field, info.value


def test_lowercase_t_kind_error_suggests_the_right_kind(seed_job: dict[str, Any]) -> None:
    with pytest.raises(ManifestValidationError, match="did you mean HyperPodPyTorchJob"):
        validate_manifest(mutated(seed_job, "kind", "HyperPodPytorchJob"))


def test_unknown_custom_resources_are_errors_not_passes() -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}}
    with pytest.raises(ManifestValidationError, match="no Kubernetes 1.33.0 schema"):
        validate_manifest(widget)


def test_duplicate_manifests_are_rejected(seed_job: dict[str, Any]) -> None:
    with pytest.raises(ManifestValidationError, match="defined twice"):
        validate_manifests([seed_job, copy.deepcopy(seed_job)])


# ---- dist ---------------------------------------------------------------------------------------------


def write_config(tmp_path: Path, **extra: Any) -> Path:
    data = yaml.safe_load((REPO / "hyperpod.yaml").read_text())
    data.update(extra)
    path = tmp_path / "hyperpod.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_dist_writes_one_validated_file_per_chart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist"
    assert main(["--config", str(write_config(tmp_path)), "--out", str(out)]) == 0
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml"))
    assert files == ["cert-manager.yaml", "jobs/llama3-1-8b-fsdp.yaml", "jobs/smoke.yaml", "operator.yaml"]
    llama_text = (out / LLAMA_FILE).read_text()
    # No account in the config: only the FSDP image keeps ${REGISTRY}, for envsubst.
    placeholder_lines = [
        line.strip() for line in llama_text.splitlines() if "${REGISTRY}" in line and not line.startswith("#")
    ]
    assert placeholder_lines == ["image: ${REGISTRY}fsdp:pytorch2.7.1"]
    for name in ("operator.yaml", "cert-manager.yaml", SMOKE_FILE):
        assert "${" not in (out / name).read_text()
    substituted = llama_text.replace("${REGISTRY}", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/")
    for path in out.rglob("*.yaml"):
        text = substituted if path.name == "llama3-1-8b-fsdp.yaml" else path.read_text()
        docs = [doc for doc in yaml.safe_load_all(text) if doc]
        assert docs
        validate_manifests(docs)
    (job,) = yaml.safe_load_all(substituted)
    # The default platform's one ml.g5.8xlarge: 1 GPU, 1 replica, no FSx (checkpoints in an emptyDir).
    assert job["spec"]["nprocPerNode"] == "1"  # still a string after the YAML round trip
    pod = job["spec"]["replicaSpecs"][0]
    assert pod["replicas"] == 1
    assert [v for v in pod["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v] == []
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "None"


def test_dist_uses_account_and_kubernetes_settings(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        account=ACCOUNT,
        kubernetes={
            "teams": [{"name": "research", "compute_quota": [{"instance_type": "ml.g5.8xlarge", "count": 1}]}],
            "addons": {"task_governance": {"enabled": True}},
            "examples": {"nodes": 1},
        },
    )
    out = tmp_path / "dist"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    text = (out / LLAMA_FILE).read_text()
    assert "${" not in text
    (job,) = yaml.safe_load_all(text)
    assert job["metadata"]["namespace"] == "hyperpod-ns-research"
    assert job["metadata"]["labels"] == {"kueue.x-k8s.io/queue-name": "hyperpod-ns-research-localqueue"}
    assert job["spec"]["replicaSpecs"][0]["replicas"] == 1
    operator_kinds = [d["kind"] for d in yaml.safe_load_all((out / "operator.yaml").read_text())]
    # SageMaker creates the quota team's namespace and queues; the chart writes neither.
    assert "LocalQueue" not in operator_kinds and "Namespace" not in operator_kinds
    assert not (out / INFERENCE_FILE).exists()


def test_dist_writes_the_inference_example_validated_by_the_sdk(tmp_path: Path) -> None:
    from sagemaker.hyperpod.inference.config.hp_endpoint_config import _HPEndpoint

    addons = {
        "inference_operator": {"enabled": True},
        "metrics_server": {"enabled": True},
        "fsx_csi_driver": {"enabled": True},
        "s3_csi_driver": {"enabled": True, "bucket_names": ["my-models"]},
    }
    config = write_config(tmp_path, kubernetes={"addons": addons})
    out = tmp_path / "dist"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    (endpoint,) = yaml.safe_load_all((out / INFERENCE_FILE).read_text())
    assert (endpoint["apiVersion"], endpoint["kind"]) == (
        "inference.sagemaker.aws.amazon.com/v1",
        "InferenceEndpointConfig",
    )
    assert endpoint["metadata"] == {"name": "example-endpoint", "namespace": "hyperpod-ns-training"}
    spec = endpoint["spec"]
    # The first NVIDIA group of hyperpod.yaml, all of its GPUs; the model from the configured bucket.
    assert spec["instanceType"] == "ml.g5.8xlarge"
    assert spec["modelSourceConfig"]["s3Storage"] == {"bucketName": "my-models", "region": "us-west-2"}
    assert spec["worker"]["resources"]["limits"] == {"nvidia.com/gpu": 1}
    model = _HPEndpoint.model_validate(spec, by_name=True)
    assert model.modelSourceConfig.modelSourceType == "s3" and model.worker.modelInvocationPort.containerPort == 8080

    # Without a bucket the file keeps ${MODEL_BUCKET} for envsubst (validated before substitution).
    charts = build_charts(K8sSettings(), region=REGION, inference=True)
    text = render_charts({INFERENCE_FILE: charts[INFERENCE_FILE]})[INFERENCE_FILE]
    (doc,) = yaml.safe_load_all(text)
    assert doc["spec"]["modelSourceConfig"]["s3Storage"]["bucketName"] == "${MODEL_BUCKET}"
    assert "envsubst '$MODEL_BUCKET'" in text


def test_dist_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, kubernetes={"teams": [{"name": "Bad_Name"}]})
    assert main(["--config", str(config), "--out", str(tmp_path / "dist")]) == 2
    assert "kubernetes.teams[0](Bad_Name).name" in capsys.readouterr().err


def test_dist_writes_sbatch_examples_for_a_slurm_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist"
    config = Path(__file__).resolve().parent.parent / "examples" / "slurm.yaml"
    assert main(["--config", str(config), "--out", str(out)]) == 0
    # No Kubernetes API on Slurm: the sbatch examples instead (tests/test_sbatch_examples.py).
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "slurm/fsdp.sbatch",
        "slurm/smoke.sbatch",
    ]
    assert "slurm/smoke.sbatch" in capsys.readouterr().out

"""The typed HyperPodPyTorchJob builder: each validation rule rejects its bad input, naming the field."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.example_jobs import llama3_1_8b_fsdp_job, smoke_job
from hyperpod_cdk.kubernetes.charts.jobs import (
    API_VERSION,
    KIND,
    Container,
    HyperPodPyTorchJobSpec,
    LogMonitoringRule,
    PvcVolume,
    ReplicaSpec,
    Resources,
    RestartPolicy,
    RunPolicy,
    ShmVolume,
    Toleration,
    hyperpodrun_args,
    parse_quantity,
)

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/fsdp:pytorch2.7.1"


def container(**overrides: Any) -> Container:
    args = {
        "image": IMAGE,
        "command": ["hyperpodrun"],
        "args": hyperpodrun_args(nnodes=2, nproc_per_node=8, script="/fsdp/train.py"),
        "resources": Resources.for_accelerators(cpu="64", memory="512Gi", gpus=8, efa=32),
    }
    return Container(**{**args, **overrides})


def replica(**overrides: Any) -> ReplicaSpec:
    args = {"replicas": 2, "instance_type": "ml.p5.48xlarge", "container": container()}
    return ReplicaSpec(**{**args, **overrides})


def job(**overrides: Any) -> HyperPodPyTorchJobSpec:
    args = {"name": "train", "namespace": "hyperpod-ns-training", "nproc_per_node": 8, "replica_specs": [replica()]}
    return HyperPodPyTorchJobSpec(**{**args, **overrides})


def rule(**overrides: Any) -> LogMonitoringRule:
    args = {"name": "JobStart", "log_pattern": ".*Loss:.*", "expected_start_cutoff_seconds": 240}
    return LogMonitoringRule(**{**args, **overrides})


# (id, builder of the bad input, field the error must name)
BAD_INPUTS: list[tuple[str, Callable[[], Any], str]] = [
    # log-monitoring rules
    (
        "rule-operator",
        lambda: rule(log_pattern=r"Loss: ([0-9.]+)", metric_threshold=5, operator="ge"),
        "log_monitoring[JobStart].operator",
    ),
    ("rule-log-pattern-regex", lambda: rule(log_pattern="Loss: ("), "log_monitoring[JobStart].log_pattern"),
    ("rule-stop-pattern-regex", lambda: rule(stop_pattern="[unclosed"), "log_monitoring[JobStart].stop_pattern"),
    ("rule-log-pattern-not-re2", lambda: rule(log_pattern="Loss(?=:)"), "log_monitoring[JobStart].log_pattern"),
    ("rule-empty-log-pattern", lambda: rule(log_pattern=""), "log_monitoring[JobStart].log_pattern"),
    (
        "rule-start-cutoff-positive",
        lambda: rule(expected_start_cutoff_seconds=0),
        "log_monitoring[JobStart].expected_start_cutoff_seconds",
    ),
    (
        "rule-recurring-positive",
        lambda: rule(expected_recurring_frequency_seconds=-5),
        "log_monitoring[JobStart].expected_recurring_frequency_seconds",
    ),
    (
        "rule-datapoints-positive",
        lambda: rule(
            log_pattern=r"Loss: ([0-9.]+)", metric_threshold=5, operator="gt", metric_evaluation_data_points=0
        ),
        "log_monitoring[JobStart].metric_evaluation_data_points",
    ),
    (
        "rule-threshold-needs-group",
        lambda: rule(metric_threshold=5, operator="gt"),
        "log_monitoring[JobStart].log_pattern",
    ),
    (
        "rule-threshold-needs-operator",
        lambda: rule(log_pattern=r"Loss: ([0-9.]+)", metric_threshold=5),
        "log_monitoring[JobStart].operator",
    ),
    ("rule-operator-needs-threshold", lambda: rule(operator="gt"), "log_monitoring[JobStart].metric_threshold"),
    ("rule-empty-name", lambda: rule(name=" "), "log_monitoring[].name"),
    ("rule-checks-nothing", lambda: rule(expected_start_cutoff_seconds=None), "log_monitoring[JobStart]"),
    (
        "rule-duration-not-int",
        lambda: rule(expected_start_cutoff_seconds=True),
        "log_monitoring[JobStart].expected_start_cutoff_seconds",
    ),
    ("rule-names-unique", lambda: RunPolicy(log_monitoring=[rule(), rule()]), "run_policy.log_monitoring[1].name"),
    # restart and run policy
    (
        "restart-eval-period-positive",
        lambda: RestartPolicy(eval_period_seconds=0),
        "run_policy.restart_policy.eval_period_seconds",
    ),
    (
        "restart-num-restarts-non-negative",
        lambda: RestartPolicy(num_restart_before_full_job_restart=-1),
        "run_policy.restart_policy.num_restart_before_full_job_restart",
    ),
    (
        "restart-max-full-non-negative",
        lambda: RestartPolicy(max_full_job_restarts=-1),
        "run_policy.restart_policy.max_full_job_restarts",
    ),
    ("run-job-max-retry-non-negative", lambda: RunPolicy(job_max_retry_count=-1), "run_policy.job_max_retry_count"),
    ("run-clean-pod-policy", lambda: RunPolicy(clean_pod_policy="Running"), "run_policy.clean_pod_policy"),
    # replicas and nprocPerNode
    ("replicas-at-least-one", lambda: replica(replicas=0), "replica_specs[pods].replicas"),
    ("replicas-not-bool", lambda: replica(replicas=True), "replica_specs[pods].replicas"),
    ("nproc-positive", lambda: job(nproc_per_node=0), "job.nproc_per_node"),
    ("nproc-keyword", lambda: job(nproc_per_node="all"), "job.nproc_per_node"),
    ("nproc-not-bool", lambda: job(nproc_per_node=True), "job.nproc_per_node"),
    (
        "nproc-exceeds-gpus",
        lambda: job(
            nproc_per_node=16,
            replica_specs=[
                replica(
                    container=container(args=hyperpodrun_args(nnodes=2, nproc_per_node=16, script="/fsdp/train.py"))
                )
            ],
        ),
        "job.nproc_per_node",
    ),
    (
        "agent-nnodes-match",
        lambda: job(replica_specs=[replica(replicas=4)]),
        "replica_specs[pods].container[pytorch].args",
    ),
    ("agent-nproc-match", lambda: job(nproc_per_node=4), "replica_specs[pods].container[pytorch].args"),
    ("replica-names-unique", lambda: job(replica_specs=[replica(), replica()]), "job.replica_specs[1].name"),
    ("replica-specs-required", lambda: job(replica_specs=[]), "job.replica_specs"),
    # resources
    ("gpu-count-non-negative", lambda: Resources.for_accelerators(gpus=-1), "resources.gpus"),
    ("efa-count-non-negative", lambda: Resources.for_accelerators(efa=-2), "resources.efa"),
    (
        "gpu-limit-negative",
        lambda: Resources(requests={"nvidia.com/gpu": -1}, limits={"nvidia.com/gpu": -1}),
        "resources.requests[nvidia.com/gpu]",
    ),
    (
        "extended-limits-equal-requests",
        lambda: Resources(
            requests={"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 32},
            limits={"nvidia.com/gpu": 8, "vpc.amazonaws.com/efa": 16},
        ),
        "resources.limits[vpc.amazonaws.com/efa]",
    ),
    ("extended-needs-limit", lambda: Resources(requests={"nvidia.com/gpu": 8}), "resources.limits[nvidia.com/gpu]"),
    (
        "extended-whole-count",
        lambda: Resources(requests={"nvidia.com/gpu": "500m"}, limits={"nvidia.com/gpu": "500m"}),
        "resources.requests[nvidia.com/gpu]",
    ),
    ("quantity-format", lambda: Resources(requests={"memory": "lots"}), "resources.requests[memory]"),
    (
        "request-over-limit",
        lambda: Resources(requests={"memory": "2Gi"}, limits={"memory": "1Gi"}),
        "resources.requests[memory]",
    ),
    # names, images, volumes
    ("job-name", lambda: job(name="Train_1"), "job.name"),
    ("namespace", lambda: job(namespace=""), "job.namespace"),
    ("image-required", lambda: container(image=""), "container[pytorch].image"),
    ("image-placeholder", lambda: container(image="${REGISTRY}fsdp:pytorch2.7.1"), "container[pytorch].image"),
    ("env-value-string", lambda: container(env={"NCCL_DEBUG": 1}), "container[pytorch].env[NCCL_DEBUG]"),
    ("volume-mount-absolute", lambda: PvcVolume(claim_name="fsx-claim", mount_path="fsx"), "volumes[fsx].mount_path"),
    (
        "volume-names-unique",
        lambda: replica(volumes=[ShmVolume(), ShmVolume(mount_path="/shm2")]),
        "replica_specs[pods].volumes[1].name",
    ),
    ("instance-type", lambda: replica(instance_type="p5.48xlarge"), "replica_specs[pods].instance_type"),
    ("toleration-exists-no-value", lambda: Toleration(key="k", operator="Exists", value="v"), "tolerations.value"),
    (
        "agent-nnodes-positive",
        lambda: hyperpodrun_args(nnodes=0, nproc_per_node=8, script="/t.py"),
        "hyperpodrun.nnodes",
    ),
]


@pytest.mark.parametrize("build, field", [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_rule_rejects_bad_input_naming_the_field(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(HyperPodConfigError) as info:
        build()
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert "\n" not in str(info.value)


def test_valid_spec_renders_the_crd_shape() -> None:
    spec = job(
        run_policy=RunPolicy(
            job_max_retry_count=2,
            restart_policy=RestartPolicy(),
            log_monitoring=[
                rule(),
                LogMonitoringRule(
                    name="Slow",
                    log_pattern=r"tokens/s: ([0-9]+)",
                    metric_threshold=100,
                    operator="lt",
                    metric_evaluation_data_points=3,
                ),
            ],
        ),
        queue_name="hyperpod-ns-training-localqueue",
    )
    manifest = spec.to_manifest()
    assert manifest["apiVersion"] == API_VERSION == "sagemaker.amazonaws.com/v1"
    assert manifest["kind"] == KIND == "HyperPodPyTorchJob"
    assert manifest["metadata"]["labels"] == {"kueue.x-k8s.io/queue-name": "hyperpod-ns-training-localqueue"}
    assert manifest["spec"]["nprocPerNode"] == "8"
    slow = manifest["spec"]["runPolicy"]["logMonitoringConfiguration"][1]
    assert slow == {
        "name": "Slow",
        "logPattern": "tokens/s: ([0-9]+)",
        "metricThreshold": 100,
        "operator": "lt",
        "metricEvaluationDataPoints": 3,
    }


@pytest.mark.parametrize("value, expected", [(8, "8"), ("8", "8"), ("auto", "auto"), ("gpu", "gpu"), ("cpu", "cpu")])
def test_nproc_per_node_is_rendered_as_a_string(value: Any, expected: str) -> None:
    spec = job(nproc_per_node=value, replica_specs=[replica(container=container(args=["/fsdp/train.py"]))])
    assert spec.to_manifest()["spec"]["nprocPerNode"] == expected


def test_specs_are_frozen_and_copy_their_inputs() -> None:
    rules = [rule()]
    policy = RunPolicy(log_monitoring=rules)
    rules.append(rule(name="Other"))
    assert len(policy.log_monitoring) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.job_max_retry_count = 3  # type: ignore[misc]


def test_cdk_tokens_are_accepted_in_the_image() -> None:
    image = "${Token[AWS.AccountId.8]}.dkr.ecr.${Token[AWS.Region.4]}.amazonaws.com/fsdp:pytorch2.7.1"
    assert container(image=image).image == image


def test_quantities_parse_binary_and_decimal_suffixes() -> None:
    assert parse_quantity("q", "64Gi") == 64 * 1024**3
    assert parse_quantity("q", "500m") * 2 == 1
    assert parse_quantity("q", 8) == 8
    assert parse_quantity("q", "1e3") == 1000


def test_examples_reject_unsuitable_instance_types() -> None:
    with pytest.raises(HyperPodConfigError) as info:
        llama3_1_8b_fsdp_job(image=IMAGE, namespace="ns", instance_type="ml.trn1.32xlarge")
    assert info.value.field == "instance_type"
    with pytest.raises(HyperPodConfigError) as info:
        llama3_1_8b_fsdp_job(image=IMAGE, namespace="ns", instance_type="ml.zz9.huge")
    assert info.value.field == "instance_type"


def test_llama_job_follows_the_instance_type() -> None:
    spec = llama3_1_8b_fsdp_job(image=IMAGE, namespace="ns", instance_type="ml.g5.8xlarge", nodes=3)
    manifest = spec.to_manifest()["spec"]
    resources = manifest["replicaSpecs"][0]["template"]["spec"]["containers"][0]["resources"]
    env = {e["name"]: e["value"] for e in manifest["replicaSpecs"][0]["template"]["spec"]["containers"][0]["env"]}
    assert manifest["nprocPerNode"] == "1"
    assert resources["limits"] == {"nvidia.com/gpu": 1, "vpc.amazonaws.com/efa": 1}
    assert resources["requests"]["cpu"] == "8" and resources["requests"]["memory"] == "64Gi"
    assert env["FI_PROVIDER"] == "efa" and "FI_EFA_USE_DEVICE_RDMA" not in env  # no GPUDirect RDMA on g5
    assert "--nnodes=3" in manifest["replicaSpecs"][0]["template"]["spec"]["containers"][0]["args"]


def test_smoke_job_with_elastic_agent_runs_hyperpodrun() -> None:
    spec = smoke_job(namespace="ns", image=IMAGE, elastic_agent=True)
    command = spec.to_manifest()["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "exec hyperpodrun --nnodes=1 --nproc-per-node=1" in command[2]


def test_task_governance_labels_come_from_the_team_quota_and_a_weighted_class() -> None:
    from hyperpod_cdk.config.charts import PriorityClassSpec, QuotaResource, Team
    from hyperpod_cdk.kubernetes.charts.jobs import task_governance_labels

    team = Team(name="research", compute_quota=[QuotaResource(instance_type="ml.p5.48xlarge", count=1)])
    weighted = PriorityClassSpec(name="training", value=100, weight=60)
    labels = task_governance_labels(team, weighted)
    assert labels == {"queue_name": "hyperpod-ns-research-localqueue", "kueue_priority_class": "training-priority"}
    job = smoke_job(namespace=team.effective_namespace, **labels).to_manifest()
    assert job["metadata"]["labels"] == {
        "kueue.x-k8s.io/queue-name": "hyperpod-ns-research-localqueue",
        "kueue.x-k8s.io/priority-class": "training-priority",
    }
    with pytest.raises(HyperPodConfigError) as info:
        task_governance_labels(Team(name="free"))  # no quota: SageMaker makes no queue for it
    assert info.value.field == "team"
    with pytest.raises(HyperPodConfigError) as info:
        task_governance_labels(team, PriorityClassSpec(name="k8s-only", value=1))
    assert info.value.field == "priority_class"
    # A team limited to some classes gets no Kueue label of another (review round 6a, N3).
    limited = Team(
        name="limited",
        compute_quota=[QuotaResource(instance_type="ml.p5.48xlarge", count=1)],
        priority_classes=["low"],
    )
    with pytest.raises(HyperPodConfigError, match="may not use 'training'") as info:
        task_governance_labels(limited, weighted)
    assert info.value.field == "priority_class"
    # Kueue ignores a priority on a workload that names no queue.
    with pytest.raises(HyperPodConfigError) as info:
        smoke_job(namespace="hyperpod-ns-research", kueue_priority_class="training-priority")
    assert info.value.field == "job.kueue_priority_class"


@pytest.mark.parametrize(
    "name",
    ["NVIDIA_VISIBLE_DEVICES", "NVIDIA_MIG_CONFIG_DEVICES", "NVIDIA_MIG_MONITOR_DEVICES", "NVIDIA_IMEX_CHANNELS"],
)
def test_a_container_cannot_pick_gpus_through_the_toolkits_environment(name: str) -> None:
    """R8P-M3: NVIDIA_VISIBLE_DEVICES=all with no nvidia.com/gpu request would get every GPU of the node
    (with the toolkit's default), outside the scheduler and the team's quota."""
    with pytest.raises(HyperPodConfigError) as info:
        container(env={name: "all"}, resources=Resources(requests={"cpu": "1"}))
    assert info.value.field == f"container[pytorch].env[{name}]"
    assert str(info.value) == f"container[pytorch].env[{name}]: remove it: request GPUs with resources (nvidia.com/gpu)"
    # Other NVIDIA_ variables (library settings, not device selection) stay allowed.
    assert container(env={"NVIDIA_TF32_OVERRIDE": "0"}).env == {"NVIDIA_TF32_OVERRIDE": "0"}


def test_a_container_without_gpus_cancels_the_cuda_images_nvidia_visible_devices() -> None:
    """R8P-M3: CUDA base images carry NVIDIA_VISIBLE_DEVICES=all; a container that requests no GPU gets
    "void" in its env (which wins over the image's), so the toolkit gives it no GPU. One that requests
    GPUs gets nothing: the device plugin sets the variable to the GPUs it allocated."""
    cpu = container(env={"A": "1"}, resources=Resources(requests={"cpu": "1"})).to_manifest()
    assert cpu["env"] == [{"name": "A", "value": "1"}, {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]
    gpu = container().to_manifest()
    assert "NVIDIA_VISIBLE_DEVICES" not in {e["name"] for e in gpu.get("env", [])}
    mig = container(resources=Resources(requests={"nvidia.com/mig-1g.10gb": 1}, limits={"nvidia.com/mig-1g.10gb": 1}))
    assert "NVIDIA_VISIBLE_DEVICES" not in {e["name"] for e in mig.to_manifest().get("env", [])}
    smoke = smoke_job(namespace="ns").to_manifest()
    assert smoke["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]["env"][-1] == {
        "name": "NVIDIA_VISIBLE_DEVICES",
        "value": "void",
    }


@pytest.mark.parametrize("zero", [0, "0"])
@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "nvidia.com/mig-1g.10gb"])
def test_a_container_asking_for_zero_gpus_still_gets_no_gpu(resource: str, zero: int | str) -> None:
    """R9P-L2: a request of 0 NVIDIA devices allocates none, so the device plugin sets no
    NVIDIA_VISIBLE_DEVICES and a CUDA image's "all" would stay: such a container is a CPU container
    and gets "void" too. A positive count (written as text or a number) keeps the plugin's value."""
    zero_gpu = container(resources=Resources(requests={"cpu": "4", resource: zero}, limits={resource: zero}))
    assert zero_gpu.to_manifest()["env"][-1] == {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}
    for one in (1, "1"):
        gpu = container(resources=Resources(requests={resource: one}, limits={resource: one}))
        assert "NVIDIA_VISIBLE_DEVICES" not in {e["name"] for e in gpu.to_manifest().get("env", [])}

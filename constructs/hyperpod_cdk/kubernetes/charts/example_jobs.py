"""Example HyperPodPyTorchJobs: the Llama 3.1 8B FSDP seed job and a cheap CPU smoke test.

Both return a :class:`~hyperpod_cdk.kubernetes.charts.jobs.HyperPodPyTorchJobSpec`; put them in a
:class:`~hyperpod_cdk.kubernetes.charts.jobs.HyperPodJobChart` (``dist`` writes ``dist/jobs/<name>.yaml``) and
submit with ``kubectl apply -f``.

Images
------
The FSDP job needs an image with PyTorch, the training code at ``/fsdp/train.py`` and the HyperPod
elastic agent (``hyperpodrun``). Pass ``image=`` explicitly; :func:`ecr_image` builds the usual
``<account>.dkr.ecr.<region>.amazonaws.com/fsdp:pytorch2.7.1`` from the platform's account and
region (CDK tokens work too). The builder rejects placeholders such as ``${REGISTRY}``; only the
``dist/`` YAML keeps ``${REGISTRY}fsdp:pytorch2.7.1`` when the config has no account, for
``envsubst`` users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.jobs import (
    Container,
    EmptyDirVolume,
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
)
from hyperpod_cdk.specs.instance_types import spec_for
from hyperpod_cdk.specs.node_sizes import pod_requests

__all__ = [
    "EFA_ENV",
    "FSDP_REPOSITORY",
    "FSDP_TAG",
    "LLAMA3_1_8B_ARGS",
    "LLAMA_JOB_NAME",
    "SMOKE_IMAGE",
    "SMOKE_JOB_NAME",
    "ecr_image",
    "llama3_1_8b_fsdp_job",
    "llama3_1_8b_neuron_job",
    "smoke_job",
]

LLAMA_JOB_NAME = "llama3-1-8b-fsdp"
SMOKE_JOB_NAME = "hyperpod-smoke"
FSDP_REPOSITORY = "fsdp"
FSDP_TAG = "pytorch2.7.1"
# Docker's official python image, mirrored on ECR Public (no Docker Hub rate limits).
SMOKE_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"
LOSS_PATTERN = ".*Loss:.*"
# neuronx-distributed's training loop logs "step <n> ... loss <x>" every logging_interval steps.
NEURON_STEP_PATTERN = ".*[Ll]oss.*"
# Checkpoints without FSx: a disk-backed emptyDir (see llama3_1_8b_fsdp_job).
SCRATCH_CHECKPOINTS = "/checkpoints"

# Llama 3.1 8B shape for the FSDP example's train.py, on the C4 dataset.
LLAMA3_1_8B_ARGS: tuple[str, ...] = (
    "--max_context_width=8192",
    "--num_key_value_heads=8",
    "--intermediate_size=14336",
    "--hidden_width=4096",
    "--num_layers=32",
    "--num_heads=32",
    "--model_type=llama_v3",
    "--tokenizer=hf-internal-testing/llama-tokenizer",
    "--checkpoint_freq=50",
    "--validation_freq=100",
    "--max_steps=100",
    "--epochs=1",
    "--dataset=allenai/c4",
    "--dataset_config_name=en",
    "--train_batch_size=1",
    "--val_batch_size=1",
    "--sharding_strategy=full",
    "--offload_activations=1",
)

# libfabric/NCCL settings for EFA. FI_EFA_USE_DEVICE_RDMA is added only on types with GPUDirect RDMA.
EFA_ENV: dict[str, str] = {
    "FI_PROVIDER": "efa",
    "FI_EFA_FORK_SAFE": "1",
}
_RDMA_FAMILIES = ("ml.p4d.", "ml.p4de.", "ml.p5.", "ml.p5e.", "ml.p5en.", "ml.p6-")
TRAINING_ENV: dict[str, str] = {
    "NCCL_DEBUG": "INFO",
    "LOGLEVEL": "INFO",
    "TORCH_NCCL_ASYNC_ERROR_HANDLING": "1",
}


def ecr_image(account: str, region: str, repository: str = FSDP_REPOSITORY, tag: str = FSDP_TAG) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>`` (account/region may be CDK tokens)."""
    if not account or not region:
        raise HyperPodConfigError("account", "an ECR image needs the account and region; pass image= instead")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}/{repository}:{tag}"


def llama3_1_8b_fsdp_job(
    *,
    image: str,
    namespace: str,
    nodes: int = 2,
    instance_type: str = "ml.p5.48xlarge",
    name: str = LLAMA_JOB_NAME,
    claim_name: str | None = "fsx-claim",
    checkpoint_dir: str | None = None,
    max_steps: int = 100,
    cpu: str | None = None,
    memory: str | None = None,
    env: Mapping[str, str] | None = None,
    tolerations: Sequence[Toleration] = (),
    queue_name: str | None = None,
    kueue_priority_class: str | None = None,
    priority_class_name: str | None = None,
) -> HyperPodPyTorchJobSpec:
    """Llama 3.1 8B pre-training with PyTorch FSDP, auto-resuming from its last checkpoint.

    One process per GPU (``nprocPerNode`` = the instance type's GPU count), all EFA interfaces of
    the node, pods only on ``Schedulable`` nodes of ``instance_type``. Checkpoints go to
    ``checkpoint_dir`` (default ``/fsx/checkpoints``) on the ``claim_name`` PVC mounted at /fsx, and
    the job resumes from there after every restart, on any node. With ``claim_name=None`` (a
    platform without FSx) they go to a disk-backed emptyDir at ``/checkpoints``: it survives the
    operator's in-place process restarts (the elastic agent restarts workers inside the same pod),
    but not a pod moved to another node, which then starts from step 0. The operator retries up
    to 10 times, restarts single pods up to 3 times in 6 hours before one full-job restart, and
    calls the job hanging when no ``Loss:`` line appears within 4 minutes of the start or for 10 minutes after.

    CPU and memory requests default to 8 vCPU and 64 GiB per GPU (64 / 512Gi on 8-GPU types), at most 75% of
    the node (:func:`hyperpod_cdk.specs.node_sizes.pod_requests`: 32 / 144Gi on an ml.g5.12xlarge, whose 192 GiB
    the per-GPU amount exceeded, review round 34, R34P-M1); pass ``cpu``/``memory`` to change them.
    """
    spec = spec_for(instance_type)
    if spec is None:
        raise HyperPodConfigError("instance_type", f"{instance_type!r} is not a known HyperPod instance type")
    if spec.accelerator != "nvidia":
        raise HyperPodConfigError("instance_type", f"{instance_type} has no NVIDIA GPUs; the FSDP example needs them")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise HyperPodConfigError("max_steps", f"must be a positive integer (got {max_steps!r})")
    root = "/fsx/" if claim_name is not None else f"{SCRATCH_CHECKPOINTS}/"
    if checkpoint_dir is None:
        checkpoint_dir = "/fsx/checkpoints" if claim_name is not None else SCRATCH_CHECKPOINTS
    if not isinstance(checkpoint_dir, str) or not (checkpoint_dir + "/").startswith(root):
        raise HyperPodConfigError("checkpoint_dir", f"must be a directory under {root} (got {checkpoint_dir!r})")
    gpus, efa = spec.accelerators, spec.efa
    default_cpu, default_memory = pod_requests(instance_type, gpus, cpu_per_gpu=8, gib_per_gpu=64)
    container_env: dict[str, str] = {}
    if efa:
        container_env |= EFA_ENV
        if instance_type.startswith(_RDMA_FAMILIES):
            container_env["FI_EFA_USE_DEVICE_RDMA"] = "1"
    container_env |= TRAINING_ENV | dict(env or {})
    script_args = [f"--max_steps={max_steps}" if arg == "--max_steps=100" else arg for arg in LLAMA3_1_8B_ARGS] + [
        f"--checkpoint_dir={checkpoint_dir}",
        f"--resume_from_checkpoint={checkpoint_dir}",
    ]
    container = Container(
        image=image,
        command=["hyperpodrun"],
        args=hyperpodrun_args(nnodes=nodes, nproc_per_node=gpus, script="/fsdp/train.py", script_args=script_args),
        env=container_env,
        resources=Resources.for_accelerators(
            cpu=cpu or default_cpu, memory=memory or default_memory, gpus=gpus, efa=efa
        ),
        image_pull_policy="Always",
    )
    pods = _training_pods(nodes, instance_type, container, claim_name, tolerations, priority_class_name)
    policy = _retrying_policy(_LogWatch(LOSS_PATTERN, start=240, recurring=600))
    return _example_spec(name, namespace, gpus, pods, policy, queue=(queue_name, kueue_priority_class))


def _checkpoint_volume(claim_name: str | None) -> PvcVolume | EmptyDirVolume:
    if claim_name is None:
        return EmptyDirVolume(name="checkpoints", mount_path=SCRATCH_CHECKPOINTS)
    return PvcVolume(name="fsx", claim_name=claim_name, mount_path="/fsx")


def _training_pods(
    nodes: int,
    instance_type: str,
    container: Container,
    claim_name: str | None,
    tolerations: Sequence[Toleration],
    priority_class_name: str | None,
) -> ReplicaSpec:
    """``nodes`` pods of ``instance_type`` with the checkpoint volume and a large /dev/shm."""
    return ReplicaSpec(
        name="pods",
        replicas=nodes,
        instance_type=instance_type,
        container=container,
        volumes=[_checkpoint_volume(claim_name), ShmVolume()],
        tolerations=tolerations,
        priority_class_name=priority_class_name,
    )


@dataclass(frozen=True)
class _LogWatch:
    """An example's start and hang rules: ``pattern`` within ``start`` seconds of the start, then
    at least every ``recurring`` seconds until ``stop`` matches."""

    pattern: str
    start: int
    recurring: int
    stop: str | None = None

    def rules(self) -> list[LogMonitoringRule]:
        return [
            LogMonitoringRule(name="JobStart", log_pattern=self.pattern, expected_start_cutoff_seconds=self.start),
            LogMonitoringRule(
                name="JobHangingDetection",
                log_pattern=self.pattern,
                expected_recurring_frequency_seconds=self.recurring,
                stop_pattern=self.stop,
            ),
        ]


def _retrying_policy(watch: _LogWatch) -> RunPolicy:
    """The training examples' run policy: up to 10 retries, and 3 pod restarts in 6 hours before
    one full-job restart."""
    return RunPolicy(
        clean_pod_policy="None",
        job_max_retry_count=10,
        restart_policy=RestartPolicy(
            eval_period_seconds=21600, num_restart_before_full_job_restart=3, max_full_job_restarts=1
        ),
        log_monitoring=watch.rules(),
    )


def _example_spec(
    name: str,
    namespace: str,
    nproc_per_node: int,
    pods: ReplicaSpec,
    run_policy: RunPolicy,
    *,
    queue: tuple[str | None, str | None],
    model_architecture: str | None = None,
) -> HyperPodPyTorchJobSpec:
    """An example job of one replica group; ``queue`` is its Kueue (queue name, priority class)."""
    return HyperPodPyTorchJobSpec(
        name=name,
        namespace=namespace,
        nproc_per_node=nproc_per_node,
        queue_name=queue[0],
        kueue_priority_class=queue[1],
        model_architecture=model_architecture,
        replica_specs=[pods],
        run_policy=run_policy,
    )


# Neuron cores per device, which is what torchrun/hyperpodrun count as processes: two on Trainium1,
# four logical cores (LNC=2, the default) on Trainium2.
# https://awsdocs-neuron.readthedocs-hosted.com/en/latest/general/arch/neuron-hardware/trn2-arch.html
_CORES_PER_DEVICE = {"trainium": 2, "trainium2": 4}
NEURON_REPOSITORY_TAG = "neuronx-llama3"
# neuronx-distributed's Llama pre-training script with tensor parallelism and ZeRO-1, as
# awslabs/awsome-distributed-ai 3.test_cases/pytorch/neuronx-distributed/llama3/kubernetes runs it
# (images/neuron/Dockerfile copies it to /workspace/train.py).
NEURON_ARGS: tuple[str, ...] = (
    "--model_path=config_8b_llama3.1",
    "--warmup_steps=100",
    "--lr=1.5e-4",
    "--grad_accum_usteps=16",
    "--seq_len=8192",
    "--sequence_parallel_enabled",
    "--selective_checkpoint_enabled",
    "--logging_interval=10",
    "--qkv_linear",
    "--kv_replicator=4",
    "--use_flash_attention=1",
    "--use_zero_1",
    "--use_mix_precision",
    "--checkpoint_freq=100",
    "--num_kept_checkpoint=2",
)


def llama3_1_8b_neuron_job(
    *,
    image: str,
    namespace: str,
    nodes: int,
    instance_type: str,
    name: str = "llama3-1-8b-neuron",
    claim_name: str | None = "fsx-claim",
    max_steps: int = 1000,
    tolerations: Sequence[Toleration] = (),
    queue_name: str | None = None,
    kueue_priority_class: str | None = None,
    priority_class_name: str | None = None,
) -> HyperPodPyTorchJobSpec:
    """Llama 3.1 8B pre-training on Trainium with neuronx-distributed (tensor parallel + ZeRO-1).

    All Neuron devices and EFA interfaces of the node, one process per Neuron core. The tokenized
    dataset is read from ``/fsx/data`` (prepare it first: docs/first-job.md, "Trainium: the dataset") and
    checkpoints and the Neuron compile cache go to /fsx, and the job resumes from the newest checkpoint. The
    dist writer writes this job only with FSx; without it (``claim_name=None``) everything goes to the pod's
    emptyDir, which has no dataset.
    """
    spec = spec_for(instance_type)
    if spec is None or spec.accelerator != "neuron":
        raise HyperPodConfigError("instance_type", f"{instance_type} has no Neuron devices; use the FSDP example")
    cores = spec.accelerators * _CORES_PER_DEVICE.get(spec.chip or "", 2)
    root = "/fsx" if claim_name is not None else SCRATCH_CHECKPOINTS
    script_args = [
        *NEURON_ARGS,
        f"--tensor_parallel_size={min(32, cores)}",
        f"--max_steps={max_steps}",
        f"--steps_this_run={max_steps}",
        "--batch_size=1",
        f"--data_dir={root}/data",
        f"--checkpoint_dir={root}/checkpoints",
        # The script's --loading_step defaults to "-1" (no load); "latest_if_exists" resumes from the newest
        # checkpoint, or starts fresh without one (aws-neuron/neuronx-distributed v2.27.0, examples/training/llama/
        # tp_zero1_llama_hf_pretrain/tp_zero1_llama_hf_pretrain.py: get_loading_tag; R35P-M1).
        "--loading_step=latest_if_exists",
    ]
    env = EFA_ENV | {
        "FI_EFA_USE_DEVICE_RDMA": "1",
        "LOGLEVEL": "INFO",
        "NEURON_FUSE_SOFTMAX": "1",
        "NEURON_RT_ASYNC_EXEC_MAX_INFLIGHT_REQUESTS": "3",
        "NEURON_CC_FLAGS": f"--model-type transformer --distribution-strategy=llm-training "
        f"--cache_dir={root}/neuron_cache",
    }
    container = Container(
        image=image,
        command=["hyperpodrun"],
        args=hyperpodrun_args(
            nnodes=nodes, nproc_per_node=cores, script="/workspace/train.py", script_args=script_args
        ),
        env=env,
        resources=Resources.for_accelerators(neuron_devices=spec.accelerators, efa=spec.efa),
        image_pull_policy="Always",
    )
    pods = _training_pods(nodes, instance_type, container, claim_name, tolerations, priority_class_name)
    # The first steps compile the graph (tens of minutes); the start rule allows for it.
    policy = _retrying_policy(_LogWatch(NEURON_STEP_PATTERN, start=3600, recurring=1800))
    queue = (queue_name, kueue_priority_class)
    return _example_spec(name, namespace, cores, pods, policy, queue=queue, model_architecture="llama")


def _smoke_script(steps: int, interval_seconds: int) -> str:
    return (
        "import time\n"
        f"for step in range(1, {steps + 1}):\n"
        "    print(f'smoke step {step} Loss: {4.0 / step:.4f}', flush=True)\n"
        f"    time.sleep({interval_seconds})\n"
        "print('smoke test done', flush=True)\n"
    )


def smoke_job(
    *,
    namespace: str,
    image: str = SMOKE_IMAGE,
    name: str = SMOKE_JOB_NAME,
    steps: int = 20,
    interval_seconds: int = 3,
    instance_type: str | None = None,
    elastic_agent: bool = False,
    tolerations: Sequence[Toleration] = (),
    queue_name: str | None = None,
    kueue_priority_class: str | None = None,
) -> HyperPodPyTorchJobSpec:
    """One CPU pod printing ``Loss:`` lines for a minute: checks scheduling, the CRD and log rules.

    No GPU or EFA; 250m CPU / 256 MiB. The pod requires a ``Schedulable`` HyperPod node, so it
    also proves the node-health labels are present.

    The training operator supervises workers through the HyperPod elastic agent. The default
    stock python image has no agent, so it exercises admission, scheduling and the job object
    only. With ``elastic_agent=True`` the script runs under ``hyperpodrun`` (one node, one
    process), which needs an ``image`` that has ``hyperpod-elastic-agent`` installed (the FSDP
    training image does).
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise HyperPodConfigError("steps", f"must be a positive integer (got {steps!r})")
    if isinstance(interval_seconds, bool) or not isinstance(interval_seconds, int) or interval_seconds < 1:
        raise HyperPodConfigError("interval_seconds", f"must be a positive integer (got {interval_seconds!r})")
    script = _smoke_script(steps, interval_seconds)
    if elastic_agent:
        agent = " ".join(hyperpodrun_args(nnodes=1, nproc_per_node=1, script="/tmp/smoke.py"))
        command = ["/bin/sh", "-c", f"cat > /tmp/smoke.py <<'EOF'\n{script}EOF\nexec hyperpodrun {agent}\n"]
    else:
        command = ["python3", "-u", "-c", script]
    container = Container(
        image=image,
        name="smoke",
        command=command,
        resources=Resources(requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "500m", "memory": "256Mi"}),
    )
    pods = ReplicaSpec(
        name="pods", replicas=1, instance_type=instance_type, tolerations=tolerations, container=container
    )
    # The hang rule must outlast the print interval; the start rule allows for the image pull.
    watch = _LogWatch(LOSS_PATTERN, start=180, recurring=max(60, 10 * interval_seconds), stop=".*smoke test done.*")
    policy = RunPolicy(
        clean_pod_policy="None",
        job_max_retry_count=1,
        ttl_seconds_after_finished=3600,
        # Log rules work only through the elastic agent (the job builder refuses them without it).
        log_monitoring=watch.rules() if elastic_agent else [],
    )
    return _example_spec(name, namespace, 1, pods, policy, queue=(queue_name, kueue_priority_class))

"""The elastic-agent pitfalls the training-operator guide names are job-builder errors naming the field.

Guide (seed 000) troubleshooting: "Jobs Not Starting: check that the HyperPod elastic agent is
properly installed" and "Log Monitoring Not Working: ... saved at /tmp/hyperpod/"; its
"HyperPod Elastic Agent Arguments" table gives the flags and defaults typed here.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.kubernetes.charts.example_jobs import smoke_job
from hyperpod_cdk.kubernetes.charts.jobs import (
    AGENT_FLAG_DEFAULTS,
    AGENT_LOG_DIR,
    Container,
    ElasticAgentOptions,
    HyperPodPyTorchJobSpec,
    LogMonitoringRule,
    ReplicaSpec,
    RunPolicy,
    hyperpodrun_args,
)

IMAGE = "123456789012.dkr.ecr.us-west-2.amazonaws.com/fsdp:pytorch2.7.1"
RULES = RunPolicy(
    log_monitoring=[LogMonitoringRule(name="JobStart", log_pattern=".*Loss:.*", expected_start_cutoff_seconds=240)]
)


def spec(
    command: list[str], args: list[str] | None = None, run_policy: RunPolicy = RULES, **container: Any
) -> HyperPodPyTorchJobSpec:
    return HyperPodPyTorchJobSpec(
        name="train",
        namespace="ns",
        nproc_per_node=1,
        run_policy=run_policy,
        replica_specs=[
            ReplicaSpec(replicas=1, container=Container(image=IMAGE, command=command, args=args or [], **container))
        ],
    )


def agent_args(**kw: Any) -> list[str]:
    return hyperpodrun_args(nnodes=1, nproc_per_node=1, script="/train.py", **kw)


def field_of(build: Any) -> str:
    with pytest.raises(HyperPodConfigError) as info:
        build()
    assert "Traceback" not in str(info.value)
    return info.value.field


# ---- log rules need hyperpodrun -------------------------------------------------------------------


def test_log_rules_without_hyperpodrun_are_refused_naming_the_rules():
    assert field_of(lambda: spec(["python3", "/train.py"])) == "job.run_policy.log_monitoring"
    with pytest.raises(HyperPodConfigError, match="need the HyperPod elastic agent.*torchrun"):
        spec(["torchrun", "--nnodes=1", "/train.py"])


def test_empty_command_needs_the_entrypoint_declared():
    assert field_of(lambda: spec([], ["--epochs=1"])) == "job.run_policy.log_monitoring"
    job = spec([], ["--epochs=1"], agent_in_entrypoint=True)
    assert job.run_policy.log_monitoring
    assert field_of(lambda: spec(["python3"], agent_in_entrypoint=True)) == "container[pytorch].agent_in_entrypoint"


def test_hyperpodrun_directly_or_in_a_shell_script_is_accepted():
    assert spec(["hyperpodrun"], agent_args()).run_policy.log_monitoring
    assert spec(["/usr/local/bin/hyperpodrun"], agent_args()).run_policy.log_monitoring
    script = "pip list\nexec hyperpodrun " + " ".join(agent_args()) + "\n"
    assert spec(["/bin/bash", "-c", script]).run_policy.log_monitoring


def test_without_rules_any_command_is_fine_and_the_default_smoke_job_has_no_rules():
    assert spec(["python3", "/train.py"], run_policy=RunPolicy()).run_policy.log_monitoring == ()
    assert smoke_job(namespace="ns").run_policy.log_monitoring == ()
    assert len(smoke_job(namespace="ns", image=IMAGE, elastic_agent=True).run_policy.log_monitoring) == 2


# ---- the log directory is /tmp/hyperpod ------------------------------------------------------------


def test_builder_refuses_another_log_dir():
    assert AGENT_LOG_DIR == "/tmp/hyperpod"
    assert field_of(lambda: agent_args(log_dir="/var/log/train")) == "hyperpodrun.log_dir"
    assert f"--log_dir={AGENT_LOG_DIR}" in agent_args(log_dir="/tmp/hyperpod/")


@pytest.mark.parametrize("flag", [["--log_dir=/fsx/logs"], ["--log-dir", "/fsx/logs"]])
def test_hand_written_command_line_with_another_log_dir_is_refused(flag: list[str]):
    field = field_of(lambda: spec(["hyperpodrun"], ["--nnodes=1", *flag, "/train.py"]))
    assert field == "replica_specs[pods].container[pytorch].args --log_dir"


def test_log_rules_need_the_log_dir_written_out():
    with pytest.raises(HyperPodConfigError, match="add --log_dir=/tmp/hyperpod") as info:
        spec(["hyperpodrun"], ["--nnodes=1", "/train.py"])
    assert info.value.field.endswith("--log_dir")
    assert spec(["hyperpodrun"], ["--nnodes=1", "/train.py"], run_policy=RunPolicy())  # no rules: not needed


# ---- every agent flag is typed ----------------------------------------------------------------------


def test_every_flag_of_the_guide_table_is_typed_with_its_default():
    assert AGENT_FLAG_DEFAULTS == {
        "shutdown-signal": "SIGKILL",
        "shutdown-timeout": 30,
        "server-host": "0.0.0.0",
        "server-port": 8080,
        "server-log-level": "info",
        "server-shutdown-timeout": 300,
        "pre-train-script": None,
        "pre-train-args": None,
        "post-train-script": None,
        "post-train-args": None,
    }
    defaults = ElasticAgentOptions()
    for flag, value in AGENT_FLAG_DEFAULTS.items():
        assert getattr(defaults, flag.replace("-", "_")) == value
    # defaults are not written (the agent applies them), except the server address the operator uses
    assert defaults.to_args() == ["--server-host=0.0.0.0", "--server-port=8080"]


def test_non_default_flags_are_written_before_the_script():
    options = ElasticAgentOptions(
        shutdown_signal="SIGTERM",
        shutdown_timeout=120,
        server_log_level="debug",
        pre_train_script="/pre.sh",
        pre_train_args="a b",
        post_train_script="/post.sh",
    )
    args = agent_args(agent=options)
    for expected in (
        "--shutdown-signal=SIGTERM",
        "--shutdown-timeout=120",
        "--server-log-level=debug",
        "--pre-train-script=/pre.sh",
        "--pre-train-args=a b",
        "--post-train-script=/post.sh",
    ):
        assert expected in args
    assert args[-1] == "/train.py" and args.index("--shutdown-signal=SIGTERM") < args.index("/train.py")
    assert spec(["hyperpodrun"], args).replica_specs  # the spec re-checks the written flags


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"shutdown_signal": "SIGSTOPP"}, "agent.shutdown_signal"),
        ({"shutdown_timeout": -1}, "agent.shutdown_timeout"),
        ({"shutdown_timeout": "30"}, "agent.shutdown_timeout"),
        ({"server_port": 70000}, "agent.server_port"),
        ({"server_log_level": "verbose"}, "agent.server_log_level"),
        ({"server_shutdown_timeout": True}, "agent.server_shutdown_timeout"),
        ({"pre_train_args": "a b"}, "agent.pre_train_args"),
        ({"post_train_args": "x"}, "agent.post_train_args"),
        ({"post_train_script": ""}, "agent.post_train_script"),
    ],
)
def test_bad_agent_options_name_the_field(kwargs: dict[str, Any], field: str):
    assert field_of(lambda: ElasticAgentOptions(**kwargs)) == field


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--shutdown-signal=NOPE"], "--shutdown-signal"),
        (["--shutdown_timeout", "soon"], "--shutdown-timeout"),
        (["--server-port=0"], "--server-port"),
        (["--server-log-level=loud"], "--server-log-level"),
        (["--post-train-args=x y"], "--post-train-args"),
    ],
)
def test_bad_flags_in_a_hand_written_command_line_name_the_flag(argv: list[str], flag: str):
    field = field_of(lambda: spec(["hyperpodrun"], ["--nnodes=1", "--log_dir=/tmp/hyperpod", *argv, "/t.py"]))
    assert field == f"replica_specs[pods].container[pytorch].args {flag}"


def test_agent_flags_in_untyped_agent_args_are_refused():
    assert field_of(lambda: agent_args(agent_args=["--shutdown-timeout=60"])) == "hyperpodrun.agent_args[0]"
    assert (
        field_of(lambda: agent_args(agent_args=["--rdzv-backend=hyperpod", "--log_dir=/x"]))
        == "hyperpodrun.agent_args[1]"
    )
    assert "--rdzv-backend=hyperpod" in agent_args(agent_args=["--rdzv-backend=hyperpod"])  # torchrun's own
    with pytest.raises(HyperPodConfigError, match="agent=ElasticAgentOptions"):
        agent_args(agent=ElasticAgentOptions(), server_port=9000)


# ---- the same rules for manifests users bring (kubernetes/charts/validate.py) ----------------------


def _manifest(command: list[str], args: list[str]) -> dict[str, Any]:
    doc = spec(["hyperpodrun"], agent_args()).to_manifest()
    container = doc["spec"]["replicaSpecs"][0]["template"]["spec"]["containers"][0]
    container["command"], container["args"] = command, args
    return doc


def test_manifest_validator_refuses_rules_without_the_agent_and_another_log_dir():
    from hyperpod_cdk.kubernetes.charts.validate import ManifestValidationError, validate_manifest

    assert validate_manifest(_manifest(["hyperpodrun"], agent_args())) == "hyperpod-sdk"
    with pytest.raises(ManifestValidationError, match="spec.runPolicy.logMonitoringConfiguration"):
        validate_manifest(_manifest(["python3"], ["/train.py"]))
    with pytest.raises(ManifestValidationError, match=r"containers\[0\].args --log_dir"):
        validate_manifest(_manifest(["hyperpodrun"], ["--nnodes=1", "--log_dir=/logs", "/train.py"]))
    assert validate_manifest(_manifest([], ["/train.py"])) == "hyperpod-sdk"  # the image's ENTRYPOINT may run it


def test_a_one_second_start_cutoff_for_testing_is_accepted():
    """The guide tests monitoring with expectedStartCutOffInSeconds: 1 (LogStateHanging_JobStart)."""
    rule = LogMonitoringRule(name="JobStart", log_pattern=".*Loss:.*", expected_start_cutoff_seconds=1)
    assert rule.to_manifest()["expectedStartCutOffInSeconds"] == 1
    with pytest.raises(HyperPodConfigError):
        LogMonitoringRule(name="JobStart", log_pattern=".*Loss:.*", expected_start_cutoff_seconds=0)

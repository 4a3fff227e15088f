"""``hyperpod-cdk jobs status`` against the fake Kubernetes API; the job status is checked against the
``sagemaker-hyperpod`` SDK's HyperPodPytorchJobStatus model so the fake has the operator's shape."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_cdk.cli.main import main
from hyperpod_cdk.kubernetes.charts.example_jobs import llama3_1_8b_fsdp_job

_here = Path(__file__)


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"{name}_jobs", _here.with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fx = _load("cli_fixtures")
fk = _load("fake_kube")
NS, JOB, EKS = "hyperpod-ns-training", "llama3-1-8b-fsdp", "hyperpod-demo-eks"
EKS_ARN = f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/{EKS}"

STATUS = {
    "conditions": [
        {
            "type": "Created",
            "status": "True",
            "reason": "Created",
            "lastTransitionTime": "2026-12-06T01:00:00Z",
            "message": "job created",
        },
        {
            "type": "Running",
            "status": "True",
            "reason": "Running",
            "lastTransitionTime": "2026-12-06T01:20:00Z",
            "message": "Restarted after JobHangingDetection: no match of .*Loss:.* for 600 s",
        },
    ],
    "restartCount": 2,
    "restartStatus": {"currentEvalPeriod": 1, "fullJobRestartCount": 0, "restartCount": 2},
    "latestFaultyPodInstanceList": {
        "restartType": "PLR",
        "faultyPodList": [f"{JOB}-pods-1"],
        "faultyRankList": ["1"],
        "faultyInstanceIdList": ["i-0123456789abcdef0"],
    },
}


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


def test_fixture_status_matches_the_sdk_model() -> None:
    from sagemaker.hyperpod.training.config.hyperpod_pytorch_job_unified_config import HyperPodPytorchJobStatus

    # The SDK aliases fields to snake_case; the API (and this fixture) uses the field names.
    HyperPodPytorchJobStatus.model_validate(STATUS, by_alias=False, by_name=True)


def _stubs(endpoint: str, ca: str) -> dict[str, Any]:
    sm, sm_stub = fx.stubbed("sagemaker")
    sm_stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
            "ClusterName": "hyperpod-demo",
            "ClusterStatus": "InService",
            "InstanceGroups": [],
            "Orchestrator": {"Eks": {"ClusterArn": EKS_ARN}},
        },
        {"ClusterName": "hyperpod-demo"},
    )
    eks, stub = fx.stubbed("eks")
    stub.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": EKS,
                "arn": EKS_ARN,
                "endpoint": endpoint,
                "certificateAuthority": {"data": ca},
                "resourcesVpcConfig": {"endpointPublicAccess": True},
            }
        },
        {"name": EKS},
    )
    return {"sagemaker": sm, "eks": eks}


def test_status_shows_restarts_and_the_rule_that_fired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = llama3_1_8b_fsdp_job(
        image="registry.example/fsdp:1", namespace=NS, nodes=2, instance_type="ml.g5.48xlarge"
    ).to_manifest()
    job["status"] = STATUS
    with fk.serve(tmp_path) as (state, port, ca):
        state.routes[f"/apis/sagemaker.amazonaws.com/v1/namespaces/{NS}/hyperpodpytorchjobs/{JOB}"] = job
        state.routes[f"/api/v1/namespaces/{NS}/events"] = {
            "items": [
                {
                    "involvedObject": {"name": JOB},
                    "type": "Warning",
                    "reason": "JobHangingDetection",
                    "lastTimestamp": "2026-12-06T01:15:00Z",
                    "message": "log rule JobHangingDetection evaluated HANGING",
                },
                {
                    "involvedObject": {"name": "other"},
                    "type": "Warning",
                    "reason": "JobStart",
                    "lastTimestamp": "2026-12-06T01:16:00Z",
                    "message": "not this job",
                },
            ]
        }
        code = main(
            ["jobs", "status", JOB, "--config", str(fx.write_config(tmp_path)), "--json"],
            clients_factory=fx.factory(_stubs(f"https://127.0.0.1:{port}", ca)),
        )
        assert code == 0, capsys.readouterr()
        events_query = [p for m, p, _ in state.requests if p.endswith("/events")]
    summary = json.loads(capsys.readouterr().out)
    assert events_query
    assert summary["job"] == f"{NS}/{JOB}" and summary["state"] == "Running"
    assert summary["restarts"] == 2 and summary["window"]["restarts"] == 2
    assert summary["limits"] == {
        "job_max_retry_count": 10,
        "restarts_before_full_job_restart": 3,
        "max_full_job_restarts": 1,
        "eval_period_seconds": 21600,
    }
    assert summary["latest_restart"]["type"] == "process-level restart"
    assert summary["latest_restart"]["faulty_pods"] == [f"{JOB}-pods-1"]
    assert [f["rule"] for f in summary["rules_fired"]] == ["JobHangingDetection"]
    assert summary["rules_fired"][0]["time"] == "2026-12-06T01:15:00Z"
    assert all("not this job" not in h["message"] for h in summary["history"])


def test_unknown_job_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with fk.serve(tmp_path) as (state, port, ca):
        state.routes["/apis/sagemaker.amazonaws.com/v1/hyperpodpytorchjobs"] = {"items": []}
        code = main(
            ["jobs", "status", "nope", "--config", str(fx.write_config(tmp_path))],
            clients_factory=fx.factory(_stubs(f"https://127.0.0.1:{port}", ca)),
        )
    assert code == 1
    assert "no HyperPodPyTorchJob named nope" in capsys.readouterr().err


def test_a_hanging_start_names_the_rule_inside_the_condition_reason() -> None:
    """The guide's LogStateHanging_JobStart (a start cutoff that expired) names the JobStart rule."""
    from hyperpod_cdk.cli.jobs import job_status

    job = llama3_1_8b_fsdp_job(
        image="registry.example/fsdp:1", namespace=NS, nodes=2, instance_type="ml.g5.48xlarge"
    ).to_manifest()
    job["status"] = {
        "conditions": [
            {
                "type": "Running",
                "status": "True",
                "reason": "LogStateHanging_JobStart",
                "lastTransitionTime": "2026-12-06T01:05:00Z",
                "message": "restarting",
            }
        ]
    }
    summary = job_status(job, [])
    assert [f["rule"] for f in summary["rules_fired"]] == ["JobStart"]
    # A rule name inside a longer word is not that rule.
    job["status"]["conditions"][0]["reason"] = "JobStartup"
    assert job_status(job, [])["rules_fired"] == []


# --- review round 8 (tools), M3: the team's rule names cost linear work -------------------------

work_limits = _load("work_limits")


def _many_rules_job(rule_count: int, items: int = 50) -> dict[str, Any]:
    rules = [{"name": f"rule{index:06d}"} for index in range(rule_count)]
    return {
        "metadata": {"name": "j", "namespace": NS},
        "spec": {"runPolicy": {"logMonitoringConfiguration": rules}},
        "status": {
            "conditions": [
                {
                    "type": "Running",
                    "status": "True",
                    "lastTransitionTime": f"2026-12-06T00:00:{index:02d}Z",
                    "reason": "r",
                    "message": "x " * 100,
                }
                for index in range(items)
            ]
        },
    }


def test_rule_matching_work_does_not_grow_with_the_rule_names_of_the_spec() -> None:
    """Before: one regex per (rule, history item), 100 s for 8,000 names. Now the work is bounded."""
    from hyperpod_cdk.cli.jobs import job_status

    events = [
        {"involvedObject": {"name": "j"}, "type": "Normal", "reason": "R", "message": "y " * 500} for _ in range(50)
    ]
    small_job, large_job = _many_rules_job(400), _many_rules_job(800)
    small = work_limits.calls(lambda: job_status(small_job, events))
    large = work_limits.calls(lambda: job_status(large_job, events))
    # Reading the spec costs a few calls per name; matching (100 history items) must not grow with them.
    assert large - small <= 4 * 400, (small, large)
    with work_limits.guard(30):  # ~70,000 names: the 1.5 MB object limit; took over 10 minutes before
        summary = job_status(_many_rules_job(70_000), events)
    assert len(summary["rules"]) == 200 and summary["rules_not_matched"] == 69_800


def test_rule_names_past_the_cap_are_named_not_matched(capsys: pytest.CaptureFixture[str]) -> None:
    from hyperpod_cdk.cli.jobs import MAX_RULE_NAMES, job_status

    job = _many_rules_job(MAX_RULE_NAMES + 5, items=1)
    job["status"]["conditions"][0]["message"] = f"rule000001 and rule{MAX_RULE_NAMES + 2:06d} fired"
    summary = job_status(job, [])
    assert [f["rule"] for f in summary["rules_fired"]] == ["rule000001"]
    assert summary["rules_not_matched"] == 5


@pytest.mark.parametrize(
    ("text", "fired"),
    [
        ("LogStateHanging_job-start", ["job-start"]),
        ("(job-start)", ["job-start"]),
        ("job-starts", []),
        ("xjob-start", []),
        ("job-start2 then job-start.", ["job-start"]),
        ("JobStart and job-start", ["JobStart", "job-start"]),  # the spec's order
    ],
)
def test_rule_names_with_punctuation_keep_their_boundaries(text: str, fired: list[str]) -> None:
    from hyperpod_cdk.cli.jobs import job_status

    job = _many_rules_job(0, items=1)
    job["spec"]["runPolicy"]["logMonitoringConfiguration"] = [{"name": "JobStart"}, {"name": "job-start"}]
    job["status"]["conditions"][0]["message"] = text
    assert [f["rule"] for f in job_status(job, [])["rules_fired"]] == fired


def test_a_forbidden_read_points_at_access_not_the_tunnel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """R31P-L3: a 403 (a team member's Role cannot list jobs cluster-wide) said a private endpoint needs the tunnel."""
    with fk.serve(tmp_path) as (state, port, ca):
        state.routes["/apis/sagemaker.amazonaws.com/v1/hyperpodpytorchjobs"] = lambda method, query, body: (
            403,
            {"kind": "Status", "message": "forbidden", "reason": "Forbidden", "code": 403},
        )
        code = main(
            ["jobs", "status", "nope", "--config", str(fx.write_config(tmp_path))],
            clients_factory=fx.factory(_stubs(f"https://127.0.0.1:{port}", ca)),
        )
    err = capsys.readouterr().err
    assert code == 1 and "your access entry may not read that" in err and "tunnel" not in err, err

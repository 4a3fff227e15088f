"""What every CLI command shares: AWS_REGION, AWS_PROFILE and --profile, --config defaults, JSON errors.

These run the real clients factory (boto3 sessions) against moto, so the region and profile really
come from the environment and ~/.aws/config as a user's would.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from moto import mock_aws

from hyperpod_cdk.cli.main import main

_spec = importlib.util.spec_from_file_location("cli_fixtures_common", Path(__file__).with_name("cli_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)

FRANKFURT = "eu-central-1"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fx.set_fake_aws_env(monkeypatch)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.chdir(tmp_path)  # no ./hyperpod.yaml unless a test writes one
    with mock_aws():
        yield


def cluster_in(region: str, name: str = "demo") -> None:
    fx.session(region).client("sagemaker").create_cluster(
        ClusterName=name,
        InstanceGroups=[
            {
                "InstanceGroupName": "gpu",
                "InstanceType": "ml.g5.8xlarge",
                "InstanceCount": 1,
                "ThreadsPerCore": 1,
                "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-lifecycle/scripts/", "OnCreate": "on_create.sh"},
                "ExecutionRole": f"arn:aws:iam::{fx.ACCOUNT}:role/hp-exec",
            }
        ],
    )


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return json.loads(capsys.readouterr().out)


def test_aws_region_is_honoured(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cluster_in(FRANKFURT)
    monkeypatch.setenv("AWS_REGION", FRANKFURT)
    assert main(["nodes", "list", "demo", "--json"]) == 0
    assert [n["instance_group"] for n in listed(capsys)] == ["gpu"]


def test_region_flag_beats_aws_region(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cluster_in(FRANKFURT)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert main(["nodes", "list", "demo", "--region", FRANKFURT, "--json"]) == 0
    assert len(listed(capsys)) == 1


def _profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "aws-config"
    config.write_text(
        f"[profile ops]\nregion = {FRANKFURT}\naws_access_key_id = testing\n" "aws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))


def test_aws_profile_and_profile_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _profiles(tmp_path, monkeypatch)
    cluster_in(FRANKFURT)
    assert main(["nodes", "list", "demo", "--profile", "ops", "--json"]) == 0  # region from the profile
    assert len(listed(capsys)) == 1
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert main(["nodes", "list", "demo", "--json"]) == 0
    assert len(listed(capsys)) == 1


def test_unknown_profile_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _profiles(tmp_path, monkeypatch)
    assert main(["nodes", "list", "demo", "--profile", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: The config profile (nope) could not be found") and "--profile" in err


def test_config_gives_cluster_and_region(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = fx.write_config(
        tmp_path, lambda d: d["hyperpod"].__setitem__("cluster_name", "from-config"), name="other.yaml"
    )
    cluster_in("us-west-2", "from-config")
    assert main(["nodes", "list", "--config", str(config), "--json"]) == 0
    assert len(listed(capsys)) == 1
    assert main(["diagnose", "--config", str(config), "--json"]) in (0, 1)
    assert json.loads(capsys.readouterr().out)["cluster"]["name"] == "from-config"


def test_hyperpod_yaml_in_the_working_folder_is_the_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fx.write_config(tmp_path)  # ./hyperpod.yaml: cluster hyperpod-demo in us-west-2
    cluster_in("us-west-2", "hyperpod-demo")
    assert main(["nodes", "list", "--json"]) == 0
    assert len(listed(capsys)) == 1


def test_another_cluster_does_not_take_the_config_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fx.write_config(tmp_path)  # us-west-2
    cluster_in(FRANKFURT, "elsewhere")
    monkeypatch.setenv("AWS_REGION", FRANKFURT)
    assert main(["nodes", "list", "elsewhere", "--json"]) == 0
    assert len(listed(capsys)) == 1


def test_no_cluster_and_no_config_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagnose"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: hyperpod-cdk: name the CLUSTER, or pass --config FILE (no ./hyperpod.yaml here)"
    )


def test_broken_config_named_with_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: demo\n  region: x\n")
    assert main(["nodes", "list", "--config", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {bad}: line 2, column 9: not valid YAML: mapping values are not allowed here"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nodes", "list", "bad name!", "--json"], "argument CLUSTER: 'bad name!' is not a HyperPod cluster name"),
        (["nodes", "list", "demo", "--json"], "no AWS region configured"),
        (["preflight", "--json", "--config", "missing.yaml"], "missing.yaml: cannot read the config file"),
        (["diagnose", "--json"], "name the CLUSTER"),
    ],
    ids=["usage", "setup", "config", "no-cluster"],
)
def test_json_mode_errors_are_json(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert message in error["error"] and error["exit_code"] == 2
    assert captured.err == ""

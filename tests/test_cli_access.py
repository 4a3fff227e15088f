"""``hyperpod-cdk kubeconfig`` and ``access`` against Stubbers, a fake Kubernetes API and the real kubectl.

The private-endpoint test goes up to the AWS and Kubernetes API boundaries: the kubeconfig the
command writes is used by ``kubectl`` itself, whose exec plugin (``aws eks get-token``) is a stand-in
``aws`` on PATH that prints an EKS token, and whose connection goes to 127.0.0.1 (the tunnel's local
end) while checking the certificate against the private endpoint's host name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_cdk.cli import access
from hyperpod_cdk.cli.kube import eks_token
from hyperpod_cdk.cli.main import main

_here = Path(__file__)
import importlib.util as _util  # noqa: E402

_spec = _util.spec_from_file_location("cli_fixtures_access", _here.with_name("cli_fixtures.py"))
fx = _util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
_kspec = _util.spec_from_file_location("fake_kube_access", _here.with_name("fake_kube.py"))
fk = _util.module_from_spec(_kspec)
_kspec.loader.exec_module(fk)

CLUSTER = "hyperpod-demo"
EKS = "hyperpod-demo-eks"
EKS_ARN = f"arn:aws:eks:{fx.REGION}:{fx.ACCOUNT}:cluster/{EKS}"
ENDPOINT = f"https://{fk.DNS_NAME}"
ADMIN = f"arn:aws:iam::{fx.ACCOUNT}:role/Admin"
INSTANCE = "i-0123456789abcdef0"
VPC = "vpc-0123456789abcdef0"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    fx.set_fake_aws_env(monkeypatch)


def _stubs(ca: str, *, public: bool = False, tunnel: bool = True) -> dict[str, Any]:
    sm, sm_stub = fx.stubbed("sagemaker")
    sm_stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
            "ClusterName": CLUSTER,
            "ClusterStatus": "InService",
            "InstanceGroups": [],
            "Orchestrator": {"Eks": {"ClusterArn": EKS_ARN}},
        },
        {"ClusterName": CLUSTER},
    )
    eks, eks_stub = fx.stubbed("eks")
    eks_stub.add_response(
        "describe_cluster",
        {
            "cluster": {
                "name": EKS,
                "arn": EKS_ARN,
                "endpoint": ENDPOINT,
                "certificateAuthority": {"data": ca},
                "resourcesVpcConfig": {"endpointPublicAccess": public, "endpointPrivateAccess": True, "vpcId": VPC},
            }
        },
        {"name": EKS},
    )
    overrides: dict[str, Any] = {"sagemaker": sm, "eks": eks}
    if not public:
        ec2, ec2_stub = fx.stubbed("ec2")
        reservations = [{"Instances": [{"InstanceId": INSTANCE}]}] if tunnel else []
        ec2_stub.add_response(
            "describe_instances",
            {"Reservations": reservations},
            {
                "Filters": [
                    {"Name": "tag:hyperpod-cdk:access-tunnel", "Values": [EKS]},
                    {"Name": "instance-state-name", "Values": ["running"]},
                    {"Name": "vpc-id", "Values": [VPC]},
                ]
            },
        )
        overrides["ec2"] = ec2
    return overrides


def _config(tmp_path: Path) -> Path:
    return fx.write_config(tmp_path)


def test_private_endpoint_kubeconfig_reaches_the_api_through_the_tunnel_with_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    kubeconfig = tmp_path / "kube" / "config"
    started: list[list[str]] = []
    with fk.serve(tmp_path) as (state, port, ca):
        state.routes["/api/v1/nodes"] = {
            "kind": "NodeList",
            "apiVersion": "v1",
            "items": [{"metadata": {"name": "hyperpod-i-0aa"}}],
        }
        monkeypatch.setattr(access, "_run_foreground", lambda command: started.append(command) or 0)
        monkeypatch.setattr(access.shutil, "which", lambda tool: f"/usr/bin/{tool}")
        code = main(
            [
                "kubeconfig",
                "--config",
                str(_config(tmp_path)),
                "--kubeconfig",
                str(kubeconfig),
                "--local-port",
                str(port),
            ],
            clients_factory=fx.factory(_stubs(ca)),
        )
        assert code == 0, capsys.readouterr().err
        # The SSM session forwards the local port to the endpoint's host through the tagged instance.
        assert started == [
            [
                "aws",
                "ssm",
                "start-session",
                "--region",
                fx.REGION,
                "--target",
                INSTANCE,
                "--document-name",
                "AWS-StartPortForwardingSessionToRemoteHost",
                "--parameters",
                f'{{"host":["{fk.DNS_NAME}"],"portNumber":["443"],"localPortNumber":["{port}"]}}',
            ]
        ]
        written = yaml.safe_load(kubeconfig.read_text())
        assert written["current-context"] == EKS_ARN  # what `hyp set-cluster-context` selects
        assert written["contexts"][0]["context"]["namespace"] == "hyperpod-ns-training"
        assert written["clusters"][0]["cluster"]["tls-server-name"] == fk.DNS_NAME
        assert kubeconfig.stat().st_mode & 0o077 == 0
        # kubectl runs `aws eks get-token ...`: a stand-in prints a real presigned EKS token.
        token = eks_token(fx.session(), EKS, fx.REGION)
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        log = tmp_path / "aws-args"
        credential = {
            "kind": "ExecCredential",
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "spec": {},
            "status": {"token": token},
        }
        (bin_dir / "aws").write_text(f"#!/bin/sh\necho \"$@\" > {log}\ncat <<'EOF'\n{json.dumps(credential)}\nEOF\n")
        (bin_dir / "aws").chmod(0o755)
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
        done = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", "/api/v1/nodes"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["items"][0]["metadata"]["name"] == "hyperpod-i-0aa"
        assert log.read_text().split() == [
            "--region",
            fx.REGION,
            "eks",
            "get-token",
            "--cluster-name",
            EKS,
            "--output",
            "json",
        ]


def test_public_endpoint_needs_no_tunnel_and_keeps_other_contexts(tmp_path: Path, capsys) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other"}],
                "contexts": [{"name": "other"}],
                "users": [],
                "current-context": "other",
            }
        )
    )
    code = main(
        ["kubeconfig", "--config", str(_config(tmp_path)), "--kubeconfig", str(kubeconfig), "--json"],
        clients_factory=fx.factory(_stubs("Q0E=", public=True)),
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"kubeconfig": str(kubeconfig), "context": EKS_ARN, "private": False}
    written = yaml.safe_load(kubeconfig.read_text())
    assert [c["name"] for c in written["contexts"]] == ["other", EKS_ARN]
    assert written["clusters"][1]["cluster"] == {"certificate-authority-data": "Q0E=", "server": ENDPOINT}


def test_private_endpoint_without_a_tunnel_names_the_keys(tmp_path: Path, capsys) -> None:
    code = main(
        ["kubeconfig", "--config", str(_config(tmp_path)), "--kubeconfig", str(tmp_path / "c")],
        clients_factory=fx.factory(_stubs("Q0E=", tunnel=False)),
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "eks.access_tunnel: true" in err and "eks.public_access_cidrs" in err
    assert not (tmp_path / "c").exists()


def test_no_tunnel_prints_the_session_command(tmp_path: Path, capsys) -> None:
    code = main(
        ["kubeconfig", "--config", str(_config(tmp_path)), "--kubeconfig", str(tmp_path / "c"), "--no-tunnel"],
        clients_factory=fx.factory(_stubs("Q0E=")),
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"aws ssm start-session --region {fx.REGION} --target {INSTANCE}" in out
    assert "AWS-StartPortForwardingSessionToRemoteHost" in out


def _eks_only(responses: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> dict[str, Any]:
    sm, sm_stub = fx.stubbed("sagemaker")
    sm_stub.add_response(
        "describe_cluster",
        {
            "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
            "ClusterName": CLUSTER,
            "ClusterStatus": "InService",
            "InstanceGroups": [],
            "Orchestrator": {"Eks": {"ClusterArn": EKS_ARN}},
        },
        {"ClusterName": CLUSTER},
    )
    eks, stub = fx.stubbed("eks")
    stub.add_response(
        "describe_cluster",
        {"cluster": {"name": EKS, "arn": EKS_ARN, "endpoint": ENDPOINT, "certificateAuthority": {"data": "Q0E="}}},
        {"name": EKS},
    )
    for method, response, params in responses:
        stub.add_response(method, response, params)
    return {"sagemaker": sm, "eks": eks}


def test_grant_admin_creates_entry_and_cluster_admin_policy(tmp_path: Path, capsys) -> None:
    overrides = _eks_only(
        [
            (
                "create_access_entry",
                {"accessEntry": {"principalArn": ADMIN}},
                {"clusterName": EKS, "principalArn": ADMIN, "type": "STANDARD"},
            ),
            (
                "associate_access_policy",
                {"clusterName": EKS, "principalArn": ADMIN},
                {
                    "clusterName": EKS,
                    "principalArn": ADMIN,
                    "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                    "accessScope": {"type": "cluster"},
                },
            ),
        ]
    )
    code = main(
        ["access", "grant", ADMIN, "--admin", "--config", str(_config(tmp_path))], clients_factory=fx.factory(overrides)
    )
    assert code == 0
    assert "lives outside the stack" in capsys.readouterr().out


def test_grant_team_maps_the_principal_to_the_team_group(tmp_path: Path, capsys) -> None:
    overrides = _eks_only(
        [
            (
                "create_access_entry",
                {"accessEntry": {"principalArn": ADMIN}},
                {
                    "clusterName": EKS,
                    "principalArn": ADMIN,
                    "type": "STANDARD",
                    "kubernetesGroups": ["hyperpod-team-training"],
                },
            )
        ]
    )
    code = main(
        ["access", "grant", ADMIN, "--team", "training", "--config", str(_config(tmp_path))],
        clients_factory=fx.factory(overrides),
    )
    assert code == 0, capsys.readouterr().err


def test_grant_unknown_team_is_a_usage_error(tmp_path: Path, capsys) -> None:
    code = main(
        ["access", "grant", ADMIN, "--team", "nlp", "--config", str(_config(tmp_path))],
        clients_factory=fx.factory(_eks_only([])),
    )
    assert code == 2
    assert "--team: 'nlp' is not a team of the config (training)" in capsys.readouterr().err


def test_bad_principal_is_one_line(capsys) -> None:
    assert main(["access", "grant", "bob", "--admin"]) == 2
    assert "is not an IAM role or user ARN" in capsys.readouterr().err


def test_list_and_revoke(tmp_path: Path, capsys) -> None:
    overrides = _eks_only(
        [
            ("list_access_entries", {"accessEntries": [ADMIN]}, {"clusterName": EKS}),
            (
                "describe_access_entry",
                {"accessEntry": {"principalArn": ADMIN, "type": "STANDARD", "kubernetesGroups": []}},
                {"clusterName": EKS, "principalArn": ADMIN},
            ),
            (
                "list_associated_access_policies",
                {
                    "clusterName": EKS,
                    "principalArn": ADMIN,
                    "associatedAccessPolicies": [
                        {
                            "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                            "accessScope": {"type": "cluster"},
                        }
                    ],
                },
                {"clusterName": EKS, "principalArn": ADMIN},
            ),
        ]
    )
    assert (
        main(["access", "list", "--json", "--config", str(_config(tmp_path))], clients_factory=fx.factory(overrides))
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"principal": ADMIN, "type": "STANDARD", "groups": [], "policies": ["AmazonEKSClusterAdminPolicy"]}]
    overrides = _eks_only([("delete_access_entry", {}, {"clusterName": EKS, "principalArn": ADMIN})])
    assert (
        main(["access", "revoke", ADMIN, "--config", str(_config(tmp_path))], clients_factory=fx.factory(overrides))
        == 0
    )


def test_kubeconfig_is_replaced_atomically_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review LOW 3: an existing 0644 kubeconfig ends 0600; a symlink at the path is not written through;
    a failed write leaves the old file whole."""
    entry = {
        "cluster": {"name": "c", "cluster": {"server": "https://127.0.0.1:1"}},
        "user": {"name": "u", "user": {}},
        "context": {"name": "ctx", "context": {"cluster": "c", "user": "u"}},
    }
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    kubeconfig.chmod(0o644)
    access.merge_kubeconfig(kubeconfig, entry)
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(kubeconfig.read_text())["current-context"] == "ctx"
    target = tmp_path / "elsewhere"
    target.write_text("apiVersion: v1\nkind: Config\n# someone else's file\n")
    link = tmp_path / "linked"
    link.symlink_to(target)
    access.merge_kubeconfig(link, entry)
    assert target.read_text() == "apiVersion: v1\nkind: Config\n# someone else's file\n"
    assert not link.is_symlink()
    before = kubeconfig.read_text()

    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(access.os, "replace", broken)
    with pytest.raises(access.AccessError, match="cannot write kubeconfig .*disk full"):
        access.merge_kubeconfig(kubeconfig, {**entry, "context": {"name": "other", "context": {}}})
    assert kubeconfig.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "elsewhere", "linked"]


def test_revoke_refuses_the_clusters_execution_role_without_force(tmp_path: Path, capsys) -> None:
    """Review LOW 3: revoking the nodes' execution role would stop HyperPod nodes joining EKS."""
    role = f"arn:aws:iam::{fx.ACCOUNT}:role/hyperpod-exec"

    def stubs(responses: list) -> dict[str, Any]:
        sm, sm_stub = fx.stubbed("sagemaker")
        sm_stub.add_response(
            "describe_cluster",
            {
                "ClusterArn": f"arn:aws:sagemaker:{fx.REGION}:{fx.ACCOUNT}:cluster/abcdef123456",
                "ClusterName": CLUSTER,
                "ClusterStatus": "InService",
                "Orchestrator": {"Eks": {"ClusterArn": EKS_ARN}},
                "InstanceGroups": [
                    {
                        "InstanceGroupName": "gpu",
                        "ExecutionRole": role,
                        "LifeCycleConfig": {"SourceS3Uri": "s3://b/p", "OnCreate": "on_create.sh"},
                        "ThreadsPerCore": 1,
                    }
                ],
            },
            {"ClusterName": CLUSTER},
        )
        eks, stub = fx.stubbed("eks")
        stub.add_response(
            "describe_cluster",
            {"cluster": {"name": EKS, "arn": EKS_ARN, "endpoint": ENDPOINT, "certificateAuthority": {"data": "Q0E="}}},
            {"name": EKS},
        )
        for method, response, params in responses:
            stub.add_response(method, response, params)
        return {"sagemaker": sm, "eks": eks}

    assert (
        main(["access", "revoke", role, "--config", str(_config(tmp_path))], clients_factory=fx.factory(stubs([]))) == 2
    )
    assert "is the execution role of" in capsys.readouterr().err
    forced = stubs([("delete_access_entry", {}, {"clusterName": EKS, "principalArn": role})])
    assert (
        main(
            ["access", "revoke", role, "--force", "--config", str(_config(tmp_path))],
            clients_factory=fx.factory(forced),
        )
        == 0
    )


def test_tunnel_is_looked_up_by_tag_in_the_clusters_vpc_only(tmp_path: Path, capsys) -> None:
    """Fifth review L2: a tagged instance in another VPC must not become the tunnel. The EC2 stub
    expects the vpc-id filter with DescribeCluster's resourcesVpcConfig.vpcId, or fails the call."""
    code = main(
        [
            "kubeconfig",
            "--config",
            str(_config(tmp_path)),
            "--kubeconfig",
            str(tmp_path / "c"),
            "--no-tunnel",
            "--json",
        ],
        clients_factory=fx.factory(_stubs("Q0E=")),
    )
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["tunnel_instance"] == INSTANCE


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("directory", "exists and is not a regular file"),
        ("latin-1", "cannot read kubeconfig"),
        ("bad yaml", "cannot read kubeconfig"),
    ],
)
def test_unusable_kubeconfig_path_is_one_line_exit_2(tmp_path: Path, capsys, kind: str, expected: str) -> None:
    """Fifth review L3: a directory, a non-UTF-8 file or invalid YAML is one line and exit 2, no traceback."""
    path = tmp_path / "kube"
    if kind == "directory":
        path.mkdir()
    elif kind == "latin-1":
        path.write_bytes(b"apiVersion: v1\nkind: Config\n# caf\xe9\n")
    else:
        path.write_text("apiVersion: v1\nclusters: [unclosed\n")
    code = main(
        ["kubeconfig", "--config", str(_config(tmp_path)), "--kubeconfig", str(path), "--no-tunnel"],
        clients_factory=fx.factory(_stubs("Q0E=", public=True)),
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and str(path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

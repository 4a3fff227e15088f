"""Slurm metrics (slurm.observability): config errors, the template (one synth), the fake node.

The template side mirrors AWS's Slurm observability stack (aws/sagemaker-hyperpod-cluster-setup
slurm/cloudformation/slurm-observability-template.yaml): a retained AMP workspace tagged
SageMaker=true and aps:RemoteWrite for the execution role on that workspace only. The node side is
lifecycle_scripts/slurm_api/on_create.sh on HyperPodApiSlurmNode (tests/lcs_harness.py), fed the
slurm_observability.json the platform writes.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyperpod_cdk.config import InstanceGroup, parse_config
from hyperpod_cdk.errors import HyperPodConfigError
from hyperpod_cdk.monitoring.slurm_observability import SLURM_RULES_FILE
from hyperpod_cdk.specs.slurm import slurm_layout, slurm_nodes

_spec = importlib.util.spec_from_file_location("lcs_harness", Path(__file__).with_name("lcs_harness.py"))
lcs = sys.modules.setdefault("lcs_harness", importlib.util.module_from_spec(_spec))
if not hasattr(lcs, "FakeNode"):
    _spec.loader.exec_module(lcs)

REPO = Path(__file__).resolve().parent.parent
SLURM_EXAMPLE = REPO / "examples" / "slurm.yaml"
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
API_DIR = lcs.SCRIPTS_DIR / "slurm_api"
ON_CREATE = API_DIR / "on_create.sh"
REMOTE_WRITE = "https://aps-workspaces.us-west-2.amazonaws.com/workspaces/ws-0123abcd-4567-89ef/api/v1/remote_write"
REGISTRY = "602401143452.dkr.ecr.us-west-2.amazonaws.com"


def _data(**observability: object) -> dict:
    data = yaml.safe_load(SLURM_EXAMPLE.read_text())
    data["slurm"]["observability"] = {"enabled": True, **observability}
    return data


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["network"].update(closed=True), "slurm.observability", "closed network"),
        (
            lambda d: d.update(slurm={"configuration": "provisioning-parameters", "observability": {"enabled": True}}),
            "slurm.observability",
            "slurm.configuration: api",
        ),
        (
            lambda d: d.update(region="sa-east-1") or d["network"].update(availability_zone_ids=["sae1-az1"]),
            "slurm.observability.grafana",
            "not offered in sa-east-1",
        ),
        (lambda d: d["slurm"]["observability"].update(enabled=False), "slurm.observability", "enabled: true"),
    ],
    ids=["closed-network", "legacy-configuration", "grafana-region", "grafana-without-metrics"],
)
def test_observability_config_errors_name_the_field(change, field: str, message: str) -> None:
    data = _data(grafana=True)
    change(data)
    with pytest.raises(HyperPodConfigError) as err:
        parse_config(data)
    assert err.value.field.startswith(field), err.value
    assert message in str(err.value)


def test_observability_is_off_by_default() -> None:
    config = parse_config(yaml.safe_load(SLURM_EXAMPLE.read_text()))
    assert config.slurm.observability.enabled is False


# ---------------------------------------------------------------- template (one synth)


@pytest.fixture(scope="module")
def observed(synth, tmp_path_factory: pytest.TempPathFactory):
    """examples/slurm.yaml + slurm.observability {grafana: true} + alerts, with cdk-nag."""
    data = _data(grafana=True)
    data["alerts"] = {"email": ["ops@example.com"]}
    path = tmp_path_factory.mktemp("slurm-obs-config") / "slurm-observability.yaml"
    path.write_text(yaml.safe_dump(data))
    return synth(path, tmp_path_factory.mktemp("slurm-obs.out"))


def cfn_lint(template: Path, region: str) -> list[dict]:
    """cfn-lint findings as tests/test_slurm.py runs it (W3005 ignored)."""
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", region, "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 2, 4, 6, 8, 10, 12, 14), result.stderr
    return json.loads(result.stdout or "[]")


def _statements(app) -> list[dict]:
    found = []
    for policy in app.resources("AWS::IAM::Policy").values():
        found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_workspace_is_retained_and_tagged_for_sagemaker(observed) -> None:
    workspace_id, workspace = observed.one("AWS::APS::Workspace")
    assert workspace["DeletionPolicy"] == "Retain" and workspace["UpdateReplacePolicy"] == "Retain"
    assert {"Key": "SageMaker", "Value": "true"} in workspace["Properties"]["Tags"]
    assert workspace["Properties"]["Alias"] == "hyperpod-slurm-slurm"
    grafana_id, grafana = observed.one("AWS::Grafana::Workspace")
    assert grafana["Properties"]["DataSources"] == ["PROMETHEUS"]


def test_remote_write_is_granted_on_the_workspace_only(observed) -> None:
    workspace_id, _ = observed.one("AWS::APS::Workspace")
    writes = [s for s in _statements(observed) if "aps:RemoteWrite" in json.dumps(s["Action"])]
    assert writes == [
        {
            "Action": "aps:RemoteWrite",
            "Effect": "Allow",
            "Sid": "SlurmMetricsRemoteWrite",
            "Resource": {"Fn::GetAtt": [workspace_id, "Arn"]},
        }
    ]
    execution_policies = [
        k for k, p in observed.resources("AWS::IAM::Policy").items() if "SlurmMetricsRemoteWrite" in json.dumps(p)
    ]
    assert len(execution_policies) == 1 and execution_policies[0].startswith("ExecutionRole")
    # Nodes write from their first boot: the cluster waits for the policy that holds the grant.
    _, cluster = observed.one("AWS::SageMaker::Cluster")
    assert execution_policies[0] in cluster["DependsOn"]


def test_nodes_get_the_workspaces_remote_write_url(observed) -> None:
    workspace_id, _ = observed.one("AWS::APS::Workspace")
    _, deploy = observed.one("Custom::HyperPodLifecycleScripts")
    markers = deploy["Properties"]["SourceMarkers"]
    files: dict[str, Path] = {}
    for key in deploy["Properties"]["SourceObjectKeys"]:
        for p in (observed.outdir / f"asset.{key.removesuffix('.zip')}").iterdir():
            files[p.name] = p
    assert {"slurm_nodes.json", "slurm_observability.json", "on_create.sh"} <= set(files)
    document = files["slurm_observability.json"].read_text()
    # The URL is a deploy-time token: a marker in the file, resolved by the deployment.
    marker = next(m for m in markers if m)
    ((name, value),) = marker.items()
    assert name in document
    assert value == {
        "Fn::Join": [
            "",
            [
                '"https://aps-workspaces.us-west-2.',
                {"Ref": "AWS::URLSuffix"},
                "/workspaces/",
                {"Fn::GetAtt": [workspace_id, "WorkspaceId"]},
                '/api/v1/remote_write"',
            ],
        ]
    }
    # The marker stands for the whole JSON string, quotes included.
    assert json.loads(document.replace(name, '"URL"')) == {
        "version": 1,
        "remote_write_url": "URL",
        "region": "us-west-2",
    }


def test_alert_rules_and_routing_to_the_topic(observed) -> None:
    workspace_id, workspace = observed.one("AWS::APS::Workspace")
    topic_id, _ = observed.one("AWS::SNS::Topic")
    _, rules = observed.one("AWS::APS::RuleGroupsNamespace")
    assert rules["Properties"]["Workspace"] == {"Fn::GetAtt": [workspace_id, "Arn"]}
    assert yaml.safe_load(rules["Properties"]["Data"]) == yaml.safe_load(SLURM_RULES_FILE.read_text())
    definition = json.dumps(workspace["Properties"]["AlertManagerDefinition"])
    assert json.dumps({"Ref": topic_id}) in definition and "sns_configs" in definition


def test_template_passes_cfn_lint_and_nag(observed) -> None:
    for template in sorted(observed.outdir.glob("*.template.json")):
        assert cfn_lint(template, "us-west-2") == []
    report = json.loads((observed.outdir / "validation-report.json").read_text())
    assert all(p["conclusion"] == "success" and not p.get("violations") for p in report["pluginReports"])


def test_without_observability_nothing_is_created(slurm_app) -> None:
    assert not slurm_app.resources("AWS::APS::Workspace")
    assert "aps:RemoteWrite" not in json.dumps(slurm_app.template)


# ---------------------------------------------------------------- alert rules vs. what the nodes export


def _exported_dcgm_fields() -> set[str]:
    return set(re.findall(r'"(DCGM_FI_[A-Z_]+),', ON_CREATE.read_text()))


def test_every_alert_rule_reads_a_metric_the_nodes_export() -> None:
    rules = [r for g in yaml.safe_load(SLURM_RULES_FILE.read_text())["groups"] for r in g["rules"]]
    assert len(rules) >= 6
    metrics = set()
    for rule in rules:
        selectors_removed = re.sub(r"\{[^}]*\}", "", rule["expr"])
        metrics |= set(re.findall(r"\b(DCGM_FI_[A-Z_]+|node_[a-z_]+|up)\b", selectors_removed))
    dcgm = {m for m in metrics if m.startswith("DCGM_")}
    assert dcgm and dcgm <= _exported_dcgm_fields()
    # node_amazonefa_* come from the EFA exporter, node_filesystem_* from node_exporter; both run.
    assert {m for m in metrics if m.startswith("node_")} <= {
        "node_amazonefa_rx_drops",
        "node_amazonefa_rdma_read_wr_err",
        "node_amazonefa_rdma_write_wr_err",
        "node_filesystem_avail_bytes",
        "node_filesystem_size_bytes",
    }
    jobs = set(re.findall(r'job=~"([^"]+)"', json.dumps([r["expr"] for r in rules]).replace('\\"', '"')))
    assert jobs == {"node_exporter|dcgm_exporter|efa_exporter"}


# ---------------------------------------------------------------- the fake node

needs_bash = pytest.mark.skipif(
    not Path(lcs.BASH).exists() or not shutil.which("python3"), reason="needs bash, python3"
)

GROUPS = [
    InstanceGroup(name="controller", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Controller"),
    InstanceGroup(name="login", instance_type="ml.m5.2xlarge", instance_count=1, slurm_node_type="Login"),
    InstanceGroup(name="gpu", instance_type="ml.g5.12xlarge", instance_count=2, partition="train"),
]
IPS = {"controller": ["10.1.0.10"], "login": ["10.1.0.11"], "gpu": ["10.1.0.20", "10.1.0.21"]}
ROLES = {"controller": "controller", "login": "login", "gpu": "compute"}
UP = {"controller": ("munge", "slurmctld"), "login": ("munge", "slurmd"), "gpu": ("munge", "slurmd")}

# docker records its argv (the harness does) and swallows the password on stdin; aws prints a token.
DOCKER_STUB = "cat >/dev/null\n"
AWS_STUB = "echo fake-ecr-password\n"


def obs_node(tmp_path: Path, group: str, *, gpu: bool = True, settings: dict | None = None):
    conf = lcs.agent_slurm_conf(IPS["controller"][0], {"train": IPS["gpu"]})
    node = lcs.HyperPodApiSlurmNode(
        tmp_path,
        API_DIR,
        node_type=ROLES[group],
        node_ip=IPS[group][0],
        controller_ip=IPS["controller"][0],
        nodes=slurm_nodes(slurm_layout(GROUPS), "/fsx"),
        resource_config={
            "ClusterConfig": {"ClusterArn": "arn:aws:sagemaker:us-west-2:123456789012:cluster/abc123def456"},
            "InstanceGroups": [
                {
                    "Name": g,
                    "Instances": [
                        {"CustomerIpAddress": ip, "InstanceId": f"i-0{n:016x}"} for n, ip in enumerate(a, start=1)
                    ],
                }
                for g, a in IPS.items()
            ],
        },
        controller_conf=conf,
        active=UP[group],
    )
    document = settings or {"version": 1, "remote_write_url": REMOTE_WRITE, "region": "us-west-2"}
    (node.scripts / "slurm_observability.json").write_text(json.dumps(document))
    node.add_stub("docker", DOCKER_STUB)
    node.add_stub("aws", AWS_STUB)
    # nvidia-smi answers only on a GPU node.
    node.add_stub("nvidia-smi", "exit 0\n" if gpu else "exit 9\n")
    return node


def _runs(result) -> dict[str, str]:
    """container name -> its docker run command line."""
    out = {}
    for call in result.calls("docker"):
        words = call.split()
        if words[1] == "run":
            out[words[words.index("--name") + 1]] = call
    return out


@needs_bash
def test_gpu_compute_node_runs_node_dcgm_efa_exporters_and_the_collector(tmp_path: Path) -> None:
    node = obs_node(tmp_path, "gpu")
    result = lcs.ok(node.run())
    assert "aws ecr get-login-password --region us-west-2" in result.commands
    assert f"docker login --username AWS --password-stdin {REGISTRY}" in result.commands
    runs = _runs(result)
    assert set(runs) == {
        "hyperpod-node-exporter",
        "hyperpod-dcgm-exporter",
        "hyperpod-efa-exporter",
        "hyperpod-otel-collector",
    }
    assert (
        f"{REGISTRY}/hyperpod/node_exporter:v1.9.1 --path.rootfs=/host --web.listen-address=:9100"
        in runs["hyperpod-node-exporter"]
    )
    assert "--gpus all" in runs["hyperpod-dcgm-exporter"]
    assert (
        f"{REGISTRY}/hyperpod/dcgm_exporter:4.1.1-4.0.4-ubi9 -f /etc/hyperpod-cdk/observability/dcgm-metrics.csv"
        in runs["hyperpod-dcgm-exporter"]
    )
    assert (
        f"{REGISTRY}/hyperpod/efa_exporter:1.0.0 --path.rootfs=/host --web.listen-address=:9109"
        in runs["hyperpod-efa-exporter"]
    )
    assert runs["hyperpod-otel-collector"].endswith(
        f"{REGISTRY}/hyperpod/otel_collector:v1754424030352 --config=/etc/otel/collector.yaml"
    )
    assert "-v /etc/hyperpod-cdk/observability:/etc/otel:ro" in runs["hyperpod-otel-collector"]
    # Docker came from the Ubuntu archive first (the AMI had none here).
    assert "apt-get install -y docker.io" in result.commands
    # The collector scrapes the three exporters and writes to the workspace with SigV4 (service aps).
    config = yaml.safe_load(node.p("/etc/hyperpod-cdk/observability/collector.yaml").read_text())
    exporter = config["exporters"]["prometheusremotewrite"]
    assert exporter == {"endpoint": REMOTE_WRITE, "auth": {"authenticator": "sigv4auth"}}
    assert config["extensions"]["sigv4auth"] == {"region": "us-west-2", "service": "aps"}
    jobs = {j["job_name"]: j for j in config["receivers"]["prometheus"]["config"]["scrape_configs"]}
    assert {n: j["static_configs"][0]["targets"] for n, j in jobs.items()} == {
        "node_exporter": ["localhost:9100"],
        "dcgm_exporter": ["localhost:9400"],
        "efa_exporter": ["localhost:9109"],
    }
    assert jobs["dcgm_exporter"]["static_configs"][0]["labels"] == {
        "instance_group": "gpu",
        "slurm_node_type": "compute",
    }
    assert config["service"]["pipelines"]["metrics"] == {
        "receivers": ["prometheus"],
        "processors": ["batch"],
        "exporters": ["prometheusremotewrite"],
    }
    csv = node.p("/etc/hyperpod-cdk/observability/dcgm-metrics.csv").read_text().splitlines()
    assert {line.split(",")[0] for line in csv if not line.startswith("#")} == _exported_dcgm_fields()


@needs_bash
@pytest.mark.parametrize("group", ["controller", "login"])
def test_controller_and_login_run_only_the_node_exporter(tmp_path: Path, group: str) -> None:
    result = lcs.ok(obs_node(tmp_path, group).run())
    assert set(_runs(result)) == {"hyperpod-node-exporter", "hyperpod-otel-collector"}


@needs_bash
def test_compute_node_without_a_gpu_has_no_dcgm_exporter(tmp_path: Path) -> None:
    node = obs_node(tmp_path, "gpu", gpu=False)
    result = lcs.ok(node.run())
    assert set(_runs(result)) == {"hyperpod-node-exporter", "hyperpod-efa-exporter", "hyperpod-otel-collector"}
    assert "no NVIDIA GPU answers nvidia-smi" in result.log
    config = yaml.safe_load(node.p("/etc/hyperpod-cdk/observability/collector.yaml").read_text())
    assert [j["job_name"] for j in config["receivers"]["prometheus"]["config"]["scrape_configs"]] == [
        "node_exporter",
        "efa_exporter",
    ]


@needs_bash
def test_a_rerun_recreates_the_containers(tmp_path: Path) -> None:
    node = obs_node(tmp_path, "controller")
    lcs.ok(node.run())
    again = lcs.ok(node.run())
    assert "docker rm -f hyperpod-otel-collector" in again.commands
    assert set(_runs(again)) == {"hyperpod-node-exporter", "hyperpod-otel-collector"}


@needs_bash
@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"version": 1, "remote_write_url": "https://example.com/push", "region": "us-west-2"},
            "is not an AMP remote-write URL",
        ),
        ({"version": 1, "remote_write_url": REMOTE_WRITE, "region": "us-east-1"}, "is not the workspace's"),
    ],
)
def test_a_bad_settings_file_fails_before_any_container(tmp_path: Path, settings: dict, message: str) -> None:
    result = obs_node(tmp_path, "gpu", settings=copy.deepcopy(settings)).run()
    assert result.returncode != 0
    assert message in result.output
    assert not _runs(result)


@needs_bash
def test_a_failed_image_pull_fails_the_node_with_the_command(tmp_path: Path) -> None:
    node = obs_node(tmp_path, "gpu")
    failing = (
        f"docker run -d --restart always --name hyperpod-node-exporter --net host --pid host "
        f"-v /:/host:ro,rslave {REGISTRY}/hyperpod/node_exporter:v1.9.1 --path.rootfs=/host "
        "--web.listen-address=:9100"
    )
    result = node.run(HARNESS_FAIL_CMD=failing)
    assert result.returncode != 0
    assert f"[observability] ERROR: command '{failing}' exited with 1" in result.log
    assert "provisioning FAILED in step 'observability'" in result.log
    assert not _runs(result).keys() - {"hyperpod-node-exporter"}  # nothing after the failed pull


# ---------------------------------------------------------------- the construct on its own (a user's stack)


def test_construct_in_a_users_own_stack() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam

    from hyperpod_cdk import HyperPodSlurmObservability

    stack = cdk.Stack(cdk.App(), "Own", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    role = iam.Role(stack, "NodeRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    observability = HyperPodSlurmObservability(stack, "Metrics", workspace_alias="my-slurm")
    observability.grant_remote_write(role)
    assert observability.grafana_workspace is None
    assert stack.resolve(observability.node_settings)["region"] == "eu-west-1"
    template = cdk.assertions.Template.from_stack(stack).to_json()
    types = [r["Type"] for r in template["Resources"].values()]
    assert types.count("AWS::APS::Workspace") == 1 and "AWS::Grafana::Workspace" not in types
    statements = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy")["Properties"][
        "PolicyDocument"
    ]["Statement"]
    assert [s["Action"] for s in statements] == ["aps:RemoteWrite"]
    with pytest.raises(HyperPodConfigError, match="grafana_workspace_name"):
        HyperPodSlurmObservability(stack, "Other", workspace_alias="x", grafana_workspace_name="g")

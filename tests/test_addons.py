"""EKS add-ons: dependency checks at synth, order in the template, IAM, optional add-ons.

One synthesized stack with every add-on on (module fixture), wired like the platform: the add-ons
install after the HyperPod cluster, which waits for the base add-ons and the Helm dependencies.
Dependency-check tests use a tiny stack with an imported cluster (no synth).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

_manifest_spec = importlib.util.spec_from_file_location(
    "synth_manifest_sets", Path(__file__).with_name("synth_manifest_sets.py")
)
manifest_sets_module = sys.modules.setdefault("synth_manifest_sets", importlib.util.module_from_spec(_manifest_spec))
_manifest_spec.loader.exec_module(manifest_sets_module)
manifest_resource = manifest_sets_module.manifest_resource
manifest_sets = manifest_sets_module.manifest_sets

REPO = Path(__file__).resolve().parents[1]
CFN_LINT = Path(sys.executable).with_name("cfn-lint")
STACK = "AddonsTest"
OPERATOR = "amazon-sagemaker-hyperpod-training-operator"

_spec = importlib.util.spec_from_file_location("eks_test_stack", Path(__file__).with_name("eks_test_stack.py"))
eks_test_stack = sys.modules.setdefault("eks_test_stack", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(eks_test_stack)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from hyperpod_cdk.config.kubernetes import KubernetesAddonsConfig

    outdir = tmp_path_factory.mktemp("addons-cdk.out")
    config = KubernetesAddonsConfig.model_validate(
        {
            "observability": {
                "enabled": True,
                "logging": True,
                "metrics": {"network": "ADVANCED"},
                "configuration_values": {"metricsProvider": {"scalingMetrics": {"scrapeInterval": 60}}},
            },
            "task_governance": {"enabled": True, "version": "v1.3.0-eksbuild.1"},
            "cert_manager": {"version": "v1.18.2-eksbuild.2"},
        }
    )
    app, _, _, addons = eks_test_stack.build_eks_hyperpod_stack(outdir, STACK, "addons-test", addons_config=config)
    violations = eks_test_stack.nag_violations(app, (f"{STACK}/KubernetesAddons/",))
    template = app.synth().get_stack_by_name(STACK).template
    return {"template": template, "outdir": outdir, "violations": violations, "addons": addons}


def resources(built, cfn_type: str) -> dict[str, dict]:
    return {k: v for k, v in built["template"]["Resources"].items() if v["Type"] == cfn_type}


def addon_id(built, name: str) -> str:
    (found,) = (k for k, v in resources(built, "AWS::EKS::Addon").items() if v["Properties"]["AddonName"] == name)
    return found


def association(built, namespace: str) -> tuple[str, dict]:
    (found,) = (
        (k, v)
        for k, v in resources(built, "AWS::EKS::PodIdentityAssociation").items()
        if v["Properties"]["Namespace"] == namespace
    )
    return found


def depends_on(built, logical_id: str) -> set[str]:
    value = built["template"]["Resources"][logical_id].get("DependsOn", [])
    return {value} if isinstance(value, str) else set(value)


def config_values(built, name: str):
    return built["template"]["Resources"][addon_id(built, name)]["Properties"]["ConfigurationValues"]


# --------------------------------------------------------------------------- order


def test_operator_chain_agent_then_cert_manager_then_association_then_operator(built):
    agent = addon_id(built, "eks-pod-identity-agent")
    cert_manager = addon_id(built, "cert-manager")
    assoc, _ = association(built, "aws-hyperpod")
    operator = addon_id(built, OPERATOR)

    assert agent in depends_on(built, cert_manager)
    assert {agent, cert_manager} <= depends_on(built, assoc)
    assert assoc in depends_on(built, operator)
    # and never the other way round
    assert operator not in depends_on(built, assoc) and assoc not in depends_on(built, cert_manager)


def test_every_addon_installs_after_the_hyperpod_cluster_which_waits_for_helm(built):
    (hyperpod,) = resources(built, "AWS::SageMaker::Cluster")
    (helm,) = resources(built, "Custom::HyperPodHelmDependencies")
    mine = [
        addon_id(built, name)
        for name in (
            "cert-manager",
            OPERATOR,
            "amazon-sagemaker-hyperpod-observability",
            "amazon-sagemaker-hyperpod-taskgovernance",
        )
    ]
    for logical_id in mine:
        assert hyperpod in depends_on(built, logical_id), logical_id
    hyperpod_deps = depends_on(built, hyperpod)
    assert helm in hyperpod_deps
    assert addon_id(built, "eks-pod-identity-agent") in hyperpod_deps
    assert not set(mine) & hyperpod_deps  # no cycle


# --------------------------------------------------------------------------- training operator


def test_association_is_standalone_for_the_operator_service_account(built):
    _, assoc = association(built, "aws-hyperpod")
    props = assoc["Properties"]
    assert props["ServiceAccount"] == "hp-training-operator-controller-manager"
    (cluster_id,) = resources(built, "AWS::EKS::Cluster")
    assert props["ClusterName"] == {"Ref": cluster_id}
    role_id = props["RoleArn"]["Fn::GetAtt"][0]
    assert role_id.startswith("KubernetesAddonsTrainingOperatorRole")
    operator = built["template"]["Resources"][addon_id(built, OPERATOR)]["Properties"]
    assert "PodIdentityAssociations" not in operator  # recent versions reject inline associations
    assert "ServiceAccountRoleArn" not in operator


def test_operator_role_trusts_only_pod_identity_for_its_service_account(built):
    _, assoc = association(built, "aws-hyperpod")
    role = built["template"]["Resources"][assoc["Properties"]["RoleArn"]["Fn::GetAtt"][0]]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:TagSession"]
    condition = statement["Condition"]["StringEquals"]
    assert condition["aws:RequestTag/kubernetes-namespace"] == "aws-hyperpod"
    assert condition["aws:RequestTag/kubernetes-service-account"] == "hp-training-operator-controller-manager"
    (cluster_id,) = resources(built, "AWS::EKS::Cluster")
    assert condition["aws:RequestTag/eks-cluster-arn"] == {"Fn::GetAtt": [cluster_id, "Arn"]}
    assert "aws:RequestTag/eks-cluster-name" not in condition  # a name repeats across regions
    (arn,) = role["Properties"]["ManagedPolicyArns"]
    assert json.dumps(arn).endswith(':iam::aws:policy/AmazonSageMakerHyperPodTrainingOperatorAccess"]]}')


def test_cert_manager_tolerates_every_taint_and_keeps_the_pinned_version(built):
    cert_manager = built["template"]["Resources"][addon_id(built, "cert-manager")]["Properties"]
    assert cert_manager["AddonVersion"] == "v1.18.2-eksbuild.2"
    values = json.loads(cert_manager["ConfigurationValues"])
    for section in (values, values["webhook"], values["cainjector"]):
        assert section["tolerations"] == [{"operator": "Exists"}]
        assert section["replicaCount"] == 1


# --------------------------------------------------------------------------- optional add-ons


def test_observability_writes_to_its_own_workspace(built):
    ((workspace_id, workspace),) = resources(built, "AWS::APS::Workspace").items()
    assert workspace["DeletionPolicy"] == "Retain"
    assert {"Key": "SageMaker", "Value": "true"} in workspace["Properties"]["Tags"]
    joined = config_values(built, "amazon-sagemaker-hyperpod-observability")["Fn::Join"][1]
    rendered = json.dumps(joined)
    # https://aps-workspaces.<region>.<suffix>/workspaces/<id>: no trailing slash, as AWS's templates write it.
    assert "https://aps-workspaces.us-west-2." in rendered
    assert json.dumps({"Fn::GetAtt": [workspace_id, "WorkspaceId"]}) in rendered
    assert json.dumps({"Fn::GetAtt": [workspace_id, "Arn"]}) in rendered
    text = "".join(part if isinstance(part, str) else "X" for part in joined)
    values = json.loads(text)
    provider = values["metricsProvider"]
    assert {key: (v["level"] if isinstance(v, dict) and "level" in v else v) for key, v in provider.items()} == {
        "trainingMetrics": "BASIC",
        "taskGovernanceMetrics": "DISABLED",
        "scalingMetrics": "DISABLED",
        "clusterMetrics": "BASIC",
        "nodeMetrics": "BASIC",
        "networkMetrics": "ADVANCED",
        "acceleratedComputeMetrics": "BASIC",
        "inferenceMetrics": "BASIC",
        "logging": {"enabled": True},
    }
    assert provider["trainingMetrics"]["scrapeInterval"] == 30
    assert provider["scalingMetrics"]["scrapeInterval"] == 60  # configuration_values merged over the levels
    assert "amgWorkspace" not in values

    assoc_id, assoc = association(built, "hyperpod-observability")
    assert assoc["Properties"]["ServiceAccount"] == "hyperpod-observability-operator-otel-collector"
    assert addon_id(built, "eks-pod-identity-agent") in depends_on(built, assoc_id)
    assert assoc_id in depends_on(built, addon_id(built, "amazon-sagemaker-hyperpod-observability"))

    role_id = assoc["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    (policy,) = (
        p for p in resources(built, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    )
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    remote_write = [s for s in statements if s["Action"] == "aps:RemoteWrite"]
    assert remote_write == [
        {"Action": "aps:RemoteWrite", "Effect": "Allow", "Resource": {"Fn::GetAtt": [workspace_id, "Arn"]}}
    ]
    (logs,) = (s for s in statements if s is not remote_write[0])
    assert all(a.startswith("logs:") for a in logs["Action"])
    assert [r.split(":log-group:")[1] for r in logs["Resource"]] == [
        "/aws/sagemaker/Clusters/*",
        "/aws/sagemaker/Clusters/*:log-stream:*",
    ]


def test_task_governance_has_no_iam_and_waits_for_kueue(built):
    addon = addon_id(built, "amazon-sagemaker-hyperpod-taskgovernance")
    props = built["template"]["Resources"][addon]["Properties"]
    assert props["AddonVersion"] == "v1.3.0-eksbuild.1"
    assert not [k for k in resources(built, "AWS::IAM::Role") if k.startswith("KubernetesAddonsTaskGovernance")]
    wait_id, _ = manifest_resource(built["template"], "KueueReady")
    wait = manifest_sets(built["template"], built["outdir"])["KueueReady"]
    # Empty until the Kueue controller has an available replica; the handler polls until then (read-only).
    assert wait == {
        "Kind": "wait",
        "ObjectType": "deployment",
        "ObjectNames": ["kueue-controller-manager"],
        "Namespace": "kueue-system",
        "JsonPath": ".status.availableReplicas",
        "TimeoutSeconds": 600,
    }
    assert addon in depends_on(built, wait_id)
    assert built["addons"].task_governance.ready.node.path.endswith("KueueReady")


def test_default_versions_come_from_the_table_for_the_kubernetes_version(tiny):
    from hyperpod_cdk.kubernetes.addons import CertManagerAddon, HyperPodTrainingOperatorAddon
    from hyperpod_cdk.specs.addon_versions import ADDON_VERSIONS, default_addon_version

    stack, cluster = tiny
    _agent(stack, cluster)
    pinned = CertManagerAddon(stack, "CertManager", cluster=cluster, kubernetes_version="1.33")
    operator = HyperPodTrainingOperatorAddon(stack, "Operator", cluster=cluster, kubernetes_version="1.35")
    assert (pinned.version, operator.version) == ("v1.18.2-eksbuild.2", "v1.2.1-eksbuild.1")
    # No source for cert-manager on 1.35, so EKS picks its default; a configured version always wins.
    assert default_addon_version("cert-manager", "1.35") is None
    assert default_addon_version("cert-manager", None) is None
    for name, policy in ADDON_VERSIONS.items():
        assert policy.source.strip(), name
        if policy.version is None:
            assert all(default_addon_version(name, v) is None for v in ("1.28", "1.33", "1.35"))


# --------------------------------------------------------------------------- quality gates


def test_cdk_nag_finds_nothing_unacknowledged_in_the_addons(built):
    assert built["violations"] == []


def test_cfn_lint_reports_no_errors(built):
    template = built["outdir"] / f"{STACK}.template.json"
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", "--regions", "us-west-2", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    errors = [f for f in json.loads(result.stdout or "[]") if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:3000]


# --------------------------------------------------------------------------- dependency checks (no synth)


@pytest.fixture
def tiny():
    """A stack with an imported EKS cluster and nothing on it."""
    import aws_cdk as cdk
    from aws_cdk import aws_eks_v2 as eks

    app = cdk.App()
    stack = cdk.Stack(app, "Tiny", env=cdk.Environment(account="123456789012", region="us-west-2"))
    cluster = eks.Cluster.from_cluster_attributes(stack, "Cluster", cluster_name="existing")
    return stack, cluster


def _agent(stack, cluster):
    from aws_cdk import aws_eks_v2 as eks

    return eks.Addon(stack, "Agent", cluster=cluster, addon_name="eks-pod-identity-agent")


def test_operator_without_cert_manager_is_refused(tiny):
    from hyperpod_cdk.kubernetes.addons import HyperPodTrainingOperatorAddon, MissingAddonDependencyError

    stack, cluster = tiny
    _agent(stack, cluster)
    with pytest.raises(MissingAddonDependencyError, match=r"needs the EKS add-on\(s\) \['cert-manager'\]") as err:
        HyperPodTrainingOperatorAddon(stack, "Operator", cluster=cluster)
    assert err.value.field == "kubernetes.addons.training_operator"
    assert stack.node.try_find_child("Operator") is None  # nothing half-built is left behind


def test_operator_without_pod_identity_agent_is_refused(tiny):
    from hyperpod_cdk.kubernetes.addons import (
        CertManagerAddon,
        HyperPodTrainingOperatorAddon,
        MissingAddonDependencyError,
    )

    stack, cluster = tiny
    CertManagerAddon(stack, "CertManager", cluster=cluster)
    with pytest.raises(MissingAddonDependencyError, match="eks-pod-identity-agent"):
        HyperPodTrainingOperatorAddon(stack, "Operator", cluster=cluster)


def test_observability_without_pod_identity_agent_is_refused(tiny):
    from hyperpod_cdk.kubernetes.addons import HyperPodObservabilityAddon, MissingAddonDependencyError

    stack, cluster = tiny
    with pytest.raises(MissingAddonDependencyError, match="eks-pod-identity-agent"):
        HyperPodObservabilityAddon(stack, "Observability", cluster=cluster)


def test_addons_installed_elsewhere_can_be_declared(tiny):
    from aws_cdk.assertions import Template

    from hyperpod_cdk.kubernetes.addons import HyperPodTrainingOperatorAddon

    stack, cluster = tiny
    operator = HyperPodTrainingOperatorAddon(
        stack, "Operator", cluster=cluster, assume_installed=["eks-pod-identity-agent", "cert-manager"]
    )
    assert operator.depends_on == []
    Template.from_stack(stack).resource_count_is("AWS::EKS::PodIdentityAssociation", 1)


def test_addons_on_an_imported_cluster_keep_their_software_on_delete(tiny):
    """R15P-M1: a stack delete must not remove add-ons from a cluster this app does not own."""
    from aws_cdk.assertions import Template

    from hyperpod_cdk.errors import HyperPodConfigError
    from hyperpod_cdk.kubernetes.addons import CertManagerAddon, MetricsServerAddon

    stack, cluster = tiny
    kept = CertManagerAddon(stack, "CertManager", cluster=cluster)
    MetricsServerAddon(stack, "MetricsServer", cluster=cluster, preserve_on_delete=False)
    assert kept.preserve_on_delete is True
    addons = Template.from_stack(stack).find_resources("AWS::EKS::Addon")
    by_name = {v["Properties"]["AddonName"]: v["Properties"] for v in addons.values()}
    assert by_name["cert-manager"]["PreserveOnDelete"] is True
    assert "PreserveOnDelete" not in by_name["metrics-server"]  # the caller's choice wins
    with pytest.raises(HyperPodConfigError, match="preserve_on_delete") as err:
        MetricsServerAddon(stack, "Bad", cluster=cluster, preserve_on_delete="yes")
    assert "\n" not in str(err.value)


def test_addons_on_the_platforms_own_cluster_go_with_it(built):
    """The cluster the app creates is deleted with the stack: its add-ons are not preserved."""
    addons = resources(built, "AWS::EKS::Addon")
    assert len(addons) >= 4
    assert all("PreserveOnDelete" not in v["Properties"] for v in addons.values())


def test_config_keys_name_the_same_addons_as_the_constructs():
    """Preflight reads the add-on names from the config; the constructs create the same ones."""
    from hyperpod_cdk.config.kubernetes import KubernetesAddonsConfig
    from hyperpod_cdk.kubernetes.addons.registry import ADDONS

    config = KubernetesAddonsConfig()
    assert {row.config_key for row in ADDONS} == set(KubernetesAddonsConfig.model_fields)
    for row in ADDONS:
        assert getattr(config, row.config_key).ADDON_NAME == row.addon_class.ADDON_NAME, row.config_key


def test_an_addon_is_defined_once_per_cluster(tiny):
    from hyperpod_cdk.errors import HyperPodConfigError
    from hyperpod_cdk.kubernetes.addons import CertManagerAddon

    stack, cluster = tiny
    CertManagerAddon(stack, "First", cluster=cluster)
    with pytest.raises(HyperPodConfigError, match="already defined"):
        CertManagerAddon(stack, "Second", cluster=cluster)


def test_optional_addons_are_absent_by_default(tiny):
    from aws_cdk.assertions import Template

    from hyperpod_cdk.kubernetes.addons import HyperPodKubernetesAddons

    stack, cluster = tiny
    _agent(stack, cluster)
    addons = HyperPodKubernetesAddons(stack, "KubernetesAddons", cluster=cluster)
    assert addons.observability is None and addons.task_governance is None
    assert [a.ADDON_NAME for a in addons.addons] == ["cert-manager", OPERATOR]
    template = Template.from_stack(stack).to_json()
    names = sorted(
        v["Properties"]["AddonName"] for v in template["Resources"].values() if v["Type"] == "AWS::EKS::Addon"
    )
    assert names == [OPERATOR, "cert-manager", "eks-pod-identity-agent"]
    assert not [v for v in template["Resources"].values() if v["Type"] == "AWS::APS::Workspace"]


def test_user_configuration_merges_over_the_defaults(tiny):
    from hyperpod_cdk.kubernetes.addons import CertManagerAddon

    stack, cluster = tiny
    addon = CertManagerAddon(
        stack,
        "CertManager",
        cluster=cluster,
        configuration_values={"webhook": {"replicaCount": 2}, "prometheus": {"enabled": False}},
    )
    assert addon.configuration["webhook"] == {"replicaCount": 2, "tolerations": [{"operator": "Exists"}]}
    assert addon.configuration["prometheus"] == {"enabled": False}
    assert addon.configuration["cainjector"]["replicaCount"] == 1


def test_config_refuses_the_operator_without_cert_manager():
    from pydantic import ValidationError

    from hyperpod_cdk.config.kubernetes import KubernetesAddonsConfig

    with pytest.raises(ValidationError, match="needs cert-manager"):
        KubernetesAddonsConfig.model_validate({"cert_manager": {"enabled": False}})
    assert (
        KubernetesAddonsConfig.model_validate(
            {"cert_manager": {"enabled": False}, "training_operator": {"enabled": False}}
        ).cert_manager.enabled
        is False
    )
    with pytest.raises(ValidationError, match="pattern"):
        KubernetesAddonsConfig.model_validate({"cert_manager": {"version": "1.18"}})
    with pytest.raises(ValidationError, match="Extra inputs"):
        KubernetesAddonsConfig.model_validate({"cert_manager": {"enable": True}})


def test_addon_models_built_in_python_raise_one_config_line():
    # Issue 21: these models are construct inputs; built directly they raise the loader's one-line
    # error naming the model and the field, never pydantic's dump or a raw regex.
    from hyperpod_cdk.config.kubernetes import KubernetesAddonsConfig
    from hyperpod_cdk.errors import HyperPodConfigError

    cases = [
        (
            lambda: KubernetesAddonsConfig(cert_manager={"enabled": False}),
            "KubernetesAddonsConfig.training_operator",
            "needs cert-manager; set cert_manager.enabled: true",
        ),
        (
            lambda: KubernetesAddonsConfig(cert_manager={"version": "1.18"}),
            "KubernetesAddonsConfig.cert_manager.version",
            "is not an EKS add-on version such as v1.18.2-eksbuild.2",
        ),
        (
            lambda: KubernetesAddonsConfig(cert_manager={"enable": True}),
            "KubernetesAddonsConfig.cert_manager.enable",
            "unknown key",
        ),
    ]
    for build, field, fragment in cases:
        with pytest.raises(HyperPodConfigError) as caught:
            build()
        assert caught.value.field == field and fragment in caught.value.message, caught.value
        assert "\n" not in str(caught.value) and "^v[0-9]" not in str(caught.value)


def test_config_prerequisites_match_what_the_addon_constructs_require():
    # The config names prerequisites by config key; the constructs declare them by EKS add-on name.
    from hyperpod_cdk.config.addons import ADDON_PREREQUISITES
    from hyperpod_cdk.kubernetes.addons.registry import ADDONS

    by_key = {row.config_key: row.addon_class for row in ADDONS}
    for key, needs in ADDON_PREREQUISITES.items():
        declared = set(by_key[key].REQUIRES) - {"eks-pod-identity-agent"}
        assert declared == {by_key[need].ADDON_NAME for need in needs}, key
    for row in ADDONS:
        others = set(row.addon_class.REQUIRES) - {"eks-pod-identity-agent"}
        assert not others or row.config_key in ADDON_PREREQUISITES, row.config_key


def test_a_new_pod_identity_addon_is_one_class(tiny):
    # Issue 21: role -> pod identity association -> add-on is written once in PodIdentityAddon; a new
    # add-on declares its service account, prerequisites and permissions and gets the same wiring.
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Template

    from hyperpod_cdk.kubernetes.addons import (
        CERT_MANAGER,
        POD_IDENTITY_AGENT,
        CertManagerAddon,
        MissingAddonDependencyError,
        PodIdentityAddon,
    )

    class ExampleAddon(PodIdentityAddon):
        ADDON_NAME = "example-addon"
        REQUIRES = (POD_IDENTITY_AGENT, CERT_MANAGER, "metrics-server")
        CONFIG_FIELD = "kubernetes.addons.example"
        NAMESPACE = "example"
        SERVICE_ACCOUNT = "example-sa"
        ROLE_DESCRIPTION = "example (EKS Pod Identity)"

        def _grant(self, role):
            role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=["arn:aws:s3:::b/*"]))

    stack, cluster = tiny
    # Every missing prerequisite at once, checked at synth before anything is built.
    with pytest.raises(
        MissingAddonDependencyError, match=r"\['eks-pod-identity-agent', 'cert-manager', " r"'metrics-server'\]"
    ):
        ExampleAddon(stack, "Example", cluster=cluster)
    _agent(stack, cluster)
    CertManagerAddon(stack, "CertManager", cluster=cluster)
    with pytest.raises(MissingAddonDependencyError, match=r"\['metrics-server'\]"):
        ExampleAddon(stack, "Example", cluster=cluster)
    from aws_cdk import aws_eks_v2 as eks

    eks.Addon(stack, "Metrics", cluster=cluster, addon_name="metrics-server")
    addon = ExampleAddon(stack, "Example", cluster=cluster, version="v1.0.0-eksbuild.1")
    template = Template.from_stack(stack).to_json()["Resources"]
    ids = {
        path: stack.get_logical_id(getattr(addon, attr).node.default_child or getattr(addon, attr))
        for path, attr in (("Role", "role"), ("PodIdentity", "association"), ("Addon", "addon"))
    }
    association = template[ids["PodIdentity"]]
    assert association["Properties"]["Namespace"] == "example"
    assert association["Properties"]["ServiceAccount"] == "example-sa"
    installed = template[ids["Addon"]]
    assert installed["Properties"]["AddonName"] == "example-addon"
    depends = set(installed["DependsOn"])
    # After the association and the role's inline policy, so the pods' first AWS call is allowed.
    assert ids["PodIdentity"] in depends
    assert any(template[d]["Type"] == "AWS::IAM::Policy" for d in depends)
    trust = template[ids["Role"]]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "example-sa"


def test_configuration_values_must_be_a_mapping_for_every_addon(tiny):
    # Checked once in HyperPodAddon, before anything is created (ConfiguredAddon used to crash in its merge).
    from hyperpod_cdk.errors import HyperPodConfigError
    from hyperpod_cdk.kubernetes.addons import CertManagerAddon, HyperPodTaskGovernanceAddon

    stack, cluster = tiny
    for cls, extra in ((CertManagerAddon, {}), (HyperPodTaskGovernanceAddon, {"wait_for_kueue": False})):
        with pytest.raises(HyperPodConfigError, match=r"configuration_values: expected a mapping .*got list"):
            cls(stack, "Bad", cluster=cluster, configuration_values=["replicaCount", 2], **extra)
        assert stack.node.try_find_child("Bad") is None

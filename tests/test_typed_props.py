"""typed_props: a construct's CDK-interface props are checked from its constructor's annotations."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any, NotRequired, Required, TypedDict, Unpack

import pytest

from hyperpod_cdk.errors import HyperPodConfigError, _interface_kind, prop_signature, typed_props


class _Stub:
    """Stands in for the CDK annotations' modules: the decorator reads the annotations as text only."""


ec2 = kms = _Stub
SCOPE = SimpleNamespace(node=SimpleNamespace(path="Stack"))
VPC = SimpleNamespace(vpc_id="vpc-1")
SUBNET = SimpleNamespace(subnet_id="subnet-1")


@typed_props
class _Construct:
    def __init__(
        self,
        scope: Any,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        key: kms.IKey | None = None,
        extra: Sequence[ec2.ISecurityGroup] = (),
        name: str = "n",
    ) -> None:
        """The body runs only with checked props."""
        self.built = (vpc, list(subnets), key, extra, name)


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        ("ec2.IVpc", "ec2.IVpc"),
        ("Sequence[ec2.ISubnet]", "ec2.ISubnet[]"),
        ("kms.IKey | None", "kms.IKey?"),
        ("Sequence[ec2.ISubnet] | None", "ec2.ISubnet[]?"),
        ("ICluster | None", "eks.ICluster?"),
        ("str", None),
        ("Mapping[str, ec2.ISubnet]", None),
        ("IHyperPodFileSystem | LustreMount | None", None),
    ],
)
def test_annotation_kinds(annotation, kind):
    assert _interface_kind(annotation) == kind


@pytest.mark.parametrize(
    ("props", "line"),
    [
        ({"vpc": "vpc-1", "subnets": [SUBNET]}, "Stack/C: vpc: expected an ec2.IVpc, got a str ('vpc-1')"),
        ({"vpc": VPC, "subnets": []}, "Stack/C: subnets: list at least one ec2.ISubnet"),
        ({"vpc": VPC, "subnets": "subnet-1"}, "Stack/C: subnets: expected a list of ec2.ISubnet, got str"),
        ({"vpc": None, "subnets": [SUBNET]}, "Stack/C: vpc: is required: pass an ec2.IVpc"),
        ({"vpc": VPC, "subnets": [SUBNET], "key": "arn:aws:kms:x"}, "Stack/C: key: expected an kms.IKey, got a str"),
        ({"vpc": VPC, "subnets": [SUBNET], "extra": []}, "Stack/C: extra: list at least one ec2.ISecurityGroup"),
    ],
)
def test_wrong_props_are_one_line_before_the_body(props, line):
    with pytest.raises(HyperPodConfigError) as info:
        _Construct(SCOPE, "C", **props)
    assert str(info.value).startswith(line), str(info.value)


def test_defaults_and_none_for_optional_props_pass():
    built = _Construct(SCOPE, "C", vpc=VPC, subnets=(SUBNET,), key=None).built
    assert built == (VPC, [SUBNET], None, (), "n")


def test_signature_and_docs_are_the_constructors():
    assert list(inspect.signature(_Construct.__init__).parameters)[-5:] == ["vpc", "subnets", "key", "extra", "name"]
    assert _Construct.__init__.__doc__ == "The body runs only with checked props."
    with pytest.raises(TypeError, match="unexpected keyword argument 'vcp'"):
        _Construct(SCOPE, "C", vcp=VPC, subnets=[SUBNET])
    with pytest.raises(TypeError, match=r"_Construct.__init__\(\) missing 1 required keyword-only argument: 'vpc'"):
        _Construct(SCOPE, "C", subnets=[SUBNET])


def test_annotations_must_be_text():
    class Evaluated:
        def __init__(self, scope: Any, construct_id: str, *, vpc: object) -> None: ...

    Evaluated.__init__.__annotations__["vpc"] = object
    with pytest.raises(TypeError, match="from __future__ import annotations"):
        typed_props(Evaluated)


def test_check_gets_every_prop_after_the_types():
    seen: list[tuple[Any, str, dict[str, Any]]] = []

    def check(scope: Any, construct_id: str, **props: Any) -> None:
        seen.append((scope, construct_id, props))

    @typed_props(check=check)
    class Checked:
        def __init__(self, scope: Any, construct_id: str, *, vpc: ec2.IVpc, name: str = "n") -> None:
            self.name = name

    with pytest.raises(HyperPodConfigError, match="vpc: expected an ec2.IVpc"):
        Checked(SCOPE, "C", vpc="vpc-1")
    assert seen == []  # the types first: check never sees a wrong type
    assert Checked(SCOPE, "C", vpc=VPC).name == "n"
    assert seen == [(SCOPE, "C", {"vpc": VPC, "name": "n"})]


# Constructs whose interface-typed props are checked another way: ImportedFsxLustre allows an empty
# security_groups (then connections says what is missing); the other two check theirs by hand.
_CHECKED_OTHERWISE = {
    "hyperpod_cdk.storage.fsx_lustre.ImportedFsxLustre",
    "hyperpod_cdk.cluster.scheduler_config.HyperPodSchedulerConfig",
    "hyperpod_cdk.monitoring.grafana_dashboards.HyperPodGrafanaDashboards",
}


def test_every_network_storage_cluster_construct_checks_its_typed_props():
    import importlib
    import pkgutil

    from constructs import Construct

    names = ["hyperpod_cdk.platform"]
    for layer in ("network", "storage", "cluster", "monitoring"):
        package = importlib.import_module(f"hyperpod_cdk.{layer}")
        names += [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    unchecked, checked = [], []
    for name in names:
        module = importlib.import_module(name)
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and cls.__module__ == name and issubclass(cls, Construct)):
                continue
            init = cls.__dict__.get("__init__")
            own = inspect.unwrap(init) if init else None
            typed = own and any(_interface_kind(p.annotation) for p in prop_signature(own).parameters.values())
            if typed and f"{name}.{cls.__name__}" not in _CHECKED_OTHERWISE:
                (checked if hasattr(init, "__wrapped__") else unchecked).append(cls.__name__)
    assert unchecked == [], "use @typed_props on these"
    assert {"HyperPodPlatform", "HyperPodCluster", "HyperPodSlurmCluster", "SlurmAccountingDatabase"} <= set(checked)


# -- props shared through a TypedDict (``**placement: Unpack[...]``, PEP 692) are checked like declared ones ----


class _Placement(TypedDict):
    vpc: ec2.IVpc
    subnets: Sequence[ec2.ISubnet]


class _Extras(TypedDict, total=False):
    key: Required[kms.IKey]
    spare: NotRequired[ec2.ISecurityGroup]


@typed_props
class _Placed:
    def __init__(self, scope: Any, construct_id: str, *, name: str = "n", **placement: Unpack[_Placement]) -> None:
        self.built = (name, placement)


def test_unpacked_props_are_checked_first_with_the_same_lines():
    assert list(inspect.signature(_Placed.__init__).parameters) == [
        "self",
        "scope",
        "construct_id",
        "vpc",
        "subnets",
        "name",
    ]
    for props, line in [
        ({"vpc": "vpc-1", "subnets": [SUBNET]}, "Stack/C: vpc: expected an ec2.IVpc, got a str ('vpc-1')"),
        ({"vpc": VPC, "subnets": []}, "Stack/C: subnets: list at least one ec2.ISubnet"),
        ({"vpc": VPC, "subnets": "subnet-1"}, "Stack/C: subnets: expected a list of ec2.ISubnet, got str"),
        ({"vpc": None, "subnets": [SUBNET]}, "Stack/C: vpc: is required: pass an ec2.IVpc"),
    ]:
        with pytest.raises(HyperPodConfigError) as info:
            _Placed(SCOPE, "C", name=7, **props)
        assert str(info.value) == line or str(info.value).startswith(line), str(info.value)
    assert _Placed(SCOPE, "C", subnets=[SUBNET], vpc=VPC).built == ("n", {"subnets": [SUBNET], "vpc": VPC})


def test_a_missing_or_unknown_unpacked_prop_is_one_line_naming_it():
    with pytest.raises(TypeError, match=r"^_Placed.__init__\(\) missing a required argument: 'vpc'$"):
        _Placed(SCOPE, "C", subnets=[SUBNET])
    with pytest.raises(TypeError, match=r"^_Placed.__init__\(\) got an unexpected keyword argument 'vcp'$"):
        _Placed(SCOPE, "C", vcp=VPC, vpc=VPC, subnets=[SUBNET])
    with pytest.raises(TypeError, match="got an unexpected keyword argument 'nme'"):  # a declared prop: Python's own
        _Placed(SCOPE, "C", nme="x", vpc=VPC, subnets=[SUBNET])


def test_required_and_optional_keys_of_a_partial_typed_dict():
    seen: list[dict[str, Any]] = []

    @typed_props(check=lambda scope, construct_id, **props: seen.append(props))
    class Keyed:
        def __init__(self, scope: Any, construct_id: str, **extras: Unpack[_Extras]) -> None:
            self.extras = extras

    parameters = inspect.signature(Keyed.__init__).parameters
    assert parameters["key"].default is inspect.Parameter.empty and parameters["spare"].default is None
    assert _interface_kind(parameters["spare"].annotation) == "ec2.ISecurityGroup"
    with pytest.raises(TypeError, match="missing a required argument: 'key'"):
        Keyed(SCOPE, "C")
    with pytest.raises(HyperPodConfigError, match="^Stack/C: spare: expected an ec2.ISecurityGroup, got a str"):
        Keyed(SCOPE, "C", key=SimpleNamespace(key_arn="k"), spare="sg-1")
    key = SimpleNamespace(key_arn="k")
    assert Keyed(SCOPE, "C", key=key).extras == {"key": key}  # the body gets only what was passed
    assert seen == [{"key": key, "spare": None}]


def test_library_constructs_with_placement_props_refuse_a_missing_vpc_before_anything_exists():
    from hyperpod_cdk.network.endpoints import HyperPodEndpoints

    assert list(inspect.signature(HyperPodEndpoints.__init__).parameters)[3:5] == ["vpc", "subnets"]
    with pytest.raises(TypeError, match=r"^HyperPodEndpoints.__init__\(\) missing a required argument: 'vpc'$"):
        HyperPodEndpoints(SCOPE, "E", subnets=[SUBNET], client_cidrs=["10.0.0.0/16"], services=["sts"])
    with pytest.raises(HyperPodConfigError, match=r"^Stack/E: vpc: expected an ec2.IVpc, got a str"):
        HyperPodEndpoints(SCOPE, "E", vpc="vpc-1", subnets=[SUBNET], client_cidrs=["10.0.0.0/16"], services=["sts"])


def test_both_cluster_constructors_take_the_shared_props_with_their_defaults():
    from hyperpod_cdk import HyperPodCluster, HyperPodSlurmCluster
    from hyperpod_cdk.cluster.cluster_base import SharedClusterProps

    shared = list(SharedClusterProps.__annotations__)
    for cluster in (HyperPodCluster, HyperPodSlurmCluster):
        parameters = inspect.signature(cluster.__init__).parameters
        assert list(parameters)[3 : 3 + len(shared)] == shared, cluster  # help() shows them first
        assert parameters["node_recovery"].default == "Automatic"
        assert parameters["ip_headroom_percent"].default == 25
        assert parameters["cluster_name"].default is inspect.Parameter.empty
        assert parameters["volume_key"].default is None
        name = cluster.__name__
        with pytest.raises(TypeError, match=rf"^{name}.__init__\(\) missing a required argument: 'cluster_name'$"):
            cluster(SCOPE, "C", instance_groups=[], subnets_by_az_id={}, default_az_id="a", security_group=None)
        with pytest.raises(TypeError, match=rf"^{name}.__init__\(\) got an unexpected keyword argument 'node_recvery'"):
            cluster(
                SCOPE,
                "C",
                cluster_name="c",
                instance_groups=[],
                subnets_by_az_id={},
                default_az_id="a",
                security_group=None,
                node_recvery="None",
            )
        with pytest.raises(HyperPodConfigError, match=r"^Stack/C: security_group: expected an ec2.ISecurityGroup"):
            cluster(
                SCOPE,
                "C",
                cluster_name="c",
                instance_groups=[],
                subnets_by_az_id={},
                default_az_id="a",
                security_group=1,
            )


def test_an_unpacked_props_name_must_be_importable_from_the_module():
    class Unresolved:
        def __init__(self, scope: Any, construct_id: str, **props: Unpack[_Placement]) -> None: ...

    Unresolved.__init__.__annotations__["props"] = "Unpack[NotImportedProps]"
    with pytest.raises(TypeError, match=r"reads Unpack\[NotImportedProps\] by name: import the TypedDict into"):
        typed_props(Unresolved)

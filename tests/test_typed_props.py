"""typed_props: a construct's CDK-interface props are checked from its constructor's annotations."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from hyperpod_cdk.errors import HyperPodConfigError, _interface_kind, typed_props


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
            typed = own and any(_interface_kind(p.annotation) for p in inspect.signature(own).parameters.values())
            if typed and f"{name}.{cls.__name__}" not in _CHECKED_OTHERWISE:
                (checked if hasattr(init, "__wrapped__") else unchecked).append(cls.__name__)
    assert unchecked == [], "use @typed_props on these"
    assert {"HyperPodPlatform", "HyperPodCluster", "HyperPodSlurmCluster", "SlurmAccountingDatabase"} <= set(checked)

"""The one error type users see for bad configuration or construct props."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

# Long inputs (a pasted file, an alias bomb) are cut in messages so the line stays readable.
MAX_SHOWN = 80


class HyperPodConfigError(ValueError):
    """Invalid configuration or construct props.

    ``field`` is the dotted path of the offending value (``hyperpod.instance_groups[0].instance_count``),
    so a CLI or the CDK app can print a single line that names it and says what is allowed.
    ``construct_path`` is set when a construct prop (not a config file) was wrong: the line then
    starts with the construct's path in the tree (``MyStack/Platform/HyperPod``).
    """

    def __init__(self, field: str, message: str, *, construct_path: str | None = None) -> None:
        self.field = field
        self.message = message
        self.construct_path = construct_path
        where = f"{construct_path}: {field}" if construct_path else field
        super().__init__(f"{where}: {message}")


def shown(value: Any) -> str:
    """``repr`` of a user's value, cut to :data:`MAX_SHOWN` characters."""
    try:
        text = repr(value)
    except ValueError:  # an integer past sys.get_int_max_str_digits() digits
        text = f"<integer of {value.bit_length()} bits>" if isinstance(value, int) else f"<{type(value).__name__}>"
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def prop_error(scope: Any, construct_id: str, prop: str, message: str) -> HyperPodConfigError:
    """A :class:`HyperPodConfigError` for a construct prop, named by the construct's future path.

    Raised before the construct (and anything jsii would do with the bad value) exists.
    """
    parent = getattr(getattr(scope, "node", None), "path", "")
    path = f"{parent}/{construct_id}" if parent else construct_id
    return HyperPodConfigError(prop, message, construct_path=path)


class checked_props:  # noqa: N801 - used as a context manager, reads as a statement
    """Context manager: a :class:`HyperPodConfigError` raised inside names the construct's path.

    ``with checked_props(scope, "HyperPod"): validate(...)`` turns ``instance_groups[0].instance_type: ...``
    into ``Stack/HyperPod: instance_groups[0].instance_type: ...``.
    """

    def __init__(self, scope: Any, construct_id: str) -> None:
        self.scope = scope
        self.construct_id = construct_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, _traceback: Any) -> None:
        if isinstance(error, HyperPodConfigError) and error.construct_path is None:
            raise prop_error(self.scope, self.construct_id, error.field, error.message) from None


# What each CDK interface a construct prop takes must have, to tell a wrong value (a string ID, a
# dict) from the object before jsii sees it: jsii would answer with a serialization trace.
_INTERFACE_ATTRIBUTES = {
    "ec2.IVpc": "vpc_id",
    "ec2.ISubnet": "subnet_id",
    "ec2.ISecurityGroup": "security_group_id",
    "kms.IKey": "key_arn",
    "s3.IBucket": "bucket_name",
    "eks.ICluster": "cluster_name",
    "iam.IRole": "role_arn",
    "IConstruct": "node",
}


def check_prop_types(scope: Any, construct_id: str, **props: tuple[str, Any]) -> None:
    """Raise a one-line :func:`prop_error` for a prop that is not the CDK object it should be.

    ``check_prop_types(scope, id, vpc=("ec2.IVpc", vpc), subnets=("ec2.ISubnet[]", subnets))``:
    a ``[]`` suffix means a non-empty sequence of them; a ``?`` suffix allows None.
    """
    for prop, (kind, value) in props.items():
        optional = kind.endswith("?")
        kind = kind.rstrip("?")
        if value is None:
            if optional:
                continue
            raise prop_error(scope, construct_id, prop, f"is required: pass an {kind.removesuffix('[]')}")
        many = kind.endswith("[]")
        attribute = _INTERFACE_ATTRIBUTES[kind.removesuffix("[]")]
        items = value if many and not isinstance(value, str | bytes | dict) else [value]
        if many and (isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__")):
            raise prop_error(scope, construct_id, prop, f"expected a list of {kind[:-2]}, got {type(value).__name__}")
        items = list(items)
        if many and not items:
            raise prop_error(scope, construct_id, prop, f"list at least one {kind[:-2]}")
        for item in items:
            if not hasattr(item, attribute):
                what = f"a {type(item).__name__} ({shown(item)})"
                raise prop_error(
                    scope,
                    construct_id,
                    prop,
                    f"expected {'a list of ' + kind[:-2] if many else 'an ' + kind}, got {what}; import IDs with "
                    "from_*_attributes / from_*_id first",
                )


_Construct = TypeVar("_Construct", bound=type)


def _interface_kind(annotation: object) -> str | None:
    """The :func:`check_prop_types` kind of a prop annotation, or None when it names no CDK interface of
    :data:`_INTERFACE_ATTRIBUTES`: ``ec2.IVpc`` -> ``ec2.IVpc``, ``Sequence[ec2.ISubnet]`` -> ``ec2.ISubnet[]``,
    ``kms.IKey | None`` -> ``kms.IKey?``. A bare name (``ICluster``) matches its module-qualified kind."""
    if annotation is inspect.Parameter.empty:  # self
        return None
    if not isinstance(annotation, str):
        raise TypeError("typed_props reads annotations as text: use `from __future__ import annotations`")
    text, optional = annotation, annotation.endswith(" | None")
    text = text.removesuffix(" | None")
    many = text.startswith("Sequence[") and text.endswith("]")
    text = text.removeprefix("Sequence[").removesuffix("]") if many else text
    for kind in _INTERFACE_ATTRIBUTES:
        if text == kind or text == kind.rpartition(".")[2]:
            return kind + ("[]" if many else "") + ("?" if optional else "")
    return None


@overload
def typed_props(construct: _Construct, /) -> _Construct: ...


@overload
def typed_props(
    *, check: Callable[..., None] | None = None, defaults: Mapping[str, Any] | None = None
) -> Callable[[_Construct], _Construct]: ...


def typed_props(
    construct: _Construct | None = None,
    /,
    *,
    check: Callable[..., None] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> _Construct | Callable[[_Construct], _Construct]:
    """Class decorator for a construct: before its ``__init__(self, scope, construct_id, ...)`` runs (so
    before ``super().__init__`` creates anything, and before jsii sees a value), every prop annotated with
    a CDK interface is checked with :func:`check_prop_types`, in the signature's order; then ``check``,
    if given, gets ``(scope, construct_id, **props)`` (every prop, defaults filled in) for what annotations
    cannot say (``@typed_props(check=...)``).

    The annotation says it once: ``vpc: ec2.IVpc`` (required), ``subnets: Sequence[ec2.ISubnet]`` (a
    non-empty list of them), ``volume_key: kms.IKey | None`` (optional). A prop left at its default is
    not type-checked.

    Props shared through a TypedDict, ``**props: Unpack[SomeProps]`` (PEP 692), are checked like declared
    ones (:func:`prop_signature`); ``defaults`` gives those of its optional keys that are not None.
    """
    if construct is None:
        return functools.partial(_wrap_init, check=check, defaults=defaults or {})
    return _wrap_init(construct, check=check, defaults=defaults or {})


def _unpacked_props(
    init: Callable[..., None], parameter: inspect.Parameter, defaults: Mapping[str, Any]
) -> list[inspect.Parameter]:
    """The keyword parameters a ``**props: Unpack[SomeProps]`` parameter stands for (PEP 692), one per key of the
    TypedDict, annotated as it is and in its order: a required key has no default, another one its ``defaults``
    entry, else None (the constructor reads it with ``props.get``). Any other parameter stands for itself."""
    annotation = parameter.annotation
    if not (
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        and isinstance(annotation, str)
        and annotation.startswith("Unpack[")
    ):
        return [parameter]
    props: Any = init.__globals__.get(annotation.removeprefix("Unpack[").removesuffix("]"))
    if not hasattr(props, "__required_keys__"):
        raise TypeError(f"typed_props reads {annotation} by name: import the TypedDict into {init.__module__}")
    fields = []
    for name, field in props.__annotations__.items():
        text = getattr(field, "__forward_arg__", field)  # a ForwardRef: the TypedDict's module has text annotations
        required = name in props.__required_keys__
        for qualifier in ("Required[", "NotRequired["):  # text annotations hide these from the TypedDict itself
            if text.startswith(qualifier):
                required, text = qualifier == "Required[", text.removeprefix(qualifier).removesuffix("]")
        default = inspect.Parameter.empty if required else defaults.get(name)
        fields.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=text))
    return fields


def prop_signature(init: Callable[..., None], defaults: Mapping[str, Any] | None = None) -> inspect.Signature:
    """``init``'s signature with each ``**props: Unpack[SomeProps]`` spelled out as the keyword props it takes,
    first among the keyword props (shared props come first, as a TypeScript props interface lists what it
    extends): what :func:`typed_props` checks, in this order, and what ``help()`` shows for the constructor."""
    own = list(inspect.signature(init).parameters.values())
    unpacked = [p for parameter in own for p in _unpacked_props(init, parameter, defaults or {}) if p is not parameter]
    if not unpacked:
        return inspect.signature(init)
    keywords = next(i for i, p in enumerate(own) if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD))
    rest = [p for p in own[keywords:] if p.kind is not inspect.Parameter.VAR_KEYWORD]
    return inspect.signature(init).replace(parameters=[*own[:keywords], *unpacked, *rest])


def _wrap_init(construct: _Construct, *, check: Callable[..., None] | None, defaults: Mapping[str, Any]) -> _Construct:
    init: Callable[..., None] = construct.__dict__["__init__"]
    own = inspect.signature(init)
    signature = prop_signature(init, defaults)
    kinds = {
        name: kind
        for name, parameter in signature.parameters.items()
        if (kind := _interface_kind(parameter.annotation)) is not None
    }
    left_at = {name: signature.parameters[name].default for name in kinds}

    @functools.wraps(init)
    def checked(self: Any, scope: Any, construct_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(self, scope, construct_id, *args, **kwargs)
        except TypeError as error:
            try:
                own.bind(self, scope, construct_id, *args, **kwargs)
            except TypeError:  # a missing or unknown prop: Python's own message, naming the constructor
                init(self, scope, construct_id, *args, **kwargs)
                raise
            # A missing or unknown key of an unpacked TypedDict, which Python would take into **props.
            raise TypeError(f"{init.__qualname__}() {error}") from None
        bound.apply_defaults()
        props = dict(list(bound.arguments.items())[3:])  # past self, scope and construct_id
        # A prop left at its default needs no check (None for an optional one, () for an optional list).
        check_prop_types(
            scope,
            construct_id,
            **{name: (kind, props[name]) for name, kind in kinds.items() if props[name] is not left_at[name]},
        )
        if check is not None:
            check(scope, construct_id, **props)
        init(self, scope, construct_id, *args, **kwargs)

    if signature != own:
        checked.__signature__ = signature  # type: ignore[attr-defined]  # help() shows the props spelled out
    construct.__init__ = checked  # type: ignore[misc]  # the same signature, by functools.wraps
    return construct

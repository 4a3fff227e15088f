"""What a template makes at deploy that no rule reads: a ``Transform`` and ``Fn::ForEach::`` resource keys.

``hyperpod-cdk lint`` prints a not-checked line for each (the resolver's ``Resolved.unexpanded``). In a CDK
app (closed world) that line never reaches the plugin, so this rule says the same as a finding there
(review round 20, R20T-H1): the resources a transform or loop makes at deploy were never checked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from hyperpod_cdk.rules.model import Finding, Templates, shown

FOREACH_PREFIX = "Fn::ForEach::"


def unexpanded_resources(templates: Templates, rule_id: str = "HyperPod-CFN1") -> Iterator[Finding]:
    if not templates.closed_world:
        return  # lint reports these itself (rules/inputs.py), once per input
    for path, template in templates.templates.items():
        resources = template.get("Resources")
        keys = list(resources) if isinstance(resources, Mapping) else []
        transform = template.get("Transform")
        if transform is not None:
            anchor = next((str(k) for k in keys if not str(k).startswith(FOREACH_PREFIX)), "Transform")
            yield Finding(
                rule_id,
                path,
                anchor,
                f"the template has Transform {shown(transform)}, whose resources no rule read at synth",
                ("Transform",),
            )
        for key in keys:
            if str(key).startswith(FOREACH_PREFIX):
                yield Finding(
                    rule_id, path, str(key), "a loop AWS::LanguageExtensions expands at deploy; no rule read it", ()
                )

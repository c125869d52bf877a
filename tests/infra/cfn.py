"""Small readers for a synthesized CloudFormation template (plain dicts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Template = dict[str, Any]


def resources(template: Template, type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def props(template: Template, logical_id: str) -> dict[str, Any]:
    return dict(template["Resources"][logical_id].get("Properties", {}))


def refs(value: Any) -> set[str]:
    """Logical ids a value points at through Ref / Fn::GetAtt, at any depth."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            found.add(value["Ref"])
        if "Fn::GetAtt" in value:
            found.add(value["Fn::GetAtt"][0])
        for inner in value.values():
            found |= refs(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= refs(inner)
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def by_property(template: Template, type_: str, name: str) -> dict[str, str]:
    """{property value: logical id}, e.g. tables by TableName."""
    return {p["Properties"][name]: k for k, p in resources(template, type_).items()}


def function_ids(template: Template, prefix: str) -> dict[str, str]:
    """{function name in shared.resources: logical id}. CDK's own helper functions (the
    web BucketDeployment's) have no FunctionName and are not ours."""
    out = {}
    for logical_id, fn in resources(template, "AWS::Lambda::Function").items():
        physical = fn["Properties"].get("FunctionName")
        if physical is None:
            continue
        out[physical.removeprefix(f"{prefix}-").replace("-", "_")] = logical_id
    return out


def role_of(template: Template, function_id: str) -> str:
    (role,) = refs(props(template, function_id)["Role"])
    return role


def role_statements(template: Template, role_id: str) -> Iterator[dict[str, Any]]:
    """Every statement of every IAM policy attached to ``role_id``."""
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):  # CDK overflows to managed
        for policy in resources(template, type_).values():
            if role_id in refs(policy["Properties"].get("Roles", [])):
                yield from policy["Properties"]["PolicyDocument"]["Statement"]
    role = props(template, role_id)
    for inline in role.get("Policies", []):
        yield from inline["PolicyDocument"]["Statement"]


def allows(statement: dict[str, Any], action: str) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    service = action.split(":")[0]
    return any(a in (action, "*", f"{service}:*") for a in as_list(statement["Action"]))


def key_ids_by_alias(template: Template) -> dict[str, str]:
    """{"custody": logical id of the KMS key, ...} from the aliases (alias/<prefix>-x)."""
    out = {}
    for alias in resources(template, "AWS::KMS::Alias").values():
        name = alias["Properties"]["AliasName"].rsplit("-", 1)[-1]
        (key,) = refs(alias["Properties"]["TargetKeyId"])
        out[name] = key
    return out

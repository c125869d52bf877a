"""cdk-nag (AwsSolutions) wiring and the one way to acknowledge a finding.

cdk-nag 3 is a CDK policy-validation plugin: ``Validations.of(app).add_plugins(...)``.
A finding is acknowledged with ``Validations.of(construct).acknowledge(...)`` on the
resource or an ancestor; granular findings use ``RuleId[FindingId]``. Every
acknowledgment in this app goes through :func:`acknowledge`, which insists on a reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Token, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

MIN_REASON = 10
ACK_METADATA = "aws:cdk:acknowledged-rules"


def add_checks(app: IConstruct) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    if len(reason.strip()) < MIN_REASON:
        raise ValueError(f"acknowledging {rule_id} needs a real reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def logical_ref(scope: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag names ``Fn::GetAtt [<logical id>, <attribute>]`` in a finding id."""
    child = scope.node.default_child or scope
    return f"<{Stack.of(scope).get_logical_id(child)}.{attribute}>"  # type: ignore[arg-type]


def pseudo(scope: IConstruct, name: str) -> str:
    """How cdk-nag prints a pseudo parameter in a finding id: ``<AWS::Region>`` while
    it is a token, the value itself once the CLI resolved the environment (``cdk synth``
    with a default region)."""
    stack = Stack.of(scope)
    value = {"Partition": stack.partition, "Region": stack.region, "AccountId": stack.account}[name]
    return f"<AWS::{name}>" if Token.is_unresolved(value) else value

"""cfn-lint on the synthesized template: no errors, and no warnings beyond two known,
explained ones. The linter was started by the session fixture right after synth."""

from __future__ import annotations

import json

from tests.infra.conftest import Synthesized

# W3005: CDK adds an explicit DependsOn on a role next to the GetAtt of it (it waits for
#        the role's policy, not only the role); harmless redundancy.
# W8003: the read-only template's AssetsNotBundled rule is always false on purpose.
ALLOWED_WARNINGS = {"W3005", "W8003"}


def test_cfn_lint_finds_no_errors(synthesized: Synthesized) -> None:
    out, err = synthesized.cfn_lint.communicate(timeout=300)
    assert synthesized.cfn_lint.returncode is not None
    matches = json.loads(out or "[]")
    assert matches or synthesized.cfn_lint.returncode == 0, err
    problems = [
        f"{m['Rule']['Id']} {m['Message']} ({m['Location']['Path']})"
        for m in matches
        if m["Level"] == "Error" or m["Rule"]["Id"] not in ALLOWED_WARNINGS
    ]
    assert problems == []

"""Every function's X-Ray tracer (Powertools), patching only the libraries bscpay calls.

Powertools' default patches every module the X-Ray SDK supports, importing each one to
do it: ``requests`` alone added ~30 ms to every cold start, for a library bscpay never
calls (issue 15 §1, ADR 0038). Outbound calls go through ``http.client`` (JSON-RPC,
webhooks, screening and price sources), boto3 (``botocore``) and ``pynamodb``; those
three stay traced as subsegments.
"""

from __future__ import annotations

from aws_lambda_powertools import Tracer

PATCHED_MODULES = ("botocore", "pynamodb", "httplib")


def tracer() -> Tracer:
    return Tracer(patch_modules=PATCHED_MODULES)

"""Lambda code assets, bundled locally by ``layers/build.py`` (never Docker).

* App code: at bundling time ``layers/build.py app`` copies ``functions/`` and
  ``shared/`` into the asset and pre-compiles them; the asset hash is the output's.
* Dependencies: at bundling time ``layers/build.py copy-deps`` hands over the layer that
  ``make layers`` built and checked, and refuses a missing, stale or unchecked one. The
  asset hash is that of uv.lock + build.py, so an unchanged layer is neither copied nor
  uploaded again.

CDK bundles only when it must (``cdk synth``/``deploy``). ``-c bundle=false`` (and the
tests) skip bundling: the template is the same, the assets are not built, and the stack
adds a CloudFormation rule that refuses to deploy it (ADR 0002).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.cdk.constants import LAYER_BUILD_SCRIPT, LAYERS_DIR, REPO_ROOT, UV_LOCK

# Never pulled: local bundling always answers. CDK requires an image to be named.
_UNUSED_IMAGE = DockerImage.from_registry("public.ecr.aws/sam/build-python3.11")


@jsii.implements(ILocalBundling)
class _BuildStep:
    """Runs one step of layers/build.py into CDK's bundling output directory."""

    def __init__(self, step: str) -> None:
        self._step = step

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        proc = subprocess.run(
            [sys.executable, str(LAYER_BUILD_SCRIPT), self._step, "--out", output_dir],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            # Raise rather than return False: False would make CDK try Docker instead.
            raise RuntimeError(proc.stderr.strip() or f"layers/build.py {self._step} failed")
        return True


def app_code() -> lambda_.Code:
    """functions/ + shared/ at the asset root (handler ``functions.<name>.handler``)."""
    return lambda_.Code.from_asset(
        str(REPO_ROOT / "functions"),  # staged as-is only when bundling is skipped
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(image=_UNUSED_IMAGE, local=_BuildStep("app")),
    )


def deps_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (UV_LOCK, LAYER_BUILD_SCRIPT):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def deps_code() -> lambda_.Code:
    """Third-party runtime dependencies (``python/`` at the asset root)."""
    return lambda_.Code.from_asset(
        str(LAYERS_DIR),  # staged as-is only when bundling is skipped
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=deps_fingerprint(),
        bundling=BundlingOptions(image=_UNUSED_IMAGE, local=_BuildStep("copy-deps")),
    )

"""The Lambda packaging (layers/build.py) without the network: the app asset carries
every handler and nothing of the local stack, the native-file check rejects what Amazon
Linux 2 cannot load, and CDK is never handed a stale or unchecked layer."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shared import resources

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layers_build", ROOT / "layers" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("app") / "asset"
    subprocess.run(
        [sys.executable, str(ROOT / "layers" / "build.py"), "app", "--out", str(out)],
        check=True,
    )
    return out


def test_app_asset_holds_every_handler_and_not_the_local_stack(app_asset: Path) -> None:
    for spec in resources.FUNCTIONS:
        handler = app_asset / "functions" / spec.name / "handler.py"
        assert "def lambda_handler(" in handler.read_text(), spec.name
    assert (app_asset / "shared" / "resources.py").is_file()
    assert not (app_asset / "shared" / "local").exists()
    # pre-compiled: /var/task is read-only, so cold starts cannot cache bytecode
    assert list((app_asset / "shared" / "__pycache__").glob("*.cpython-311.pyc"))


def test_handlers_import_from_the_app_asset_alone(app_asset: Path) -> None:
    # Given only the asset (not the repo) on the path, When every handler is imported,
    # Then nothing is missing from the asset (third-party packages come from the venv).
    modules = [f"functions.{spec.name}.handler" for spec in resources.FUNCTIONS]
    code = (
        "import importlib, sys; sys.path.insert(0, sys.argv[1]); "
        "[importlib.import_module(m) for m in sys.argv[2:]]; "
        "import functions, shared; "
        "assert functions.__file__.startswith(sys.argv[1]); "
        "assert shared.__file__.startswith(sys.argv[1])"
    )
    subprocess.run(
        [sys.executable, "-I", "-c", code, str(app_asset), *modules], check=True, cwd=app_asset
    )


def test_elf_check_rejects_a_library_built_for_a_newer_glibc(
    build: ModuleType, tmp_path: Path
) -> None:
    host_lib = next(
        (p for p in Path("/usr/lib/x86_64-linux-gnu").glob("libssl.so.3") if p.is_file()), None
    )
    if host_lib is None or shutil.which("readelf") is None:
        pytest.skip("needs the host's libssl.so.3 and readelf")
    shutil.copy(host_lib, tmp_path / host_lib.name)
    problems = build.check_elf(tmp_path)
    assert any("GLIBC_2." in p and "Amazon Linux 2" in p for p in problems)
    assert any("libcrypto" in p for p in problems)


def test_source_built_packages_are_kept_out_of_the_wheel_install(build: ModuleType) -> None:
    exported = (
        "crcmod==1.7 \\\n    --hash=sha256:aa\n    # via hdwallet\n"
        "hdwallet==3.6.1 \\\n    --hash=sha256:bb\n"
        "ed25519-blake2b==1.4.1 \\\n    --hash=sha256:cc\n"
    )
    wheels, sdists, _ = build._split_requirements(exported)
    assert "hdwallet==3.6.1" in wheels and "crcmod" not in wheels and "ed25519" not in wheels
    assert "crcmod==1.7" in sdists and "ed25519-blake2b==1.4.1" in sdists
    assert "--hash=sha256:cc" in sdists and "# via" not in sdists


def test_cdk_is_never_handed_a_missing_stale_or_unchecked_layer(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = tmp_path / "deps"
    monkeypatch.setattr(build, "DEPS_DIR", deps)
    monkeypatch.setattr(build, "STAMP", deps / ".build.json")
    out = tmp_path / "out"

    with pytest.raises(build.BuildError, match="make layers"):
        build.copy_deps(out)  # missing

    (deps / "python" / "pkg").mkdir(parents=True)
    stamp = {**build.fingerprint(), "uv_lock_sha256": "0" * 64, "checked": "yes"}
    (deps / ".build.json").write_text(json.dumps(stamp))
    with pytest.raises(build.BuildError, match="uv_lock_sha256"):
        build.copy_deps(out)  # built from another lock

    (deps / ".build.json").write_text(json.dumps({**build.fingerprint(), "checked": "no"}))
    with pytest.raises(build.BuildError, match="check"):
        build.copy_deps(out)  # never passed the check

    (deps / ".build.json").write_text(json.dumps({**build.fingerprint(), "checked": "yes"}))
    build.copy_deps(out)
    assert (out / "python" / "pkg").is_dir()

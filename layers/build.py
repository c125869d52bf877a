#!/usr/bin/env python3
"""Build bscpay's Lambda code without Docker: the dependency layer and the app code.

    python layers/build.py            # app + deps + check (what `make layers` runs)
    python layers/build.py app [--out DIR]
    python layers/build.py deps
    python layers/build.py check
    python layers/build.py copy-deps --out DIR   # used by CDK bundling at deploy

Outputs (git-ignored):
    layers/build/app/             functions/ and shared/ (less shared/local), pre-compiled
    layers/build/deps/python/     third-party runtime dependencies for python3.11 x86_64
    layers/build/deps/.build.json what the layer was built from, and whether it passed check

Lambda python3.11 runs on Amazon Linux 2 (glibc 2.26). Runtime dependencies are
exported from uv.lock (hash-pinned) and installed as manylinux wheels for that
platform. Two packages publish no wheels at all (crcmod, ed25519-blake2b, both
required at import time by hdwallet 3); they are built from their hash-pinned sdists
with this machine's CPython 3.11 and then checked like every other ELF file in the
layer: x86-64, glibc symbol versions <= 2.26, and only system libraries AL2 provides.
The check ends by importing every function's handler in a clean interpreter that sees
only the stdlib, the app code and the layer (as Lambda does), and by deriving the
first address of the standard test mnemonic. See docs/adr/0002.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import platform
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = HERE / "build"
APP_DIR = BUILD / "app"
DEPS_DIR = BUILD / "deps"
STAMP = DEPS_DIR / ".build.json"

PYTHON_VERSION = "3.11"
# Amazon Linux 2 ships glibc 2.26 and GCC 7's libstdc++ (GLIBCXX_3.4.24). uv offers no
# 2_26 target; manylinux2014 (glibc 2.17) wheels are the newest that fit below it.
PLATFORM_TAG = "x86_64-manylinux_2_17"
MAX_SYMBOL_VERSIONS = {"GLIBC": (2, 26), "GLIBCXX": (3, 4, 24), "CXXABI": (1, 3, 11)}
SYSTEM_LIBS = {
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
    "libnsl.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "ld-linux-x86-64.so.2",
}
# No wheel on PyPI for any platform: built here from the hash-pinned sdist.
SOURCE_BUILT = {"crcmod", "ed25519-blake2b"}
# Packaged with the app code: the Lambda entry points and the shared package.
APP_PACKAGES = ("functions", "shared")
# The local stack (moto provisioning, API Gateway emulator) never runs in Lambda.
APP_EXCLUDES = ("shared/local",)

EXPORT = ("--format", "requirements-txt")

TEST_MNEMONIC = "test test test test test test test test test test test junk"
TEST_ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


class BuildError(RuntimeError):
    pass


# ---- app code ----------------------------------------------------------------------------


def build_app(out: Path) -> Path:
    """Copy functions/ and shared/ into ``out`` and pre-compile them (read-only /var/task
    cannot cache bytecode, so every cold start would compile again)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".mypy_cache")
    for package in APP_PACKAGES:
        src = ROOT / package
        if not (src / "__init__.py").is_file():
            raise BuildError(f"{src} is not a Python package")
        shutil.copytree(src, out / package, ignore=ignore)
    for excluded in APP_EXCLUDES:
        shutil.rmtree(out / excluded, ignore_errors=True)
    _compile(out)
    return out


def _compile(tree: Path) -> None:
    # Hash-based pycs: valid whatever mtimes the zip round trip leaves behind.
    compileall.compile_dir(
        str(tree),
        quiet=2,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )


# ---- third-party dependency layer --------------------------------------------------------


def _uv() -> str:
    for candidate in (os.environ.get("UV"), str(ROOT / ".tools" / "bin" / "uv"), "uv"):
        if candidate and shutil.which(candidate):
            return str(shutil.which(candidate))
    raise BuildError("uv not found (set UV=/path/to/uv or run `make install`)")


def _require_build_python() -> None:
    want = tuple(int(p) for p in PYTHON_VERSION.split("."))
    if (
        sys.version_info[:2] != want
        or sys.implementation.name != "cpython"
        or platform.system() != "Linux"
        or platform.machine() != "x86_64"
    ):
        raise BuildError(
            f"the layer must be built by CPython {PYTHON_VERSION} on Linux x86_64 "
            f"(sdists are compiled for the Lambda runtime); this is {sys.version.split()[0]} "
            f"{platform.system()} {platform.machine()}: run it with .venv/bin/python"
        )


def _sha256(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint() -> dict[str, str]:
    return {
        "uv_lock_sha256": _sha256(ROOT / "uv.lock"),
        "build_script_sha256": _sha256(Path(__file__).resolve()),
        "python": PYTHON_VERSION,
        "platform": PLATFORM_TAG,
    }


def _split_requirements(text: str) -> tuple[str, str, list[str]]:
    """(wheel requirements, sdist requirements, names) from `uv export` output."""
    blocks = re.split(r"\n(?=\S)", text)
    wheels: list[str] = []
    sdists: list[str] = []
    names: list[str] = []
    for block in blocks:
        block = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        match = re.match(r"([A-Za-z0-9_.\-]+)==", block)
        if not match:
            continue
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        names.append(name)
        (sdists if name in SOURCE_BUILT else wheels).append(block)
    missing = SOURCE_BUILT - set(names)
    if missing:
        # Nothing to build from source any more: keep the list honest.
        print(f"note: {sorted(missing)} no longer in the lock", file=sys.stderr)
    return "\n".join(wheels) + "\n", "\n".join(sdists) + "\n", names


def build_deps(out: Path = DEPS_DIR) -> Path:
    _require_build_python()
    uv = _uv()
    BUILD.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="deps-", dir=BUILD))
    try:
        target = staging / "python"
        exported = subprocess.run(
            [uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header", *EXPORT],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        wheels, sdists, _ = _split_requirements(exported)
        wheel_reqs = staging / "requirements-wheels.txt"
        sdist_reqs = staging / "requirements-sdists.txt"
        wheel_reqs.write_text(wheels)
        sdist_reqs.write_text(sdists)
        platform_args = ["--python-version", PYTHON_VERSION, "--python-platform", PLATFORM_TAG]
        common = ["pip", "install", "--no-deps", "--require-hashes", "--target", str(target)]
        subprocess.run(
            [uv, *common, *platform_args, "--only-binary", ":all:", "-r", str(wheel_reqs)],
            cwd=ROOT,
            check=True,
        )
        if sdists.strip():
            # This interpreter is CPython 3.11 on Linux x86_64 (checked above); `check`
            # below proves the result loads on Amazon Linux 2.
            subprocess.run(
                [
                    uv,
                    *common,
                    "--python",
                    sys.executable,
                    "--no-binary",
                    ":all:",
                    "-r",
                    str(sdist_reqs),
                ],
                cwd=ROOT,
                check=True,
            )
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts for this host
        _compile(target)
        installed = sorted(p.name.split("-")[0] for p in target.glob("*.dist-info"))
        stamp = {**fingerprint(), "packages": ",".join(installed), "checked": "no"}
        (staging / ".build.json").write_text(json.dumps(stamp, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out


# ---- checks -----------------------------------------------------------------------------


def _elf_files(tree: Path) -> list[Path]:
    found = []
    for path in tree.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def check_elf(tree: Path) -> list[str]:
    """Problems with any native file in ``tree`` for Amazon Linux 2 x86_64."""
    if not shutil.which("readelf"):
        raise BuildError("readelf (binutils) is needed to check the layer's native files")
    problems: list[str] = []
    files = _elf_files(tree)
    bundled = {p.name for p in files}
    for path in files:
        rel = path.relative_to(tree)
        header = path.read_bytes()[:20]
        # EI_CLASS 2 = 64-bit, EI_DATA 1 = little endian, e_machine 62 = x86-64
        if header[4] != 2 or header[5] != 1 or int.from_bytes(header[18:20], "little") != 62:
            problems.append(f"{rel}: not an x86-64 ELF file")
            continue
        versions = subprocess.run(
            ["readelf", "--version-info", "--wide", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for lib, ver in re.findall(r"Name: (GLIBCXX|GLIBC|CXXABI)_([0-9.]+)", versions):
            if _version(ver) > MAX_SYMBOL_VERSIONS[lib]:
                problems.append(f"{rel}: needs {lib}_{ver} (Amazon Linux 2 has less)")
        dynamic = subprocess.run(
            ["readelf", "--dynamic", "--wide", str(path)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for needed in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic):
            if needed not in SYSTEM_LIBS and needed not in bundled:
                problems.append(f"{rel}: links {needed}, which Lambda does not provide")
    return problems


_SMOKE = r"""
import importlib, json, sys
app, layer, *modules = sys.argv[1:]
sys.path[:0] = [app, layer]  # Lambda: /var/task, then /opt/python
for name in modules:
    importlib.import_module(name)
from hdwallet import HDWallet
from hdwallet.cryptocurrencies import Ethereum
from hdwallet.derivations import CustomDerivation
from hdwallet.hds import BIP32HD
from hdwallet.mnemonics import BIP39Mnemonic
wallet = HDWallet(cryptocurrency=Ethereum, hd=BIP32HD, network="mainnet")
wallet.from_mnemonic(BIP39Mnemonic(mnemonic=sys.stdin.readline().strip()))
wallet.from_derivation(CustomDerivation(path="m/44'/60'/0'"))
xpub = wallet.xpublic_key()
child = HDWallet(cryptocurrency=Ethereum, hd=BIP32HD, network="mainnet")
child.from_xpublic_key(xpub)
child.from_derivation(CustomDerivation(path="m/0/0"))
import ed25519_blake2b, crcmod
roots = (app, layer, sys.base_prefix)
strays = sorted(
    n for n, m in list(sys.modules.items())
    if getattr(m, "__file__", None) and not m.__file__.startswith(roots)
)
print(json.dumps({"address": str(child.address()), "strays": strays,
                  "crcmod_native": sys.modules["crcmod.crcmod"]._usingExtension}))
"""


def _handler_modules() -> list[str]:
    return sorted(
        f"functions.{p.parent.name}.handler" for p in (ROOT / "functions").glob("*/handler.py")
    )


def smoke_test(app: Path, layer: Path) -> dict[str, object]:
    """Import every handler with nothing but the stdlib, the app and the layer on the
    path, in a Lambda-like environment (Powertools Tracer initialises X-Ray there)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "LAMBDA_TASK_ROOT": str(app),
        "AWS_LAMBDA_FUNCTION_NAME": "bscpay-layer-check",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{PYTHON_VERSION}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "layer-check",
        "POWERTOOLS_METRICS_NAMESPACE": "bscpay",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _SMOKE, str(app), str(layer), *_handler_modules()],
        input=TEST_MNEMONIC + "\n",
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BuildError("importing the handlers from app + layer failed:\n" + proc.stderr[-4000:])
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["address"] != TEST_ADDRESS_0:
        raise BuildError(f"HD derivation gave {result['address']}, expected {TEST_ADDRESS_0}")
    if result["strays"]:
        raise BuildError(f"modules loaded from outside app/layer/stdlib: {result['strays']}")
    return result


def check(app: Path = APP_DIR, deps: Path = DEPS_DIR) -> None:
    if not STAMP.is_file():
        raise BuildError(f"{deps} is not built: run `python layers/build.py deps`")
    stamp = json.loads(STAMP.read_text())
    problems = check_elf(deps / "python")
    if problems:
        raise BuildError("native files unfit for Lambda python3.11:\n  " + "\n  ".join(problems))
    result = smoke_test(app, deps / "python")
    stamp["checked"] = "yes"
    STAMP.write_text(json.dumps(stamp, indent=2) + "\n")
    size = sum(p.stat().st_size for p in (deps / "python").rglob("*") if p.is_file())
    print(
        f"layer ok: {len(_elf_files(deps / 'python'))} native files fit Amazon Linux 2, "
        f"{len(_handler_modules())} handlers import, address 0 = {result['address']}, "
        f"crcmod native = {result['crcmod_native']}, {size / 1e6:.0f} MB unzipped (limit 250)"
    )


def copy_deps(out: Path) -> None:
    """Hand the checked layer to CDK; refuse a missing, stale or unchecked one."""
    if not STAMP.is_file():
        raise BuildError(f"{DEPS_DIR} is missing: run `make layers` before deploying")
    stamp = json.loads(STAMP.read_text())
    current = fingerprint()
    stale = [k for k, v in current.items() if stamp.get(k) != v]
    if stale:
        raise BuildError(f"{DEPS_DIR} was built from another {', '.join(stale)}: run `make layers`")
    if stamp.get("checked") != "yes":
        raise BuildError(f"{DEPS_DIR} did not pass `python layers/build.py check`")
    shutil.copytree(DEPS_DIR / "python", out / "python", dirs_exist_ok=True, symlinks=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", nargs="?", default="all")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.step == "app":
            build_app(args.out or APP_DIR)
        elif args.step == "deps":
            build_deps()
        elif args.step == "check":
            check()
        elif args.step == "copy-deps":
            if args.out is None:
                parser.error("copy-deps needs --out")
            copy_deps(args.out)
        elif args.step == "all":
            build_app(APP_DIR)
            build_deps()
            check()
        else:
            parser.error(f"unknown step {args.step!r}")
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"layers/build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

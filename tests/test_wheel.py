"""The package as users install it: a wheel built from the repository, installed into a fresh
venv and run from a folder outside the repository (no PYTHONPATH, no editable install)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import posemix

pytestmark = pytest.mark.slow  # builds a wheel and runs the installed command 5 times

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "src" / "posemix" / "configs"
# the tests run with PYTHONPATH=src: the installed package must not see the checkout
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel --no-deps .`` of a copy of the repository (the build leaves no files in it)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(src)], check=True)
    (found,) = out.glob("posemix-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel; the test environment's dependencies (torch, numpy ...)
    are reached through a ``.pth`` line written after the install, so nothing is downloaded.
    That line adds the directory only: the test environment's editable posemix (a ``.pth``
    inside it) is not seen."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], check=True, capture_output=True, text=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, env=ENV)
    # after the install: pip would take the test environment's posemix for this one
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site.stdout.strip()) / "test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return root


def _posemix(venv: Path, cwd: Path, *args: str) -> str:
    done = subprocess.run([str(venv / "bin" / "posemix"), *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"posemix {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_holds_every_config_and_no_test_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packaged = {f"posemix/configs/{p.relative_to(PACKAGED).as_posix()}"
                for p in PACKAGED.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert packaged, "no packaged configs found"
    assert packaged <= names, sorted(packaged - names)
    # the metainfo files that built-in schema names (coco, aic, ...) are read from
    assert {"posemix/configs/_base_/datasets/coco.py",
            "posemix/configs/_base_/datasets/aic.py"} <= names
    assert not [n for n in names if n.startswith("tests/") or "/tests/" in n
                or n.endswith((".jpg", ".png", ".npz"))]


def test_installed_commands_run_outside_the_repository(venv, tmp_path):
    where = _posemix_python(venv, tmp_path, "import posemix; print(posemix.__file__)")
    assert Path(where).resolve().is_relative_to(venv.resolve()), where

    assert _posemix(venv, tmp_path, "--version").strip() == f"posemix {posemix.__version__}"

    out = _posemix(venv, tmp_path, "demo-data", "--out", "demo_data", "--images", "8",
                   "--val-images", "2", "--quiet", "--workers", "1")
    assert "coco-like 8 train + 2 val images" in out, out

    # the demo config named by its MMPose-style path, which does not exist beside the user:
    # it resolves to the packaged copy and reads the data generated above (demo_data/)
    assert not (tmp_path / "configs").exists()
    summary = json.loads(_posemix(venv, tmp_path, "inspect", "configs/demo/combine.py",
                                  "--json"))
    assert [(s["name"], s["images"]) for s in summary["sources"]] == [("coco", 8), ("aic", 8)]
    assert summary["sources"][0]["ann_file"] == "demo_data/coco-like/annotations/train.json"
    assert len(summary["schema"]["keypoints"]) == 19

    out = _posemix(venv, tmp_path, "union", "coco", "aic", "-o", "u.py")
    assert "19 keypoints" in out
    assert (tmp_path / "u.py").is_file()


def _posemix_python(venv: Path, cwd: Path, code: str) -> str:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=ENV,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()

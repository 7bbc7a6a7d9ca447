"""The npe2 manifest is valid and found from the installed package and from a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import npe2

ROOT = Path(__file__).resolve().parents[2]
TOP = ROOT / "napari.yaml"


def test_manifest_is_valid():
    manifest = npe2.PluginManifest.from_file(TOP)
    assert manifest.name == "mlarray"  # npe2 requires the distribution name
    ids = {c.id for c in manifest.contributions.commands}
    for cmd in ("get_reader", "write_image", "write_labels", "write_shapes", "write_layers", "save_as"):
        assert f"mlarray.{cmd}" in ids
    assert manifest.contributions.readers[0].filename_patterns == ["*.mla", "*.mla[?]*"]  # [?]: a URL query
    menus = manifest.contributions.menus
    assert [m.command for m in menus["napari/file/io_utilities"]] == ["mlarray.save_as"]
    npe2_cli = shutil.which("npe2")
    if npe2_cli:
        out = subprocess.run([npe2_cli, "validate", str(TOP)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


def test_manifest_commands_import():
    manifest = npe2.PluginManifest.from_file(TOP)
    for cmd in manifest.contributions.commands:
        module, _, attr = cmd.python_name.partition(":")
        mod = __import__(module, fromlist=[attr])
        assert callable(getattr(mod, attr)), cmd.python_name


def test_found_from_installed_distribution():
    """Editable (or regular) install: the entry point resolves to the package's napari.yaml."""
    manifest = npe2.PluginManifest.from_distribution("mlarray")
    assert manifest.name == "mlarray"
    packaged = resources.files("napari_mlarray") / "napari.yaml"
    assert packaged.read_text(encoding="utf-8") == TOP.read_text(encoding="utf-8")
    pm = npe2.PluginManager.instance()
    pm.discover()
    assert "mlarray" in pm._manifests


def test_wheel_contains_the_same_manifest(tmp_path):
    """Build a wheel from a copy of the project and check napari_mlarray/napari.yaml is in it."""
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(ROOT / "pyproject.toml", proj)
    shutil.copy(TOP, proj)
    shutil.copytree(ROOT / "src", proj / "src", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    readme = ROOT / "README.md"
    (proj / "README.md").write_text(readme.read_text(encoding="utf-8") if readme.exists() else "# mlarray\n")
    assert (proj / "src/napari_mlarray/napari.yaml").is_symlink()
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
                          str(tmp_path / "dist"), str(proj)], capture_output=True, text=True)
    if out.returncode != 0 and "No module named" in out.stderr + out.stdout:
        out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path / "dist"),
                              str(proj)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (whl,) = (tmp_path / "dist").glob("mlarray-*.whl")
    with zipfile.ZipFile(whl) as z:
        assert z.read("napari_mlarray/napari.yaml").decode() == TOP.read_text(encoding="utf-8")
        ep = next(n for n in z.namelist() if n.endswith("entry_points.txt"))
        assert "napari_mlarray:napari.yaml" in z.read(ep).decode()
        z.extractall(tmp_path / "site")
    # npe2 reads the manifest from the unpacked wheel like from an installed package
    manifest = npe2.PluginManifest.from_file(tmp_path / "site/napari_mlarray/napari.yaml")
    assert manifest.name == "mlarray"

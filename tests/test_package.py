"""Package metadata: one version, written once; the API reference builds from the docstrings."""

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mlarray

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_installed_distributions():
    # pyproject.toml reads src/mlarray/_version.py; a wheel or editable install must agree with it
    assert mlarray.__version__ == importlib.metadata.version("mlarray")
    assert mlarray.__version__[0].isdigit()


def _docstring(page: Path, anchor: str) -> str:
    """The rendered docstring of ``anchor`` (a class or function) on a pdoc page, as text."""
    text = page.read_text(encoding="utf-8")
    start = re.search(rf'<(?:section|div) id="{re.escape(anchor)}"', text)
    assert start is not None, f"{page.name} documents no {anchor}"
    doc = re.search(r'<div class="docstring">(.*?)</div>', text[start.end():], re.S)
    assert doc is not None, f"{anchor} has no docstring on {page.name}"
    return doc.group(1)


def test_api_reference_builds_from_the_numpydoc_docstrings(tmp_path):
    out = tmp_path / "api"
    env = dict(os.environ)
    env["VIRTUAL_ENV"] = sys.prefix  # scripts/env.sh: the environment running these tests builds the pages
    run = subprocess.run(["bash", str(ROOT / "scripts" / "build_api_docs.sh"), str(out)], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    pages = {"mlarray.MLArray": (out / "mlarray.html", "MLArray", ["array", "spacing", "meta"]),
             "mlarray.training.PatchSampler": (out / "mlarray" / "training.html", "PatchSampler",
                                               ["images", "labels", "patch_size"]),
             "napari_mlarray.window": (out / "napari_mlarray.html", "window", ["layer", "name"]),
             "napari_mlarray.orthogonal_views": (out / "napari_mlarray.html", "orthogonal_views",
                                                 ["viewer", "enabled"])}
    missing = []
    for what, (page, anchor, params) in pages.items():
        doc = _docstring(page, anchor)
        if '<h6 id="parameters">Parameters</h6>' not in doc:
            missing.append(f"{what}: no Parameters section")
        missing += [f"{what}: parameter {p} is not documented" for p in params if f"<strong>{p}</strong>" not in doc]
    assert not missing, missing


def _fenced_blocks(text):
    """(info string, body) of each fenced code block; an unclosed fence raises."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("```"):
            info, body, i = lines[i][3:].strip(), [], i + 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            assert i < len(lines), f"unclosed code fence: {info!r}"
            blocks.append((info, "\n".join(body)))
        i += 1
    return blocks


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))])
def test_docs_code_blocks_are_well_formed(doc):
    """A stray fence swallows the prose after it into a code block (the README had two); Python blocks parse."""
    import ast

    path = ROOT / doc if doc == "README.md" else ROOT / "docs" / doc
    for info, body in _fenced_blocks(path.read_text(encoding="utf-8")):
        assert body.strip(), f"{doc}: an empty code block (a stray ``` line)"
        if info == "python":
            ast.parse(body)


def test_readme_python_blocks_name_nothing_they_do_not_define():
    """Each README example runs as written when pasted alone: a block using a name it neither imports nor
    defines (the TorchIO example used ``tio`` without importing it) fails ruff's undefined-name check."""
    import subprocess
    import sys

    for info, body in _fenced_blocks((ROOT / "README.md").read_text(encoding="utf-8")):
        if info != "python":
            continue
        run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "F821",
                              "--stdin-filename", "readme_block.py", "-"], input=body, capture_output=True, text=True)
        assert run.returncode == 0, f"{run.stdout}\n{body}"

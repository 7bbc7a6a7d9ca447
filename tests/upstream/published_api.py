"""Measure how much of the published package's documented API this library provides.

The published sdist (fetched at test time, see test_published_suite.py) documents its API in
``docs/api.md`` (``::: mlarray.module.Name`` entries rendered from docstrings), its usage in
``docs/usage.md`` and ``docs/optimization.md`` (code blocks), its schema in ``docs/schema.md`` and its
commands in ``docs/cli.md``. This module turns those into checks against *this* library:

* every public class, method, property and keyword argument of the documented classes (read from
  the published source with ``ast``, nothing imported from it);
* every Python code block of the usage and optimization pages, run as a user would;
* every field of the schema tables, and the CLI names.

Run ``python tests/upstream/published_api.py`` for the figure; the test asserts it.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import os
import re
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from test_published_suite import PUBLISHED, _sdist  # noqa: E402

# Documented names this library deliberately does not provide (none today).
NOT_PROVIDED: set[str] = set()


def _read(tar: tarfile.TarFile, name: str) -> str:
    return tar.extractfile(f"mlarray-{PUBLISHED}/{name}").read().decode()


def documented_members(tar: tarfile.TarFile) -> list[tuple[str, str, list[str]]]:
    """(module.Class, member, keyword names) for every public member of the api.md classes."""
    api = _read(tar, "docs/api.md")
    targets = re.findall(r"^::: mlarray\.(\w+)\.(\w+)", api, flags=re.M)
    sources = {mod: ast.parse(_read(tar, f"mlarray/{mod}.py")) for mod in {m for m, _ in targets}}
    out = []
    for mod, cls in targets:
        node = next(n for n in ast.walk(sources[mod]) if isinstance(n, ast.ClassDef) and n.name == cls)
        out.append((f"{mod}.{cls}", "", []))
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and (not item.name.startswith("_") or item.name in (
                    "__init__", "__getitem__", "__setitem__", "__len__", "__iter__", "__array__", "__bool__")):
                args = [a.arg for a in item.args.args + item.args.kwonlyargs if a.arg not in ("self", "cls")]
                out.append((f"{mod}.{cls}", item.name, args))
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) \
                    and not item.target.id.startswith("_"):
                out.append((f"{mod}.{cls}", item.target.id, []))
            elif isinstance(item, ast.Assign):
                for t in item.targets:
                    if isinstance(t, ast.Name) and not t.id.startswith("_") and t.id[0].isupper():
                        out.append((f"{mod}.{cls}", t.id, []))
    return out


def check_member(qual: str, member: str, args: list[str]) -> str | None:
    """None if provided, else what is missing."""
    import importlib

    mod, cls = qual.split(".")
    try:
        obj = getattr(importlib.import_module(f"mlarray.{mod}"), cls)
    except (ImportError, AttributeError):
        return f"mlarray.{mod}.{cls} is missing"
    if not member:
        return None
    if cls.startswith("Meta") and not hasattr(obj, member) and member in getattr(obj, "_FIELDS", ()):
        return None
    try:
        if not hasattr(obj, member) and member not in _instance_fields(obj):
            return f"{qual}.{member} is missing"
    except Exception as exc:  # noqa: BLE001
        return f"{qual}.{member}: {exc}"
    attr = getattr(obj, member, None)
    if callable(attr) and args:
        try:
            params = inspect.signature(attr).parameters
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return None
        missing = [a for a in args if a not in params]
        if missing:
            return f"{qual}.{member} lacks argument(s) {missing}"
    return None


def _instance_fields(cls) -> set:
    try:
        inst = cls()
    except Exception:  # noqa: BLE001
        return set()
    names = set(dir(inst))
    key = getattr(cls, "_KEY", None)
    return names | ({key} if key else set())


def doc_code_blocks(tar: tarfile.TarFile) -> list[tuple[str, str]]:
    blocks = []
    for page in ("docs/usage.md", "docs/optimization.md"):
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", _read(tar, page), flags=re.S)):
            blocks.append((f"{page}#{i + 1}", code))
    return blocks


def run_block(code: str, workdir: str) -> str | None:
    import numpy as np

    from mlarray import MLArray

    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        if not os.path.exists("sample.mla"):  # the pages read a sample written by their first example
            MLArray(np.random.random((32, 64, 64)).astype(np.float32)).save("sample.mla")
        code = code.replace("(128, 256, 256)", "(16, 32, 32)").replace("(64, 128, 128)", "(16, 32, 32)")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<doc>", "exec"), {"__name__": "__doc__"})  # noqa: S102 - the published docs
        return None
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
    finally:
        os.chdir(cwd)


def schema_fields(tar: tarfile.TarFile) -> list[tuple[str, str]]:
    """(section, field) rows of the schema tables."""
    text = _read(tar, "docs/schema.md")
    out, section = [], None
    for line in text.splitlines():
        m = re.match(r"^#{2,4} (\w+)", line)
        if m:
            section = m.group(1)
        row = re.match(r"^\| (\w+)\s+\|", line)
        if row and row.group(1) not in ("field", "value") and section:
            out.append((section, row.group(1)))
    return out


def check_schema(section: str, field: str) -> str | None:
    try:
        from mlarray import Meta
        from mlarray import meta as meta_module
    except ImportError as exc:
        return str(exc)
    enums = {"AxisLabel": "AxisLabel", "CoordSystem": "CoordSystem"}
    if section in enums:
        enum = getattr(meta_module, enums[section], None)
        return None if enum is not None and field in enum.__members__ else f"{section}.{field} missing"
    if section == "is_seg":
        cls = getattr(meta_module, "MetaIsSeg", None)
        return None if cls is not None and hasattr(cls(), field) else f"MetaIsSeg.{field} missing"
    target = getattr(Meta(), section, None)
    if target is None:
        return f"no namespace {section}"
    return None if hasattr(target, field) else f"{section}.{field} missing"


def measure() -> dict:
    results: dict[str, dict] = {}
    with tarfile.open(_sdist()) as tar:
        for qual, member, args in documented_members(tar):
            results[f"api {qual}.{member}" if member else f"api {qual}"] = {"missing": check_member(qual, member, args)}
        with tempfile.TemporaryDirectory() as tmp:
            for name, code in doc_code_blocks(tar):
                results[f"example {name}"] = {"missing": run_block(code, tmp)}
        for section, field in schema_fields(tar):
            results[f"schema {section}.{field}"] = {"missing": check_schema(section, field)}
    import mlarray.cli as cli

    for name, fn in (("mlarray_header", "header_main"), ("mlarray_convert", "convert_main")):
        results[f"cli {name}"] = {"missing": None if callable(getattr(cli, fn, None)) else "missing"}
    return results


def main() -> None:
    results = measure()
    missing = {k: v["missing"] for k, v in results.items() if v["missing"]}
    print(f"published mlarray {PUBLISHED} documented API: {len(results) - len(missing)} of {len(results)} provided")
    for k, why in sorted(missing.items()):
        print(f"  not provided: {k}: {why}")


if __name__ == "__main__":
    main()

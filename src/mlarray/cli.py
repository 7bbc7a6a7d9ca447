"""The ``mlarray`` command: info, convert, validate, stats, demo (plus the published package's aliases)."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import shutil
import sys
import warnings
from concurrent.futures import as_completed
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TextIO, Union

from . import remote
from ._array import MLArray
from ._errors import MLArrayError
from ._file.resume import existing_output_problem
from ._metadata.validate import validate
from ._published import cli_api as _compat
from ._published.cli_api import cli_print_header, header_to_source_meta, print_header
from ._remote import absolute, named_path
from ._untrusted.term import printable
from .convert._bridge import check_local_output, companion_outputs, convert_file, output_name
from .convert._orient import parse_orientation
from .convert._record import ConversionError
from .convert.formats import registry
from .dataset_stats import (
    dataset_stats,
    find_mla_files,
    foreground_images,
    foreground_stats,
    format_report,
    pair_images_and_labels,
)
from .demo import run_demo
from .parallel import executor, one_core_per_worker

__all__ = ["main", "header_main", "convert_main", "print_header", "convert_to_mlarray", "convert_from_mlarray",
           "convert_image", "cli_print_header", "cli_convert_to_mlarray", "MedVol"]

# The published package's reader/writer for its Python conversion functions (see _published.cli_api):
# None means the ``medvol`` package's class, imported when first needed. Tests may set a stand-in, which
# the functions below pass on (read at call time, so patching ``mlarray.cli.MedVol`` works).
MedVol = None
_header_to_source_meta = header_to_source_meta  # the published package's name

# ``--patch-size``: "default", None (no patching), one edge length for every axis, or one per axis
_PatchSize = Union[str, int, Sequence[int], None]


def convert_to_mlarray(load_filepath: Union[str, Path], save_filepath: Union[str, Path]) -> None:
    """NIfTI/NRRD -> ``.mla`` the published way (MedVol's RAS+ array); see :mod:`mlarray._published.cli_api`."""
    _compat.convert_to_mlarray(load_filepath, save_filepath, medvol=MedVol)


def convert_from_mlarray(load_filepath: Union[str, Path], save_filepath: Union[str, Path]) -> None:
    """``.mla`` -> NIfTI/NRRD the published way (through MedVol)."""
    _compat.convert_from_mlarray(load_filepath, save_filepath, medvol=MedVol)


def convert_image(load_filepath: Union[str, Path], save_filepath: Union[str, Path]) -> None:
    """NIfTI/NRRD -> ``.mla`` or back, chosen by the file names (the published package's function)."""
    _compat.convert_image(load_filepath, save_filepath, medvol=MedVol)


def cli_convert_to_mlarray(argv: Optional[Sequence[str]] = None) -> None:
    """The published package's ``mlarray_convert`` entry point."""
    _compat.cli_convert_to_mlarray(argv, medvol=MedVol)


# ----------------------------------------------------------------------------- info

def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def describe(path: str) -> dict:
    """Everything ``mlarray info`` shows; reads the header only (no pixel data)."""
    img = MLArray.open(path, mmap_mode="r")
    meta = img.meta
    size = remote.file_size(path) if remote.is_url(path) else os.path.getsize(path)
    out = {"file": path, "file_size": size, "meta": meta.to_mapping()}
    shape = img.shape
    if meta.has_array and shape is not None:
        out["shape"] = list(shape)
        out["dtype"] = str(img.dtype)
        out["uncompressed_size"] = int(img.levels[0].nbytes)
        out["levels"] = [{"level": lv.level, "shape": list(lv.shape), "scale": list(lv.scale)} for lv in img.levels]
    return out


def _print_info(d: dict) -> None:
    m = d["meta"]
    sp = m.get("spatial", {})
    rows = [("file", d["file"]),
            ("format", f"MLArray v{m.get('format_version')} ({m.get('writer', 'unknown writer')})")]
    if "shape" in d:
        ratio = d["uncompressed_size"] / max(d["file_size"], 1)
        rows += [("shape", " x ".join(map(str, d["shape"]))), ("dtype", d["dtype"]),
                 ("size", f"{_human_bytes(d['file_size'])} on disk, {_human_bytes(d['uncompressed_size'])} raw "
                          f"({ratio:.1f}x)")]
    else:
        rows.append(("array", "none (metadata-only file)"))
    for key in ("spacing", "origin", "axis_labels", "axis_units", "coord_system"):
        if key in sp:
            rows.append((key, str(sp[key])))
    if "direction" in sp:
        rows.append(("direction", str(sp["direction"])))
    if m.get("is_seg") is not None:
        rows.append(("is_seg", str(m["is_seg"])))
    if m.get("classes"):
        rows.append(("classes", ", ".join(f"{c['id']}={c['name']}" for c in m["classes"])))
    st = m.get("stats", {})
    if st:
        pct = st.get("percentiles", {})
        rows.append(("stats", f"min {st.get('min')}, max {st.get('max')}, mean {_fmt(st.get('mean'))}, "
                              f"std {_fmt(st.get('std'))}, p0.5 {_fmt(pct.get('0.5'))}, p99.5 {_fmt(pct.get('99.5'))}"))
    bb = m.get("bbox", {})
    if bb.get("bboxes"):
        rows.append(("boxes", f"{len(bb['bboxes'])} (labels: {sorted(set(map(str, bb.get('labels') or [])))})"))
    lay = m.get("blosc2", {})
    if lay:
        rows.append(("layout", f"chunks {lay.get('chunk_size')}, blocks {lay.get('block_size')}, "
                               f"patch {lay.get('patch_size')}, {lay.get('codec')} clevel {lay.get('clevel')} "
                               f"{'+'.join(lay.get('filters') or [])}"))
    for lv in d.get("levels", [])[1:]:
        rows.append((f"level {lv['level']}", f"{' x '.join(map(str, lv['shape']))} (scale {lv['scale']})"))
    if m.get("source_format"):
        rows.append(("source format", m["source_format"]))
    if m.get("source"):
        rows.append(("source", f"{len(m['source'])} header fields (use --json to see them)"))
    if m.get("extra"):
        rows.append(("extra", json.dumps(m["extra"])[:200]))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:  # values come from the file: escaped, so they cannot drive the terminal
        print(f"{printable(k):<{width}}  {printable(v)}")


def _fmt(v: Optional[float]) -> str:
    return "None" if v is None else f"{v:.6g}"


def _error(command: str, exc: BaseException, path: Optional[str] = None) -> None:
    """One escaped line on stderr for a failure a file caused (never a traceback)."""
    text = str(exc) if isinstance(exc, (MLArrayError, OSError)) else f"{type(exc).__name__}: {exc}"
    if path is not None and path not in text:
        text = f"{path}: {text}"
    text = printable(text)
    if len(text) > _MAX_ERROR:  # a message quoting a crafted value (a 100,000-entry shape) stays readable
        text = text[:_MAX_ERROR] + f"... ({len(text) - _MAX_ERROR:,} more characters)"
    print(f"mlarray {command}: {text}", file=sys.stderr)


_MAX_ERROR = 2000


def _not_mla(command: str, path: str) -> bool:
    """Whether ``path`` names no ``.mla`` file; if so, says how to make one (info and validate read only .mla)."""
    if named_path(path).lower().endswith(".mla"):
        return False
    print(f"mlarray {command}: {printable(path)}: not an .mla file; convert it first: "
          f"mlarray convert {printable(path)} OUT.mla", file=sys.stderr)
    return True


def cmd_info(args: argparse.Namespace) -> int:
    status = 0
    for path in args.files:
        if _not_mla("info", path):
            status = 1
            continue
        try:
            d = describe(path)
        except Exception as exc:  # noqa: BLE001 - one line per file, whatever the file did
            _error("info", exc, path)
            status = 1
            continue
        if args.json:
            print(json.dumps(d, indent=2))
        else:
            _print_info(d)
    return status


# ----------------------------------------------------------------------------- validate

def cmd_validate(args: argparse.Namespace) -> int:
    worst = 0
    for path in args.files:
        if _not_mla("validate", path):
            worst = 1
            continue
        try:
            problems = validate(path, isolated=True)  # a damaged file must not take the command down
        except Exception as exc:  # noqa: BLE001
            _error("validate", exc, path)
            worst = 1
            continue
        errors = [p for p in problems if p.severity == "error"]
        if args.json:
            print(json.dumps({"file": path, "problems": [p.to_dict() for p in problems]}))
        else:
            counts = f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)"
            print(f"{printable(path)}: {'OK' if not problems else counts}")
            for p in problems:
                print(f"  {printable(p)}")
        if errors:
            worst = 1
    return worst


# ----------------------------------------------------------------------------- convert

def _expand_sources(sources: Sequence[str], one_output: bool = False) -> list[str]:
    """The images to convert. A folder that is not one image is a batch of the images in it, unless
    ``one_output`` (one source, an output file named): then it is read as one image (a study folder of
    series folders gives its largest series)."""
    out: list[str] = []
    for s in sources:
        if not remote.is_url(s) and any(c in s for c in "*?["):  # a URL's "?" starts its query
            matches = sorted(glob.glob(s))
            if not matches:
                raise FileNotFoundError(f"no file matches {s!r}")
            out += matches
        elif os.path.isdir(s) and registry.is_image_folder(s) is None and not one_output:  # a folder of images
            out += registry.scan_folder(s)
        else:
            out.append(s)
    return out


def _plan(sources: list[str], dst: str, to_suffix: Optional[str]) -> list[tuple[str, str]]:
    many = len(sources) > 1
    if to_suffix and to_suffix.lower().strip(".") in ("dicom", "dcm"):  # one series folder per .mla
        os.makedirs(dst, exist_ok=True)
        return [(s, os.path.join(dst, output_name(s, "")) + os.sep) for s in sources]
    if (not many and registry.MLA.matches(named_path(sources[0])) and (os.path.isdir(dst) or dst.endswith(os.sep))
            and not to_suffix and not registry.is_store(dst)):
        return [(sources[0], dst if dst.endswith(os.sep) else dst + os.sep)]  # .mla -> DICOM series folder
    if many or ((os.path.isdir(dst) or dst.endswith(os.sep)) and not registry.is_store(dst)):  # a store: one output
        os.makedirs(dst, exist_ok=True)
        suffix = to_suffix or ".mla"
        mla_to = to_suffix or ".nii.gz"
        pairs = [(s, os.path.join(dst, output_name(s, mla_to if registry.MLA.matches(named_path(s)) else suffix)))
                 for s in sources]
        return _distinct_outputs(pairs)
    return [(sources[0], dst)]


def _distinct_outputs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``scan.mha`` and ``scan.mhd`` in one folder would both become ``scan.mla``: such outputs
    keep the source's extension in their name (``scan_mha.mla``) instead of overwriting each other."""
    from collections import Counter

    counts = Counter(d for _, d in pairs)
    out = []
    for s, d in pairs:
        if counts[d] > 1:
            folder, name = os.path.split(d)
            stem = registry.strip_extension(name)
            ext = name[len(stem):]
            tail = os.path.basename(s.rstrip("/"))[len(stem):].strip(".").replace(".", "_")
            d = os.path.join(folder, f"{stem}_{tail or 'dir'}{ext}")
        out.append((s, d))
    return out


def _convert_one(src: str, dst: str, patch_size: _PatchSize, seg: Optional[bool],
                 progress: Optional[Callable[[int, int], None]] = None, single_thread: bool = False,
                 orient: Optional[str] = None, reference: Optional[str] = None,
                 write_kw: Optional[dict] = None, series_uid: Optional[str] = None) -> tuple[str, str, Optional[str]]:
    if single_thread:  # a pool or cluster worker: one conversion per core
        one_core_per_worker()

    try:
        with _plain_warnings():  # also in a worker process, which main() did not set up
            convert_file(src, dst, patch_size=patch_size, seg=seg, progress=progress, orient=orient,
                         reference=reference, series_uid=series_uid, **(write_kw or {}))
        return src, dst, None
    except Exception as exc:  # one bad file never stops the batch
        return src, dst, f"{type(exc).__name__}: {exc}"


def _one_line_warning(message: Union[Warning, str], category: type[Warning], filename: str, lineno: int,
                      file: Optional[TextIO] = None, line: Optional[str] = None) -> None:
    """A warning as the command's user needs it: what happened and what to do, on one escaped line.

    Python's default shows our source file, line number and code line, which mean nothing to them."""
    text = " ".join(str(message).split())
    print(f"mlarray: warning: {printable(text)}", file=sys.stderr if file is None else file)


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning
        yield


def run_batch(pairs: list[tuple[str, str]], *, patch_size: _PatchSize = "default", seg: Optional[bool] = None,
              jobs: int = 1,
              scheduler: Optional[str] = None, quiet: bool = False, orient: Optional[str] = None,
              reference: Optional[str] = None, write_kw: Optional[dict] = None,
              series_uid: Optional[str] = None) -> list[tuple[str, str, Optional[str]]]:
    """Convert every (src, dst) pair; returns (src, dst, error-or-None) for each.

    ``jobs=N`` runs N local processes; ``scheduler`` (a ``dask.distributed`` address, ``Client`` or
    ``LocalCluster``) runs the same tasks on a cluster. Both go through one executor loop. Paths are
    made absolute before they are shipped (workers need not share our working directory; URLs stay URLs). A task
    whose worker dies counts as a failure of that file only, and any temporary output it left
    beside the target is removed: outputs appear whole (atomic rename) or not at all.
    """
    results: list[tuple[str, str, Optional[str]]] = []
    total = len(pairs)

    def report(r: tuple[str, str, Optional[str]]) -> None:
        results.append(r)
        if not quiet:
            src, dst, err = r
            print(f"[{len(results)}/{total}] {'FAILED' if err else 'ok':6} {printable(src)}", file=sys.stderr)
            if not err:  # label images that came with the source are written beside the output: name them
                for extra in companion_outputs(src, dst):
                    print(f"{'':{len(str(total)) * 2 + 3}} wrote  {printable(extra)}", file=sys.stderr)

    with executor(jobs if total > 1 else 1, scheduler) as ex:
        if ex is None:
            for s, d in pairs:
                bar = None if quiet or total > 1 else _ProgressLine(os.path.basename(d))
                report(_convert_one(s, d, patch_size, seg, bar, orient=orient, reference=reference,
                                    write_kw=write_kw, series_uid=series_uid))
                if bar:
                    bar.done()
            return results
        ref = absolute(reference) if reference else None
        futures = {ex.submit(_convert_one, absolute(s), os.path.abspath(d) + (os.sep if d.endswith(os.sep) else ""),
                             patch_size, seg, None, True, orient, ref, write_kw, series_uid): (s, d)
                   for s, d in pairs}
        for fut in as_completed(futures):
            s, d = futures[fut]
            try:
                err = fut.result()[2]
            except Exception as exc:  # the worker died (BrokenProcessPool, KilledWorker, ...)
                err = f"{type(exc).__name__}: {exc}"
                _remove_partials(d)
            report((s, d, err))
    return results


def _remove_partials(dst: str) -> None:
    """Delete temporary outputs (``.<name>.<random>.partial<ext>``) a killed writer left beside ``dst``."""
    folder, name = os.path.split(os.path.abspath(dst))
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.partial*")):
        try:
            if os.path.isdir(tmp) and not os.path.islink(tmp):  # MetaImage and OME-Zarr scratch folders
                shutil.rmtree(tmp)
            else:
                os.unlink(tmp)
        except OSError:
            pass


class _ProgressLine:
    """One self-updating stderr line for a single large conversion (copy, statistics, pyramid)."""

    def __init__(self, name: str) -> None:
        self.name, self.last = name, -1

    def __call__(self, done: int, total: int) -> None:
        pct = int(100 * done / total) if total else 100
        if pct != self.last and sys.stderr.isatty():
            self.last = pct
            print(f"\r  writing {self.name}: {pct:3d}%", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.last >= 0:
            print(file=sys.stderr)


def _patch_size_arg(text: str) -> _PatchSize:
    if text in ("default", "none", "None"):
        return "default" if text == "default" else None
    parts = [int(p) for p in text.split(",")]
    return parts[0] if len(parts) == 1 else parts


def cmd_convert(args: argparse.Namespace) -> int:
    if args.list_formats:
        return _list_formats(args.json)
    if len(args.paths) < 2:
        print("mlarray convert: give at least one source and a destination", file=sys.stderr)
        return 2
    *sources, dst = args.paths
    try:  # an output the batch could never write is an argument error: said once, before any file is read
        check_local_output(dst)
    except ConversionError as exc:
        print(f"mlarray convert: {printable(str(exc))}", file=sys.stderr)
        return 2
    try:
        sources = _expand_sources(sources, one_output=len(sources) == 1 and not args.to
                                  and registry.names_one_output(dst))
    except FileNotFoundError as exc:
        print(f"mlarray convert: {exc}", file=sys.stderr)
        return 2
    if not sources:
        print("mlarray convert: no convertible files found", file=sys.stderr)
        return 2
    if args.orient:
        try:
            parse_orientation(args.orient)
        except ValueError as exc:
            print(f"mlarray convert: --orient {exc}", file=sys.stderr)
            return 2
    pairs = _plan(sources, dst, args.to)
    pairs, skipped, blocked = _existing_outputs(pairs, args.overwrite, args.quiet)
    write_kw = {k: v for k, v in (("labels", args.labels), ("ngff_version", args.ngff_version),
                                   ("deidentify", args.deidentify)) if v}
    results = run_batch(pairs, patch_size=args.patch_size, seg=True if args.seg else None, jobs=args.jobs,
                        scheduler=args.scheduler, quiet=args.quiet, orient=args.orient, reference=args.reference,
                        write_kw=write_kw, series_uid=args.series_uid) if pairs else []
    results += blocked
    failed = [r for r in results if r[2]]
    summary = f"converted {len(results) - len(failed)} of {len(results) + len(skipped)} file(s)"
    if skipped:
        summary += (f"; skipped {len(skipped)} whose output exists and is valid (--overwrite converts them again)")
    print(summary, file=sys.stderr)
    for src, _, err in failed:
        print(f"  failed: {printable(src)}: {printable(err)}", file=sys.stderr)
    return 1 if failed else 0


def _existing_outputs(pairs: list, overwrite: bool, quiet: bool) -> tuple[list, list, list]:
    """Split off pairs whose output exists: skipped when complete and valid, a failure when not
    (never replaced without ``--overwrite``). Returns (to convert, skipped, refused results)."""
    if overwrite:
        return pairs, [], []
    todo, skipped, blocked = [], [], []
    for src, dst in pairs:
        if dst.endswith(os.sep) or not os.path.lexists(dst):  # a DICOM series folder: only into a new/empty one
            todo.append((src, dst))
            continue
        problem = existing_output_problem(dst)
        if problem is None:
            skipped.append((src, dst))
            if not quiet:
                print(f"skipped {printable(src)}: {printable(dst)} exists and is valid", file=sys.stderr)
        else:
            blocked.append((src, dst, f"the output {dst} exists but is not valid ({problem}); "
                                      "pass --overwrite to replace it"))
    return todo, skipped, blocked


def _list_formats(as_json: bool) -> int:
    rows = registry.list_formats()
    print(json.dumps(rows, indent=2) if as_json else "\n".join(registry.format_lines(rows)))
    return 0


# ----------------------------------------------------------------------------- stats

def cmd_stats(args: argparse.Namespace) -> int:
    missing = [p for p in args.paths if not (os.path.exists(p) or remote.is_url(p))]
    if missing:
        print(f"mlarray stats: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    report = dataset_stats(args.paths, jobs=args.jobs, scheduler=args.scheduler,
                           method="stored" if args.fast else "histogram")
    if report["files"] == 0:
        print("mlarray stats: no .mla files found", file=sys.stderr)
        return 2
    if args.foreground:
        try:
            pairs = pair_images_and_labels(foreground_images(args.paths), find_mla_files(args.foreground))
            report["foreground_intensity_properties_per_channel"] = foreground_stats(
                pairs, jobs=args.jobs, scheduler=args.scheduler, failed=report["failed"])
        except ValueError as exc:
            print(f"mlarray stats: {exc}", file=sys.stderr)
            return 2
    print(json.dumps(report, indent=2) if args.json else "\n".join(map(printable, format_report(report).split("\n"))))
    return 1 if report["failed"] else 0


# ----------------------------------------------------------------------------- demo

def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(args.dir, show=not args.no_viewer, size=args.size)


# ----------------------------------------------------------------------------- entry points

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlarray", description="MLArray (.mla) files: inspect, convert, validate.")
    sub = p.add_subparsers(dest="command", required=True)
    i = sub.add_parser("info", help="show metadata, layout, levels and sizes (reads no pixel data)")
    i.add_argument("files", nargs="+")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=cmd_info)
    c = sub.add_parser("convert", help="convert NIfTI/NRRD/DICOM/TIFF/MetaImage/MGH/OME-Zarr/... to .mla and back "
                                       "(.mla -> folder/: DICOM)")
    c.add_argument("paths", nargs="*", metavar="SRC... DST")
    c.add_argument("--list-formats", action="store_true",
                   help="print what this installation reads and writes, and the extra that adds the rest")
    c.add_argument("--json", action="store_true", help="with --list-formats: machine-readable output")
    c.add_argument("--labels", action="append", default=None, metavar="SEG.mla",
                   help="for .mla -> OME-Zarr: a segmentation to store under labels/ (repeatable)")
    c.add_argument("--ngff-version", choices=("0.4", "0.5"), default=None,
                   help="for .mla -> OME-Zarr: NGFF version to write (default 0.5)")
    c.add_argument("--patch-size", type=_patch_size_arg, default="default",
                   help="training patch size for the layout: N, N,N,N, 'default' (192) or 'none'")
    c.add_argument("--seg", action="store_true", help="inputs are segmentations (integer labels, no scaling)")
    c.add_argument("--to", default=None,
                   help="output kind for .mla sources in batch mode: an extension (.nii.gz, .nrrd) or 'dicom'")
    c.add_argument("--orient", default=None, metavar="CODE",
                   help="reorient voxel axes, e.g. RAS+ (the published mlarray's NIfTI convention) or LPS; "
                        "default: keep the source's order so converting back is exact")
    c.add_argument("--reference", default=None, metavar="DICOM_DIR",
                   help="the DICOM series a segmentation belongs to (reading a DICOM SEG or writing one)")
    c.add_argument("--series-uid", default=None, metavar="UID",
                   help="for a DICOM folder holding several series: the SeriesInstanceUID to read "
                        "(default: the series with the most images, with a warning naming the others)")
    c.add_argument("--deidentify", action="store_true",
                   help="drop patient identifiers from the source header kept in the output (DICOM PS3.15 "
                        "Basic Profile attributes, private tags, UIDs, file names); by default it is kept whole")
    c.add_argument("--jobs", "-j", type=int, default=1, help="parallel processes")
    c.add_argument("--scheduler", default=None, help="dask.distributed scheduler address (runs the same batch)")
    c.add_argument("--quiet", "-q", action="store_true")
    c.add_argument("--overwrite", action="store_true",
                   help="replace outputs that exist (default: skip those that are complete and valid, so a "
                        "stopped batch resumes where it was)")
    c.set_defaults(func=cmd_convert)
    v = sub.add_parser("validate", help="report problems; exit 1 when any is an error")
    v.add_argument("files", nargs="+")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_validate)
    st = sub.add_parser("stats", help="dataset statistics: spacing, shapes, intensity percentiles, class frequencies")
    st.add_argument("paths", nargs="+", metavar="DIR_OR_FILE", help=".mla files or directories (searched recursively)")
    st.add_argument("--jobs", "-j", type=int, default=1, help="parallel processes")
    st.add_argument("--scheduler", default=None, help="dask.distributed scheduler address")
    st.add_argument("--fast", action="store_true",
                    help="percentiles from the stored per-file percentiles only (no pixel reads; approximate)")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--foreground", nargs="+", metavar="LABELS", default=None,
                    help="segmentations (files or directories) of the images: add intensity statistics of their "
                         "foreground voxels, as nnU-Net's fingerprint (foreground_intensity_properties_per_channel)")
    st.set_defaults(func=cmd_stats)
    d = sub.add_parser("demo", help="write the sample files and open them in napari")
    d.add_argument("--dir", default=None, help="where to write the sample files (default: a temp folder)")
    d.add_argument("--size", type=int, default=None, help="phantom edge length")
    d.add_argument("--no-viewer", action="store_true", help="only write the files")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with _plain_warnings():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"mlarray {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `mlarray info ... | head`
        return 1
    except Exception as exc:  # noqa: BLE001 - a file or argument the command could not handle: one line
        _error(args.command, exc)
        return 1


def header_main(argv: Optional[Sequence[str]] = None) -> int:
    """``mlarray_header FILE...``: the metadata as the published package printed it (sorted JSON of
    ``Meta.to_plain(include_none=True)``); ``mlarray info`` is the human view."""
    p = argparse.ArgumentParser(prog="mlarray_header", description="Print the MLArray metadata header as JSON.")
    p.add_argument("files", nargs="+", metavar="FILE")
    status = 0
    for path in p.parse_args(argv).files:
        try:
            print_header(path)
        except (OSError, ValueError, RuntimeError) as exc:  # MLArrayError is a RuntimeError
            print(f"mlarray_header: {exc}", file=sys.stderr)
            status = 1
    return status


def convert_main(argv: Optional[Sequence[str]] = None) -> int:
    """``mlarray_convert SRC DST`` (published package): same as ``mlarray convert``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["convert", *argv])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Print the ITK agreement table of docs/conversion.md: ``python tests/convert/itk_table.py``.

For every case of ``itk_corpus``: convert to .mla and compare with ITK's reading of the
original (forward), then convert the .mla back to NIfTI, NRRD (and a DICOM series for DICOM
sources) and compare ITK's reading of that export with ITK's reading of the original.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from itk_corpus import CASES, REFERENCE_FIX  # noqa: E402
from itk_oracle import compare, itk_read, itk_view, mla_view  # noqa: E402

EXPORTS = (".nii.gz", ".nrrd", "dicom/")


def _problem(exc: Exception, folder) -> str:
    """The error in a table cell: the case's folder left out (its length depends on where pytest puts
    it, e.g. per xdist worker), so the message is cut at the same place on every run."""
    return f"{type(exc).__name__}: {str(exc).replace(str(folder), '<case>')[:120]}"


def measure(name: str, folder: Path, exports=EXPORTS) -> dict:
    from mlarray import MLArray
    from mlarray.convert._bridge import convert_file

    kind, make = CASES[name]
    src = make(folder)
    row = {"case": name, "kind": kind}
    try:
        ref = itk_view(itk_read(src))
    except Exception as exc:
        row["mla"] = {"problem": f"ITK cannot read the original ({str(exc).splitlines()[-1][:80]})"}
        return row
    if name in REFERENCE_FIX:
        ref = REFERENCE_FIX[name](src, folder, ref)
    mla = folder / "x.mla"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            convert_file(src, str(mla))
            row["mla"] = compare(ref, mla_view(MLArray.open(mla)))
        except Exception as exc:
            row["mla"] = {"problem": _problem(exc, folder)}
            return row
        for ext in exports:
            out = str(folder / "back") + ext  # "back/" for DICOM: a folder target
            try:
                written = convert_file(str(mla), out)
                if MLArray.open(mla).meta.is_seg and ext == "dicom/":
                    # ITK reads a SEG as bare frames; read it back as a label map like any SEG reader
                    from mlarray.convert.dicom import read_dicom_series

                    ct = folder / "ct"  # where the corpus keeps the series a synthetic SEG was drawn on
                    row[ext] = compare(ref, mla_view(read_dicom_series(written, reference=ct if ct.exists() else None)))
                else:
                    row[ext] = compare(ref, itk_view(itk_read(out)))
            except Exception as exc:
                row[ext] = {"problem": _problem(exc, folder)}
    return row


def cell(r: dict | None) -> str:
    if r is None:
        return "—"
    if r.get("problem"):
        return "fails: " + r["problem"]
    mm = r["max_mm"]
    mis = r["value_mismatch"]
    text = f"{mm:.1e} mm" if mm >= 1e-9 else "0 mm"
    if mis:
        text += f", {mis}/{r['voxels']} values differ"
    return text


def main() -> int:
    names = sys.argv[1:] or list(CASES)
    print("| file | kind | → .mla | → .mla → .nii.gz | → .mla → .nrrd | → .mla → DICOM |")
    print("|---|---|---|---|---|---|")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                r = measure(name, Path(tmp))
            except Exception:
                traceback.print_exc()
                r = {"case": name, "kind": "?", "mla": {"problem": "case could not be built"}}
        print(f"| {name} | {r['kind']} | {cell(r.get('mla'))} | {cell(r.get('.nii.gz'))} | "
              f"{cell(r.get('.nrrd'))} | {cell(r.get('dicom/'))} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

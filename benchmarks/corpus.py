"""The benchmark corpus: several data kinds, real volumes shipped in packages and synthetic ones.

Every entry is a list of cases (numpy arrays of one shape and dtype) plus how a loader reads it:
which axes are spatial (channels are read whole) and which patch shapes it draws. Real data comes
from packages on PyPI, so the corpus is the same on every machine (``pip install .[bench]``):

* nilearn's MNI152 2009 template (T1 and grey-matter map, 197x233x189 uint8, an MR brain) and the
  T1 z-scored to float32 the way nnU-Net normalises MR;
* pydicom-data's CR radiograph (RG1, 1955x1841 uint16), MR slice (MR2, 1024x1024 uint16) and a
  4D ultrasound cine (color3d, 120x480x640x3 uint8).

The synthetic ones are deliberately not ``mlarray.samples`` (the layout was once tuned on it):
CT-like int16 volumes built from smoothed random anatomy with spatially correlated noise of three
strengths, the middle one z-scored to float32 as nnU-Net preprocesses CT, a uint8 label map, a
4-channel MR series and an H&E-like RGB slide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Entry", "build_corpus", "patch_shapes", "ENTRY_NAMES"]

CT_SHAPE = (160, 256, 256)
CT_NOISE_HU = {"ct_noise5": 5.0, "ct_noise20": 20.0, "ct_noise60": 60.0}


@dataclass
class Entry:
    name: str
    kind: str  # what a reader should take it for (README table)
    cases: list = field(default_factory=list)
    channel_axes: tuple = ()  # non-spatial axes, read whole by every patch
    axis_labels: list | None = None  # for MLArray (channel axes marked as such)

    @property
    def shape(self):
        return self.cases[0].shape

    @property
    def dtype(self):
        return self.cases[0].dtype

    @property
    def spatial_axes(self) -> list[int]:
        return [a for a in range(len(self.shape)) if a not in self.channel_axes]


def patch_shapes(entry: Entry) -> dict[str, tuple]:
    """Patch shapes per class ("3D", "2D", "small"), over the spatial axes only, clipped to the data."""
    spatial = [entry.shape[a] for a in entry.spatial_axes]
    if len(spatial) == 3:
        wanted = {"3D 128^3": (128, 128, 128), "2D 1x192^2": (1, 192, 192), "small 8x64^2": (8, 64, 64)}
    else:
        wanted = {"2D 512^2": (512, 512), "2D 192^2": (192, 192), "small 64^2": (64, 64)}
    return {k: tuple(min(p, n) for p, n in zip(v, spatial)) for k, v in wanted.items()}


def build_corpus(names=None, cases: int = 2, seed: int = 0) -> list[Entry]:
    builders = {
        "ct_noise5": lambda: _ct_entry("ct_noise5", cases, seed),
        "ct_noise20": lambda: _ct_entry("ct_noise20", cases, seed),
        "ct_noise60": lambda: _ct_entry("ct_noise60", cases, seed),
        "ct_zscored_f32": lambda: _ct_zscored(cases, seed),
        "labels_u8": lambda: _labels(cases, seed),
        "mni_t1_u8": lambda: _mni("t1"),
        "mni_gm_u8": lambda: _mni("gm"),
        "mni_t1_zscored_f32": _mni_zscored,
        "cr_radiograph_u16": lambda: _dicom("cr_radiograph_u16", "RG1_UNCI.dcm", "CR radiograph (pydicom-data)"),
        "mr_slice_u16": lambda: _dicom("mr_slice_u16", "MR2_UNCI.dcm", "MR slice (pydicom-data)"),
        "us_cine_rgb": _us_cine,
        "mr_4ch_i16": lambda: _mr4(cases, seed),
        "slide_rgb": lambda: _slide(seed),
    }
    out = []
    for name in names or ENTRY_NAMES:
        out.append(builders[name]())
    return out


ENTRY_NAMES = ("ct_noise5", "ct_noise20", "ct_noise60", "ct_zscored_f32", "labels_u8", "mni_t1_u8", "mni_gm_u8",
               "mni_t1_zscored_f32", "cr_radiograph_u16", "mr_slice_u16", "us_cine_rgb", "mr_4ch_i16", "slide_rgb")


# ----------------------------------------------------------------------------- synthetic CT


def _anatomy(shape, seed: int):
    """(HU volume without noise, label map): body, fat, organs, lungs, bone, all with soft edges."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape), indexing="ij")
    hu = np.full(shape, -1000.0, np.float32)
    labels = np.zeros(shape, np.uint8)
    wobble = 0.06 * np.sin(3.0 * z + rng.uniform(0, 6)) + 0.04 * np.cos(5.0 * z + rng.uniform(0, 6))
    body = (x / (0.85 + wobble)) ** 2 + (y / (0.65 + wobble)) ** 2 < 1
    hu[body] = -100.0  # fat
    muscle = (x / (0.78 + wobble)) ** 2 + (y / (0.57 + wobble)) ** 2 < 1
    hu[muscle] = 45.0
    for label, (hu_value, count, size) in enumerate(((60.0, 2, 0.22), (35.0, 3, 0.12), (-850.0, 2, 0.25)), start=1):
        for _ in range(count):
            c = rng.uniform(-0.45, 0.45, 3) * (0.6, 1.0, 1.0)
            r = size * rng.uniform(0.7, 1.3, 3)
            blob = ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2 < 1
            blob &= muscle
            hu[blob] = hu_value + rng.normal(0, 8)
            labels[blob] = label
    spine = ((y - 0.42) / 0.09) ** 2 + (x / 0.08) ** 2 < 1
    hu[spine] = 700.0
    labels[spine] = 4
    hu = ndimage.gaussian_filter(hu, 1.2)  # partial volume at edges
    texture = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 4.0)
    hu += np.where(body, 60.0 * texture / max(float(texture.std()), 1e-6), 0.0)
    return hu, labels


def _correlated_noise(shape, sigma: float, rng) -> np.ndarray:
    from scipy import ndimage

    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), (0.4, 0.8, 0.8))
    return n * (sigma / max(float(n.std()), 1e-6))


def _ct_case(name: str, i: int, seed: int) -> np.ndarray:
    hu, _ = _anatomy(CT_SHAPE, seed * 1000 + i)
    rng = np.random.default_rng(seed * 1000 + i + 17)
    inside = hu > -950
    hu = hu + np.where(inside, _correlated_noise(CT_SHAPE, CT_NOISE_HU[name], rng), 0.0)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def _ct_entry(name: str, cases: int, seed: int) -> Entry:
    sigma = CT_NOISE_HU[name]
    return Entry(name, f"synthetic CT int16, noise {sigma:g} HU", [_ct_case(name, i, seed) for i in range(cases)])


def _zscore_ct(v: np.ndarray) -> np.ndarray:
    """nnU-Net's CT normalisation: clip to the foreground's 0.5-99.5 percentiles, then z-score."""
    fg = v[v > -950].astype(np.float64)
    lo, hi = np.percentile(fg, (0.5, 99.5))
    mean, std = fg.mean(), fg.std()
    return ((np.clip(v, lo, hi) - mean) / max(std, 1e-8)).astype(np.float32)


def _ct_zscored(cases: int, seed: int) -> Entry:
    return Entry("ct_zscored_f32", "synthetic CT z-scored float32 (nnU-Net CT norm.)",
                 [_zscore_ct(_ct_case("ct_noise20", i, seed)) for i in range(cases)])


def _labels(cases: int, seed: int) -> Entry:
    arrays = [_anatomy(CT_SHAPE, seed * 1000 + i)[1] for i in range(cases)]
    return Entry("labels_u8", "synthetic label map uint8", arrays)


def _mr4(cases: int, seed: int) -> Entry:
    """Four MR contrasts of one synthetic head-like volume (channel axis first, as nnU-Net stores)."""
    from scipy import ndimage

    out = []
    shape = (128, 160, 160)
    for i in range(cases):
        rng = np.random.default_rng(seed * 1000 + 500 + i)
        _, labels = _anatomy(shape, seed * 1000 + 500 + i)
        base = ndimage.gaussian_filter(labels.astype(np.float32), 1.0)
        chans = []
        for c, gain in enumerate((180.0, 120.0, 300.0, 90.0)):
            img = 200.0 + gain * base + 25.0 * ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 3)
            img += rng.normal(0, 12.0 + 4 * c, shape).astype(np.float32)
            chans.append(np.clip(img, 0, 4095))
        out.append(np.stack(chans).astype(np.int16))
    return Entry("mr_4ch_i16", "synthetic 4-channel MR int16 (C,Z,Y,X)", out, channel_axes=(0,),
                 axis_labels=["channel", "spatial_z", "spatial_y", "spatial_x"])


def _slide(seed: int) -> Entry:
    from mlarray.samples import slide_phantom_tile

    tile = slide_phantom_tile(0, 3072, 0, 3072, seed=seed, slide_shape=(3072, 3072))
    if tile.ndim == 2:
        tile = np.repeat(tile[..., None], 3, axis=-1)
    return Entry("slide_rgb", "H&E-like slide RGB uint8 (Y,X,3)", [np.ascontiguousarray(tile)], channel_axes=(2,),
                 axis_labels=["spatial_y", "spatial_x", "channel"])


# ----------------------------------------------------------------------------- real data from packages


def _mni(which: str) -> Entry:
    import nibabel as nib
    import nilearn

    name = {"t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
            "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"}[which]
    img = nib.load(os.path.join(os.path.dirname(nilearn.__file__), "datasets", "data", name))
    arr = np.ascontiguousarray(np.asanyarray(img.dataobj)).astype(img.get_data_dtype())
    kind = {"t1": "MNI152 T1 uint8 (nilearn)", "gm": "MNI152 grey-matter map uint8 (nilearn)"}[which]
    return Entry(f"mni_{which}_u8", kind, [arr])


def _mni_zscored() -> Entry:
    t1 = _mni("t1").cases[0].astype(np.float32)
    fg = t1[t1 > 0]
    return Entry("mni_t1_zscored_f32", "MNI152 T1 z-scored float32 (nnU-Net MR norm.)",
                 [((t1 - fg.mean()) / fg.std()).astype(np.float32)])


def _dicom(name: str, filename: str, kind: str) -> Entry:
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file(filename)
    if path is None:
        raise RuntimeError(f"{filename} is not installed: pip install pydicom-data")
    return Entry(name, kind, [np.ascontiguousarray(pydicom.dcmread(path).pixel_array)])


def _us_cine() -> Entry:
    entry = _dicom("us_cine_rgb", "color3d_jpeg_baseline.dcm", "US cine RGB uint8 (T,Y,X,3) (pydicom-data)")
    entry.channel_axes = (3,)
    entry.axis_labels = ["temporal", "spatial_y", "spatial_x", "channel"]
    return entry

"""MONAI reads ``.mla`` (optional extra: ``pip install 'mlarray[monai]'``).

    from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd, Spacingd
    from mlarray.monai import MLArrayReader, MLArrayPatchDataset

    load = Compose([LoadImaged(["image", "label"], reader=MLArrayReader()), EnsureChannelFirstd(["image", "label"]),
                    Orientationd(["image", "label"], axcodes="RAS"), Spacingd(["image", "label"], (1, 1, 1))])

    # or lazily, patch by patch (reads only the chunks under each patch):
    ds = MLArrayPatchDataset([{"image": "ct.mla", "label": "seg.mla"}], patch_size=(96, 96, 96), num_samples=500)

:class:`MLArrayReader` is a MONAI ``ImageReader`` with the layout and metadata keys of MONAI's
``NibabelReader`` (``affine`` and ``original_affine`` in RAS, ``pixdim``, ``original_pixdim``,
``spatial_shape``, ``original_channel_dim``, ``space``; ``LoadImage`` adds the file name).
Importing this module registers it with MONAI, so ``LoadImage()`` without ``reader=`` reads ``.mla``.
:class:`MLArrayPatchDataset` is a ``monai.data.Dataset`` of patch dicts over
:class:`mlarray.training.PatchSampler`, for a multi-worker ``monai.data.DataLoader``.

Geometry: the file's ``spatial.coord_system`` decides the conversion to RAS ("LPS", "RAS", "LPS+",
any anatomical code); files without an anatomical code keep their affine and are treated as RAS
(a warning says so when they carry an origin or direction).
"""

from __future__ import annotations

from mlarray.optpkg import optional_import

# MONAI needs torch but does not install it; name the extra that brings both before either import fails
optional_import("torch", feature="mlarray.monai (MONAI's reader and patch dataset)", extra="monai")
optional_import("monai", feature="mlarray.monai (MONAI's reader and patch dataset)", extra="monai")

from mlarray._frameworks.monai_patches import MLArrayPatchDataset  # noqa: E402
from mlarray._frameworks.monai_reader import MLArrayReader, register  # noqa: E402

__all__ = ["MLArrayReader", "MLArrayPatchDataset"]

register()

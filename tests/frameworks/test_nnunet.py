"""nnU-Net v2 end to end on a tiny synthetic dataset stored twice: as ``.mla`` (read by
``mlarray.nnunet.MLArrayIO``) and as NIfTI (read by nnU-Net's own SimpleITK reader).

Both copies hold the same voxels in the same array order (the NIfTI twin is written by SimpleITK
from the same numpy arrays, so SimpleITK's reversed axis order gives them back unchanged), so
fingerprint, plans, preprocessed arrays and predictions must agree exactly, not just roughly.
Geometry of the written predictions is checked against SimpleITK's reading of the NIfTI twin.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("nnunetv2", reason="install mlarray[nnunet]")
import SimpleITK as sitk  # noqa: E402  (an nnunetv2 dependency)

from mlarray import Meta, MLArray  # noqa: E402

MLA_ID, NII_ID = 811, 812
LABELS = {"background": 0, "liver": 1, "tumour": 2}
# (shape z, y, x; spacing z, y, x): anisotropic and different per case, so nnU-Net resamples
# spacings exact in float32 (NIfTI stores float32), so both copies carry identical numbers
CASES = [((14, 30, 28), (3.0, 0.75, 0.875)), ((12, 28, 30), (3.5, 0.8125, 0.9375)),
         ((16, 26, 26), (2.5, 0.875, 0.8125))]
DIRECTION = np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])  # array axis j -> LPS world (columns)


@pytest.fixture(scope="module")
def nnunet_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("nnunet")
    env = {k: str(root / k) for k in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")}
    for path in env.values():
        os.makedirs(path)
    env["nnUNet_def_n_proc"] = "1"
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # spawn workers inherit these
    import mlarray.nnunet

    mlarray.nnunet.install()  # what `python -m mlarray.nnunet install` (scripts/setup.sh) does; idempotent
    yield root, env
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _case(i: int):
    (shape, spacing) = CASES[i]
    rng = np.random.default_rng(i)
    z, y, x = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    centre = np.array(shape) / 2 + rng.uniform(-2, 2, 3)
    r = np.sqrt(((z - centre[0]) * spacing[0]) ** 2 + ((y - centre[1]) * spacing[1]) ** 2
                + ((x - centre[2]) * spacing[2]) ** 2)
    label = np.zeros(shape, np.uint8)
    label[r < 9] = 1
    label[r < 4] = 2
    image = (rng.normal(0, 25, shape) + np.where(label == 1, 80, 0) + np.where(label == 2, 140, 0) - 60)
    image[:, :2] = -1000  # air border: nnU-Net's nonzero crop and CT clipping both see it
    origin = rng.uniform(-50, 50, 3)
    return image.astype(np.int16), label, spacing, origin


def _sitk_image(array, spacing, origin):
    img = sitk.GetImageFromArray(array)  # numpy (z, y, x) -> ITK index (x, y, z)
    img.SetSpacing([float(s) for s in spacing[::-1]])
    img.SetOrigin([float(o) for o in origin])
    img.SetDirection(DIRECTION[:, ::-1].flatten().tolist())  # ITK column k is numpy axis 2 - k
    return img


def _mla(array, spacing, origin, **meta):
    return MLArray(array, spacing=spacing, origin=origin, direction=DIRECTION,
                   meta=Meta(spatial={"coord_system": "LPS"}, **meta))


def _dataset_json(ending: str, n: int, reader: str | None) -> dict:
    d = {"channel_names": {"0": "CT"}, "labels": LABELS, "numTraining": n, "file_ending": ending}
    if reader:
        d["overwrite_image_reader_writer"] = reader
    return d


@pytest.fixture(scope="module")
def raw(nnunet_env):
    root, env = nnunet_env
    folders = {}
    for did, ending in ((MLA_ID, ".mla"), (NII_ID, ".nii.gz")):
        base = os.path.join(env["nnUNet_raw"], f"Dataset{did}_Tiny{ending.strip('.').split('.')[0].title()}")
        for sub in ("imagesTr", "labelsTr", "imagesTs"):
            os.makedirs(os.path.join(base, sub))
        for i in range(len(CASES)):
            image, label, spacing, origin = _case(i)
            name = f"case{i:03d}"
            if ending == ".mla":
                _mla(image, spacing, origin).save(os.path.join(base, "imagesTr", f"{name}_0000.mla"))
                _mla(label, spacing, origin, is_seg=True, classes={1: "liver", 2: "tumour"}).save(
                    os.path.join(base, "labelsTr", f"{name}.mla"))
            else:
                sitk.WriteImage(_sitk_image(image, spacing, origin),
                                os.path.join(base, "imagesTr", f"{name}_0000.nii.gz"))
                sitk.WriteImage(_sitk_image(label, spacing, origin), os.path.join(base, "labelsTr", f"{name}.nii.gz"))
        # one test case to predict: case 0's image
        image, _, spacing, origin = _case(0)
        if ending == ".mla":
            _mla(image, spacing, origin).save(os.path.join(base, "imagesTs", "test000_0000.mla"))
        else:
            sitk.WriteImage(_sitk_image(image, spacing, origin), os.path.join(base, "imagesTs", "test000_0000.nii.gz"))
        with open(os.path.join(base, "dataset.json"), "w") as fh:
            json.dump(_dataset_json(ending, len(CASES), "MLArrayIO" if ending == ".mla" else None), fh)
        folders[ending] = base
    return folders


@pytest.fixture(scope="module")
def preprocessed(raw, nnunet_env):
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprint_dataset,
        plan_experiments,
        preprocess,
    )

    # nnU-Net's integrity check (image/label grids, label values) runs on the .mla copy only
    extract_fingerprint_dataset(MLA_ID, num_processes=1, check_dataset_integrity=True)
    extract_fingerprint_dataset(NII_ID, num_processes=1, check_dataset_integrity=False)
    plan_experiments([MLA_ID, NII_ID])
    preprocess([MLA_ID, NII_ID], configurations=("3d_fullres",), num_processes=(1,))
    _, env = nnunet_env
    out = {}
    for did in (MLA_ID, NII_ID):
        folder = next(p for p in os.scandir(env["nnUNet_preprocessed"]) if p.name.startswith(f"Dataset{did}_"))
        out[did] = folder.path
    return out


def _load(folder: str, name: str) -> dict:
    with open(os.path.join(folder, name)) as fh:
        return json.load(fh)


def test_fingerprints_agree_with_nifti(preprocessed):
    mla, nii = (_load(preprocessed[d], "dataset_fingerprint.json") for d in (MLA_ID, NII_ID))
    assert np.allclose(mla["spacings"], [c[1] for c in CASES])  # nnU-Net's convention: one per array axis
    assert mla["spacings"] == nii["spacings"]
    assert mla["shapes_after_crop"] == nii["shapes_after_crop"]
    assert mla["foreground_intensity_properties_per_channel"] == nii["foreground_intensity_properties_per_channel"]
    fg = mla["foreground_intensity_properties_per_channel"]["0"]
    assert 0 < fg["mean"] < 140 and fg["max"] > fg["percentile_99_5"] > fg["median"]
    assert mla["median_relative_size_after_cropping"] == nii["median_relative_size_after_cropping"]


def test_plans_agree_with_nifti(preprocessed):
    mla, nii = (_load(preprocessed[d], "nnUNetPlans.json") for d in (MLA_ID, NII_ID))
    assert mla["image_reader_writer"] == "MLArrayIO" and nii["image_reader_writer"] == "SimpleITKIO"
    for key in ("original_median_spacing_after_transp", "original_median_shape_after_transp", "transpose_forward",
                "foreground_intensity_properties_per_channel"):
        assert mla[key] == nii[key], key
    for name in ("2d", "3d_fullres"):
        a, b = mla["configurations"][name], nii["configurations"][name]
        for key in ("spacing", "patch_size", "median_image_size_in_voxels", "normalization_schemes", "batch_size"):
            assert a[key] == b[key], (name, key)


def test_preprocessed_cases_agree_with_nifti(preprocessed):
    from nnunetv2.training.dataloading.nnunet_dataset import infer_dataset_class

    folders = {d: os.path.join(preprocessed[d], "nnUNetPlans_3d_fullres") for d in (MLA_ID, NII_ID)}
    datasets = {d: infer_dataset_class(f)(f) for d, f in folders.items()}
    assert sorted(datasets[MLA_ID].identifiers) == sorted(datasets[NII_ID].identifiers) == \
        [f"case{i:03d}" for i in range(len(CASES))]
    for ident in datasets[MLA_ID].identifiers:
        data_a, seg_a, _, props_a = datasets[MLA_ID].load_case(ident)
        data_b, seg_b, _, props_b = datasets[NII_ID].load_case(ident)
        assert np.array_equal(np.asarray(data_a), np.asarray(data_b))
        assert np.array_equal(np.asarray(seg_a), np.asarray(seg_b))
        assert set(np.unique(np.asarray(seg_a)).tolist()) >= {0, 1, 2}
        for key in ("spacing", "shape_before_cropping", "bbox_used_for_cropping",
                    "shape_after_cropping_and_before_resampling"):
            assert np.allclose(np.asarray(props_a[key], float), np.asarray(props_b[key], float)), key


def _predictor(raw_folder: str, preprocessed_folder: str):
    """An nnU-Net predictor with an untrained network: seeded, so both copies get the same weights."""
    import torch
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans = PlansManager(_load(preprocessed_folder, "nnUNetPlans.json"))
    config = plans.get_configuration("3d_fullres")
    dataset_json = _load(raw_folder, "dataset.json")
    torch.manual_seed(0)
    net = nnUNetTrainer.build_network_architecture(plans, config, 1, len(LABELS), enable_deep_supervision=False)
    predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=False, device=torch.device("cpu"),
                                verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    predictor.manual_initialization(net, plans, config, [net.state_dict()], dataset_json, "nnUNetTrainer", None)
    return predictor


def test_prediction_reads_back_on_the_image_grid(raw, preprocessed, tmp_path):
    # .mla: nnU-Net's whole file path: reader in a worker, sliding window, export through the writer
    # in a spawn pool (which finds MLArrayIO by name through the installed hook)
    out = str(tmp_path / "pred")
    _predictor(raw[".mla"], preprocessed[MLA_ID]).predict_from_files(
        os.path.join(raw[".mla"], "imagesTs"), out, save_probabilities=False, overwrite=True,
        num_processes_preprocessing=1, num_processes_segmentation_export=1)
    pred = MLArray.open(os.path.join(out, "test000.mla"))
    image = MLArray.open(os.path.join(raw[".mla"], "imagesTs", "test000_0000.mla"))
    assert pred.shape == image.shape
    assert np.allclose(pred.affine, image.affine) and pred.meta.spatial.coord_system == "LPS"
    assert pred.meta.is_seg
    assert {c["id"]: c["name"] for c in pred.meta.classes} == {v: k for k, v in LABELS.items()}

    # the NIfTI twin through nnU-Net's SimpleITK reader, predicted in this process with the same weights
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    nii = os.path.join(raw[".nii.gz"], "imagesTs", "test000_0000.nii.gz")
    data, props = SimpleITKIO().read_images([nii])
    ref = _predictor(raw[".nii.gz"], preprocessed[NII_ID]).predict_single_npy_array(data, props)
    labels = pred.to_numpy()
    assert len(np.unique(labels)) > 1  # the untrained network still predicts more than one class
    assert np.array_equal(labels, ref)
    # and on SimpleITK's world grid of the NIfTI twin
    itk = sitk.ReadImage(nii)
    assert np.allclose(itk.GetSpacing()[::-1], pred.spacing)
    assert np.allclose(itk.GetOrigin(), pred.origin)
    assert np.allclose(np.reshape(itk.GetDirection(), (3, 3))[:, ::-1], pred.direction)

import numpy as np
import pytest

from mlarray import AffineError
from mlarray.affines import axis_directions, compose_affine, convert_coord_system, decompose_affine


def test_compose_decompose_round_trip_oblique():
    theta = np.deg2rad(17)
    d = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, -1]])
    aff = compose_affine([0.7, 0.9, 3.0], [1, 2, 3], d)
    s, o, dd = decompose_affine(aff)
    np.testing.assert_allclose(s, [0.7, 0.9, 3.0])
    np.testing.assert_allclose(o, [1, 2, 3])
    np.testing.assert_allclose(dd, d, atol=1e-12)


def test_shear_is_refused_with_remedy():
    aff = np.eye(4)
    aff[0, 1] = 0.5
    with pytest.raises(AffineError, match="shear.*resample"):
        decompose_affine(aff)


def test_ras_lps_conversion_flips_x_and_y():
    aff = compose_affine([1, 1, 1], [10, 20, 30], np.eye(3))
    lps = convert_coord_system(aff, "RAS", "LPS")
    np.testing.assert_allclose(lps @ [1, 2, 3, 1], [-11, -22, 33, 1])
    np.testing.assert_allclose(convert_coord_system(lps, "LPS", "RAS"), aff)


def test_axis_directions_names_anatomy():
    d = np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]])  # axis0 -> +z, axis1 -> +y, axis2 -> -x
    assert axis_directions(d, "LPS") == [("I", "S"), ("A", "P"), ("L", "R")]
    assert axis_directions(d, "unknown") == [("", "")] * 3

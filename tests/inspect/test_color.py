"""Tests for server.inspect.color against published reference data."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from server.inspect import color

# Sharma, Wu and Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, ΔE00.
SHARMA_2005 = np.array([
    [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
    [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
    [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
    [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
    [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
    [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
    [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
    [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
    [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
    [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
    [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
    [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
    [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
    [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
    [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
    [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
    [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
    [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
    [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
    [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
])

# sRGB primaries in CIELAB D65 (Bruce Lindbloom's calculator, sRGB, D65 reference white).
LAB_RED = [53.24078887, 80.09249429, 67.2031914]
LAB_GREEN = [87.73472019, -86.18271462, 83.17930985]
LAB_BLUE = [32.29700944, 79.1875174, -107.86016289]


def test_ciede2000_matches_all_34_sharma_pairs():
    got = color.delta_e_cie2000(SHARMA_2005[:, 0:3], SHARMA_2005[:, 3:6])
    np.testing.assert_allclose(got, SHARMA_2005[:, 6], atol=1e-4, rtol=0)


def test_ciede2000_is_symmetric_on_sharma_pairs():
    forward = color.delta_e_cie2000(SHARMA_2005[:, 0:3], SHARMA_2005[:, 3:6])
    backward = color.delta_e_cie2000(SHARMA_2005[:, 3:6], SHARMA_2005[:, 0:3])
    np.testing.assert_allclose(forward, backward, atol=1e-9)


def test_ciede2000_parametric_factors_scale_lightness_term():
    lab1 = np.array([50.0, 0.0, 0.0])
    lab2 = np.array([60.0, 0.0, 0.0])
    assert color.delta_e_cie2000(lab1, lab2, kL=2) == pytest.approx(color.delta_e_cie2000(lab1, lab2) / 2)


def test_srgb_primaries_to_lab_d65():
    srgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]], dtype=np.uint8)
    lab = color.srgb_to_lab(srgb)
    expected = np.array([LAB_RED, LAB_GREEN, LAB_BLUE, [100, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(lab, expected, atol=2e-3)


def test_uint8_and_float_srgb_agree():
    rgb8 = np.array([[12, 200, 99]], dtype=np.uint8)
    np.testing.assert_allclose(color.srgb_to_lab(rgb8), color.srgb_to_lab(rgb8 / 255.0), atol=1e-12)


def test_srgb_transfer_function_reference_points():
    # IEC 61966-2-1: the linear segment ends at 0.04045 -> 0.0031308; mid grey 0.5 -> 0.21404.
    assert color.srgb_to_linear(0.04045) == pytest.approx(0.04045 / 12.92)
    assert color.srgb_to_linear(0.5) == pytest.approx(0.214041, abs=1e-6)
    assert color.srgb_to_linear(np.uint8(255)) == pytest.approx(1.0)


def test_cie76_is_euclidean():
    assert color.delta_e_cie76([100.0, 10.0, 10.0], [90.0, 10.0, 5.0]) == pytest.approx(11.180340, abs=1e-6)


def test_cie94_matches_lindbloom_calculator():
    assert color.delta_e_cie94(LAB_BLUE, LAB_RED) == pytest.approx(61.242075, abs=1e-3)
    assert color.delta_e_cie94(LAB_RED, LAB_BLUE) == pytest.approx(70.580473, abs=1e-3)
    assert color.delta_e_cie94(LAB_BLUE, LAB_RED, textiles=True) == pytest.approx(61.104673, abs=1e-3)
    assert color.delta_e_cie94(LAB_RED, LAB_BLUE, textiles=True) == pytest.approx(71.003011, abs=1e-3)


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ([100.0, 426.67945353, 72.39590835], 172.70477129),
        ([100.0, 74.05216981, 276.45318193], 20.59732717),
        ([100.0, 8.32281957, -73.58297716], 121.71841479),
    ],
)
def test_cmc_2_1_matches_reference_values(sample, expected):
    reference = [100.0, 21.57210357, 272.22819350]
    assert color.delta_e_cmc(reference, sample) == pytest.approx(expected, abs=1e-6)


def test_cmc_1_1_differs_from_2_1_only_through_lightness():
    ref, sam = [50.0, 20.0, 10.0], [50.0, 22.0, 12.0]
    assert color.delta_e_cmc(ref, sam, l=1) == pytest.approx(color.delta_e_cmc(ref, sam, l=2))
    ref2 = [60.0, 20.0, 10.0]
    assert color.delta_e_cmc(ref, ref2, l=1) > color.delta_e_cmc(ref, ref2, l=2)


@pytest.mark.parametrize(
    "fn", [color.delta_e_cie76, color.delta_e_cie94, color.delta_e_cmc, color.delta_e_cie2000]
)
def test_difference_functions_keep_leading_shape_and_broadcast(fn):
    rng = np.random.default_rng(1)
    lab1 = rng.uniform([0, -80, -80], [100, 80, 80], size=(4, 5, 3))
    lab2 = rng.uniform([0, -80, -80], [100, 80, 80], size=(4, 5, 3))
    out = fn(lab1, lab2)
    assert out.shape == (4, 5)
    assert np.all(out > 0)
    single = fn(lab1, lab2[0, 0])  # broadcast one colour against many
    assert single.shape == (4, 5)
    np.testing.assert_allclose(fn(lab1, lab1), 0.0, atol=1e-9)


@pytest.mark.parametrize(
    "fn", [color.delta_e_cie76, color.delta_e_cie94, color.delta_e_cmc, color.delta_e_cie2000]
)
def test_nan_propagates_without_raising(fn):
    out = fn(np.array([[np.nan, 0.0, 0.0], [50.0, 1.0, 1.0]]), np.array([50.0, 0.0, 0.0]))
    assert np.isnan(out[0])
    assert np.isfinite(out[1])


@pytest.mark.parametrize("fn", [color.delta_e_cie2000, color.delta_e_cmc, color.delta_e_cie94])
def test_achromatic_and_black_inputs_are_finite(fn):
    greys = np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0], [50.0, 0.0, 0.0]])
    out = fn(greys, greys[::-1])
    assert np.all(np.isfinite(out))
    assert out[1] == pytest.approx(0.0, abs=1e-12)


def test_wrong_trailing_axis_is_a_value_error():
    with pytest.raises(ValueError):
        color.delta_e_cie2000(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError):
        color.srgb_to_lab(np.zeros((3, 4), dtype=np.uint8))


def test_empty_arrays_give_empty_results():
    assert color.delta_e_cie2000(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)
    assert color.srgb_to_lab(np.zeros((0, 3), dtype=np.uint8)).shape == (0, 3)


def test_lab_u8_decoding_matches_opencv():
    import cv2

    rgb = np.array([[[200, 30, 90], [10, 250, 128], [255, 255, 255]]], dtype=np.uint8)
    lab_u8 = cv2.cvtColor(rgb[..., ::-1].copy(), cv2.COLOR_BGR2Lab)
    # OpenCV's 8-bit Lab is rounded to integers: within one code value of our CIELAB.
    np.testing.assert_allclose(color.lab_u8_to_lab(lab_u8), color.srgb_to_lab(rgb), atol=1.0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (7, 3), elements=st.floats(0.0, 1.0)))
def test_srgb_lab_round_trip(srgb):
    back = color.lab_to_srgb(color.srgb_to_lab(srgb))
    # 1e-6: the standard's two breakpoints (0.04045, 0.0031308) disagree by ~3e-8.
    np.testing.assert_allclose(back, srgb, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, (3,), elements=st.floats(0.0, 100.0)),
    arrays(np.float64, (3,), elements=st.floats(-100.0, 100.0)),
)
def test_ciede2000_non_negative_and_symmetric(lab_a, lab_b):
    lab_a = np.array([lab_a[0], lab_b[0], lab_b[1]])
    lab_b = np.array([lab_b[2] % 100.0, lab_a[1] - 50.0, lab_a[2] - 50.0])
    d1 = color.delta_e_cie2000(lab_a, lab_b)
    d2 = color.delta_e_cie2000(lab_b, lab_a)
    assert d1 >= 0
    assert d1 == pytest.approx(d2, abs=1e-9)

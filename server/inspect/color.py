"""Colour maths for photo analysis: sRGB, CIELAB (D65) and colour differences.

Every function is pure and vectorised: arrays of shape ``(..., 3)`` in, arrays of shape
``(...)`` or ``(..., 3)`` out, float64 unless stated. NaN propagates (a NaN component
gives a NaN result, never an exception). Names carry the standard and the unit.

Conventions
-----------
* sRGB: IEC 61966-2-1:1999. Encoded ("gamma") values in 0..1 as floats, or 0..255 as
  ``uint8``. "linear" means linear-light sRGB (same primaries, D65 white), 0..1.
* XYZ: CIE 1931 2° observer, scaled so that the D65 white has Y = 1.
* CIELAB: CIE 15:2004, reference white D65 (the sRGB white, X=0.95047, Y=1.0, Z=1.08883),
  L* in 0..100, a*, b* roughly -128..127.
* ``lab_u8``: OpenCV's 8-bit Lab encoding (L*·255/100, a*+128, b*+128); decode it once with
  :func:`lab_u8_to_lab` and never compare it directly with CIELAB.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "D65_WHITE_XYZ",
    "srgb_to_linear",
    "linear_to_srgb",
    "linear_srgb_to_xyz",
    "xyz_to_linear_srgb",
    "xyz_to_lab",
    "lab_to_xyz",
    "srgb_to_lab",
    "lab_to_srgb",
    "linear_srgb_to_lab",
    "lab_to_linear_srgb",
    "lab_u8_to_lab",
    "delta_e_cie76",
    "delta_e_cie94",
    "delta_e_cmc",
    "delta_e_cie2000",
]

# Linear sRGB -> XYZ, derived from the IEC 61966-2-1 primaries and D65 white at full
# precision (the standard prints it rounded to 4 decimals). Tuples: immutable.
_SRGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
#: CIE XYZ of the D65 white point of sRGB (row sums of the matrix, Y = 1), 2° observer.
D65_WHITE_XYZ = tuple(sum(row) for row in _SRGB_TO_XYZ)

_LAB_EPSILON = 216.0 / 24389.0  # (6/29)**3, CIE 15:2004
_LAB_KAPPA = 24389.0 / 27.0


def _as_float3(values) -> np.ndarray:
    """Return ``values`` as float64 with a trailing axis of length 3 (ValueError if not)."""
    array = np.asarray(values)
    if array.shape[-1:] != (3,):
        raise ValueError(f"expected an array of shape (..., 3), got {array.shape}")
    return array.astype(np.float64, copy=False)


def _srgb_unit(srgb) -> np.ndarray:
    """Encoded sRGB as floats 0..1: uint8 is divided by 255, floats are taken as 0..1."""
    array = np.asarray(srgb)
    if array.shape[-1:] != (3,):
        raise ValueError(f"expected an array of shape (..., 3), got {array.shape}")
    if array.dtype == np.uint8:
        return array.astype(np.float64) / 255.0
    return array.astype(np.float64, copy=False)


def srgb_to_linear(srgb) -> np.ndarray:
    """Decode sRGB to linear light (IEC 61966-2-1 transfer function).

    ``srgb``: any shape; ``uint8`` 0..255 or float 0..1 (values outside 0..1 are extended
    by odd symmetry). Returns float64 linear values, 0..1 for in-range input.
    """
    array = np.asarray(srgb)
    v = array.astype(np.float64) / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
    a = np.abs(v)
    out = np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)
    return np.copysign(out, v)


def linear_to_srgb(linear) -> np.ndarray:
    """Encode linear-light sRGB to sRGB (IEC 61966-2-1), float 0..1 in, float 0..1 out.

    No clipping: out-of-gamut values stay outside 0..1 (odd symmetry below zero).
    """
    v = np.asarray(linear, dtype=np.float64)
    a = np.abs(v)
    out = np.where(a <= 0.0031308, a * 12.92, 1.055 * a ** (1.0 / 2.4) - 0.055)
    return np.copysign(out, v)


def linear_srgb_to_xyz(linear) -> np.ndarray:
    """Linear sRGB (..., 3), 0..1 -> CIE XYZ (..., 3), D65, Y of white = 1."""
    return _as_float3(linear) @ np.asarray(_SRGB_TO_XYZ).T


def xyz_to_linear_srgb(xyz) -> np.ndarray:
    """CIE XYZ (..., 3), D65, Y of white = 1 -> linear sRGB (..., 3), unclipped."""
    return _as_float3(xyz) @ np.linalg.inv(np.asarray(_SRGB_TO_XYZ)).T


def xyz_to_lab(xyz, white=D65_WHITE_XYZ) -> np.ndarray:
    """CIE XYZ (..., 3) -> CIELAB (..., 3) relative to ``white`` (default D65), CIE 15:2004."""
    t = _as_float3(xyz) / np.asarray(white, dtype=np.float64)
    f = np.where(t > _LAB_EPSILON, np.cbrt(t), (_LAB_KAPPA * t + 16.0) / 116.0)
    lightness = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


def lab_to_xyz(lab, white=D65_WHITE_XYZ) -> np.ndarray:
    """CIELAB (..., 3) relative to ``white`` (default D65) -> CIE XYZ (..., 3), CIE 15:2004."""
    lab = _as_float3(lab)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    f = np.stack([fx, fy, fz], axis=-1)
    t = np.where(f**3 > _LAB_EPSILON, f**3, (116.0 * f - 16.0) / _LAB_KAPPA)
    return t * np.asarray(white, dtype=np.float64)


def linear_srgb_to_lab(linear) -> np.ndarray:
    """Linear sRGB (..., 3), 0..1 -> CIELAB D65 (..., 3), L* 0..100."""
    return xyz_to_lab(linear_srgb_to_xyz(linear))


def lab_to_linear_srgb(lab) -> np.ndarray:
    """CIELAB D65 (..., 3) -> linear sRGB (..., 3), unclipped (out of gamut stays outside 0..1)."""
    return xyz_to_linear_srgb(lab_to_xyz(lab))


def srgb_to_lab(srgb) -> np.ndarray:
    """Encoded sRGB (..., 3) -> CIELAB D65 (..., 3).

    ``srgb``: ``uint8`` 0..255 or float 0..1 (IEC 61966-2-1). Returns float64 L* 0..100,
    a*, b* about -128..127 (CIE 15:2004, D65 white of sRGB, 2° observer). White maps to
    (100, 0, 0).
    """
    return linear_srgb_to_lab(srgb_to_linear(_srgb_unit(srgb)))


def lab_to_srgb(lab, *, clip: bool = True) -> np.ndarray:
    """CIELAB D65 (..., 3) -> encoded sRGB float (..., 3), 0..1 (clipped unless ``clip=False``)."""
    srgb = linear_to_srgb(lab_to_linear_srgb(lab))
    return np.clip(srgb, 0.0, 1.0) if clip else srgb


def lab_u8_to_lab(lab_u8) -> np.ndarray:
    """Decode OpenCV's 8-bit Lab (``cv2.COLOR_BGR2Lab`` on uint8) to CIELAB (..., 3) float64.

    OpenCV stores L*·255/100, a*+128, b*+128 in 0..255 (OpenCV imgproc colour conversions).
    """
    lab = _as_float3(lab_u8)
    return np.stack([lab[..., 0] * (100.0 / 255.0), lab[..., 1] - 128.0, lab[..., 2] - 128.0], axis=-1)


def delta_e_cie76(lab1, lab2) -> np.ndarray:
    """CIE 1976 colour difference ΔE*ab: Euclidean distance in CIELAB.

    ``lab1``, ``lab2``: CIELAB (..., 3), broadcastable. Returns (...) float64, ≥ 0.
    """
    diff = _as_float3(lab1) - _as_float3(lab2)
    return np.sqrt(np.sum(diff * diff, axis=-1))


def delta_e_cie94(lab_reference, lab_sample, *, textiles: bool = False) -> np.ndarray:
    """CIE 1994 colour difference ΔE*94 (CIE 116-1995).

    ``lab_reference``, ``lab_sample``: CIELAB (..., 3). The formula is asymmetric: the
    weights use the reference's chroma. Graphic-arts constants (kL=1, K1=0.045, K2=0.015)
    by default, textiles (kL=2, K1=0.048, K2=0.014) with ``textiles=True``. Returns (...) ≥ 0.
    """
    ref = _as_float3(lab_reference)
    sam = _as_float3(lab_sample)
    k_l, k1, k2 = (2.0, 0.048, 0.014) if textiles else (1.0, 0.045, 0.015)
    c1 = np.hypot(ref[..., 1], ref[..., 2])
    c2 = np.hypot(sam[..., 1], sam[..., 2])
    d_l = ref[..., 0] - sam[..., 0]
    d_c = c1 - c2
    d_a = ref[..., 1] - sam[..., 1]
    d_b = ref[..., 2] - sam[..., 2]
    d_h2 = np.maximum(d_a * d_a + d_b * d_b - d_c * d_c, 0.0)
    s_c = 1.0 + k1 * c1
    s_h = 1.0 + k2 * c1
    return np.sqrt((d_l / k_l) ** 2 + (d_c / s_c) ** 2 + d_h2 / s_h**2)


def delta_e_cmc(lab_reference, lab_sample, l: float = 2.0, c: float = 1.0) -> np.ndarray:  # noqa: E741
    """CMC l:c colour difference (Clarke, McDonald and Rigg 1984; BS 6923, ISO 105-J03).

    ``lab_reference``, ``lab_sample``: CIELAB (..., 3); asymmetric, weights from the
    reference. ``l=2, c=1`` is the acceptability setting, ``l=1, c=1`` perceptibility.
    Returns (...) float64 ≥ 0.
    """
    ref = _as_float3(lab_reference)
    sam = _as_float3(lab_sample)
    l1, a1, b1 = ref[..., 0], ref[..., 1], ref[..., 2]
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(sam[..., 1], sam[..., 2])
    h1 = np.degrees(np.arctan2(b1, a1)) % 360.0
    d_l = l1 - sam[..., 0]
    d_c = c1 - c2
    d_a = a1 - sam[..., 1]
    d_b = b1 - sam[..., 2]
    d_h2 = np.maximum(d_a * d_a + d_b * d_b - d_c * d_c, 0.0)
    s_l = np.where(l1 < 16.0, 0.511, 0.040975 * l1 / (1.0 + 0.01765 * l1))
    s_c = 0.0638 * c1 / (1.0 + 0.0131 * c1) + 0.638
    c1_4 = c1**4
    f = np.sqrt(c1_4 / (c1_4 + 1900.0))
    t = np.where(
        (h1 >= 164.0) & (h1 <= 345.0),
        0.56 + np.abs(0.2 * np.cos(np.radians(h1 + 168.0))),
        0.36 + np.abs(0.4 * np.cos(np.radians(h1 + 35.0))),
    )
    s_h = s_c * (f * t + 1.0 - f)
    return np.sqrt((d_l / (l * s_l)) ** 2 + (d_c / (c * s_c)) ** 2 + d_h2 / s_h**2)


def delta_e_cie2000(lab1, lab2, kL: float = 1.0, kC: float = 1.0, kH: float = 1.0) -> np.ndarray:  # noqa: N803
    """CIEDE2000 colour difference ΔE00 (CIE 142-2001; ISO/CIE 11664-6:2014).

    ``lab1``, ``lab2``: CIELAB (..., 3), broadcastable; symmetric in its arguments.
    ``kL, kC, kH``: parametric factors (1 for reference conditions). Returns (...) float64 ≥ 0.
    Implements the hue-angle and mean-hue conventions of Sharma, Wu and Dalal (2005),
    "The CIEDE2000 color-difference formula: implementation notes, supplementary test
    data, and mathematical observations", Color Res. Appl. 30(1):21-30, and matches their
    34 test pairs to 1e-4.
    """
    lab1 = _as_float3(lab1)
    lab2 = _as_float3(lab2)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]

    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    # Hue is 0 where a' = b' = 0 (Sharma eq. 4); arctan2(0, 0) is 0 already.
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0

    d_lp = l2 - l1
    d_cp = c2p - c1p
    chroma_product = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_product == 0.0, 0.0, dh)
    d_hp = 2.0 * np.sqrt(chroma_product) * np.sin(np.radians(dh) / 2.0)

    l_bar = (l1 + l2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_abs = np.abs(h1p - h2p)
    h_bar = np.where(
        h_abs <= 180.0,
        h_sum / 2.0,
        np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_bar = np.where(chroma_product == 0.0, h_sum, h_bar)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2.0 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    l50 = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / np.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c

    term_l = d_lp / (kL * s_l)
    term_c = d_cp / (kC * s_c)
    term_h = d_hp / (kH * s_h)
    return np.sqrt(term_l**2 + term_c**2 + term_h**2 + r_t * term_c * term_h)

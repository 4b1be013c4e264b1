"""Reference values of the ColorChecker Classic (24 patches), per chart edition.

X-Rite changed the pigments of the ColorChecker Classic in November 2014; charts made since
then have slightly different patch colours (up to ~2 ΔE00 on some patches) from older ones,
and both differ from the 2006 BabelColor averages of many older charts. The analysis compares
the photographed patches with the values of the edition the inspector's chart belongs to
(setting ``COLOR_CHART_EDITION``, default ``"post2014"``):

=================  =================================================================
edition            source
=================  =================================================================
``post2014``       X-Rite, charts made after November 2014 (colour-science 0.4.7,
                   ``CCS_COLOURCHECKERS["ColorChecker24 - After November 2014"]``)
``pre2014``        X-Rite, charts made before November 2014 (colour-science 0.4.7,
                   ``CCS_COLOURCHECKERS["ColorChecker24 - Before November 2014"]``)
``babelcolor2006`` the 8-bit sRGB values of D. Pascale, BabelColor "RGB coordinates of
                   the Macbeth ColorChecker" (2006), :data:`card.COLORCHECKER_CLASSIC_SRGB_U8`
=================  =================================================================

colour-science (optional; pinned in the test extras) publishes the X-Rite values as CIE xyY under D50 (the illuminant the data
were measured for); they are adapted to D65 with the Bradford transform (von Kries form)
so that they are comparable with sRGB and with CIELAB D65 used everywhere else.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from server.inspect import color
from server.inspect.card import COLORCHECKER_CLASSIC_SRGB_U8

__all__ = ["CHART_EDITIONS", "DEFAULT_CHART_EDITION", "chart_lab_d65", "chart_linear_srgb"]

DEFAULT_CHART_EDITION = "post2014"
_COLOUR_SCIENCE_NAMES = {
    "post2014": "ColorChecker24 - After November 2014",
    "pre2014": "ColorChecker24 - Before November 2014",
}
CHART_EDITIONS = ("post2014", "pre2014", "babelcolor2006")

#: The same X-Rite values as published (CIE xyY, 2° observer, measured for illuminant D50,
#: x = 0.3457, y = 0.3585), patch order dark skin ... black 2; copied from colour-science
#: 0.4.7 (``colour/characterisation/datasets/colour_checkers/chromaticity_coordinates.py``,
#: which cites X-Rite's "New color specifications for ColorChecker SG and Classic charts",
#: 2016). Used when colour-science is not installed; a test checks both agree.
_XYY_D50 = {
    "post2014": (
    (0.4375, 0.3785, 0.0983),
    (0.4222, 0.3725, 0.3362),
    (0.2761, 0.2984, 0.1786),
    (0.3733, 0.4512, 0.1347),
    (0.3029, 0.2863, 0.2287),
    (0.2864, 0.3897, 0.4144),
    (0.5281, 0.4053, 0.3126),
    (0.2324, 0.2112, 0.1091),
    (0.5044, 0.3271, 0.1890),
    (0.3335, 0.2506, 0.0628),
    (0.3989, 0.5041, 0.4332),
    (0.4936, 0.4443, 0.4293),
    (0.2052, 0.1687, 0.0560),
    (0.3230, 0.5104, 0.2233),
    (0.5629, 0.3356, 0.1278),
    (0.4678, 0.4760, 0.5993),
    (0.4213, 0.2669, 0.1895),
    (0.2091, 0.3027, 0.1806),
    (0.3489, 0.3642, 0.8807),
    (0.3456, 0.3599, 0.5900),
    (0.3441, 0.3592, 0.3649),
    (0.3458, 0.3591, 0.1906),
    (0.3426, 0.3576, 0.0882),
    (0.3438, 0.3561, 0.0315),
    ),
    "pre2014": (
    (0.4316, 0.3777, 0.1008),
    (0.4197, 0.3744, 0.3495),
    (0.2761, 0.3017, 0.1836),
    (0.3704, 0.4500, 0.1325),
    (0.2999, 0.2856, 0.2304),
    (0.2848, 0.3912, 0.4178),
    (0.5295, 0.4055, 0.3118),
    (0.2306, 0.2107, 0.1126),
    (0.5012, 0.3273, 0.1938),
    (0.3319, 0.2483, 0.0637),
    (0.3984, 0.5008, 0.4446),
    (0.4957, 0.4427, 0.4357),
    (0.2019, 0.1693, 0.0575),
    (0.3253, 0.5033, 0.2318),
    (0.5686, 0.3303, 0.1257),
    (0.4697, 0.4734, 0.5981),
    (0.4159, 0.2688, 0.2009),
    (0.2132, 0.3023, 0.1930),
    (0.3470, 0.3608, 0.9131),
    (0.3441, 0.3585, 0.5894),
    (0.3432, 0.3582, 0.3632),
    (0.3446, 0.3580, 0.1915),
    (0.3402, 0.3548, 0.0883),
    (0.3406, 0.3538, 0.0311),
    ),
}
_D50_XY = (0.34570291491879102, 0.35853859667993299)

# Bradford cone response matrix (Lam 1985), used to adapt D50 data to D65.
_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def _xy_to_xyz(xy) -> np.ndarray:
    x, y = float(xy[0]), float(xy[1])
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


@functools.lru_cache(maxsize=4)
def _xyz_d65(edition: str) -> np.ndarray:
    if edition == "babelcolor2006":
        return color.linear_srgb_to_xyz(color.srgb_to_linear(np.array(COLORCHECKER_CLASSIC_SRGB_U8, dtype=np.uint8)))
    if edition not in _COLOUR_SCIENCE_NAMES:
        raise ValueError(f"unknown chart edition {edition!r}; one of {', '.join(CHART_EDITIONS)}")
    xyy, white_xy = _published_xyy(edition)
    xyz = np.stack([xyy[:, 0] / xyy[:, 1] * xyy[:, 2], xyy[:, 2], (1 - xyy[:, 0] - xyy[:, 1]) / xyy[:, 1] * xyy[:, 2]], axis=1)
    src = _BRADFORD @ _xy_to_xyz(white_xy)
    dst = _BRADFORD @ np.asarray(color.D65_WHITE_XYZ)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(dst / src) @ _BRADFORD
    out = xyz @ adapt.T
    out.setflags(write=False)
    return out


def _published_xyy(edition: str, *, library: bool = True) -> tuple[np.ndarray, tuple[float, float]]:
    """The edition's xyY values and white point: from colour-science when it is installed
    (``library``), else the copy in this module."""
    if library:
        try:
            with warnings.catch_warnings():  # colour-science warns at import about optional packages it lacks
                warnings.simplefilter("ignore")
                import colour
        except ImportError:
            pass
        else:
            chart = colour.CCS_COLOURCHECKERS[_COLOUR_SCIENCE_NAMES[edition]]
            return np.array(list(chart.data.values()), dtype=np.float64), tuple(float(v) for v in chart.illuminant)
    return np.array(_XYY_D50[edition], dtype=np.float64), _D50_XY


def chart_lab_d65(edition: str = DEFAULT_CHART_EDITION) -> np.ndarray:
    """CIELAB D65 (24, 3) of the ColorChecker Classic patches of ``edition``, dark skin first,
    row by row. ValueError for an unknown edition."""
    return color.xyz_to_lab(_xyz_d65(edition))


def chart_linear_srgb(edition: str = DEFAULT_CHART_EDITION) -> np.ndarray:
    """Linear sRGB (D65) (24, 3) of the patches of ``edition``, unclipped (the cyan patch lies
    slightly outside the sRGB gamut: its red is negative)."""
    return color.xyz_to_linear_srgb(_xyz_d65(edition))

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

colour-science publishes the X-Rite values as CIE xyY under D50 (the illuminant the data
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
    with warnings.catch_warnings():  # colour-science warns at import about optional packages it lacks
        warnings.simplefilter("ignore")
        import colour

    chart = colour.CCS_COLOURCHECKERS[_COLOUR_SCIENCE_NAMES[edition]]
    xyy = np.array(list(chart.data.values()), dtype=np.float64)
    xyz = np.stack([xyy[:, 0] / xyy[:, 1] * xyy[:, 2], xyy[:, 2], (1 - xyy[:, 0] - xyy[:, 1]) / xyy[:, 1] * xyy[:, 2]], axis=1)
    src = _BRADFORD @ _xy_to_xyz(chart.illuminant)
    dst = _BRADFORD @ np.asarray(color.D65_WHITE_XYZ)
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(dst / src) @ _BRADFORD
    out = xyz @ adapt.T
    out.setflags(write=False)
    return out


def chart_lab_d65(edition: str = DEFAULT_CHART_EDITION) -> np.ndarray:
    """CIELAB D65 (24, 3) of the ColorChecker Classic patches of ``edition``, dark skin first,
    row by row. ValueError for an unknown edition."""
    return color.xyz_to_lab(_xyz_d65(edition))


def chart_linear_srgb(edition: str = DEFAULT_CHART_EDITION) -> np.ndarray:
    """Linear sRGB (D65) (24, 3) of the patches of ``edition``, unclipped (the cyan patch lies
    slightly outside the sRGB gamut: its red is negative)."""
    return color.xyz_to_linear_srgb(_xyz_d65(edition))

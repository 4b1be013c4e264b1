"""Version-sensitive OpenCV calls, wrapped in one place.

The ArUco API moved from free functions (``cv2.aruco.detectMarkers``, OpenCV < 4.7) to
``cv2.aruco.ArucoDetector``; the ``mcc`` detector's factory and chart-type setter have been
renamed across contrib releases; ``IMREAD_REDUCED_*`` flags exist since 3.x. Callers use the
functions below and never touch those names directly.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["detect_aruco", "detect_mcc24", "imdecode", "reduced_color_flag"]


def _aruco_dictionary(name: str):
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


def detect_aruco(
    gray: np.ndarray, dictionary_name: str, *, subpixel: bool = False, threshold_windows: tuple[int, int] | None = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Detect ArUco markers in an 8-bit grey image.

    ``threshold_windows``: smallest and largest adaptive-threshold window (px, step 10);
    OpenCV's default is 3 to 23. Fewer windows are faster; small markers need small ones.

    Returns ``(corners, ids)``: a list of (4, 2) float32 arrays in pixel coordinates
    (top-left, top-right, bottom-right, bottom-left of the marker) and an int array of ids
    (empty when none are found).
    """
    dictionary = _aruco_dictionary(dictionary_name)
    if hasattr(cv2.aruco, "ArucoDetector"):
        params = cv2.aruco.DetectorParameters()
        if threshold_windows is not None:
            params.adaptiveThreshWinSizeMin, params.adaptiveThreshWinSizeMax = threshold_windows
        if subpixel:
            params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
        corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, params).detectMarkers(gray)
    else:  # pragma: no cover - OpenCV < 4.7
        params = cv2.aruco.DetectorParameters_create()
        if threshold_windows is not None:
            params.adaptiveThreshWinSizeMin, params.adaptiveThreshWinSizeMax = threshold_windows
        if subpixel:
            params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
        corners, ids, _ = cv2.aruco.detectMarkers(gray, dictionary, parameters=params)
    if ids is None or len(ids) == 0:
        return [], np.zeros(0, dtype=np.int32)
    return [np.asarray(c, dtype=np.float32).reshape(4, 2) for c in corners], np.asarray(ids).ravel().astype(np.int32)


def _mcc_detector():
    if hasattr(cv2.mcc, "CCheckerDetector_create"):
        detector = cv2.mcc.CCheckerDetector_create()
    else:  # pragma: no cover - newer contrib spelling
        detector = cv2.mcc.CCheckerDetector.create()
    # The detector's chart type is set explicitly: OpenCV 5's default is not MCC24 on every
    # build, and the whole colour pipeline assumes the 24-patch Classic layout.
    if hasattr(detector, "setColorChartType"):
        detector.setColorChartType(cv2.mcc.MCC24)
    return detector


def detect_mcc24(bgr: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Find one ColorChecker Classic (24 patches) with OpenCV's ``mcc`` module.

    ``bgr``: 8-bit BGR image. Returns ``(patch_quads, cost)`` where ``patch_quads`` is
    (24, 4, 2) float32 pixel corners of each patch in the detector's patch order, or None
    when no chart is found (or the module misbehaves on this build).
    """
    try:
        detector = _mcc_detector()
        try:
            found = detector.process(bgr, 1)
        except TypeError:  # pragma: no cover - older signature process(image, chartType, nc)
            found = detector.process(bgr, cv2.mcc.MCC24, 1)
        if not found:
            return None
        checker = detector.getBestColorChecker()
        quads = np.asarray(checker.getColorCharts(), dtype=np.float32).reshape(-1, 4, 2)
        if quads.shape[0] != 24:
            return None
        return quads, float(checker.getCost())
    except cv2.error:
        return None


def reduced_color_flag(factor: int) -> int:
    """``cv2.imread`` flag decoding colour at 1/``factor`` size (factor 1, 2, 4 or 8)."""
    return {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }[factor]


def imdecode(data: bytes, flags: int) -> np.ndarray | None:
    """``cv2.imdecode`` that returns None instead of raising on corrupt input."""
    try:
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error:
        return None

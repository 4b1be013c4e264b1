"""Photo analysis: colour and size of a unit photographed on the Lineside inspection card.

Pipeline (issue 5)::

    header probe (refuse non-images, truncated JPEGs and decompression bombs before decoding)
    -> decode, reduced by 2/4/8 by libjpeg's DCT scaling so at most ~3.2 MP are decoded,
       EXIF orientation honoured
    -> ArUco markers (found on a ~500 px copy, or ~1000 px if needed; corners refined to
       sub-pixel on the decoded image)
    -> homography image px -> card mm
    -> flat field: the card's blank paper is the white reference; a quadratic fit of its
       brightness over the card (sampled on small squares of blank paper) removes
       vignetting and uneven light
    -> colour checker: first sampled at the designated outline through the homography (both
       ways round), validated by its fit residual; if that fails, OpenCV's ``mcc`` detector
       (chart type MCC24) searches the whole photo
    -> colour correction fitted on the 24 patches
    -> unit segmentation on the rectified unit area, in linear light: found at 1 px/mm,
       then its surroundings re-rectified at 4 px/mm; the edge is where the colour is
       halfway between paper and unit -> minimum-area rectangle in card mm, each side
       refined to sub-pixel by a caliper across the edge
    -> robust mean colour of the unit (edges, specular highlights and shadows excluded)
    -> CIELAB D65 -> ΔE00 against the golden sample -> verdict, confidence, reasons, overlay.

Colour correction: an affine 3 × 4 matrix fitted by weighted least squares in *linear*
sRGB, not ``cv2.ccm``. Light acts linearly on linear RGB: a change of illuminant is very
nearly a per-channel gain (von Kries) and flare an offset, so an affine map in linear space
is the physically right model and 24 patches determine its 12 unknowns many times over.
The fit is closed-form and deterministic (``cv2.ccm`` minimises ΔE with an iterative
optimiser whose defaults and API have changed between contrib releases), runs in
microseconds, and leaves per-patch residuals we report. Patches with a clipped channel are
left out of the fit. Weights ~ 1/sqrt(luminance) keep dark patches from being ignored.

Checker location: locating the patches from the card homography costs nothing once the
markers are known and is exact when the checker lies on its outline; ``mcc`` costs about as
much as decoding a 12 MP photo, so it only runs when the outline holds no valid checker
(checker elsewhere in the photo, a full-size Classic, or no card at all).

Cost (bench/vision.py): the reduced decode is most of the time. The rest never converts
the decoded image to floating point, and to grey only around the markers (the half-size
copy used for the global statistics is grey). Linear light is computed only for the pixels
used (the paper squares, the checker's bounding box, the unit's surroundings); the coarse
unit pass resamples the 8-bit image at 1 px/mm before converting it.

Everything here is pure: bytes and dicts in, plain values out; no Flask, no database.
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from server.inspect import charts, color, cv_compat
from server.inspect.card import CARD_GEOMETRY, CardGeometry

__all__ = [
    "CardDetection",
    "CheckerFit",
    "DecodedPhoto",
    "FlatField",
    "ImageProbeError",
    "UnitMeasurement",
    "analyze_photo",
    "decode_photo",
    "detect_card",
    "fit_colour_correction",
    "fit_flat_field",
    "image_info",
    "measure_unit",
]

DEFAULT_MAX_PIXELS = 50_000_000
ANALYSIS_MAX_PIXELS = 3_200_000  # decode reduced until at most this many pixels
UNIT_PX_PER_MM = 4.0  # rectified unit area: 0.25 mm per pixel (edges are found to sub-pixel)
CARD_PX_PER_MM = 2.0  # rectified whole card for the flat field
BLUR_LIMIT_MM = 0.6  # edge blur (Gaussian sigma on the card) that makes a photo unusable
OVERLAY_MAX_SIDE = 1280
ANALYSIS_TIME_BUDGET_S = 1.5  # the full-resolution chart search runs only within this time
LAPLACIAN_BLURRY = 3.0
FRAME_BLURRY = 0.0014  # edge blur (sigma) as a share of the image width: sharp ≤ 0.0009, blurry ≥ 0.0019  # Laplacian variance (~1000 px image) below which a card-less photo is called blurry

_SRGB_U8_TO_LINEAR = color.srgb_to_linear(np.arange(256, dtype=np.uint8)).astype(np.float32)


_PAPER_POINTS_MM = CARD_GEOMETRY.paper_sample_points_mm()
_PAPER_POINTS_MM.setflags(write=False)


class ImageProbeError(ValueError):
    """The bytes are not an image we can read (unknown type, or header truncated/corrupt)."""


# ---------------------------------------------------------------------------------------
# Header probe


@dataclass(frozen=True)
class _Probe:
    width: int  # as stored
    height: int
    format: str
    orientation: int = 1  # EXIF orientation (JPEG only)
    scan_offset: int = 0  # JPEG: offset of the first SOS marker

    @property
    def display_size(self) -> tuple[int, int]:
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _exif_orientation(app1: bytes) -> int:
    if not app1.startswith(b"Exif\x00\x00") or len(app1) < 14:
        return 1
    tiff = app1[6:]
    endian = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if endian is None:
        return 1
    try:
        (ifd,) = struct.unpack(endian + "I", tiff[4:8])
        (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
        for k in range(count):
            entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
            tag, typ, _n = struct.unpack(endian + "HHI", entry[:8])
            if tag == 0x0112 and typ == 3:
                (value,) = struct.unpack(endian + "H", entry[8:10])
                return value if 1 <= value <= 8 else 1
    except struct.error:
        return 1
    return 1


def _probe_jpeg(data: bytes) -> _Probe:
    pos, size, orientation, dims = 2, len(data), 1, None
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            raise ImageProbeError("corrupt JPEG header")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > size:
            raise ImageProbeError("truncated JPEG header")
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and orientation == 1:
            orientation = _exif_orientation(segment)
        elif marker in _JPEG_SOF and len(segment) >= 5:
            height, width = struct.unpack(">HH", segment[1:5])
            dims = (width, height)
        elif marker == 0xDA:
            if dims is None:
                raise ImageProbeError("JPEG without a frame header")
            return _Probe(dims[0], dims[1], "jpeg", orientation, pos)
        pos += 2 + length
    raise ImageProbeError("truncated JPEG header")


def _probe(data: bytes) -> _Probe:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageProbeError("expected bytes")
    data = bytes(data[: 1 << 20]) if len(data) > (1 << 20) else bytes(data)
    if data[:3] == b"\xff\xd8\xff":
        return _probe_jpeg(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ImageProbeError("truncated PNG header")
        width, height = struct.unpack(">II", data[16:24])
        return _Probe(width, height, "png")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = 1 + int.from_bytes(data[24:27], "little")
            height = 1 + int.from_bytes(data[27:30], "little")
        elif chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        elif chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
            width = int.from_bytes(data[26:28], "little") & 0x3FFF
            height = int.from_bytes(data[28:30], "little") & 0x3FFF
        else:
            raise ImageProbeError("unsupported WebP variant")
        return _Probe(width, height, "webp")
    raise ImageProbeError("not a JPEG, PNG or WebP image")


def image_info(data: bytes) -> tuple[int, int, str]:
    """Read only the header: ``(width, height, format)`` of the image as displayed (EXIF
    orientation applied), format "jpeg", "png" or "webp".

    Never decodes pixels, so it is safe on untrusted uploads of any claimed size. Raises
    :class:`ImageProbeError` (a ValueError) for other types and truncated or corrupt headers.
    """
    probe = _probe(data)
    width, height = probe.display_size
    if width <= 0 or height <= 0:
        raise ImageProbeError("image header gives zero size")
    return width, height, probe.format


# ---------------------------------------------------------------------------------------
# Decoding


@dataclass
class DecodedPhoto:
    """A decoded photo (8-bit BGR, as displayed) or the plain-language reason it is not."""

    bgr: np.ndarray | None
    factor: int  # decoded pixel = factor × original pixels
    size: tuple[int, int]  # original displayed (width, height)
    format: str
    problem: str | None = None


_ORIENT_FIX = {
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}


def decode_photo(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, target_pixels: int = ANALYSIS_MAX_PIXELS) -> DecodedPhoto:
    """Probe and decode for analysis: reduced by 1, 2, 4 or 8 so the image has at most
    ``target_pixels``, EXIF orientation honoured. Problems are returned in ``problem``
    (plain language), never raised."""
    try:
        probe = _probe(data)
    except ImageProbeError as exc:
        return DecodedPhoto(None, 1, (0, 0), "unknown", f"not a readable image ({exc})")
    width, height = probe.display_size
    if width <= 0 or height <= 0:
        return DecodedPhoto(None, 1, (0, 0), probe.format, "image header gives zero size")
    pixels = width * height
    if pixels > max_pixels:
        return DecodedPhoto(
            None, 1, (width, height), probe.format,
            f"image is {width} × {height} = {pixels / 1e6:.1f} megapixels, above the limit of {max_pixels / 1e6:.1f}",
        )  # fmt: skip
    # Searched backwards from the end: a complete JPEG ends with EOI, so this is immediate.
    if probe.format == "jpeg" and bytes(data).rfind(b"\xff\xd9", probe.scan_offset) < 0:
        return DecodedPhoto(None, 1, (width, height), probe.format, "JPEG file is truncated")
    factor = 1
    while factor < 8 and pixels / (factor * factor) > target_pixels:
        factor *= 2
    bgr = cv_compat.imdecode(data, cv_compat.reduced_color_flag(factor))
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.size == 0:
        return DecodedPhoto(None, factor, (width, height), probe.format, "image data is corrupt")
    # OpenCV applies EXIF orientation itself; fix it here only on builds that did not.
    if probe.orientation in _ORIENT_FIX and width != height and (bgr.shape[1] > bgr.shape[0]) != (width > height):
        bgr = _ORIENT_FIX[probe.orientation](bgr)
    return DecodedPhoto(np.ascontiguousarray(bgr), factor, (width, height), probe.format)


# ---------------------------------------------------------------------------------------
# Card detection


@dataclass
class CardDetection:
    """Markers found and the homography image px -> card mm (None with < 2 markers)."""

    ids: list[int]
    corners_px: list[np.ndarray]
    image_to_card: np.ndarray | None
    reprojection_error_px: float | None
    px_per_mm: float | None  # image pixels per card mm around the card centre


def detect_card(bgr: np.ndarray, geometry: CardGeometry = CARD_GEOMETRY, *, gray: np.ndarray | None = None, small_gray: np.ndarray | None = None) -> CardDetection:
    """Find the card's ArUco markers in an 8-bit BGR image and fit the homography.

    Markers are looked for on a reduced copy (about 500 px, then about 1000 px if fewer
    than four are found there), then their corners are refined to sub-pixel accuracy on
    the full image. Ids not on the card are ignored; a duplicated id is dropped (ambiguous).
    ``gray``: the whole image in grey, if the caller has it (otherwise only small areas
    around the markers are converted); ``small_gray``: a half-size grey copy.
    """
    if max(bgr.shape[:2]) <= 1400:
        half = gray = gray if gray is not None else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    elif small_gray is not None:
        half = small_gray
    else:
        half = cv2.cvtColor(cv2.resize(bgr, (bgr.shape[1] // 2, bgr.shape[0] // 2), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    candidates = [half]
    if max(half.shape) > 900:
        candidates.insert(0, cv2.resize(half, (half.shape[1] // 2, half.shape[0] // 2), interpolation=cv2.INTER_AREA))
    wanted = set(geometry.marker_ids)
    for small in candidates:
        # On the ~500 px copy markers are at most ~50 px (cells ≤ 8 px): windows of 5 and
        # 15 px find them as well as the default 3/13/23 at two thirds of the cost. The
        # larger fallback copy keeps OpenCV's defaults.
        windows = (5, 15) if small is not half else None
        corners, ids = cv_compat.detect_aruco(small, geometry.marker_dictionary, threshold_windows=windows)
        if len(set(ids.tolist()) & wanted) >= 4:
            break
    scale = small.shape[1] / bgr.shape[1]
    counts = {int(i): int(np.sum(ids == i)) for i in set(ids.tolist())}
    found_ids, found_corners = [], []
    for c, i in zip(corners, ids.tolist(), strict=True):
        if i in wanted and counts[i] == 1:
            found_ids.append(int(i))
            found_corners.append(c / scale + (0.5 / scale - 0.5))  # pixel-centre convention
    if found_corners:
        pts = np.concatenate(found_corners).reshape(-1, 1, 2).astype(np.float32)
        # Window ~1/8 of the marker side, at least 2 px.
        side = min(np.linalg.norm(c[0] - c[1]) for c in found_corners)
        win = int(max(2, min(8, side / 10)))
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.01)
        if gray is not None:
            cv2.cornerSubPix(gray, pts, (win, win), (-1, -1), criteria)
        else:  # grey only around each marker: the whole-image conversion is not needed
            h, w = bgr.shape[:2]
            margin = 2 * win + 6
            for k in range(0, len(pts), 4):
                quad = pts[k : k + 4]
                x0, y0 = np.maximum(np.floor(quad.reshape(-1, 2).min(axis=0)).astype(int) - margin, 0)
                x1, y1 = np.minimum(np.ceil(quad.reshape(-1, 2).max(axis=0)).astype(int) + margin + 1, [w, h])
                roi = cv2.cvtColor(bgr[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
                local = np.ascontiguousarray(quad - np.array([x0, y0], np.float32))
                cv2.cornerSubPix(roi, local, (win, win), (-1, -1), criteria)
                pts[k : k + 4] = local + np.array([x0, y0], np.float32)
        found_corners = list(pts.reshape(-1, 4, 2))
    if len(found_ids) < 2:
        return CardDetection(found_ids, found_corners, None, None, None)
    src = np.concatenate(found_corners).astype(np.float64)
    dst = np.concatenate([geometry.marker_corners_mm(i) for i in found_ids])
    h, _ = cv2.findHomography(src, dst, 0)
    if h is None or not np.all(np.isfinite(h)):
        return CardDetection(found_ids, found_corners, None, None, None)
    inv = np.linalg.inv(h)
    reproj = cv2.perspectiveTransform(dst.reshape(-1, 1, 2), inv).reshape(-1, 2)
    err = float(np.sqrt(np.mean(np.sum((reproj - src) ** 2, axis=1))))
    center = np.array([[[geometry.width_mm / 2, geometry.height_mm / 2], [geometry.width_mm / 2 + 1, geometry.height_mm / 2]]])
    c_img = cv2.perspectiveTransform(center, inv).reshape(2, 2)
    return CardDetection(found_ids, found_corners, h, err, float(np.linalg.norm(c_img[1] - c_img[0])))


def _rectify(bgr: np.ndarray, image_to_card: np.ndarray, area_mm, px_per_mm: float) -> np.ndarray:
    """Warp the card area ``(x0, y0, x1, y1)`` mm to a grid of ``px_per_mm``; pixel centre
    (j, i) is card mm (x0 + j/px_per_mm, y0 + i/px_per_mm)."""
    x0, y0, x1, y1 = area_mm
    size = (int(round((x1 - x0) * px_per_mm)) + 1, int(round((y1 - y0) * px_per_mm)) + 1)
    to_grid = np.array([[px_per_mm, 0, -x0 * px_per_mm], [0, px_per_mm, -y0 * px_per_mm], [0, 0, 1]])
    return cv2.warpPerspective(bgr, to_grid @ image_to_card, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _rectify_linear(bgr: np.ndarray, image_to_card: np.ndarray, area_mm, px_per_mm: float, lut=None) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_rectify`, but interpolating in linear light (edges keep their true
    position: mixing gamma-encoded values would make dark objects look larger). Returns
    ``(linear RGB float32, 8-bit BGR)`` of the area."""
    x0, y0, x1, y1 = area_mm
    corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], dtype=np.float64)
    img_pts = cv2.perspectiveTransform(corners, np.linalg.inv(image_to_card)).reshape(-1, 2)
    h, w = bgr.shape[:2]
    cx0, cy0 = np.clip(np.floor(img_pts.min(axis=0)).astype(int) - 2, 0, [w - 1, h - 1])
    cx1, cy1 = np.clip(np.ceil(img_pts.max(axis=0)).astype(int) + 3, 1, [w, h])
    crop = bgr[cy0:cy1, cx0:cx1]
    shift = np.array([[1, 0, cx0], [0, 1, cy0], [0, 0, 1]], dtype=np.float64)
    h_crop = image_to_card @ shift
    linear = _rectify(_linear_rgb(crop, lut), h_crop, area_mm, px_per_mm)
    raw = _rectify(crop, h_crop, area_mm, px_per_mm)
    return linear, raw


def _corrected_area(bgr, detection, flat, checker, area_mm, px_per_mm, *, exact_edges: bool = True, lut=None) -> tuple[np.ndarray, np.ndarray]:
    """Rectify a card area in linear light, flatten the light with the paper's flat field
    and apply the colour correction (or, without a checker, white-balance on the paper).
    ``exact_edges=False`` (a grid much coarser than the image) resamples the 8-bit image
    and converts only the result to linear light. Returns ``(linear RGB float32, 8-bit BGR)``."""
    if exact_edges:
        linear, raw = _rectify_linear(bgr, detection.image_to_card, area_mm, px_per_mm, lut)
    else:
        raw = _rectify(bgr, detection.image_to_card, area_mm, px_per_mm)
        linear = _linear_rgb(raw, lut)
    if flat is not None:
        ys = area_mm[1] + np.arange(raw.shape[0]) / px_per_mm
        xs = area_mm[0] + np.arange(raw.shape[1]) / px_per_mm
        field_ = flat.at(xs[None, :], ys[:, None]).astype(np.float32)
        linear = linear / field_[..., None]
    if checker is not None:
        linear = checker.apply(linear).astype(np.float32)
    elif flat is not None:
        # White balance on the paper: better than nothing, still uncalibrated.
        linear = linear / np.asarray(flat.paper_rgb_linear, dtype=np.float32) * 0.86
    return linear, raw


def _linear_rgb(bgr_u8: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """8-bit BGR -> linear RGB float32 (channel order R, G, B): the sRGB decoding, or with
    ``lut`` (256, 1, 3) float32, the phone's own tone curves undone per channel (see
    :func:`fit_tone_curves`)."""
    if lut is None:
        if bgr_u8.ndim == 3 and bgr_u8.shape[0] > 0 and bgr_u8.shape[1] > 0:
            return cv2.LUT(cv2.cvtColor(bgr_u8, cv2.COLOR_BGR2RGB), _SRGB_U8_TO_LINEAR)
        return _SRGB_U8_TO_LINEAR[bgr_u8[..., ::-1]]
    if bgr_u8.ndim == 3 and bgr_u8.shape[0] > 0 and bgr_u8.shape[1] > 0:
        return cv2.LUT(cv2.cvtColor(bgr_u8, cv2.COLOR_BGR2RGB), lut)
    rgb = bgr_u8[..., ::-1]
    return np.stack([lut[rgb[..., k], 0, k] for k in range(3)], axis=-1)


# ---------------------------------------------------------------------------------------
# Flat field


@dataclass(frozen=True)
class FlatField:
    """Brightness of blank paper over the card: luminance ≈ poly(x_mm, y_mm)."""

    coefficients: tuple[float, ...]
    paper_rgb_linear: tuple[float, float, float]  # median paper colour (camera linear RGB)
    samples: int
    residual_rel: float  # RMS relative residual of the fit
    value_range: tuple[float, float]  # lowest and highest fitted value on the paper squares used
    bounds_mm: tuple[float, float, float, float] = (0.0, 0.0, 250.0, 180.0)  # paper squares used

    def at(self, x_mm, y_mm) -> np.ndarray:
        """Relative paper brightness at card positions. No extrapolation: a position
        outside the paper squares used takes the value at the nearest point of their
        bounding box, and the value is kept within the fitted range."""
        b = self.bounds_mm
        x = (np.clip(np.asarray(x_mm, dtype=np.float64), b[0], b[2]) - 125.0) / 125.0
        y = (np.clip(np.asarray(y_mm, dtype=np.float64), b[1], b[3]) - 90.0) / 90.0
        c = self.coefficients
        v = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y
        return np.clip(v, self.value_range[0], self.value_range[1])

    def outside_mm(self, x_mm, y_mm) -> float:
        """How far (mm) a card position lies outside the region the paper constrains."""
        b = self.bounds_mm
        dx = max(b[0] - float(x_mm), 0.0, float(x_mm) - b[2])
        dy = max(b[1] - float(y_mm), 0.0, float(y_mm) - b[3])
        return math.hypot(dx, dy)

    def gradient_rel_per_mm(self, x_mm, y_mm) -> float:
        """Relative change of the light per mm at a card position (clamped as :meth:`at`)."""
        b = self.bounds_mm
        x, y = min(max(float(x_mm), b[0]), b[2]), min(max(float(y_mm), b[1]), b[3])
        v = float(self.at(x, y))
        gx = (float(self.at(min(x + 1.0, b[2]), y)) - float(self.at(max(x - 1.0, b[0]), y))) / 2.0
        gy = (float(self.at(x, min(y + 1.0, b[3]))) - float(self.at(x, max(y - 1.0, b[1])))) / 2.0
        return math.hypot(gx, gy) / max(v, 1e-6)


def fit_flat_field(card_linear: np.ndarray, px_per_mm: float, geometry: CardGeometry = CARD_GEOMETRY) -> FlatField | None:
    """Fit the paper brightness over the card from blank-paper squares of a rectified,
    linear-RGB card image; robust (iteratively drops squares far from the fit: shadows,
    objects lying on the paper). None if too few squares are usable."""
    points, cols, rows, half = _paper_squares(geometry, px_per_mm, card_linear.shape[:2])
    if len(points) < 12:
        return None
    # Mean colour of each square via one 3-channel integral image.
    integral = cv2.integral(np.ascontiguousarray(card_linear, dtype=np.float64))
    r0, r1, c0, c1 = rows - half, rows + half + 1, cols - half, cols + half + 1
    sums = integral[r1, c1] - integral[r0, c1] - integral[r1, c0] + integral[r0, c0]
    return _fit_paper(points, sums / ((2 * half + 1) ** 2))


def _paper_squares(geometry: CardGeometry, px_per_mm: float, grid_shape) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Blank-paper squares inside a rectified card grid: ``(points_mm, cols, rows, half)``,
    each square being grid pixels ``rows ± half``, ``cols ± half``."""
    points = _PAPER_POINTS_MM if geometry is CARD_GEOMETRY else geometry.paper_sample_points_mm()
    half = max(1, int(round(1.5 * px_per_mm)))
    h, w = grid_shape
    cols = np.round(points[:, 0] * px_per_mm).astype(int)
    rows = np.round(points[:, 1] * px_per_mm).astype(int)
    ok = (cols - half >= 0) & (rows - half >= 0) & (cols + half < w) & (rows + half < h)
    return points[ok], cols[ok], rows[ok], half


def _flat_field_from_photo(bgr: np.ndarray, image_to_card: np.ndarray, geometry: CardGeometry = CARD_GEOMETRY, lut=None) -> FlatField | None:
    """:func:`fit_flat_field` on the card rectified at ``CARD_PX_PER_MM``, but resampling only
    the paper squares (a few percent of the card) straight from the photo."""
    px = CARD_PX_PER_MM
    grid_shape = (int(round(geometry.height_mm * px)) + 1, int(round(geometry.width_mm * px)) + 1)
    points, cols, rows, half = _paper_squares(geometry, px, grid_shape)
    if len(points) < 12:
        return None
    n, side = len(points), 2 * half + 1
    offsets = np.arange(-half, half + 1)
    # Square k fills rows k·side ... k·side + side - 1 of a (n·side, side) grid of samples.
    gx = np.broadcast_to((cols[:, None, None] + offsets[None, None, :]) / px, (n, side, side))
    gy = np.broadcast_to((rows[:, None, None] + offsets[None, :, None]) / px, (n, side, side))
    card_pts = np.stack([gx, gy], axis=-1).reshape(-1, 1, 2)
    maps = cv2.perspectiveTransform(card_pts, np.linalg.inv(image_to_card)).reshape(n * side, side, 2).astype(np.float32)
    squares = cv2.remap(bgr, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    rgb = _linear_rgb(squares, lut).reshape(n, side * side, 3).astype(np.float64).mean(axis=1)
    return _fit_paper(points, rgb)


def _fit_paper(points: np.ndarray, rgb_means: np.ndarray) -> FlatField | None:
    """Robust quadratic fit of the paper squares' luminance (means (N, 3), linear RGB)."""
    values = rgb_means @ np.array([0.2126, 0.7152, 0.0722])
    x = (points[:, 0] - 125.0) / 125.0
    y = (points[:, 1] - 90.0) / 90.0
    design = np.column_stack([np.ones_like(x), x, y, x * x, x * y, y * y])
    keep = values > 0.25 * np.median(values)  # drop anything clearly not paper
    coef = None
    for _ in range(4):
        if keep.sum() < 12:
            return None
        coef, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        rel = values / np.maximum(design @ coef, 1e-6) - 1.0
        scale = max(1.4826 * np.median(np.abs(rel[keep])), 0.004)
        new_keep = np.abs(rel) < 3.0 * scale
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    fitted = design[keep] @ coef
    paper_rgb = [float(np.median(rgb_means[keep, k] / fitted)) for k in range(3)]
    residual = float(np.sqrt(np.mean((values[keep] / fitted - 1.0) ** 2)))
    lo, hi = float(fitted.min()), float(fitted.max())
    kept = points[keep]
    bounds = (float(kept[:, 0].min()), float(kept[:, 1].min()), float(kept[:, 0].max()), float(kept[:, 1].max()))
    return FlatField(tuple(float(v) for v in coef), tuple(paper_rgb), int(keep.sum()), residual, (lo, hi), bounds)


# ---------------------------------------------------------------------------------------
# Colour checker and correction


@dataclass
class CheckerFit:
    """Affine colour correction camera-linear RGB -> linear sRGB (D65) from the checker."""

    matrix: np.ndarray  # (3, 4): [M | offset]
    residuals_de00: np.ndarray  # (24,) ΔE00 of each corrected patch vs. its reference (NaN if left out)
    used: np.ndarray  # (24,) bool
    source: str  # "card outline" | "mcc"
    patch_centers_px: np.ndarray  # (24, 2) in the decoded image, reference order
    clipped: int
    dark: bool
    quads_px: np.ndarray | None = None  # (24, 4, 2) reference order
    centers_mm: np.ndarray | None = None  # (24, 2) card mm, reference order (None without a card)
    means: np.ndarray | None = None  # (24, 3) camera-linear, flat-fielded, reference order
    clipped_mask: np.ndarray | None = None  # (24,) bool, reference order
    tone_curves: bool = False  # the phone's tone curves were undone from the neutral patches

    def apply(self, rgb_linear: np.ndarray) -> np.ndarray:
        """Correct camera-linear RGB (..., 3) to linear sRGB (..., 3)."""
        rgb = np.asarray(rgb_linear, dtype=np.float32)
        if rgb.ndim == 3 and rgb.shape[2] == 3:  # images: OpenCV's per-pixel affine is ~10× faster
            return cv2.transform(rgb, self.matrix.astype(np.float32))
        return rgb_linear @ self.matrix[:, :3].T + self.matrix[:, 3]

    @property
    def mean_residual(self) -> float:
        return float(np.nanmean(self.residuals_de00))

    @property
    def max_residual(self) -> float:
        return float(np.nanmax(self.residuals_de00))

    @property
    def rms_residual(self) -> float:
        return float(np.sqrt(np.nanmean(self.residuals_de00**2)))

    @property
    def center_mm(self) -> np.ndarray | None:
        return None if self.centers_mm is None else self.centers_mm.mean(axis=0)


def fit_colour_correction(
    patch_rgb_linear: np.ndarray, clipped: np.ndarray, reference_linear: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Weighted least-squares affine map from measured patch colours (24, 3, camera linear
    RGB) to the ColorChecker's values (linear sRGB D65, ``reference_linear`` (24, 3), by
    default those of :data:`charts.DEFAULT_CHART_EDITION`).

    Returns ``(matrix (3, 4), residuals_de00 (24,), used (24,))`` or None when fewer than
    12 patches are usable.
    """
    ref_linear = charts.chart_linear_srgb() if reference_linear is None else np.asarray(reference_linear, np.float64)
    ref_lab = color.linear_srgb_to_lab(ref_linear)
    # A patch outside the sRGB gamut (cyan: negative red) cannot be reached by a phone's
    # sRGB output: it would bend the fit, so it is left out like a clipped one.
    used = ~clipped & np.all(np.isfinite(patch_rgb_linear), axis=1) & np.all(ref_linear >= -0.001, axis=1)
    if used.sum() < 12:
        return None
    x = np.column_stack([patch_rgb_linear, np.ones(24)])
    y_ref = np.clip(ref_linear @ np.array([0.2126, 0.7152, 0.0722]), 0, None)
    weights = 1.0 / np.sqrt(y_ref + 0.02)
    a = x[used] * weights[used, None]
    b = ref_linear[used] * weights[used, None]
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    matrix = coef.T
    corrected = x @ coef
    # Compare like with like: a reference outside the sRGB gamut (cyan) is compared unclipped.
    lab = color.linear_srgb_to_lab(np.where(ref_linear < 0, corrected, np.clip(corrected, 0, None)))
    residuals = color.delta_e_cie2000(lab, ref_lab)
    return matrix, np.where(used, residuals, np.nan), used


NEUTRAL_PATCHES = slice(18, 24)  # white 9.5 ... black 2, reference order


def fit_tone_curves(neutral_means: np.ndarray, neutral_reference: np.ndarray, neutral_ok: np.ndarray) -> np.ndarray | None:
    """Per-channel curves that undo the phone's tone processing, from the six neutral patches.

    ``neutral_means`` (6, 3): the patches as decoded with the standard sRGB curve (camera
    "linear" RGB), already divided by the relative light at each patch;
    ``neutral_reference`` (6, 3): their linear sRGB values; ``neutral_ok`` (6,): usable
    (not clipped). Phones apply an S-curve per channel and roll off the highlights after
    sRGB encoding, so the decoded values are not proportional to the light. For each
    channel the map decoded -> reference is taken monotone piecewise-linear in log-log
    coordinates through the patches, extended beyond the darkest and brightest usable
    patch with the end slopes (kept within 0.6-2.5, a gamma-like range). A per-channel
    scale is left for the colour correction to fit. Returns a LUT (256, 1, 3) float32
    (8-bit R, G, B -> linear), or None when fewer than four patches are usable or they are
    not in order.
    """
    ok = np.asarray(neutral_ok, bool) & np.all(np.isfinite(neutral_means), axis=1) & np.all(neutral_means > 1e-4, axis=1)
    if ok.sum() < 4:
        return None
    decoded = _SRGB_U8_TO_LINEAR.astype(np.float64)
    lut = np.zeros((256, 1, 3), np.float32)
    for k in range(3):
        x = np.log(neutral_means[ok, k])
        y = np.log(np.clip(neutral_reference[ok, k], 1e-4, None))
        order = np.argsort(x)
        x, y = x[order], y[order]
        if np.any(np.diff(x) < 0.02) or np.any(np.diff(y) <= 0):
            return None
        lo_slope = float(np.clip((y[1] - y[0]) / (x[1] - x[0]), 0.6, 2.5))
        hi_slope = float(np.clip((y[-1] - y[-2]) / (x[-1] - x[-2]), 0.6, 2.5))
        v = np.log(np.clip(decoded[1:], 1e-6, None))
        out = np.interp(v, x, y)
        out = np.where(v < x[0], y[0] + lo_slope * (v - x[0]), out)
        out = np.where(v > x[-1], y[-1] + hi_slope * (v - x[-1]), out)
        lut[1:, 0, k] = np.exp(out)
    return lut


def _sample_quads(bgr: np.ndarray, quads_px: np.ndarray, shrink: float = 0.5, lut=None):
    """Mean camera-linear RGB inside the central part of each quad, plus a clipped flag and
    the relative spread (std/mean of luminance) of each patch.

    The patches' common bounding box is converted to linear light (and luminance) once;
    each patch is then a masked mean over a small view of it."""
    n = len(quads_px)
    means, clipped, spread = np.full((n, 3), np.nan), np.ones(n, dtype=bool), np.full(n, np.inf)
    h, w = bgr.shape[:2]
    centers = quads_px.mean(axis=1, keepdims=True)
    inner = centers + (quads_px - centers) * shrink
    lo = np.maximum(np.floor(inner.min(axis=1)).astype(int), 0)
    hi = np.minimum(np.ceil(inner.max(axis=1)).astype(int) + 1, [w, h])
    drawable = np.all(hi - lo >= 2, axis=1)
    if not drawable.any():
        return means, clipped, spread
    bx0, by0 = lo[drawable].min(axis=0)
    bx1, by1 = hi[drawable].max(axis=0)
    crop = bgr[by0:by1, bx0:bx1]
    lin = _linear_rgb(crop, lut)
    lum = cv2.transform(lin, np.array([[0.2126, 0.7152, 0.0722]], dtype=np.float32))
    high = crop >= 254  # near-clipped channel values
    high_count = np.count_nonzero(high, axis=2).astype(np.uint8) if high.any() else None
    for k in np.flatnonzero(drawable):
        (x0, y0), (x1, y1) = lo[k] - [bx0, by0], hi[k] - [bx0, by0]
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.round((inner[k] - lo[k]) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
        count = cv2.countNonZero(mask)
        if count < 4:
            continue
        means[k] = cv2.mean(lin[y0:y1, x0:x1], mask=mask)[:3]
        mean_y, std_y = cv2.meanStdDev(lum[y0:y1, x0:x1], mask=mask)
        n_high = 0.0 if high_count is None else cv2.mean(high_count[y0:y1, x0:x1], mask=mask)[0] * count
        clipped[k] = bool(n_high > 0.1 * count)
        spread[k] = float(std_y[0, 0] / max(mean_y[0, 0], 1e-4))
    return means, clipped, spread


def _light_at(flat: FlatField | None, centers_mm: np.ndarray | None) -> np.ndarray:
    if flat is None or centers_mm is None:
        return np.ones(24)
    return flat.at(centers_mm[:, 0], centers_mm[:, 1])


def _checker_from_quads(bgr, quads_px, centers_mm, flat: FlatField | None, source: str, orders, ref_linear, lut=None) -> CheckerFit | None:
    means, clipped, spread = _sample_quads(bgr, quads_px, lut=lut)
    means = means / _light_at(flat, centers_mm)[:, None]
    best = None
    for order in orders:
        fit = fit_colour_correction(means[order], clipped[order], ref_linear)
        if fit is None:
            continue
        matrix, residuals, used = fit
        if best is None or np.nanmean(residuals) < np.nanmean(best.residuals_de00):
            dark = bool(np.nanmax(means[order][18]) < 0.06) if np.isfinite(means[order][18]).all() else True
            best = CheckerFit(
                matrix, residuals, used, source, quads_px.mean(axis=1)[order], int(clipped.sum()), dark,
                quads_px=quads_px[order], centers_mm=None if centers_mm is None else centers_mm[order],
                means=means[order], clipped_mask=clipped[order],
            )
    if best is None or np.nanmedian(spread) > 0.15:
        return None
    return best


def refit_with_tone_curves(bgr, checker: CheckerFit, flat: FlatField | None, flat_for, ref_linear) -> tuple[CheckerFit, np.ndarray, FlatField | None] | None:
    """Undo the phone's tone curves (:func:`fit_tone_curves` on the neutral patches), then
    fit the flat field (``flat_for(lut)``) and the colour correction again on the
    linearised values. Two rounds: the light across the neutral row comes from the flat
    field, which depends on the curves. Returns ``(checker, lut, flat)`` or None when the
    neutrals do not allow it (the sRGB decoding is kept)."""
    raw, _clipped, _spread = _sample_quads(bgr, checker.quads_px[NEUTRAL_PATCHES])  # sRGB-decoded
    ok = ~checker.clipped_mask[NEUTRAL_PATCHES]
    result = None
    for _ in range(2):
        light = _light_at(flat, checker.centers_mm)[NEUTRAL_PATCHES] if checker.centers_mm is not None else np.ones(6)
        light = light / np.mean(light)
        lut = fit_tone_curves(raw / light[:, None], ref_linear[NEUTRAL_PATCHES], ok)
        if lut is None:
            return result
        flat = flat_for(lut)
        means, clipped, _spread = _sample_quads(bgr, checker.quads_px, lut=lut)
        means = means / _light_at(flat, checker.centers_mm)[:, None]
        refit = fit_colour_correction(means, clipped, ref_linear)
        if refit is None:
            return result
        matrix, residuals, used = refit
        fit = CheckerFit(matrix, residuals, used, checker.source, checker.patch_centers_px, int(clipped.sum()), checker.dark,
                         quads_px=checker.quads_px, centers_mm=checker.centers_mm, means=means, clipped_mask=clipped,
                         tone_curves=True)
        result = (fit, lut, flat)
    return result


def _checker_on_card(bgr, detection: CardDetection, flat, geometry: CardGeometry, ref_linear) -> CheckerFit | None:
    centers = geometry.checker_patch_centers_mm()
    half = geometry.checker_patch_size_mm / 2.0
    offsets = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    quads_mm = centers[:, None, :] + offsets[None, :, :]
    inv = np.linalg.inv(detection.image_to_card)
    quads_px = cv2.perspectiveTransform(quads_mm.reshape(-1, 1, 2), inv).reshape(24, 4, 2)
    # Right way up, or turned 180° in the outline (patch i sits where patch 23 - i belongs).
    orders = (np.arange(24), np.arange(24)[::-1])
    # With ``order``, position order[k] holds reference patch k.
    fit = _checker_from_quads(bgr, quads_px, centers, flat, "card outline", orders, ref_linear)
    if fit is None or fit.mean_residual > 3.0:
        return None
    return fit


def _checker_with_mcc(bgr, detection: CardDetection | None, flat, half: np.ndarray | None, ref_linear,
                      *, full_resolution: bool = False) -> CheckerFit | None:
    """OpenCV's ``mcc`` detector on a ~1000 px copy, or (``full_resolution``) on a copy of
    at most ~2000 px, for small charts the reduced copy misses."""
    scale = 1.0
    small = bgr
    limit = 2000.0 if full_resolution else 1000.0
    if max(bgr.shape[:2]) > 1.1 * limit:
        source = half if half is not None and max(half.shape[:2]) >= limit else bgr
        small = source if max(source.shape[:2]) <= 1.1 * limit else cv2.resize(
            source, None, fx=limit / max(source.shape[:2]), fy=limit / max(source.shape[:2]), interpolation=cv2.INTER_AREA
        )
        scale = small.shape[1] / bgr.shape[1]
    found = cv_compat.detect_mcc24(small)
    if found is None:
        return None
    quads, _cost = found
    quads_px = (quads + 0.5) / scale - 0.5
    centers_mm = None
    if detection is not None and detection.image_to_card is not None:
        centers_mm = cv2.perspectiveTransform(quads_px.mean(axis=1).reshape(-1, 1, 2).astype(np.float64), detection.image_to_card).reshape(24, 2)
    orders = (np.arange(24), np.arange(24)[::-1])
    fit = _checker_from_quads(bgr, quads_px, centers_mm, flat, "mcc", orders, ref_linear)
    if fit is None or fit.mean_residual > 6.0:
        return None
    return fit


# ---------------------------------------------------------------------------------------
# Unit segmentation and measurement


@dataclass
class UnitMeasurement:
    """The unit found in the rectified unit area."""

    length_mm: float
    width_mm: float
    angle_deg: float
    center_mm: tuple[float, float]
    box_mm: np.ndarray  # (4, 2) corners of the minimum-area rectangle, card mm
    area_mm2: float
    rgb_linear: np.ndarray  # (3,) robust mean, corrected linear sRGB (or camera linear)
    pixels_used: int
    inlier_fraction: float
    lab_spread: float  # ΔE00 spread (median abs deviation) of pixels around the mean
    touches_border: bool
    paper_rgb_linear: np.ndarray  # (3,) background colour the unit was separated from
    split_fraction: float = 0.0  # area of the second-largest nearby piece / the largest (glare band)
    clipped_fraction: float = 0.0  # share of the unit's core pixels with a clipped channel


def _largest_component(mask: np.ndarray, min_area: int) -> np.ndarray | None:
    """The largest 8-connected blob of ``mask`` with its holes filled (uint8 0/1), or None
    when it is smaller than ``min_area`` pixels. Contours are much cheaper than labelling."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    best = max(contours, key=cv2.contourArea)
    if cv2.contourArea(best) < min_area:
        return None
    out = np.zeros_like(mask)
    cv2.drawContours(out, [best], -1, 1, thickness=cv2.FILLED)
    return out


def _caliper_extent(t: np.ndarray, center, axis, perp, half_len: float, half_wid: float) -> float | None:
    """Sub-pixel extent (px) of the object along ``axis``: the mean of ``t`` over a band
    through the centre (±30 % of the other side) is sampled along the axis and the 0.5
    crossings on both sides are interpolated. Straight sides give unbiased edges whatever
    their angle to the pixel grid."""
    step = 0.25
    s = np.arange(-(half_len + 4.0), half_len + 4.0 + step, step, dtype=np.float32)
    r = np.arange(-0.3 * half_wid, 0.3 * half_wid + 1e-6, 1.0, dtype=np.float32)
    if r.size == 0:
        r = np.zeros(1, np.float32)
    ss, rr = s[None, :], r[:, None]
    map_x = (center[0] + ss * axis[0] + rr * perp[0]).astype(np.float32)
    map_y = (center[1] + ss * axis[1] + rr * perp[1]).astype(np.float32)
    profile = cv2.remap(t, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0).mean(axis=0)
    mid = len(s) // 2
    if profile[mid] < 0.5:
        return None
    below = profile < 0.5
    edges = []
    for direction in (1, -1):
        # Walk from the centre to the last sample at or above 0.5 before the first below.
        run = below[mid + 1 :] if direction == 1 else below[:mid][::-1]
        first = np.flatnonzero(run)
        k = mid + direction * int(first[0]) if first.size else (len(s) - 1 if direction == 1 else 0)
        a, b = profile[k], profile[k + direction] if 0 <= k + direction < len(s) else 0.0
        frac = (a - 0.5) / (a - b) if a != b else 0.0
        edges.append(s[k] + direction * step * frac)
    return float(edges[0] - edges[1])


def measure_unit(
    linear: np.ndarray,
    raw_u8: np.ndarray,
    px_per_mm: float,
    origin_mm=(0.0, 0.0),
    exclude: np.ndarray | None = None,
    paper: np.ndarray | None = None,
    *,
    refine: bool = True,
) -> UnitMeasurement | None:
    """Segment the unit on blank paper and measure it.

    ``linear``: (H, W, 3) linear RGB of the rectified area (flat-fielded and, when
    possible, colour-corrected), ``raw_u8``: the same area as decoded 8-bit BGR (to spot
    clipped pixels), ``px_per_mm``: grid scale; ``origin_mm``: card mm of pixel (0, 0);
    ``exclude``: optional (H, W) mask of pixels that cannot be the unit (the checker);
    ``paper``: background colour (3,), by default the median of a 1.5 mm border ring;
    ``refine=False`` (a coarse pass that only locates the unit) skips the sub-pixel
    calipers (sides are then whole pixels + 1) and the colour spread (reported as 0).
    Returns None when nothing unit-like is found.
    """
    h, w = linear.shape[:2]
    if paper is None:
        ring = max(2, int(round(1.5 * px_per_mm)))
        border = np.concatenate([
            linear[:ring].reshape(-1, 3), linear[-ring:].reshape(-1, 3),
            linear[:, :ring].reshape(-1, 3), linear[:, -ring:].reshape(-1, 3),
        ])  # fmt: skip
        paper = np.median(border, axis=0)
    paper = np.asarray(paper, dtype=np.float32)
    # Not paper: some channel more than 30 % away from the paper's value.
    near_paper = cv2.inRange(linear, tuple(float(v) for v in 0.7 * paper), tuple(float(v) for v in 1.3 * paper))
    coarse = (near_paper == 0).astype(np.uint8)
    if exclude is not None:
        coarse[exclude.astype(bool)] = 0
    k = max(3, int(round(0.8 * px_per_mm)) | 1)
    coarse = cv2.morphologyEx(coarse, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    split = _split_fraction(coarse, px_per_mm)
    coarse = _largest_component(coarse, int(40 * px_per_mm * px_per_mm))
    if coarse is None:
        return None
    erode_px = max(2, int(round(1.5 * px_per_mm)))
    core = cv2.erode(coarse, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1)))
    if cv2.countNonZero(core) < 50:
        core = coarse
    raw_max = cv2.max(cv2.max(raw_u8[..., 0], raw_u8[..., 1]), raw_u8[..., 2])
    usable = cv2.bitwise_and(core, (raw_max < 250).astype(np.uint8))
    clipped_fraction = 1.0 - cv2.countNonZero(usable) / max(cv2.countNonZero(core), 1)
    if cv2.countNonZero(usable) < 20:
        usable = core
    lum = cv2.transform(linear, np.array([[0.2126, 0.7152, 0.0722]], dtype=np.float32))
    # Typical luminance from a subsample (medians of ~20k values are plenty).
    sample = lum[usable.astype(bool)]
    sample = sample[:: max(1, sample.size // 20000)]
    med = float(np.median(sample))
    mad = 1.4826 * float(np.median(np.abs(sample - med))) + 1e-6
    # Highlights and shadows: luminance far from the unit's typical value, or clipped.
    thr = max(3.0 * mad, 0.03 * med)
    inliers = cv2.bitwise_and(usable, cv2.inRange(lum, med - thr, med + thr) // 255)
    if cv2.countNonZero(inliers) < 20:
        inliers = core
    n_inliers = cv2.countNonZero(inliers)
    unit_rgb = np.array(cv2.mean(linear, mask=inliers)[:3], dtype=np.float32)
    inlier_fraction = n_inliers / max(cv2.countNonZero(core), 1)

    # Fine mask: threshold halfway between paper and unit colour along the line joining
    # them (linear light mixes linearly under blur, so the edge sits at t = 0.5).
    direction = unit_rgb - paper
    denom = float(direction @ direction)
    if denom < 1e-6:
        return None
    proj = (direction / denom).astype(np.float32)
    t = cv2.transform(linear, np.append(proj, -float(paper @ proj)).reshape(1, 4).astype(np.float32))
    fine = (t > 0.5).astype(np.uint8)
    fine = cv2.morphologyEx(fine, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    fine = fine & cv2.dilate(coarse, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    # A band brighter than the paper belongs to the coarse mask but not to the fine one.
    split = max(split, _split_fraction(fine, px_per_mm))
    fine = _largest_component(fine, int(40 * px_per_mm * px_per_mm))
    if fine is None:
        return None
    contours, _ = cv2.findContours(fine, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour.astype(np.float32))
    # The rectangle's sides come from pixel centres (up to a pixel off, depending on the
    # angle); refine each side length with a sub-pixel caliper on t.
    corners = cv2.boxPoints(((cx, cy), (rw, rh), angle))
    axis_w = (corners[1] - corners[0]) / max(np.linalg.norm(corners[1] - corners[0]), 1e-6)
    axis_h = (corners[2] - corners[1]) / max(np.linalg.norm(corners[2] - corners[1]), 1e-6)
    if abs(np.linalg.norm(corners[1] - corners[0]) - rw) > abs(np.linalg.norm(corners[1] - corners[0]) - rh):
        axis_w, axis_h = axis_h, axis_w  # boxPoints order differs between OpenCV versions
    t_obj = None if not refine else t * cv2.dilate(fine, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))).astype(np.float32)
    refined_w = _caliper_extent(t_obj, (cx, cy), axis_w, axis_h, rw / 2, rh / 2) if refine else None
    refined_h = _caliper_extent(t_obj, (cx, cy), axis_h, axis_w, rh / 2, rw / 2) if refine else None
    rw = refined_w if refined_w is not None and abs(refined_w - rw) < 3.0 else rw + 1.0
    rh = refined_h if refined_h is not None and abs(refined_h - rh) < 3.0 else rh + 1.0
    box = cv2.boxPoints(((cx, cy), (rw, rh), angle)) / px_per_mm + np.asarray(origin_mm)
    spread = 0.0
    if refine:
        step = max(1, int(math.sqrt(n_inliers / 2000)))  # ~2000 pixels on a sparse grid
        in_pix = linear[::step, ::step][inliers[::step, ::step].astype(bool)]
        lab_pix = color.linear_srgb_to_lab(np.clip(in_pix, 0, None))
        spread = float(np.median(color.delta_e_cie2000(lab_pix, color.linear_srgb_to_lab(np.clip(unit_rgb, 0, None)))))
    # Touching the area's edge over more than 1 mm: part of the unit may lie outside.
    edge_px = int(fine[:2].sum() + fine[-2:].sum() + fine[:, :2].sum() + fine[:, -2:].sum())
    touches = edge_px >= 2 * px_per_mm
    return UnitMeasurement(
        length_mm=float(max(rw, rh) / px_per_mm),
        width_mm=float(min(rw, rh) / px_per_mm),
        angle_deg=float(angle),
        center_mm=(float(cx / px_per_mm + origin_mm[0]), float(cy / px_per_mm + origin_mm[1])),
        box_mm=box,
        area_mm2=float(fine.sum() / px_per_mm**2),
        rgb_linear=unit_rgb.astype(np.float64),
        pixels_used=int(n_inliers),
        inlier_fraction=float(inlier_fraction),
        lab_spread=spread,
        touches_border=touches,
        paper_rgb_linear=paper.astype(np.float64),
        split_fraction=split,
        clipped_fraction=float(clipped_fraction),
    )


def _split_fraction(mask: np.ndarray, px_per_mm: float) -> float:
    """Area of the second-largest piece of ``mask`` lying within 15 mm of the largest,
    relative to the largest (0 when there is none): a unit cut in two by a reflected
    window band or a strip of glare. One unit lies on the card, so two large pieces side
    by side are one unit seen badly."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) < 2:
        return 0.0
    contours = sorted(contours, key=cv2.contourArea, reverse=True)
    big = cv2.contourArea(contours[0])
    if big < 40 * px_per_mm * px_per_mm:
        return 0.0
    min_area = 15 * px_per_mm * px_per_mm
    x, y, w, h = cv2.boundingRect(contours[0])
    reach = 15.0 * px_per_mm
    for other in contours[1:3]:
        area = cv2.contourArea(other)
        if area < min_area:
            break
        ox, oy, ow, oh = cv2.boundingRect(other)
        if ox < x + w + reach and x < ox + ow + reach and oy < y + h + reach and y < oy + oh + reach:
            return float(area / big)
    return 0.0


# ---------------------------------------------------------------------------------------
# Quality measures


def _blur_sigma_px(image: np.ndarray, quads_px: list[np.ndarray]) -> float | None:
    """Edge blur (Gaussian sigma, px) from the markers' black/white edges: a step of
    contrast C blurred by sigma has a peak gradient C / (sigma·sqrt(2π)). ``image``: grey,
    or BGR (then only the marker areas are converted to grey)."""
    sigmas = []
    h, w = image.shape[:2]
    for quad in quads_px:
        x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 3
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 4
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            continue
        roi_u8 = image[y0:y1, x0:x1]
        roi_u8 = np.ascontiguousarray(cv2.cvtColor(roi_u8, cv2.COLOR_BGR2GRAY) if roi_u8.ndim == 3 else roi_u8)
        roi = cv2.LUT(roi_u8, _SRGB_U8_TO_LINEAR)
        grad = cv2.magnitude(cv2.Sobel(roi, cv2.CV_32F, 1, 0, ksize=3, scale=0.125), cv2.Sobel(roi, cv2.CV_32F, 0, 1, ksize=3, scale=0.125))
        # Percentiles of the 8-bit values: the sRGB -> linear table is monotonic.
        flat_roi = roi_u8.ravel()
        n = flat_roi.size
        low, high = _SRGB_U8_TO_LINEAR[np.partition(flat_roi, [n // 20, n - 1 - n // 20])[[n // 20, n - 1 - n // 20]]]
        contrast = float(high - low)
        g = grad.ravel()
        peak = float(np.partition(g, g.size - 1 - g.size // 200)[g.size - 1 - g.size // 200])
        if contrast > 0.05 and peak > 0:
            sigmas.append(contrast / (peak * math.sqrt(2 * math.pi)))
    return float(np.median(sigmas)) if sigmas else None


def _laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the Laplacian (a common, resolution-dependent sharpness score) of an
    image at most ~1000 px on its longer side."""
    small = gray if max(gray.shape) <= 1100 else cv2.resize(gray, None, fx=1000 / max(gray.shape), fy=1000 / max(gray.shape), interpolation=cv2.INTER_AREA)
    _, std = cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_16S))
    return float(std[0, 0]) ** 2


# ---------------------------------------------------------------------------------------
# Overlay


def _overlay(bgr, half, detection, checker, unit, status, lines) -> bytes:
    """The annotated JPEG. Draws on ``bgr`` or ``half`` itself when one is small enough:
    the caller must be done with both."""
    if max(bgr.shape[:2]) <= OVERLAY_MAX_SIDE:
        img = bgr
    elif max(half.shape[:2]) <= OVERLAY_MAX_SIDE:
        img = half
    else:
        f = OVERLAY_MAX_SIDE / max(half.shape[:2])
        img = cv2.resize(half, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    scale = img.shape[1] / bgr.shape[1]
    thick = max(1, int(round(max(img.shape[:2]) / 600)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    fs = max(0.4, max(img.shape[:2]) / 1800)

    def to_px(points_px):
        return np.round((np.asarray(points_px) + 0.5) * scale - 0.5).astype(np.int32)

    if detection is not None:
        for marker_id, quad in zip(detection.ids, detection.corners_px, strict=True):
            cv2.polylines(img, [to_px(quad)], True, (0, 200, 0), thick, cv2.LINE_AA)
            cv2.putText(img, str(marker_id), tuple(int(v) for v in to_px(quad[0])), font, fs, (0, 200, 0), thick, cv2.LINE_AA)
    if checker is not None:
        for center, res in zip(to_px(checker.patch_centers_px).tolist(), checker.residuals_de00, strict=True):
            col = (0, 200, 0) if res <= 2 else ((0, 165, 255) if res <= 4 else (0, 0, 255))
            p = tuple(center)
            cv2.circle(img, p, max(3, int(6 * fs)), col, thick, cv2.LINE_AA)
            label = "-" if not np.isfinite(res) else f"{res:.1f}"
            cv2.putText(img, label, (p[0] - int(10 * fs), p[1] + int(22 * fs)), font, fs * 0.7, col, max(1, thick - 1), cv2.LINE_AA)
    if unit is not None and detection is not None and detection.image_to_card is not None:
        inv = np.linalg.inv(detection.image_to_card)
        box = cv2.perspectiveTransform(unit.box_mm.reshape(-1, 1, 2), inv).reshape(-1, 2)
        cv2.polylines(img, [to_px(box)], True, (255, 0, 255), thick + 1, cv2.LINE_AA)
        top = to_px(box)[np.argmin(box[:, 1])]
        cv2.putText(img, f"{unit.length_mm:.1f} x {unit.width_mm:.1f} mm", (int(top[0]), int(top[1]) - 8), font, fs, (255, 0, 255), thick, cv2.LINE_AA)
    colour = {"pass": (0, 170, 0), "review": (0, 200, 230), "fail": (0, 0, 230), "retake": (200, 80, 0), "unusable": (0, 140, 255)}[status]
    y = int(30 * fs) + 4
    for text in [status.upper(), *lines]:
        cv2.putText(img, text, (8, y), font, fs, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, text, (8, y), font, fs, colour if text == status.upper() else (255, 255, 255), thick, cv2.LINE_AA)
        y += int(32 * fs) + 2
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return buf.tobytes() if ok else b""


# ---------------------------------------------------------------------------------------
# Analysis


#: Stable reason codes (``reason_codes``), each with the English text that goes with it in
#: ``reasons`` (some texts get numbers appended). Codes never change meaning; texts may improve.
REASON_TEXTS = {
    # Retake: the photo itself is at fault, a new photo fixes it.
    "glare_split": "glare on the unit: a reflection cuts it in two or hides much of it; tilt the unit or move the light and retake",
    "blurry": "blurry: photo too blurry; hold the phone still and retake",
    "over_exposed": "over-exposed: the card and chart are washed out; retake with less light or tap to expose on the card",
    "uneven_light": "uneven light or shadow across the card; retake in even light with no shadow on the card",
    # Review: the measurement is less certain.
    "glare": "glare on the unit",
    "chart_far": "chart too far from the unit: place the chart in its outline on the card",
    "light_too_warm": "light too warm for a reliable colour: use daylight or a daylight lamp",
    "under_exposed": "photo under-exposed",
    "colour_uncertain": "colour too close to the tolerance to decide: a reviewer should look",
    "size_uncertain": "size too close to the tolerance to decide: a reviewer should look",
    "low_light_evenness": "card paper not visible enough to even out the light",
    "markers_disagree": "card markers do not agree (card bent or markers misread)",
    "patches_clipped": "patches over-exposed",
    "patches_dark": "patches under-exposed",
    "unit_uneven": "unit colour is uneven (pattern, glare or shadow)",
    # Failures.
    "colour_out_of_tolerance": "colour ΔE00 above tolerance",
    "size_out_of_tolerance": "size differs from the golden sample by more than the tolerance",
    # No verdict possible.
    "card_not_found": "inspection card not found: size not measured",
    "checker_not_found": "colour checker not found: colour not calibrated",
    "no_unit": "no unit found on the card",
    "unit_off_area": "unit not fully inside the marked area of the card: size unreliable",
    "unreadable": "image could not be read",
    "analysis_error": "analysis failed unexpectedly",
    # Notes.
    "no_colour_tolerance": "no colour tolerance in the reference",
    "no_reference_colour": "no reference colour to compare with",
    "no_size_tolerance": "no size tolerance in the reference",
}
RETAKE_CODES = ("glare_split", "blurry", "over_exposed", "uneven_light")
UNEVEN_LIGHT_RESIDUAL = 0.012  # flat-field RMS residual above which the light is uneven (clean ≤ 0.006)
CHART_FAR_MM = 160.0  # chart centre to unit centre (a chart in its outline is at most ~130 mm away)
WARM_LIGHT_CCT_K = 5000.0  # apparent colour temperature of the paper (after the phone's white balance)
STATUSES = ("pass", "review", "fail", "retake", "unusable")


@dataclass
class _Result:
    status: str = "unusable"
    calibrated: bool = False
    lab: list | None = None
    delta_e_cie2000: float | None = None
    delta_e_u: float | None = None
    length_mm: float | None = None
    width_mm: float | None = None
    length_u_mm: float | None = None
    width_u_mm: float | None = None
    light_cct_k: int | None = None
    chart_edition: str = charts.DEFAULT_CHART_EDITION
    confidence: float = 0.0
    reasons: list = field(default_factory=list)
    reason_codes: list = field(default_factory=list)
    overlay_jpeg: bytes = b""
    quality: dict = field(default_factory=dict)

    def add(self, code: str, detail: str | None = None, *, first: bool = False) -> None:
        """Record a reason: its stable code and its English text (``detail`` replaces the
        standard text). ``first`` puts it before the others (failures)."""
        if code in self.reason_codes and detail is None:
            return
        text = detail if detail is not None else REASON_TEXTS[code]
        if first:
            self.reason_codes.insert(0, code)
            self.reasons.insert(0, text)
        else:
            self.reason_codes.append(code)
            self.reasons.append(text)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "calibrated": self.calibrated,
            "lab": self.lab,
            "delta_e_cie2000": self.delta_e_cie2000,
            "delta_e_u": self.delta_e_u,
            "length_mm": self.length_mm,
            "width_mm": self.width_mm,
            "length_u_mm": self.length_u_mm,
            "width_u_mm": self.width_u_mm,
            "light_cct_k": self.light_cct_k,
            "chart_edition": self.chart_edition,
            "confidence": round(float(min(1.0, max(0.0, self.confidence))), 3),
            "reasons": list(self.reasons),
            "reason_codes": list(self.reason_codes),
            "overlay_jpeg": self.overlay_jpeg,
            "quality": self.quality,
        }


def _reference_number(reference: dict, key: str) -> float | None:
    value = reference.get(key) if isinstance(reference, dict) else None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _reference_lab(reference: dict) -> np.ndarray | None:
    lab = reference.get("lab") if isinstance(reference, dict) else None
    try:
        lab = np.asarray(lab, dtype=np.float64).reshape(3)
    except (TypeError, ValueError):
        return None
    return lab if np.all(np.isfinite(lab)) else None


def cct_from_linear_srgb(rgb_linear) -> float | None:
    """Correlated colour temperature (K) of a linear-sRGB colour, by McCamy's (1992) cubic
    on its CIE 1931 chromaticity; None for black or far off the Planckian locus."""
    xyz = color.linear_srgb_to_xyz(np.clip(np.asarray(rgb_linear, np.float64), 0, None))
    total = float(xyz.sum())
    if total <= 1e-9:
        return None
    x, y = xyz[0] / total, xyz[1] / total
    if abs(0.1858 - y) < 1e-6:
        return None
    n = (x - 0.3320) / (0.1858 - y)
    cct = 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33
    return float(cct) if 1500.0 <= cct <= 25000.0 else None


def _delta_e_of_gain(rgb_linear: np.ndarray, rel: np.ndarray | float) -> float:
    """ΔE00 caused by a relative error ``rel`` (scalar: brightness, (3,): per channel) of a
    linear sRGB colour: how an uncertain light turns into an uncertain colour."""
    rgb = np.clip(np.asarray(rgb_linear, np.float64), 1e-5, None)
    a = color.linear_srgb_to_lab(rgb)
    b = color.linear_srgb_to_lab(rgb * (1.0 + np.asarray(rel, np.float64)))
    return float(color.delta_e_cie2000(a, b))


def analyze_photo(data: bytes, reference: dict, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                  chart_edition: str = charts.DEFAULT_CHART_EDITION, time_budget_s: float = ANALYSIS_TIME_BUDGET_S) -> dict:
    """Analyse one inspection photo against the golden sample.

    ``data``: the uploaded file (JPEG, PNG or WebP). ``reference``: ``lab`` (CIELAB D65,
    3 floats), ``length_mm``, ``width_mm``, ``delta_e_max`` (ΔE00) and
    ``size_tolerance_mm``; missing values skip that check (with a reason).

    Returns a dict: ``status`` ("pass" | "fail" | "unusable"), ``calibrated`` (colour
    corrected from the checker), ``lab`` ([L*, a*, b*] D65 or None), ``delta_e_cie2000``,
    ``length_mm``, ``width_mm``, ``confidence`` (0..1), ``reasons`` (plain language),
    ``overlay_jpeg`` (bytes, may be empty when nothing could be decoded) and ``quality``
    (diagnostics). Never raises for bad photos: unreadable, truncated, oversized or
    unexpected input ends as ``unusable`` with a reason.

    ``quality`` holds plain numbers: ``image_size`` / ``decoded_size`` ([w, h] px),
    ``decode_reduction``, ``laplacian_variance`` (global sharpness score),
    ``clipped_fraction`` / ``dark_fraction`` (share of pixels ≥ 250 / ≤ 5),
    ``markers_found``, ``marker_ids``, ``marker_reprojection_px``, ``px_per_mm``,
    ``blur_sigma_px`` / ``blur_sigma_mm`` (edge blur measured on the markers),
    ``paper_samples``, ``flat_field_residual``, ``light_falloff`` (0 = even light),
    ``paper_white_linear``, ``checker_source`` ("card outline" | "mcc"),
    ``patch_residuals_de00`` (24 values, None for a patch left out),
    ``patch_residual_mean_de00``, ``patch_residual_max_de00``, ``patches_clipped``,
    ``unit_pixels``, ``unit_inlier_fraction``, ``unit_colour_spread_de00``,
    ``unit_area_mm2``, ``unit_center_mm`` — each present when it could be measured.

    Status: "fail" when a trustworthy measurement is out of tolerance (size with the card
    found, colour only when calibrated); "unusable" when the photo cannot support a
    verdict (no card, no unit, too blurry, unit off the marked area, or colour
    uncalibrated); "pass" otherwise.
    """
    if chart_edition not in charts.CHART_EDITIONS:
        raise ValueError(f"unknown chart edition {chart_edition!r}")
    try:
        return _Pipeline(data, reference, max_pixels, chart_edition, time_budget_s).run().as_dict()
    except MemoryError:
        return _Result(reasons=["not enough memory to analyse this photo"], reason_codes=["analysis_error"]).as_dict()
    except Exception as exc:  # noqa: BLE001 - a photo must never crash the worker
        return _Result(reasons=[f"analysis failed unexpectedly ({type(exc).__name__})"], reason_codes=["analysis_error"]).as_dict()


class _Pipeline:
    """One analysis, stage by stage; each stage records its diagnostics and reasons."""

    def __init__(self, data: bytes, reference: dict, max_pixels: int, chart_edition: str, time_budget_s: float):
        self.data, self.reference, self.max_pixels = data, reference, max_pixels
        self.result = _Result(chart_edition=chart_edition)
        self.q = self.result.quality
        self.ref_linear = charts.chart_linear_srgb(chart_edition)
        self.time_budget_s = time_budget_s
        self.started = time.perf_counter()
        self.geometry = CARD_GEOMETRY
        self.confidence = 1.0
        self.bgr = self.half = None
        self.detection = None
        self.has_card = False
        self.blur_mm = None
        self.too_blurry = False
        self.flat = None
        self.paper_srgb = None  # paper colour decoded with the sRGB curve (the light as the phone saw it)
        self.checker = None
        self.lut = None
        self.unit = None
        self.unit_rgb = None
        self.u_parts: dict[str, float] = {}

    def run(self) -> _Result:
        if not self._decode():
            return self.result
        self._find_card()
        self._measure_blur()
        self._flat_field()
        self._calibrate()
        self._check_exposure()
        self._find_unit()
        self._unit_colour()
        self._uncertainty()
        self._verdict()
        self._finish()
        return self.result

    # -- stages ---------------------------------------------------------------------------

    def _decode(self) -> bool:
        decoded = decode_photo(self.data, max_pixels=self.max_pixels)
        self.data = None
        self.q["image_size"] = list(decoded.size)
        self.q["format"] = decoded.format
        if decoded.bgr is None:
            self.result.add("unreadable", decoded.problem or "image could not be decoded")
            return False
        bgr = self.bgr = decoded.bgr
        self.q["decoded_size"] = [int(bgr.shape[1]), int(bgr.shape[0])]
        self.q["decode_reduction"] = decoded.factor
        # One half-size copy serves marker detection, the global statistics, mcc and the overlay.
        self.half = bgr if max(bgr.shape[:2]) <= 1400 else cv2.resize(bgr, (bgr.shape[1] // 2, bgr.shape[0] // 2), interpolation=cv2.INTER_AREA)
        self.half_gray = cv2.cvtColor(self.half, cv2.COLOR_BGR2GRAY)
        self.q["laplacian_variance"] = round(_laplacian_variance(self.half_gray), 2)
        hist = cv2.calcHist([self.half_gray], [0], None, [256], [0, 256]).ravel() / self.half_gray.size
        self.q["clipped_fraction"] = round(float(hist[250:].sum()), 4)
        self.q["dark_fraction"] = round(float(hist[:6].sum()), 4)
        return True

    def _find_card(self) -> None:
        bgr, q = self.bgr, self.q
        detection = self.detection = detect_card(bgr, self.geometry, small_gray=self.half_gray if self.half is not bgr else None)
        q["markers_found"] = len(detection.ids)
        q["marker_ids"] = sorted(detection.ids)
        self.has_card = detection.image_to_card is not None
        if self.has_card:
            q["marker_reprojection_px"] = round(detection.reprojection_error_px, 3)
            q["px_per_mm"] = round(detection.px_per_mm, 3)
            self.confidence *= min(1.0, 0.55 + 0.075 * len(detection.ids))
            if detection.reprojection_error_px > max(2.0, 0.5 * detection.px_per_mm):
                self.result.add("markers_disagree")
                self.confidence *= 0.5
        else:
            self.result.add("card_not_found", "inspection card not found (fewer than 2 markers visible): size not measured"
                            if detection.ids else None)
            self.confidence *= 0.3

    def _measure_blur(self) -> None:
        detection, q = self.detection, self.q
        if detection.corners_px:
            blur_px = _blur_sigma_px(self.bgr, detection.corners_px)
            if blur_px is not None:
                q["blur_sigma_px"] = round(blur_px, 3)
                if self.has_card:
                    self.blur_mm = blur_px / detection.px_per_mm
                    q["blur_sigma_mm"] = round(self.blur_mm, 3)
        if self.blur_mm is not None and self.blur_mm > BLUR_LIMIT_MM:
            self.too_blurry = True
            self.result.add("blurry", f"blurry: photo too blurry (edges spread over {self.blur_mm:.1f} mm); hold the phone still and retake")
        elif not self.has_card and (q["laplacian_variance"] < LAPLACIAN_BLURRY or self._frame_blur() > FRAME_BLURRY):
            # No marker edges to measure: fall back on the global sharpness score. Said first:
            # the blur is why the card was not found.
            self.too_blurry = True
            self.result.add("blurry", "blurry: photo too blurry, so the card markers could not be read; hold the phone still and retake", first=True)
        if self.blur_mm is not None:
            self.confidence *= float(np.interp(self.blur_mm, [0.25, BLUR_LIMIT_MM, 1.5], [1.0, 0.6, 0.2]))

    def _frame_blur(self) -> float:
        """Blur of the sharpest edges in the frame (Gaussian sigma as a share of the image's
        width), for photos whose markers could not be read: a step of contrast C blurred by
        sigma has a peak gradient C / (sigma·sqrt(2π))."""
        gray = self.half_gray
        lin = cv2.LUT(gray, _SRGB_U8_TO_LINEAR)
        mag = cv2.magnitude(cv2.Sobel(lin, cv2.CV_32F, 1, 0, ksize=3, scale=0.125),
                            cv2.Sobel(lin, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)).ravel()
        k = mag.size - 1 - mag.size // 2000
        peak = float(np.partition(mag, k)[k])
        values = gray.ravel()
        n = values.size
        lo, hi = _SRGB_U8_TO_LINEAR[np.partition(values, [n // 50, n - 1 - n // 50])[[n // 50, n - 1 - n // 50]]]
        if peak <= 0:
            return float("inf")
        sigma = float(hi - lo) / (peak * math.sqrt(2 * math.pi))
        self.q["frame_blur"] = round(sigma / max(gray.shape), 5)
        return sigma / max(gray.shape)

    def _flat_field(self) -> None:
        if not self.has_card:
            return
        flat = self.flat = _flat_field_from_photo(self.bgr, self.detection.image_to_card, self.geometry)
        if flat is None:
            self.result.add("low_light_evenness")
            self.confidence *= 0.8
            return
        self.paper_srgb = np.asarray(flat.paper_rgb_linear) * flat.value_range[1]
        self.q["paper_white_linear"] = round(float(self.paper_srgb.max()), 4)
        self._record_flat()

    def _record_flat(self) -> None:
        flat, q = self.flat, self.q
        q["paper_samples"] = flat.samples
        q["flat_field_residual"] = round(flat.residual_rel, 4)
        q["light_falloff"] = round(1.0 - flat.value_range[0] / max(flat.value_range[1], 1e-9), 3)

    def _calibrate(self) -> None:
        bgr, result = self.bgr, self.result
        checker = _checker_on_card(bgr, self.detection, self.flat, self.geometry, self.ref_linear) if self.has_card else None
        card = self.detection if self.has_card else None
        if checker is None:
            checker = _checker_with_mcc(bgr, card, self.flat, self.half, self.ref_linear)
        if checker is None and max(bgr.shape[:2]) > 1100 and time.perf_counter() - self.started < self.time_budget_s:
            # A small chart beside the card is lost on the reduced copy: look at full resolution.
            checker = _checker_with_mcc(bgr, card, self.flat, self.half, self.ref_linear, full_resolution=True)
            self.q["checker_search"] = "full resolution"
        if checker is None:
            result.add("checker_not_found")
            self.confidence *= 0.5
            self.q["colour_correction"] = None
            return
        refit = refit_with_tone_curves(bgr, checker, self.flat, self._flat_for, self.ref_linear)
        if refit is not None and refit[0].mean_residual <= checker.mean_residual + 0.1:
            checker, self.lut, flat = refit
            if flat is not None:
                self.flat = flat
                self._record_flat()
        self.checker = checker
        result.calibrated = True
        q = self.q
        q["checker_source"] = checker.source
        q["tone_curves"] = checker.tone_curves
        q["colour_correction"] = ("per-channel tone curves from the neutral patches, then " if checker.tone_curves else "") + \
            "affine, linear sRGB, weighted least squares"
        q["patch_residuals_de00"] = [None if not np.isfinite(r) else round(float(r), 3) for r in checker.residuals_de00]
        q["patch_residual_mean_de00"] = round(checker.mean_residual, 3)
        q["patch_residual_max_de00"] = round(checker.max_residual, 3)
        q["patches_clipped"] = checker.clipped
        if checker.clipped:
            result.add("patches_clipped", f"patches over-exposed ({checker.clipped} of 24 clipped, left out of the fit)")
            self.confidence *= 0.85 if checker.clipped <= 3 else 0.6
        if checker.dark:
            result.add("patches_dark")
            self.confidence *= 0.6
        self.confidence *= float(np.interp(checker.mean_residual, [0.8, 2.0, 4.0], [1.0, 0.85, 0.5]))

    def _flat_for(self, lut):
        return _flat_field_from_photo(self.bgr, self.detection.image_to_card, self.geometry, lut) if self.has_card else None

    def _check_exposure(self) -> None:
        q, result = self.q, self.result
        paper = self.q.get("paper_white_linear")
        clipped = self.checker.clipped if self.checker is not None else 0
        if (paper is not None and paper >= 0.985) or clipped >= 4 or q["clipped_fraction"] > 0.25:
            result.add("over_exposed")
            self.confidence *= 0.6
        elif paper is not None and paper < 0.08:
            result.add("under_exposed")
            self.confidence *= 0.6
        if self.flat is not None and self.flat.residual_rel > UNEVEN_LIGHT_RESIDUAL:
            result.add("uneven_light")
            self.confidence *= 0.7
        if self.paper_srgb is not None:
            cct = cct_from_linear_srgb(self.paper_srgb)
            if cct is not None:
                result.light_cct_k = int(round(cct, -1))
                if cct < WARM_LIGHT_CCT_K:
                    result.add("light_too_warm")

    def _find_unit(self) -> None:
        bgr, checker, lut = self.bgr, self.checker, self.lut
        if self.has_card:
            # Coarse pass over the whole unit area at 1 px/mm finds the unit; the fine pass
            # rectifies only its surroundings at UNIT_PX_PER_MM.
            area = self.geometry.unit_area_mm
            coarse_px = _corrected_area(bgr, self.detection, self.flat, checker, area, 1.0, exact_edges=False, lut=lut)
            coarse = measure_unit(*coarse_px, 1.0, origin_mm=area[:2], refine=False)
            if coarse is not None:
                lo = np.maximum(coarse.box_mm.min(axis=0) - 4.0, area[:2])
                hi = np.minimum(coarse.box_mm.max(axis=0) + 4.0, area[2:])
                crop = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
                linear, raw = _corrected_area(bgr, self.detection, self.flat, checker, crop, UNIT_PX_PER_MM, lut=lut)
                unit = measure_unit(linear, raw, UNIT_PX_PER_MM, origin_mm=crop[:2], paper=coarse.paper_rgb_linear)
                if unit is not None:
                    unit.touches_border = coarse.touches_border
                    unit.split_fraction = max(unit.split_fraction, coarse.split_fraction)
                self.unit = unit
        else:
            self.unit = self._unit_without_card()
        self._unit_reasons()

    def _unit_without_card(self) -> UnitMeasurement | None:
        half, checker = self.half, self.checker
        small = half if max(half.shape[:2]) <= 1100 else cv2.resize(
            half, None, fx=1000.0 / max(half.shape[:2]), fy=1000.0 / max(half.shape[:2]), interpolation=cv2.INTER_AREA
        )
        small_scale = small.shape[1] / self.bgr.shape[1]
        lin = _linear_rgb(small, self.lut)
        exclude = None
        if checker is not None:
            lin = checker.apply(lin).astype(np.float32)
            exclude = np.zeros(small.shape[:2], np.uint8)
            hull = cv2.convexHull((checker.patch_centers_px * small_scale).astype(np.float32))
            cv2.fillConvexPoly(exclude, np.round(hull).astype(np.int32), 1)
            pitch = int(np.linalg.norm(checker.patch_centers_px[1] - checker.patch_centers_px[0]) * small_scale)
            exclude = cv2.dilate(exclude, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * pitch + 1, 2 * pitch + 1)))
        unit = measure_unit(lin, small, 1.0, exclude=exclude)
        return None if unit is not None and unit.touches_border else unit

    def _unit_reasons(self) -> None:
        unit, result, q = self.unit, self.result, self.q
        if unit is None:
            result.add("no_unit", None if self.has_card else "no unit found")
            self.confidence *= 0.3
            return
        q["unit_pixels"] = unit.pixels_used
        q["unit_inlier_fraction"] = round(unit.inlier_fraction, 3)
        q["unit_colour_spread_de00"] = round(unit.lab_spread, 3)
        q["unit_split_fraction"] = round(unit.split_fraction, 3)
        q["unit_clipped_fraction"] = round(unit.clipped_fraction, 4)
        if unit.split_fraction >= 0.05 or unit.inlier_fraction < 0.6:
            result.add("glare_split")
            self.confidence *= 0.4
        if unit.lab_spread > 4.0:
            result.add("unit_uneven")
            self.confidence *= 0.8
        if unit.inlier_fraction < 0.7:
            left_out = 100.0 * (1.0 - unit.inlier_fraction)
            result.add("glare", f"glare on the unit (glare or shadow: {left_out:.0f}% of its pixels left out of the colour)")
            self.confidence *= float(np.interp(unit.inlier_fraction, [0.3, 0.7], [0.4, 0.9]))
        elif unit.clipped_fraction > 0.01:
            result.add("glare")
        if self.has_card:
            q["unit_area_mm2"] = round(unit.area_mm2, 1)
            q["unit_center_mm"] = [round(v, 2) for v in unit.center_mm]
            if unit.touches_border:
                result.add("unit_off_area")
                self.confidence *= 0.5

    def _unit_colour(self) -> None:
        """The unit's colour, corrected for the light *at the unit*: the paper around it
        (inside the unit area) should have the paper's colour seen in the chart's light."""
        unit = self.unit
        if unit is None:
            return
        rgb = np.clip(unit.rgb_linear, 0, None)
        if self.has_card and self.checker is not None and self.flat is not None:
            paper_ref = self.checker.apply(np.asarray(self.flat.paper_rgb_linear, np.float64))
            local = np.asarray(unit.paper_rgb_linear, np.float64)
            ratio = paper_ref / np.maximum(local, 1e-6)
            if np.all(np.abs(ratio - 1.0) < 0.3):
                rgb = rgb * ratio
                self.q["light_at_unit_correction"] = [round(float(v), 4) for v in ratio]
                self.u_parts["light_at_unit"] = 0.25 * _delta_e_of_gain(rgb, ratio - 1.0)
        self.unit_rgb = rgb
        self.result.lab = [round(float(v), 3) for v in color.linear_srgb_to_lab(rgb)]
        if self.has_card:
            self.result.length_mm = round(unit.length_mm, 2)
            self.result.width_mm = round(unit.width_mm, 2)

    def _uncertainty(self) -> None:
        """ΔE00 and mm uncertainties (about two standard deviations) from what limits them."""
        unit, checker, flat, q = self.unit, self.checker, self.flat, self.q
        if unit is None:
            return
        parts = self.u_parts
        rgb = self.unit_rgb
        if checker is not None:
            parts["chart_fit"] = self._local_fit_error(checker)
            if flat is not None:
                parts["flat_field"] = _delta_e_of_gain(rgb, 2.0 * flat.residual_rel)
            self._chart_distance(parts, rgb)
            cct = self.result.light_cct_k
            if cct is not None:
                parts["light"] = float(np.interp(cct, [3000.0, 4000.0, WARM_LIGHT_CCT_K], [0.4, 0.2, 0.0]))
            parts["saturation"] = self._beyond_chart_gamut()
            n_eff = max(unit.pixels_used / 400.0, 1.0)
            parts["segmentation"] = unit.lab_spread / math.sqrt(n_eff) + 1.5 * (1.0 - unit.inlier_fraction) + 3.0 * unit.clipped_fraction
            u = 2.0 * math.sqrt(sum(v * v for v in parts.values())) + 0.1
            self.result.delta_e_u = round(u, 2)
            q["delta_e_u_parts"] = {k: round(v, 3) for k, v in parts.items()}
        if self.has_card:
            det = self.detection
            base = (0.08**2 + (det.reprojection_error_px / det.px_per_mm) ** 2 + (0.25 * (self.blur_mm or 0.3)) ** 2
                    + (0.5 / UNIT_PX_PER_MM) ** 2 * (1.0 - unit.inlier_fraction))
            self.result.length_u_mm = round(2.0 * math.sqrt(base + (0.001 * unit.length_mm) ** 2), 2)
            self.result.width_u_mm = round(2.0 * math.sqrt(base + (0.001 * unit.width_mm) ** 2), 2)

    def _local_fit_error(self, checker: CheckerFit) -> float:
        """How well the correction fits near the unit's colour: the RMS residual of the four
        patches nearest to it (CIELAB), blended with the overall RMS."""
        ref_lab = color.linear_srgb_to_lab(self.ref_linear)
        near = np.argsort(color.delta_e_cie76(ref_lab, np.asarray(self.result.lab)))
        res = checker.residuals_de00[near]
        local = res[np.isfinite(res)][:4]
        local_rms = float(np.sqrt(np.mean(local**2))) if local.size else checker.rms_residual
        return 0.6 * local_rms + 0.2 * checker.rms_residual

    def _beyond_chart_gamut(self) -> float:
        """Chroma beyond the most saturated patches of similar hue: the correction
        extrapolates there (and phones clip such colours first)."""
        lab = np.asarray(self.result.lab)
        chroma, hue = math.hypot(lab[1], lab[2]), math.degrees(math.atan2(lab[2], lab[1]))
        ref_lab = color.linear_srgb_to_lab(self.ref_linear)
        ref_chroma = np.hypot(ref_lab[:, 1], ref_lab[:, 2])
        ref_hue = np.degrees(np.arctan2(ref_lab[:, 2], ref_lab[:, 1]))
        similar = np.abs((ref_hue - hue + 180.0) % 360.0 - 180.0) <= 40.0
        reach = float(ref_chroma[similar].max()) if similar.any() else 0.0
        return 0.02 * max(0.0, chroma - reach)

    def _chart_distance(self, parts: dict, rgb) -> None:
        """How much the light may differ between the chart and the unit."""
        checker, flat, unit = self.checker, self.flat, self.unit
        center = checker.center_mm
        if center is None or not self.has_card:
            return
        distance = float(np.linalg.norm(center - np.asarray(unit.center_mm)))
        self.q["chart_distance_mm"] = round(distance, 1)
        if distance > CHART_FAR_MM:
            self.result.add("chart_far")
        rel = 0.005 * distance / 100.0
        if flat is not None:
            at_chart, at_unit = float(flat.at(*center)), float(flat.at(*unit.center_mm))
            outside = flat.outside_mm(*center)
            rel += 0.1 * abs(at_chart - at_unit) / max(at_unit, 1e-6) + 2.0 * flat.gradient_rel_per_mm(*center) * outside
            self.q["chart_outside_paper_mm"] = round(outside, 1)
        parts["chart_distance"] = _delta_e_of_gain(rgb, rel)

    def _verdict(self) -> None:
        result, unit = self.result, self.unit
        ref_lab = _reference_lab(self.reference)
        de_max = _reference_number(self.reference, "delta_e_max")
        failures, uncertain = [], []
        if result.lab is not None and ref_lab is not None:
            de = float(color.delta_e_cie2000(np.asarray(result.lab), ref_lab))
            result.delta_e_cie2000 = round(de, 3)
            self._judge_colour(de, de_max, failures, uncertain)
        elif result.lab is not None:
            result.add("no_reference_colour")
        size_ok = self.has_card and unit is not None and not unit.touches_border and not self.too_blurry
        if size_ok:
            self._judge_size(failures, uncertain)
        retake = [c for c in RETAKE_CODES if c in result.reason_codes]
        if not self.has_card:
            # Without the card we cannot be sure the object measured is the unit: no verdict.
            result.status = "unusable"
            for _code, text in failures:
                result.add("colour_uncertain", text.replace("colour ΔE00", "uncertain colour ΔE00"))
            failures = uncertain = []
        elif unit is None or unit.touches_border:
            result.status = "unusable"
        elif retake:
            result.status = "retake"
            failures = uncertain = []
        elif failures and (size_ok or result.calibrated):
            result.status = "fail"
        elif not result.calibrated:
            result.status = "unusable"
        elif uncertain:
            result.status = "review"
        else:
            result.status = "pass"
        for code, text in reversed(failures + uncertain):
            result.add(code, text, first=True)

    def _judge_colour(self, de: float, de_max: float | None, failures: list, uncertain: list) -> None:
        result = self.result
        u = result.delta_e_u or 0.0
        if de_max is None:
            result.add("no_colour_tolerance")
        elif not result.calibrated:
            if de > de_max:
                result.add("colour_uncertain", f"uncalibrated colour ΔE00 {de:.1f} above tolerance {de_max:.1f} (not judged)")
        elif de - u > de_max:
            failures.append(("colour_out_of_tolerance", f"colour ΔE00 {de:.1f} ± {u:.1f} above tolerance {de_max:.1f}"))
        elif de + u > de_max:
            uncertain.append(("colour_uncertain", f"colour ΔE00 {de:.1f} ± {u:.1f} too close to the tolerance {de_max:.1f} to decide"))

    def _judge_size(self, failures: list, uncertain: list) -> None:
        result = self.result
        ref_len = _reference_number(self.reference, "length_mm")
        ref_wid = _reference_number(self.reference, "width_mm")
        tol = _reference_number(self.reference, "size_tolerance_mm")
        if ref_len is None or ref_wid is None or tol is None:
            result.add("no_size_tolerance")
            return
        for name, got, want, u in (("length", result.length_mm, ref_len, result.length_u_mm or 0.0),
                                   ("width", result.width_mm, ref_wid, result.width_u_mm or 0.0)):
            off = abs(got - want)
            if off - u > tol:
                failures.append(("size_out_of_tolerance", f"{name} {got:.1f} ± {u:.1f} mm differs from {want:.1f} mm by more than {tol:.1f} mm"))
            elif off + u > tol:
                uncertain.append(("size_uncertain", f"{name} {got:.1f} ± {u:.1f} mm too close to {want:.1f} ± {tol:.1f} mm to decide"))

    def _finish(self) -> None:
        result = self.result
        result.confidence = self.confidence
        summary = []
        if result.lab is not None:
            summary.append("Lab " + " ".join(f"{v:.1f}" for v in result.lab) + ("" if result.calibrated else " (uncalibrated)"))
        if result.delta_e_cie2000 is not None:
            u = f" +/- {result.delta_e_u:.1f}" if result.delta_e_u is not None else ""
            summary.append(f"dE00 {result.delta_e_cie2000:.2f}{u}")
        if result.light_cct_k is not None:
            summary.append(f"light {result.light_cct_k} K")
        self.q["analysis_seconds"] = round(time.perf_counter() - self.started, 3)
        result.overlay_jpeg = _overlay(self.bgr, self.half, self.detection, self.checker, self.unit if self.has_card else None,
                                       result.status, summary)

"""Seeded synthetic inspection photos with exactly known truth (tests and bench).

The scene is built in linear-light sRGB *reflectance* on the card plane (card
millimetres): a tabletop, the printed card (paper and ink), a ColorChecker Classic Mini
whose patches have the published values (X-Rite, post-2014 edition), and the unit, a rectangle or rounded
rectangle of known size and colour with a slight texture, an optional specular highlight
and a soft shadow. The camera is a pinhole looking at the plane with up to 35° of tilt.

Light is applied the physical way round: one illuminant (a Planckian radiator between
2700 K and 6500 K) as per-channel gains on *everything* (von Kries-like, in linear sRGB),
an exposure, vignetting and a gentle light gradient; then blur, sensor noise, sRGB
encoding, 8-bit quantisation and JPEG compression. The truth colour is therefore the CIELAB
of the unit's reflectance under D65, which is what a correction fitted on the checker must
recover.
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from server.inspect import card as card_module
from server.inspect import charts, color

GEOMETRY = card_module.CARD_GEOMETRY
PAPER_REFLECTANCE = np.array([0.86, 0.86, 0.87], dtype=np.float32)
INK_REFLECTANCE = np.array([0.035, 0.035, 0.035], dtype=np.float32)
CHECKER_BODY_REFLECTANCE = np.array([0.03, 0.03, 0.03], dtype=np.float32)
CHECKER_SIZE_MM = (82.6, 57.2)
SCENE_MM = (-45.0, -40.0, 295.0, 270.0)  # x0, y0, x1, y1 of the rendered plane
PAPER_MM = (-23.5, -15.0, 273.5, 195.0)  # A4 landscape around the card area


@dataclass(frozen=True)
class PhotoTruth:
    """What the synthetic photo really shows."""

    seed: int
    lab: tuple[float, float, float]  # unit colour, CIELAB D65
    srgb_u8: tuple[int, int, int]
    length_mm: float
    width_mm: float
    shape: str
    cct_k: float
    tilt_deg: float
    blur_sigma_px: float
    jpeg_quality: int
    has_card: bool
    has_checker: bool
    checker_on_card: bool
    image_size: tuple[int, int]  # (width, height) as displayed (after EXIF orientation)
    card_to_image: tuple  # 3 × 3 homography, card mm -> displayed image px (row-major)


def planckian_gains(cct_k: float) -> np.ndarray:
    """Linear-sRGB white of a Planckian radiator (Kim et al. 2002 cubic spline for the
    chromaticity), scaled so its largest channel is 1. D65-ish light gives ~(1, 1, 1)."""
    t = float(cct_k)
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    xyz = np.array([x / y, 1.0, (1.0 - x - y) / y])
    rgb = color.xyz_to_linear_srgb(xyz)
    return (rgb / rgb.max()).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _base_scene(px_per_mm: float) -> np.ndarray:
    """Tabletop + paper + printed card, linear reflectance (H, W, 3) float32, read-only."""
    x0, y0, x1, y1 = SCENE_MM
    w, h = int(round((x1 - x0) * px_per_mm)), int(round((y1 - y0) * px_per_mm))
    rng = np.random.default_rng(12345)
    table = np.array([0.20, 0.15, 0.11], dtype=np.float32)
    grain = cv2.resize(rng.normal(0, 1, (h // 40 + 2, w // 40 + 2)).astype(np.float32), (w, h))
    scene = table[None, None, :] * (1.0 + 0.08 * grain[..., None])
    paper_mask = np.zeros((h, w), np.uint8)
    px0, py0, px1, py1 = PAPER_MM
    rect = np.array([[px0, py0], [px1, py0], [px1, py1], [px0, py1]]) - [x0, y0]
    cv2.fillPoly(paper_mask, [np.round(rect * px_per_mm * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    # Draw the card 4 × 4 supersampled and average down, so edges land where they should.
    ss = 4
    big = np.full((h * ss, w * ss), 255, np.uint8)
    card_module.draw_card(px_per_mm * ss, canvas=big, offset_px=((-x0 * px_per_mm + 0.5) * ss - 0.5, (-y0 * px_per_mm + 0.5) * ss - 0.5))
    gray = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA)
    del big
    ink = (gray.astype(np.float32) / 255.0)[..., None]
    card_refl = INK_REFLECTANCE + (PAPER_REFLECTANCE - INK_REFLECTANCE) * ink
    m = (paper_mask.astype(np.float32) / 255.0)[..., None]
    scene = scene * (1 - m) + card_refl * m
    scene.setflags(write=False)
    return scene


def _fill(canvas_shape, polygon_mm, px_per_mm) -> tuple[tuple[slice, slice], np.ndarray]:
    """Exact-area coverage (h, w) float32 0..1 of a polygon given in scene mm (4 × 4
    supersampled, no outline growth), and the canvas slices it covers (bounding box plus a
    margin)."""
    ss = 4
    pts = (np.asarray(polygon_mm) - SCENE_MM[:2]) * px_per_mm
    x0, y0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 3, [canvas_shape[1], canvas_shape[0]])
    mask = np.zeros(((y1 - y0) * ss, (x1 - x0) * ss), np.uint8)
    # Canvas pixel (j, i) covers [j - 0.5, j + 0.5); sub-pixel centres sit at (k + 0.5)/ss - 0.5.
    local = ((pts - [x0, y0]) + 0.5) * ss - 0.5
    cv2.fillPoly(mask, [np.round(local * 256).astype(np.int32).reshape(-1, 1, 2)], 255, cv2.LINE_8, 8)
    cov = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return (slice(y0, y1), slice(x0, x1)), cov


def _blend(scene, polygon_mm, px_per_mm, reflectance) -> None:
    """Paint ``reflectance`` (3,) or an image over the polygon, in place, anti-aliased."""
    box, cov = _fill(scene.shape[:2], polygon_mm, px_per_mm)
    c = cov[..., None]
    scene[box] = scene[box] * (1 - c) + reflectance * c


def _rounded_rect(cx, cy, length, width, angle_deg, radius, n_arc=12) -> np.ndarray:
    """Polygon (N, 2) in mm: a rectangle length × width with corner radius, rotated."""
    hl, hw = length / 2 - radius, width / 2 - radius
    pts = []
    for (sx, sy, a0) in ((1, 1, 0), (-1, 1, 90), (-1, -1, 180), (1, -1, 270)):
        for k in range(n_arc + 1 if radius > 0 else 1):
            a = math.radians(a0 + 90 * k / max(n_arc, 1))
            pts.append((sx * hl + radius * math.cos(a), sy * hw + radius * math.sin(a)))
    pts = np.array(pts)
    th = math.radians(angle_deg)
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    return pts @ rot.T + [cx, cy]


def _checker_polygons(origin, angle_deg, upside_down):
    """Body polygon and 24 patch polygons (mm) of a ColorChecker Classic Mini."""
    w, h = CHECKER_SIZE_MM
    g = GEOMETRY
    pitch, size = g.checker_patch_pitch_mm, g.checker_patch_size_mm
    th = math.radians(angle_deg + (180.0 if upside_down else 0.0))
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    center = np.asarray(origin) + [w / 2, h / 2]

    def place(p):
        return (np.asarray(p) - [w / 2, h / 2]) @ rot.T + center

    body = place([[0, 0], [w, 0], [w, h], [0, h]])
    patches = []
    for r in range(4):
        for c in range(6):
            cx = w / 2 + (c - 2.5) * pitch
            cy = h / 2 + (r - 1.5) * pitch
            s = size / 2
            patches.append(place([[cx - s, cy - s], [cx + s, cy - s], [cx + s, cy + s], [cx - s, cy + s]]))
    return body, patches


def _random_unit_colour(rng) -> np.ndarray:
    """Random sRGB uint8 colour, clearly different from paper white, not too dark."""
    paper_lab = color.linear_srgb_to_lab(PAPER_REFLECTANCE.astype(np.float64))
    while True:
        srgb = rng.integers(25, 226, size=3)
        lab = color.srgb_to_lab(srgb.astype(np.uint8))
        if 25.0 <= lab[0] <= 80.0 and color.delta_e_cie2000(lab, paper_lab) > 15.0:
            return srgb.astype(np.uint8)


def _camera_homography(rng, tilt_deg, roll_deg, roi_mm, size_px, margin_frac):
    """Homography card mm -> image px of a pinhole camera tilted by ``tilt_deg`` about a
    random axis in the plane, rolled by ``roll_deg``, framing ``roi_mm`` with a margin."""
    cx, cy = (roi_mm[0] + roi_mm[2]) / 2, (roi_mm[1] + roi_mm[3]) / 2
    phi = rng.uniform(0, 2 * math.pi)
    axis = np.array([math.cos(phi), math.sin(phi), 0.0])
    rvec = axis * math.radians(tilt_deg)
    r_tilt, _ = cv2.Rodrigues(rvec)
    th = math.radians(roll_deg)
    r_roll = np.array([[math.cos(th), -math.sin(th), 0], [math.sin(th), math.cos(th), 0], [0, 0, 1]])
    r = r_roll @ r_tilt
    distance = 380.0  # mm, a phone held ~40 cm above the card
    # plane point (x, y) -> camera: r @ (x - cx, y - cy, 0) + (0, 0, distance)
    ext = np.column_stack([r[:, 0], r[:, 1], r @ np.array([-cx, -cy, 0.0]) + [0, 0, distance]])
    h = ext.copy()  # focal length 1 for now, rescaled below
    corners = np.array([[roi_mm[0], roi_mm[1]], [roi_mm[2], roi_mm[1]], [roi_mm[2], roi_mm[3]], [roi_mm[0], roi_mm[3]]])
    proj = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), h).reshape(-1, 2)
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    w_px, h_px = size_px
    scale = min(w_px * (1 - 2 * margin_frac) / (hi[0] - lo[0]), h_px * (1 - 2 * margin_frac) / (hi[1] - lo[1]))
    mid = (lo + hi) / 2
    sim = np.array([[scale, 0, w_px / 2 - scale * mid[0]], [0, scale, h_px / 2 - scale * mid[1]], [0, 0, 1]])
    out = sim @ h
    return out / out[2, 2]


def encode_srgb_u8(linear: np.ndarray) -> np.ndarray:
    """Linear sRGB float (0..1, clipped) -> encoded uint8 through a 16-bit lookup table."""
    lut = np.round(np.clip(color.linear_to_srgb(np.linspace(0, 1, 65536)), 0, 1) * 255).astype(np.uint8)
    idx = np.clip(linear * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    return lut[idx]


def add_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert a minimal EXIF APP1 segment with the given Orientation tag (1-8) after SOI."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 + jpeg[2:]


# Stored pixels for each EXIF orientation, given the displayed image (inverse of the tag).
_STORE_FOR_ORIENTATION = {
    1: lambda a: a,
    3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
    6: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
}


def make_photo(
    seed: int,
    *,
    size_px: tuple[int, int] = (2000, 1500),
    with_card: bool = True,
    with_checker: bool = True,
    checker_on_card: bool = True,
    max_tilt_deg: float = 35.0,
    exif_orientation: int = 1,
    jpeg_quality: int | None = None,
    specular: bool | None = None,
) -> tuple[bytes, PhotoTruth]:
    """Render one seeded synthetic JPEG and its truth.

    ``size_px`` is the displayed (width, height). ``checker_on_card=False`` puts the
    checker on the table beside the card (only the ``mcc`` detector can find it).
    ``exif_orientation`` (1, 3, 6, 8) stores rotated pixels plus the EXIF tag, so a decoder
    that honours EXIF shows the same picture as orientation 1.
    """
    rng = np.random.default_rng(seed)
    w_px, h_px = size_px
    px_per_mm = float(max(6.0, math.ceil(w_px / 300.0)))  # about the photo's own resolution
    base = _base_scene(px_per_mm)
    if with_card:
        scene = base.copy()
    else:
        scene = np.broadcast_to(base[:1, :1], base.shape).copy()  # bare tabletop
    shape_hw = scene.shape[:2]

    # Checker.
    g = GEOMETRY
    if with_checker:
        if checker_on_card and with_card:
            origin = np.array(g.checker_area_mm[:2]) + rng.uniform(-1.2, 1.2, 2)
            angle = rng.uniform(-1.5, 1.5)
        else:
            # On the table below the card's right half, or beside the unit without a card.
            origin = np.array([200.0, 198.0]) if with_card else np.array([170.0, 60.0])
            angle = rng.uniform(-8, 8)
        upside_down = bool(rng.random() < 0.25)
        body, patches = _checker_polygons(origin, angle, upside_down)
        _blend(scene, body, px_per_mm, CHECKER_BODY_REFLECTANCE)
        # The chart of the default edition (X-Rite, after November 2014); cyan's negative red clipped.
        refl = np.clip(charts.chart_linear_srgb(), 0.0, 1.0).astype(np.float32)
        for poly, r in zip(patches, refl, strict=True):
            _blend(scene, poly, px_per_mm, r)

    # Unit.
    ux0, uy0, ux1, uy1 = g.unit_area_mm
    shape = "rectangle" if rng.random() < 0.5 else "rounded"
    length = float(rng.uniform(40.0, 100.0))
    width = float(rng.uniform(22.0, min(length, 80.0)))
    radius = float(rng.uniform(3.0, min(10.0, width / 3))) if shape == "rounded" else 0.0
    while True:  # an angle at which the unit fits inside the unit area with 3 mm to spare
        angle = float(rng.uniform(-90, 90))
        poly = _rounded_rect(0, 0, length, width, angle, radius)
        ext = poly.max(axis=0) - poly.min(axis=0)
        lo = np.array([ux0 + 3, uy0 + 3]) + ext / 2
        hi = np.array([ux1 - 3, uy1 - 3]) - ext / 2
        if np.all(hi >= lo):
            break
    center = rng.uniform(lo, hi)
    poly = poly + center
    srgb = _random_unit_colour(rng)
    unit_refl = color.srgb_to_linear(srgb).astype(np.float32)
    pad = 8.0 * np.sign(poly - center)  # room for the shadow around the unit
    box, cov = _fill(shape_hw, np.vstack([poly, poly + pad]), px_per_mm)
    cov[:] = 0
    (sy_, sx_) = box
    box_inner, inner = _fill(shape_hw, poly, px_per_mm)
    oy, ox = box_inner[0].start - sy_.start, box_inner[1].start - sx_.start
    cov[oy : oy + inner.shape[0], ox : ox + inner.shape[1]] = inner
    # Soft shadow on what lies under the unit's edge (light from above-left).
    shift = int(1.5 * px_per_mm)
    shadow = cv2.GaussianBlur(np.roll(cov, (shift, shift), axis=(0, 1)), (0, 0), 1.5 * px_per_mm)
    scene[box] = scene[box] * (1.0 - 0.18 * shadow[..., None] * (1 - cov[..., None]))
    bh, bw = cov.shape
    tex = rng.normal(0, 1, (bh // 12 + 2, bw // 12 + 2)).astype(np.float32)
    texture = 1.0 + 0.025 * cv2.resize(tex, (bw, bh), interpolation=cv2.INTER_CUBIC) + 0.01 * rng.normal(0, 1, (bh, bw)).astype(np.float32)
    unit = unit_refl * texture[..., None]
    if specular if specular is not None else rng.random() < 0.5:
        sx, sy = rng.uniform(0.3, 0.7) * bw, rng.uniform(0.3, 0.7) * bh
        yy, xx = np.mgrid[0:bh, 0:bw]
        sigma = rng.uniform(1.5, 4.0) * px_per_mm
        unit = unit + rng.uniform(0.3, 1.0) * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * sigma**2))[..., None].astype(np.float32)
    c = cov[..., None]
    scene[box] = scene[box] * (1 - c) + unit * c

    # Camera.
    tilt = float(rng.uniform(0, max_tilt_deg))
    roll = float(rng.uniform(-20, 20) + (180.0 if rng.random() < 0.1 else 0.0))
    roi = (-20.0, -12.0, 270.0, 192.0) if with_card else (ux0 - 10, uy0 - 10, 260, 130)
    if with_checker and with_card and not checker_on_card:
        roi = (-20.0, -12.0, 290.0, 262.0)
    card_to_image = _camera_homography(rng, tilt, roll, roi, (w_px, h_px), rng.uniform(0.02, 0.07))
    # cv2 convention: integer coordinates are pixel centres; scene pixel (j, i) is at mm (x0 + j/ppm, y0 + i/ppm).
    scene_px_to_mm = np.array([[1 / px_per_mm, 0, SCENE_MM[0]], [0, 1 / px_per_mm, SCENE_MM[1]], [0, 0, 1]])
    warp = card_to_image @ scene_px_to_mm
    img = cv2.warpPerspective(
        scene, warp, (w_px, h_px), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0.2, 0.15, 0.11)
    )

    # Light: illuminant gains, exposure, vignetting, gradient.
    cct = float(rng.uniform(2700, 6500))
    gains = planckian_gains(cct)
    # The light field is smooth: compute it on a coarse grid and resize it up.
    gh, gw = h_px // 8 + 1, w_px // 8 + 1
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32) * 8.0
    r2 = ((xx - w_px / 2) ** 2 + (yy - h_px / 2) ** 2) / ((w_px / 2) ** 2 + (h_px / 2) ** 2)
    gdir = rng.uniform(0, 2 * math.pi)
    gradient = 1.0 + 0.06 * ((xx / w_px - 0.5) * math.cos(gdir) + (yy / h_px - 0.5) * math.sin(gdir))
    light = cv2.resize((1.0 - rng.uniform(0.0, 0.3) * r2) * gradient, (w_px, h_px), interpolation=cv2.INTER_LINEAR)
    exposure = rng.uniform(0.78, 0.98) / (PAPER_REFLECTANCE.max() * gains.max() * light.max())
    img *= (gains * exposure).astype(np.float32)[None, None, :]
    img *= light[..., None]
    blur = float(rng.uniform(0.3, 1.2))
    img = cv2.GaussianBlur(img, (0, 0), blur)
    noise = rng.standard_normal(img.shape, dtype=np.float32)
    noise *= np.sqrt(np.maximum(img, 0) * np.float32(2e-4) + np.float32(2e-3**2))  # shot + read noise
    img += noise
    srgb8 = encode_srgb_u8(img)
    quality = int(jpeg_quality if jpeg_quality is not None else rng.integers(70, 96))
    bgr = np.ascontiguousarray(srgb8[..., ::-1])
    stored = _STORE_FOR_ORIENTATION[exif_orientation](bgr)
    ok, buf = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    data = buf.tobytes()
    if exif_orientation != 1:
        data = add_exif_orientation(data, exif_orientation)
    lab = color.srgb_to_lab(srgb)
    truth = PhotoTruth(
        seed=seed,
        lab=tuple(float(v) for v in lab),
        srgb_u8=tuple(int(v) for v in srgb),
        length_mm=max(length, width),
        width_mm=min(length, width),
        shape=shape,
        cct_k=cct,
        tilt_deg=tilt,
        blur_sigma_px=blur,
        jpeg_quality=quality,
        has_card=with_card,
        has_checker=with_checker,
        checker_on_card=checker_on_card,
        image_size=(w_px, h_px),
        card_to_image=tuple(map(tuple, card_to_image.tolist())),
    )
    return data, truth


def reference_for(truth: PhotoTruth, *, delta_e_max: float = 2.0, size_tolerance_mm: float = 1.0) -> dict:
    """A golden-sample reference dict matching the truth exactly."""
    return {
        "lab": list(truth.lab),
        "length_mm": truth.length_mm,
        "width_mm": truth.width_mm,
        "delta_e_max": delta_e_max,
        "size_tolerance_mm": size_tolerance_mm,
    }

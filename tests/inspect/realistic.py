"""Seeded *realistic* inspection photos: what a phone does to the light, with the truth.

``synth.py`` renders easy photos (one light, an ideal sRGB camera). This generator models,
in this order, what makes real phone photos hard:

1. the scene in linear reflectance on the card plane (card mm): a wood-grain table, A4 paper
   with fibre texture, the printed card, a ColorChecker (Classic Mini in the card's outline,
   or a Mini, Passport or full Classic beside the card at any rotation, as often as on it),
   and the unit (diffuse colour with texture and a soft contact shadow);
2. light: a lamp of colour temperature 2700-6500 K whose fall-off across the card is
   10-30 %, plus ambient light of another colour (10-35 % of the lamp); in some photos a
   soft shadow edge crosses the card (the lamp is blocked on one side); glossy units add a
   specular glint or a reflected window band (in the lamp's colour);
3. the camera: projection with tilt, exposure (sometimes over-exposed), vignetting, defocus;
4. the sensor: channel crosstalk (5-20 %), Bayer RGGB mosaic, photon and read noise,
   demosaicing;
5. the phone's processing: white balance that corrects only part of the light's colour
   (phones keep 35-55 % of a light's cast, in log terms, so a warm lamp still looks warm)
   and is a few % off, a colour matrix that partly undoes the
   crosstalk and boosts saturation, gamut clipping, sRGB encoding, highlight roll-off and a
   per-channel S-curve, noise reduction and sharpening, paper/table texture survives;
   JPEG 4:2:0 at quality 88-95.

The truth records the unit's colour (CIELAB D65 of its reflectance, what a correct analysis
must recover) and size, and which effects the photo has, with the reason codes a correct
analysis gives (``expected_codes``) and whether it must ask for a retake.

Chart patches are rendered with the X-Rite post-November-2014 values (the real chart).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from server.inspect import card as card_module
from server.inspect import charts, color

from . import synth

GEOMETRY = card_module.CARD_GEOMETRY
PAPER_MM = synth.PAPER_MM  # A4 landscape around the card
#: (width, height, patch pitch, patch size) in mm of the charts a photo may show.
CHART_SIZES = {
    "mini": (82.6, 57.2, 12.7, 10.7),
    "passport": (108.0, 74.0, 16.6, 14.0),
    "classic": (279.4, 215.9, 45.0, 38.0),
}
#: A chart whose centre is further than this from the unit's centre is "too far".
CHART_FAR_MM = 160.0
WARM_CCT_K = 3300.0  # below: "light too warm"


@dataclass
class RealTruth:
    """What a realistic photo really shows, and what it does to the analysis."""

    seed: int
    lab: tuple[float, float, float]
    length_mm: float
    width_mm: float
    cct_k: float
    chart: str  # mini | passport | classic
    chart_on_card: bool
    chart_distance_mm: float  # chart centre to unit centre
    image_size: tuple[int, int]
    effects: dict = field(default_factory=dict)
    expected_codes: frozenset = frozenset()

    @property
    def expects_retake(self) -> bool:
        return bool(self.expected_codes & {"glare_split", "blurry", "over_exposed", "uneven_light"})

    @property
    def clean(self) -> bool:
        """No clipping, shadow, glare band, blur or over-exposure: accuracy targets apply."""
        return not self.expects_retake and not self.effects.get("unit_clipped")


def _sample_effects(rng: np.random.Generator, force: dict) -> dict:
    e = {
        "cct_k": float(rng.uniform(2700, 6500)),
        "lamp_falloff": float(rng.uniform(0.10, 0.30)),
        "ambient_ratio": float(rng.uniform(0.10, 0.35)),
        "ambient_cct_k": float(rng.uniform(5500, 9000)) if rng.random() < 0.6 else float(rng.uniform(2700, 4000)),
        "shadow_edge": bool(rng.random() < 0.10),
        "over_exposed": bool(rng.random() < 0.03),
        "blurry": bool(rng.random() < 0.03),
        "vignetting": float(rng.uniform(0.10, 0.35)),
        "gloss": "none",
        "crosstalk": float(rng.uniform(0.05, 0.20)),
        "wb_keep_warmth": float(rng.uniform(0.35, 0.55)),
        "wb_error": [float(v) for v in rng.uniform(-0.03, 0.03, 3)],
        "saturation": float(rng.uniform(1.05, 1.30)),
        "ccm_strength": float(rng.uniform(0.5, 0.9)),
        "rolloff_knee": float(rng.uniform(0.78, 0.9)),
        "s_curve": [float(v) for v in rng.uniform(0.05, 0.25, 3)],
        "denoise": float(rng.uniform(0.4, 1.0)),
        "sharpen": float(rng.uniform(0.2, 0.8)),
        "jpeg_quality": int(rng.integers(88, 96)),
        "chart_on_card": bool(rng.random() < 0.5),
        "chart": "mini",
        "tilt_deg": float(rng.uniform(0, 25)),
    }
    g = rng.random()
    e["gloss"] = "window_band" if g < 0.07 else ("glint" if g < 0.30 else "none")
    if not e["chart_on_card"]:
        e["chart"] = str(rng.choice(["mini", "passport", "classic"], p=[0.45, 0.4, 0.15]))
    e.update(force)
    return e


def _chart_polygons(kind: str, center, angle_deg: float):
    w, h, pitch, size = CHART_SIZES[kind]
    th = math.radians(angle_deg)
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])

    def place(p):
        return np.asarray(p, dtype=np.float64) @ rot.T + np.asarray(center)

    body = place([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    patches = []
    for r in range(4):
        for c in range(6):
            cx, cy, s = (c - 2.5) * pitch, (r - 1.5) * pitch, size / 2
            patches.append(place([[cx - s, cy - s], [cx + s, cy - s], [cx + s, cy + s], [cx - s, cy + s]]))
    return body, patches


@functools.lru_cache(maxsize=4)
def _card_ink(ppm: float, x0: float, y0: float, w: int, h: int) -> np.ndarray:
    """Printed card, 1 = paper, 0 = ink, over the scene grid (2× supersampled)."""
    ss = 2
    big = np.full((h * ss, w * ss), 255, np.uint8)
    card_module.draw_card(ppm * ss, canvas=big, offset_px=((-x0 * ppm + 0.5) * ss - 0.5, (-y0 * ppm + 0.5) * ss - 0.5))
    out = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    out.setflags(write=False)
    return out


class _Scene:
    """Reflectance (and an additive specular layer) on a grid of card mm."""

    def __init__(self, extent_mm, ppm: float):
        self.x0, self.y0, x1, y1 = extent_mm
        self.ppm = ppm
        self.w, self.h = int(round((x1 - self.x0) * ppm)), int(round((y1 - self.y0) * ppm))
        self.refl = np.empty((self.h, self.w, 3), np.float32)
        self.spec = np.zeros((self.h, self.w), np.float32)

    def fill(self, polygon_mm):
        """(box slices, coverage) of a polygon, anti-aliased."""
        ss = 4
        pts = (np.asarray(polygon_mm) - [self.x0, self.y0]) * self.ppm
        bx0, by0 = np.maximum(np.floor(pts.min(axis=0)).astype(int) - 2, 0)
        bx1, by1 = np.minimum(np.ceil(pts.max(axis=0)).astype(int) + 3, [self.w, self.h])
        if bx1 <= bx0 or by1 <= by0:
            return None, None
        mask = np.zeros(((by1 - by0) * ss, (bx1 - bx0) * ss), np.uint8)
        local = ((pts - [bx0, by0]) + 0.5) * ss - 0.5
        cv2.fillPoly(mask, [np.round(local * 256).astype(np.int32).reshape(-1, 1, 2)], 255, cv2.LINE_8, 8)
        cov = cv2.resize(mask, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        return (slice(by0, by1), slice(bx0, bx1)), cov

    def paint(self, polygon_mm, value):
        box, cov = self.fill(polygon_mm)
        if box is not None:
            c = cov[..., None]
            self.refl[box] = self.refl[box] * (1 - c) + np.asarray(value, np.float32) * c

    def grid_mm(self, step_px: int = 8):
        ys = self.y0 + np.arange(0, self.h + step_px, step_px) / self.ppm
        xs = self.x0 + np.arange(0, self.w + step_px, step_px) / self.ppm
        return np.meshgrid(xs, ys)


def _layout(rng, e):
    """Unit polygon, chart centre/angle, and the region the photo frames (card mm)."""
    ux0, uy0, ux1, uy1 = GEOMETRY.unit_area_mm
    shape = "rectangle" if rng.random() < 0.5 else "rounded"
    length = float(rng.uniform(35.0, 105.0))
    width = float(rng.uniform(22.0, min(length, 85.0)))
    radius = float(rng.uniform(3.0, min(10.0, width / 3))) if shape == "rounded" else 0.0
    for _ in range(200):
        angle = float(rng.uniform(-90, 90))
        poly = synth._rounded_rect(0, 0, length, width, angle, radius)
        ext = poly.max(axis=0) - poly.min(axis=0)
        lo = np.array([ux0 + 3, uy0 + 3]) + ext / 2
        hi = np.array([ux1 - 3, uy1 - 3]) - ext / 2
        if np.all(hi >= lo):
            break
    else:  # too big for any angle: shrink
        length, width = 90.0, 60.0
        angle, poly = 0.0, synth._rounded_rect(0, 0, 90.0, 60.0, 0.0, radius)
        lo = hi = np.array([(ux0 + ux1) / 2, (uy0 + uy1) / 2])
    center = rng.uniform(lo, hi)
    unit_poly = poly + center
    cw, ch = CHART_SIZES[e["chart"]][:2]
    if e["chart_on_card"]:
        cx0, cy0, cx1, cy1 = GEOMETRY.checker_area_mm
        chart_center = np.array([(cx0 + cx1) / 2, (cy0 + cy1) / 2]) + rng.uniform(-1.2, 1.2, 2)
        chart_angle = float(rng.uniform(-1.5, 1.5) + (180.0 if rng.random() < 0.25 else 0.0))
    else:
        chart_angle = float(rng.uniform(0, 360))
        r = 0.5 * math.hypot(cw, ch)  # bounding radius at any rotation
        gap = float(rng.uniform(5, 40))
        if rng.random() < 0.5:  # right of the paper
            chart_center = np.array([PAPER_MM[2] + gap + r, rng.uniform(PAPER_MM[1] + r * 0.5, PAPER_MM[3] - r * 0.5)])
        else:  # below the paper
            chart_center = np.array([rng.uniform(PAPER_MM[0] + r * 0.5, PAPER_MM[2] - r * 0.5), PAPER_MM[3] + gap + r])
    body, _ = _chart_polygons(e["chart"], chart_center, chart_angle)
    lo = np.minimum(np.array(PAPER_MM[:2]) + [3, 3], body.min(axis=0))
    hi = np.maximum(np.array(PAPER_MM[2:]) - [3, 3], body.max(axis=0))
    roi = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    unit = {"poly": unit_poly, "center": center, "length": max(length, width), "width": min(length, width), "shape": shape}
    return unit, chart_center, chart_angle, roi


def _light_field(scene: _Scene, rng, e, unit_center):
    """Lamp intensity (relative) and the shadow factor on the scene grid (coarse, then resized)."""
    xs, ys = scene.grid_mm()
    # A lamp above a point off the card; its height sets the fall-off across the card.
    phi = rng.uniform(0, 2 * math.pi)
    card_c = np.array([GEOMETRY.width_mm / 2, GEOMETRY.height_mm / 2])
    lamp_xy = card_c + 260.0 * np.array([math.cos(phi), math.sin(phi)])
    # Solve the height for the wanted fall-off between the nearest and farthest card corner.
    corners = np.array([[0, 0], [GEOMETRY.width_mm, 0], [GEOMETRY.width_mm, GEOMETRY.height_mm], [0, GEOMETRY.height_mm]])
    d = np.linalg.norm(corners - lamp_xy, axis=1)

    def falloff(hgt):
        i = hgt / (d**2 + hgt**2) ** 1.5
        return 1 - i.min() / i.max()

    hgt = 300.0
    for _ in range(40):  # fall-off decreases with height
        hgt *= 1.15 if falloff(hgt) > e["lamp_falloff"] else 1 / 1.15
    r2 = (xs - lamp_xy[0]) ** 2 + (ys - lamp_xy[1]) ** 2
    lamp = hgt / (r2 + hgt**2) ** 1.5
    lamp /= hgt / (float(np.linalg.norm(unit_center - lamp_xy)) ** 2 + hgt**2) ** 1.5  # 1 at the unit
    shadow = np.ones_like(lamp)
    if e["shadow_edge"]:
        th = rng.uniform(0, 2 * math.pi)
        nrm = np.array([math.cos(th), math.sin(th)])
        # Edge through the card, between the unit and the checker area often enough.
        p0 = card_c + rng.uniform(-60, 60, 2)
        s = (xs - p0[0]) * nrm[0] + (ys - p0[1]) * nrm[1]
        soft = rng.uniform(4.0, 15.0)
        depth = rng.uniform(0.45, 0.8)
        shadow = 1.0 - depth / (1.0 + np.exp(-s / soft))
        e["shadow_depth"] = float(depth)
    size = (scene.w, scene.h)
    return (cv2.resize(lamp.astype(np.float32), size, interpolation=cv2.INTER_LINEAR),
            cv2.resize(shadow.astype(np.float32), size, interpolation=cv2.INTER_LINEAR))


def _render_scene(rng, e, unit, chart_center, chart_angle, roi, ppm):
    extent = (roi[0] - 25, roi[1] - 25, roi[2] + 25, roi[3] + 25)
    scene = _Scene(extent, ppm)
    h, w = scene.h, scene.w
    # Table: wood grain.
    yy = np.arange(h, dtype=np.float32)[:, None] / ppm
    xx = np.arange(w, dtype=np.float32)[None, :] / ppm
    grain = 0.06 * np.sin(xx * 0.35 + 3.0 * np.sin(yy * 0.02)) + 0.04 * cv2.resize(
        rng.normal(0, 1, (h // 30 + 2, w // 30 + 2)).astype(np.float32), (w, h))
    table = np.array([0.22, 0.15, 0.10], np.float32)
    scene.refl[:] = table * (1.0 + grain[..., None])
    # Paper with fibre texture, and the printed card.
    paper_refl = synth.PAPER_REFLECTANCE * np.array([1.0, 1.0, 1.0 + rng.uniform(0.0, 0.03)], np.float32)
    fibre = 1.0 + 0.012 * cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), max(0.6, 0.4 * ppm))
    ink = _card_ink(ppm, scene.x0, scene.y0, w, h)
    card_refl = synth.INK_REFLECTANCE + (paper_refl - synth.INK_REFLECTANCE) * ink[..., None]
    px0, py0, px1, py1 = PAPER_MM
    box, cov = scene.fill([[px0, py0], [px1, py0], [px1, py1], [px0, py1]])
    c = cov[..., None]
    scene.refl[box] = scene.refl[box] * (1 - c) + (card_refl[box] * fibre[box][..., None]) * c
    # Chart.
    body, patches = _chart_polygons(e["chart"], chart_center, chart_angle)
    scene.paint(body, synth.CHECKER_BODY_REFLECTANCE)
    refl = np.clip(charts.chart_linear_srgb("post2014"), 0.002, 1.0).astype(np.float32)
    for poly, r in zip(patches, refl, strict=True):
        scene.paint(poly, r)
    # Unit: colour with texture, contact shadow, gloss.
    srgb = synth._random_unit_colour(rng)
    unit_refl = color.srgb_to_linear(srgb).astype(np.float32)
    box, cov = scene.fill(np.vstack([unit["poly"], unit["poly"] + 8.0 * np.sign(unit["poly"] - unit["center"])]))
    ib, inner_cov = scene.fill(unit["poly"])
    cov[:] = 0
    oy, ox = ib[0].start - box[0].start, ib[1].start - box[1].start
    cov[oy: oy + inner_cov.shape[0], ox: ox + inner_cov.shape[1]] = inner_cov
    shift = int(1.5 * ppm)
    shade = cv2.GaussianBlur(np.roll(cov, (shift, shift), axis=(0, 1)), (0, 0), 1.5 * ppm)
    scene.refl[box] *= (1.0 - 0.18 * shade * (1 - cov))[..., None]
    bh, bw = cov.shape
    tex = cv2.resize(rng.normal(0, 1, (bh // 12 + 2, bw // 12 + 2)).astype(np.float32), (bw, bh), interpolation=cv2.INTER_CUBIC)
    texture = 1.0 + 0.02 * tex + 0.008 * rng.normal(0, 1, (bh, bw)).astype(np.float32)
    c = cov[..., None]
    scene.refl[box] = scene.refl[box] * (1 - c) + unit_refl * texture[..., None] * c
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    if e["gloss"] == "glint":
        sx, sy = rng.uniform(0.35, 0.65) * bw, rng.uniform(0.35, 0.65) * bh
        sigma = rng.uniform(1.5, 3.5) * ppm
        scene.spec[box] += cov * rng.uniform(0.3, 1.2) * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * sigma**2))
    elif e["gloss"] == "window_band":
        th = rng.uniform(0, math.pi)
        dist = (xx - bw / 2) * math.cos(th) + (yy - bh / 2) * math.sin(th) - rng.uniform(-0.1, 0.1) * min(bw, bh)
        half = rng.uniform(4.0, 9.0) * ppm
        band = 1.0 / (1.0 + np.exp(np.clip((np.abs(dist) - half) / (0.6 * ppm), -50, 50)))
        scene.spec[box] += cov * rng.uniform(0.8, 1.5) * band
    return scene, srgb


def _sensor_and_phone(img_lin, rng, e, lamp_rgb_at_unit):
    """Camera linear RGB radiance -> the phone's 8-bit BGR image (mosaic, noise, processing)."""
    h, w = img_lin.shape[:2]
    c = e["crosstalk"]
    xtalk = np.array([[1 - c, c * 0.8, c * 0.2], [c * 0.5, 1 - c, c * 0.5], [c * 0.2, c * 0.8, 1 - c]], np.float32)
    raw = cv2.transform(img_lin, xtalk)
    # Bayer RGGB mosaic.
    mosaic = np.empty((h, w), np.float32)
    mosaic[0::2, 0::2] = raw[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = raw[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = raw[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = raw[1::2, 1::2, 2]
    del raw
    full_well = 3000.0  # electrons at signal 1 (small phone pixels)
    noise = rng.standard_normal((h, w), dtype=np.float32)
    mosaic += noise * np.sqrt(np.maximum(mosaic, 0) / full_well + (2.5 / full_well) ** 2)
    del noise
    m16 = np.clip(mosaic * 16383.0, 0, 65535).astype(np.uint16)
    del mosaic
    # OpenCV names Bayer patterns by the second row's first two pixels: RGGB is "BayerBG".
    rgb = cv2.cvtColor(m16, cv2.COLOR_BayerBG2BGR_EA)[..., ::-1].astype(np.float32) / 16383.0
    del m16
    # White balance: towards neutral for the light at the unit, keeping some warmth, a few % off.
    seen_white = (xtalk @ lamp_rgb_at_unit).astype(np.float64)
    seen_white = seen_white / seen_white[1]  # colour only: the exposure stays
    keep = e["wb_keep_warmth"]
    target = seen_white ** keep / (seen_white ** keep)[1]
    gains = target / seen_white * (1 + np.asarray(e["wb_error"]))
    # Colour matrix: partly undoes crosstalk, boosts saturation around luminance.
    undo = np.eye(3) + e["ccm_strength"] * (np.linalg.inv(xtalk) - np.eye(3))
    s = e["saturation"]
    lum = np.array([0.2126, 0.7152, 0.0722])
    sat = s * np.eye(3) + (1 - s) * np.ones((3, 1)) * lum[None, :]
    ccm = (sat @ undo @ np.diag(gains)).astype(np.float32)
    rgb = cv2.transform(rgb, ccm)
    np.clip(rgb, 0.0, 1.0, out=rgb)  # gamut clipping
    # sRGB encoding, then highlight roll-off and a per-channel S-curve (16-bit tables).
    x = np.linspace(0, 1, 4096)
    enc = color.linear_to_srgb(x)
    knee = e["rolloff_knee"]
    enc = np.where(enc > knee, knee + (1 - knee) * np.tanh((enc - knee) / (1 - knee)), enc)
    enc = enc / enc.max()
    out = np.empty((h, w, 3), np.uint8)
    idx = np.clip(rgb * 4095 + 0.5, 0, 4095).astype(np.uint16)
    del rgb
    for k in range(3):
        a = e["s_curve"][k]
        curve = enc + a * enc * (1 - enc) * (enc - 0.5) * 2.0
        lut = np.clip(np.round(curve * 255), 0, 255).astype(np.uint8)
        out[..., 2 - k] = lut[idx[..., k]]
    del idx
    # Noise reduction (chroma mostly) and sharpening.
    ycc = cv2.cvtColor(out, cv2.COLOR_BGR2YCrCb)
    d = e["denoise"]
    for k in (1, 2):
        ycc[..., k] = cv2.GaussianBlur(ycc[..., k], (0, 0), 0.8 + 1.5 * d)
    y = ycc[..., 0].astype(np.float32)
    blurred = cv2.GaussianBlur(y, (0, 0), 1.2)
    ycc[..., 0] = np.clip(y + e["sharpen"] * (y - blurred), 0, 255).astype(np.uint8)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)


def make_photo(seed: int, *, size_px: tuple[int, int] = (2000, 1500), **force) -> tuple[bytes, RealTruth]:
    """One seeded realistic JPEG (``size_px`` = (width, height)) and its truth.

    ``force``: override any sampled effect, e.g. ``shadow_edge=True``, ``gloss="window_band"``,
    ``chart_on_card=False, chart="classic"``, ``cct_k=2800``, ``blurry=True``, ``over_exposed=True``.
    """
    rng = np.random.default_rng(seed)
    e = _sample_effects(rng, force)
    unit, chart_center, chart_angle, roi = _layout(rng, e)
    w_px, h_px = size_px
    img_ppm = min(w_px / (roi[2] - roi[0]), h_px / (roi[3] - roi[1]))
    ppm = float(max(3.0, math.ceil(img_ppm * 1.2)))
    scene, srgb = _render_scene(rng, e, unit, chart_center, chart_angle, roi, ppm)
    lamp, shadow = _light_field(scene, rng, e, unit["center"])
    lamp_rgb = synth.planckian_gains(e["cct_k"]).astype(np.float64)
    amb_rgb = synth.planckian_gains(e["ambient_cct_k"]).astype(np.float64)
    amb_rgb = amb_rgb / (amb_rgb @ [0.2126, 0.7152, 0.0722]) * (lamp_rgb @ [0.2126, 0.7152, 0.0722]) * e["ambient_ratio"]
    light = lamp[..., None] * shadow[..., None] * lamp_rgb.astype(np.float32) + amb_rgb.astype(np.float32)
    radiance = scene.refl * light + scene.spec[..., None] * lamp_rgb.astype(np.float32) * lamp[..., None]
    del light
    # Camera.
    card_to_image = synth._camera_homography(rng, e["tilt_deg"], float(rng.uniform(-25, 25)), roi, (w_px, h_px), rng.uniform(0.02, 0.05))
    scene_px_to_mm = np.array([[1 / ppm, 0, scene.x0], [0, 1 / ppm, scene.y0], [0, 0, 1]])
    img = cv2.warpPerspective(radiance, card_to_image @ scene_px_to_mm, (w_px, h_px), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    del radiance
    # Vignetting and exposure.
    gy, gx = np.mgrid[0:h_px // 8 + 1, 0:w_px // 8 + 1].astype(np.float32) * 8.0
    r2 = ((gx - w_px / 2) ** 2 + (gy - h_px / 2) ** 2) / ((w_px / 2) ** 2 + (h_px / 2) ** 2)
    vig = cv2.resize(1.0 - e["vignetting"] * r2, (w_px, h_px), interpolation=cv2.INTER_LINEAR)
    white_at_unit = float(np.max(synth.PAPER_REFLECTANCE) * np.max(lamp_rgb + amb_rgb))
    exposure = float(rng.uniform(0.62, 0.8)) / white_at_unit
    if e["over_exposed"]:
        exposure *= float(rng.uniform(1.7, 2.3))
    img *= (vig * exposure)[..., None]
    # Defocus.
    mm_per_px = 1.0 / img_ppm
    blur_mm = float(rng.uniform(0.85, 1.4)) if e["blurry"] else float(rng.uniform(0.08, 0.3))
    img = cv2.GaussianBlur(img, (0, 0), max(0.3, blur_mm / mm_per_px))
    bgr = _sensor_and_phone(img, rng, e, (lamp_rgb + amb_rgb) * exposure)
    del img
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, e["jpeg_quality"],
                                         cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
    assert ok
    # Truth.
    unit_img = cv2.perspectiveTransform(unit["poly"].reshape(-1, 1, 2), card_to_image).reshape(-1, 2)
    mask = np.zeros((h_px, w_px), np.uint8)
    cv2.fillPoly(mask, [np.round(unit_img).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
    e["unit_clipped"] = bool(mask.any() and np.mean(bgr[mask.astype(bool)].max(axis=1) >= 254) > 0.02 and e["gloss"] == "none")
    e["blur_mm"] = blur_mm
    e["image_px_per_mm"] = float(img_ppm)
    lab = color.srgb_to_lab(srgb)
    distance = float(np.linalg.norm(chart_center - unit["center"]))
    codes = set()
    if e["shadow_edge"]:
        codes.add("uneven_light")
    if e["gloss"] == "window_band":
        codes.add("glare_split")
    if e["blurry"]:
        codes.add("blurry")
    if e["over_exposed"]:
        codes.add("over_exposed")
    if distance > CHART_FAR_MM:
        codes.add("chart_far")
    if e["cct_k"] < WARM_CCT_K:
        codes.add("light_too_warm")
    truth = RealTruth(
        seed=seed, lab=tuple(float(v) for v in lab), length_mm=unit["length"], width_mm=unit["width"],
        cct_k=e["cct_k"], chart=e["chart"], chart_on_card=e["chart_on_card"], chart_distance_mm=distance,
        image_size=(w_px, h_px), effects=e, expected_codes=frozenset(codes),
    )
    return buf.tobytes(), truth


def reference_for(truth: RealTruth, *, delta_e_max: float = 2.0, size_tolerance_mm: float = 1.0,
                  shift: float = 0.0, size_shift: float = 0.0) -> dict:
    """Golden-sample reference for the truth; ``shift`` moves the reference colour by ``shift``
    × ``delta_e_max`` ΔE00 (along L*), ``size_shift`` the sizes by ``size_shift`` × ``size_tolerance_mm``."""
    lab = list(truth.lab)
    if shift:
        # Find the L* offset giving exactly shift × delta_e_max ΔE00.
        target = shift * delta_e_max
        lo, hi = 0.0, 4 * target + 5
        sign = -1.0 if lab[0] > 50 else 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            de = float(color.delta_e_cie2000(np.array(truth.lab), np.array([lab[0] + sign * mid, lab[1], lab[2]])))
            lo, hi = (mid, hi) if de < target else (lo, mid)
        lab[0] += sign * (lo + hi) / 2
    return {"lab": lab, "length_mm": truth.length_mm + size_shift * size_tolerance_mm,
            "width_mm": truth.width_mm + size_shift * size_tolerance_mm, "delta_e_max": delta_e_max,
            "size_tolerance_mm": size_tolerance_mm}

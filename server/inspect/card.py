"""The printed Lineside inspection card: geometry as data, PNG and PDF rendering.

The card is a 250 × 180 mm area printed in the middle of a landscape A4 (297 × 210 mm) or
US Letter (279.4 × 215.9 mm) page, so its geometry is the same on both papers. All
coordinates are in card millimetres: origin at the top-left corner of the card area,
x to the right, y down.

On the card:

* six ArUco markers (``DICT_4X4_50``, ids 0-5, 20 mm including the black border) at the
  corners and the middle of the long edges: scale and perspective;
* the *unit area* (128 × 114 mm of plain paper with corner marks) where the unit lies,
  with a millimetre ruler along its top and left edges (people can check the print scale
  with it: 100 mm on the ruler must measure 100 mm);
* the *checker area*: an outline the size of an X-Rite ColorChecker Classic Mini
  (82.6 × 57.2 mm, 24 patches in the Classic layout, dark skin top-left) so the analysis
  can find the patches from the markers alone; a checker anywhere else in the photo is
  still found by OpenCV's ``mcc`` detector;
* the rest is unprinted paper, which the analysis uses as a white reference to flatten
  uneven lighting.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CARD_GEOMETRY",
    "CHECKER_PATCH_NAMES",
    "COLORCHECKER_CLASSIC_SRGB_U8",
    "PAPER_SIZES_MM",
    "CardGeometry",
    "card_geometry",
    "draw_card",
    "render_card_png",
    "render_card_pdf",
    "write_card",
]

#: Paper sizes (width, height) in mm, landscape.
PAPER_SIZES_MM = {"A4": (297.0, 210.0), "Letter": (279.4, 215.9)}
_MM_PER_INCH = 25.4
_POINTS_PER_INCH = 72.0

#: ColorChecker Classic patch names, row by row from dark skin (top-left).
CHECKER_PATCH_NAMES = (
    "dark skin", "light skin", "blue sky", "foliage", "blue flower", "bluish green",
    "orange", "purplish blue", "moderate red", "purple", "yellow green", "orange yellow",
    "blue", "green", "red", "yellow", "magenta", "cyan",
    "white 9.5", "neutral 8", "neutral 6.5", "neutral 5", "neutral 3.5", "black 2",
)  # fmt: skip

#: Published 8-bit sRGB (D65) values of the ColorChecker Classic patches (X-Rite; N. Ohta /
#: D. Pascale, BabelColor "RGB coordinates of the Macbeth ColorChecker", 2006), same order
#: as :data:`CHECKER_PATCH_NAMES`.
COLORCHECKER_CLASSIC_SRGB_U8 = (
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177),
    (103, 189, 170), (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108),
    (157, 188, 64), (224, 163, 46), (56, 61, 150), (70, 148, 73), (175, 54, 60),
    (231, 199, 31), (187, 86, 149), (8, 133, 161), (243, 243, 242), (200, 200, 200),
    (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
)  # fmt: skip


@dataclass(frozen=True)
class CardGeometry:
    """Geometry of the printed card, in card millimetres (origin top-left, y down).

    ``markers`` maps ArUco id to the marker's top-left corner; each marker is a square of
    ``marker_size_mm`` including its one-bit black border. Areas are ``(x0, y0, x1, y1)``.
    """

    version: str = "lineside-card-1"
    width_mm: float = 250.0
    height_mm: float = 180.0
    marker_dictionary: str = "DICT_4X4_50"
    marker_size_mm: float = 20.0
    markers: tuple[tuple[int, tuple[float, float]], ...] = (
        (0, (5.0, 5.0)),
        (1, (225.0, 5.0)),
        (2, (225.0, 155.0)),
        (3, (5.0, 155.0)),
        (4, (115.0, 5.0)),
        (5, (115.0, 155.0)),
    )
    unit_area_mm: tuple[float, float, float, float] = (30.0, 36.0, 158.0, 150.0)
    checker_area_mm: tuple[float, float, float, float] = (164.0, 36.0, 246.6, 93.2)
    checker_columns: int = 6
    checker_rows: int = 4
    checker_patch_pitch_mm: float = 12.7
    checker_patch_size_mm: float = 10.7
    text_area_mm: tuple[float, float, float, float] = (164.0, 100.0, 246.0, 150.0)
    ruler_band_mm: float = 8.0
    paper_sizes_mm: dict = field(default_factory=lambda: dict(PAPER_SIZES_MM))

    @property
    def marker_ids(self) -> tuple[int, ...]:
        """ArUco ids printed on the card."""
        return tuple(marker_id for marker_id, _ in self.markers)

    def marker_corners_mm(self, marker_id: int) -> np.ndarray:
        """Corners (4, 2) of a marker in mm, in ArUco order: top-left, top-right,
        bottom-right, bottom-left. Raises KeyError for an id not on the card."""
        x, y = dict(self.markers)[marker_id]
        s = self.marker_size_mm
        return np.array([[x, y], [x + s, y], [x + s, y + s], [x, y + s]], dtype=np.float64)

    def checker_patch_centers_mm(self) -> np.ndarray:
        """Centres (24, 2) of the checker patches in mm when the checker lies in its outline
        the right way up (dark skin top-left), row by row."""
        x0, y0, x1, y1 = self.checker_area_mm
        pitch = self.checker_patch_pitch_mm
        cx0 = (x0 + x1) / 2.0 - pitch * (self.checker_columns - 1) / 2.0
        cy0 = (y0 + y1) / 2.0 - pitch * (self.checker_rows - 1) / 2.0
        cols, rows = np.meshgrid(np.arange(self.checker_columns), np.arange(self.checker_rows))
        return np.stack([cx0 + cols.ravel() * pitch, cy0 + rows.ravel() * pitch], axis=1)

    def exclusion_areas_mm(self) -> list[tuple[float, float, float, float]]:
        """Printed (or possibly covered) areas: markers with quiet zone, rulers, text,
        the checker outline with room for a misplaced checker, and the unit area."""
        areas = []
        for marker_id in self.marker_ids:
            c = self.marker_corners_mm(marker_id)
            areas.append((c[0, 0] - 2.0, c[0, 1] - 2.0, c[2, 0] + 2.0, c[2, 1] + 2.0))
        ux0, uy0, ux1, uy1 = self.unit_area_mm
        band = self.ruler_band_mm
        areas.append((ux0 - 2.0, uy0 - band - 1.0, ux1 + 2.0, uy0 + 1.0))  # top ruler
        areas.append((ux0 - band - 1.0, uy0 - 2.0, ux0 + 1.0, uy1 + 2.0))  # left ruler
        areas.append((ux0 - 1.0, uy0 - 1.0, ux1 + 1.0, uy1 + 1.0))
        cx0, cy0, cx1, cy1 = self.checker_area_mm
        areas.append((cx0 - 5.0, cy0 - 5.0, cx1 + 5.0, cy1 + 5.0))
        areas.append(self.text_area_mm)
        return areas

    def paper_sample_points_mm(self, spacing_mm: float = 6.0, half_size_mm: float = 2.0) -> np.ndarray:
        """Centres (N, 2) of small squares of blank paper (side ``2·half_size_mm``), on a grid,
        used as the white reference for flat-field correction."""
        xs = np.arange(half_size_mm + 1.0, self.width_mm - half_size_mm - 1.0 + 1e-9, spacing_mm)
        ys = np.arange(half_size_mm + 1.0, self.height_mm - half_size_mm - 1.0 + 1e-9, spacing_mm)
        points = []
        areas = self.exclusion_areas_mm()
        for y in ys:
            for x in xs:
                if not any(
                    x + half_size_mm > a[0] and x - half_size_mm < a[2] and y + half_size_mm > a[1] and y - half_size_mm < a[3]
                    for a in areas
                ):
                    points.append((x, y))
        return np.array(points, dtype=np.float64).reshape(-1, 2)

    def as_dict(self) -> dict:
        """Plain JSON-ready description (for the API, clients and documentation)."""
        return {
            "version": self.version,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "marker_dictionary": self.marker_dictionary,
            "marker_size_mm": self.marker_size_mm,
            "markers": [
                {"id": marker_id, "corners_mm": self.marker_corners_mm(marker_id).tolist()}
                for marker_id in self.marker_ids
            ],
            "unit_area_mm": list(self.unit_area_mm),
            "checker_area_mm": list(self.checker_area_mm),
            "checker_patch_centers_mm": self.checker_patch_centers_mm().tolist(),
            "paper_sizes_mm": {k: list(v) for k, v in self.paper_sizes_mm.items()},
        }


#: The card every analysis expects.
CARD_GEOMETRY = CardGeometry()


def card_geometry() -> CardGeometry:
    """Return the geometry of the printed card (:data:`CARD_GEOMETRY`)."""
    return CARD_GEOMETRY


def _marker_bits(marker_id: int, dictionary_name: str) -> np.ndarray:
    """6 × 6 array, 0 = black, 255 = white: the marker's cells including its border."""
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary_name))
    return cv2.aruco.generateImageMarker(dictionary, marker_id, 6, borderBits=1)


_SHIFT = 4  # cv2 drawing with 1/16-pixel precision


def _pts(points_mm, px_per_mm: float, offset_px=(0.0, 0.0)) -> np.ndarray:
    pts = (np.asarray(points_mm, dtype=np.float64) * px_per_mm + np.asarray(offset_px)) * (1 << _SHIFT)
    return np.round(pts).astype(np.int32).reshape(-1, 1, 2)


def _rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _line(img, p0, p1, px_per_mm, offset, width_mm, value=0):
    pts = _pts([p0, p1], px_per_mm, offset).reshape(2, 2)
    thickness = max(1, int(round(width_mm * px_per_mm)))
    cv2.line(img, tuple(int(v) for v in pts[0]), tuple(int(v) for v in pts[1]), value, thickness, cv2.LINE_AA, _SHIFT)


def _text(img, text, x_mm, y_mm, height_mm, px_per_mm, offset, thickness_mm=0.35):
    scale = height_mm * px_per_mm / 22.0  # Hershey simplex capitals are ~22 px tall at scale 1
    thickness = max(1, int(round(thickness_mm * px_per_mm)))
    org = (int(round(x_mm * px_per_mm + offset[0])), int(round(y_mm * px_per_mm + offset[1])))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thickness, cv2.LINE_AA)


def draw_card(px_per_mm: float, geometry: CardGeometry = CARD_GEOMETRY, *, canvas=None, offset_px=(0.0, 0.0)) -> np.ndarray:
    """Draw the card (black on white, uint8) at ``px_per_mm``.

    Without ``canvas`` returns a new (height_mm·px_per_mm, width_mm·px_per_mm) image of the
    card area; with ``canvas`` draws into it at ``offset_px`` (the card's top-left corner).
    OpenCV's convention: the centre of pixel (row i, column j) is at card mm
    (j / px_per_mm, i / px_per_mm). Edges are drawn with 1/16-pixel precision so synthetic
    photos have exactly known geometry.
    """
    g = geometry
    if canvas is None:
        shape = (int(round(g.height_mm * px_per_mm)), int(round(g.width_mm * px_per_mm)))
        canvas = np.full(shape, 255, dtype=np.uint8)
    off = offset_px
    cell = g.marker_size_mm / 6.0
    for marker_id, (mx, my) in g.markers:
        bits = _marker_bits(marker_id, g.marker_dictionary)
        for r in range(6):
            for c in range(6):
                if bits[r, c] < 128:
                    x0, y0 = mx + c * cell, my + r * cell
                    cv2.fillPoly(canvas, [_pts(_rect(x0, y0, x0 + cell, y0 + cell), px_per_mm, off)], 0, cv2.LINE_8, _SHIFT)
        # No label next to the marker: print near a corner disturbs sub-pixel corner refinement.

    ux0, uy0, ux1, uy1 = g.unit_area_mm
    tick_w = 0.2
    for mm in range(0, int(ux1 - ux0) + 1):  # top ruler, 0 at the unit area's left edge
        x = ux0 + mm
        length = 4.5 if mm % 10 == 0 else (3.0 if mm % 5 == 0 else 1.8)
        _line(canvas, (x, uy0 - 0.6), (x, uy0 - 0.6 - length), px_per_mm, off, tick_w)
        if mm % 10 == 0:
            _text(canvas, str(mm // 10), x - 0.8, uy0 - 6.0, 1.8, px_per_mm, off, 0.22)
    for mm in range(0, int(uy1 - uy0) + 1):  # left ruler
        y = uy0 + mm
        length = 4.5 if mm % 10 == 0 else (3.0 if mm % 5 == 0 else 1.8)
        _line(canvas, (ux0 - 0.6, y), (ux0 - 0.6 - length, y), px_per_mm, off, tick_w)
        if mm % 10 == 0 and mm:
            _text(canvas, str(mm // 10), ux0 - 8.2, y + 0.9, 1.8, px_per_mm, off, 0.22)
    _text(canvas, "cm", ux1 - 4.0, uy0 - 6.0, 1.8, px_per_mm, off, 0.22)
    for cx, cy, dx, dy in ((ux1, uy0, -1, 1), (ux1, uy1, -1, -1), (ux0, uy1, 1, -1)):  # corner marks
        _line(canvas, (cx, cy), (cx + 6.0 * dx, cy), px_per_mm, off, 0.3)
        _line(canvas, (cx, cy), (cx, cy + 6.0 * dy), px_per_mm, off, 0.3)

    cx0, cy0, cx1, cy1 = g.checker_area_mm
    dash = 3.0
    for a, b in (((cx0, cy0), (cx1, cy0)), ((cx1, cy0), (cx1, cy1)), ((cx1, cy1), (cx0, cy1)), ((cx0, cy1), (cx0, cy0))):
        a, b = np.array(a), np.array(b)
        n = max(1, int(np.linalg.norm(b - a) // (2 * dash)))
        for k in range(n + 1):
            p = a + (b - a) * min(1.0, 2 * k * dash / np.linalg.norm(b - a))
            q = a + (b - a) * min(1.0, (2 * k + 1) * dash / np.linalg.norm(b - a))
            _line(canvas, p, q, px_per_mm, off, 0.3)
    _text(canvas, "colour checker here, dark skin patch top-left", cx0, cy1 + 3.5, 2.0, px_per_mm, off, 0.22)

    tx0, ty0, _, _ = g.text_area_mm
    lines = (
        (3.6, "LINESIDE INSPECTION CARD"),
        (2.2, "Print at 100% / actual size: ruler 10 cm = 100 mm"),
        (2.2, "Unit inside the corner marks, flat, straight from above"),
        (2.2, "Even light, no flash glare, all 6 markers in view"),
        (2.0, g.version),
    )
    y = ty0 + 25.0
    for height, line in lines:
        _text(canvas, line, tx0, y, height, px_per_mm, off, 0.3 if height > 3 else 0.22)
        y += height + 2.6
    return canvas


def _page_pixels(paper: str, dpi: int) -> tuple[int, int, float, tuple[float, float]]:
    if paper not in PAPER_SIZES_MM:
        raise ValueError(f"paper must be one of {sorted(PAPER_SIZES_MM)}, got {paper!r}")
    if not 72 <= dpi <= 1200:
        raise ValueError(f"dpi must be between 72 and 1200, got {dpi}")
    w_mm, h_mm = PAPER_SIZES_MM[paper]
    px_per_mm = dpi / _MM_PER_INCH
    w_px, h_px = int(round(w_mm * px_per_mm)), int(round(h_mm * px_per_mm))
    g = CARD_GEOMETRY
    offset = ((w_mm - g.width_mm) / 2.0 * px_per_mm, (h_mm - g.height_mm) / 2.0 * px_per_mm)
    return w_px, h_px, px_per_mm, offset


def _render_page(paper: str, dpi: int) -> np.ndarray:
    w_px, h_px, px_per_mm, offset = _page_pixels(paper, dpi)
    page = np.full((h_px, w_px), 255, dtype=np.uint8)
    return draw_card(px_per_mm, canvas=page, offset_px=offset)


def _png_with_dpi(gray: np.ndarray, dpi: int) -> bytes:
    ok, buf = cv2.imencode(".png", gray, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:  # pragma: no cover - cv2 always encodes a uint8 gray image
        raise RuntimeError("PNG encoding failed")
    png = buf.tobytes()
    # Insert a pHYs chunk (pixels per metre) after IHDR so viewers print at the right size.
    ppm = int(round(dpi / 0.0254))
    data = b"pHYs" + ppm.to_bytes(4, "big") * 2 + b"\x01"
    chunk = (9).to_bytes(4, "big") + data + zlib.crc32(data).to_bytes(4, "big")
    ihdr_end = 8 + 4 + 4 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def render_card_png(dpi: int = 300, paper: str = "A4") -> bytes:
    """Full landscape page with the card centred, as PNG bytes (8-bit grey, pHYs = ``dpi``).

    ``paper``: "A4" or "Letter". Raises ValueError for an unknown paper or a dpi outside
    72..1200.
    """
    return _png_with_dpi(_render_page(paper, dpi), dpi)


def render_card_pdf(paper: str = "A4", dpi: int = 300) -> bytes:
    """Single-page PDF of the card whose page is exactly the paper size in points
    (landscape), the card raster filling it, with ``/PrintScaling /None`` so viewers print
    at 100%. Raises ValueError like :func:`render_card_png`."""
    page = _render_page(paper, dpi)
    h_px, w_px = page.shape
    w_mm, h_mm = PAPER_SIZES_MM[paper]
    w_pt = w_mm / _MM_PER_INCH * _POINTS_PER_INCH
    h_pt = h_mm / _MM_PER_INCH * _POINTS_PER_INCH
    image = zlib.compress(page.tobytes(), 6)
    content = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Card Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /ViewerPreferences << /PrintScaling /None >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.4f} {h_pt:.4f}] "
            "/Resources << /XObject << /Card 5 0 R >> >> /Contents 4 0 R >>"
        ).encode(),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        (
            f"<< /Type /XObject /Subtype /Image /Width {w_px} /Height {h_px} /ColorSpace /DeviceGray "
            f"/BitsPerComponent 8 /Interpolate false /Filter /FlateDecode /Length {len(image)} >>\nstream\n"
        ).encode()
        + image
        + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def write_card(path, paper: str = "A4", fmt: str = "pdf", dpi: int = 300) -> Path:
    """Write the printable card to ``path`` as ``fmt`` "pdf" or "png"; returns the path.

    Raises ValueError for an unknown format, paper or dpi; OSError if the file cannot be
    written.
    """
    if fmt not in ("pdf", "png"):
        raise ValueError(f"fmt must be 'pdf' or 'png', got {fmt!r}")
    data = render_card_pdf(paper, dpi) if fmt == "pdf" else render_card_png(dpi, paper)
    path = Path(path)
    path.write_bytes(data)
    return path

"""Tests for the printable inspection card and its geometry."""

import re
import struct
import zlib

import cv2
import numpy as np
import pytest

from server.inspect import card
from server.inspect.card import CARD_GEOMETRY as G


def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def test_geometry_markers_are_distinct_inside_the_card_and_apart():
    ids = G.marker_ids
    assert len(set(ids)) == len(ids) == 6
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, G.marker_dictionary))
    assert max(ids) < dictionary.bytesList.shape[0]
    boxes = [G.marker_corners_mm(i) for i in ids]
    for b in boxes:
        assert b.min() >= 0 and b[:, 0].max() <= G.width_mm and b[:, 1].max() <= G.height_mm
        np.testing.assert_allclose(b[2] - b[0], [G.marker_size_mm, G.marker_size_mm])
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            overlap_x = min(a[2, 0], b[2, 0]) - max(a[0, 0], b[0, 0])
            overlap_y = min(a[2, 1], b[2, 1]) - max(a[0, 1], b[0, 1])
            assert overlap_x < 0 or overlap_y < 0


def test_geometry_unit_and_checker_areas_are_disjoint_and_on_the_card():
    ux0, uy0, ux1, uy1 = G.unit_area_mm
    cx0, cy0, cx1, cy1 = G.checker_area_mm
    assert 0 < ux0 < ux1 < cx0 < cx1 < G.width_mm
    assert 0 < uy0 < uy1 < G.height_mm and 0 < cy0 < cy1 < G.height_mm
    assert cx1 - cx0 == pytest.approx(82.6) and cy1 - cy0 == pytest.approx(57.2)  # ColorChecker Classic Mini
    centers = G.checker_patch_centers_mm()
    assert centers.shape == (24, 2)
    half = G.checker_patch_size_mm / 2
    assert np.all(centers[:, 0] - half > cx0) and np.all(centers[:, 0] + half < cx1)
    assert np.all(centers[:, 1] - half > cy0) and np.all(centers[:, 1] + half < cy1)


def test_paper_sample_points_avoid_everything_printed():
    points = G.paper_sample_points_mm()
    assert len(points) >= 100
    for x0, y0, x1, y1 in G.exclusion_areas_mm():
        inside = (points[:, 0] + 2 > x0) & (points[:, 0] - 2 < x1) & (points[:, 1] + 2 > y0) & (points[:, 1] - 2 < y1)
        assert not inside.any()
    # They surround the unit area on all four sides, so the flat field interpolates there.
    ux0, uy0, ux1, uy1 = G.unit_area_mm
    assert (points[:, 0] < ux0).any() and (points[:, 0] > ux1).any()
    assert (points[:, 1] < uy0).any() and (points[:, 1] > uy1).any()


def test_geometry_as_dict_is_plain_data():
    d = G.as_dict()
    assert d["marker_dictionary"] == "DICT_4X4_50"
    assert [m["id"] for m in d["markers"]] == list(G.marker_ids)
    assert d["markers"][0]["corners_mm"] == G.marker_corners_mm(0).tolist()
    assert card.card_geometry() is G


@pytest.mark.parametrize(("paper", "size"), [("A4", (3508, 2480)), ("Letter", (3300, 2550))])
def test_png_page_size_and_dpi(paper, size):
    png = card.render_card_png(300, paper)
    assert _png_size(png) == size
    i = png.index(b"pHYs")
    ppm_x, ppm_y, unit = struct.unpack(">IIB", png[i + 4 : i + 13])
    assert ppm_x == ppm_y == round(300 / 0.0254) and unit == 1
    assert zlib.crc32(png[i : i + 13]) == struct.unpack(">I", png[i + 13 : i + 17])[0]


@pytest.mark.parametrize("paper", ["A4", "Letter"])
def test_printed_markers_are_where_the_geometry_says(paper):
    dpi = 150
    png = card.render_card_png(dpi, paper)
    page = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters()).detectMarkers(page)
    assert sorted(ids.ravel().tolist()) == sorted(G.marker_ids)
    px_per_mm = dpi / 25.4
    w_mm, h_mm = card.PAPER_SIZES_MM[paper]
    offset = np.array([(w_mm - G.width_mm) / 2, (h_mm - G.height_mm) / 2])
    for c, i in zip(corners, ids.ravel(), strict=True):
        expected = (G.marker_corners_mm(int(i)) + offset) * px_per_mm
        # Detected corners sit on the outer edge of the border pixels: within a pixel.
        assert np.abs(c.reshape(4, 2) - expected).max() < 1.5


@pytest.mark.parametrize(("paper", "points"), [("A4", (841.8898, 595.2756)), ("Letter", (792.0, 612.0))])
def test_pdf_is_one_page_of_the_exact_paper_size(paper, points):
    pdf = card.render_card_pdf(paper, dpi=150)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    box = re.search(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert (float(box.group(1)), float(box.group(2))) == pytest.approx(points, abs=1e-3)
    assert b"/PrintScaling /None" in pdf and pdf.count(b"/Type /Page ") == 1
    # Every xref offset points at its object.
    xref = int(re.search(rb"startxref\n(\d+)", pdf).group(1))
    entries = pdf[xref:].split(b"\n")[3:8]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry[:10])
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    # The image stream inflates to exactly width × height grey pixels.
    m = re.search(rb"/Width (\d+) /Height (\d+).*?/Length (\d+) >>\nstream\n", pdf, re.S)
    w, h, n = map(int, m.groups())
    raw = zlib.decompress(pdf[m.end() : m.end() + n])
    assert len(raw) == w * h
    assert w / h == pytest.approx(points[0] / points[1], rel=2e-3)


def test_write_card_writes_both_formats(tmp_path):
    pdf = card.write_card(tmp_path / "card.pdf", paper="Letter", fmt="pdf", dpi=100)
    png = card.write_card(tmp_path / "card.png", paper="A4", fmt="png", dpi=100)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert _png_size(png.read_bytes()) == (round(297 / 25.4 * 100), round(210 / 25.4 * 100))


@pytest.mark.parametrize(
    "kwargs", [{"fmt": "svg"}, {"paper": "A3"}, {"dpi": 10}, {"dpi": 5000}]
)
def test_write_card_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        card.write_card(tmp_path / "card.out", **kwargs)
    assert not (tmp_path / "card.out").exists()


def test_checker_reference_values_match_published_lab():
    # Lab D65 of the published sRGB values: a few anchors from X-Rite's chart description.
    from server.inspect import color

    lab = color.srgb_to_lab(np.array(card.COLORCHECKER_CLASSIC_SRGB_U8, dtype=np.uint8))
    assert len(card.CHECKER_PATCH_NAMES) == 24
    assert lab[18, 0] == pytest.approx(96, abs=1.0)  # white 9.5
    assert lab[23, 0] == pytest.approx(21, abs=1.0)  # black 2
    assert np.all(np.diff(lab[18:24, 0]) < 0)  # neutral ramp gets darker
    assert np.all(np.abs(lab[18:24, 1:]) < 1.0)  # and stays neutral

"""SVG drift chart: structure, limits, markers, escaping, accessibility."""

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from server.inspect.chart import render_drift_svg
from server.inspect.drift import evaluate_colour_series, evaluate_dimension_series

NS = {"svg": "http://www.w3.org/2000/svg"}
REF = np.array([52.0, 8.0, 18.0])


def _parse(svg):
    return ET.fromstring(svg)


def _by_class(root, word):
    return [el for el in root.iter() if word in (el.get("class") or "").split()]


@pytest.fixture
def darkening():
    pts = REF + np.random.default_rng(4).normal(0.0, 0.4, (90, 3))
    pts[60:, 0] -= 1.0
    return evaluate_colour_series(pts, REF)


def test_one_point_per_measured_photo(darkening):
    root = _parse(render_drift_svg(darkening, title="Navy, batch 7"))
    assert len(_by_class(root, "point")) == 90


def test_nan_photos_leave_gaps():
    x = [10.0 + 0.1 * (i % 3) for i in range(40)]
    x[5] = math.nan
    root = _parse(render_drift_svg(evaluate_dimension_series(x, 10.0), title="t"))
    assert len(_by_class(root, "point")) == 39


def test_control_and_warning_limit_lines(darkening):
    root = _parse(render_drift_svg(darkening, title="t"))
    assert len(_by_class(root, "limit")) == 4
    assert len(_by_class(root, "control")) == 2 and len(_by_class(root, "warning")) >= 2
    assert len(_by_class(root, "ewma")) == 1
    ewma_pts = _by_class(root, "ewma")[0].get("points").split()
    assert len(ewma_pts) == 90
    upper = _by_class(root, "upper")
    assert {el.get("class") for el in upper} == {"limit control upper", "limit warning upper"}


def test_markers_for_signals(darkening):
    root = _parse(render_drift_svg(darkening, title="t"))
    alarms = _by_class(root, "alarm")
    warnings = [el for el in _by_class(root, "marker") if "warning" in el.get("class")]
    n_alarm = sum(1 for s in darkening.signals if s.level == "alarm")
    n_warn = sum(1 for s in darkening.signals if s.level == "warning")
    assert n_alarm >= 1
    assert len(alarms) == n_alarm and len(warnings) == n_warn
    tip = alarms[0].find("svg:title", NS).text
    assert "alarm" in tip and "getting darker" in tip


def test_title_is_escaped_not_markup():
    res = evaluate_dimension_series([10.0] * 35, 10.0)
    title = '<script>alert("x")</script> & "quotes"'
    svg = render_drift_svg(res, title=title)
    assert "<script>" not in svg
    root = _parse(svg)  # still well-formed XML
    assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    assert root.find("svg:title", NS).text == title
    assert title in root.get("aria-label")
    texts = ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert title in texts


def test_accessibility_attributes(darkening):
    root = _parse(render_drift_svg(darkening, title="Navy"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    label = root.get("aria-label")
    assert label.startswith("Navy: ΔL* drift chart of 90 photos")
    assert "getting darker" in label
    assert root.find("svg:title", NS).text == "Navy"
    assert root.find("svg:desc", NS) is not None


def test_no_external_resources_or_scripts(darkening):
    svg = render_drift_svg(darkening, title="t")
    for needle in ("href", "<image", "<script", "url(", "@import", "http://", "https://"):
        if needle == "http://":
            assert svg.count(needle) == 1  # the SVG namespace only
        else:
            assert needle not in svg


def test_size_and_readable_fonts(darkening):
    root = _parse(render_drift_svg(darkening, title="t"))
    assert root.get("width") == "360" and root.get("viewBox") == "0 0 360 220"
    sizes = [float(el.get("font-size")) for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert sizes and min(sizes) >= 13


def test_custom_size_and_chart_choice(darkening):
    root = _parse(render_drift_svg(darkening, title="t", width=600, height=300, chart="db"))
    assert root.get("width") == "600"
    assert "Δb*" in root.get("aria-label")
    with pytest.raises(KeyError):
        render_drift_svg(darkening, title="t", chart="nope")
    with pytest.raises(ValueError):
        render_drift_svg(darkening, title="t", width=100)


def test_dimension_chart_axis_label_has_unit():
    res = evaluate_dimension_series(np.random.default_rng(1).normal(120, 0.2, 40), 120.0)
    root = _parse(render_drift_svg(res, title="Length"))
    texts = ["".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "length deviation (mm)" in texts
    assert "photo, production order" in texts


def test_baseline_and_empty_results_render():
    base = render_drift_svg(evaluate_dimension_series([10.0, 10.1], 10.0), title="t")
    root = _parse(base)
    assert len(_by_class(root, "point")) == 2 and not _by_class(root, "limit")
    assert "collecting baseline" in root.get("aria-label")
    empty = _parse(render_drift_svg(evaluate_colour_series([], REF), title="t"))
    assert not _by_class(empty, "point")
    assert "No measurements yet" in "".join(_by_class(empty, "message")[0].itertext())


def test_constant_series_does_not_divide_by_zero():
    res = evaluate_dimension_series([10.0] * 40, 10.0, {"sigma": 1e-9, "center": 0.0,
                                                       "sigma_floor": 0.0})
    root = _parse(render_drift_svg(res, title="t"))
    for el in _by_class(root, "point"):
        assert math.isfinite(float(el.get("cy")))

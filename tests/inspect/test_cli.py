"""Operator commands: ``print-card`` (exact paper size) and ``reanalyse`` (one photo or a whole batch)."""
from __future__ import annotations

import re
import struct

import pytest
from click.testing import CliRunner

from tests.inspect.photo_flow import demo_photo, photo_row, store_photo

POINTS_PER_MM = 72.0 / 25.4


def _media_box(pdf: bytes) -> list[float]:
    match = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert match, "no MediaBox in the PDF"
    return sorted(float(v) for v in match.groups())


@pytest.mark.parametrize(("paper", "size_pt"), [("A4", (595.28, 841.89)), ("letter", (612.0, 792.0))])
def test_print_card_writes_a_pdf_page_of_the_exact_paper_size(tmp_path, paper, size_pt):
    from server.inspect.cli import print_card

    out = tmp_path / "card.pdf"
    result = CliRunner().invoke(print_card, ["--paper", paper, "--format", "pdf", "--dpi", "150", "--output",
                                             str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    assert _media_box(data) == pytest.approx(sorted(size_pt), abs=0.01)
    assert "100 %" in result.output


def test_print_card_writes_a_png_with_the_pixels_of_the_paper_at_the_dpi(tmp_path):
    from server.inspect.cli import print_card

    out = tmp_path / "card.png"
    result = CliRunner().invoke(print_card, ["--paper", "A4", "--format", "png", "--dpi", "100", "--output", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (round(297 / 25.4 * 100), round(210 / 25.4 * 100))  # landscape A4


def test_print_card_refuses_an_unknown_paper(tmp_path):
    from server.inspect.cli import print_card

    result = CliRunner().invoke(print_card, ["--paper", "A3", "--output", str(tmp_path / "card.pdf")])
    assert result.exit_code != 0 and not (tmp_path / "card.pdf").exists()


def test_print_card_is_a_flask_command(runner, tmp_path):
    out = tmp_path / "card.pdf"
    result = runner.invoke(args=["print-card", "--dpi", "100", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert _media_box(out.read_bytes()) == pytest.approx([595.28, 841.89], abs=0.01)


def test_reanalyse_batch_shows_progress_and_analyses_every_photo_of_the_batch(app, runner, demo):
    in_batch = [store_photo(demo_photo("in_tolerance")), store_photo(demo_photo("out_of_tolerance"))]
    other_batch = store_photo(demo_photo("in_tolerance"), inspection="inspection:final:B")

    result = runner.invoke(args=["reanalyse", "--batch", str(demo("batch:A"))])
    assert result.exit_code == 0, result.output
    assert "analysing 2 photo(s)" in result.output
    assert "done: 1 fail, 1 pass" in result.output
    assert [photo_row(p).analysis_status for p in in_batch] == ["pass", "fail"]
    assert photo_row(other_batch).upload_state == "stored"


def test_reanalyse_photo_applies_the_current_tolerance(app, runner, demo):
    from server.catalog.models import ColourStandard
    from server.extensions import db
    from server.inspect.analysis import analyse_photo

    photo_id = store_photo(demo_photo("in_tolerance"))
    assert analyse_photo(photo_id) == "pass"
    db.session.get(ColourStandard, demo("colour:sage")).delta_e_tolerance = 0.01
    db.session.commit()

    result = runner.invoke(args=["reanalyse", "--photo", str(photo_id)])
    assert result.exit_code == 0, result.output
    photo = photo_row(photo_id)
    # ΔE00 0.01 is far inside the measurement's uncertainty: neither pass nor fail can be
    # claimed, so the photo goes to a person (review queue).
    assert (photo.analysis_status, photo.flag_reasons) == ("review", ["needs_review"])
    assert photo.review_state == "open"
    assert photo.analysis["delta_e_u"] > 0.01
    assert photo.analysis["reference"]["delta_e_max"] == 0.01


def test_reanalyse_needs_exactly_one_selection(app, runner):
    result = runner.invoke(args=["reanalyse"])
    assert result.exit_code != 0
    assert "exactly one of --photo, --batch or --pending" in result.output


def test_reanalyse_an_unknown_photo_fails(app, runner):
    result = runner.invoke(args=["reanalyse", "--photo", "00000000-0000-0000-0000-000000000001"])
    assert result.exit_code != 0
    assert "no photo" in result.output


def test_reanalyse_pending_analyses_only_photos_never_analysed(app, runner, demo):
    from server.inspect.analysis import analyse_photo

    done = store_photo(demo_photo("in_tolerance"))
    analyse_photo(done)
    rev = photo_row(done).rev
    waiting = store_photo(demo_photo("no_card"))

    result = runner.invoke(args=["reanalyse", "--pending"])
    assert result.exit_code == 0, result.output
    assert "analysing 1 photo(s)" in result.output
    assert photo_row(waiting).analysis_status == "unusable"
    assert photo_row(done).rev == rev

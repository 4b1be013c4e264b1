"""AQL plans against the published ISO 2859-1 / ANSI/ASQ Z1.4 tables, and switching rules."""

import json

import pytest

from server.inspect import aql
from server.inspect.aql import SwitchingState, next_state, plan, plans_for_classes, replay

LETTERS = "ABCDEFGHJKLMNPQR"
LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")

# ISO 2859-1 Table 1 / Z1.4 Table I, typed row by row: (min, max, S-1 S-2 S-3 S-4 I II III)
TABLE_1 = [
    (2, 8, "AAAAAAB"),
    (9, 15, "AAAAABC"),
    (16, 25, "AABBBCD"),
    (26, 50, "ABBCCDE"),
    (51, 90, "BBCCCEF"),
    (91, 150, "BBCDDFG"),
    (151, 280, "BCDEEGH"),
    (281, 500, "BCDEFHJ"),
    (501, 1200, "CCEFGJK"),
    (1201, 3200, "CDEGHKL"),
    (3201, 10000, "CDFGJLM"),
    (10001, 35000, "CDFHKMN"),
    (35001, 150000, "DEGJLNP"),
    (150001, 500000, "DEGJMPQ"),
    (500001, 10**9, "DEHKNQR"),
]
NORMAL_N = dict(zip(LETTERS, (2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000), strict=True))
REDUCED_N = dict(zip(LETTERS, (2, 2, 2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800), strict=True))
# A lot size whose level II code letter is the key (for table cell tests).
LOT_FOR_II = {"A": 5, "B": 12, "C": 20, "D": 40, "E": 80, "F": 120, "G": 200, "H": 400,
              "J": 1000, "K": 2000, "L": 5000, "M": 20000, "N": 100000, "P": 300000, "Q": 600000}


@pytest.mark.parametrize("lo,hi,letters", TABLE_1)
@pytest.mark.parametrize("level_index", range(7))
def test_code_letter_every_range_and_level(lo, hi, letters, level_index):
    level = LEVELS[level_index]
    for lot in (lo, (lo + hi) // 2, hi):
        assert aql.code_letter(lot, level) == letters[level_index], (lot, level)


@pytest.mark.parametrize("lot,level,expected", [
    (500, "II", "H"), (501, "II", "J"), (10000, "II", "L"), (10001, "II", "M"),
    (3, "II", "A"), (1200, "I", "G"), (500001, "III", "R"), (35000, "S-4", "H"),
])
def test_code_letter_boundaries(lot, level, expected):
    assert aql.code_letter(lot, level) == expected


# Published single sampling plans: (code letter of the lot, AQL) -> (letter used, n, Ac, Re)
NORMAL_CELLS = [
    # Z1.4 II-A, AQL 2.5 column: A v, B v, C 0/1, D ^, E v, F 1/2 ... N 21/22, P ^
    ("A", "2.5", "C", 5, 0, 1), ("B", "2.5", "C", 5, 0, 1), ("C", "2.5", "C", 5, 0, 1),
    ("D", "2.5", "C", 5, 0, 1), ("E", "2.5", "F", 20, 1, 2), ("F", "2.5", "F", 20, 1, 2),
    ("G", "2.5", "G", 32, 2, 3), ("H", "2.5", "H", 50, 3, 4), ("J", "2.5", "J", 80, 5, 6),
    ("K", "2.5", "K", 125, 7, 8), ("L", "2.5", "L", 200, 10, 11), ("M", "2.5", "M", 315, 14, 15),
    ("N", "2.5", "N", 500, 21, 22), ("P", "2.5", "N", 500, 21, 22), ("R", "2.5", "N", 500, 21, 22),
    # AQL 4.0 column
    ("B", "4.0", "B", 3, 0, 1), ("C", "4.0", "B", 3, 0, 1), ("D", "4.0", "E", 13, 1, 2),
    ("E", "4.0", "E", 13, 1, 2), ("F", "4.0", "F", 20, 2, 3), ("G", "4.0", "G", 32, 3, 4),
    ("H", "4.0", "H", 50, 5, 6), ("J", "4.0", "J", 80, 7, 8), ("K", "4.0", "K", 125, 10, 11),
    ("L", "4.0", "L", 200, 14, 15), ("M", "4.0", "M", 315, 21, 22), ("N", "4.0", "M", 315, 21, 22),
    # AQL 6.5 column
    ("A", "6.5", "A", 2, 0, 1), ("B", "6.5", "A", 2, 0, 1), ("C", "6.5", "D", 8, 1, 2),
    ("D", "6.5", "D", 8, 1, 2), ("E", "6.5", "E", 13, 2, 3), ("F", "6.5", "F", 20, 3, 4),
    ("G", "6.5", "G", 32, 5, 6), ("H", "6.5", "H", 50, 7, 8), ("J", "6.5", "J", 80, 10, 11),
    ("K", "6.5", "K", 125, 14, 15), ("L", "6.5", "L", 200, 21, 22), ("M", "6.5", "L", 200, 21, 22),
    # AQL 1.0 and 1.5 columns
    ("E", "1.0", "E", 13, 0, 1), ("F", "1.0", "E", 13, 0, 1), ("G", "1.0", "H", 50, 1, 2),
    ("J", "1.0", "J", 80, 2, 3), ("K", "1.0", "K", 125, 3, 4), ("L", "1.0", "L", 200, 5, 6),
    ("M", "1.0", "M", 315, 7, 8), ("N", "1.0", "N", 500, 10, 11), ("P", "1.0", "P", 800, 14, 15),
    ("Q", "1.0", "Q", 1250, 21, 22), ("R", "1.0", "Q", 1250, 21, 22),
    ("D", "1.5", "D", 8, 0, 1), ("F", "1.5", "G", 32, 1, 2), ("H", "1.5", "H", 50, 2, 3),
    ("K", "1.5", "K", 125, 5, 6),
    # AQL 0.65, 0.40, 0.25 and the small AQLs
    ("F", "0.65", "F", 20, 0, 1), ("H", "0.65", "J", 80, 1, 2), ("K", "0.65", "K", 125, 2, 3),
    ("R", "0.65", "R", 2000, 21, 22), ("H", "0.40", "G", 32, 0, 1), ("H", "0.25", "H", 50, 0, 1),
    ("J", "0.15", "J", 80, 0, 1), ("K", "0.10", "K", 125, 0, 1), ("L", "0.065", "L", 200, 0, 1),
    ("M", "0.040", "M", 315, 0, 1), ("N", "0.025", "N", 500, 0, 1), ("P", "0.015", "P", 800, 0, 1),
    ("Q", "0.010", "Q", 1250, 0, 1), ("R", "0.010", "Q", 1250, 0, 1), ("A", "0.010", "Q", 1250, 0, 1),
    ("R", "0.025", "R", 2000, 1, 2),
    # AQL 10 and the nonconformities-per-100-units columns
    ("A", "10", "C", 5, 1, 2), ("H", "10", "H", 50, 10, 11), ("K", "10", "K", 125, 21, 22),
    ("L", "10", "K", 125, 21, 22), ("A", "25", "A", 2, 1, 2), ("A", "100", "A", 2, 5, 6),
    ("A", "1000", "A", 2, 30, 31), ("B", "1000", "B", 3, 44, 45), ("C", "1000", "B", 3, 44, 45),
    ("E", "150", "E", 13, 30, 31), ("E", "250", "E", 13, 44, 45), ("F", "100", "E", 13, 21, 22),
]

TIGHTENED_CELLS = [
    ("G", "2.5", "G", 32, 1, 2), ("H", "2.5", "H", 50, 2, 3), ("J", "2.5", "J", 80, 3, 4),
    ("K", "2.5", "K", 125, 5, 6), ("L", "2.5", "L", 200, 8, 9), ("M", "2.5", "M", 315, 12, 13),
    ("N", "2.5", "N", 500, 18, 19), ("P", "2.5", "N", 500, 18, 19),
    ("H", "4.0", "H", 50, 3, 4), ("J", "4.0", "J", 80, 5, 6), ("K", "4.0", "K", 125, 8, 9),
    ("J", "1.0", "J", 80, 1, 2), ("K", "1.0", "K", 125, 2, 3), ("D", "2.5", "D", 8, 0, 1),
    ("A", "10", "A", 2, 0, 1), ("A", "1000", "A", 2, 27, 28), ("B", "1000", "B", 3, 41, 42),
    # the extra row S (n=3150) is reached only by the arrow from R at AQL 0.025
    ("R", "0.025", "S", 3150, 1, 2), ("R", "0.010", "R", 2000, 0, 1),
]

REDUCED_CELLS = [
    ("H", "2.5", "H", 20, 1, 4), ("J", "2.5", "J", 32, 2, 5), ("K", "2.5", "K", 50, 3, 6),
    ("L", "2.5", "L", 80, 5, 8), ("M", "2.5", "M", 125, 7, 10), ("N", "2.5", "N", 200, 10, 13),
    ("K", "1.0", "K", 50, 1, 4), ("J", "1.0", "J", 32, 1, 3), ("H", "1.0", "H", 20, 0, 2),
    ("E", "1.0", "E", 5, 0, 1), ("K", "4.0", "K", 50, 5, 8), ("A", "1000", "A", 2, 14, 17),
    ("B", "1000", "B", 2, 21, 24),
]


def _lot_for(letter):
    return LOT_FOR_II.get(letter, 1_000_000)


@pytest.mark.parametrize("inspection,cells", [
    ("normal", NORMAL_CELLS), ("tightened", TIGHTENED_CELLS), ("reduced", REDUCED_CELLS)])
def test_published_plan_cells(inspection, cells):
    tables = aql.load_tables()
    for lot_letter, a, letter, n, ac, re in cells:
        # read the table directly so letters not reachable at level II are covered too
        got = aql._resolve(inspection, lot_letter, tables["aqls"].index(a), tables)
        assert got == (letter, ac, re), (inspection, lot_letter, a)
        assert tables["sample_sizes"][inspection][letter] == n, (inspection, letter)
        if lot_letter in LOT_FOR_II and n < _lot_for(lot_letter):
            p = plan(_lot_for(lot_letter), a, "II", inspection)
            assert (p.code_letter, p.sample_size, p.accept, p.reject) == (letter, n, ac, re)


def test_worked_examples():
    p = plan(500, 2.5)
    assert (p.code_letter, p.sample_size, p.accept, p.reject, p.whole_lot) == ("H", 50, 3, 4, False)
    p = plan(500, 4.0)
    assert (p.sample_size, p.accept, p.reject) == (50, 5, 6)
    p = plan(10_000, 2.5)
    assert (p.code_letter, p.sample_size, p.accept, p.reject) == ("L", 200, 10, 11)
    p = plan(3, 6.5)
    assert (p.code_letter, p.sample_size, p.accept, p.reject, p.whole_lot) == ("A", 2, 0, 1, False)
    # lot 3, AQL 2.5: arrow down to C (n=5) which exceeds the lot: inspect all 3 units
    p = plan(3, 2.5)
    assert (p.lot_code_letter, p.code_letter, p.sample_size, p.accept, p.reject, p.whole_lot) == (
        "A", "C", 3, 0, 1, True)
    p = plan(2, 6.5)
    assert (p.sample_size, p.whole_lot) == (2, True)


def test_arrow_uses_the_target_plans_own_sample_size():
    p = plan(400, 0.65)  # H, arrow down to J
    assert (p.lot_code_letter, p.code_letter, p.sample_size, p.accept, p.reject) == ("H", "J", 80, 1, 2)
    p = plan(400, 0.40)  # H, arrow up to G
    assert (p.lot_code_letter, p.code_letter, p.sample_size, p.accept, p.reject) == ("H", "G", 32, 0, 1)


def test_aql_zero_is_zero_acceptance_on_the_lots_own_code_letter():
    for inspection, n in (("normal", 80), ("tightened", 80), ("reduced", 32)):
        p = plan(1000, 0, "II", inspection)
        assert (p.aql, p.code_letter, p.sample_size, p.accept, p.reject) == ("0", "J", n, 0, 1)
    assert plan(5, 0).sample_size == 2
    assert plan(2, 0, "III").whole_lot  # B, n=3 >= 2


def test_aql_given_as_string_or_float_gives_same_plan():
    assert plan(500, "2.5") == plan(500, 2.5)
    assert plan(500, "0.010") == plan(500, 0.01)
    assert plan(500, 10) == plan(500, "10")


@pytest.mark.parametrize("args,message", [
    ((1, 2.5), "at least 2"), ((0, 2.5), "at least 2"), ((2.5, 2.5), "integer"),
    ((True, 2.5), "integer"), ((500, 3.0), "unknown AQL"), ((500, "x"), "numeric"),
    ((500, None), "numeric"), ((500, -1), "unknown AQL"),
    ((500, 2.5, "IV"), "unknown inspection level"),
    ((500, 2.5, "II", "strict"), "unknown inspection"),
])
def test_invalid_inputs_raise_clear_errors(args, message):
    with pytest.raises(ValueError, match=message):
        plan(*args)


def test_plans_for_classes_defaults_and_custom():
    plans = plans_for_classes(1000)
    assert list(plans) == ["critical", "major", "minor"]
    assert [(p.sample_size, p.accept, p.reject) for p in plans.values()] == [
        (80, 0, 1), (80, 5, 6), (80, 7, 8)]
    plans = plans_for_classes(1000, {"major": 1.0, "minor": 6.5}, "I", "tightened")
    # level I lot 1000 -> G; tightened AQL 1.0 at G is an arrow up to F (n 20, Ac 0)
    major, minor = plans["major"], plans["minor"]
    assert (major.lot_code_letter, major.code_letter, major.sample_size, major.accept) == ("G", "F", 20, 0)
    assert (minor.code_letter, minor.sample_size, minor.accept, minor.reject) == ("G", 32, 3, 4)
    with pytest.raises(ValueError, match="'minor'"):
        plans_for_classes(1000, {"major": 1.0, "minor": 7})
    with pytest.raises(ValueError):
        plans_for_classes(1000, {})


def test_table_structure_normal_and_tightened_have_re_equal_ac_plus_one():
    tables = aql.load_tables()
    normal_series = {0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 44}
    tightened_series = {0, 1, 2, 3, 5, 8, 12, 18, 27, 41}
    for inspection, series in (("normal", normal_series), ("tightened", tightened_series)):
        for letter, row in tables["plans"][inspection].items():
            assert len(row) == len(tables["aqls"]) == 26
            for cell in row:
                if isinstance(cell, list):
                    assert cell[0] in series and cell[1] == cell[0] + 1, (inspection, letter, cell)
    reduced_pairs = {(0, 1), (0, 2), (1, 3), (1, 4), (2, 5), (3, 6), (5, 8), (7, 10), (10, 13),
                     (14, 17), (21, 24)}
    for letter, row in tables["plans"]["reduced"].items():
        for cell in row:
            if isinstance(cell, list):
                assert tuple(cell) in reduced_pairs, (letter, cell)


def test_table_rows_ascend_along_each_row_and_down_each_column():
    tables = aql.load_tables()
    for inspection, rows in tables["plans"].items():
        grid = list(rows.values())
        for row in grid:
            pairs = [tuple(c) for c in row if isinstance(c, list)]
            assert pairs == sorted(pairs) and len(set(pairs)) == len(pairs), inspection
        for j in range(26):
            acs = [r[j][0] for r in grid if isinstance(r[j], list)]
            assert acs == sorted(acs), (inspection, j)


def test_every_table_1_letter_and_tabulated_aql_resolves_to_a_plan():
    tables = aql.load_tables()
    for inspection in aql.INSPECTIONS:
        for letter in LETTERS:
            for column in range(26):
                aql._resolve(inspection, letter, column, tables)  # raises when broken


def test_sample_sizes_match_the_standard():
    tables = aql.load_tables()
    assert tables["sample_sizes"]["normal"] == NORMAL_N
    assert tables["sample_sizes"]["tightened"] == {**NORMAL_N, "S": 3150}
    assert tables["sample_sizes"]["reduced"] == REDUCED_N


def test_json_file_is_plain_json():
    json.loads(aql.TABLES_PATH.read_text(encoding="utf-8"))


def test_lot_outcome_and_reduced_gap():
    assert aql.lot_outcome(1, 4, 1) == "accepted"
    assert aql.lot_outcome(1, 4, 2) == "accepted_reinstate_normal"
    assert aql.lot_outcome(1, 4, 3) == "accepted_reinstate_normal"
    assert aql.lot_outcome(1, 4, 4) == "rejected"
    with pytest.raises(ValueError):
        aql.lot_outcome(1, 2, -1)


# --- switching rules ---------------------------------------------------------------

ACC2 = {"accepted": True, "accept_number": 2, "accepted_one_step_tighter": True}
ACC2_LOOSE = {"accepted": True, "accept_number": 2, "accepted_one_step_tighter": False}
ACC0 = {"accepted": True, "accept_number": 0}
REJ = {"accepted": False, "accept_number": 2}


def test_two_rejections_within_five_lots_switch_to_tightened():
    s = replay([REJ, ACC2, ACC2, ACC2])
    assert s.inspection == "normal"
    assert replay([REJ, ACC2, ACC2, ACC2, REJ]).inspection == "tightened"
    # 6 lots apart: the window of five no longer holds both
    assert replay([REJ, ACC2, ACC2, ACC2, ACC2, REJ]).inspection == "normal"


def test_five_consecutive_accepted_on_tightened_return_to_normal():
    s = replay([REJ, REJ])
    assert s.inspection == "tightened"
    s = replay([ACC2] * 4, s)
    assert s.inspection == "tightened" and s.tightened_accepted_run == 4
    s = replay([REJ, ACC2, ACC2, ACC2, ACC2], s)
    assert s.inspection == "tightened"
    s = next_state(s, ACC2)
    assert s.inspection == "normal" and s.switching_score == 0


def test_five_lots_not_accepted_on_tightened_discontinue():
    # two rejections switch to tightened; then four more non-accepted lots, not consecutive
    s = replay([REJ, REJ, REJ, ACC2, REJ, ACC2, REJ, REJ])
    assert s.inspection == "tightened" and s.tightened_not_accepted == 4
    s = next_state(s, REJ)
    assert s.inspection == "discontinued"
    with pytest.raises(ValueError, match="discontinued"):
        next_state(s, ACC2)
    s = next_state(s, {**ACC2, "resumed": True})
    assert s.inspection == "tightened" and s.tightened_accepted_run == 1


def test_switching_score_follows_clause_9_3_3():
    assert replay([ACC2] * 3).switching_score == 9
    assert replay([ACC2, ACC2, ACC2_LOOSE]).switching_score == 0  # accepted, but not 1 step tighter
    assert replay([ACC0] * 4).switching_score == 8
    assert replay([ACC2, ACC0]).switching_score == 5
    assert replay([ACC0, {"accepted": False, "accept_number": 1}]).switching_score == 0


def test_normal_to_reduced_needs_score_30_steady_production_and_approval():
    approved = {**ACC2, "reduced_approved": True}
    assert replay([approved] * 9).inspection == "normal"  # score 27
    assert replay([approved] * 10).inspection == "reduced"
    assert replay([ACC2] * 10).inspection == "normal"  # not approved
    s = replay([ACC2] * 9 + [{**approved, "production_steady": False}])
    assert s.inspection == "normal" and s.switching_score == 30
    assert next_state(s, approved).inspection == "reduced"


@pytest.mark.parametrize("lot", [
    {"accepted": False}, {"accepted": True, "reinstate_normal": True},
    {"accepted": True, "production_steady": False}, {"accepted": True, "other_conditions": True}])
def test_reduced_returns_to_normal(lot):
    s = SwitchingState(inspection="reduced")
    assert next_state(s, lot).inspection == "normal"
    assert next_state(s, {"accepted": True}).inspection == "reduced"


def test_resubmitted_lots_are_ignored_and_state_round_trips():
    s = replay([REJ, ACC2])
    assert next_state(s, {**REJ, "resubmitted": True}) == s
    assert SwitchingState.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert next_state(s.to_dict(), REJ).inspection == "tightened"
    with pytest.raises(ValueError):
        next_state(s, {})
    with pytest.raises(ValueError):
        SwitchingState.from_dict({"inspection": "lenient"})


def test_lot_result_from_plan_uses_one_step_tighter_acceptance_number():
    p = plan(500, 2.5)  # H: Ac 3; at AQL 1.5 H has Ac 2
    assert aql.tighter_accept_number(p) == 2
    assert aql.lot_result(p, 2)["accepted_one_step_tighter"] is True
    r = aql.lot_result(p, 3)
    assert r["accepted"] and not r["accepted_one_step_tighter"]
    assert aql.lot_result(p, 4)["accepted"] is False
    reduced = plan(2000, 1.0, inspection="reduced")  # K reduced: n 50, 1/4
    assert aql.lot_result(reduced, 2)["reinstate_normal"] is True

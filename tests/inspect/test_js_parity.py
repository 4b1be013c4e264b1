"""The PWA's ES modules (pwa/lib/aql.js, measure.js, verdict.js) give exactly the answers of
the Python modules, so a phone offline reaches the verdict the server will store.

Runs node on tests/inspect/js_parity_runner.mjs with thousands of cases and compares the
JSON results value for value (floats must be bit-identical; errors must occur on both sides).
"""

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from server.inspect import aql, measure, verdict

NODE = shutil.which("node")
RUNNER = Path(__file__).with_name("js_parity_runner.mjs")


@pytest.fixture(autouse=True)
def _node_installed():
    """Without node these tests skip on a developer's machine, and fail under CI (``CI=true``):
    a parity check that silently does not run is a check that passes whatever the phone does."""
    if NODE is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node is not installed: CI must run the JS/Python parity tests (Debian package nodejs)")
        pytest.skip("node is not installed")


def _py_call(fn, args):
    if fn == "code_letter":
        return aql.code_letter(*args)
    if fn == "plan":
        return aql.plan(*args).to_dict()
    if fn == "plans_for_classes":
        return {k: p.to_dict() for k, p in aql.plans_for_classes(*args).items()}
    if fn == "lot_outcome":
        return aql.lot_outcome(*args)
    if fn == "lot_result":
        p, found = args
        return aql.lot_result(aql.Plan(**p), found)
    if fn == "replay":
        return aql.replay(*args).to_dict()
    if fn == "to_base":
        return measure.to_base(*args)
    if fn == "convert":
        return measure.convert(*args)
    if fn == "in_tolerance":
        return measure.in_tolerance(*args)
    if fn == "spec_stats":
        return measure.spec_stats(*args)
    if fn == "compute_verdict":
        return verdict.compute_verdict(*args)
    raise AssertionError(fn)


def _run_both(cases):
    proc = subprocess.run(
        [NODE, str(RUNNER), str(aql.TABLES_PATH)],
        input=json.dumps({"cases": cases}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    js = json.loads(proc.stdout)
    assert len(js) == len(cases)
    mismatches = []
    for (fn, args), js_result in zip(cases, js, strict=True):
        try:
            py = json.loads(json.dumps(_py_call(fn, args)))
        except ValueError:
            py = "error"
        js_norm = "error" if isinstance(js_result, dict) and "__error__" in js_result else js_result
        if py != js_norm:
            mismatches.append((fn, args, py, js_result))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:3]}"
    return js


def _lot_sizes():
    sizes = set(range(2, 30))
    for row in aql.load_tables()["code_letter_table"]:
        lo, hi = row["min"], row["max"] or 2_000_000
        sizes.update({lo, hi, (lo + hi) // 2, lo + 1})
    return sorted(sizes)


def test_plans_agree_for_every_lot_range_aql_level_and_inspection():
    tables = aql.load_tables()
    aqls = [0] + [float(a) for a in tables["aqls"]] + ["2.5", "0.010", "1000"]
    cases = [
        ["plan", [lot, a, level, inspection]]
        for lot in _lot_sizes()
        for a in aqls
        for level in tables["levels"]
        for inspection in aql.INSPECTIONS
    ]
    js = _run_both(cases)
    assert not any("__error__" in r for r in js)
    assert len(cases) > 20_000


def test_invalid_plan_inputs_fail_in_both():
    bad = [[1, 2.5, "II", "normal"], [0, 2.5, "II", "normal"], [10.5, 2.5, "II", "normal"],
           [500, 3, "II", "normal"], [500, "abc", "II", "normal"], [500, 2.5, "IV", "normal"],
           [500, 2.5, "II", "lenient"], [500, None, "II", "normal"], [-5, 2.5, "II", "normal"]]
    cases = [["plan", args] for args in bad]
    js = _run_both(cases)
    assert all("__error__" in r for r in js)


def test_code_letters_and_class_plans_agree():
    cases = [["code_letter", [lot, level]] for lot in _lot_sizes()
             for level in aql.load_tables()["levels"]]
    cases += [["plans_for_classes", [lot, {"critical": 0, "major": 2.5, "minor": 4.0}, "II", insp]]
              for lot in (2, 50, 500, 10_000, 600_000) for insp in aql.INSPECTIONS]
    cases += [["plans_for_classes", [500, {"major": 1.0, "minor": 7}, "II", "normal"]]]
    _run_both(cases)


def test_lot_outcomes_and_switching_agree():
    rng = random.Random(2859)
    tables = aql.load_tables()
    cases = []
    for _ in range(300):
        p = aql.plan(rng.choice(_lot_sizes()), rng.choice(tables["aqls"][4:15]), "II",
                     rng.choice(aql.INSPECTIONS)).to_dict()
        found = rng.randint(0, p["reject"] + 2)
        cases.append(["lot_outcome", [p["accept"], p["reject"], found]])
        cases.append(["lot_result", [p, found]])
    for _ in range(300):
        lots = []
        for _ in range(rng.randint(1, 60)):
            ac = rng.choice([0, 1, 2, 3, 5, 7])
            lots.append({
                "accepted": rng.random() < 0.85,
                "accept_number": ac,
                "accepted_one_step_tighter": rng.random() < 0.8,
                "reinstate_normal": rng.random() < 0.05,
                "production_steady": rng.random() < 0.95,
                "reduced_approved": rng.random() < 0.7,
                "resubmitted": rng.random() < 0.03,
                "resumed": True,
            })
        cases.append(["replay", [lots]])
    js = _run_both(cases)
    states = {r["inspection"] for r in js if isinstance(r, dict) and "inspection" in r}
    assert states >= {"normal", "tightened", "reduced"}


def test_measure_functions_agree():
    rng = random.Random(17)
    units = ["mm", "cm", "in", "g", "kg", "lb", "ft"]
    cases = []
    for _ in range(500):
        v = rng.choice([rng.uniform(-1e4, 1e4), round(rng.uniform(0, 100), 2), 0.1, 1e-12])
        cases.append(["to_base", [v, rng.choice(units)]])
        cases.append(["convert", [v, rng.choice(units), rng.choice(units)]])
    for _ in range(1500):
        nominal = round(rng.uniform(0, 50), rng.choice([0, 1, 2]))
        tol = round(rng.uniform(0, 2), rng.choice([1, 2]))
        value = rng.choice([nominal + tol, nominal - tol, round(nominal + rng.uniform(-3, 3), 2)])
        tm = rng.choice([None, round(rng.uniform(0, 1), 2)])
        cases.append(["in_tolerance", [value, nominal, tol, tm]])
    for _ in range(300):
        values = [round(rng.gauss(20, 0.3), rng.choice([1, 2, 3])) for _ in range(rng.randint(0, 40))]
        cases.append(["spec_stats", [values, 20.0, 0.4, None]])
    cases.append(["in_tolerance", [1.0, 1.0, -1.0, None]])
    _run_both(cases)


def test_verdicts_agree():
    rng = random.Random(4)
    cases = []
    rules = [None, {"failed_item_class": "minor"}, {"measurement_failure_class": None},
             {"failed_item_weight": 2, "measurement_failure_class": "critical"}, {"bogus": 1}]
    for _ in range(600):
        plans = {k: p.to_dict() for k, p in aql.plans_for_classes(
            rng.choice([20, 150, 500, 3000]), None, "II",
            rng.choice(aql.INSPECTIONS)).items()}
        counts = {k: rng.randint(0, 3) for k in plans if rng.random() < 0.6}
        req = rng.randint(0, 10)
        cases.append(["compute_verdict", [
            plans, counts, rng.randint(0, 3), rng.randint(0, 3), rng.randint(0, req), req,
            rng.choice([0, 5, 50, 200, 400]), rng.choice(rules)]])
    cases.append(["compute_verdict", [{"major": {"sample_size": 8, "accept": 1, "reject": 2}},
                                      {"cosmetic": 1}, 0, 0, 0, 0, 8, None]])
    js = _run_both(cases)
    assert {r["verdict"] for r in js if "verdict" in r} == {"pass", "fail", "pending"}

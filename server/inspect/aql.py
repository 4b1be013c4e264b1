"""Attribute sampling plans and switching rules per ISO 2859-1:1999 (= ANSI/ASQ Z1.4).

Pure functions: plain values in, plain values or small frozen dataclasses out. The tables
live in ``server/inspect/data/aql_iso2859.json``, shared byte for byte with the PWA
(``pwa/lib/aql.js`` fetches it from ``/data/aql_iso2859.json``) so both reach the same plan
offline. The JSON is loaded once by :func:`load_tables` (``functools.cache``).

Table references (ISO 2859-1:1999 numbering; ANSI/ASQ Z1.4 in brackets):

* Table 1 [Table I]: sample size code letters by lot size and inspection level.
* Table 2-A [II-A]: single sampling plans, normal inspection.
* Table 2-B [II-B]: single sampling plans, tightened inspection (has the extra row S, n=3150).
* Table 2-C [II-C]: single sampling plans, reduced inspection. The reduced plans are those of
  ANSI/ASQ Z1.4 Table II-C, with a gap between Ac and Re (e.g. Ac 1, Re 4): when the number
  found is above Ac and below Re, the lot is accepted but normal inspection is reinstated
  (Z1.4 clause 10.1.4 / 8.3.4). See :func:`lot_outcome`.

Arrow rule (notes under Tables 2-A/B/C): an arrow cell means "use the first sampling plan
below (or above) the arrow"; the plan found there is used with *its own* code letter and
sample size. If the sample size equals or exceeds the lot size, the whole lot is inspected
(``sample_size = lot_size``) with the Ac/Re of the plan.

Zero-acceptance convention (not in the standard; our rule for critical defects): an AQL of
``0`` gives Ac 0, Re 1 on the sample size of the lot's own code letter for the inspection
severity (Table 1 letter, no arrows, whole lot if n >= lot size). It is *not* the plan of the
smallest tabulated AQL.

Switching rules (clause 9): :class:`SwitchingState`, :func:`next_state`, :func:`replay`.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

TABLES_PATH = Path(__file__).with_name("data") / "aql_iso2859.json"

INSPECTIONS = ("normal", "tightened", "reduced")
#: Default AQL per defect class (issue 4): critical zero acceptance, major 2.5, minor 4.0.
DEFAULT_CLASS_AQLS: Mapping[str, float] = MappingProxyType(
    {"critical": 0, "major": 2.5, "minor": 4.0}
)

#: Switching score at which normal may switch to reduced (ISO 2859-1:1999, 9.3.3).
REDUCED_SCORE_LIMIT = 30
#: Non-accepted lots on tightened inspection that discontinue inspection (9.4).
DISCONTINUE_LIMIT = 5


@functools.cache
def load_tables() -> dict[str, Any]:
    """Return the parsed tables of ``data/aql_iso2859.json`` (read once per process).

    The returned object is shared: treat it as read-only.
    """
    with TABLES_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@dataclass(frozen=True)
class Plan:
    """One single sampling plan, ready to apply to a lot.

    ``code_letter`` and ``sample_size`` are those of the plan actually used (after arrows);
    ``lot_code_letter`` is the Table 1 letter of the lot. ``sample_size`` is already cut to
    the lot size when ``whole_lot`` is true (100 % inspection). ``accept``/``reject`` are
    Ac/Re; on reduced inspection ``reject`` may exceed ``accept + 1``.
    """

    lot_size: int
    aql: str
    level: str
    inspection: str
    lot_code_letter: str
    code_letter: str
    sample_size: int
    accept: int
    reject: int
    whole_lot: bool

    def to_dict(self) -> dict[str, Any]:
        """The plan as a plain dict (the shape ``pwa/lib/aql.js`` returns)."""
        return asdict(self)


def _aql_label(aql: Any, tables: Mapping[str, Any]) -> str:
    """Map an AQL given as number or string to its table label, or ``"0"``.

    Raises ValueError for anything that is not a tabulated AQL or zero.
    """
    if isinstance(aql, bool) or not isinstance(aql, (int, float, str)):
        raise ValueError(f"AQL must be a number or a numeric string, got {aql!r}")
    try:
        value = float(aql)
    except ValueError:
        raise ValueError(f"AQL must be a number or a numeric string, got {aql!r}") from None
    if value == 0:
        return "0"
    for label in tables["aqls"]:
        if math.isclose(float(label), value, rel_tol=1e-9, abs_tol=0.0):
            return label
    raise ValueError(
        f"unknown AQL {aql!r}: use 0 or one of {', '.join(tables['aqls'])} (ISO 2859-1 Table 2)"
    )


def _check_lot_size(lot_size: Any) -> int:
    if isinstance(lot_size, bool) or not isinstance(lot_size, (int, float)):
        raise ValueError(f"lot size must be an integer, got {lot_size!r}")
    if isinstance(lot_size, float) and not lot_size.is_integer():
        raise ValueError(f"lot size must be an integer, got {lot_size!r}")
    if lot_size < 2:
        raise ValueError(f"lot size must be at least 2, got {lot_size!r}")
    return int(lot_size)


def _check_inspection(inspection: Any) -> str:
    if inspection not in INSPECTIONS:
        raise ValueError(
            f"unknown inspection {inspection!r}: use one of normal, tightened, reduced"
        )
    return inspection


def code_letter(lot_size: int, level: str = "II", *, tables: Mapping[str, Any] | None = None) -> str:
    """Sample size code letter for a lot (ISO 2859-1 Table 1 / Z1.4 Table I).

    ``level`` is one of ``"I"``, ``"II"``, ``"III"`` (general) or ``"S-1"`` .. ``"S-4"``
    (special). Raises ValueError for a lot size below 2 or an unknown level.
    """
    tables = tables if tables is not None else load_tables()
    lot_size = _check_lot_size(lot_size)
    if level not in tables["levels"]:
        raise ValueError(
            f"unknown inspection level {level!r}: use one of {', '.join(tables['levels'])}"
        )
    for row in tables["code_letter_table"]:
        if row["max"] is None or lot_size <= row["max"]:
            return row[level]
    raise AssertionError("code letter table has no open-ended last row")  # pragma: no cover


def _resolve(inspection: str, letter: str, column: int, tables: Mapping[str, Any]) -> tuple[str, int, int]:
    """Follow the arrows of Table 2-A/B/C from (letter, column); return (letter, Ac, Re)."""
    rows = tables["plans"][inspection]
    letters = list(rows)
    i = letters.index(letter)
    step = 0
    while True:
        cell = rows[letters[i]][column]
        if isinstance(cell, list):
            return letters[i], cell[0], cell[1]
        if cell == "down" and step >= 0:
            step = 1
        elif cell == "up" and step <= 0:
            step = -1
        else:  # a blank cell, or arrows pointing at each other: the data file is broken
            raise ValueError(
                f"table {inspection} has no plan for code letter {letters[i]}, "
                f"AQL {tables['aqls'][column]}"
            )
        i += step
        if not 0 <= i < len(letters):
            raise ValueError(
                f"table {inspection}: arrow leaves the table at AQL {tables['aqls'][column]}"
            )


def plan(
    lot_size: int,
    aql: float | str,
    level: str = "II",
    inspection: str = "normal",
    *,
    tables: Mapping[str, Any] | None = None,
) -> Plan:
    """Single sampling plan for one lot (ISO 2859-1 Table 1 then Table 2-A, 2-B or 2-C).

    ``aql`` is a tabulated AQL (0.010 .. 1000, number or string such as ``2.5``/``"2.5"``)
    or ``0`` for zero acceptance (see the module docstring). ``inspection`` is ``"normal"``,
    ``"tightened"`` or ``"reduced"``.

    Examples (normal, level II): lot 500 -> H, n=50; AQL 2.5 -> Ac 3, Re 4.
    Lot 3 -> A, n=2 (AQL 6.5: Ac 0 Re 1); lot 2 with AQL 6.5 -> whole lot, n=2.

    Raises ValueError for a lot size below 2 or not an integer, an unknown AQL, level or
    inspection.
    """
    tables = tables if tables is not None else load_tables()
    lot_size = _check_lot_size(lot_size)
    inspection = _check_inspection(inspection)
    label = _aql_label(aql, tables)
    lot_letter = code_letter(lot_size, level, tables=tables)
    if label == "0":
        letter, accept, reject = lot_letter, 0, 1
    else:
        letter, accept, reject = _resolve(
            inspection, lot_letter, tables["aqls"].index(label), tables
        )
    n = tables["sample_sizes"][inspection][letter]
    whole_lot = n >= lot_size
    return Plan(
        lot_size=lot_size,
        aql=label,
        level=level,
        inspection=inspection,
        lot_code_letter=lot_letter,
        code_letter=letter,
        sample_size=lot_size if whole_lot else n,
        accept=accept,
        reject=reject,
        whole_lot=whole_lot,
    )


def plans_for_classes(
    lot_size: int,
    aqls: Mapping[str, float | str] | None = None,
    level: str = "II",
    inspection: str = "normal",
    *,
    tables: Mapping[str, Any] | None = None,
) -> dict[str, Plan]:
    """One plan per defect class, e.g. ``{"critical": 0, "major": 2.5, "minor": 4.0}``.

    ``aqls`` defaults to :data:`DEFAULT_CLASS_AQLS`; the result keeps its key order.
    Raises ValueError as :func:`plan` does, naming the class.
    """
    aqls = DEFAULT_CLASS_AQLS if aqls is None else aqls
    if not aqls:
        raise ValueError("at least one defect class with an AQL is required")
    out: dict[str, Plan] = {}
    for name, value in aqls.items():
        try:
            out[name] = plan(lot_size, value, level, inspection, tables=tables)
        except ValueError as exc:
            raise ValueError(f"defect class {name!r}: {exc}") from None
    return out


def lot_outcome(accept: int, reject: int, found: int) -> str:
    """Decision for one class of one lot (ISO 2859-1 clause 10.1; Z1.4 10.1.4 for the gap).

    Returns ``"accepted"`` when ``found <= accept``, ``"rejected"`` when ``found >= reject``
    and ``"accepted_reinstate_normal"`` in between (only possible with the reduced plans'
    Ac/Re gap: the lot is accepted but normal inspection is reinstated for the next lot).
    Raises ValueError for a negative or non-integer ``found``.
    """
    if isinstance(found, bool) or not isinstance(found, int) or found < 0:
        raise ValueError(f"number found must be a non-negative integer, got {found!r}")
    if found <= accept:
        return "accepted"
    if found >= reject:
        return "rejected"
    return "accepted_reinstate_normal"


def tighter_accept_number(p: Plan, *, tables: Mapping[str, Any] | None = None) -> int | None:
    """Ac of the normal plan one AQL step tighter, same code letter as ``p`` (clause 9.3.3).

    Used by the switching score: on a plan with Ac >= 2 the lot earns 3 points only if it
    would have been accepted with the AQL one step tighter. Returns None when there is no
    tighter tabulated AQL or that cell is an arrow (then the plan has Ac <= 1 and the rule
    does not apply), or for zero-acceptance plans.
    """
    tables = tables if tables is not None else load_tables()
    if p.aql == "0":
        return None
    column = tables["aqls"].index(p.aql) - 1
    if column < 0:
        return None
    cell = tables["plans"]["normal"][p.code_letter][column]
    return cell[0] if isinstance(cell, list) else None


def lot_result(
    p: Plan,
    found: int,
    *,
    production_steady: bool = True,
    reduced_approved: bool = False,
    tables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the ``lot_result`` dict :func:`next_state` takes, for one plan and count found.

    Raises ValueError as :func:`lot_outcome` does.
    """
    outcome = lot_outcome(p.accept, p.reject, found)
    tighter = tighter_accept_number(p, tables=tables)
    return {
        "accepted": outcome != "rejected",
        "reinstate_normal": outcome == "accepted_reinstate_normal",
        "accept_number": p.accept,
        "accepted_one_step_tighter": tighter is not None and found <= tighter,
        "production_steady": production_steady,
        "reduced_approved": reduced_approved,
    }


# --- switching rules, ISO 2859-1:1999 clause 9 ------------------------------------------


@dataclass(frozen=True)
class SwitchingState:
    """Switching state of one product stream (same product, same factory).

    ``inspection``: ``"normal"``, ``"tightened"``, ``"reduced"`` or ``"discontinued"``.
    ``switching_score``: clause 9.3.3 score, only kept on normal inspection.
    ``normal_recent``: acceptance of the last (up to 4) lots on normal inspection, oldest
    first, for the "2 out of 5 or fewer consecutive lots" rule (9.3.1).
    ``tightened_accepted_run``: consecutive accepted lots on tightened (9.3.2).
    ``tightened_not_accepted``: cumulative non-accepted lots on tightened (9.4).
    ``lots``: original-inspection lots seen.
    """

    inspection: str = "normal"
    switching_score: int = 0
    normal_recent: tuple[bool, ...] = field(default_factory=tuple)
    tightened_accepted_run: int = 0
    tightened_not_accepted: int = 0
    lots: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``normal_recent`` as a list)."""
        d = asdict(self)
        d["normal_recent"] = list(self.normal_recent)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SwitchingState":
        """Inverse of :meth:`to_dict`. Raises ValueError for an unknown inspection."""
        state = cls(
            inspection=data.get("inspection", "normal"),
            switching_score=int(data.get("switching_score", 0)),
            normal_recent=tuple(bool(x) for x in data.get("normal_recent", ())),
            tightened_accepted_run=int(data.get("tightened_accepted_run", 0)),
            tightened_not_accepted=int(data.get("tightened_not_accepted", 0)),
            lots=int(data.get("lots", 0)),
        )
        if state.inspection not in INSPECTIONS + ("discontinued",):
            raise ValueError(f"unknown inspection state {state.inspection!r}")
        return state


def _start(inspection: str, lots: int) -> SwitchingState:
    # Every switch starts the new severity with fresh counters; the switching score is set
    # to zero at the start of normal inspection (9.3.3).
    return SwitchingState(inspection=inspection, lots=lots)


def _score(score: int, result: Mapping[str, Any]) -> int:
    """Clause 9.3.3 a) single sampling plans, as worded in ISO 2859-1:1999."""
    if "accept_number" not in result:
        raise ValueError("lot_result needs accept_number on normal inspection")
    ac = result["accept_number"]
    if ac >= 2:
        # 1) Ac >= 2: add 3 if the lot would have been accepted had the AQL been one step
        #    tighter; otherwise reset to zero.
        return score + 3 if result.get("accepted_one_step_tighter", False) else 0
    # 2) Ac 0 or 1: add 2 if the lot is accepted; otherwise reset to zero.
    return score + 2 if result["accepted"] else 0


def next_state(state: SwitchingState | Mapping[str, Any] | None, lot_result: Mapping[str, Any]) -> SwitchingState:
    """Switching state after one lot on original inspection (ISO 2859-1:1999 clause 9).

    ``lot_result`` keys (see also :func:`lot_result`):

    * ``accepted`` (bool, required): lot accepted on original inspection.
    * ``accept_number`` (int): Ac of the plan used; required on normal inspection.
    * ``accepted_one_step_tighter`` (bool): would the lot have been accepted with the AQL
      one step tighter; used on normal when Ac >= 2. Default false.
    * ``reinstate_normal`` (bool): reduced plan found between Ac and Re. Default false.
    * ``production_steady`` (bool): production at a steady rate. Default true.
    * ``reduced_approved`` (bool): the responsible authority considers reduced inspection
      desirable. Default false.
    * ``other_conditions`` (bool): other conditions warrant normal inspection (9.3.4 d).
    * ``resubmitted`` (bool): a resubmitted lot; ignored by the switching rules.
    * ``resumed`` (bool): on ``"discontinued"``, the responsible authority accepts the
      supplier's corrective action; inspection resumes on tightened with this lot (9.4).

    Rules: normal -> tightened when 2 of 5 or fewer consecutive lots are not accepted
    (9.3.1); tightened -> normal after 5 consecutive accepted lots (9.3.2); normal ->
    reduced when the switching score is >= 30, production is steady and the authority
    approves (9.3.3); reduced -> normal when a lot is not accepted, production is irregular
    or delayed, other conditions warrant it, or (Z1.4 gap) the lot was accepted between Ac
    and Re (9.3.4); discontinue when the cumulative number of non-accepted lots on
    tightened reaches 5 (9.4).

    Raises ValueError for a missing ``accepted`` flag, or a lot on a discontinued stream
    without ``resumed``.
    """
    if state is None:
        state = SwitchingState()
    elif not isinstance(state, SwitchingState):
        state = SwitchingState.from_dict(state)
    if "accepted" not in lot_result:
        raise ValueError("lot_result needs an 'accepted' flag")
    if lot_result.get("resubmitted", False):
        return state
    accepted = bool(lot_result["accepted"])
    lots = state.lots + 1

    if state.inspection == "discontinued":
        if not lot_result.get("resumed", False):
            raise ValueError(
                "inspection is discontinued (ISO 2859-1 9.4): resume needs 'resumed': true"
            )
        state = _start("tightened", state.lots)

    if state.inspection == "normal":
        recent = (state.normal_recent + (accepted,))[-5:]
        if recent.count(False) >= 2:
            return _start("tightened", lots)
        score = _score(state.switching_score, lot_result)
        if (
            score >= REDUCED_SCORE_LIMIT
            and lot_result.get("production_steady", True)
            and lot_result.get("reduced_approved", False)
        ):
            return _start("reduced", lots)
        return SwitchingState("normal", score, recent[-4:], 0, 0, lots)

    if state.inspection == "tightened":
        if accepted:
            run = state.tightened_accepted_run + 1
            if run >= 5:
                return _start("normal", lots)
            return SwitchingState("tightened", 0, (), run, state.tightened_not_accepted, lots)
        rejected = state.tightened_not_accepted + 1
        if rejected >= DISCONTINUE_LIMIT:
            return _start("discontinued", lots)
        return SwitchingState("tightened", 0, (), 0, rejected, lots)

    # reduced
    if (
        not accepted
        or lot_result.get("reinstate_normal", False)
        or not lot_result.get("production_steady", True)
        or lot_result.get("other_conditions", False)
    ):
        return _start("normal", lots)
    return SwitchingState("reduced", 0, (), 0, 0, lots)


def replay(lot_results: Iterable[Mapping[str, Any]], initial: SwitchingState | Mapping[str, Any] | None = None) -> SwitchingState:
    """Fold :func:`next_state` over lots in production order, from ``initial`` (normal).

    Raises ValueError as :func:`next_state` does.
    """
    state = SwitchingState() if initial is None else initial
    if not isinstance(state, SwitchingState):
        state = SwitchingState.from_dict(state)
    for result in lot_results:
        state = next_state(state, result)
    return state

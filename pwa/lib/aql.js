// Attribute sampling plans and switching rules per ISO 2859-1:1999 (= ANSI/ASQ Z1.4).
//
// Mirror of server/inspect/aql.py: same inputs, same answers (tests/inspect/test_js_parity.py
// checks it). Plain ES module, no dependencies; works in the browser and in node.
// The tables are the parsed JSON of /data/aql_iso2859.json, passed as the first argument
// of every function that needs them:
//
//   const tables = checkTables(await (await fetch('/data/aql_iso2859.json')).json());
//   plan(tables, 500, 2.5)  // {code_letter: 'H', sample_size: 50, accept: 3, reject: 4, ...}
//
// Result objects use the same snake_case keys as the Python dataclasses' to_dict(), so the
// server and the PWA exchange them unchanged. Errors are thrown as RangeError with the
// same meaning as Python's ValueError.

export const INSPECTIONS = Object.freeze(['normal', 'tightened', 'reduced']);
/** Default AQL per defect class (issue 4). */
export const DEFAULT_CLASS_AQLS = Object.freeze({ critical: 0, major: 2.5, minor: 4.0 });
/** Switching score at which normal may switch to reduced (ISO 2859-1:1999, 9.3.3). */
export const REDUCED_SCORE_LIMIT = 30;
/** Non-accepted lots on tightened inspection that discontinue inspection (9.4). */
export const DISCONTINUE_LIMIT = 5;

/**
 * Check that a parsed JSON object has the shape of aql_iso2859.json and return it.
 * @throws {TypeError} when a top-level part is missing.
 */
export function checkTables(tables) {
  for (const key of ['levels', 'aqls', 'code_letter_table', 'sample_sizes', 'plans']) {
    if (!tables || typeof tables !== 'object' || !(key in tables)) {
      throw new TypeError(`AQL tables: missing "${key}"`);
    }
  }
  return tables;
}

/** Fetch and check the tables (browser; or pass a fetch implementation). */
export async function fetchTables(url = '/data/aql_iso2859.json', fetchImpl = globalThis.fetch) {
  const response = await fetchImpl(url);
  if (!response.ok) throw new Error(`AQL tables: HTTP ${response.status}`);
  return checkTables(await response.json());
}

function relClose(a, b) {
  // math.isclose(a, b, rel_tol=1e-9, abs_tol=0)
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

function aqlLabel(aql, tables) {
  let value;
  if (typeof aql === 'number') value = aql;
  else if (typeof aql === 'string' && aql.trim() !== '' && !Number.isNaN(Number(aql.trim()))) {
    value = Number(aql.trim());
  } else {
    throw new RangeError(`AQL must be a number or a numeric string, got ${JSON.stringify(aql)}`);
  }
  if (value === 0) return '0';
  for (const label of tables.aqls) {
    if (relClose(Number(label), value)) return label;
  }
  throw new RangeError(
    `unknown AQL ${JSON.stringify(aql)}: use 0 or one of ${tables.aqls.join(', ')} (ISO 2859-1 Table 2)`,
  );
}

function checkLotSize(lotSize) {
  if (typeof lotSize !== 'number' || !Number.isInteger(lotSize)) {
    throw new RangeError(`lot size must be an integer, got ${JSON.stringify(lotSize)}`);
  }
  if (lotSize < 2) throw new RangeError(`lot size must be at least 2, got ${lotSize}`);
  return lotSize;
}

function checkInspection(inspection) {
  if (!INSPECTIONS.includes(inspection)) {
    throw new RangeError(
      `unknown inspection ${JSON.stringify(inspection)}: use one of normal, tightened, reduced`,
    );
  }
  return inspection;
}

/**
 * Sample size code letter (ISO 2859-1 Table 1 / Z1.4 Table I).
 * @param {object} tables parsed aql_iso2859.json
 * @param {number} lotSize integer >= 2
 * @param {string} level 'I' | 'II' | 'III' | 'S-1' .. 'S-4'
 * @throws {RangeError} lot size below 2, unknown level
 */
export function codeLetter(tables, lotSize, level = 'II') {
  checkLotSize(lotSize);
  if (!tables.levels.includes(level)) {
    throw new RangeError(
      `unknown inspection level ${JSON.stringify(level)}: use one of ${tables.levels.join(', ')}`,
    );
  }
  for (const row of tables.code_letter_table) {
    if (row.max === null || lotSize <= row.max) return row[level];
  }
  throw new Error('code letter table has no open-ended last row');
}

function resolve(inspection, letter, column, tables) {
  const rows = tables.plans[inspection];
  const letters = Object.keys(rows);
  let i = letters.indexOf(letter);
  let step = 0;
  for (;;) {
    const cell = rows[letters[i]][column];
    if (Array.isArray(cell)) return [letters[i], cell[0], cell[1]];
    if (cell === 'down' && step >= 0) step = 1;
    else if (cell === 'up' && step <= 0) step = -1;
    else {
      throw new RangeError(
        `table ${inspection} has no plan for code letter ${letters[i]}, AQL ${tables.aqls[column]}`,
      );
    }
    i += step;
    if (i < 0 || i >= letters.length) {
      throw new RangeError(`table ${inspection}: arrow leaves the table at AQL ${tables.aqls[column]}`);
    }
  }
}

/**
 * Single sampling plan for one lot (ISO 2859-1 Table 1, then Table 2-A/2-B/2-C with the
 * arrow rule; whole lot when n >= lot size; AQL 0 = Ac 0 / Re 1 on the lot's own code letter).
 * @returns {{lot_size:number, aql:string, level:string, inspection:string,
 *   lot_code_letter:string, code_letter:string, sample_size:number, accept:number,
 *   reject:number, whole_lot:boolean}}
 * @throws {RangeError} bad lot size, unknown AQL, level or inspection
 */
export function plan(tables, lotSize, aql, level = 'II', inspection = 'normal') {
  checkLotSize(lotSize);
  checkInspection(inspection);
  const label = aqlLabel(aql, tables);
  const lotLetter = codeLetter(tables, lotSize, level);
  let letter;
  let accept;
  let reject;
  if (label === '0') {
    [letter, accept, reject] = [lotLetter, 0, 1];
  } else {
    [letter, accept, reject] = resolve(inspection, lotLetter, tables.aqls.indexOf(label), tables);
  }
  const n = tables.sample_sizes[inspection][letter];
  const wholeLot = n >= lotSize;
  return {
    lot_size: lotSize,
    aql: label,
    level,
    inspection,
    lot_code_letter: lotLetter,
    code_letter: letter,
    sample_size: wholeLot ? lotSize : n,
    accept,
    reject,
    whole_lot: wholeLot,
  };
}

/**
 * One plan per defect class; keeps the key order of `aqls` (default DEFAULT_CLASS_AQLS).
 * @throws {RangeError} as plan(), naming the class
 */
export function plansForClasses(tables, lotSize, aqls = DEFAULT_CLASS_AQLS, level = 'II', inspection = 'normal') {
  const entries = Object.entries(aqls ?? DEFAULT_CLASS_AQLS);
  if (entries.length === 0) throw new RangeError('at least one defect class with an AQL is required');
  const out = {};
  for (const [name, value] of entries) {
    try {
      out[name] = plan(tables, lotSize, value, level, inspection);
    } catch (err) {
      if (err instanceof RangeError) throw new RangeError(`defect class ${JSON.stringify(name)}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

/**
 * 'accepted' | 'rejected' | 'accepted_reinstate_normal' (reduced Ac/Re gap).
 * @throws {RangeError} found not a non-negative integer
 */
export function lotOutcome(accept, reject, found) {
  if (typeof found !== 'number' || !Number.isInteger(found) || found < 0) {
    throw new RangeError(`number found must be a non-negative integer, got ${JSON.stringify(found)}`);
  }
  if (found <= accept) return 'accepted';
  if (found >= reject) return 'rejected';
  return 'accepted_reinstate_normal';
}

/** Ac of the normal plan one AQL step tighter at the plan's code letter, or null (9.3.3). */
export function tighterAcceptNumber(tables, p) {
  if (p.aql === '0') return null;
  const column = tables.aqls.indexOf(p.aql) - 1;
  if (column < 0) return null;
  const cell = tables.plans.normal[p.code_letter][column];
  return Array.isArray(cell) ? cell[0] : null;
}

/** The lot_result object nextState() takes, for one plan and the number found. */
export function lotResult(tables, p, found, { productionSteady = true, reducedApproved = false } = {}) {
  const outcome = lotOutcome(p.accept, p.reject, found);
  const tighter = tighterAcceptNumber(tables, p);
  return {
    accepted: outcome !== 'rejected',
    reinstate_normal: outcome === 'accepted_reinstate_normal',
    accept_number: p.accept,
    accepted_one_step_tighter: tighter !== null && found <= tighter,
    production_steady: productionSteady,
    reduced_approved: reducedApproved,
  };
}

// --- switching rules, ISO 2859-1:1999 clause 9 (see aql.py next_state for the rules) ---

/** A fresh switching state: normal inspection, score 0. Same keys as SwitchingState.to_dict(). */
export function initialState() {
  return start('normal', 0);
}

function start(inspection, lots) {
  return {
    inspection,
    switching_score: 0,
    normal_recent: [],
    tightened_accepted_run: 0,
    tightened_not_accepted: 0,
    lots,
  };
}

function stateFrom(data) {
  const s = {
    inspection: data?.inspection ?? 'normal',
    switching_score: data?.switching_score ?? 0,
    normal_recent: (data?.normal_recent ?? []).map(Boolean),
    tightened_accepted_run: data?.tightened_accepted_run ?? 0,
    tightened_not_accepted: data?.tightened_not_accepted ?? 0,
    lots: data?.lots ?? 0,
  };
  if (![...INSPECTIONS, 'discontinued'].includes(s.inspection)) {
    throw new RangeError(`unknown inspection state ${JSON.stringify(s.inspection)}`);
  }
  return s;
}

function flag(result, key, fallback) {
  return key in result ? Boolean(result[key]) : fallback;
}

function score(current, result) {
  if (!('accept_number' in result)) throw new RangeError('lot_result needs accept_number on normal inspection');
  if (result.accept_number >= 2) return flag(result, 'accepted_one_step_tighter', false) ? current + 3 : 0;
  return result.accepted ? current + 2 : 0;
}

/**
 * Switching state after one lot on original inspection (ISO 2859-1:1999 clause 9).
 * Same lot_result keys and rules as server/inspect/aql.py next_state().
 * @throws {RangeError} missing 'accepted', or a lot on a discontinued stream without 'resumed'
 */
export function nextState(state, lotResult_) {
  let s = stateFrom(state);
  if (!('accepted' in lotResult_)) throw new RangeError("lot_result needs an 'accepted' flag");
  if (flag(lotResult_, 'resubmitted', false)) return s;
  const accepted = Boolean(lotResult_.accepted);
  const lots = s.lots + 1;

  if (s.inspection === 'discontinued') {
    if (!flag(lotResult_, 'resumed', false)) {
      throw new RangeError("inspection is discontinued (ISO 2859-1 9.4): resume needs 'resumed': true");
    }
    s = start('tightened', s.lots);
  }

  if (s.inspection === 'normal') {
    const recent = [...s.normal_recent, accepted].slice(-5);
    if (recent.filter((a) => !a).length >= 2) return start('tightened', lots);
    const sc = score(s.switching_score, lotResult_);
    if (sc >= REDUCED_SCORE_LIMIT && flag(lotResult_, 'production_steady', true)
        && flag(lotResult_, 'reduced_approved', false)) {
      return start('reduced', lots);
    }
    return { ...start('normal', lots), switching_score: sc, normal_recent: recent.slice(-4) };
  }

  if (s.inspection === 'tightened') {
    if (accepted) {
      const run = s.tightened_accepted_run + 1;
      if (run >= 5) return start('normal', lots);
      return { ...start('tightened', lots), tightened_accepted_run: run, tightened_not_accepted: s.tightened_not_accepted };
    }
    const rejected = s.tightened_not_accepted + 1;
    if (rejected >= DISCONTINUE_LIMIT) return start('discontinued', lots);
    return { ...start('tightened', lots), tightened_not_accepted: rejected };
  }

  if (!accepted || flag(lotResult_, 'reinstate_normal', false)
      || !flag(lotResult_, 'production_steady', true) || flag(lotResult_, 'other_conditions', false)) {
    return start('normal', lots);
  }
  return start('reduced', lots);
}

/** Fold nextState() over lots in production order, from `initial` (normal by default). */
export function replay(lotResults, initial = null) {
  let s = stateFrom(initial);
  for (const r of lotResults) s = nextState(s, r);
  return s;
}

// Runs the PWA's pure modules on cases read from stdin (JSON) and prints the results.
// Used by test_js_parity.py. argv[2] is the path of aql_iso2859.json.
// Input: {"cases": [[fn, args], ...]}; output: [result | {"__error__": message}, ...].
import { readFileSync } from 'node:fs';
import * as aql from '../../pwa/lib/aql.js';
import * as measure from '../../pwa/lib/measure.js';
import * as verdict from '../../pwa/lib/verdict.js';

const tables = aql.checkTables(JSON.parse(readFileSync(process.argv[2], 'utf8')));

const fns = {
  code_letter: (lot, level) => aql.codeLetter(tables, lot, level),
  plan: (lot, a, level, inspection) => aql.plan(tables, lot, a, level, inspection),
  plans_for_classes: (lot, aqls, level, inspection) => aql.plansForClasses(tables, lot, aqls, level, inspection),
  lot_outcome: (ac, re, found) => aql.lotOutcome(ac, re, found),
  lot_result: (p, found) => aql.lotResult(tables, p, found),
  replay: (results) => aql.replay(results),
  to_base: (v, u) => measure.toBase(v, u),
  convert: (v, f, t) => measure.convert(v, f, t),
  in_tolerance: (v, n, t, tm) => measure.inTolerance(v, n, t, tm),
  spec_stats: (vs, n, t, tm) => measure.specStats(vs, n, t, tm),
  compute_verdict: (...args) => verdict.computeVerdict(...args),
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { cases } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const out = cases.map(([fn, args]) => {
  try {
    return fns[fn](...args);
  } catch (err) {
    if (err instanceof RangeError) return { __error__: err.message };
    throw err;
  }
});
process.stdout.write(JSON.stringify(out));

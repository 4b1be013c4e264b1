// Lot verdict from sampling plans and what the inspector found.
//
// Mirror of server/inspect/verdict.py compute_verdict (same arguments in the same order,
// same result object, same reason strings). See that docstring for the full contract.
//
//   computeVerdict(plans, defectCounts, failedItems, measurementFailures,
//                  answeredItems, requiredItems, unitsInspected, rule)
//   -> {verdict: 'pass'|'fail'|'pending', reasons: string[], normal_reinstated: boolean,
//       classes: {cls: {found, sample_size, accept, reject, status}}}
//
// Defaults: each failed checklist item = 1 major defect; each unit out of tolerance = 1 major
// defect (DEFAULT_RULE). Errors are thrown as RangeError (Python: ValueError).

export const DEFAULT_RULE = Object.freeze({
  failed_item_class: 'major',
  failed_item_weight: 1,
  measurement_failure_class: 'major',
  measurement_failure_weight: 1,
});

function count(value, name) {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function planFields(name, p) {
  if (!p || typeof p !== 'object') throw new RangeError(`plan for ${JSON.stringify(name)} must be a Plan or a mapping`);
  for (const key of ['sample_size', 'accept', 'reject']) {
    if (!(key in p)) throw new RangeError(`plan for ${JSON.stringify(name)} lacks ${JSON.stringify(key)}`);
  }
  const n = count(p.sample_size, `${name} sample_size`);
  const ac = count(p.accept, `${name} accept`);
  const re = count(p.reject, `${name} reject`);
  if (re <= ac) throw new RangeError(`plan for ${JSON.stringify(name)}: reject (${re}) must exceed accept (${ac})`);
  return [n, ac, re];
}

function mergeRule(rule) {
  const merged = { ...DEFAULT_RULE };
  if (rule) {
    const unknown = Object.keys(rule).filter((k) => !Object.hasOwn(DEFAULT_RULE, k)).sort();
    if (unknown.length) throw new RangeError(`unknown rule keys: ${unknown.join(', ')}`);
    Object.assign(merged, rule);
  }
  for (const key of ['failed_item_weight', 'measurement_failure_weight']) count(merged[key], key);
  return merged;
}

/**
 * Overall verdict of one inspection (ISO 2859-1 clause 10.1; Z1.4 10.1.4 for the reduced gap).
 * @param {Object<string, {sample_size:number, accept:number, reject:number}>} plans class -> plan
 * @param {Object<string, number>} [defectCounts] class -> defects logged directly
 * @param {number} [failedItems] failed checklist items
 * @param {number} [measurementFailures] units out of tolerance
 * @param {number} [answeredItems] required items answered
 * @param {number} [requiredItems] required items in the checklist
 * @param {number} [unitsInspected] sample units inspected so far
 * @param {object} [rule] overrides of DEFAULT_RULE
 * @throws {RangeError} bad counts, unknown class, bad plan, unknown rule keys
 */
export function computeVerdict(plans, defectCounts = null, failedItems = 0, measurementFailures = 0,
  answeredItems = 0, requiredItems = 0, unitsInspected = 0, rule = null) {
  if (!plans || Object.keys(plans).length === 0) throw new RangeError('at least one plan is required');
  const merged = mergeRule(rule);
  count(failedItems, 'failed_items');
  count(measurementFailures, 'measurement_failures');
  count(answeredItems, 'answered_items');
  count(requiredItems, 'required_items');
  count(unitsInspected, 'units_inspected');

  const found = {};
  const fields = {};
  for (const [name, p] of Object.entries(plans)) {
    fields[name] = planFields(name, p);
    found[name] = 0;
  }
  for (const [name, c] of Object.entries(defectCounts ?? {})) {
    if (!Object.hasOwn(found, name)) throw new RangeError(`defect class ${JSON.stringify(name)} has no plan`);
    found[name] += count(c, `defect count for ${JSON.stringify(name)}`);
  }
  for (const [clsKey, weightKey, c] of [
    ['failed_item_class', 'failed_item_weight', failedItems],
    ['measurement_failure_class', 'measurement_failure_weight', measurementFailures],
  ]) {
    const cls = merged[clsKey];
    if (cls === null || cls === undefined || c === 0) continue;
    if (!Object.hasOwn(found, cls)) throw new RangeError(`rule ${clsKey} names class ${JSON.stringify(cls)}, which has no plan`);
    found[cls] += c * merged[weightKey];
  }

  const classes = {};
  const rejected = [];
  const pending = [];
  const gap = [];
  for (const [name, [n, ac, re]] of Object.entries(fields)) {
    const f = found[name];
    let status;
    if (f >= re) {
      status = 'rejected';
      rejected.push(`${name}: ${f} found, rejected at ${re} (Ac ${ac}, Re ${re}, n ${n})`);
    } else if (unitsInspected < n) {
      status = 'pending';
      pending.push(`${name}: ${unitsInspected} of ${n} sample units inspected`);
    } else if (f > ac) {
      status = 'accepted_reinstate_normal';
      gap.push(`${name}: ${f} found, between Ac ${ac} and Re ${re}: lot accepted, normal inspection reinstated`);
    } else {
      status = 'accepted';
    }
    classes[name] = { found: f, sample_size: n, accept: ac, reject: re, status };
  }
  if (requiredItems > answeredItems) {
    pending.push(`${requiredItems - answeredItems} of ${requiredItems} required items unanswered`);
  }

  let verdict;
  let reasons;
  if (rejected.length) [verdict, reasons] = ['fail', rejected];
  else if (pending.length) [verdict, reasons] = ['pending', pending];
  else [verdict, reasons] = ['pass', gap];
  return { verdict, reasons, normal_reinstated: verdict === 'pass' && gap.length > 0, classes };
}

// Measurement units, tolerance checks and per-spec statistics.
//
// Mirror of server/inspect/measure.py (tests/inspect/test_js_parity.py checks they agree
// exactly). Base units: millimetres (mm) for lengths, grams (g) for masses.
// mm 1, cm 10, in 25.4; g 1, kg 1000, lb 453.59237 (international definitions, 1959).
// Errors are thrown as RangeError (Python: ValueError).

/** unit -> [quantity, factor to the base unit] */
export const UNITS = Object.freeze({
  mm: Object.freeze(['length', 1]),
  cm: Object.freeze(['length', 10]),
  in: Object.freeze(['length', 25.4]),
  g: Object.freeze(['mass', 1]),
  kg: Object.freeze(['mass', 1000]),
  lb: Object.freeze(['mass', 453.59237]),
});
export const BASE_UNITS = Object.freeze({ length: 'mm', mass: 'g' });
/** Relative slack on tolerance limits (see measure.py). */
export const TOLERANCE_EPS = 1e-9;

function finite(value, name) {
  if (typeof value !== 'number') throw new RangeError(`${name} must be a number, got ${JSON.stringify(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be finite, got ${value}`);
  return value;
}

/** [quantity, factor] for a unit. @throws {RangeError} unknown unit */
export function unitInfo(unit) {
  if (typeof unit !== 'string' || !Object.hasOwn(UNITS, unit)) {
    throw new RangeError(`unknown unit ${JSON.stringify(unit)}: use one of ${Object.keys(UNITS).join(', ')}`);
  }
  return UNITS[unit];
}

/** Value in the base unit of its quantity (mm or g). @throws {RangeError} */
export function toBase(value, unit) {
  const [, factor] = unitInfo(unit);
  return finite(value, 'value') * factor;
}

/** Convert between two units of the same quantity. @throws {RangeError} */
export function convert(value, fromUnit, toUnit) {
  const [qFrom, fFrom] = unitInfo(fromUnit);
  const [qTo, fTo] = unitInfo(toUnit);
  if (qFrom !== qTo) throw new RangeError(`cannot convert ${qFrom} (${fromUnit}) to ${qTo} (${toUnit})`);
  if (fromUnit === toUnit) return finite(value, 'value');
  return (finite(value, 'value') * fFrom) / fTo;
}

/** Length in millimetres. @throws {RangeError} */
export function toMm(value, unit) {
  return convert(value, unit, 'mm');
}

/** Mass in grams. @throws {RangeError} */
export function toG(value, unit) {
  return convert(value, unit, 'g');
}

/**
 * nominal - tolMinus <= value <= nominal + tol, limits inclusive with a tiny relative slack.
 * @throws {RangeError} non-finite values or a negative tolerance
 */
export function inTolerance(valueMm, nominalMm, tolMm, tolMinusMm = null) {
  const value = finite(valueMm, 'value');
  const nominal = finite(nominalMm, 'nominal');
  const plus = finite(tolMm, 'tolerance');
  const minus = tolMinusMm === null || tolMinusMm === undefined ? plus : finite(tolMinusMm, 'lower tolerance');
  if (plus < 0 || minus < 0) throw new RangeError('tolerances must not be negative');
  const eps = TOLERANCE_EPS * Math.max(1, Math.abs(value), Math.abs(nominal), plus, minus);
  return nominal - minus - eps <= value && value <= nominal + plus + eps;
}

/**
 * {count, mean, min, max, stdev (sample, n-1), out_of_tolerance}; null where undefined.
 * @throws {RangeError} non-finite values
 */
export function specStats(valuesMm, nominalMm, tolMm, tolMinusMm = null) {
  const values = Array.from(valuesMm, (v) => finite(v, 'value'));
  let out = 0;
  for (const v of values) if (!inTolerance(v, nominalMm, tolMm, tolMinusMm)) out += 1;
  inTolerance(finite(nominalMm, 'nominal'), nominalMm, tolMm, tolMinusMm);
  const n = values.length;
  if (n === 0) return { count: 0, mean: null, min: null, max: null, stdev: null, out_of_tolerance: 0 };
  let total = 0;
  for (const v of values) total += v;
  const mean = total / n;
  let stdev = null;
  if (n >= 2) {
    let ss = 0;
    for (const v of values) ss += (v - mean) * (v - mean);
    stdev = Math.sqrt(ss / (n - 1));
  }
  let min = values[0];
  let max = values[0];
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { count: n, mean, min, max, stdev, out_of_tolerance: out };
}

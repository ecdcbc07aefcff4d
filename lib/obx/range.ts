// SPDX-License-Identifier: Apache-2.0
/**
 * Reference ranges as they arrive in OBX-7, and numbers as they arrive in OBX-5.
 *
 * Why this is more than `split('-')`:
 * - The MG writes `low~high`, and `~` is HL7's repetition separator, so a parser hands us two
 *   repetitions; they are read as low and high (SPEC 2.3), and OBX-7 itself is never rewritten.
 * - Sites and devices also send `11.2-17.2`, ` 0.5 - 1.2 `, `<5`, `<=0.5`, `>5`, `>=10`, `0.5-`
 *   (low only), `-1.0` (upper only, per SPEC), negative bounds `-2.0-2.0` and unit suffixes.
 * - Decimal commas (`0,4-4,0`) are numbers only where the site says so; otherwise they are reported
 *   as such instead of being misread.
 * - Anything else is "not understood": a wrong guess would produce a false N.
 */

/** Why a range could not be used. */
export type RangeProblem = 'no-range' | 'bad-range' | 'decimal-comma';

/** A reference range: normal when low <= value <= high (strict where the range said `<`/`>`). */
export interface ParsedRange {
  low?: number;
  high?: number;
  /** true for `>5`: the value must be strictly above `low`. */
  lowExclusive?: boolean;
  /** true for `<5`: the value must be strictly below `high`. */
  highExclusive?: boolean;
}

export type RangeParseResult =
  | { ok: true; range: ParsedRange }
  | { ok: false; reason: RangeProblem };

export interface NumberOptions {
  /** Accept `,` as the decimal separator (site setting; `.` is always accepted too). */
  decimalComma?: boolean;
}

const UNSIGNED_DOT = String.raw`(?:\d+(?:\.\d*)?|\.\d+)`;
const UNSIGNED_ANY = String.raw`(?:\d+(?:[.,]\d*)?|[.,]\d+)`;
const DASH = String.raw`[-\u2013\u2014]`;   // hyphen, en dash, em dash

interface RangePatterns { comparator: RegExp; between: RegExp; lowOnly: RegExp; highOnly: RegExp; number: RegExp;
  valueComparator: RegExp }

function patterns(unsigned: string): RangePatterns {
  const num = `[+-]?${unsigned}`;
  return {
    comparator: new RegExp(`^(<=|>=|=<|=>|<|>|\u2264|\u2265)\\s*(${num})$`),
    between: new RegExp(`^(${num})\\s*${DASH}\\s*(${num})$`),
    lowOnly: new RegExp(`^(${num})\\s*${DASH}$`),
    highOnly: new RegExp(`^${DASH}\\s*(${unsigned})$`),
    number: new RegExp(`^${num}$`),
    valueComparator: new RegExp(`^(<=|>=|<|>)\\s*(${num})$`),
  };
}

const DOT = patterns(UNSIGNED_DOT);
const ANY = patterns(UNSIGNED_ANY);

function toNumber(text: string): number {
  return Number(text.replace(',', '.'));
}

/**
 * Removes a trailing unit (`3.5-5.0 mmol/L`, `4-10 10*3/uL`). A unit is one token; it must not
 * start like a number (unless set apart by a space and holding a letter, as UCUM's `10*3/uL`) and
 * must not contain comparison characters, so `1-2-3` or `5 < 6` stay "not understood".
 */
function stripUnits(text: string): string {
  const m = /^(.*?\d)\s+(\d[^\s<>=~]*[A-Za-z%\u00b5\u03bc][^\s<>=~]*)$/.exec(text)
    ?? /^(.*?\d)\s*([A-Za-z%\u00b5\u03bc/*][^\s<>=~]*)$/.exec(text);
  return m ? m[1] : text;
}

function parseOne(text: string, p: RangePatterns): ParsedRange | undefined {
  const s = stripUnits(text.trim());
  let m = p.comparator.exec(s);
  if (m) {
    const n = toNumber(m[2]);
    switch (m[1]) {
      case '<': return { high: n, highExclusive: true };
      case '<=': case '=<': case '\u2264': return { high: n };
      case '>': return { low: n, lowExclusive: true };
      default: return { low: n };
    }
  }
  m = p.between.exec(s);
  if (m) {
    const low = toNumber(m[1]);
    const high = toNumber(m[2]);
    return low <= high ? { low, high } : undefined;
  }
  m = p.lowOnly.exec(s);
  if (m) return { low: toNumber(m[1]) };
  m = p.highOnly.exec(s);
  if (m) return { high: toNumber(m[1]) };
  return undefined;
}

/** The MG's `low~high`: two repetitions, each a plain number (one side may be empty). */
function parsePair(reps: string[], p: RangePatterns): ParsedRange | undefined {
  const [a, b] = reps.map((r) => stripUnits(r.trim()));
  if (a === '' && b === '') return undefined;
  if ((a !== '' && !p.number.test(a)) || (b !== '' && !p.number.test(b))) return undefined;
  const r: ParsedRange = {};
  if (a !== '') r.low = toNumber(a);
  if (b !== '') r.high = toNumber(b);
  if (r.low !== undefined && r.high !== undefined && r.low > r.high) return undefined;
  return r;
}

function parseWith(reps: string[], p: RangePatterns): ParsedRange | undefined {
  if (reps.length === 2) return parsePair(reps, p);
  if (reps.length === 1) return parseOne(reps[0], p);
  return undefined;
}

/**
 * Parse a reference range from OBX-7: `repetitions` are the decoded repetitions, `raw` the field
 * exactly as received (used to tell the HL7 null `""` and empty apart).
 */
export function parseRange(repetitions: string[], raw: string, opts: NumberOptions = {}): RangeParseResult {
  if (raw.trim() === '' || raw === '""') return { ok: false, reason: 'no-range' };
  const reps = repetitions.length === 0 ? [raw] : repetitions;
  if (reps.every((r) => r.trim() === '')) return { ok: false, reason: 'no-range' };
  const range = parseWith(reps, opts.decimalComma ? ANY : DOT);
  if (range) return { ok: true, range };
  if (!opts.decimalComma && reps.some((r) => r.includes(',')) && parseWith(reps, ANY)) {
    return { ok: false, reason: 'decimal-comma' };
  }
  return { ok: false, reason: 'bad-range' };
}

/** Parse a range written as one string (`11.2-17.2`, `<5`, or the MG's `11.2~17.2`). */
export function parseRangeText(text: string, opts: NumberOptions = {}): RangeParseResult {
  return parseRange(text.split('~'), text, opts);
}

/** Why a value is not a number that can be flagged. */
export type ValueProblem = 'null-value' | 'no-value' | 'not-numeric' | 'not-reported' | 'decimal-comma';

/** A value read from OBX-5: a number, a bounded number (`<0.1`, `>500`), or a problem. */
export type ParsedValue =
  | { ok: true; value: number; comparator?: '<' | '<=' | '>' | '>=' }
  | { ok: false; reason: ValueProblem };

/**
 * Parse a result value. `value` is the decoded OBX-5 (null = HL7 null `""`). Only numbers are
 * results; `****`-style markers (a device suppressing a result) are "not reported".
 */
export function parseValue(value: string | null, opts: NumberOptions = {}): ParsedValue {
  if (value === null) return { ok: false, reason: 'null-value' };
  const s = value.trim();
  if (s === '' || s === '""') return { ok: false, reason: s === '' ? 'no-value' : 'null-value' };
  if (/^[*#-]+$/.test(s)) return { ok: false, reason: 'not-reported' };
  const p = opts.decimalComma ? ANY : DOT;
  if (p.number.test(s)) return { ok: true, value: toNumber(s) };
  const cmp = p.valueComparator.exec(s);
  if (cmp) return { ok: true, value: toNumber(cmp[2]), comparator: cmp[1] as '<' | '<=' | '>' | '>=' };
  if (!opts.decimalComma && ANY.number.test(s)) return { ok: false, reason: 'decimal-comma' };
  return { ok: false, reason: 'not-numeric' };
}

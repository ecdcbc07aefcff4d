// SPDX-License-Identifier: Apache-2.0
/**
 * Flagging of OBX results against reference ranges (HL7 table 0078: N, L, H, LL, HH).
 *
 * Why it is built this way:
 * - Only numeric results are flagged. A value that is not a number, a null `""`, an empty OBX-5,
 *   a missing or unreadable range give no flag and a reason code, never a guessed `N`/`L`.
 * - The MG sends the placeholder `A` in OBX-8; it must not survive as a false "abnormal", so the
 *   first repetition of OBX-8 always becomes MGS's own flag (empty when not evaluable). Further
 *   repetitions a device sent (`H~N`) are kept, and so is every other byte of the message.
 * - Critical limits come from the site's per-test table (messages do not carry them); a value
 *   beyond them is LL/HH even when the normal range is missing or unreadable, so an alert is never
 *   lost to a formatting problem.
 */
import { GatewayError } from '../errors';
import type { Hl7Message, Segment } from '../hl7/message';
import {
  parseRange, parseRangeText, parseValue, type NumberOptions, type ParsedRange, type ParsedValue,
  type RangeProblem, type ValueProblem,
} from './range';

/** HL7 table 0078 abnormal flags emitted by the gateway. */
export type AbnormalFlag = 'N' | 'L' | 'H' | 'LL' | 'HH';

/** Why a result got no flag ('text': a text result, TX/FT, which no range applies to). */
export type NotEvaluableReason = ValueProblem | RangeProblem | 'ambiguous-value' | 'text';

/** A range to check against: normal bounds plus optional critical limits (LL/HH at or beyond). */
export interface CheckRange extends ParsedRange {
  criticalLow?: number;
  criticalHigh?: number;
}

/** Outcome of checking one value: a flag, or '' and the reason. */
export interface FlagOutcome {
  flag: AbnormalFlag | '';
  reason?: NotEvaluableReason;
}

/**
 * Flag of `value` against `r`: LL/HH at or beyond the critical limits, L/H outside the normal
 * bounds (inclusive bounds; strict where the range said `<`/`>`), N otherwise.
 */
export function flagValue(value: number, r: CheckRange): AbnormalFlag {
  return flagAt(value, 0, r);
}

/**
 * Flag at `x` (side 0), just above `x` (side +1, for values reported as `>x`) or just below it
 * (side -1, for `<x`). Bounds are compared as the limit of a value approaching `x` from that side.
 */
function flagAt(x: number, side: -1 | 0 | 1, r: CheckRange): AbnormalFlag {
  const lt = (b: number): boolean => (side === -1 ? x <= b : x < b);      // t < b
  const le = (b: number): boolean => (side === 1 ? x < b : x <= b);       // t <= b
  const gt = (b: number): boolean => (side === 1 ? x >= b : x > b);       // t > b
  const ge = (b: number): boolean => (side === -1 ? x > b : x >= b);      // t >= b
  if (r.criticalLow !== undefined && le(r.criticalLow)) return 'LL';
  if (r.criticalHigh !== undefined && ge(r.criticalHigh)) return 'HH';
  if (r.low !== undefined && (r.lowExclusive ? le(r.low) : lt(r.low))) return 'L';
  if (r.high !== undefined && (r.highExclusive ? ge(r.high) : gt(r.high))) return 'H';
  return 'N';
}

/** The flag every value far enough in one direction gets. */
function flagAtInfinity(direction: 1 | -1, r: CheckRange): AbnormalFlag {
  if (direction === 1) return r.criticalHigh !== undefined ? 'HH' : r.high !== undefined ? 'H' : 'N';
  return r.criticalLow !== undefined ? 'LL' : r.low !== undefined ? 'L' : 'N';
}

function hasNormalBounds(r: CheckRange): boolean {
  return r.low !== undefined || r.high !== undefined;
}

/**
 * Flag of a parsed value. A value reported as a bound (`<0.01`, `>500`) gets a flag only when every
 * value it can stand for gets the same one (flags rise monotonically with the value); otherwise it
 * is not evaluable ('ambiguous-value').
 */
export function flagParsedValue(v: ParsedValue, r: CheckRange): FlagOutcome {
  if (!v.ok) return { flag: '', reason: v.reason };
  if (v.comparator === undefined) return { flag: flagValue(v.value, r) };
  const up = v.comparator === '>' || v.comparator === '>=';
  const edge = flagAt(v.value, v.comparator.length === 2 ? 0 : up ? 1 : -1, r);
  return edge === flagAtInfinity(up ? 1 : -1, r) ? { flag: edge } : { flag: '', reason: 'ambiguous-value' };
}

// ---------------------------------------------------------------------------------------------
// The site's per-test table

/** A sex/age-specific band of a table entry. Ages in years: ageFrom inclusive, ageUnder exclusive. */
export interface RangeBand {
  sex?: string;
  ageFrom?: number;
  ageUnder?: number;
  low?: number;
  high?: number;
  /** Range as text (`3.5-5.1`, `<5`); an alternative to low/high. */
  range?: string;
  criticalLow?: number;
  criticalHigh?: number;
}

/** One test of the table, matched by OBX-4.1 (`test`) or OBX-3.1 (`code`), case-insensitively. */
export interface RangeTableEntry extends RangeBand {
  test?: string;
  code?: string;
  /** Sex/age-specific ranges; the first that matches the patient wins, the entry's own range is the fallback. */
  ranges?: RangeBand[];
}

export type RangeTable = RangeTableEntry[];

const BAND_KEYS = new Set(['sex', 'ageFrom', 'ageUnder', 'low', 'high', 'range', 'criticalLow', 'criticalHigh', 'note']);
const ENTRY_KEYS = new Set([...BAND_KEYS, 'test', 'code', 'ranges']);
const NUMBER_KEYS = ['ageFrom', 'ageUnder', 'low', 'high', 'criticalLow', 'criticalHigh'] as const;

function badTable(detail: string): never {
  throw new GatewayError('CONFIG_INVALID', { detail });
}

function checkBand(b: unknown, where: string, keys: Set<string>): RangeBand {
  if (b === null || typeof b !== 'object' || Array.isArray(b)) badTable(`${where}: not an object`);
  const o = b as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!keys.has(k)) badTable(`${where}: unknown property "${k}"`);
  for (const k of NUMBER_KEYS) {
    if (o[k] !== undefined && (typeof o[k] !== 'number' || !Number.isFinite(o[k]))) badTable(`${where}: ${k} must be a number`);
  }
  for (const k of ['sex', 'range', 'test', 'code']) {
    if (o[k] !== undefined && typeof o[k] !== 'string') badTable(`${where}: ${k} must be a string`);
  }
  const band = o as RangeBand;
  if (band.sex !== undefined && normalizeSex(band.sex) === undefined) badTable(`${where}: sex must be M, F, O, U, A or N`);
  if (band.range !== undefined) {
    if (band.low !== undefined || band.high !== undefined) badTable(`${where}: give either range or low/high`);
    const p = parseRangeText(band.range);
    if (!p.ok) badTable(`${where}: range "${band.range}" not understood`);
  }
  if (band.low !== undefined && band.high !== undefined && band.low > band.high) badTable(`${where}: low > high`);
  if (band.criticalLow !== undefined && band.criticalHigh !== undefined && band.criticalLow >= band.criticalHigh) {
    badTable(`${where}: criticalLow >= criticalHigh`);
  }
  if (band.ageFrom !== undefined && band.ageUnder !== undefined && band.ageFrom >= band.ageUnder) {
    badTable(`${where}: ageFrom >= ageUnder`);
  }
  return band;
}

/**
 * Validate a per-test table (JSON text or an already parsed array; '' = empty table).
 * Throws GatewayError CONFIG_INVALID with a detail naming the entry.
 */
export function parseRangeTable(input: unknown): RangeTable {
  let data = input;
  if (input === undefined || input === null || (typeof input === 'string' && input.trim() === '')) return [];
  if (typeof input === 'string') {
    try { data = JSON.parse(input); } catch (e) { badTable(`table is not JSON (${(e as Error).message})`); }
  }
  if (!Array.isArray(data)) badTable('table must be a JSON array');
  return data.map((raw, i) => {
    const where = `entry ${i + 1}`;
    const entry = checkBand(raw, where, ENTRY_KEYS) as RangeTableEntry;
    if (!(entry.test ?? '').trim() && !(entry.code ?? '').trim()) badTable(`${where}: needs "test" (OBX-4.1) or "code" (OBX-3.1)`);
    if (entry.ranges !== undefined) {
      if (!Array.isArray(entry.ranges)) badTable(`${where}: ranges must be an array`);
      entry.ranges.forEach((b, j) => checkBand(b, `${where} range ${j + 1}`, BAND_KEYS));
    }
    return entry;
  });
}

function sameCode(a: string | undefined, b: string): boolean {
  return a !== undefined && a.trim() !== '' && a.trim().toUpperCase() === b.trim().toUpperCase();
}

/** The table entry for an OBX: by OBX-4.1 test code first, then by OBX-3.1 code. */
export function findEntry(table: RangeTable, test: string, code: string): RangeTableEntry | undefined {
  return table.find((e) => sameCode(e.test, test)) ?? table.find((e) => sameCode(e.code, code));
}

/** Patient data a band can depend on; undefined = unknown. */
export interface Demographics {
  sex?: string;
  /** Age in years (fractional allowed). */
  ageYears?: number;
}

function bandRange(b: RangeBand): ParsedRange | undefined {
  if (b.range !== undefined) {
    const p = parseRangeText(b.range);
    return p.ok ? p.range : undefined;
  }
  if (b.low === undefined && b.high === undefined) return undefined;
  return { low: b.low, high: b.high };
}

function bandMatches(b: RangeBand, d: Demographics): boolean {
  if (b.sex !== undefined && (d.sex === undefined || normalizeSex(b.sex) !== d.sex)) return false;
  if (b.ageFrom !== undefined && (d.ageYears === undefined || d.ageYears < b.ageFrom)) return false;
  if (b.ageUnder !== undefined && (d.ageYears === undefined || d.ageYears >= b.ageUnder)) return false;
  return true;
}

/** What the table says for one patient: normal range (if any) and critical limits. */
export function tableRange(entry: RangeTableEntry, d: Demographics): { range?: ParsedRange; criticalLow?: number; criticalHigh?: number } {
  const band = (entry.ranges ?? []).find((b) => bandMatches(b, d));
  const range = (band && bandRange(band)) ?? bandRange(entry);
  return {
    range,
    criticalLow: band?.criticalLow ?? entry.criticalLow,
    criticalHigh: band?.criticalHigh ?? entry.criticalHigh,
  };
}

// ---------------------------------------------------------------------------------------------
// Demographics from the message

/** Where sex and age are read. The MG's layout is one position before standard HL7 (SPEC 2.2). */
export interface DemographicFields {
  sexField: string;
  ageField: string;
  /** 'age' = the field holds an age (`50`, `6M`, `10D`); 'birthDate' = a DTM birth date. */
  ageKind: 'age' | 'birthDate';
}

export const MG_DEMOGRAPHICS: DemographicFields = { sexField: 'PID-7', ageField: 'PID-6', ageKind: 'age' };
export const STANDARD_DEMOGRAPHICS: DemographicFields = { sexField: 'PID-8', ageField: 'PID-7', ageKind: 'birthDate' };

/** HL7 table 0001 code for a sex value ('M', 'male', '남' -> 'M'); undefined when not recognised. */
export function normalizeSex(value: string | null | undefined): string | undefined {
  const s = (value ?? '').trim().toUpperCase();
  if (s === '') return undefined;
  if (s === '남' || s === '남자' || s === 'MALE') return 'M';
  if (s === '여' || s === '여자' || s === 'FEMALE') return 'F';
  return /^[MFOUAN]$/.test(s) ? s : undefined;
}

/** Age in years from an age field: `50`, `50Y`, `6M` (months), `3W`, `10D`. */
export function parseAge(value: string | null | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([YMWD]?)$/i.exec((value ?? '').trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2].toUpperCase()) {
    case 'M': return n / 12;
    case 'W': return (n * 7) / 365.25;
    case 'D': return n / 365.25;
    default: return n;
  }
}

function ymd(value: string | null | undefined): { y: number; m: number; d: number } | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec((value ?? '').trim());
  if (!m) return undefined;
  const r = { y: Number(m[1]), m: Number(m[2]), d: Number(m[3]) };
  return r.m >= 1 && r.m <= 12 && r.d >= 1 && r.d <= 31 ? r : undefined;
}

/** Age in years (completed years, fractional below one year) at `on`, from a birth date `YYYYMMDD...`. */
export function ageFromBirthDate(birth: string | null | undefined, on: string | null | undefined): number | undefined {
  const b = ymd(birth);
  const o = ymd(on);
  if (!b || !o) return undefined;
  let years = o.y - b.y;
  if (o.m < b.m || (o.m === b.m && o.d < b.d)) years--;
  if (years < 0) return undefined;
  if (years >= 1) return years;
  const days = (Date.UTC(o.y, o.m - 1, o.d) - Date.UTC(b.y, b.m - 1, b.d)) / 86400000;
  return days / 365.25;
}

function todayYmd(): string {
  const t = new Date();
  return `${t.getFullYear()}${String(t.getMonth() + 1).padStart(2, '0')}${String(t.getDate()).padStart(2, '0')}`;
}

/** Sex and age of the patient, read from the configured fields (age at OBR-7, else MSH-7, else today). */
export function readDemographics(m: Hl7Message, f: DemographicFields): Demographics {
  const sex = normalizeSex(m.get(f.sexField));
  const raw = m.get(f.ageField);
  let ageYears: number | undefined;
  if (f.ageKind === 'birthDate') {
    const on = [m.get('OBR-7'), m.get('MSH-7')].find((v) => ymd(v) !== undefined) ?? todayYmd();
    ageYears = ageFromBirthDate(raw, on);
  } else {
    ageYears = parseAge(raw);
  }
  return { sex, ageYears };
}

// ---------------------------------------------------------------------------------------------
// Whole messages

/** One result row of msg.obx (the TEAM contract fields first, then details). */
export interface ObxEntry {
  setId: string;
  /** OBX-3.1 */
  code: string;
  /** OBX-4.1 */
  test: string;
  /** OBX-3.2 (the test's name where a device codes OBX-3, e.g. `6690-2^WBC^LN`). */
  name: string;
  /** OBX-5 as decoded text (first repetition); null = HL7 null `""`. */
  value: string | null;
  /** OBX-5 as the number it was flagged as: plain numbers only (not `<0.5`), decimal commas where the site allows them. */
  numeric?: number;
  /** OBX-6.1 */
  units: string;
  /** OBX-7 exactly as received (the MG's `low~high` keeps its `~`); null = HL7 null `""`. */
  range: string | null;
  flag: AbnormalFlag | '';
  /** First repetition of OBX-8 as the device/MG sent it ('' when none). */
  deviceFlag: string;
  /** Why no flag was given. */
  reason?: NotEvaluableReason;
  /** Position of this OBX among the message's OBX segments (1-based). */
  index: number;
  /** OBX-2 */
  valueType: string;
  /** Bounds used ('message' range or the site 'table'). */
  low?: number;
  high?: number;
  criticalLow?: number;
  criticalHigh?: number;
  rangeSource?: 'message' | 'table';
  /** true when the device sent a first OBX-8 repetition that differs from MGS's flag (MGS wins). */
  overridden: boolean;
}

export interface FlagOptions extends NumberOptions {
  /** Use the table's range even when the message carries one (default: only when it carries none). */
  preferTable?: boolean;
  /** OBX-2 value types that are results (default NM, SN, ST); other rows are carried unchanged. */
  resultTypes?: string[];
  /** Where sex and age are read (default: the MG layout, PID-7 sex and PID-6 age). */
  demographics?: DemographicFields;
  /** Write the flags into OBX-8 (default true). */
  write?: boolean;
}

export const DEFAULT_RESULT_TYPES = ['NM', 'SN', 'ST'];

/**
 * Text results (a report, a manual differential as FT): results the EMR must receive whatever the
 * result types say, but never compared with a range, so they get no flag, no warning and keep their OBX-8.
 */
export const TEXT_RESULT_TYPES: readonly string[] = ['TX', 'FT'];

/** The value text to parse: SN's comparator^number, other types' OBX-5 as decoded. */
function valueText(seg: Segment, type: string): { text: string | null; structured: boolean } {
  const whole = seg.get('5');
  if (type !== 'SN' || whole === null) return { text: whole, structured: false };
  const comparator = seg.get('5.1') ?? '';
  const num1 = seg.get('5.2') ?? '';
  const sep = seg.get('5.3') ?? '';
  const num2 = seg.get('5.4') ?? '';
  if (sep !== '' || num2 !== '') return { text: whole, structured: true };   // ratios and ranges: not one number
  if (num1 === '' && comparator === '') return { text: whole, structured: false };
  return { text: comparator + num1, structured: false };
}

/**
 * Flag every result OBX of `m` against its reference range (or the site table) and write the flags
 * into OBX-8 (first repetition only). Returns one entry per result row, in message order.
 */
export function flagObservations(m: Hl7Message, table: RangeTable = [], options: FlagOptions = {}): ObxEntry[] {
  const types = new Set((options.resultTypes ?? DEFAULT_RESULT_TYPES).map((t) => t.trim().toUpperCase()));
  const write = options.write !== false;
  let demographics: Demographics | undefined;
  const entries: ObxEntry[] = [];
  const rep = m.delimiters.repetition;

  m.segments('OBX').forEach((seg, i) => {
    const valueType = (seg.get('2') ?? '').trim().toUpperCase();
    const isText = TEXT_RESULT_TYPES.includes(valueType);
    if (!types.has(valueType) && !isText) return;
    const code = seg.get('3.1') ?? '';
    const test = seg.get('4.1') ?? '';
    const rawRange = seg.getRaw('7');
    const rawFlags = seg.getRaw('8');
    const deviceFirstRaw = rep === '' ? rawFlags : rawFlags.split(rep)[0];
    const deviceFlag = deviceFirstRaw === '""' ? '' : (seg.get('8[1]') ?? '');
    if (isText) {
      entries.push({ setId: seg.get('1') ?? '', code, test, name: seg.get('3.2') ?? '', value: seg.get('5'),
        units: seg.get('6.1') ?? '', range: rawRange === '""' ? null : rawRange, flag: '', deviceFlag, reason: 'text',
        index: i + 1, valueType, overridden: false });
      return;
    }

    const entryTable = table.length ? findEntry(table, test, code) : undefined;
    let fromTable: ReturnType<typeof tableRange> | undefined;
    if (entryTable) {
      demographics ??= readDemographics(m, options.demographics ?? MG_DEMOGRAPHICS);
      fromTable = tableRange(entryTable, demographics);
    }

    const { text, structured } = valueText(seg, valueType);
    const value: ParsedValue = structured ? { ok: false, reason: 'not-numeric' } : parseValue(text, options);
    const critical: CheckRange = { criticalLow: fromTable?.criticalLow, criticalHigh: fromTable?.criticalHigh };

    let range: CheckRange | undefined;
    let rangeSource: 'message' | 'table' | undefined;
    let rangeProblem: RangeProblem | undefined;
    const parsed = parseRange(seg.repetitions(7), rawRange, options);
    if (fromTable?.range && (options.preferTable || (!parsed.ok && parsed.reason === 'no-range'))) {
      range = { ...fromTable.range, ...critical };
      rangeSource = 'table';
    } else if (parsed.ok) {
      range = { ...parsed.range, ...critical };
      rangeSource = 'message';
    } else {
      rangeProblem = parsed.reason;
    }

    let outcome: FlagOutcome;
    if (!value.ok) {
      outcome = { flag: '', reason: value.reason };
    } else if (range) {
      outcome = flagParsedValue(value, range);
    } else {
      // No usable normal range: critical limits still raise LL/HH (patient safety first).
      const c = critical.criticalLow !== undefined || critical.criticalHigh !== undefined
        ? flagParsedValue(value, critical) : { flag: '' as const };
      outcome = c.flag === 'LL' || c.flag === 'HH' ? c : { flag: '', reason: rangeProblem ?? 'no-range' };
    }

    if (write && deviceFirstRaw !== outcome.flag) seg.setRaw('8[1]', outcome.flag);

    const entry: ObxEntry = {
      setId: seg.get('1') ?? '',
      code, test,
      name: seg.get('3.2') ?? '',
      value: text === null ? null : seg.get('5'),
      units: seg.get('6.1') ?? '',
      range: rawRange === '""' ? null : rawRange,
      flag: outcome.flag,
      deviceFlag,
      index: i + 1,
      valueType,
      overridden: deviceFlag !== '' && deviceFlag !== outcome.flag,
    };
    if (value.ok && value.comparator === undefined) entry.numeric = value.value;
    if (outcome.reason) entry.reason = outcome.reason;
    if (range?.low !== undefined) entry.low = range.low;
    if (range?.high !== undefined) entry.high = range.high;
    if (critical.criticalLow !== undefined) entry.criticalLow = critical.criticalLow;
    if (critical.criticalHigh !== undefined) entry.criticalHigh = critical.criticalHigh;
    if (rangeSource) entry.rangeSource = rangeSource;
    entries.push(entry);
  });
  return entries;
}

/** True for the flags that raise the critical (alert) output. */
export function isCritical(flag: AbnormalFlag | ''): boolean {
  return flag === 'LL' || flag === 'HH';
}

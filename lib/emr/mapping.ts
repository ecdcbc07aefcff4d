// SPDX-License-Identifier: Apache-2.0
/**
 * Where EMR values land in HL7, and which message fields become SQL parameters: the per-site part
 * of the EMR side, kept as data so that a site changes it in the node's dialog, not in code.
 */
import { GatewayError } from '../errors';
import { parsePath } from '../hl7/message';
import type { NamedParams } from './adapter';
import type { Hl7Message } from '../hl7/message';

/** One "EMR column -> HL7 field" row. */
export interface FieldMapping {
  /** Column name in the EMR's row (case-insensitive match). */
  column: string;
  /** HL7 position: 'PID-4', 'PID-3.3', 'PV1-3.1', 'OBX-7'. */
  field: string;
  /**
   * The value is already HL7 text, written with the standard delimiters ^ ~ \\ & (e.g. a range
   * `11.2~17.2`, where `~` must stay a repetition separator): translated to the message's own
   * delimiters, and a field separator or line break is escaped so the segment cannot break.
   * Otherwise the value is plain text and every delimiter in it is escaped.
   */
  raw?: boolean;
  /**
   * How a value becomes text: 'auto' (default: ISO dates -> YYYYMMDD, ISO date-times -> DTM,
   * numbers as written), 'date' (YYYYMMDD), 'datetime' (YYYYMMDDHHMMSS[+ZZZZ]) or 'text' (unchanged).
   */
  format?: 'auto' | 'text' | 'date' | 'datetime';
  /** Code translation, e.g. { "male": "M", "female": "F" }; values not listed pass unchanged. */
  values?: Record<string, string>;
}

/** One named SQL parameter taken from the message: `:barcode` = PID-3.1. */
export interface ParamSpec {
  name: string;
  /** HL7 position, read as decoded text ('' when absent, null for the HL7 null ""). */
  field: string;
}

/** SPEC 2.2, the MG's layout: PID-3.3 patient no, PID-4 name, PID-6 age, PID-7 sex, PV1-2 class, PV1-3 location. */
export const MG_PATIENT_MAPPING: readonly FieldMapping[] = [
  { column: 'patient_no', field: 'PID-3.3' },
  { column: 'name', field: 'PID-4' },
  { column: 'age', field: 'PID-6' },
  { column: 'sex', field: 'PID-7' },
  { column: 'patient_class', field: 'PV1-2' },
  { column: 'ward', field: 'PV1-3.1' },
  { column: 'room', field: 'PV1-3.2' },
];

/** Standard HL7 positions: PID-5 name (family^given), PID-7 birth date, PID-8 sex. */
export const STANDARD_PATIENT_MAPPING: readonly FieldMapping[] = [
  { column: 'patient_no', field: 'PID-3.3' },
  { column: 'family_name', field: 'PID-5.1' },
  { column: 'given_name', field: 'PID-5.2' },
  { column: 'birth_date', field: 'PID-7', format: 'date' },
  { column: 'sex', field: 'PID-8' },
  { column: 'patient_class', field: 'PV1-2' },
  { column: 'ward', field: 'PV1-3.1' },
  { column: 'room', field: 'PV1-3.2' },
];

/**
 * SPEC 2.2 OBX: OBX-4 test code, OBX-6 units and OBX-7 range where the EMR knows them (the range
 * raw, so the MG's `low~high` keeps `~` as a separator), OBX-13 P/Q. OBX-3 stays empty; a site
 * that wants the device's channel code there adds { column: 'channel_code', field: 'OBX-3' }.
 */
export const MG_TEST_MAPPING: readonly FieldMapping[] = [
  { column: 'test_code', field: 'OBX-4' },
  { column: 'units', field: 'OBX-6' },
  { column: 'ref_range', field: 'OBX-7', raw: true },
  { column: 'obx13', field: 'OBX-13' },
];

/**
 * The OBX every ordered test starts from (written with | ^ ~ \ &): OBX-2 ST, OBX-8 A, OBX-11 R as
 * the MG sends them, 14 fields like the MG's own OBX (which ends with an empty OBX-14). OBX-1 is numbered.
 */
export const DEFAULT_OBX_TEMPLATE = 'OBX||ST||||||A|||R|||';

/** Parameters of the default look-up queries. */
export const DEFAULT_LOOKUP_PARAMS: readonly ParamSpec[] = [
  { name: 'barcode', field: 'PID-3.1' },
  { name: 'device', field: 'PID-3.2' },
  { name: 'patientNo', field: 'PID-3.3' },
  { name: 'observedAt', field: 'OBR-7' },
  { name: 'controlId', field: 'MSH-10' },
];

function bad(detail: string): never {
  throw new GatewayError('EMR_BAD_CONFIG', { detail, hl7Code: '207', ackCode: 'AE' });
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkField(field: unknown, what: string): string {
  if (typeof field !== 'string' || field.trim() === '') bad(`${what}: no HL7 field`);
  try {
    const p = parsePath(field.trim());
    if (p.segment === 'MSH' && p.field <= 2) bad(`${what}: ${field} cannot be mapped`);
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'EMR_BAD_CONFIG') throw err;
    bad(`${what}: invalid HL7 field ${String(field)}`);
  }
  return field.trim().toUpperCase();
}

/** Validate a mapping table (JSON text or array); throws EMR_BAD_CONFIG naming the bad row. */
export function parseMapping(input: unknown, fallback: readonly FieldMapping[]): FieldMapping[] {
  let v = input;
  if (v === undefined || v === null || v === '') return fallback.map((m) => ({ ...m }));
  if (typeof v === 'string') {
    try { v = JSON.parse(v); } catch { bad('the field mapping is not valid JSON'); }
  }
  if (!Array.isArray(v)) bad('the field mapping must be a list');
  return v.map((row: unknown, i: number) => {
    const r = (row ?? {}) as Record<string, unknown>;
    const what = `mapping row ${i + 1}`;
    if (typeof r.column !== 'string' || r.column.trim() === '') bad(`${what}: no column`);
    const m: FieldMapping = { column: r.column.trim(), field: checkField(r.field, what) };
    if (r.raw === true) m.raw = true;
    if (r.format !== undefined && r.format !== '') {
      if (!['auto', 'text', 'date', 'datetime'].includes(String(r.format))) bad(`${what}: unknown format ${String(r.format)}`);
      m.format = r.format as FieldMapping['format'];
    }
    if (r.values !== undefined && r.values !== null) {
      if (typeof r.values !== 'object' || Array.isArray(r.values)) bad(`${what}: values must be an object`);
      m.values = Object.fromEntries(Object.entries(r.values as object).map(([k, x]) => [k, String(x)]));
    }
    return m;
  });
}

/** Validate a parameter table (JSON text or array). */
export function parseParams(input: unknown, fallback: readonly ParamSpec[]): ParamSpec[] {
  let v = input;
  if (v === undefined || v === null || v === '') return fallback.map((p) => ({ ...p }));
  if (typeof v === 'string') {
    try { v = JSON.parse(v); } catch { bad('the parameter list is not valid JSON'); }
  }
  if (!Array.isArray(v)) bad('the parameter list must be a list');
  const seen = new Set<string>();
  return v.map((row: unknown, i: number) => {
    const r = (row ?? {}) as Record<string, unknown>;
    const name = typeof r.name === 'string' ? r.name.trim() : '';
    if (!PARAM_NAME.test(name)) bad(`parameter ${i + 1}: invalid name ${name}`);
    if (seen.has(name)) bad(`parameter ${name} is listed twice`);
    seen.add(name);
    return { name, field: checkField(r.field, `parameter ${name}`) };
  });
}

/** Parse a procedure's argument list: 'barcode, device' -> ['barcode', 'device']. */
export function parseArgs(input: unknown): string[] {
  const list = Array.isArray(input) ? input.map(String) : String(input ?? '').split(/[\s,]+/);
  const args = list.map((a) => a.trim().replace(/^:/, '')).filter((a) => a !== '');
  for (const a of args) if (!PARAM_NAME.test(a)) bad(`invalid procedure argument ${a}`);
  return args;
}

/** The named parameters `specs` take from a message. */
export function messageParams(m: Hl7Message, specs: readonly ParamSpec[]): NamedParams {
  const out: NamedParams = {};
  for (const s of specs) out[s.name] = m.get(s.field);
  return out;
}

/** Look a column up in a row, exactly first, then ignoring case (drivers differ in the case they return). */
export function columnValue(row: Record<string, unknown>, column: string): unknown {
  if (Object.prototype.hasOwnProperty.call(row, column)) return row[column];
  const lower = column.toLowerCase();
  for (const k of Object.keys(row)) if (k.toLowerCase() === lower) return row[k];
  return undefined;
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATETIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/;

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function dateOf(d: Date): string {
  return `${pad(d.getFullYear(), 4)}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
}

function dtmOf(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}`
    + `${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}+0000`;
}

/**
 * An EMR value as HL7 text, or undefined when there is none (SQL NULL: the message's own text
 * stays). ISO dates become YYYYMMDD and ISO date-times YYYYMMDDHHMMSS[.fff][+ZZZZ].
 */
export function hl7Text(value: unknown, mapping: Pick<FieldMapping, 'format' | 'values'> = {}): string | undefined {
  if (value === null || value === undefined) return undefined;
  const format = mapping.format ?? 'auto';
  let text: string;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) return undefined;
    text = format === 'date' ? dateOf(value) : dtmOf(value);
  } else if (typeof value === 'boolean') {
    text = value ? 'Y' : 'N';
  } else if (Buffer.isBuffer(value)) {
    text = value.toString('utf8');
  } else {
    text = String(value);
    if (format !== 'text') {
      const d = ISO_DATE.exec(text);
      const t = d ? null : ISO_DATETIME.exec(text);
      if (d && (format === 'auto' || format === 'date' || format === 'datetime')) {
        text = `${d[1]}${d[2]}${d[3]}`;
      } else if (t && format === 'date') {
        text = `${t[1]}${t[2]}${t[3]}`;
      } else if (t) {
        const frac = t[7] ? `.${t[7].slice(0, 4)}` : '';
        const zone = t[8] === undefined ? '' : t[8] === 'Z' ? '+0000' : t[8].replace(':', '');
        text = `${t[1]}${t[2]}${t[3]}${t[4]}${t[5]}${t[6] ?? '00'}${frac}${zone}`;
      }
    }
  }
  if (mapping.values && Object.prototype.hasOwnProperty.call(mapping.values, text)) text = mapping.values[text];
  return text;
}

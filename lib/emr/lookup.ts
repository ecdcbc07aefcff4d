// SPDX-License-Identifier: Apache-2.0
/**
 * Barcode look-up (SPEC 2.1 -> 2.2): read the patient and the ordered tests for a scanned
 * barcode and device from the EMR, and fill them into the request to make the MG's response.
 *
 * The response is the request itself, filled in: the MSH is echoed unchanged by default (the MG
 * relies on MSH-10 = BARCODE), PID/PV1/OBR keep the request's own bytes wherever the EMR has
 * nothing, and one OBX per ordered test is appended after the OBR. Segments the EMR filled are
 * written without trailing empty fields, as in SPEC 2.2; OBX segments keep their template's shape.
 */
import { GatewayError } from '../errors';
import { newControlId } from '../hl7/ack';
import { formatDtm } from '../hl7/datetime';
import { encodeEscapes } from '../hl7/escape';
import { Hl7Message, parsePath, type Hl7Delimiters, type Segment } from '../hl7/message';
import type { EmrSession, NamedParams, Row } from './adapter';
import {
  columnValue, DEFAULT_LOOKUP_PARAMS, DEFAULT_OBX_TEMPLATE, hl7Text, messageParams, MG_PATIENT_MAPPING,
  MG_TEST_MAPPING, type FieldMapping, type ParamSpec,
} from './mapping';

/** Where rows come from: parameterized SQL, or a stored procedure with arguments in order. */
export interface LookupSource {
  mode: 'sql' | 'procedure';
  /** SQL with named parameters (mode 'sql'). */
  sql?: string;
  /** Procedure name (mode 'procedure'). */
  procedure?: string;
  /** Parameter names passed to the procedure, in its argument order. */
  args?: string[];
}

export const DEFAULT_PATIENT_SQL = 'SELECT * FROM mg_patient WHERE barcode = :barcode';
export const DEFAULT_TESTS_SQL = 'SELECT * FROM mg_ordered_tests WHERE barcode = :barcode AND device = :device ORDER BY seq';

export interface ResponseOptions {
  patientMapping?: readonly FieldMapping[];
  testMapping?: readonly FieldMapping[];
  /** OBX every ordered test starts from, written with the standard delimiters | ^ ~ \ &. */
  obxTemplate?: string;
  /** 'echo' (default): the request's MSH unchanged; 'standard': sender/receiver swapped, fresh MSH-7 and MSH-10. */
  msh?: 'echo' | 'standard';
  /** Clock and id source for the standard MSH (tests pin them). */
  now?: () => Date;
  newControlId?: () => string;
}

export interface LookupOptions extends ResponseOptions {
  params?: readonly ParamSpec[];
  patient?: LookupSource;
  tests?: LookupSource;
  /** Name of the parameter that must not be empty (default 'barcode'). */
  barcodeParam?: string;
}

export interface LookupResult {
  /** The response (SPEC 2.2 shape). */
  response: string;
  patient: Row;
  tests: Row[];
  params: NamedParams;
}

function emrError(code: 'EMR_BAD_CONFIG', detail: string): GatewayError {
  return new GatewayError(code, { detail, hl7Code: '207', ackCode: 'AE' });
}

/** Rows from a source (SQL or procedure) with the message's parameters. */
export async function fetchRows(session: EmrSession, source: LookupSource, params: NamedParams): Promise<Row[]> {
  if (source.mode === 'procedure') {
    if (!source.procedure) throw emrError('EMR_BAD_CONFIG', 'no procedure name');
    const args: NamedParams = {};
    for (const a of source.args ?? []) {
      if (!Object.prototype.hasOwnProperty.call(params, a)) throw emrError('EMR_BAD_CONFIG', `unknown parameter :${a}`);
      args[a] = params[a];
    }
    return session.callProcedure(source.procedure, args);
  }
  if (!source.sql || source.sql.trim() === '') throw emrError('EMR_BAD_CONFIG', 'no SQL');
  return session.query(source.sql, params);
}

/** The segment-level location ('PID-3') of a field path ('PID-3.1'), for ERR segments. */
function fieldLocation(path: string): string {
  const p = parsePath(path);
  return `${p.segment}-${p.field}`;
}

/**
 * Look up the request's barcode and build the response. Throws EMR_NO_BARCODE (empty PID-3.1),
 * EMR_NOT_FOUND (the EMR has no patient for it) and whatever the adapter throws.
 */
export async function lookupOrder(session: EmrSession, request: string, o: LookupOptions = {}): Promise<LookupResult> {
  const m = Hl7Message.parse(request);
  const specs = o.params ?? DEFAULT_LOOKUP_PARAMS;
  const params = messageParams(m, specs);
  const barcodeName = o.barcodeParam ?? 'barcode';
  const barcodeSpec = specs.find((s) => s.name === barcodeName);
  const location = barcodeSpec ? fieldLocation(barcodeSpec.field) : 'PID-3';
  const barcode = params[barcodeName];
  if (typeof barcode !== 'string' || barcode.trim() === '') {
    throw new GatewayError('EMR_NO_BARCODE', { location, hl7Code: '101', ackCode: 'AE' });
  }
  const patients = await fetchRows(session, o.patient ?? { mode: 'sql', sql: DEFAULT_PATIENT_SQL }, params);
  if (patients.length === 0) {
    // No barcode in the parameters: they reach logs and error texts, which carry no patient data.
    throw new GatewayError('EMR_NOT_FOUND', { location, hl7Code: '204', ackCode: 'AE' });
  }
  const tests = await fetchRows(session, o.tests ?? { mode: 'sql', sql: DEFAULT_TESTS_SQL }, params);
  return { response: buildResponse(request, patients[0], tests, o), patient: patients[0], tests, params };
}

/**
 * Raw HL7 text from the EMR, written with the standard delimiters | ^ ~ \ &, in the message's own
 * delimiters. A field separator or a line break is escaped so the segment cannot break, and a
 * character that is a delimiter only in this message is escaped as the text it was.
 */
function rawSafe(text: string, d: Hl7Delimiters): string {
  const e = d.escape;
  const esc = (code: string, fallback: string): string => (e === '' ? fallback : `${e}${code}${e}`);
  const std: Record<string, string> = { '^': d.component, '~': d.repetition, '\\': e, '&': d.subcomponent };
  let out = '';
  for (const c of text) {
    if (c === '|' || c === d.field) out += esc('F', ' ');
    else if (c === '\r') out += esc('X0D', ' ');
    else if (c === '\n') out += esc('X0A', ' ');
    else if (std[c] !== undefined && std[c] !== '') out += std[c];
    else if (c === d.component) out += esc('S', ' ');
    else if (c === d.repetition) out += esc('R', ' ');
    else if (c === d.subcomponent) out += esc('T', ' ');
    else if (c === e) out += esc('E', ' ');
    else out += c;
  }
  return out;
}

/** Set one mapped value into a segment; false when the EMR has no value for it. */
function apply(seg: Segment, relPath: string, value: unknown, mapping: FieldMapping, d: Hl7Delimiters): boolean {
  const text = hl7Text(value, mapping);
  if (text === undefined) return false;
  if (mapping.raw) seg.setRaw(relPath, rawSafe(text, d));
  else seg.set(relPath, text);
  return true;
}

function relative(field: string): { segment: string; rel: string } {
  const i = field.indexOf('-');
  return { segment: field.slice(0, i).toUpperCase(), rel: field.slice(i + 1) };
}

/** Where a segment that the request lacks is inserted (index among the segments). */
function insertionIndex(m: Hl7Message, name: string): number {
  const segs = m.segments();
  const after = name === 'PID' ? ['MSH', 'SFT'] : name === 'PV1' || name === 'PD1' ? ['MSH', 'SFT', 'PID', 'PD1', 'NTE'] : null;
  if (after) {
    let i = 1;
    while (i < segs.length && after.includes(segs[i].name)) i++;
    return i;
  }
  const obr = segs.findIndex((s) => s.name === 'OBR' || s.name === 'ORC');
  return obr < 0 ? segs.length : obr;
}

/** Translate a template written with | ^ ~ \ & into the message's delimiters. */
function templateFor(template: string, d: Hl7Delimiters): string {
  const map: Record<string, string> = { '|': d.field, '^': d.component, '~': d.repetition, '\\': d.escape, '&': d.subcomponent };
  let out = '';
  for (const c of template) out += map[c] ?? c;
  return out;
}

/** Drop empty fields at the end of a segment's text. */
function trimTrailing(text: string, fieldSep: string): string {
  let t = text;
  while (t.endsWith(fieldSep)) t = t.slice(0, -fieldSep.length);
  return t;
}

/** Fill `patient` and `tests` into the request text and return the response text (pure). */
export function buildResponse(request: string, patient: Row, tests: readonly Row[], o: ResponseOptions = {}): string {
  const m = Hl7Message.parse(request);
  const d = m.delimiters;
  const touched = new Set<Segment>();

  // A request carries no results; OBX (and the NTE notes under them) are replaced by the orders.
  let underObx = false;
  for (const seg of m.segments()) {
    if (seg.name === 'OBX') underObx = true;
    else if (seg.name !== 'NTE') underObx = false;
    if (seg.name === 'OBX' || (seg.name === 'NTE' && underObx)) m.removeSegment(seg);
  }

  for (const map of o.patientMapping ?? MG_PATIENT_MAPPING) {
    const value = columnValue(patient, map.column);
    if (hl7Text(value, map) === undefined) continue;
    const { segment, rel } = relative(map.field);
    if (segment === 'OBX') continue;
    let seg = m.segment(segment);
    if (!seg) seg = m.addSegment(segment, [], insertionIndex(m, segment));
    if (apply(seg, rel, value, map, d)) touched.add(seg);
  }

  const msh = m.segments()[0];
  if (o.msh === 'standard') {
    const raw = (n: number): string => msh.getRaw(String(n));
    const [s3, s4, s5, s6] = [raw(3), raw(4), raw(5), raw(6)];
    msh.setRaw('3', s5).setRaw('4', s6).setRaw('5', s3).setRaw('6', s4);
    msh.setRaw('7', formatDtm((o.now ?? (() => new Date()))()));
    msh.setRaw('10', encodeEscapes((o.newControlId ?? (() => newControlId()))(), d));
  }

  // Each OBX is built from the template inside a scratch message with the request's delimiters,
  // so the template's empty trailing fields survive (Segment keeps fields as parsed).
  const template = templateFor(o.obxTemplate ?? DEFAULT_OBX_TEMPLATE, d);
  if (!template.startsWith(`OBX${d.field}`)) {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: 'the OBX template must start with OBX|', hl7Code: '207', ackCode: 'AE' });
  }
  const mshLine = msh.toString();
  const obxLines = tests.map((row, i) => {
    const scratch = Hl7Message.parse(`${mshLine}\r${template}\r`);
    const seg = scratch.segment('OBX') as Segment;
    seg.setRaw('1', String(i + 1));
    for (const map of o.testMapping ?? MG_TEST_MAPPING) {
      const { segment, rel } = relative(map.field);
      if (segment !== 'OBX') continue;
      apply(seg, rel, columnValue(row, map.column), map, d);
    }
    return seg.toString();
  });

  const lines: string[] = [];
  const segs = m.segments();
  let lastObr = -1;
  segs.forEach((s, i) => { if (s.name === 'OBR') lastObr = i; });
  segs.forEach((s, i) => {
    lines.push(touched.has(s) && s.name !== 'MSH' ? trimTrailing(s.toString(), d.field) : s.toString());
    if (i === lastObr) lines.push(...obxLines);
  });
  if (lastObr < 0) lines.push(...obxLines);
  const terminated = /[\r\n]$/.test(request);
  return lines.join('\r') + (terminated ? '\r' : '');
}

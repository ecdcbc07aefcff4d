// SPDX-License-Identifier: Apache-2.0
/**
 * MG barcode result (SPEC 2.3) -> standard HL7 v2 ORU^R01 for an EMR that takes HL7 over MLLP.
 *
 * Why it is built this way:
 * - The MG's message is not what an HL7 EMR interface reads: MSH-10 is the constant BARCODE (no ACK can
 *   be matched to it, case 23), the patient sits one position early (PID-4 name, PID-6 age, PID-7 sex),
 *   OBX-3 holds a device channel, OBX-4 the test code, OBX-7 the range as `low~high` (two repetitions to
 *   a standard parser) and OBX-8 the placeholder `A`. So a new message is BUILT, field by field, rather
 *   than patched: nothing of the MG's quirks can leak through by accident.
 * - Values are copied as decoded text and written with the setters, so escapes are right whatever
 *   delimiters the input used; when the input uses the standard `|^~\&` a field is copied as its raw
 *   text, which keeps formatting escapes (`\.br\`) exactly.
 * - MSH-10 is fresh and unique; for a message handed out by a spool it is derived from the spool entry,
 *   so a resend after a crash or a time-out carries the same MSH-10 and the EMR can discard the copy.
 * - The MG sends an age, not a birth date. A birth date is never invented: PID-7 stays empty and the age
 *   goes into a patient NTE (default) or an "Age" OBX (LOINC 30525-0), as the site chooses.
 * - The text is checked against the MSH-18 character set here, so a name the EMR's charset cannot carry
 *   fails the conversion (HL7_BAD_CHARSET) instead of turning into '?' on the wire (case 21).
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors';
import { newControlId, versionAtLeast } from './ack';
import { encodeText, resolveCharset, type CodecKey } from './charset';
import { formatDtm } from './datetime';
import { decodeEscapes, encodeEscapes } from './escape';
import { Hl7Message, parsePath, type Hl7Delimiters, type Segment } from './message';

/** Where the input carries the patient: the MG's layout (SPEC 2.2) or standard HL7 positions. */
export type InputLayout = 'mg' | 'standard';

/** Where the patient's age goes when the input has an age instead of a birth date. */
export type AgePlacement = 'nte' | 'obx' | 'none';

/** A coded element for OBX-3 / OBR-4: identifier ^ text ^ coding system. */
export interface CodedElement {
  code: string;
  text?: string;
  system?: string;
}

/** Test code (OBX-4.1 of an MG row, OBX-3.1 or OBX-3.2 of a coded row, or a device for OBR-4) -> coded element. */
export type CodeMap = Map<string, CodedElement>;

/** One flag from obx-check (msg.obx): matched to its OBX by `index` (position among OBX), else by `setId`. */
export interface FlagEntry {
  index?: number;
  setId?: string;
  flag: string;
}

export interface ConvertOptions {
  /** Input layout (default 'mg'). */
  layout?: InputLayout;
  /** MSH-3 / MSH-4 / MSH-5 / MSH-6; `^` separates components (`MGS^1.2.3^ISO`). Default 'MGS', '', '', ''. */
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  /** MSH-12 (default '2.5.1'). */
  version?: string;
  /** MSH-11 (default 'P'). */
  processingId?: string;
  /** MSH-18, HL7 table 0211 (default 'UNICODE UTF-8'; '' = no MSH-18, UTF-8 bytes). */
  charset?: string;
  /** Where the patient number, the specimen barcode and the device are read (defaults PID-3.3, PID-3.1, PID-3.2; '' = none). */
  patientIdField?: string;
  barcodeField?: string;
  deviceField?: string;
  /** PID-3.4 and PID-3.5 of the patient number (default '' and 'MR'). */
  patientAuthority?: string;
  patientIdType?: string;
  /** PID-3.5 of the barcode's repetition (default 'ACSN', accession id); '' = no barcode repetition in PID-3. */
  barcodeIdType?: string;
  /** Test code map; unmapped MG tests become `code^code^<codingSystem>`. */
  codeMap?: CodeMap;
  /** Coding system of unmapped local codes (default 'L', HL7 table 0396 "local"). */
  codingSystem?: string;
  /** OBX-11 and OBR-25 (default 'F'); 'keep' = the input's OBX-11 / OBR-25. */
  resultStatus?: string;
  /** Where an age goes (default 'nte'). */
  age?: AgePlacement;
  /** Flags computed by obx-check (msg.obx); without them the input's OBX-8 is used (the MG's `A` dropped). */
  flags?: FlagEntry[];
  /** MSH-10 to use (e.g. spoolControlId()); a fresh unique id when omitted. */
  controlId?: string;
  /** MSH-7 instant (default now) and its offset in minutes east of UTC (default the server's). */
  now?: Date;
  offsetMinutes?: number;
}

export interface ConvertResult {
  /** The ORU^R01, segments ended by CR. */
  text: string;
  /** MSH-10 of the new message. */
  controlId: string;
  /** MSH-10 of the input (the MG's BARCODE). */
  originalControlId: string;
  /** MSH-12 written. */
  version: string;
  /** MSH-18 written ('' when none) and the codec the text must be sent in. */
  charsetName: string;
  charset: CodecKey;
  /** OBX segments written (the age OBX included). */
  observations: number;
  /** Names of input segments that have no place in the ORU^R01 and were left out. */
  dropped: string[];
}

export const CONVERT_DEFAULTS = {
  layout: 'mg' as InputLayout, sendingApplication: 'MGS', sendingFacility: '', receivingApplication: '', receivingFacility: '',
  version: '2.5.1', processingId: 'P', charset: 'UNICODE UTF-8', patientIdField: 'PID-3.3', barcodeField: 'PID-3.1',
  deviceField: 'PID-3.2', patientAuthority: '', patientIdType: 'MR', barcodeIdType: 'ACSN', codingSystem: 'L',
  resultStatus: 'F', age: 'nte' as AgePlacement,
};

/** The delimiters every converted message is written with. */
const STD: Hl7Delimiters = {
  field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '', segment: '\r', encodingChars: '^~\\&',
};

const NUMBER = /^[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)$/;
const PLAIN_NUMBER = /^[+-]?(?:\d+(?:\.\d+)?|\.\d+)$/;
/** OBX-2 types whose value type is decided here (NM for a number, ST otherwise); others are carried. */
const RECOMPUTED_TYPES = new Set(['', 'NM', 'ST']);
const RESULT_STATUS = /^(?:keep|[A-Z])$/;

function bad(detail: string): never {
  throw new GatewayError('CONFIG_INVALID', { detail });
}

/** Checks a configuration value that may hold components (`MGS^1.2.3^ISO`): no field, repetition, escape or subcomponent characters. */
function checkHd(value: string, name: string): string {
  const v = value.trim();
  if (/[|~\\&\r\n]/.test(v)) bad(`${name} "${v}" contains | ~ \\ & or a line break`);
  return v;
}

function checkPath(value: string, name: string): string {
  const v = value.trim();
  if (v === '') return v;
  try { parsePath(v); } catch { bad(`${name} "${v}" is not an HL7 position such as PID-3.3`); }
  return v;
}

/**
 * A code map from the node's JSON: `{"HGB": "718-7^Hemoglobin [Mass/volume] in Blood^LN", "K": {"code": "2823-3",
 * "text": "Potassium", "system": "LN"}}`. Keys are matched case-insensitively. Throws CONFIG_INVALID.
 */
export function parseCodeMap(input: unknown): CodeMap {
  const map: CodeMap = new Map();
  if (input === undefined || input === null || (typeof input === 'string' && input.trim() === '')) return map;
  let data = input;
  if (typeof input === 'string') {
    try { data = JSON.parse(input); } catch (e) { bad(`code map is not JSON (${(e as Error).message})`); }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) bad('code map must be a JSON object {"test code": "code^text^system"}');
  for (const [key, v] of Object.entries(data as Record<string, unknown>)) {
    const k = key.trim().toUpperCase();
    if (k === '') bad('code map: empty test code');
    let ce: CodedElement;
    if (typeof v === 'string') {
      const [code = '', text = '', system = ''] = v.split('^');
      ce = { code: code.trim(), text: text.trim(), system: system.trim() };
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      for (const p of Object.keys(o)) if (!['code', 'text', 'system'].includes(p)) bad(`code map ${key}: unknown property "${p}"`);
      if (['code', 'text', 'system'].some((p) => o[p] !== undefined && typeof o[p] !== 'string')) bad(`code map ${key}: code, text and system must be strings`);
      ce = { code: String(o.code ?? '').trim(), text: String(o.text ?? '').trim(), system: String(o.system ?? '').trim() };
    } else {
      bad(`code map ${key}: value must be "code^text^system" or {"code", "text", "system"}`);
    }
    if (ce.code === '') bad(`code map ${key}: no code`);
    for (const part of [ce.code, ce.text ?? '', ce.system ?? '']) {
      if (/[|~\\&\r\n]/.test(part)) bad(`code map ${key}: | ~ \\ & or a line break in "${part}"`);
    }
    map.set(k, ce);
  }
  return map;
}

/** Options with every default applied and validated; throws CONFIG_INVALID. */
export function resolveConvertOptions(o: ConvertOptions = {}): Required<Omit<ConvertOptions, 'flags' | 'controlId' | 'now' | 'offsetMinutes'>> {
  const d = CONVERT_DEFAULTS;
  const str = (v: string | undefined, def: string): string => (v === undefined || v === null ? def : String(v));
  const layout = o.layout ?? d.layout;
  if (layout !== 'mg' && layout !== 'standard') bad('layout must be mg or standard');
  const version = str(o.version, d.version).trim() || d.version;
  if (!/^2\.[1-9](?:\.\d{1,2})?$/.test(version)) bad(`version "${version}" is not an HL7 v2 version such as 2.5.1`);
  const processingId = str(o.processingId, d.processingId).trim() || d.processingId;
  if (!/^[A-Z](?:\^[A-Z])?$/.test(processingId)) bad(`processing id "${processingId}" must be P, D or T`);
  const charset = str(o.charset, d.charset).trim();
  if (charset !== '') {
    try { resolveCharset(charset); } catch { bad(`character set "${charset}" is not an HL7 table 0211 value`); }
  }
  const resultStatus = str(o.resultStatus, d.resultStatus).trim() || d.resultStatus;
  if (!RESULT_STATUS.test(resultStatus)) bad(`result status "${resultStatus}" must be one letter (F, P, C) or keep`);
  const age = o.age ?? d.age;
  if (age !== 'nte' && age !== 'obx' && age !== 'none') bad('age must be nte, obx or none');
  const codingSystem = checkHd(str(o.codingSystem, d.codingSystem), 'coding system') || d.codingSystem;
  if (codingSystem.includes('^')) bad('coding system must not contain ^');
  const idPart = (v: string | undefined, def: string, name: string): string => {
    const s = checkHd(str(v, def), name);
    if (s.includes('^')) bad(`${name} must not contain ^`);
    return s;
  };
  return {
    layout, version, processingId, charset, resultStatus, age, codingSystem,
    sendingApplication: checkHd(str(o.sendingApplication, d.sendingApplication), 'sending application'),
    sendingFacility: checkHd(str(o.sendingFacility, d.sendingFacility), 'sending facility'),
    receivingApplication: checkHd(str(o.receivingApplication, d.receivingApplication), 'receiving application'),
    receivingFacility: checkHd(str(o.receivingFacility, d.receivingFacility), 'receiving facility'),
    patientIdField: checkPath(str(o.patientIdField, d.patientIdField), 'patient number field'),
    barcodeField: checkPath(str(o.barcodeField, d.barcodeField), 'barcode field'),
    deviceField: checkPath(str(o.deviceField, d.deviceField), 'device field'),
    patientAuthority: idPart(o.patientAuthority, d.patientAuthority, 'assigning authority'),
    patientIdType: idPart(o.patientIdType, d.patientIdType, 'patient identifier type'),
    barcodeIdType: idPart(o.barcodeIdType, d.barcodeIdType, 'barcode identifier type'),
    codeMap: o.codeMap ?? new Map(),
  };
}

/**
 * MSH-10 for a message handed out by a spool: the same for every attempt of one spool entry (also after a
 * restart), so the EMR can recognise a resend. Derived from the entry's idempotency key (else its sequence
 * number) and the destination; 'MGS' + 17 hex digits = 20 characters, the length MSH-10 allows up to v2.6.
 */
export function spoolControlId(tag: { key?: unknown; id?: unknown; messageId?: unknown; destination?: unknown }): string | undefined {
  const dest = typeof tag.destination === 'string' ? tag.destination : '';
  let basis: string | undefined;
  if (typeof tag.key === 'string' && tag.key !== '') basis = `key:${dest}:${tag.key}`;
  else if (typeof tag.id === 'number') basis = `seq:${dest}:${String(tag.messageId ?? '')}:${tag.id}`;
  if (basis === undefined) return undefined;
  return 'MGS' + createHash('sha256').update(basis, 'utf8').digest('hex').slice(0, 17).toUpperCase();
}

/** True when the input's delimiters are the standard ones, so raw text can be copied as it is. */
function standardDelimiters(d: Hl7Delimiters): boolean {
  return d.field === '|' && d.encodingChars === '^~\\&';
}

/** Raw text written with the input's delimiters -> the same value written with `|^~\&` (structure kept). */
function reencode(raw: string, d: Hl7Delimiters): string {
  if (raw === '' || standardDelimiters(d)) return raw;
  const leaf = (s: string): string => (s === '""' ? s : encodeEscapes(decodeEscapes(s, d), STD));
  const splitBy = (s: string, sep: string): string[] => (sep === '' ? [s] : s.split(sep));
  return splitBy(raw, d.repetition).map((rep) => splitBy(rep, d.component).map((comp) =>
    splitBy(comp, d.subcomponent).map(leaf).join('&')).join('^')).join('~');
}

/** First repetition of a raw field. */
function firstRep(raw: string, d: Hl7Delimiters): string {
  return d.repetition === '' ? raw : raw.split(d.repetition)[0];
}

/** Raw text of a coded element with `^` between its parts (trailing empty parts dropped). */
function codedRaw(ce: CodedElement): string {
  const parts = [ce.code, ce.text ?? '', ce.system ?? ''].map((p) => encodeEscapes(p, STD));
  while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  return parts.join('^');
}

/** Raw text of a configured value whose `^` separate components (each escaped on its own). */
function componentsRaw(v: string): string {
  return v.split('^').map((p) => encodeEscapes(p, STD)).join('^');
}

/** HL7 table 0001 code for a sex value; unknown text becomes 'U', empty stays empty. */
function sexCode(value: string): string {
  const s = value.trim().toUpperCase();
  if (s === '') return '';
  if (s === '남' || s === '남자' || s === 'MALE') return 'M';
  if (s === '여' || s === '여자' || s === 'FEMALE') return 'F';
  return /^[MFOUAN]$/.test(s) ? s : 'U';
}

/** UCUM unit of an MG age (`50`, `50Y`, `6M`, `3W`, `10D`); undefined when the text is not an age. */
function parseAgeText(text: string): { value: string; unit: string; name: string } | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([YMWD]?)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { '': ['a', 'year'], Y: ['a', 'year'], M: ['mo', 'month'], W: ['wk', 'week'], D: ['d', 'day'] }[m[2].toUpperCase()] as string[];
  return { value: m[1], unit: unit[0], name: unit[1] };
}

/** A DTM birth date (8 digits or more) in an MG age field. */
const BIRTH_DATE = /^\d{8}(?:\d{2,6}(?:\.\d{1,4})?)?(?:[+-]\d{4})?$/;

/** OBX-7 in the standard form: the MG's `low~high` becomes `low-high` (`>=low` / `<=high` with one side); anything else is copied. */
function standardRange(seg: Segment, d: Hl7Delimiters): string {
  const raw = seg.field(7);
  if (raw === '' || raw === '""') return raw;
  const reps = seg.repetitions(7).map((r) => r.trim());
  if (reps.length === 2) {
    const [a, b] = reps;
    const ok = (x: string): boolean => x === '' || NUMBER.test(x);
    if ((a !== '' || b !== '') && ok(a) && ok(b)) {
      const text = a !== '' && b !== '' ? `${a}-${b}` : a !== '' ? `>=${a}` : `<=${b}`;
      return encodeEscapes(text, STD);
    }
  }
  return reencode(raw, d);
}

interface Group {
  obr?: Segment;
  notes: Segment[];
  observations: { seg: Segment; index: number; notes: Segment[] }[];
}

/**
 * Convert an MG barcode result (or a standard-layout result) into a standard ORU^R01. Throws GatewayError
 * HL7_MISSING_MSH / HL7_BAD_SEPARATORS (not HL7), HL7_MISSING_SEGMENT (no PID, no OBX), HL7_MISSING_FIELD
 * (neither a patient number nor a barcode), HL7_BAD_CHARSET (text the MSH-18 charset cannot carry), CONFIG_INVALID.
 */
export function convertToOru(input: string | Hl7Message, options: ConvertOptions = {}): ConvertResult {
  const o = resolveConvertOptions(options);
  const src = typeof input === 'string' ? Hl7Message.parse(input) : input;
  const d = src.delimiters;
  const mg = o.layout === 'mg';

  const pid = src.segment('PID');
  if (!pid) throw new GatewayError('HL7_MISSING_SEGMENT', { location: 'PID', hl7Code: '100', ackCode: 'AE' });
  const read = (path: string): string => (path === '' ? '' : (src.get(path) ?? '').trim());
  const patientNo = read(o.patientIdField);
  const barcode = read(o.barcodeField);
  const device = read(o.deviceField);
  if (patientNo === '' && barcode === '') {
    throw new GatewayError('HL7_MISSING_FIELD', { location: o.patientIdField || o.barcodeField || 'PID-3', hl7Code: '101', ackCode: 'AE' });
  }

  // Input structure: patient notes, visit, then order groups (OBR with its notes, OBX with theirs).
  const patientNotes: Segment[] = [];
  let pv1: Segment | undefined;
  const groups: Group[] = [];
  const dropped: string[] = [];
  let obxIndex = 0;
  let seenPid = false;
  for (const seg of src.segments().slice(1)) {
    const group = groups[groups.length - 1];
    switch (seg.name) {
      case 'PID':
        if (seenPid) dropped.push(seg.name);
        seenPid = true;
        break;
      case 'PV1':
        if (pv1 || groups.length) dropped.push(seg.name); else pv1 = seg;
        break;
      case 'OBR':
        groups.push({ obr: seg, notes: [], observations: [] });
        break;
      case 'OBX': {
        obxIndex++;
        const g = group ?? (groups[groups.push({ notes: [], observations: [] }) - 1]);
        g.observations.push({ seg, index: obxIndex, notes: [] });
        break;
      }
      case 'NTE':
        if (!group) patientNotes.push(seg);
        else if (group.observations.length) group.observations[group.observations.length - 1].notes.push(seg);
        else group.notes.push(seg);
        break;
      default:
        dropped.push(seg.name);
    }
  }
  if (obxIndex === 0) throw new GatewayError('HL7_MISSING_SEGMENT', { location: 'OBX', hl7Code: '100', ackCode: 'AE' });

  const now = options.now ?? new Date();
  const nowText = formatDtm(now, options.offsetMinutes ?? -now.getTimezoneOffset());
  const controlId = options.controlId ?? newControlId(now);
  const v24 = versionAtLeast(o.version, '2.4');

  // MSH
  const msh9 = versionAtLeast(o.version, '2.3.1') ? 'ORU^R01^ORU_R01' : 'ORU^R01';
  const msh = ['MSH', STD.encodingChars, componentsRaw(o.sendingApplication), componentsRaw(o.sendingFacility),
    componentsRaw(o.receivingApplication), componentsRaw(o.receivingFacility), nowText, '', msh9,
    encodeEscapes(controlId, STD), componentsRaw(o.processingId), encodeEscapes(o.version, STD)];
  if (o.charset !== '') msh.push('', '', '', '', '', encodeEscapes(o.charset, STD));
  const out = Hl7Message.parse(msh.join('|') + '\r');

  // PID
  const outPid = out.addSegment('PID', ['1']);
  const ids: string[] = [];
  const cx = (id: string, type: string): string => [encodeEscapes(id, STD), '', '', encodeEscapes(o.patientAuthority, STD),
    encodeEscapes(type, STD)].join('^').replace(/\^+$/, '');
  if (patientNo !== '') ids.push(cx(patientNo, o.patientIdType));
  if (barcode !== '' && o.barcodeIdType !== '') ids.push(cx(barcode, o.barcodeIdType));
  outPid.setRaw('3', ids.join('~'));
  outPid.setRaw('5', reencode(firstRep(pid.field(mg ? 4 : 5), d), d));
  let age = '';
  if (mg) {
    const ageText = (pid.get('6') ?? '').trim();
    if (BIRTH_DATE.test(ageText)) outPid.set('7', ageText);   // a site whose MG sends a birth date there
    else age = ageText;
  } else {
    outPid.setRaw('7', reencode(firstRep(pid.field(7), d), d));
  }
  outPid.set('8', sexCode(pid.get(mg ? '7' : '8') ?? ''));

  const ageParts = age === '' ? undefined : parseAgeText(age);
  let nteCount = 0;
  if (age !== '' && o.age === 'nte') {
    out.addSegment('NTE', [String(++nteCount), 'L', `Patient age: ${age}`]);
  }
  for (const n of patientNotes) copyNote(out, n, ++nteCount, d);

  // PV1
  if (pv1) {
    const outPv1 = out.addSegment('PV1', ['1']);
    const cls = reencode(firstRep(pv1.field(2), d), d);
    outPv1.setRaw('2', cls === '' ? 'U' : cls);
    outPv1.setRaw('3', reencode(firstRep(pv1.field(3), d), d));
  }

  // Order groups
  const flags = options.flags;
  const flagFor = (index: number, setId: string): string | undefined => {
    if (!flags) return undefined;
    const e = flags.find((f) => f.index === index) ?? flags.find((f) => f.index === undefined && f.setId === setId);
    return e ? String(e.flag ?? '') : '';
  };
  const codeFor = (key: string): CodedElement | undefined => (key === '' ? undefined : o.codeMap.get(key.toUpperCase()));
  let observations = 0;
  groups.forEach((g, gi) => {
    const obr = g.obr;
    const firstObx = g.observations[0]?.seg;
    const orderId = (n: 2 | 3): string => {
      const raw = obr ? reencode(firstRep(obr.field(n), d), d) : '';
      return raw !== '' ? raw : encodeEscapes(barcode, STD);
    };
    const placer = orderId(2);
    const filler = orderId(3);
    out.addSegment('ORC', ['RE']).setRaw('2', placer).setRaw('3', filler);

    const outObr = out.addSegment('OBR', [String(gi + 1)]);
    outObr.setRaw('2', placer).setRaw('3', filler);
    const service = obr ? obr.get('4.1') ?? '' : '';
    if (service !== '') {
      const mapped = codeFor(service);
      outObr.setRaw('4', mapped ? codedRaw(mapped) : reencode(firstRep(obr!.field(4), d), d));
    } else {
      const key = device !== '' ? device : 'RESULT';
      outObr.setRaw('4', codedRaw(codeFor(key) ?? { code: key, text: device !== '' ? device : 'Results', system: o.codingSystem }));
    }
    let observed = obr ? reencode(firstRep(obr.field(7), d), d) : '';
    if (observed === '' && firstObx) observed = reencode(firstRep(firstObx.field(14), d), d);
    if (observed === '') observed = reencode(firstRep(src.segments()[0].field(7), d), d);
    outObr.setRaw('7', observed);
    outObr.setRaw('22', nowText);
    outObr.setRaw('25', o.resultStatus === 'keep' ? (obr ? reencode(firstRep(obr.field(25), d), d) : '') : o.resultStatus);
    let groupNotes = 0;
    for (const n of g.notes) copyNote(out, n, ++groupNotes, d);

    let setId = 0;
    if (gi === 0 && ageParts !== undefined && o.age === 'obx') {
      const a = out.addSegment('OBX', [String(++setId), 'NM']);
      a.setRaw('3', '30525-0^Age^LN').set('5', ageParts.value).setRaw('6', `${ageParts.unit}^${ageParts.name}^UCUM`)
        .setRaw('11', o.resultStatus === 'keep' ? 'F' : o.resultStatus).setRaw('14', observed);
      observations++;
    } else if (gi === 0 && age !== '' && o.age === 'obx') {
      const a = out.addSegment('OBX', [String(++setId), 'ST']);
      a.setRaw('3', '30525-0^Age^LN').set('5', age).setRaw('11', o.resultStatus === 'keep' ? 'F' : o.resultStatus).setRaw('14', observed);
      observations++;
    }

    for (const { seg, index, notes } of g.observations) {
      const x = out.addSegment('OBX', [String(++setId)]);
      observations++;
      const inType = (seg.get('2') ?? '').trim().toUpperCase();
      const recomputed = RECOMPUTED_TYPES.has(inType);
      const valueRaw = reencode(seg.field(5), d);
      let type = inType;
      if (recomputed) type = PLAIN_NUMBER.test((seg.get('5') ?? '').trim()) && !valueRaw.includes('~') ? 'NM' : 'ST';
      x.set('2', type);

      // OBX-3: an MG row names its test in OBX-4 (OBX-3 is the device's channel); a coded row names it in OBX-3.
      const mgTest = mg ? (seg.get('4.1') ?? '').trim() : '';
      const code3 = (seg.get('3.1') ?? '').trim();
      const name3 = (seg.get('3.2') ?? '').trim();
      const mapped = codeFor(mgTest) ?? (mgTest === '' ? codeFor(code3) ?? codeFor(name3) : undefined);
      if (mapped) x.setRaw('3', codedRaw(mapped));
      else if (mgTest !== '') x.setRaw('3', codedRaw({ code: mgTest, text: mgTest, system: o.codingSystem }));
      else if ((seg.get('3.3') ?? '') !== '') x.setRaw('3', reencode(firstRep(seg.field(3), d), d));
      else if (code3 !== '') x.setRaw('3', codedRaw({ code: code3, text: name3 || code3, system: o.codingSystem }));
      if (mgTest === '') x.setRaw('4', reencode(seg.field(4), d));

      x.setRaw('5', valueRaw);
      x.setRaw('6', reencode(firstRep(seg.field(6), d), d));
      x.setRaw('7', standardRange(seg, d));
      if (recomputed || inType === 'SN') {
        const reps = seg.repetitions(8);
        let first = flagFor(index, seg.get('1') ?? '');
        if (first === undefined) first = mg && reps[0] === 'A' ? '' : reps[0] ?? '';
        const all = [first, ...reps.slice(1)].map((r) => encodeEscapes(r, STD));
        while (all.length > 1 && all[all.length - 1] === '') all.pop();
        x.setRaw('8', all.join('~'));
      } else {
        x.setRaw('8', reencode(seg.field(8), d));
      }
      x.setRaw('11', o.resultStatus === 'keep' ? reencode(firstRep(seg.field(11), d), d) : o.resultStatus);
      const when = reencode(firstRep(seg.field(14), d), d);
      x.setRaw('14', when !== '' ? when : observed);
      if (v24) {
        const equipment = reencode(seg.field(18), d);
        x.setRaw('18', equipment !== '' ? equipment : encodeEscapes(device, STD));
      }
      let noteCount = 0;
      for (const n of notes) copyNote(out, n, ++noteCount, d);
    }
  });

  const text = out.encode();
  const codec = o.charset === '' ? 'utf-8' : resolveCharset(o.charset);
  encodeText(text, codec);   // throws HL7_BAD_CHARSET when a character cannot be sent in that charset
  return {
    text, controlId, originalControlId: src.controlId, version: o.version, charsetName: o.charset, charset: codec,
    observations, dropped,
  };
}

/** Appends a copy of an NTE (source, comment, comment type) with a new set id. */
function copyNote(out: Hl7Message, n: Segment, setId: number, d: Hl7Delimiters): void {
  const nte = out.addSegment('NTE', [String(setId)]);
  for (const f of [2, 3, 4]) nte.setRaw(String(f), reencode(n.field(f), d));
}

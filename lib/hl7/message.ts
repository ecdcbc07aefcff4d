// SPDX-License-Identifier: Apache-2.0
/**
 * In-house HL7 v2 message model: parse, 1-based access in HL7 notation, modify, encode.
 *
 * Design points (why, not what):
 * - Segments keep their original text until they are modified, so an untouched message encodes
 *   byte-exactly and a modification re-encodes only the touched segment (and, inside it, only the
 *   touched field). Forwarded messages therefore keep every quirk the sender put in them.
 * - Fields are split lazily on first access: routing usually reads MSH and a handful of fields.
 * - `get` returns DECODED text (escape sequences resolved); `""` (HL7 null) is returned as `null`,
 *   distinct from `''` (empty or absent).
 * - Delimiters come from MSH-1/MSH-2 (any legal choice, including the v2.7 truncation character).
 */
import { GatewayError } from '../errors';
import { decodeEscapes, encodeEscapes } from './escape';

/** Delimiters of one message, read from MSH-1 and MSH-2 ('' where MSH-2 does not define one). */
export interface Hl7Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  /** v2.7+ truncation character (5th character of MSH-2), '' when absent. */
  truncation: string;
  /** Segment terminator used when encoding: always CR. */
  segment: '\r';
  /** MSH-2 exactly as received. */
  encodingChars: string;
}

/** The HL7 null value: "known to be null" (delete the stored value), distinct from empty. */
export const HL7_NULL = '""';

/** A parsed position in HL7 notation; all numbers are 1-based. */
export interface Hl7Path {
  segment?: string;
  /** n-th segment of that name (OBX[2]-5); undefined = first. */
  segmentIndex?: number;
  field: number;
  /** repetition; undefined = the whole field for getRaw/set, the first repetition for get. */
  repetition?: number;
  component?: number;
  subcomponent?: number;
}

const MSG_PATH = /^([A-Za-z][A-Za-z0-9]{2})(?:\[(\d+)\])?-(\d+)(?:\[(\d+)\])?(?:\.(\d+)(?:\.(\d+))?)?$/;
const SEG_PATH = /^(\d+)(?:\[(\d+)\])?(?:\.(\d+)(?:\.(\d+))?)?$/;
const pathCache = new Map<string, Hl7Path>();

function badPath(path: string): never {
  throw new GatewayError('HL7_BAD_PATH', { path });
}

function positive(s: string | undefined, path: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!(n >= 1)) badPath(path);
  return n;
}

/** Parse 'PID-3[2].1.2', 'OBX[2]-5' (message paths) or '7[2].1' (segment-relative paths). */
export function parsePath(path: string | number, segmentRelative = false): Hl7Path {
  const key = (segmentRelative ? 's:' : 'm:') + path;
  const hit = pathCache.get(key);
  if (hit) return hit;
  const text = String(path).trim();
  let p: Hl7Path;
  if (segmentRelative) {
    const m = SEG_PATH.exec(text);
    if (!m) badPath(text);
    p = { field: Number(m[1]), repetition: positive(m[2], text), component: positive(m[3], text),
      subcomponent: positive(m[4], text) };
  } else {
    const m = MSG_PATH.exec(text);
    if (!m) badPath(text);
    p = { segment: m[1].toUpperCase(), segmentIndex: positive(m[2], text), field: Number(m[3]),
      repetition: positive(m[4], text), component: positive(m[5], text), subcomponent: positive(m[6], text) };
  }
  if (p.segment === undefined && p.field < 0) badPath(text);
  if (pathCache.size < 10000) pathCache.set(key, p);
  return p;
}

function split(text: string, sep: string): string[] {
  return sep === '' ? [text] : text.split(sep);
}

/** Replace element `index` (0-based) of `parts`, padding with '' as needed; '' beyond the end is a no-op. */
function replaceAt(parts: string[], index: number, value: string): boolean {
  if (index >= parts.length) {
    if (value === '') return false;
    while (parts.length < index) parts.push('');
    parts.push(value);
    return true;
  }
  if (parts[index] === value) return false;
  parts[index] = value;
  return true;
}

interface SegmentOwner { touch(): void }

/** One segment. Obtain it from an Hl7Message; field numbers are HL7's (1-based, MSH-1 = field separator). */
export class Segment {
  /** Segment name, e.g. 'OBX'. */
  readonly name: string;
  private text: string | undefined;
  private fields: string[] | undefined;

  /** @internal */
  constructor(private readonly d: Hl7Delimiters, text: string, private readonly owner: SegmentOwner) {
    const i = text.indexOf(d.field);
    this.name = i < 0 ? text : text.slice(0, i);
    this.text = text;
  }

  private get isMsh(): boolean {
    return this.name === 'MSH';
  }

  /** Raw fields indexed by HL7 field number (index 0 = name; for MSH, 1 = field separator, 2 = MSH-2). */
  private all(): string[] {
    if (this.fields === undefined) {
      const parts = (this.text as string).split(this.d.field);
      if (this.isMsh || this.name === 'FHS' || this.name === 'BHS') parts.splice(1, 0, this.d.field);
      this.fields = parts;
    }
    return this.fields;
  }

  /** Header segments count the field separator itself as field 1. */
  private get headerLike(): boolean {
    return this.isMsh || this.name === 'FHS' || this.name === 'BHS';
  }

  /** Number of the last field present (trailing empty fields included as received). */
  get fieldCount(): number {
    return this.all().length - 1;
  }

  /** Raw text of field `n` (all repetitions, escapes kept); '' when absent. */
  field(n: number): string {
    const f = this.all();
    return n < f.length && n >= 1 ? f[n] : '';
  }

  /** Raw text at a segment-relative path ('7', '7[2]', '3.1', '5.1.2'); '' when absent. */
  getRaw(path: string | number): string {
    return this.rawAt(parsePath(path, true));
  }

  /** @internal `firstRepetition`: read repetition 1 when the path names none (get) instead of the whole field (getRaw). */
  rawAt(p: Hl7Path, firstRepetition = false): string {
    const raw = this.field(p.field);
    if (this.headerLike && p.field <= 2) return raw;   // MSH-1/MSH-2 hold the delimiters themselves
    if (p.repetition === undefined && p.component === undefined && !firstRepetition) return raw;
    if (raw === '') return '';
    const d = this.d;
    if (p.repetition === undefined && p.component === undefined && raw.indexOf(d.repetition) < 0) return raw;
    const reps = split(raw, d.repetition);
    const rep = reps[(p.repetition ?? 1) - 1];
    if (rep === undefined) return '';
    if (p.component === undefined) return rep;
    const comps = split(rep, d.component);
    const comp = comps[p.component - 1];
    if (comp === undefined) return '';
    if (p.subcomponent === undefined) return comp;
    return split(comp, d.subcomponent)[p.subcomponent - 1] ?? '';
  }

  /**
   * Decoded text at a segment-relative path: null for the HL7 null `""`, '' for empty or absent.
   * Without a repetition index the first repetition is read; without a component the whole
   * repetition is decoded (component separators inside it stay as they are).
   */
  get(path: string | number): string | null {
    return this.getAt(parsePath(path, true));
  }

  /** @internal */
  getAt(p: Hl7Path): string | null {
    if (this.headerLike && p.field <= 2) return this.field(p.field);
    const raw = this.rawAt(p, true);
    if (raw === HL7_NULL) return null;
    return decodeEscapes(raw, this.d);
  }

  /** Decoded text of every repetition of field `n` ([] when empty; a null repetition gives ''). */
  repetitions(n: number): string[] {
    const raw = this.field(n);
    if (raw === '') return [];
    if (this.headerLike && n <= 2) return [raw];
    return split(raw, this.d.repetition).map((r) => (r === HL7_NULL ? '' : decodeEscapes(r, this.d)));
  }

  /**
   * Set decoded text (escaped on write); null writes the HL7 null `""`. A path without repetition and
   * component ('8') replaces the whole field, all repetitions included; '7[2]' or '3.1' replace only that part.
   */
  set(path: string | number, value: string | null): this {
    let raw = value === null ? HL7_NULL : encodeEscapes(value, this.d);
    // The text '""' would read back as the HL7 null: write its quotes as a hex escape instead.
    if (value === HL7_NULL && this.d.escape !== '') raw = `${this.d.escape}X2222${this.d.escape}`;
    return this.setRawAt(parsePath(path, true), raw);
  }

  /** Set raw text (already escaped, may contain separators of the right level). */
  setRaw(path: string | number, raw: string): this {
    return this.setRawAt(parsePath(path, true), raw);
  }

  /** @internal */
  setRawAt(p: Hl7Path, raw: string): this {
    if (p.field < 1 || (this.headerLike && p.field <= 2)) {
      throw new GatewayError('HL7_BAD_PATH', { path: `${this.name}-${p.field}`, detail: 'read-only' });
    }
    const d = this.d;
    const fields = this.all();
    let value = raw;
    if (p.repetition !== undefined || p.component !== undefined) {
      const reps = split(fields[p.field] ?? '', d.repetition);
      const ri = (p.repetition ?? 1) - 1;
      let repValue = raw;
      if (p.component !== undefined) {
        const comps = split(reps[ri] ?? '', d.component);
        let compValue = raw;
        if (p.subcomponent !== undefined) {
          const subs = split(comps[p.component - 1] ?? '', d.subcomponent);
          replaceAt(subs, p.subcomponent - 1, raw);
          compValue = subs.join(d.subcomponent);
        }
        replaceAt(comps, p.component - 1, compValue);
        repValue = comps.join(d.component);
      }
      replaceAt(reps, ri, repValue);
      value = reps.join(d.repetition);
    }
    if (replaceAt(fields, p.field, value)) {
      this.text = undefined;
      this.owner.touch();
    }
    return this;
  }

  /** The segment's HL7 text without terminator (original text when unmodified). */
  toString(): string {
    if (this.text === undefined) {
      const f = this.fields as string[];
      this.text = this.headerLike
        ? f[0] + this.d.field + f.slice(2).join(this.d.field)
        : f.join(this.d.field);
    }
    return this.text;
  }
}

const VALID_MSH2 = /^[^A-Za-z0-9\r\n]{1,5}$/;

/** Read delimiters from a header segment's text (MSH, FHS or BHS) at `start`; throws HL7_BAD_SEPARATORS. */
export function readDelimiters(text: string, start = 0): Hl7Delimiters {
  const fs = text.charAt(start + 3);
  if (fs === '' || /[A-Za-z0-9\r\n ]/.test(fs)) {
    throw new GatewayError('HL7_BAD_SEPARATORS', { detail: 'MSH-1' });
  }
  let end = start + 4;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if (c === 13 || c === 10 || text[end] === fs) break;
    end++;
  }
  const enc = text.slice(start + 4, end);
  if (!VALID_MSH2.test(enc) || new Set(enc + fs).size !== enc.length + 1) {
    throw new GatewayError('HL7_BAD_SEPARATORS', { detail: 'MSH-2' });
  }
  return {
    field: fs, component: enc.charAt(0), repetition: enc.charAt(1), escape: enc.charAt(2),
    subcomponent: enc.charAt(3), truncation: enc.charAt(4), segment: '\r', encodingChars: enc,
  };
}

/**
 * Split text into segment lines at CR, LF or CRLF, dropping blank lines. When the text uses CR, a lone LF
 * ends a segment only where a segment name and the field separator follow: senders put raw LFs inside
 * text fields (OBX-5 of a report), and those stay data.
 */
export function splitSegments(text: string, fieldSep = '|'): string[] {
  const hasLf = text.indexOf('\n') >= 0;
  const hasCr = text.indexOf('\r') >= 0;
  const lines = !hasLf ? text.split('\r') : !hasCr ? text.split('\n') : text.split(/\r\n|\r/);
  const out: string[] = [];
  for (const l of lines) {
    if (hasLf && hasCr && l.indexOf('\n') >= 0) {
      const parts = l.split('\n');
      let cur = parts[0];
      let blanks = 0;                                      // empty lines: data only if data follows
      for (let i = 1; i < parts.length; i++) {
        const p = parts[i];
        if (SEGMENT_START.test(p) && (p.length === 3 || p.charAt(3) === fieldSep)) {
          if (cur.trim() !== '') out.push(cur);
          cur = p;
          blanks = 0;
        } else if (p === '') {
          blanks++;
        } else {
          cur += '\n'.repeat(blanks + 1) + p;
          blanks = 0;
        }
      }
      if (cur.trim() !== '') out.push(cur);
    } else if (l !== '' && l.trim() !== '') {
      out.push(l);
    }
  }
  return out;
}

const SEGMENT_START = /^[A-Z][A-Z0-9]{2}/;

/** An HL7 v2 message. */
export class Hl7Message {
  readonly delimiters: Hl7Delimiters;
  private readonly segs: Segment[];
  private modified = false;
  private readonly owner: SegmentOwner;

  private constructor(private readonly source: string, delimiters: Hl7Delimiters, lines: string[],
                      private readonly trailingTerminator: boolean) {
    this.delimiters = delimiters;
    this.owner = { touch: () => { this.modified = true; } };
    this.segs = lines.map((l) => new Segment(delimiters, l, this.owner));
  }

  /**
   * Parse one message (CR, LF or CRLF segment ends). Throws GatewayError HL7_MISSING_MSH when the text
   * does not start with MSH (leading blank lines and a BOM are tolerated) and HL7_BAD_SEPARATORS when
   * MSH-1/MSH-2 are unusable.
   */
  static parse(text: string): Hl7Message {
    if (typeof text !== 'string') throw new GatewayError('HL7_MISSING_MSH');
    let start = 0;
    while (start < text.length) {
      const c = text.charCodeAt(start);
      if (c === 13 || c === 10 || c === 32 || c === 9 || c === 0xfeff) start++;
      else break;
    }
    if (!text.startsWith('MSH', start)) throw new GatewayError('HL7_MISSING_MSH');
    const delimiters = readDelimiters(text, start);
    const last = text.charCodeAt(text.length - 1);
    return new Hl7Message(text, delimiters, splitSegments(start ? text.slice(start) : text, delimiters.field),
      last === 13 || last === 10);
  }

  /** A new message consisting of an MSH built from raw field values (MSH-3 onwards). */
  static create(mshFields: string[] = [], encodingChars = '^~\\&', fieldSep = '|'): Hl7Message {
    return Hl7Message.parse(['MSH', encodingChars, ...mshFields].join(fieldSep) + '\r');
  }

  private locate(p: Hl7Path): Segment | undefined {
    const name = p.segment as string;
    let want = p.segmentIndex ?? 1;
    for (const s of this.segs) if (s.name === name && --want === 0) return s;
    return undefined;
  }

  /** Decoded text at a path ('PID-3.1', 'PID-3[2].1', 'OBX[2]-5'); null = HL7 null, '' = empty/absent. */
  get(path: string): string | null {
    const p = parsePath(path);
    const s = this.locate(p);
    return s ? s.getAt(p) : '';
  }

  /** Raw text at a path exactly as in the message (field level: all repetitions); '' when absent. */
  getRaw(path: string): string {
    const p = parsePath(path);
    const s = this.locate(p);
    return s ? s.rawAt(p) : '';
  }

  /** Set decoded text (escaped on write; null writes `""`). The segment must exist (else HL7_BAD_PATH). */
  set(path: string, value: string | null): this {
    this.need(path).set(path.slice(path.indexOf('-') + 1), value);
    return this;
  }

  /** Set raw (already escaped) text at a path. The segment must exist (else HL7_BAD_PATH). */
  setRaw(path: string, raw: string): this {
    this.need(path).setRaw(path.slice(path.indexOf('-') + 1), raw);
    return this;
  }

  private need(path: string): Segment {
    const s = this.locate(parsePath(path));
    if (!s) throw new GatewayError('HL7_BAD_PATH', { path, detail: 'no such segment' });
    return s;
  }

  /** All segments with that name, in order (all segments when no name is given). */
  segments(name?: string): Segment[] {
    return name === undefined ? this.segs.slice() : this.segs.filter((s) => s.name === name);
  }

  /** The first segment with that name. */
  segment(name: string): Segment | undefined {
    return this.segs.find((s) => s.name === name);
  }

  /**
   * Append a new segment (or insert it at 0-based `index` among all segments). `fields` are DECODED
   * values for fields 1..n (null writes `""`).
   */
  addSegment(name: string, fields: Array<string | null> = [], index?: number): Segment {
    if (!/^[A-Z][A-Z0-9]{2}$/.test(name) || name === 'MSH') {
      throw new GatewayError('HL7_BAD_SEGMENT', { segment: name });
    }
    const seg = new Segment(this.delimiters, name, this.owner);
    fields.forEach((v, i) => seg.set(i + 1, v));
    if (index === undefined || index >= this.segs.length) this.segs.push(seg);
    else this.segs.splice(Math.max(1, index), 0, seg);   // MSH stays first
    this.modified = true;
    return seg;
  }

  /** Remove a segment of this message (MSH cannot be removed). */
  removeSegment(seg: Segment): void {
    const i = this.segs.indexOf(seg);
    if (i > 0) {
      this.segs.splice(i, 1);
      this.modified = true;
    }
  }

  /**
   * HL7 text: segments joined by CR, with a trailing CR when the input had a terminator at its end.
   * An unmodified CR-terminated message is returned exactly as received.
   */
  encode(): string {
    if (!this.modified && this.source.indexOf('\n') < 0) return this.source;
    const body = this.segs.map((s) => s.toString()).join('\r');
    return this.trailingTerminator ? body + '\r' : body;
  }

  toString(): string {
    return this.encode();
  }

  /** True once anything was set, added or removed. */
  get isModified(): boolean {
    return this.modified;
  }

  private msh(n: number): string {
    return this.segs[0].getAt({ field: n, component: 1 }) ?? '';
  }

  /** MSH-9.1^MSH-9.2 ('ORU^R01'; just 'ACK' when there is no trigger). */
  get type(): string {
    const code = this.msh(9);
    const trigger = this.segs[0].getAt({ field: 9, component: 2 }) ?? '';
    return trigger === '' ? code : `${code}^${trigger}`;
  }

  /** MSH-9.2, the trigger event. */
  get trigger(): string {
    return this.segs[0].getAt({ field: 9, component: 2 }) ?? '';
  }

  /** MSH-10 (decoded; '' for `""`). */
  get controlId(): string {
    return this.segs[0].getAt({ field: 10 }) ?? '';
  }

  /** MSH-12.1, the version id ('2.3', '2.5.1'). */
  get version(): string {
    return this.msh(12);
  }

  /** MSH-18 (first repetition), the character set; '' when absent. */
  get charset(): string {
    return this.segs[0].getAt({ field: 18 }) ?? '';
  }

  /** A deep copy (parsed from the current encoding). */
  clone(): Hl7Message {
    return Hl7Message.parse(this.encode());
  }
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Original-mode ACK/NAK builder (HL7 v2 chapter 2, case 07 and case 09): sender and receiver swapped with
 * their components, MSA-2 = the received MSH-10 exactly, a fresh MSH-10, MSH-11/MSH-12 copied, MSH-9
 * ACK^<trigger>^ACK from v2.4 on, ERR in the form of the message's version, every segment ended by CR.
 */
import { randomBytes } from 'node:crypto';
import { formatDtm } from './datetime';
import { encodeEscapes } from './escape';
import { Hl7Message, parsePath } from './message';
import { peekMsh, type MshPeek } from './peek';

export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

export interface Hl7ErrorDetail {
  /** Position in HL7 notation: 'PID-3', 'OBX[2]-5', 'PID-3.1'. */
  location?: string;
  /** HL7 table 0357 code: '100' '101' '102' '103' '200' '203' '204' '207' ... */
  code: string;
  /** Human-readable text (ERR-8; ERR-1.4.2 before v2.5). Never patient data. */
  text?: string;
  /** ERR-4 (v2.5+): E error (default), W warning, I information. */
  severity?: 'E' | 'W' | 'I';
}

export interface AckOptions {
  code: AckCode;
  /** MSA-3 text. Defaults to the first error's text for AE/AR/CE/CR. */
  text?: string;
  errors?: Hl7ErrorDetail[];
  /** MSH-10 of the ACK itself; a fresh unique id when omitted. */
  controlId?: string;
  /** MSH-7 instant; now when omitted. */
  now?: Date;
  /** MSH-12 when the received message has none (no MSH at all): default '2.5'. */
  fallbackVersion?: string;
  /** MSH-18 of the ACK; default: the received MSH-18. */
  charset?: string;
  /** peekMsh of the received text when the caller already has it (saves reading the MSH again). */
  peek?: MshPeek | null;
}

/** HL7 table 0357 (message error condition codes), standard texts. */
export const HL7_ERROR_TEXTS: Readonly<Record<string, string>> = {
  0: 'Message accepted', 100: 'Segment sequence error', 101: 'Required field missing',
  102: 'Data type error', 103: 'Table value not found', 104: 'Value too long',
  200: 'Unsupported message type', 201: 'Unsupported event code', 202: 'Unsupported processing id',
  203: 'Unsupported version id', 204: 'Unknown key identifier', 205: 'Duplicate key identifier',
  206: 'Application record locked', 207: 'Application internal error',
};

let counter = 0;
const instance = randomBytes(2).readUInt16BE(0);

/** A fresh message control id: 'MGS' + time + instance + counter, 20 characters at most (fits v2.3 ST(20)). */
export function newControlId(now: Date = new Date()): string {
  counter = (counter + 1) % 46656;
  return 'MGS' + now.getTime().toString(36).toUpperCase()
    + (instance % 1296).toString(36).toUpperCase().padStart(2, '0')
    + counter.toString(36).toUpperCase().padStart(3, '0');
}

/** Numeric comparison of HL7 version ids ('2.3.1' < '2.4'); unknown text compares as 0. */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map((x) => Number(x));
  const b = min.split('.').map((x) => Number(x));
  if (a.some((x) => !Number.isFinite(x))) return false;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

interface ErrLocation { segment: string; sequence: string; field: string; component: string; sub: string; rep: string }

function location(loc: string | undefined): ErrLocation | undefined {
  if (!loc) return undefined;
  try {
    const p = parsePath(loc);
    return {
      segment: p.segment as string, sequence: String(p.segmentIndex ?? 1), field: String(p.field),
      rep: p.component !== undefined || p.repetition !== undefined ? String(p.repetition ?? 1) : '',
      component: p.component !== undefined ? String(p.component) : '',
      sub: p.subcomponent !== undefined ? String(p.subcomponent) : '',
    };
  } catch {
    const seg = /^([A-Z][A-Z0-9]{2})$/.exec(loc);     // a bare segment name ('MSH')
    return seg ? { segment: seg[1], sequence: '1', field: '', component: '', sub: '', rep: '' } : undefined;
  }
}

/**
 * Build an ACK (or NAK) for a received message, as HL7 text with every segment ended by CR.
 * `received` may be a parsed message or raw text; broken text is read with peekMsh, and text without
 * any MSH gets an ACK with an empty MSA-2.
 */
export function buildAck(received: Hl7Message | string, opts: AckOptions): string {
  const peek = opts.peek !== undefined ? opts.peek
    : peekMsh(typeof received === 'string' ? received : received.segments()[0].toString());
  // A NAK must itself be readable: when the sender's MSH-1/MSH-2 are not a usable delimiter set (the very
  // reason some messages are refused), answer with the standard ones and escape what is echoed.
  const usable = peek !== null && usableDelimiters(peek.fieldSep, peek.encodingChars);
  const fs = usable ? peek.fieldSep : '|';
  const enc = usable ? peek.encodingChars : '^~\\&';
  const f = usable
    ? (n: number): string => peek.fields[n] ?? ''
    : (n: number): string => encodeEscapes(peek?.fields[n] ?? '', STANDARD_DELIMITERS);
  const d = {
    field: fs, component: enc.charAt(0), repetition: enc.charAt(1), escape: enc.charAt(2),
    subcomponent: enc.charAt(3), truncation: enc.charAt(4),
  };
  const esc = (s: string): string => encodeEscapes(s, d);
  const C = d.component || '^';
  const S = d.subcomponent || '&';

  const versionField = f(12);
  const version = peek?.version || opts.fallbackVersion || '2.5';
  const trigger = peek ? (peek.type.split('^')[1] ?? '') : '';
  const modern = versionAtLeast(version, '2.4') || !/^\d+(\.\d+)*$/.test(version);
  let msh9 = 'ACK';
  if (modern) msh9 = `ACK${C}${esc(trigger)}${C}ACK`;
  else if (trigger !== '') msh9 = `ACK${C}${esc(trigger)}`;

  const now = opts.now ?? new Date();
  const msh = ['MSH', enc, f(5), f(6), f(3), f(4), formatDtm(now), '', msh9,
    esc(opts.controlId ?? newControlId(now)), f(11) || 'P', versionField || esc(version)];
  const charset = opts.charset !== undefined ? esc(opts.charset) : f(18);
  if (charset !== '') msh.push('', '', '', '', '', charset);

  const errors = opts.errors ?? [];
  const isError = opts.code !== 'AA' && opts.code !== 'CA';
  const firstText = errors.length ? (errors[0].text ?? HL7_ERROR_TEXTS[errors[0].code] ?? '') : '';
  const msaText = opts.text ?? (isError ? firstText : '');
  const msa = ['MSA', opts.code, f(10)];
  if (msaText !== '') msa.push(esc(msaText));

  const segments = [msh.join(fs), msa.join(fs)];
  if (errors.length) {
    if (versionAtLeast(version, '2.5') || !/^\d+(\.\d+)*$/.test(version)) {
      for (const e of errors) {
        const l = location(e.location);
        const erl = l ? [l.segment, l.sequence, l.field, l.rep, l.component, l.sub].join(C).replace(new RegExp(`(${escapeRe(C)})+$`), '') : '';
        const std = HL7_ERROR_TEXTS[e.code] ?? '';
        const err = ['ERR', '', erl, [esc(e.code), esc(std), 'HL70357'].join(C), e.severity ?? 'E', '', '', '',
          esc(e.text ?? std)];
        segments.push(err.join(fs));
      }
    } else {
      // v2.1-2.4: ERR-1 (repeating) = segment ^ sequence ^ field ^ code&text&HL70357.
      const reps = errors.map((e) => {
        const l = location(e.location);
        const code = [esc(e.code), esc(e.text ?? HL7_ERROR_TEXTS[e.code] ?? ''), 'HL70357'].join(S);
        return [l?.segment ?? '', l?.sequence ?? '', l?.field ?? '', code].join(C);
      });
      segments.push(['ERR', reps.join(d.repetition || '~')].join(fs));
    }
  }
  return segments.join('\r') + '\r';
}

const STANDARD_DELIMITERS = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '' };

/** True when MSH-1 and MSH-2 form a delimiter set a receiver can parse (the rules of readDelimiters). */
function usableDelimiters(fs: string, enc: string): boolean {
  if (fs.length !== 1 || /[A-Za-z0-9\r\n ]/.test(fs)) return false;
  if (enc.length < 4 || enc.length > 5 || /[A-Za-z0-9\r\n ]/.test(enc)) return false;
  return new Set(enc + fs).size === enc.length + 1;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Read MSA-1, MSA-2 and the error codes of an ACK (for senders correlating replies). */
export function readAck(ack: Hl7Message | string): { code: string; controlId: string; text: string; errors: Hl7ErrorDetail[] } {
  const m = typeof ack === 'string' ? Hl7Message.parse(ack) : ack;
  const errors: Hl7ErrorDetail[] = [];
  for (const s of m.segments('ERR')) {
    const code3 = s.get('3.1') ?? '';
    if (code3 !== '' || s.get('2.1')) {
      const loc = errLocation(s.get('2.1'), s.get('2.2'), s.get('2.3'));
      const sev = s.get('4');
      errors.push({ location: loc, code: code3, text: s.get('8') || s.get('3.2') || undefined,
        severity: sev === 'E' || sev === 'W' || sev === 'I' ? sev : undefined });
    } else {
      const n = s.repetitions(1).length;
      for (let r = 1; r <= n; r++) {
        errors.push({
          location: errLocation(s.get(`1[${r}].1`), s.get(`1[${r}].2`), s.get(`1[${r}].3`)),
          code: s.get(`1[${r}].4.1`) ?? '', text: s.get(`1[${r}].4.2`) || undefined,
        });
      }
    }
  }
  return { code: m.get('MSA-1') ?? '', controlId: m.get('MSA-2') ?? '', text: m.get('MSA-3') ?? '', errors };
}

function errLocation(seg: string | null, seq: string | null, field: string | null): string | undefined {
  if (!seg) return undefined;
  const occurrence = Number(seq) > 1 ? `[${Number(seq)}]` : '';
  return field ? `${seg}${occurrence}-${field}` : seg;
}

// SPDX-License-Identifier: Apache-2.0
/**
 * MSH-only, tolerant read: enough of a broken message to answer it with a NAK that carries its
 * MSH-10 (as HAPI's Parser.getCriticalResponseData does). Never throws.
 */
import { decodeEscapes } from './escape';

export interface MshPeek {
  fieldSep: string;
  /** MSH-2 as received ('^~\\&' when it could not be read). */
  encodingChars: string;
  /** Raw MSH fields by HL7 number: fields[0] = 'MSH', fields[1] = MSH-1, fields[2] = MSH-2, ... */
  fields: string[];
  /** MSH-9.1^MSH-9.2 ('' when MSH-9 is empty). */
  type: string;
  /** MSH-10, decoded. */
  controlId: string;
  /** MSH-12.1. */
  version: string;
  /** MSH-18, first repetition ('' when absent). */
  charset: string;
}

function isLegalFieldSep(c: string): boolean {
  return c !== '' && !/[A-Za-z0-9\r\n ]/.test(c);
}

/** Index of the first segment line starting with 'MSH' (at the start or after CR/LF), or -1. */
export function findMsh(text: string): number {
  let i = text.indexOf('MSH');
  while (i >= 0) {
    if (i === 0) return 0;
    const c = text.charCodeAt(i - 1);
    if (c === 13 || c === 10 || c === 0xfeff || c === 0x0b) return i;
    i = text.indexOf('MSH', i + 1);
  }
  return -1;
}

/** Read the first MSH segment of `text` without validating the rest; null when there is no MSH. */
export function peekMsh(text: unknown): MshPeek | null {
  try {
    if (typeof text !== 'string') return null;
    const start = findMsh(text);
    if (start < 0) return null;
    let end = start;
    while (end < text.length) {
      const c = text.charCodeAt(end);
      if (c === 13 || c === 10 || c === 0x1c) break;
      end++;
    }
    const line = text.slice(start, end);
    const fs = isLegalFieldSep(line.charAt(3)) ? line.charAt(3) : '|';
    const parts = line.length > 4 ? line.slice(4).split(fs) : [];
    let enc = parts[0] ?? '';
    if (enc === '' || enc.length > 5 || /[A-Za-z0-9]/.test(enc)) enc = '^~\\&';
    const fields = ['MSH', fs, ...parts];
    const d = {
      field: fs, component: enc.charAt(0), repetition: enc.charAt(1), escape: enc.charAt(2),
      subcomponent: enc.charAt(3), truncation: enc.charAt(4),
    };
    const first = (n: number, level: 'rep' | 'comp'): string => {
      let v = fields[n] ?? '';
      if (d.repetition) v = v.split(d.repetition)[0];
      if (level === 'comp' && d.component) v = v.split(d.component)[0];
      return v === '""' ? '' : decodeEscapes(v, d);
    };
    const msgType = first(9, 'comp');
    let trigger = '';
    const f9 = (fields[9] ?? '').split(d.repetition || '\u0000')[0];
    if (d.component) trigger = decodeEscapes(f9.split(d.component)[1] ?? '', d);
    return {
      fieldSep: fs, encodingChars: enc, fields,
      type: trigger === '' ? msgType : `${msgType}^${trigger}`,
      controlId: first(10, 'rep'),
      version: first(12, 'comp'),
      charset: first(18, 'rep'),
    };
  } catch {
    return null;
  }
}

// SPDX-License-Identifier: Apache-2.0
/**
 * HL7 v2 escape sequences (v2.5 section 2.7): \F\ \S\ \T\ \R\ \E\ \P\, hex \Xhh..\, formatting
 * commands (\.br\ and friends), highlighting \H\ \N\ and character-set switches \C..\ \M..\.
 */

/** The delimiters an escape codec needs (a subset of Hl7Delimiters). */
export interface EscapeDelimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
  truncation: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexText(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  let ascii = true;
  for (const b of bytes) if (b >= 0x80) { ascii = false; break; }
  if (ascii) return bytes.toString('latin1');
  // Bytes above 0x7F: UTF-8 when they form valid UTF-8 (what Unicode senders mean), else Latin-1.
  try { return utf8.decode(bytes); } catch { return bytes.toString('latin1'); }
}

function formatting(cmd: string): string | undefined {
  // \.br\ is a line break (LF, per case 11); \.sp\ (optionally \.sp n\) skips lines; the
  // layout commands (.fi .nf .in .ti .sk .ce) have no plain-text meaning and leave nothing.
  const m = /^\.(br|sp|fi|nf|in|ti|sk|ce)\s*([+-]?\d+)?$/.exec(cmd);
  if (!m) return undefined;
  if (m[1] === 'br') return '\n';
  if (m[1] === 'sp') return '\n'.repeat(Math.max(1, Number(m[2] ?? 1)));
  if (m[1] === 'ce') return '\n';
  return '';
}

/** Resolve escape sequences in raw HL7 text. Unknown or unterminated sequences are kept verbatim. */
export function decodeEscapes(raw: string, d: EscapeDelimiters): string {
  const e = d.escape;
  if (e === '') return raw;
  let i = raw.indexOf(e);
  if (i < 0) return raw;
  let out = '';
  let from = 0;
  while (i >= 0) {
    const close = raw.indexOf(e, i + 1);
    if (close < 0) break;
    const body = raw.slice(i + 1, close);
    let rep: string | undefined;
    if (body.length === 1) {
      switch (body) {
        case 'F': rep = d.field; break;
        case 'S': rep = d.component; break;
        case 'T': rep = d.subcomponent; break;
        case 'R': rep = d.repetition; break;
        case 'E': rep = e; break;
        case 'P': rep = d.truncation || undefined; break;
        case 'H': case 'N': rep = ''; break;
        default: rep = undefined;
      }
    } else if (body.length > 1) {
      const k = body.charAt(0);
      if (k === 'X' || k === 'x') rep = hexText(body.slice(1));
      else if (k === '.') rep = formatting(body);
      else if (k === 'C' || k === 'M') rep = /^[0-9A-Fa-f]+$/.test(body.slice(1)) ? '' : undefined;
    }
    if (rep === undefined) {
      // Not an escape we know (e.g. a locally defined \Z..\): keep the escape character as text
      // and continue scanning right after it, so a following real escape still decodes.
      out += raw.slice(from, i + 1);
      from = i + 1;
      i = raw.indexOf(e, i + 1);
      continue;
    }
    out += raw.slice(from, i) + rep;
    from = close + 1;
    i = raw.indexOf(e, from);
  }
  return from === 0 ? raw : out + raw.slice(from);
}

/** Escape text for one HL7 atom: delimiters become \F\ \S\ \T\ \R\ \E\ (\P\), CR and LF hex escapes. */
export function encodeEscapes(text: string, d: EscapeDelimiters): string {
  const e = d.escape;
  let special = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === e || c === d.field || c === d.component || c === d.repetition || c === d.subcomponent
      || (d.truncation !== '' && c === d.truncation) || c === '\r' || c === '\n') { special = true; break; }
  }
  if (!special) return text;
  if (e === '') {
    // No escape character declared: nothing can be escaped; drop what would break the structure.
    let out = '';
    for (const c of text) {
      if (c !== d.field && c !== d.component && c !== d.repetition && c !== d.subcomponent && c !== '\r' && c !== '\n') out += c;
    }
    return out;
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === e) out += e + 'E' + e;
    else if (c === d.field) out += e + 'F' + e;
    else if (c === d.component) out += e + 'S' + e;
    else if (c === d.subcomponent) out += e + 'T' + e;
    else if (c === d.repetition) out += e + 'R' + e;
    else if (d.truncation !== '' && c === d.truncation) out += e + 'P' + e;
    else if (c === '\r') out += e + 'X0D' + e;
    else if (c === '\n') out += e + 'X0A' + e;
    else out += c;
  }
  return out;
}

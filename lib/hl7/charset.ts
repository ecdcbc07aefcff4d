// SPDX-License-Identifier: Apache-2.0
/**
 * Bytes <-> text for HL7 messages (case 21). MSH-18 (HL7 table 0211) decides the character set; it is
 * read from the raw bytes before decoding, which works because MSH is ASCII in every supported set.
 * Messages without MSH-18 use the listener's default. Invalid bytes are an error (HL7_BAD_CHARSET),
 * never U+FFFD: a patient name must not silently turn into replacement characters.
 *
 * EUC-KR: iconv-lite's 'euc-kr' is the CP949 (Unified Hangul Code) table, a superset of EUC-KR.
 * We decode 'KS X 1001'/'euc-kr' with it on purpose: every valid EUC-KR byte string decodes
 * identically, and Korean systems that say EUC-KR often send CP949's extra syllables (e.g. '똠').
 * When ENCODING for 'euc-kr' we are strict: characters outside KS X 1001 (which CP949 would write as
 * 0x81-0xA0 lead bytes a strict EUC-KR receiver cannot read) raise HL7_BAD_CHARSET; use 'cp949' to
 * send the extended syllables to a peer that accepts them.
 */
import { isUtf8 } from 'node:buffer';
import * as iconv from 'iconv-lite';
import { GatewayError } from '../errors';
import { peekMsh } from './peek';

/** Per-listener default for messages without MSH-18. */
export type Hl7DefaultCharset = 'utf-8' | 'euc-kr' | 'cp949' | 'latin1';

/** Canonical codec keys used by this module. */
export type CodecKey = 'utf-8' | 'utf-16' | 'utf-32' | 'ascii' | 'latin1' | 'euc-kr' | 'cp949' | 'windows-1252'
  | 'iso-8859-2' | 'iso-8859-3' | 'iso-8859-4' | 'iso-8859-5' | 'iso-8859-6' | 'iso-8859-7' | 'iso-8859-8'
  | 'iso-8859-9' | 'iso-8859-15' | 'gb18030' | 'big5' | 'shift_jis' | 'euc-jp';

const NAMES: Record<string, CodecKey> = {};
function names(codec: CodecKey, ...list: string[]): void {
  for (const n of list) NAMES[normalize(n)] = codec;
}
function normalize(name: string): string {
  // 'ISO_IR 100' (DICOM spelling) = 'ISO IR100' (HL7 spelling)
  return name.trim().toUpperCase().replace(/[\s_]+/g, ' ').replace(/^ISO IR (\d)/, 'ISO IR$1');
}
names('ascii', 'ASCII', 'ISO IR6', 'US-ASCII');
names('latin1', '8859/1', 'ISO IR100', 'ISO-8859-1', 'ISO8859-1', 'ISO 8859-1', 'LATIN1', 'LATIN-1', 'L1');
names('iso-8859-2', '8859/2', 'ISO IR101', 'ISO-8859-2');
names('iso-8859-3', '8859/3', 'ISO IR109', 'ISO-8859-3');
names('iso-8859-4', '8859/4', 'ISO IR110', 'ISO-8859-4');
names('iso-8859-5', '8859/5', 'ISO IR144', 'ISO-8859-5');
names('iso-8859-6', '8859/6', 'ISO IR127', 'ISO-8859-6');
names('iso-8859-7', '8859/7', 'ISO IR126', 'ISO-8859-7');
names('iso-8859-8', '8859/8', 'ISO IR138', 'ISO-8859-8');
names('iso-8859-9', '8859/9', 'ISO IR148', 'ISO-8859-9');
names('iso-8859-15', '8859/15', 'ISO-8859-15');
names('euc-kr', 'KS X 1001', 'ISO IR149', 'EUC-KR', 'EUCKR', 'KSC5601', 'KS C 5601', 'KSC 5601', 'KS C 5601-1987');
names('cp949', 'CP949', 'UHC', 'MS949', 'WINDOWS-949', 'KS C 5601-1987 UHC');
names('utf-8', 'UNICODE UTF-8', 'UTF-8', 'UTF8', 'ISO IR192', 'UNICODE');
names('utf-16', 'UNICODE UTF-16', 'UTF-16');
names('utf-32', 'UNICODE UTF-32', 'UTF-32');
names('windows-1252', 'WINDOWS-1252', 'CP1252');
names('gb18030', 'GB 18030-2000', 'GB18030', 'GB 18030');
names('big5', 'BIG-5', 'BIG5');
names('shift_jis', 'SHIFT_JIS', 'SHIFT-JIS', 'SJIS');
names('euc-jp', 'EUC-JP');

/** The MSH-18 value MGS writes for a codec. */
const HL7_NAME: Record<CodecKey, string> = {
  'utf-8': 'UNICODE UTF-8', 'utf-16': 'UNICODE UTF-16', 'utf-32': 'UNICODE UTF-32', ascii: 'ASCII',
  latin1: '8859/1', 'euc-kr': 'KS X 1001', cp949: 'KS X 1001', 'windows-1252': 'WINDOWS-1252',
  'iso-8859-2': '8859/2', 'iso-8859-3': '8859/3', 'iso-8859-4': '8859/4', 'iso-8859-5': '8859/5',
  'iso-8859-6': '8859/6', 'iso-8859-7': '8859/7', 'iso-8859-8': '8859/8', 'iso-8859-9': '8859/9',
  'iso-8859-15': '8859/15', gb18030: 'GB 18030-2000', big5: 'BIG-5', shift_jis: 'SHIFT_JIS', 'euc-jp': 'EUC-JP',
};

/**
 * Map an MSH-18 value (HL7 table 0211, also common non-standard spellings) or a codec name to a codec key.
 * A repeating MSH-18 ('ASCII~KS X 1001') means the first set plus extensions: the extension's codec is used,
 * since it reads the ASCII part identically. Throws GatewayError HL7_UNKNOWN_CHARSET.
 */
export function resolveCharset(name: string, repetitionSep = '~'): CodecKey {
  const reps = name.split(repetitionSep).map(normalize).filter((n) => n !== '');
  const keys = reps.map((r) => NAMES[r]);
  const unknown = reps.findIndex((_, i) => keys[i] === undefined);
  if (reps.length === 0 || unknown >= 0) throw new GatewayError('HL7_UNKNOWN_CHARSET', { charset: reps[unknown] ?? name });
  return keys.find((k) => k !== 'ascii') ?? keys[0];
}

/** The HL7 MSH-18 spelling for a charset ('utf-8' -> 'UNICODE UTF-8', 'latin1' -> '8859/1'). */
export function hl7CharsetName(charset: string): string {
  return HL7_NAME[resolveCharset(charset)];
}

/** MSH-18 read straight from the bytes ('' when absent or when there is no MSH). */
export function readMsh18(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = buf.indexOf('MSH');
  while (i > 0) {
    const prev = buf[i - 1];
    if (prev === 0x0d || prev === 0x0a || prev === 0x0b || (i === 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf)) break;
    i = buf.indexOf('MSH', i + 1);
  }
  if (i < 0) return '';
  let end = i;
  while (end < buf.length && buf[end] !== 0x0d && buf[end] !== 0x0a) end++;
  const peek = peekMsh(buf.toString('latin1', i, end));
  if (!peek) return '';
  const raw = peek.fields[18] ?? '';
  return raw === '""' ? '' : raw;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

function bad(codec: CodecKey): never {
  throw new GatewayError('HL7_BAD_CHARSET', { charset: codec });
}

/** Decode bytes with a codec; invalid bytes throw HL7_BAD_CHARSET. */
export function decodeWith(bytes: Uint8Array, codec: CodecKey): string {
  if (codec === 'utf-8') {
    // fast path: a validity check and the plain decoder (same result as the fatal TextDecoder, which drops one leading BOM)
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (isUtf8(buf)) {
      const s = buf.toString('utf8');
      return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
    }
    try { return fatalUtf8.decode(bytes); } catch { bad(codec); }
  }
  if (codec === 'ascii') {
    for (const b of bytes) if (b >= 0x80) bad(codec);
    return Buffer.from(bytes).toString('latin1');
  }
  if (codec === 'latin1') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  // iconv-lite's 'euc-kr' and 'cp949' are the same CP949 table (see the module comment).
  const text = iconv.decode(Buffer.from(bytes), codec === 'euc-kr' ? 'cp949' : codec);
  if (text.includes('\uFFFD')) bad(codec);                       // iconv's marker for undecodable bytes
  return text;
}

export interface DecodedMessage {
  text: string;
  /** Codec used ('utf-8', 'euc-kr', 'latin1', ...). */
  charset: CodecKey;
  /** MSH-18 as received ('' when absent: the default was used). */
  declared: string;
}

/**
 * Decode a received message: by MSH-18 when present, else by `defaultCharset` (the listener setting).
 * Throws GatewayError HL7_BAD_CHARSET (invalid bytes) or HL7_UNKNOWN_CHARSET (MSH-18 not recognised).
 */
export function decodeBytes(bytes: Uint8Array, defaultCharset: Hl7DefaultCharset | string = 'utf-8'): DecodedMessage {
  const declared = readMsh18(bytes);
  const charset = resolveCharset(declared !== '' ? declared : defaultCharset);
  return { text: decodeWith(bytes, charset), charset, declared };
}

function isStrictEucKr(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b < 0x80) continue;
    const t = buf[i + 1];
    if (b < 0xa1 || b > 0xfe || t === undefined || t < 0xa1 || t > 0xfe) return false;
    i++;
  }
  return true;
}

/**
 * Encode text (a reply or a forwarded message) in a charset given as codec or MSH-18 name. Characters the
 * charset cannot represent throw HL7_BAD_CHARSET instead of becoming '?'.
 */
export function encodeText(text: string, charset: Hl7DefaultCharset | string): Buffer {
  const codec = resolveCharset(charset);
  if (codec === 'utf-8') return Buffer.from(text, 'utf8');
  if (codec === 'ascii' || codec === 'latin1') {
    const limit = codec === 'ascii' ? 0x80 : 0x100;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= limit) bad(codec);
    return Buffer.from(text, 'latin1');
  }
  const buf = iconv.encode(text, codec === 'euc-kr' ? 'cp949' : codec);
  if (iconv.decode(buf, codec === 'euc-kr' ? 'cp949' : codec) !== text) bad(codec);
  if (codec === 'euc-kr' && !isStrictEucKr(buf)) bad(codec);
  return buf;
}

/** Set MSH-18 of every MSH segment in `text` (batches included), padding the header fields as needed. */
export function setMsh18(text: string, value: string): string {
  const parts = text.split(/(\r\n|\r|\n)/);
  for (let i = 0; i < parts.length; i += 2) {
    const line = parts[i];
    if (!line.startsWith('MSH') || line.length < 4) continue;
    const fs = line.charAt(3);
    const fields = line.split(fs);                       // fields[n - 1] = MSH-n for n >= 2
    while (fields.length < 18) fields.push('');
    fields[17] = value;
    parts[i] = fields.join(fs);
  }
  return parts.join('');
}

export interface TranscodedMessage {
  /** The message text with MSH-18 set to the target's HL7 name. */
  text: string;
  /** That text encoded in the target charset. */
  bytes: Buffer;
  /** The codec the input was decoded with. */
  from: CodecKey;
}

/**
 * Re-encode a received message in another charset AND set MSH-18 accordingly, always both together
 * (case 21). Throws HL7_BAD_CHARSET / HL7_UNKNOWN_CHARSET like decodeBytes and encodeText.
 */
export function transcodeMessage(bytes: Uint8Array, defaultCharset: Hl7DefaultCharset | string,
                                 target: Hl7DefaultCharset | string): TranscodedMessage {
  const decoded = decodeBytes(bytes, defaultCharset);
  const text = setMsh18(decoded.text, hl7CharsetName(target));
  return { text, bytes: encodeText(text, target), from: decoded.charset };
}

/** Transcode a received message to UTF-8 with MSH-18 'UNICODE UTF-8'. */
export function transcodeToUtf8(bytes: Uint8Array, defaultCharset: Hl7DefaultCharset | string = 'utf-8'): TranscodedMessage {
  return transcodeMessage(bytes, defaultCharset, 'utf-8');
}

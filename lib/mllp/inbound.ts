// SPDX-License-Identifier: Apache-2.0
/**
 * What an MLLP receiver does with one frame before any flow sees it: bytes -> text (MSH-18 or the site's
 * default charset), frame -> messages (HL7 batches and several MSH in one frame), header validation, and
 * the NAKs for everything that must not go downstream. Also composes the one reply frame per received
 * frame: a single ACK, the ACKs of an unenveloped multi-message frame back to back, or an HL7 batch
 * acknowledgment (FHS/BHS ... BTS/FTS) for a batch.
 */
import { GatewayError } from '../errors';
import { buildAck, HL7_ERROR_TEXTS, newControlId, type AckCode, type Hl7ErrorDetail } from '../hl7/ack';
import { formatDtm } from '../hl7/datetime';
import { splitMessages } from '../hl7/batch';
import { decodeBytes } from '../hl7/charset';
import { Hl7Message } from '../hl7/message';
import { peekMsh, type MshPeek } from '../hl7/peek';
import { validateHeader } from '../hl7/validate';

export type { AckCode };

/** msg.hl7 of the msg contract. */
export interface Hl7Info { type: string; controlId: string; version: string; charset: string }

/** A NAK decided before the flow: its text, and what to log (no patient data). */
export interface Nak { code: AckCode; text: string; reason: string }

export interface InboundMessage {
  /** 0-based position in the frame. */
  index: number;
  /** HL7 text of this one message. */
  text: string;
  hl7: Hl7Info;
  /** peekMsh(text), read once per message (buildAck takes it as `peek`). */
  peek?: MshPeek | null;
  /** Set when the message is answered by the receiver itself and must not go downstream. */
  nak?: Nak;
}

export interface InboundFrame {
  /** The charset the frame was decoded with; replies are encoded with it. */
  charset: string;
  /** The messages found (at least one). */
  messages: InboundMessage[];
  /** FHS / BHS segments as received, when the frame is an HL7 batch. */
  envelope?: { fhs?: string; bhs?: string };
  /** Problems worth a log line that do not change the reply (e.g. BTS count mismatch). */
  warnings: GatewayError[];
}

/** Reads the MSH of text for a NAK (never throws). */
function hl7Info(text: string, charset: string, p: MshPeek | null = peekMsh(text)): Hl7Info {
  return { type: p?.type ?? '', controlId: p?.controlId ?? '', version: p?.version ?? '', charset };
}

/** English texts for the NAKs the receiver itself sends (the peer's log shows them; no patient data). */
export function nakText(err: GatewayError): string {
  const p = err.params;
  switch (err.code) {
    case 'HL7_BAD_CHARSET': return `Message bytes are not valid ${p.charset ?? 'text'}; check MSH-18 or the receiver's default character set`;
    case 'HL7_UNKNOWN_CHARSET': return `Unknown character set ${p.charset ?? ''} in MSH-18`;
    case 'HL7_BAD_BATCH': return `Malformed HL7 batch${p.detail !== undefined ? `: ${p.detail}` : ''}`;
    case 'HL7_MISSING_MSH': return 'No MSH segment';
    case 'HL7_BAD_SEPARATORS': return 'MSH-1/MSH-2 separators are missing or invalid';
    case 'MLLP_FRAME_TOO_LARGE': return `Message larger than ${p.max} bytes`;
    case 'MLLP_MISSING_CR': return 'MLLP frame ended with FS but no CR (strict MLLP)';
    case 'MLLP_TIMEOUT': return `No reply from the gateway flow within ${p.ms} ms`;
    default: return err.message;
  }
}

function nak(text: string, code: AckCode, reason: string, errors: Hl7ErrorDetail[], ackText: string,
             peek?: MshPeek | null): Nak {
  return { code, reason, text: buildAck(text, { code, text: ackText, errors, ...(peek !== undefined ? { peek } : {}) }) };
}

/** Builds the NAK for a frame that was rejected as a whole (charset, batch structure, size, strict framing). */
export function frameNak(text: string, charset: string, err: GatewayError, code: AckCode,
                         errors: Hl7ErrorDetail[]): InboundFrame {
  const ackText = nakText(err);
  return {
    charset,
    messages: [{ index: 0, text, hl7: hl7Info(text, charset), nak: nak(text, code, err.code, errors.map((e) => ({ text: ackText, ...e })), ackText) }],
    warnings: [],
  };
}

/** Decodes, splits and validates one frame. Never throws: every failure becomes a NAK entry. */
export function readFrame(bytes: Buffer, defaultCharset: string): InboundFrame {
  let text: string;
  let charset: string;
  try {
    ({ text, charset } = decodeBytes(bytes, defaultCharset));
  } catch (err) {
    // The MSH itself is ASCII, so latin1 reads it well enough to echo MSH-10 in the NAK.
    // The NAK goes out in latin1 too, so the fields it echoes keep the sender's bytes.
    const raw = bytes.toString('latin1');
    const e = err instanceof GatewayError ? err : new GatewayError('HL7_BAD_CHARSET', { charset: defaultCharset });
    const unknown = e.code === 'HL7_UNKNOWN_CHARSET';
    return frameNak(raw, 'latin1', e, 'AE',
      [unknown ? { location: 'MSH-18', code: '103' } : { code: '102' }]);
  }

  let messages: string[];
  let envelope: { fhs?: string; bhs?: string } | undefined;
  const warnings: GatewayError[] = [];
  try {
    const split = splitMessages(text);
    messages = split.messages;
    const b = split.batch;
    if (b) {
      for (const w of b.warnings) warnings.push(new GatewayError('HL7_BAD_BATCH', { detail: w }));
      if (b.file || b.header) {
        envelope = { ...(b.file ? { fhs: b.file.raw } : {}), ...(b.header ? { bhs: b.header.raw } : {}) };
      }
    }
  } catch (err) {
    const e = err instanceof GatewayError ? err : new GatewayError('HL7_BAD_BATCH', { detail: String(err) });
    return frameNak(text, charset, e, 'AR', [{ code: '100' }]);
  }
  if (messages.length === 0) messages = [text];

  const out: InboundMessage[] = messages.map((m, index) => {
    const peek = peekMsh(m);
    const hl7 = hl7Info(m, charset, peek);
    const errors = validateHeader(m, { peek });
    if (errors.length > 0) {
      const ackText = errors.map(describeError).join('; ');
      return { index, text: m, hl7, peek, nak: nak(m, 'AR', errors.map((e) => `${e.location ?? ''}:${e.code}`).join(','), errors.map((e) => ({ ...e, text: e.text ?? describeError(e) })), ackText, peek) };
    }
    try {
      // only the MSH line: type, control id and version come from it, and so do the parse errors
      const parsed = Hl7Message.parse(mshHead(m));
      hl7.type = parsed.type;
      hl7.controlId = parsed.controlId;
      hl7.version = parsed.version;
    } catch (err) {
      const e = err instanceof GatewayError ? err : new GatewayError('HL7_MISSING_MSH');
      return { index, text: m, hl7, peek, nak: nak(m, 'AR', e.code, [{ code: '100', text: nakText(e) }], nakText(e), peek) };
    }
    return { index, text: m, hl7, peek };
  });
  return { charset, messages: out, ...(envelope ? { envelope } : {}), warnings };
}

/**
 * The first segment of a message that starts with MSH, for reading its header alone (the whole text otherwise,
 * and also when the CR-separated first line holds a raw LF, which splitSegments may or may not treat as a break).
 */
function mshHead(text: string): string {
  if (!text.startsWith('MSH')) return text;
  const cr = text.indexOf('\r');
  const cut = cr >= 0 ? cr : text.indexOf('\n');
  if (cut < 0) return text;
  const head = text.slice(0, cut + 1);
  return cr >= 0 && head.includes('\n') ? text : head;
}

/** "MSH-9: Required field missing" style text for an ERR detail. */
export function describeError(e: Hl7ErrorDetail): string {
  if (e.text) return e.text;
  const what = HL7_ERROR_TEXTS[e.code] || `Error ${e.code}`;
  return e.location ? `${e.location}: ${what}` : what;
}

/** A reply header (FHS/BHS) for a received one: sender and receiver swapped, fresh control ID, field 12 = received field 11. */
function replyHeader(received: string, name: 'FHS' | 'BHS'): string {
  const sep = received.charAt(3) || '|';
  const f = received.split(sep);           // f[1] = encoding chars (field 2), f[n-1] = field n
  const get = (n: number): string => f[n - 1] ?? '';
  const fields = [name, get(2) || '^~\\&', get(5), get(6), get(3), get(4), formatDtm(), '', '', '', newControlId(), get(11)];
  return fields.join(sep);
}

/** Ensures HL7 text ends with exactly one CR after its last segment. */
function terminated(text: string): string {
  return text.replace(/[\r\n]+$/, '') + '\r';
}

/**
 * The reply frame's text for a frame and the replies to its messages (same order): one reply as is;
 * several without envelope back to back; a batch wrapped as an HL7 batch acknowledgment.
 */
export function composeReply(frame: Pick<InboundFrame, 'envelope'>, replies: string[]): string {
  if (!frame.envelope) {
    return replies.length === 1 ? replies[0] : replies.map(terminated).join('');
  }
  const { fhs, bhs } = frame.envelope;
  const sep = (fhs ?? bhs ?? '').charAt(3) || '|';
  let out = '';
  if (fhs) out += replyHeader(fhs, 'FHS') + '\r';
  if (bhs) out += replyHeader(bhs, 'BHS') + '\r';
  out += replies.map(terminated).join('');
  if (bhs) out += `BTS${sep}${replies.length}\r`;
  if (fhs) out += `FTS${sep}${bhs ? 1 : 0}\r`;
  return out;
}

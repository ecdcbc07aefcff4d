// SPDX-License-Identifier: Apache-2.0
/**
 * The replies a gateway flow sends back on an MLLP session: an ACK (AA by default, or what msg.ack says)
 * and the NAK for an error caught on the way (msg.error of a Catch node, or the error a node completed
 * with). GatewayError params choose the NAK: `ackCode` ('AE' default, 'AR'), `location` ('PID-3') and
 * `hl7Code` (table 0357, default '207').
 */
import { buildAck, type AckCode, type Hl7ErrorDetail } from '../hl7/ack';
import { peekMsh, type MshPeek } from '../hl7/peek';

const ACK_CODES: ReadonlySet<string> = new Set(['AA', 'AE', 'AR', 'CA', 'CE', 'CR']);

/** msg.ack of the msg contract. */
export interface AckRequest {
  code?: string;
  text?: string;
  errors?: Hl7ErrorDetail[];
}

/** What a Catch node puts in msg.error, or an Error a node completed with. */
export interface ErrorLike {
  message?: string;
  code?: string;
  params?: Record<string, unknown>;
  cause?: unknown;
}

function paramsOf(e: ErrorLike): Record<string, unknown> {
  if (e.params && typeof e.params === 'object') return e.params;
  const cause = e.cause as ErrorLike | undefined;
  if (cause && typeof cause === 'object' && cause.params && typeof cause.params === 'object') return cause.params;
  return {};
}

/** True when `code` is an MSA-1 acknowledgment code. */
export function isAckCode(code: unknown): code is AckCode {
  return typeof code === 'string' && ACK_CODES.has(code);
}

/** MSA-1 of an ACK text ('' when there is no MSA). */
export function ackCodeOf(text: string): string {
  const m = /(?:^|[\r\n])MSA(.)([A-Z]{2})(?:\1|[\r\n]|$)/.exec(text);
  return m ? m[2] : '';
}

/** The ACK for `request` as msg.ack asks (AA when nothing is asked). Throws TypeError for a bad msg.ack. */
export function ackFor(request: string, ack?: AckRequest): string {
  const code = ack?.code ?? 'AA';
  if (!isAckCode(code)) throw new TypeError(`msg.ack.code "${String(code)}" is not AA, AE, AR, CA, CE or CR`);
  if (ack?.errors !== undefined && !Array.isArray(ack.errors)) throw new TypeError('msg.ack.errors is not a list');
  return buildAck(request, {
    code,
    ...(ack?.text !== undefined ? { text: String(ack.text) } : {}),
    ...(ack?.errors ? { errors: ack.errors } : {}),
  });
}

/**
 * The NAK for `request` describing an error: MSA-1 from params.ackCode (default AE), one ERR with
 * params.location and params.hl7Code (default 207), the error's message as text (or only its code when
 * `codeOnly`, e.g. because the message text cannot be written in the reply's charset).
 */
export function nakForError(request: string, error: ErrorLike, codeOnly = false): string {
  const p = paramsOf(error);
  const ackCode = isAckCode(p.ackCode) && p.ackCode !== 'AA' && p.ackCode !== 'CA' ? p.ackCode : 'AE';
  // A Catch node's msg.error.message is the Error's toString(): drop its 'Error: ' prefix.
  const message = typeof error.message === 'string' ? error.message.replace(/^[A-Za-z]*Error: /, '') : '';
  const text = (codeOnly ? error.code : message) || error.code || 'Application error';
  const detail: Hl7ErrorDetail = { code: typeof p.hl7Code === 'string' && p.hl7Code ? p.hl7Code : '207', text };
  if (typeof p.location === 'string' && p.location) detail.location = p.location;
  return buildAck(request, { code: ackCode, text, errors: [detail] });
}

const COMMIT_CODES: Readonly<Record<string, string>> = { AA: 'CA', AE: 'CE', AR: 'CR' };

/**
 * Enhanced acknowledgment mode (HL7 v2 2.9.3): a sender that fills MSH-15 (accept acknowledgment type)
 * asks for a commit ACK — CA/CE/CR instead of AA/AE/AR — and says when it wants one: AL always, NE never,
 * ER only on error, SU only on success. Returns the reply to send (ACKs re-coded; other replies, such as a
 * filled response message, unchanged), or null when MSH-15 says no reply is wanted. Original mode (MSH-15
 * empty) returns the reply unchanged. Application acknowledgments (MSH-16) are not sent as separate
 * messages: the gateway has no channel back to the sender other than this connection.
 */
export function enhancedModeReply(request: string, reply: string, head: MshPeek | null = peekMsh(request)): string | null {
  const accept = (head?.fields[15] ?? '').trim().toUpperCase();
  if (!head || accept === '') return reply;
  const code = ackCodeOf(reply);
  if (code === '') return reply;                       // not an ACK: a response message goes as it is
  const commit = COMMIT_CODES[code] ?? code;
  const success = commit === 'CA';
  if (accept === 'NE' || (accept === 'ER' && success) || (accept === 'SU' && !success)) return null;
  if (commit === code) return reply;
  return reply.replace(/(^|[\r\n])MSA(.)[A-Z]{2}/, (_m, pre: string, sep: string) => `${pre}MSA${sep}${commit}`);
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Header checks that make a message unprocessable as a whole: answered with AR (application reject),
 * as opposed to AE for a valid message the application cannot process (case 09).
 */
import type { Hl7ErrorDetail } from './ack';
import { findMsh, peekMsh, type MshPeek } from './peek';

/** HL7 version ids MGS accepts in MSH-12.1. */
export const HL7_VERSIONS: readonly string[] = [
  '2.1', '2.2', '2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2', '2.9',
];

export interface HeaderValidationOptions {
  /** Accepted MSH-12.1 values (default HL7_VERSIONS). */
  versions?: readonly string[];
  /** Require MSH-11 (processing id, required by HL7); default true. */
  requireProcessingId?: boolean;
  /** peekMsh(text) when the caller already has it (saves reading the MSH again). */
  peek?: MshPeek | null;
}

/**
 * Check the MSH of `text` without parsing the body. Returns the conditions for an AR (empty when the
 * header is acceptable): no MSH -> 100; unusable MSH-1/MSH-2 -> 102 at MSH-2; MSH-9 empty -> 101 at MSH-9;
 * MSH-10 empty -> 101 at MSH-10; MSH-11 empty -> 101, not P/T/D -> 202; MSH-12 empty -> 101, unknown -> 203.
 */
export function validateHeader(text: string, opts: HeaderValidationOptions = {}): Hl7ErrorDetail[] {
  if (typeof text !== 'string' || findMsh(text) < 0) {
    return [{ code: '100', text: 'No MSH segment: not an HL7 message' }];
  }
  const start = findMsh(text);
  const fs = text.charAt(start + 3);
  const peek = opts.peek !== undefined ? opts.peek : peekMsh(text);
  if (peek === null || fs === '' || /[A-Za-z0-9\r\n ]/.test(fs) || peek.fields[2] !== peek.encodingChars
    || new Set(peek.encodingChars + fs).size !== peek.encodingChars.length + 1) {
    return [{ location: 'MSH-2', code: '102', text: 'MSH-1/MSH-2 separators are missing or invalid' }];
  }
  const errors: Hl7ErrorDetail[] = [];
  const raw = (n: number): string => peek.fields[n] ?? '';
  if (peek.type.split('^')[0] === '' || raw(9) === '""') {
    errors.push({ location: 'MSH-9', code: '101', text: 'MSH-9 message type is empty' });
  }
  if (peek.controlId === '') {
    errors.push({ location: 'MSH-10', code: '101', text: 'MSH-10 message control id is empty' });
  }
  const processing = raw(11).split(peek.encodingChars.charAt(0) || '^')[0];
  if (processing === '' || processing === '""') {
    if (opts.requireProcessingId !== false) {
      errors.push({ location: 'MSH-11', code: '101', text: 'MSH-11 processing id is empty' });
    }
  } else if (!['P', 'T', 'D'].includes(processing)) {
    errors.push({ location: 'MSH-11', code: '202', text: `Unsupported processing id ${processing}` });
  }
  const versions = opts.versions ?? HL7_VERSIONS;
  if (peek.version === '') {
    errors.push({ location: 'MSH-12', code: '101', text: 'MSH-12 version id is empty' });
  } else if (!versions.includes(peek.version)) {
    errors.push({ location: 'MSH-12', code: '203', text: `Unsupported version id ${peek.version}` });
  }
  return errors;
}

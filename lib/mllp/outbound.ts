// SPDX-License-Identifier: Apache-2.0
/**
 * Preparing a message for an MLLP destination: a fresh MSH-10 so its ACK can be matched (the MG sends the
 * constant 'BARCODE' / 'IMAGE', which cannot correlate: case 23). Everything else stays byte-identical.
 */
import { GatewayError } from '../errors';

/** Raw value of MSH-n (n >= 3) of HL7 text; '' when absent. */
export function getMshField(text: string, n: number): string {
  const { parts } = mshParts(text);
  return parts[n - 1] ?? '';
}

/**
 * Returns the text with MSH-n (n >= 3) replaced by a raw value, adding empty fields when the MSH is
 * shorter; every other byte is kept. Throws GatewayError HL7_MISSING_MSH when there is no MSH.
 */
export function setMshField(text: string, n: number, raw: string): string {
  if (n < 3) throw new RangeError('MSH-1 and MSH-2 hold the delimiters');
  const { start, end, parts, sep } = mshParts(text);
  // parts[0] = 'MSH', parts[1] = MSH-2, parts[k] = MSH-(k+1)
  while (parts.length < n) parts.push('');
  parts[n - 1] = raw;
  return text.slice(0, start) + parts.join(sep) + text.slice(end);
}

function mshParts(text: string): { start: number; end: number; parts: string[]; sep: string } {
  const m = /(^|[\r\n])MSH/.exec(text);
  if (!m) throw new GatewayError('HL7_MISSING_MSH');
  const start = m.index + m[1].length;
  const sep = text.charAt(start + 3);
  if (!sep || /[\r\nA-Za-z0-9]/.test(sep)) throw new GatewayError('HL7_BAD_SEPARATORS', { detail: 'MSH-1' });
  let end = text.slice(start).search(/[\r\n]/);
  end = end < 0 ? text.length : start + end;
  return { start, end, parts: text.slice(start, end).split(sep), sep };
}

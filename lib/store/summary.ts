// SPDX-License-Identifier: Apache-2.0
/**
 * What the message store records about a message besides its bytes, and the idempotency key
 * of an MG result. Reads raw fields only (no escape decoding): enough for search columns and
 * hashing, and it never throws, so a malformed message is still stored.
 */
import { createHash } from 'node:crypto';

export interface MessageSummary {
  type: string | null;        // MSH-9.1^MSH-9.2, e.g. 'ORU^R01'
  controlId: string | null;   // MSH-10 (the MG puts BARCODE or IMAGE here)
  sender: string | null;      // MSH-3^MSH-4 (sending application ^ facility)
  barcode: string | null;     // PID-3.1 (the MG's specimen/patient barcode)
  patientId: string | null;   // PID-3.3 (the EMR patient number in the MG layout, SPEC 2.2)
}

function segmentsOf(text: string): string[] {
  return text.split(/\r\n|\r|\n/).filter((s) => s !== '');
}

interface Seps { field: string; component: string }

function separators(msh: string): Seps | null {
  if (!msh.startsWith('MSH') || msh.length < 5) return null;
  const field = msh[3];
  const component = msh[4] !== field ? msh[4] : '^';
  return { field, component };
}

/** Field n (HL7 numbering) of a segment split at the field separator; for MSH, n = 1 is the field separator itself. */
function field(parts: string[], n: number, s: Seps, isMsh: boolean): string {
  const idx = isMsh ? n - 1 : n;
  if (isMsh && n === 1) return s.field;
  return parts[idx] ?? '';
}

function component(value: string, n: number, s: Seps, repetition: string): string {
  const first = value.split(repetition)[0];
  return first.split(s.component)[n - 1] ?? '';
}

const orNull = (v: string): string | null => (v === '' ? null : v);

/** The first segment starting with `prefix` (at the start of the text or of a line), without its line end. */
function findSegment(text: string, prefix: string): string | undefined {
  let at = text.startsWith(prefix) ? 0 : -1;
  if (at < 0) {
    const cr = text.indexOf(`\r${prefix}`), lf = text.indexOf(`\n${prefix}`);
    const i = cr < 0 ? lf : lf < 0 ? cr : Math.min(cr, lf);
    if (i < 0) return undefined;
    at = i + 1;
  }
  let end = text.length;
  const cr = text.indexOf('\r', at), lf = text.indexOf('\n', at);
  if (cr >= 0) end = cr;
  if (lf >= 0 && lf < end) end = lf;
  return text.slice(at, end);
}

/** Summary columns of one HL7 message; fields it cannot find are null. */
export function summarize(text: string): MessageSummary {
  const out: MessageSummary = { type: null, controlId: null, sender: null, barcode: null, patientId: null };
  const msh = findSegment(text, 'MSH');
  if (!msh) return out;
  const s = separators(msh);
  if (!s) return out;
  const rep = msh[5] && msh[5] !== s.field ? msh[5] : '~';
  const mshParts = msh.split(s.field);                 // split once, read several fields
  const msh9 = field(mshParts, 9, s, true);
  const t1 = component(msh9, 1, s, rep), t2 = component(msh9, 2, s, rep);
  out.type = orNull(t2 ? `${t1}^${t2}` : t1);   // shown as 'ORU^R01' whatever the site's separators
  out.controlId = orNull(field(mshParts, 10, s, true));
  const app = component(field(mshParts, 3, s, true), 1, s, rep), fac = component(field(mshParts, 4, s, true), 1, s, rep);
  out.sender = orNull(fac ? `${app}^${fac}` : app);
  const pid = findSegment(text, `PID${s.field}`);
  if (pid) {
    const pid3 = field(pid.split(s.field, 4), 3, s, false);
    out.barcode = orNull(component(pid3, 1, s, rep));
    out.patientId = orNull(component(pid3, 3, s, rep));
  }
  return out;
}

/**
 * Idempotency key of a message: sha256 of its segments with MSH-7 (message time) and MSH-10
 * (control ID) blanked, trailing empty fields dropped, empty segments dropped and line endings
 * normalised to CR. The MG puts the constant BARCODE in MSH-10 and may stamp a new MSH-7 when it
 * resends after a lost ACK, so neither identifies a message; everything else it sends (PID-3,
 * OBR-7 observation time, every OBX) does. Two results with identical content (same specimen,
 * same observation time, same values) are the same result. Returns `v1:<hex>` so a future
 * scheme can coexist.
 */
export function idempotencyKey(text: string): string {
  const segs = segmentsOf(text);
  const mshAt = segs.findIndex((x) => x.startsWith('MSH'));
  const fs = mshAt >= 0 ? separators(segs[mshAt])?.field ?? '|' : '|';
  const trailing = new RegExp(`${fs.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}+$`);
  const hash = createHash('sha256');
  segs.forEach((seg, i) => {
    let norm = seg;
    if (i === mshAt) {
      const parts = seg.split(fs);
      // parts[0] = 'MSH', parts[1] = MSH-2, so MSH-n is parts[n - 1]
      if (parts.length > 6) parts[6] = '';
      if (parts.length > 9) parts[9] = '';
      norm = parts.join(fs);
    }
    if (i > 0) hash.update('\r');
    hash.update(norm.replace(trailing, ''), 'utf8');
  });
  return `v1:${hash.digest('hex')}`;
}

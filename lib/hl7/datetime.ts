// SPDX-License-Identifier: Apache-2.0
/**
 * HL7 DTM / TS values: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], optionally followed by the TS
 * precision component (^Y ^L ^D ^H ^M ^S). Everything here is computed with UTC arithmetic and the
 * explicit offsets only, so results never depend on the process time zone (TZ).
 */
import { GatewayError } from '../errors';
import type { Hl7Message } from './message';

export type DtmPrecision = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second';

export interface Hl7DateTime {
  /** The text as given. */
  text: string;
  /** Time values: the UTC instant, '2026-11-02T00:30:00.1234Z' (fraction digits as received).
   *  Date-only values: the calendar date 'YYYY-MM-DD'. Time values with no known offset: local 'YYYY-MM-DDTHH:MM:SS' without Z. */
  iso: string;
  /** Calendar date as written, 'YYYY-MM-DD' (missing month/day = 01); never shifted by a zone. */
  date: string;
  /** Wall-clock time as written, 'YYYY-MM-DDTHH:MM:SS[.ffff]' ('' for date-only values). */
  local: string;
  precision: DtmPrecision;
  /** Number of fraction-of-second digits received (0-4); 4 = 1/10 000 s. */
  fractionDigits: number;
  /** Offset written in the value, in minutes east of UTC; null when the value has none. */
  offsetMinutes: number | null;
  /** Offset used for the instant: the value's own, else the default (e.g. MSH-7's); null when neither. */
  appliedOffsetMinutes: number | null;
  /** The instant (millisecond precision); null for date-only values and when no offset is known. */
  instant: Date | null;
}

const DTM = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$/;
const PRECISION: Record<string, DtmPrecision> = { Y: 'year', L: 'month', D: 'day', H: 'hour', M: 'minute', S: 'second' };
const ORDER: DtmPrecision[] = ['year', 'month', 'day', 'hour', 'minute', 'second'];

const p2 = (n: number): string => String(n).padStart(2, '0');
const p4 = (n: number): string => String(n).padStart(4, '0');

function bad(text: string): never {
  throw new GatewayError('HL7_BAD_TIMESTAMP', { value: text });
}

function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);      // setUTCFullYear: years below 100 are not mapped to 19xx
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

/** Offset in minutes east of UTC of an IANA zone at a given instant (process TZ plays no part). */
export function zoneOffsetMinutes(zone: string, at: Date): number {
  const f = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const v: Record<string, number> = {};
  for (const part of f.formatToParts(at)) if (part.type !== 'literal') v[part.type] = Number(part.value);
  const asUtc = utcMs(v.year, v.month, v.day, v.hour, v.minute, v.second);
  return Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60000);
}

function parseOffset(s: string, text: string): number {
  const h = Number(s.slice(1, 3));
  const m = Number(s.slice(3, 5));
  if (h > 14 || m > 59) bad(text);
  return (s[0] === '-' ? -1 : 1) * (h * 60 + m);
}

/**
 * Parse an HL7 DTM/TS. `defaultOffset` applies to values without their own offset: minutes east of UTC
 * (pass MSH-7's offset, see mshOffsetMinutes) or an IANA zone name ('Asia/Seoul', DST-aware).
 * Returns null for '' and the HL7 null `""`; throws GatewayError HL7_BAD_TIMESTAMP for anything invalid.
 */
export function parseDtm(text: string | null | undefined, defaultOffset?: number | string | null): Hl7DateTime | null {
  if (text === null || text === undefined) return null;
  const t = text.trim();
  if (t === '' || t === '""') return null;
  // TS = DTM, then optionally a component separator and the precision code (deprecated since v2.5).
  let value = t;
  let declared: DtmPrecision | undefined;
  const sep = t.search(/[^0-9.+-]/);
  if (sep >= 0) {
    value = t.slice(0, sep);
    const rest = t.slice(sep + 1);
    if (rest !== '') {
      declared = PRECISION[rest];
      if (declared === undefined) bad(t);
    }
  }
  const m = DTM.exec(value);
  if (!m) bad(t);
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 1;
  const d = m[3] ? Number(m[3]) : 1;
  const h = m[4] ? Number(m[4]) : 0;
  const mi = m[5] ? Number(m[5]) : 0;
  const s = m[6] ? Number(m[6]) : 0;
  const frac = m[7] ?? '';
  if (frac && !m[6]) bad(t);                                  // a fraction needs seconds
  if (mo < 1 || mo > 12 || h > 23 || mi > 59 || s > 59) bad(t);
  const daysInMonth = new Date(utcMs(y, mo + 1, 0)).getUTCDate();
  if (d < 1 || d > daysInMonth) bad(t);
  const digits = m[6] ? 5 : m[5] ? 4 : m[4] ? 3 : m[3] ? 2 : m[2] ? 1 : 0;
  let precision = ORDER[digits];
  if (declared && ORDER.indexOf(declared) < digits) precision = declared;   // ^D on a full value: report day
  const dateStr = `${p4(y)}-${p2(mo)}-${p2(d)}`;
  const hasTime = digits >= 3;
  const offsetMinutes = m[8] ? parseOffset(m[8], t) : null;
  const fracText = frac ? `.${frac}` : '';
  const local = hasTime ? `${dateStr}T${p2(h)}:${p2(mi)}:${p2(s)}${fracText}` : '';
  const base: Omit<Hl7DateTime, 'iso' | 'appliedOffsetMinutes' | 'instant'> = {
    text, date: dateStr, local, precision, fractionDigits: frac.length, offsetMinutes,
  };
  if (!hasTime) return { ...base, iso: dateStr, appliedOffsetMinutes: null, instant: null };

  const wallMs = utcMs(y, mo, d, h, mi, s, frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0);
  let applied: number | null = offsetMinutes;
  if (applied === null && typeof defaultOffset === 'number') applied = defaultOffset;
  if (applied === null && typeof defaultOffset === 'string' && defaultOffset !== '') {
    // The zone's offset at this wall time: guess with the offset at wall-as-UTC, then correct once.
    let off = zoneOffsetMinutes(defaultOffset, new Date(wallMs));
    off = zoneOffsetMinutes(defaultOffset, new Date(wallMs - off * 60000));
    applied = off;
  }
  if (applied === null) return { ...base, iso: local, appliedOffsetMinutes: null, instant: null };
  const instantMs = wallMs - applied * 60000;
  const iso = new Date(instantMs - (instantMs % 1000 + 1000) % 1000).toISOString().slice(0, 19) + fracText + 'Z';
  return { ...base, iso, appliedOffsetMinutes: applied, instant: new Date(instantMs) };
}

/** The offset written in MSH-7 (minutes east of UTC), or undefined: the default for the message's other timestamps. */
export function mshOffsetMinutes(m: Hl7Message): number | undefined {
  const raw = m.get('MSH-7.1');
  const x = raw ? /^\d{4,14}(?:\.\d{1,4})?([+-]\d{4})$/.exec(raw) : null;
  if (!x) return undefined;
  const h = Number(x[1].slice(1, 3));
  const mm = Number(x[1].slice(3, 5));
  if (h > 14 || mm > 59) return undefined;
  return (x[1][0] === '-' ? -1 : 1) * (h * 60 + mm);
}

/**
 * Read a timestamp field of a message ('OBR-7', 'OBR-14' incl. a TS precision component) with the
 * offset rules of HL7: its own offset, else MSH-7's, else `siteZone` (minutes or IANA zone).
 */
export function readDtm(m: Hl7Message, path: string, siteZone?: number | string): Hl7DateTime | null {
  // get() at field level decodes the whole first repetition, so a TS precision component comes along.
  return parseDtm(m.get(path), mshOffsetMinutes(m) ?? siteZone);
}

/** Format an instant as an HL7 DTM with seconds and offset (the process zone's offset unless given). */
export function formatDtm(at: Date = new Date(), offsetMinutes: number = -at.getTimezoneOffset()): string {
  const t = new Date(at.getTime() + offsetMinutes * 60000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${p4(t.getUTCFullYear())}${p2(t.getUTCMonth() + 1)}${p2(t.getUTCDate())}`
    + `${p2(t.getUTCHours())}${p2(t.getUTCMinutes())}${p2(t.getUTCSeconds())}`
    + `${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)}`;
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Writing a flagged result (SPEC 2.3) to the EMR: one parameterized statement (or procedure call)
 * per result row, all rows of a message in one transaction, idempotent per message.
 *
 * Idempotency: every row carries the message key (the spool's key, else the SHA-256 of the
 * message text) and the OBX's position in the message; the EMR keeps these unique (the demo has
 * a unique index on (message_key, set_id)) and a row that hits that key counts as already written,
 * so a retried delivery never duplicates results.
 */
import { createHash } from 'node:crypto';
import { parseDtm, mshOffsetMinutes } from '../hl7/datetime';
import { Hl7Message } from '../hl7/message';
import { GatewayError } from '../errors';
import type { EmrAdapter, NamedParams } from './adapter';
import { columnValue, messageParams, type ParamSpec } from './mapping';

/** One result row as obx-check hands it over in msg.obx (the TEAM contract). */
export interface ObxResult {
  setId?: string | number;
  /** OBX-3.1, the device's channel code. */
  code?: string;
  /** OBX-4.1, the test code. */
  test?: string;
  /** OBX-5 decoded; null = HL7 null "". */
  value?: string | null;
  /** OBX-5 as obx-check read it as a number (the site's decimal commas included); else read from `value`. */
  numeric?: number | null;
  units?: string;
  /** OBX-7 as received (the MG's `low~high`). */
  range?: string | null;
  flag?: string;
  deviceFlag?: string;
  reason?: string;
  /** Position among the message's OBX segments (1-based), when obx-check gives it. */
  index?: number;
}

/** Where rows go: parameterized SQL, or a stored procedure with arguments in order. */
export interface WriteTarget {
  mode: 'sql' | 'procedure';
  sql?: string;
  procedure?: string;
  args?: string[];
}

/** Inserts one row into the demo EMR's results table (portable SQL: SQLite, PostgreSQL, MySQL/MariaDB, SQL Server). */
export const DEFAULT_WRITE_SQL = 'INSERT INTO results (barcode, patient_no, device, test_code, channel_code, value, '
  + 'numeric_value, units, ref_range, flag, reason, observed_at, received_at, control_id, message_key, set_id)\n'
  + 'VALUES (:barcode, :patientNo, :device, :testCode, :channelCode, :value, :numericValue, :units, :range, :flag, '
  + ':reason, :observedAt, :receivedAt, :controlId, :messageKey, :setId)';

/** Argument order of the demo EMR's mg_write_result procedure. */
export const DEFAULT_WRITE_ARGS = ['barcode', 'patientNo', 'device', 'testCode', 'channelCode', 'value', 'numericValue',
  'units', 'range', 'flag', 'reason', 'observedAt', 'receivedAt', 'controlId', 'messageKey', 'setId'];

/** Message-level parameters taken from the result message. */
export const DEFAULT_WRITE_PARAMS: readonly ParamSpec[] = [
  { name: 'barcode', field: 'PID-3.1' },
  { name: 'device', field: 'PID-3.2' },
  { name: 'patientNo', field: 'PID-3.3' },
  { name: 'controlId', field: 'MSH-10' },
];

/** Names of the per-row parameters (always present, whatever the parameter table says). */
export const ROW_PARAM_NAMES = ['setId', 'testCode', 'channelCode', 'value', 'numericValue', 'units', 'range', 'flag',
  'reason', 'observedAt', 'receivedAt', 'messageKey'] as const;

/** The idempotency key of a message text: hex SHA-256 of its UTF-8 bytes. */
export function messageKeyOf(payload: string): string {
  return createHash('sha256').update(payload, 'utf8').digest('hex');
}

const NUMBER = /^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*$/;

/** A value as a number when it is plainly one ('12.7', '-3.1'), else null ('TEST', '<5', '4,2', ''). */
export function numericValue(value: string | null | undefined): number | null {
  if (value === null || value === undefined || !NUMBER.test(value)) return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Read the OBX rows of a message when no msg.obx is present (OBX-8's first repetition is the flag). */
export function obxFromMessage(m: Hl7Message): ObxResult[] {
  const rep = m.delimiters.repetition;
  return m.segments('OBX').map((seg, i) => {
    const rawRange = seg.getRaw('7');
    return {
      setId: seg.get('1') ?? '',
      code: seg.get('3.1') ?? '',
      test: seg.get('4.1') ?? '',
      value: seg.get('5'),
      units: seg.get('6.1') ?? '',
      range: rawRange === '""' ? null : seg.repetitions(7).join(rep),
      flag: seg.get('8') ?? '',
      index: i + 1,
    };
  });
}

function instantOf(v: unknown): Date | null {
  if (v === null || v === undefined || v === '') return null;
  const d = v instanceof Date ? v : new Date(typeof v === 'number' ? v : String(v));
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The process's own IANA zone (the default site zone for time stamps without an offset). */
export function processZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export interface ResultRowsInput {
  payload: string;
  /** msg.obx from obx-check; when absent the OBX segments of the payload are read. */
  obx?: readonly ObxResult[];
  /** Idempotency key; default: SHA-256 of the payload. */
  messageKey?: string;
  /** When MGS received the message (msg.mllp.receivedAt); default: now. */
  receivedAt?: unknown;
  /** Zone for OBR-7 values without an offset when MSH-7 has none either: '+09:00', 'Asia/Seoul'; default: the process zone. */
  timezone?: string;
  /** Message-level parameters (default DEFAULT_WRITE_PARAMS). */
  params?: readonly ParamSpec[];
  now?: () => Date;
}

function zoneArg(tz: string | undefined): number | string {
  const t = (tz ?? '').trim();
  if (t === '') return processZone();
  const m = /^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$/.exec(t);
  if (m) return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
  if (/^(UTC|GMT|Z)$/i.test(t)) return 0;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: t });
  } catch {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: `unknown time zone ${t}`, hl7Code: '207', ackCode: 'AE' });
  }
  return t;
}

/** OBR-7 as an instant: its own offset, else MSH-7's, else the site zone. null when absent or invalid. */
export function observedAt(m: Hl7Message, timezone?: string): Date | null {
  try {
    const dt = parseDtm(m.get('OBR-7'), mshOffsetMinutes(m) ?? zoneArg(timezone));
    return dt?.instant ?? null;
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'EMR_BAD_CONFIG') throw err;
    return null;                       // an unreadable OBR-7 must not keep a result out of the EMR
  }
}

/** The named parameters of every row to write for one message. */
export function resultRows(input: ResultRowsInput): NamedParams[] {
  const m = Hl7Message.parse(input.payload);
  const base = messageParams(m, input.params ?? DEFAULT_WRITE_PARAMS);
  const messageKey = input.messageKey ?? messageKeyOf(input.payload);
  const received = instantOf(input.receivedAt) ?? (input.now ?? (() => new Date()))();
  const observed = observedAt(m, input.timezone);
  const obx = input.obx ?? obxFromMessage(m);
  return obx.map((r, i) => {
    const position = typeof r.index === 'number' && r.index > 0 ? r.index : i + 1;
    const value = r.value === undefined ? null : r.value;
    return {
      ...base,
      setId: position,
      testCode: r.test ?? '',
      channelCode: r.code ?? '',
      value,
      numericValue: typeof r.numeric === 'number' && Number.isFinite(r.numeric) ? r.numeric : numericValue(value),
      units: r.units ?? '',
      range: r.range === undefined ? null : r.range,
      flag: r.flag ?? '',
      reason: r.reason ?? null,
      observedAt: observed,
      receivedAt: received,
      messageKey,
    };
  });
}

export interface WriteOutcome {
  /** Rows newly written. */
  rows: number;
  /** Rows that were already in the EMR (same message key and position). */
  duplicates: number;
}

/** Write the rows in one transaction (all or nothing). */
export async function writeResults(adapter: EmrAdapter, rows: readonly NamedParams[], target: WriteTarget): Promise<WriteOutcome> {
  if (target.mode === 'procedure' && !target.procedure) {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: 'no procedure name', hl7Code: '207', ackCode: 'AE' });
  }
  const sql = target.sql && target.sql.trim() !== '' ? target.sql : DEFAULT_WRITE_SQL;
  if (target.mode !== 'procedure' && adapter.transactionBatch) {
    // the whole message in one request (SQLite: one round trip, and a commit shared with other messages)
    const results = await adapter.transactionBatch(rows.map((row) => ({ sql, params: row, ignoreDuplicate: true })));
    const duplicates = results.filter((r) => r.duplicate).length;
    return { rows: results.length - duplicates, duplicates };
  }
  return adapter.transaction(async (tx) => {
    const out: WriteOutcome = { rows: 0, duplicates: 0 };
    for (const row of rows) {
      if (target.mode === 'procedure') {
        const args: NamedParams = {};
        for (const a of target.args ?? DEFAULT_WRITE_ARGS) {
          if (!Object.prototype.hasOwnProperty.call(row, a)) {
            throw new GatewayError('EMR_BAD_CONFIG', { detail: `unknown parameter :${a}`, hl7Code: '207', ackCode: 'AE' });
          }
          args[a] = row[a];
        }
        // A procedure that reports what it did (the demo's returns { inserted: 0 | 1 }) is believed.
        const res = await tx.callProcedure(target.procedure as string, args);
        const inserted = res.length > 0 ? Number(columnValue(res[0], 'inserted')) : NaN;
        if (inserted === 0) out.duplicates++;
        else out.rows++;
      } else {
        const r = await tx.execute(sql, row, { ignoreDuplicate: true });
        if (r.duplicate) out.duplicates++;
        else out.rows++;
      }
    }
    return out;
  });
}

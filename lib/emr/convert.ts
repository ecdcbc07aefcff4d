// SPDX-License-Identifier: Apache-2.0
/**
 * Value conversion between JavaScript and the EMR drivers, and the mapping of driver errors to
 * GatewayError codes. The rules are documented in adapter.ts; every dialect goes through here.
 */
import { GatewayError, type GatewayErrorCode } from '../errors';
import type { Dialect } from './named-params';

export interface RowConversion {
  decimals: 'string' | 'number';
  dates: 'iso' | 'date';
}

/** A value as it is bound to a placeholder of `dialect`. */
export function bindValue(v: unknown, dialect: Dialect): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') {
    if (dialect === 'sqlite') return v;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    return dialect === 'sqlite' ? v.toISOString() : v;
  }
  if (typeof v === 'boolean') return dialect === 'sqlite' ? (v ? 1 : 0) : v;
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  if (Buffer.isBuffer(v) || typeof v === 'string' || typeof v === 'number') return v;
  return JSON.stringify(v);
}

/** A value as it leaves the adapter (Dates to ISO text unless Date objects were asked for, big integers made safe). */
export function rowValue(v: unknown, c: RowConversion): unknown {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return null;
    return c.dates === 'iso' ? v.toISOString() : v;
  }
  if (typeof v === 'bigint') {
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
  }
  return v;
}

/** Convert every value of a row (a fresh object; column order kept). */
export function convertRow(row: Record<string, unknown>, c: RowConversion): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(row)) out[k] = rowValue(row[k], c);
  return out;
}

/** A DECIMAL/NUMERIC value in the configured representation. */
export function decimalValue(text: string | number | null, c: RowConversion): string | number | null {
  if (text === null) return null;
  if (c.decimals === 'number') return typeof text === 'number' ? text : Number(text);
  return typeof text === 'number' ? String(text) : text;
}

/** 'YYYY-MM-DD HH:MM:SS[.fff]' (a zone-less SQL time stamp) as ISO text without zone: 'YYYY-MM-DDTHH:MM:SS[.fff]'. */
export function naiveTimestamp(text: string): string {
  return text.replace(' ', 'T');
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Error codes of the OS/network layer meaning "the server cannot be reached or the link dropped". */
const NETWORK_DOWN = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND',
  'EAI_AGAIN', 'EPIPE', 'ECONNABORTED', 'EHOSTDOWN', 'ENETDOWN', 'ESOCKET', 'ECONNCLOSED', 'ENOTOPEN',
  'ELOGIN', 'EINSTLOOKUP', 'ENOCONN', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT', 'ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR',
  'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_NORMAL_SHUTDOWN', 'ER_SHUTDOWN_COMPLETE',
  'ER_CONNECTION_KILLED', 'ER_HOST_IS_BLOCKED', 'ER_HOST_NOT_PRIVILEGED', 'ER_TOO_MANY_USER_CONNECTIONS',
  'SQLITE_CANTOPEN', 'SQLITE_NOTADB', 'SQLITE_IOERR', 'SQLITE_CORRUPT', 'SQLITE_FULL', 'SQLITE_READONLY',
  'EMR_CLOSED']);

const TIMEOUTS = new Set(['ETIMEDOUT', 'ETIMEOUT', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_QUERY_TIMEOUT',
  'ER_STATEMENT_TIMEOUT', 'ER_LOCK_WAIT_TIMEOUT', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'EMR_TIMEOUT']);

/** PostgreSQL SQLSTATE classes/codes. */
function pgCode(code: string): GatewayErrorCode | undefined {
  if (code.startsWith('08')) return 'EMR_UNREACHABLE';              // connection exception
  if (code.startsWith('28')) return 'EMR_UNREACHABLE';              // invalid authorization
  if (code === '3D000' || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return 'EMR_UNREACHABLE';
  if (code === '57014' || code === '55P03') return 'EMR_TIMEOUT';   // statement_timeout / lock_timeout
  return undefined;
}

/** MySQL/MariaDB server error numbers. */
function mysqlErrno(errno: number): GatewayErrorCode | undefined {
  if ([1040, 1044, 1045, 1049, 1053, 1077, 1079, 1080, 1129, 1130, 1203, 1226, 1927, 2002, 2003, 2005, 2006, 2013].includes(errno)) {
    return 'EMR_UNREACHABLE';
  }
  if ([1205, 1317, 1969, 3024].includes(errno)) return 'EMR_TIMEOUT';
  return undefined;
}

/** SQL Server error numbers. */
function mssqlNumber(n: number): GatewayErrorCode | undefined {
  if ([4060, 18456, 18452, 233, 10053, 10054, 10060, 10061].includes(n)) return 'EMR_UNREACHABLE';
  if (n === -2 || n === 1222) return 'EMR_TIMEOUT';
  return undefined;
}

function clip(text: string, max = 200): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export interface ErrorContext {
  /** Time-out that applied to the failed call, ms (for EMR_TIMEOUT's `ms`). */
  timeoutMs: number;
}

/** Translate any driver error into a GatewayError (EMR_UNREACHABLE / EMR_TIMEOUT / EMR_QUERY_FAILED). */
export function mapDbError(err: unknown, dialect: Dialect, ctx: ErrorContext): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = (err ?? {}) as { code?: unknown; errno?: unknown; number?: unknown; message?: unknown;
    originalError?: unknown; sqlState?: unknown; cause?: unknown; errors?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  const code = typeof e.code === 'string' ? e.code : '';
  let mapped: GatewayErrorCode | undefined;

  if (dialect === 'postgres' && /^[0-9A-Z]{5}$/.test(code)) mapped = pgCode(code);
  if (dialect === 'mysql' && typeof e.errno === 'number') mapped = mysqlErrno(e.errno);
  if (dialect === 'mssql') {
    const inner = (e.originalError ?? {}) as { number?: unknown; code?: unknown; info?: { number?: unknown } };
    const n = typeof e.number === 'number' ? e.number
      : typeof inner.number === 'number' ? inner.number
        : typeof inner.info?.number === 'number' ? inner.info.number : undefined;
    if (n !== undefined) mapped = mssqlNumber(n);
    if (!mapped && typeof inner.code === 'string') {
      if (TIMEOUTS.has(inner.code)) mapped = 'EMR_TIMEOUT';
      else if (NETWORK_DOWN.has(inner.code)) mapped = 'EMR_UNREACHABLE';
    }
  }
  if (!mapped && code) {
    const base = code.startsWith('SQLITE_') ? code.split('_').slice(0, 2).join('_') : code;   // SQLITE_IOERR_WRITE -> SQLITE_IOERR
    if (TIMEOUTS.has(code) || TIMEOUTS.has(base)) mapped = 'EMR_TIMEOUT';
    else if (NETWORK_DOWN.has(code) || NETWORK_DOWN.has(base)) mapped = 'EMR_UNREACHABLE';
  }
  // AggregateError (several addresses for one host name, all refused).
  if (!mapped && Array.isArray(e.errors) && e.errors.length > 0) {
    return mapDbError(e.errors[0], dialect, ctx);
  }
  if (!mapped && /timeout|timed out/i.test(message)) mapped = 'EMR_TIMEOUT';
  if (!mapped && /Connection terminated|connection (?:was )?(?:closed|lost|reset)|Client has encountered a connection error|Cannot use a pool after calling end|not queryable|socket hang up|server closed the connection|Connection is closed|terminating connection/i.test(message)) {
    mapped = 'EMR_UNREACHABLE';
  }
  mapped = mapped ?? 'EMR_QUERY_FAILED';

  const detail = clip(code && !message.includes(code) ? `${code}: ${message}` : message);
  const params: Record<string, string | number> = { detail, hl7Code: '207', ackCode: 'AE' };
  if (mapped === 'EMR_TIMEOUT') params.ms = ctx.timeoutMs;
  return new GatewayError(mapped, params);
}

/** True when `err` (a raw driver error) is a unique-key violation. */
export function isDuplicateKey(err: unknown, dialect: Dialect): boolean {
  const e = (err ?? {}) as { code?: unknown; errno?: unknown; number?: unknown; originalError?: { number?: unknown; info?: { number?: unknown } } };
  switch (dialect) {
    case 'sqlite': return e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
    case 'postgres': return e.code === '23505';
    case 'mysql': return e.errno === 1062 || e.errno === 1586 || e.code === 'ER_DUP_ENTRY';
    case 'mssql': {
      const n = e.number ?? e.originalError?.number ?? e.originalError?.info?.number;
      return n === 2627 || n === 2601;
    }
  }
}

/** The error every call on a closed adapter fails with. */
export function closedError(): GatewayError {
  return new GatewayError('EMR_UNREACHABLE', { detail: 'the EMR connection is closed', hl7Code: '207', ackCode: 'AE' });
}

/** How long close() waits for a pool to end before returning (a pending connect may hold it up to its time-out). */
export const CLOSE_GRACE_MS = 2000;

/** Wait for `ending`, but no longer than CLOSE_GRACE_MS: a redeploy must not hang on a dead EMR. */
export async function boundedClose(ending: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE_MS); timer.unref(); });
  try {
    await Promise.race([ending.then(() => undefined, () => undefined), grace]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

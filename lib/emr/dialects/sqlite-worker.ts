// SPDX-License-Identifier: Apache-2.0
/**
 * Worker-thread side of the SQLite dialect: the database handle lives here, so the fsync of each commit
 * (synchronous=FULL, unchanged) happens off the Node-RED event loop. One request at a time, in order;
 * the caller serialises transactions.
 *
 * Group commit ('txn'): a whole message transaction comes in one request. Transactions that arrive while
 * a commit is running (the fsync blocks this thread, so they queue on the port) join the next commit, in
 * arrival order: BEGIN IMMEDIATE, each transaction in its own SAVEPOINT, one COMMIT, one fsync for all.
 * A statement error (a constraint, a bad statement) rolls back to that transaction's savepoint and fails
 * only its reply; an I/O error, a lock time-out or a failed COMMIT rolls everything back and fails every
 * reply of the group. No reply is sent before the COMMIT has returned, i.e. before the data is durable.
 * Any other request first flushes the queued group, so requests still take effect in arrival order.
 */
import Database = require('better-sqlite3');
import { parentPort, workerData } from 'node:worker_threads';

/** One statement of a 'txn' request; a unique-key violation counts as 'already there' when ignoreDuplicate. */
export interface SqliteTxnStatement { sql: string; values: unknown[]; ignoreDuplicate: boolean }
export interface SqliteTxnResult { changes: number; duplicate?: boolean }

export type SqliteRequest =
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'txn'; stmts: SqliteTxnStatement[] }
  | { id: number; op: 'run'; sql: string; values: unknown[] }
  | { id: number; op: 'close' };

export type SqliteReply =
  | { id: number; ok: true; rows?: unknown[]; changes?: number; reader?: boolean; results?: SqliteTxnResult[]; inTransaction: boolean }
  | { id: number; ok: false; error: { message: string; code?: string; name?: string }; inTransaction: boolean };

const CACHE_SIZE = 64;
const { file, timeoutMs } = workerData as { file: string; timeoutMs: number };
const port = parentPort;
if (!port) throw new Error('sqlite-worker must run in a worker thread');

let db: Database.Database | undefined;
const cache = new Map<string, Database.Statement>();

function handle(): Database.Database {
  // An EMR file that does not exist is a wrong path, not an empty EMR to create silently.
  db ??= new Database(file, { fileMustExist: file !== ':memory:', timeout: timeoutMs });
  return db;
}

function prepare(sql: string): Database.Statement {
  let st = cache.get(sql);
  if (!st) {
    st = handle().prepare(sql);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(sql, st);
  }
  return st;
}

/** Structured clone turns a Buffer into a Uint8Array: the driver binds Buffers. */
const bindable = (v: unknown): unknown => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v);

type ErrorInfo = { message: string; code?: string; name?: string };

function errorInfo(err: unknown): ErrorInfo {
  const e = (err ?? {}) as { message?: unknown; code?: unknown; name?: unknown };
  return {
    message: typeof e.message === 'string' ? e.message : String(err),
    code: typeof e.code === 'string' ? e.code : undefined,
    name: typeof e.name === 'string' ? e.name : undefined,
  };
}

const isDuplicate = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
};

/** Errors that are about the database or the file, not about one message's statements: they fail the group. */
const GROUP_FATAL = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CORRUPT|NOMEM|READONLY|CANTOPEN|NOTADB|INTERRUPT|PROTOCOL|PERM|AUTH|ABORT)/;

type TxnRequest = Extract<SqliteRequest, { op: 'txn' }>;
let group: TxnRequest[] = [];

function runTxn(d: Database.Database, t: TxnRequest): SqliteTxnResult[] {
  const out: SqliteTxnResult[] = [];
  for (const s of t.stmts) {
    try {
      const st = prepare(s.sql);
      const values = s.values.map(bindable);
      out.push({ changes: st.reader ? st.all(...values).length : st.run(...values).changes });
    } catch (err) {
      if (s.ignoreDuplicate && isDuplicate(err)) out.push({ changes: 0, duplicate: true });
      else throw err;
    }
  }
  return out;
}

/** Commit the queued transactions together (see the header); replies only after the COMMIT. */
function flush(): void {
  const batch = group;
  group = [];
  if (batch.length === 0) return;
  const replies: SqliteReply[] = [];
  let fatal: unknown;
  let began = false;
  try {
    const d = handle();
    d.exec('BEGIN IMMEDIATE');
    began = true;
    for (const t of batch) {
      d.exec('SAVEPOINT mgs_txn');
      try {
        replies.push({ id: t.id, ok: true, results: runTxn(d, t), inTransaction: false });
        d.exec('RELEASE mgs_txn');
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        if (!d.inTransaction || (typeof code === 'string' && GROUP_FATAL.test(code))) throw err;
        d.exec('ROLLBACK TO mgs_txn');
        d.exec('RELEASE mgs_txn');
        replies.push({ id: t.id, ok: false, error: errorInfo(err), inTransaction: false });
      }
    }
    d.exec('COMMIT');
  } catch (err) {
    fatal = err;
    if (began) { try { if (db?.inTransaction) db.exec('ROLLBACK'); } catch { /* rolled back by SQLite */ } }
  }
  if (fatal !== undefined) {
    const error = errorInfo(fatal);
    for (const t of batch) port?.postMessage({ id: t.id, ok: false, error, inTransaction: db?.inTransaction ?? false } satisfies SqliteReply);
    return;
  }
  for (const r of replies) port?.postMessage(r);
}

port.on('message', (m: SqliteRequest) => {
  if (m.op === 'txn') {
    // the rest of what is queued on the port arrives before the immediate: it joins this group
    if (group.length === 0) setImmediate(flush);
    group.push(m);
    return;
  }
  flush();
  if (m.op === 'close') {
    cache.clear();
    try { db?.close(); } catch { /* already closed */ }
    db = undefined;
    port.postMessage({ id: m.id, ok: true, inTransaction: false } satisfies SqliteReply);
    port.close();
    return;
  }
  try {
    if (m.op === 'exec') {
      handle().exec(m.sql);
      port.postMessage({ id: m.id, ok: true, inTransaction: db?.inTransaction ?? false } satisfies SqliteReply);
      return;
    }
    const st = prepare(m.sql);
    const values = m.values.map(bindable);
    const reply: SqliteReply = st.reader
      ? { id: m.id, ok: true, reader: true, rows: st.all(...values), inTransaction: db?.inTransaction ?? false }
      : { id: m.id, ok: true, reader: false, changes: st.run(...values).changes, inTransaction: db?.inTransaction ?? false };
    port.postMessage(reply);
  } catch (err) {
    port.postMessage({ id: m.id, ok: false, inTransaction: db?.inTransaction ?? false, error: errorInfo(err) } satisfies SqliteReply);
  }
});

// SPDX-License-Identifier: Apache-2.0
/**
 * Worker-thread side of the SQLite dialect: the database handle lives here, so the fsync of each commit
 * (synchronous=FULL, unchanged) happens off the Node-RED event loop. One request at a time, in order;
 * the caller serialises transactions.
 */
import Database = require('better-sqlite3');
import { parentPort, workerData } from 'node:worker_threads';

export type SqliteRequest =
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'run'; sql: string; values: unknown[] }
  | { id: number; op: 'close' };

export type SqliteReply =
  | { id: number; ok: true; rows?: unknown[]; changes?: number; reader?: boolean; inTransaction: boolean }
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

port.on('message', (m: SqliteRequest) => {
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
    const e = (err ?? {}) as { message?: unknown; code?: unknown; name?: unknown };
    port.postMessage({ id: m.id, ok: false, inTransaction: db?.inTransaction ?? false, error: {
      message: typeof e.message === 'string' ? e.message : String(err),
      code: typeof e.code === 'string' ? e.code : undefined,
      name: typeof e.name === 'string' ? e.name : undefined,
    } } satisfies SqliteReply);
  }
});

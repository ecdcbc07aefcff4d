// SPDX-License-Identifier: Apache-2.0
/**
 * SQLite dialect (better-sqlite3). The database handle lives in a worker thread (./sqlite-worker), so a
 * commit's fsync never stalls the event loop (and with it every ACK). One handle serves every caller;
 * because a transaction spans awaits, calls are serialized through a lock so that a statement from another
 * message never runs inside (or is rolled back with) someone's transaction. A read outside a transaction
 * (a look-up) runs on a second, gateway-side connection: it sees the last committed state, as it would
 * after the lock, without a round trip to the worker (a file database only; ':memory:' is one connection).
 */
import Database = require('better-sqlite3');
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { GatewayError } from '../../errors';
import type { BatchStatement, EmrAdapter, EmrSession, ExecuteOptions, ExecuteResult, NamedParams, ResolvedEmrOptions, Row } from '../adapter';
import { bindValue, closedError, convertRow, isDuplicateKey, mapDbError } from '../convert';
import { bindValues, translateNamedParams } from '../named-params';
import type { SqliteReply, SqliteRequest, SqliteTxnStatement } from './sqlite-worker';

const CACHE_SIZE = 64;

type OkReply = Extract<SqliteReply, { ok: true }>;
type Request = { op: 'exec'; sql: string } | { op: 'run'; sql: string; values: unknown[] }
  | { op: 'txn'; stmts: SqliteTxnStatement[] } | { op: 'close' };

/** A driver error rebuilt from the worker's reply (code kept: mapDbError and isDuplicateKey read it). */
function driverError(e: { message: string; code?: string; name?: string }): Error {
  const err = new Error(e.message) as Error & { code?: string };
  if (e.name) err.name = e.name;
  if (e.code !== undefined) err.code = e.code;
  return err;
}

/** Structured clone turns Buffers into Uint8Arrays: BLOB columns come back as Buffers, as from the driver. */
function buffers(row: Row): Row {
  for (const k of Object.keys(row)) {
    const v = row[k] as unknown;
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  return row;
}

export class SqliteAdapter implements EmrAdapter {
  readonly dialect = 'sqlite' as const;
  private worker: Worker | undefined;
  private closed = false;
  private inTransaction = false;
  private lock: Promise<void> = Promise.resolve();
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: OkReply) => void; reject: (e: Error) => void }>();
  private readonly cache = new Map<string, { sql: string; names: string[] }>();
  private reader: Database.Database | undefined;
  /** Statements on the reader; null: not a read, it goes to the worker. */
  private readonly readCache = new Map<string, { stmt: Database.Statement; names: string[] } | null>();

  constructor(private readonly o: ResolvedEmrOptions) {}

  private spawn(): Worker {
    const w = new Worker(path.join(__dirname, 'sqlite-worker.js'), {
      workerData: { file: this.o.filename as string, timeoutMs: this.o.queryTimeoutMs },
    });
    w.unref();
    w.on('message', (r: SqliteReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) w.unref();
      this.inTransaction = r.inTransaction;
      if (r.ok) p.resolve(r);
      else p.reject(driverError(r.error));
    });
    const gone = (err: Error): void => {
      if (this.worker === w) this.worker = undefined;
      this.inTransaction = false;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('error', gone);
    w.on('exit', (code) => gone(new Error(`SQLite worker exited (${code})`)));
    return w;
  }

  /** One request to the worker; resolves with its reply, rejects with the driver's error. */
  private call(req: Request): Promise<OkReply> {
    if (this.closed && req.op !== 'close') return Promise.reject(closedError());
    this.worker ??= this.spawn();
    const w = this.worker;
    const id = this.nextId++;
    return new Promise<OkReply>((resolve, reject) => {
      if (this.pending.size === 0) w.ref();   // a caller awaiting a reply keeps the process alive
      this.pending.set(id, { resolve, reject });
      w.postMessage({ ...req, id } as SqliteRequest);
    });
  }

  private fail(err: unknown): GatewayError {
    return mapDbError(err, 'sqlite', { timeoutMs: this.o.queryTimeoutMs });
  }

  private translate(sql: string): { sql: string; names: string[] } {
    let hit = this.cache.get(sql);
    if (!hit) {
      hit = translateNamedParams(sql, 'sqlite');
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(sql, hit);
    }
    return hit;
  }

  private values(names: string[], params: NamedParams): unknown[] {
    return bindValues(names, params).map((v) => bindValue(v, 'sqlite'));
  }

  private async doQuery(sql: string, params: NamedParams): Promise<Row[]> {
    try {
      const t = this.translate(sql);
      const r = await this.call({ op: 'run', sql: t.sql, values: this.values(t.names, params) });
      if (!r.reader) return [];
      const conv = { decimals: this.o.decimals, dates: this.o.dates };
      return (r.rows as Row[]).map((row) => convertRow(buffers(row), conv));
    } catch (err) {
      throw this.fail(err);
    }
  }

  private async doExecute(sql: string, params: NamedParams, options: ExecuteOptions): Promise<ExecuteResult> {
    try {
      const t = this.translate(sql);
      const r = await this.call({ op: 'run', sql: t.sql, values: this.values(t.names, params) });
      if (r.reader) return { rowsAffected: (r.rows as unknown[]).length };   // INSERT ... RETURNING
      return { rowsAffected: r.changes as number };
    } catch (err) {
      if (options.ignoreDuplicate && isDuplicateKey(err, 'sqlite')) return { rowsAffected: 0, duplicate: true };
      throw this.fail(err);
    }
  }

  /** Run `fn` alone: no other caller's statement interleaves with it. */
  private async exclusive<T>(fn: () => T | Promise<T>): Promise<T> {
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise<void>((r) => { release = r; });
    await prev;
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private session(): EmrSession {
    return {
      query: (sql, params = {}) => this.doQuery(sql, params),
      execute: (sql, params = {}, options = {}) => this.doExecute(sql, params, options),
      callProcedure: async (name) => this.noProcedures(name),
    };
  }

  private noProcedures(name: string): never {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: `SQLite has no stored procedures (${name}); use SQL`, hl7Code: '207', ackCode: 'AE' });
  }

  query(sql: string, params: NamedParams = {}): Promise<Row[]> {
    if (!this.closed && this.o.filename !== ':memory:') {
      try {
        const rows = this.localRead(sql, params);
        if (rows) return Promise.resolve(rows);
      } catch (err) {
        return Promise.reject(this.fail(err));
      }
    }
    return this.exclusive(() => this.doQuery(sql, params));
  }

  /** A read on the gateway-side connection; undefined when the statement is not a read (it goes to the worker). */
  private localRead(sql: string, params: NamedParams): Row[] | undefined {
    let hit = this.readCache.get(sql);
    if (hit === undefined) {
      if (!this.reader) {
        const file = this.o.filename as string;
        // An EMR file that does not exist is a wrong path, not an empty EMR to create silently.
        this.reader = new Database(file, { fileMustExist: true, timeout: this.o.queryTimeoutMs });
      }
      const t = translateNamedParams(sql, 'sqlite');
      const stmt = this.reader.prepare(t.sql);
      hit = stmt.reader && stmt.readonly ? { stmt, names: t.names } : null;
      if (this.readCache.size >= CACHE_SIZE) this.readCache.delete(this.readCache.keys().next().value as string);
      this.readCache.set(sql, hit);
    }
    if (hit === null) return undefined;
    const conv = { decimals: this.o.decimals, dates: this.o.dates };
    return (hit.stmt.all(...this.values(hit.names, params)) as Row[]).map((r) => convertRow(r, conv));
  }

  execute(sql: string, params: NamedParams = {}, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.exclusive(() => this.doExecute(sql, params, options));
  }

  async callProcedure(name: string): Promise<Row[]> {
    return this.noProcedures(name);
  }

  transaction<T>(fn: (tx: EmrSession) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      try {
        await this.call({ op: 'exec', sql: 'BEGIN IMMEDIATE' });
      } catch (err) {
        throw this.fail(err);
      }
      try {
        const result = await fn(this.session());
        await this.call({ op: 'exec', sql: 'COMMIT' });
        return result;
      } catch (err) {
        if (this.inTransaction) await this.call({ op: 'exec', sql: 'ROLLBACK' }).catch(() => undefined);
        throw err instanceof GatewayError ? err : this.fail(err);
      }
    });
  }

  /**
   * One message transaction in one round trip. The lock is held only while the request is posted, not until
   * its reply, so the transactions of several messages queue in the worker and share one commit (see
   * sqlite-worker); the worker takes requests in the order they were posted, so commits keep arrival order.
   */
  async transactionBatch(statements: readonly BatchStatement[]): Promise<ExecuteResult[]> {
    const posted = await this.exclusive(() => {
      try {
        const stmts = statements.map((s): SqliteTxnStatement => {
          const t = this.translate(s.sql);
          return { sql: t.sql, values: this.values(t.names, s.params ?? {}), ignoreDuplicate: s.ignoreDuplicate === true };
        });
        const reply = this.call({ op: 'txn', stmts });
        reply.catch(() => undefined);   // awaited below
        return { reply };
      } catch (err) {
        throw this.fail(err);
      }
    });
    let r: OkReply;
    try {
      r = await posted.reply;
    } catch (err) {
      throw err instanceof GatewayError ? err : this.fail(err);
    }
    return (r.results ?? []).map((x) => (x.duplicate ? { rowsAffected: 0, duplicate: true } : { rowsAffected: x.changes }));
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.exclusive(async () => {
      this.closed = true;
      this.cache.clear();
      this.readCache.clear();
      if (this.reader) {
        try { this.reader.close(); } catch { /* already closed */ }
        this.reader = undefined;
      }
      const w = this.worker;
      if (w) {
        const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
        await this.call({ op: 'close' }).catch(() => undefined);
        await exited;
        this.worker = undefined;
      }
    });
  }
}

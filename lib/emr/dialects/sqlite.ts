// SPDX-License-Identifier: Apache-2.0
/**
 * SQLite dialect (better-sqlite3). One database handle serves every caller; because the driver
 * is synchronous and a transaction spans awaits, calls are serialized through a lock so that a
 * statement from another message never runs inside (or is rolled back with) someone's transaction.
 */
import Database = require('better-sqlite3');
import { GatewayError } from '../../errors';
import type { EmrAdapter, EmrSession, ExecuteOptions, ExecuteResult, NamedParams, ResolvedEmrOptions, Row } from '../adapter';
import { bindValue, closedError, convertRow, isDuplicateKey, mapDbError } from '../convert';
import { bindValues, translateNamedParams } from '../named-params';

const CACHE_SIZE = 64;

export class SqliteAdapter implements EmrAdapter {
  readonly dialect = 'sqlite' as const;
  private db: Database.Database | undefined;
  private closed = false;
  private lock: Promise<void> = Promise.resolve();
  private readonly cache = new Map<string, { stmt: Database.Statement; names: string[] }>();

  constructor(private readonly o: ResolvedEmrOptions) {}

  private handle(): Database.Database {
    if (this.closed) throw closedError();
    if (!this.db) {
      const file = this.o.filename as string;
      try {
        // An EMR file that does not exist is a wrong path, not an empty EMR to create silently.
        this.db = new Database(file, { fileMustExist: file !== ':memory:', timeout: this.o.queryTimeoutMs });
      } catch (err) {
        throw this.fail(err);
      }
    }
    return this.db;
  }

  private fail(err: unknown): GatewayError {
    return mapDbError(err, 'sqlite', { timeoutMs: this.o.queryTimeoutMs });
  }

  private prepare(sql: string): { stmt: Database.Statement; names: string[] } {
    let hit = this.cache.get(sql);
    if (!hit) {
      const t = translateNamedParams(sql, 'sqlite');
      hit = { stmt: this.handle().prepare(t.sql), names: t.names };
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(sql, hit);
    }
    return hit;
  }

  private values(names: string[], params: NamedParams): unknown[] {
    return bindValues(names, params).map((v) => bindValue(v, 'sqlite'));
  }

  private doQuery(sql: string, params: NamedParams): Row[] {
    try {
      const { stmt, names } = this.prepare(sql);
      const values = this.values(names, params);
      if (!stmt.reader) {
        stmt.run(...values);
        return [];
      }
      const conv = { decimals: this.o.decimals, dates: this.o.dates };
      return (stmt.all(...values) as Row[]).map((r) => convertRow(r, conv));
    } catch (err) {
      throw this.fail(err);
    }
  }

  private doExecute(sql: string, params: NamedParams, options: ExecuteOptions): ExecuteResult {
    try {
      const { stmt, names } = this.prepare(sql);
      const values = this.values(names, params);
      if (stmt.reader) return { rowsAffected: stmt.all(...values).length };   // INSERT ... RETURNING
      return { rowsAffected: stmt.run(...values).changes };
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
      query: async (sql, params = {}) => this.doQuery(sql, params),
      execute: async (sql, params = {}, options = {}) => this.doExecute(sql, params, options),
      callProcedure: async (name) => this.noProcedures(name),
    };
  }

  private noProcedures(name: string): never {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: `SQLite has no stored procedures (${name}); use SQL`, hl7Code: '207', ackCode: 'AE' });
  }

  query(sql: string, params: NamedParams = {}): Promise<Row[]> {
    return this.exclusive(() => this.doQuery(sql, params));
  }

  execute(sql: string, params: NamedParams = {}, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.exclusive(() => this.doExecute(sql, params, options));
  }

  async callProcedure(name: string): Promise<Row[]> {
    return this.noProcedures(name);
  }

  transaction<T>(fn: (tx: EmrSession) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const db = this.handle();
      try {
        db.exec('BEGIN IMMEDIATE');
      } catch (err) {
        throw this.fail(err);
      }
      try {
        const result = await fn(this.session());
        db.exec('COMMIT');
        return result;
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err instanceof GatewayError ? err : this.fail(err);
      }
    });
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    await this.exclusive(() => {
      this.closed = true;
      this.cache.clear();
      if (this.db) {
        this.db.close();
        this.db = undefined;
      }
    });
  }
}

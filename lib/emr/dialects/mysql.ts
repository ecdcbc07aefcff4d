// SPDX-License-Identifier: Apache-2.0
/**
 * MySQL and MariaDB dialect (mysql2/promise pool). Statements run as server-side prepared
 * statements (`execute`), so values travel separately from the SQL text. The session time zone
 * is UTC and DATETIME values are read and written as UTC, so an instant survives the round trip.
 */
import mysql = require('mysql2/promise');
import { GatewayError } from '../../errors';
import type { EmrAdapter, EmrSession, ExecuteOptions, ExecuteResult, NamedParams, ResolvedEmrOptions, Row } from '../adapter';
import { bindValue, boundedClose, closedError, convertRow, isDuplicateKey, mapDbError } from '../convert';
import { bindValues, isSafeIdentifier, translateNamedParams } from '../named-params';

type Runner = mysql.Pool | mysql.PoolConnection;

export class MysqlAdapter implements EmrAdapter {
  readonly dialect = 'mysql' as const;
  private pool: mysql.Pool | undefined;
  private closed = false;

  constructor(private readonly o: ResolvedEmrOptions) {}

  private getPool(): mysql.Pool {
    if (this.closed) throw closedError();
    if (!this.pool) {
      const o = this.o;
      const ssl = o.tls === true ? {} : o.tls ? {
        rejectUnauthorized: o.tls.rejectUnauthorized ?? true, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, passphrase: o.tls.passphrase,
      } : undefined;
      this.pool = mysql.createPool({
        host: o.host, port: o.port, database: o.database, user: o.user, password: o.password,
        connectionLimit: o.poolSize, maxIdle: o.poolSize, idleTimeout: 30000,
        waitForConnections: true, queueLimit: 0,
        connectTimeout: o.connectTimeoutMs,
        timezone: 'Z',
        dateStrings: o.dates === 'iso' ? ['DATE'] : false,
        decimalNumbers: o.decimals === 'number',
        supportBigNumbers: true, bigNumberStrings: false,
        charset: 'utf8mb4',
        multipleStatements: false,
        enableKeepAlive: true,
        ssl,
      });
      // DATETIME has no zone: the adapter's convention is UTC on both sides of the wire.
      (this.pool as unknown as { pool: { on(e: string, f: (c: { query(sql: string): unknown }) => void): void } })
        .pool.on('connection', (conn) => { conn.query("SET time_zone = '+00:00'"); });
    }
    return this.pool;
  }

  private fail(err: unknown): GatewayError {
    return mapDbError(err, 'mysql', { timeoutMs: this.o.queryTimeoutMs });
  }

  private async run(runner: Runner, sql: string, params: NamedParams): Promise<unknown> {
    const t = translateNamedParams(sql, 'mysql');
    const values = bindValues(t.names, params).map((v) => bindValue(v, 'mysql'));
    const [result] = await runner.execute({ sql: t.sql, values, timeout: this.o.queryTimeoutMs } as mysql.QueryOptions);
    return result;
  }

  private rows(result: unknown): Row[] {
    if (!Array.isArray(result)) return [];
    // CALL returns [rows of the first result set, ..., ResultSetHeader].
    const set = result.length > 0 && Array.isArray(result[0]) ? result[0] : result;
    const conv = { decimals: this.o.decimals, dates: this.o.dates };
    return (set as Row[]).map((r) => convertRow({ ...r }, conv));
  }

  private async doQuery(runner: Runner, sql: string, params: NamedParams): Promise<Row[]> {
    try {
      return this.rows(await this.run(runner, sql, params));
    } catch (err) {
      throw this.fail(err);
    }
  }

  private async doExecute(runner: Runner, sql: string, params: NamedParams, options: ExecuteOptions): Promise<ExecuteResult> {
    try {
      const r = await this.run(runner, sql, params);
      if (Array.isArray(r)) return { rowsAffected: r.length };
      return { rowsAffected: (r as mysql.ResultSetHeader).affectedRows ?? 0 };
    } catch (err) {
      // InnoDB rolls back only the failed statement: the transaction goes on.
      if (options.ignoreDuplicate && isDuplicateKey(err, 'mysql')) return { rowsAffected: 0, duplicate: true };
      throw this.fail(err);
    }
  }

  private async doCall(runner: Runner, name: string, params: NamedParams): Promise<Row[]> {
    if (!isSafeIdentifier(name)) {
      throw new GatewayError('EMR_BAD_CONFIG', { detail: `invalid procedure name ${name}`, hl7Code: '207', ackCode: 'AE' });
    }
    const keys = Object.keys(params);
    return this.doQuery(runner, `CALL ${name}(${keys.map((k) => `:${k}`).join(', ')})`, params);
  }

  private session(conn: mysql.PoolConnection): EmrSession {
    return {
      query: (sql, params = {}) => this.doQuery(conn, sql, params),
      execute: (sql, params = {}, options = {}) => this.doExecute(conn, sql, params, options),
      callProcedure: (name, params = {}) => this.doCall(conn, name, params),
    };
  }

  async query(sql: string, params: NamedParams = {}): Promise<Row[]> {
    return this.doQuery(this.getPool(), sql, params);
  }

  async execute(sql: string, params: NamedParams = {}, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.doExecute(this.getPool(), sql, params, options);
  }

  async callProcedure(name: string, params: NamedParams = {}): Promise<Row[]> {
    return this.doCall(this.getPool(), name, params);
  }

  async transaction<T>(fn: (tx: EmrSession) => Promise<T>): Promise<T> {
    let conn: mysql.PoolConnection;
    try {
      conn = await this.getPool().getConnection();
    } catch (err) {
      throw this.fail(err);
    }
    let broken = false;
    try {
      await conn.beginTransaction();
      const result = await fn(this.session(conn));
      await conn.commit();
      return result;
    } catch (err) {
      try {
        await conn.rollback();
      } catch {
        broken = true;                     // the connection is gone: destroy it rather than pool it
      }
      throw err instanceof GatewayError ? err : this.fail(err);
    } finally {
      if (broken) conn.destroy(); else conn.release();
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await boundedClose(pool.end());
  }
}

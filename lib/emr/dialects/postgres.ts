// SPDX-License-Identifier: Apache-2.0
/** PostgreSQL dialect (pg Pool). Placeholders `$1..$n`; procedures are set-returning functions. */
import pg = require('pg');
import { GatewayError } from '../../errors';
import type { EmrAdapter, EmrSession, ExecuteOptions, ExecuteResult, NamedParams, ResolvedEmrOptions, Row } from '../adapter';
import { bindValue, boundedClose, closedError, convertRow, decimalValue, isDuplicateKey, mapDbError, naiveTimestamp } from '../convert';
import { bindValues, isSafeIdentifier, translateNamedParams } from '../named-params';

const OID = { INT8: 20, NUMERIC: 1700, DATE: 1082, TIMESTAMP: 1114, TIMESTAMPTZ: 1184 } as const;

type Runner = Pick<pg.Pool, 'query'> | pg.PoolClient;

export class PostgresAdapter implements EmrAdapter {
  readonly dialect = 'postgres' as const;
  private pool: pg.Pool | undefined;
  private closed = false;

  constructor(private readonly o: ResolvedEmrOptions) {}

  private types(): pg.CustomTypesConfig {
    const o = this.o;
    const conv = { decimals: o.decimals, dates: o.dates };
    return {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (format === 'binary') return pg.types.getTypeParser(oid, 'binary');
        switch (oid) {
          case OID.NUMERIC: return (v: string) => decimalValue(v, conv);
          case OID.INT8: return (v: string) => {
            const n = Number(v);
            return Number.isSafeInteger(n) ? n : v;
          };
          case OID.DATE: if (o.dates === 'iso') return (v: string) => v; break;
          case OID.TIMESTAMP: if (o.dates === 'iso') return (v: string) => naiveTimestamp(v); break;
        }
        return pg.types.getTypeParser(oid, 'text');
      }) as pg.CustomTypesConfig['getTypeParser'],
    };
  }

  private getPool(): pg.Pool {
    if (this.closed) throw closedError();
    if (!this.pool) {
      const o = this.o;
      const tls = o.tls === true ? { rejectUnauthorized: true } : o.tls || undefined;
      this.pool = new pg.Pool({
        host: o.host, port: o.port, database: o.database, user: o.user, password: o.password,
        max: o.poolSize,
        connectionTimeoutMillis: o.connectTimeoutMs,
        idleTimeoutMillis: 30000,
        statement_timeout: o.queryTimeoutMs,                 // the server cancels the statement ...
        query_timeout: o.queryTimeoutMs + 1000,              // ... and the client gives up if the server is silent
        application_name: o.applicationName,
        ssl: tls,
        types: this.types(),
      });
      // An idle connection that dies (server restart, pg_terminate_backend) is reported here;
      // the pool discards it and the next call opens a fresh one. Without a listener the process would exit.
      this.pool.on('error', () => { /* the next call reports the outage, mapped */ });
    }
    return this.pool;
  }

  private fail(err: unknown): GatewayError {
    return mapDbError(err, 'postgres', { timeoutMs: this.o.queryTimeoutMs });
  }

  private async run(runner: Runner, sql: string, params: NamedParams): Promise<pg.QueryResult> {
    const t = translateNamedParams(sql, 'postgres');
    const values = bindValues(t.names, params).map((v) => bindValue(v, 'postgres'));
    return (runner as pg.Pool).query({ text: t.sql, values });
  }

  private conv(): { decimals: 'string' | 'number'; dates: 'iso' | 'date' } {
    return { decimals: this.o.decimals, dates: this.o.dates };
  }

  private async doQuery(runner: Runner, sql: string, params: NamedParams): Promise<Row[]> {
    try {
      const r = await this.run(runner, sql, params);
      return (r.rows as Row[]).map((row) => convertRow(row, this.conv()));
    } catch (err) {
      throw this.fail(err);
    }
  }

  private async doExecute(runner: Runner, sql: string, params: NamedParams, options: ExecuteOptions,
                          inTransaction: boolean): Promise<ExecuteResult> {
    // Inside a transaction a failed statement aborts the whole transaction, so a tolerated
    // duplicate needs its own savepoint to roll back to.
    const savepoint = options.ignoreDuplicate && inTransaction;
    try {
      if (savepoint) await (runner as pg.PoolClient).query('SAVEPOINT mgs_row');
      const r = await this.run(runner, sql, params);
      if (savepoint) await (runner as pg.PoolClient).query('RELEASE SAVEPOINT mgs_row');
      return { rowsAffected: r.rowCount ?? 0 };
    } catch (err) {
      if (options.ignoreDuplicate && isDuplicateKey(err, 'postgres')) {
        try {
          if (savepoint) await (runner as pg.PoolClient).query('ROLLBACK TO SAVEPOINT mgs_row');
        } catch (e2) {
          throw this.fail(e2);
        }
        return { rowsAffected: 0, duplicate: true };
      }
      throw this.fail(err);
    }
  }

  private async doCall(runner: Runner, name: string, params: NamedParams): Promise<Row[]> {
    if (!isSafeIdentifier(name)) {
      throw new GatewayError('EMR_BAD_CONFIG', { detail: `invalid procedure name ${name}`, hl7Code: '207', ackCode: 'AE' });
    }
    const keys = Object.keys(params);
    const sql = `SELECT * FROM ${name}(${keys.map((k) => `:${k}`).join(', ')})`;
    return this.doQuery(runner, sql, params);
  }

  private session(client: pg.PoolClient): EmrSession {
    return {
      query: (sql, params = {}) => this.doQuery(client, sql, params),
      execute: (sql, params = {}, options = {}) => this.doExecute(client, sql, params, options, true),
      callProcedure: (name, params = {}) => this.doCall(client, name, params),
    };
  }

  async query(sql: string, params: NamedParams = {}): Promise<Row[]> {
    return this.doQuery(this.getPool(), sql, params);
  }

  async execute(sql: string, params: NamedParams = {}, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.doExecute(this.getPool(), sql, params, options, false);
  }

  async callProcedure(name: string, params: NamedParams = {}): Promise<Row[]> {
    return this.doCall(this.getPool(), name, params);
  }

  async transaction<T>(fn: (tx: EmrSession) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.getPool().connect();
    } catch (err) {
      throw this.fail(err);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn(this.session(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (e2) {
        broken = e2 as Error;               // the connection itself is gone: do not return it to the pool
      }
      throw err instanceof GatewayError ? err : this.fail(err);
    } finally {
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    if (!pool) return;
    const ending = pool.end();
    // A connection still being opened (EMR hung) would hold its socket until the connect time-out:
    // cut it now. pg has no public call for this, hence the guarded look at its internals.
    const clients = (pool as unknown as { _clients?: Array<{ _connecting?: boolean; connection?: { stream?: { destroy?(): void } } }> })._clients;
    for (const c of clients ?? []) if (c._connecting) c.connection?.stream?.destroy?.();
    await boundedClose(ending);
  }
}

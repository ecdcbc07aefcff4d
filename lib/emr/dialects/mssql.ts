// SPDX-License-Identifier: Apache-2.0
/**
 * Microsoft SQL Server dialect (mssql/tedious). Parameters are `@name` and bound by name with an
 * explicit type per JavaScript value (strings as NVARCHAR, so Hangul survives; whole numbers as
 * INT or BIGINT; other numbers as FLOAT; Dates as DATETIMEOFFSET in UTC). Procedures are run with
 * `request.execute(name)`, their parameters bound by name.
 */
import sql = require('mssql');
import { GatewayError } from '../../errors';
import type { EmrAdapter, EmrSession, ExecuteOptions, ExecuteResult, NamedParams, ResolvedEmrOptions, Row } from '../adapter';
import { bindValue, boundedClose, closedError, convertRow, decimalValue, isDuplicateKey, mapDbError } from '../convert';
import { bindValues, isSafeIdentifier, translateNamedParams } from '../named-params';

type Parent = sql.ConnectionPool | sql.Transaction;

const INT32 = 2 ** 31;

function typed(v: unknown): { type: sql.ISqlType | (() => sql.ISqlType); value: unknown } {
  if (v === null) return { type: sql.NVarChar(sql.MAX), value: null };
  if (typeof v === 'string') return { type: sql.NVarChar(sql.MAX), value: v };
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return { type: v >= -INT32 && v < INT32 ? sql.Int() : sql.BigInt(), value: v };
    return { type: sql.Float(), value: v };
  }
  if (typeof v === 'boolean') return { type: sql.Bit(), value: v };
  if (v instanceof Date) return { type: sql.DateTimeOffset(7), value: v };
  if (Buffer.isBuffer(v)) return { type: sql.VarBinary(sql.MAX), value: v };
  return { type: sql.NVarChar(sql.MAX), value: String(v) };
}

export class MssqlAdapter implements EmrAdapter {
  readonly dialect = 'mssql' as const;
  private pool: sql.ConnectionPool | undefined;
  private connecting: Promise<sql.ConnectionPool> | undefined;
  private closed = false;

  constructor(private readonly o: ResolvedEmrOptions) {}

  private config(): sql.config {
    const o = this.o;
    const tls = o.tls === true ? {} : o.tls || undefined;
    return {
      server: o.host as string, port: o.instance ? undefined : o.port, database: o.database,
      user: o.user, password: o.password,
      connectionTimeout: o.connectTimeoutMs, requestTimeout: o.queryTimeoutMs,
      pool: { max: o.poolSize, min: 0, idleTimeoutMillis: 30000 },
      options: {
        encrypt: tls !== undefined,
        trustServerCertificate: tls !== undefined && tls.rejectUnauthorized === false,
        instanceName: o.instance,
        appName: o.applicationName,
        useUTC: true,
        ...(tls?.ca ? { cryptoCredentialsDetails: { ca: tls.ca } } : {}),
      },
    };
  }

  private async getPool(): Promise<sql.ConnectionPool> {
    if (this.closed) throw closedError();
    if (this.pool?.connected) return this.pool;
    if (!this.connecting) {
      const pool = new sql.ConnectionPool(this.config());
      pool.on('error', () => { /* a dropped idle connection: the next call reports it, mapped */ });
      this.connecting = pool.connect().then(
        (p) => { this.pool = p; this.connecting = undefined; return p; },
        (err) => { this.connecting = undefined; void pool.close().catch(() => undefined); throw err; });
    }
    try {
      return await this.connecting;
    } catch (err) {
      throw this.fail(err);
    }
  }

  private fail(err: unknown): GatewayError {
    return mapDbError(err, 'mssql', { timeoutMs: this.o.queryTimeoutMs });
  }

  private request(parent: Parent, names: string[], params: NamedParams): sql.Request {
    const req = new sql.Request(parent as sql.ConnectionPool);
    const values = bindValues(names, params).map((v) => bindValue(v, 'mssql'));
    names.forEach((name, i) => {
      const t = typed(values[i]);
      req.input(name, t.type as sql.ISqlType, t.value);
    });
    return req;
  }

  private rows(set: sql.IRecordSet<Row> | undefined): Row[] {
    if (!set) return [];
    const conv = { decimals: this.o.decimals, dates: this.o.dates };
    const cols = set.columns ?? {};
    const dateCols: string[] = [];
    const decimalCols: string[] = [];
    for (const name of Object.keys(cols)) {
      const t = cols[name].type as unknown;
      if (t === sql.Date) dateCols.push(name);
      if (t === sql.Decimal || t === sql.Numeric || t === sql.Money || t === sql.SmallMoney) decimalCols.push(name);
    }
    return set.map((r) => {
      const row = convertRow(r, conv);
      if (conv.dates === 'iso') {
        for (const c of dateCols) if (typeof row[c] === 'string') row[c] = (row[c] as string).slice(0, 10);
      }
      for (const c of decimalCols) if (typeof row[c] === 'number') row[c] = decimalValue(row[c] as number, conv);
      return row;
    });
  }

  private async doQuery(parent: Parent, text: string, params: NamedParams): Promise<Row[]> {
    try {
      const t = translateNamedParams(text, 'mssql');
      const r = await this.request(parent, t.names, params).query<Row>(t.sql);
      return this.rows(r.recordset);
    } catch (err) {
      throw this.fail(err);
    }
  }

  private async doExecute(parent: Parent, text: string, params: NamedParams, options: ExecuteOptions): Promise<ExecuteResult> {
    try {
      const t = translateNamedParams(text, 'mssql');
      const r = await this.request(parent, t.names, params).query(t.sql);
      return { rowsAffected: r.rowsAffected.reduce((a, b) => a + b, 0) };
    } catch (err) {
      // With XACT_ABORT off (the default) a duplicate-key error ends the statement, not the transaction.
      if (options.ignoreDuplicate && isDuplicateKey(err, 'mssql')) return { rowsAffected: 0, duplicate: true };
      throw this.fail(err);
    }
  }

  private async doCall(parent: Parent, name: string, params: NamedParams): Promise<Row[]> {
    if (!isSafeIdentifier(name)) {
      throw new GatewayError('EMR_BAD_CONFIG', { detail: `invalid procedure name ${name}`, hl7Code: '207', ackCode: 'AE' });
    }
    try {
      const r = await this.request(parent, Object.keys(params), params).execute<Row>(name);
      return this.rows(r.recordset);
    } catch (err) {
      throw this.fail(err);
    }
  }

  async query(text: string, params: NamedParams = {}): Promise<Row[]> {
    return this.doQuery(await this.getPool(), text, params);
  }

  async execute(text: string, params: NamedParams = {}, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    return this.doExecute(await this.getPool(), text, params, options);
  }

  async callProcedure(name: string, params: NamedParams = {}): Promise<Row[]> {
    return this.doCall(await this.getPool(), name, params);
  }

  async transaction<T>(fn: (tx: EmrSession) => Promise<T>): Promise<T> {
    const pool = await this.getPool();
    const tx = new sql.Transaction(pool);
    try {
      await tx.begin();
    } catch (err) {
      throw this.fail(err);
    }
    const session: EmrSession = {
      query: (text, params = {}) => this.doQuery(tx, text, params),
      execute: (text, params = {}, options = {}) => this.doExecute(tx, text, params, options),
      callProcedure: (name, params = {}) => this.doCall(tx, name, params),
    };
    try {
      const result = await fn(session);
      await tx.commit();
      return result;
    } catch (err) {
      try {
        await tx.rollback();
      } catch {
        /* the server already rolled back, or the connection is gone */
      }
      throw err instanceof GatewayError ? err : this.fail(err);
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1 AS ok');
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connecting;
    const pool = this.pool;
    this.pool = undefined;
    if (pending) await boundedClose(pending.then((p) => p.close()));
    else if (pool) await boundedClose(pool.close());
  }
}

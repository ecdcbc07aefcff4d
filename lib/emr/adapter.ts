// SPDX-License-Identifier: Apache-2.0
/**
 * One small adapter for every EMR database MGS talks SQL to.
 *
 * Callers write SQL with named parameters (`:barcode`) and pass the values as an object; the
 * adapter translates the placeholders for the dialect and always binds the values (nothing is
 * ever spliced into SQL text). Every failure reaches the caller as a GatewayError:
 * EMR_UNREACHABLE (connection refused, dropped, login rejected), EMR_TIMEOUT, EMR_QUERY_FAILED
 * or EMR_BAD_CONFIG; each carries hl7Code '207' and ackCode 'AE' so a NAK can be built from it.
 *
 * Type conversion (the same for every dialect):
 * - parameters: null and undefined bind as SQL NULL; booleans bind as 1/0 on SQLite; a Date binds
 *   as the driver's timestamp type (SQLite: ISO 8601 UTC text, `2009-09-27T06:19:49.000Z`);
 *   strings and numbers bind as they are; a bigint binds as a number when it is safe.
 * - rows: SQL NULL is null; DATE columns are 'YYYY-MM-DD' text; time stamps are ISO 8601 text
 *   ('Z' for zone-aware types and for MySQL/MariaDB DATETIME, which the adapter reads and writes
 *   as UTC; zone-less PostgreSQL timestamps as 'YYYY-MM-DDTHH:MM:SS[.fff]') unless `dates: 'date'`
 *   asks for Date objects; DECIMAL/NUMERIC are text (lossless) unless `decimals: 'number'`;
 *   64-bit integers are numbers when they fit in 2^53, text otherwise; blobs are Buffers.
 */
import { GatewayError } from '../errors';
import type { Dialect } from './named-params';
import { DIALECTS } from './named-params';

export type { Dialect } from './named-params';

/** One result row: column name -> value (see the type conversion rules above). */
export type Row = Record<string, unknown>;

/** Named parameters: `{ barcode: '107558' }` binds `:barcode`. */
export type NamedParams = Record<string, unknown>;

export interface ExecuteResult {
  /** Rows inserted, updated or deleted (0 for a duplicate that was tolerated). */
  rowsAffected: number;
  /** True when the statement hit a unique key and `ignoreDuplicate` was set. */
  duplicate?: boolean;
}

export interface ExecuteOptions {
  /** Treat a unique-key violation as "already there": resolve with { rowsAffected: 0, duplicate: true }. */
  ignoreDuplicate?: boolean;
}

/** What can run SQL: the adapter itself, or a transaction handed to `transaction()`'s callback. */
export interface EmrSession {
  /** Run a SELECT (or anything returning rows) and return its rows. */
  query(sql: string, params?: NamedParams): Promise<Row[]>;
  /** Run a statement that changes data. */
  execute(sql: string, params?: NamedParams, options?: ExecuteOptions): Promise<ExecuteResult>;
  /**
   * Call a stored procedure with `params` as its arguments, in the object's key order, and
   * return the rows of its first result set. PostgreSQL: a set-returning function
   * (`SELECT * FROM name($1, ...)`); MySQL/MariaDB: `CALL name(?, ...)`; SQL Server: the
   * procedure's parameters are bound by name (`@barcode`). SQLite has no procedures (EMR_BAD_CONFIG).
   */
  callProcedure(name: string, params?: NamedParams): Promise<Row[]>;
}

/** One statement of a batch transaction. */
export interface BatchStatement {
  sql: string;
  params?: NamedParams;
  /** As ExecuteOptions.ignoreDuplicate. */
  ignoreDuplicate?: boolean;
}

export interface EmrAdapter extends EmrSession {
  readonly dialect: Dialect;
  /** Run `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: EmrSession) => Promise<T>): Promise<T>;
  /**
   * Optional: run the statements in order as one transaction (all or nothing), sent to the database at
   * once; resolves with one result per statement once the commit is durable. SQLite commits several such
   * transactions together (group commit). Adapters without it are driven through `transaction()`.
   */
  transactionBatch?(statements: readonly BatchStatement[]): Promise<ExecuteResult[]>;
  /** Check that the database answers (a trivial query); throws like any other call. */
  ping(): Promise<void>;
  /** Release every connection. Calls after close fail with EMR_UNREACHABLE. */
  close(): Promise<void>;
}

export interface TlsOptions {
  /** Verify the server certificate (default true). */
  rejectUnauthorized?: boolean;
  /** PEM text of the CA that signed the server certificate. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Pass phrase of an encrypted client key. */
  passphrase?: string;
  /** SNI host name (defaults to the host). */
  servername?: string;
}

/** How to reach an EMR database: a URL, or fields (fields given explicitly win over the URL's). */
export interface EmrConnectionOptions {
  dialect?: Dialect;
  /** postgres://user:pass@host:5432/db, mysql://..., mariadb://..., mssql://..., sqlite:/path, or a file path. */
  url?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** SQLite file (or ':memory:'). */
  filename?: string;
  /** SQL Server named instance. */
  instance?: string;
  /** Largest number of pooled connections (default 5; SQLite uses one handle). */
  poolSize?: number;
  /** Time allowed to open a connection, ms (default 5000). */
  connectTimeoutMs?: number;
  /** Time allowed for one statement, ms (default 10000; SQLite: how long to wait for a lock). */
  queryTimeoutMs?: number;
  /** TLS: false/undefined = plain, true = TLS with the system CAs, or detailed options. */
  tls?: boolean | TlsOptions;
  /** DECIMAL/NUMERIC columns as 'string' (default, lossless) or 'number'. */
  decimals?: 'string' | 'number';
  /** Date/time columns as ISO 'iso' text (default) or JavaScript Date objects ('date'). */
  dates?: 'iso' | 'date';
  /** Application name reported to the server where the protocol has one. */
  applicationName?: string;
}

/** Options after defaults and URL parsing. */
export interface ResolvedEmrOptions extends EmrConnectionOptions {
  dialect: Dialect;
  poolSize: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  decimals: 'string' | 'number';
  dates: 'iso' | 'date';
  applicationName: string;
}

export const DEFAULT_POOL_SIZE = 5;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_QUERY_TIMEOUT_MS = 10000;

const SCHEMES: Record<string, Dialect> = {
  postgres: 'postgres', postgresql: 'postgres', pg: 'postgres',
  mysql: 'mysql', mariadb: 'mysql',
  mssql: 'mssql', sqlserver: 'mssql',
  sqlite: 'sqlite', sqlite3: 'sqlite', file: 'sqlite',
};

const DEFAULT_PORTS: Record<Dialect, number | undefined> = {
  sqlite: undefined, postgres: 5432, mysql: 3306, mssql: 1433,
};

function badConfig(detail: string): never {
  throw new GatewayError('EMR_BAD_CONFIG', { detail, hl7Code: '207', ackCode: 'AE' });
}

function truthy(v: string | null): boolean | undefined {
  if (v === null) return undefined;
  return /^(1|true|yes|on|require|required|verify-ca|verify-full|strict)$/i.test(v);
}

/**
 * Parse an EMR URL into options. Accepts `postgres[ql]://`, `mysql://`, `mariadb://`,
 * `mssql://`/`sqlserver://`, `sqlite:/abs/path`, `sqlite:///abs/path`, `sqlite:relative/path`,
 * `file:`, ':memory:', or a bare file path (SQLite). Query options: `ssl`/`sslmode`/`tls`/`encrypt`,
 * `sslrejectunauthorized`/`trustServerCertificate`, `instance`, `poolSize`, `connectTimeout`, `queryTimeout` (ms).
 */
export function parseEmrUrl(url: string): EmrConnectionOptions {
  const text = url.trim();
  if (text === '') return {};
  if (text === ':memory:') return { dialect: 'sqlite', filename: ':memory:' };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text);
  // 'C:\data\emr.sqlite' is a Windows path, not a URL with scheme 'c'.
  if (!scheme || /^[A-Za-z]:[\\/]/.test(text)) return { dialect: 'sqlite', filename: text };
  const dialect = SCHEMES[scheme[1].toLowerCase()];
  if (!dialect) badConfig(`unknown URL scheme ${scheme[1]}:`);
  if (dialect === 'sqlite') {
    let rest = text.slice(scheme[0].length);
    const q = rest.indexOf('?');
    if (q >= 0) rest = rest.slice(0, q);
    if (rest.startsWith('//')) rest = rest.slice(2);          // sqlite:///abs -> /abs ; sqlite://rel -> rel
    return { dialect, filename: decodeURIComponent(rest) || ':memory:' };
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    badConfig('the EMR URL is not a valid URL');
  }
  const o: EmrConnectionOptions = { dialect };
  if (u.hostname) o.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (u.port) o.port = Number(u.port);
  if (u.username) o.user = decodeURIComponent(u.username);
  if (u.password) o.password = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (db) o.database = db;
  const p = u.searchParams;
  const get = (...names: string[]): string | null => {
    for (const [k, v] of p) if (names.includes(k.toLowerCase())) return v;
    return null;
  };
  const sslmode = get('sslmode');
  const ssl = sslmode !== null ? (sslmode === 'disable' || sslmode === 'allow' || sslmode === 'prefer' ? false : true)
    : truthy(get('ssl', 'tls', 'encrypt'));
  if (ssl) {
    const tls: TlsOptions = {};
    const reject = truthy(get('sslrejectunauthorized', 'rejectunauthorized'));
    const trust = truthy(get('trustservercertificate'));
    if (sslmode === 'require' || sslmode === 'no-verify' || trust === true || reject === false) tls.rejectUnauthorized = false;
    o.tls = Object.keys(tls).length ? tls : true;
  }
  const instance = get('instance', 'instancename');
  if (instance) o.instance = instance;
  const num = (...names: string[]): number | undefined => {
    const v = get(...names);
    return v === null || v === '' || !Number.isFinite(Number(v)) ? undefined : Number(v);
  };
  const pool = num('poolsize', 'pool', 'connectionlimit', 'max');
  if (pool !== undefined) o.poolSize = pool;
  const ct = num('connecttimeout', 'connect_timeout');
  if (ct !== undefined) o.connectTimeoutMs = get('connect_timeout') !== null ? ct * 1000 : ct;  // libpq's is seconds
  const qt = num('querytimeout', 'requesttimeout', 'statement_timeout');
  if (qt !== undefined) o.queryTimeoutMs = qt;
  return o;
}

function positiveInt(v: unknown, name: string, fallback: number): number {
  if (v === undefined || v === null || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) badConfig(`${name} must be a positive whole number`);
  return n;
}

/** Merge URL and fields, apply defaults and check the result (EMR_BAD_CONFIG when unusable). */
export function resolveOptions(options: EmrConnectionOptions): ResolvedEmrOptions {
  const fromUrl = options.url ? parseEmrUrl(options.url) : {};
  const pick = <K extends keyof EmrConnectionOptions>(k: K): EmrConnectionOptions[K] => {
    const v = options[k];
    return v === undefined || v === null || v === '' ? fromUrl[k] : v;
  };
  const dialect = (options.dialect ?? fromUrl.dialect) as Dialect | undefined;
  if (!dialect || !DIALECTS.includes(dialect)) badConfig(`unknown dialect ${String(dialect)}`);
  if (fromUrl.dialect && fromUrl.dialect !== dialect) {
    badConfig(`the URL is for ${fromUrl.dialect}, the connection is set to ${dialect}`);
  }
  const r: ResolvedEmrOptions = {
    dialect,
    host: pick('host'), port: pick('port') !== undefined ? Number(pick('port')) : DEFAULT_PORTS[dialect],
    database: pick('database'), user: pick('user'),
    password: fromUrl.password ?? options.password,       // a password in the URL wins over the credential
    filename: pick('filename'), instance: pick('instance'),
    poolSize: positiveInt(pick('poolSize'), 'pool size', DEFAULT_POOL_SIZE),
    connectTimeoutMs: positiveInt(pick('connectTimeoutMs'), 'connect time-out', DEFAULT_CONNECT_TIMEOUT_MS),
    queryTimeoutMs: positiveInt(pick('queryTimeoutMs'), 'query time-out', DEFAULT_QUERY_TIMEOUT_MS),
    tls: options.tls !== undefined && options.tls !== false ? options.tls : fromUrl.tls,
    decimals: options.decimals ?? 'string',
    dates: options.dates ?? 'iso',
    applicationName: options.applicationName ?? 'MGS',
  };
  if (r.port !== undefined && (!Number.isInteger(r.port) || r.port <= 0 || r.port > 65535)) badConfig('invalid port');
  if (r.decimals !== 'string' && r.decimals !== 'number') badConfig('decimals must be string or number');
  if (r.dates !== 'iso' && r.dates !== 'date') badConfig('dates must be iso or date');
  if (dialect === 'sqlite') {
    if (!r.filename) r.filename = options.database || undefined;
    if (!r.filename) badConfig('no SQLite file given');
  } else if (!r.host) {
    badConfig('no host given');
  }
  return r;
}

/** A description of where the options point, without password (for logs and the editor). */
export function describeOptions(o: ResolvedEmrOptions): string {
  if (o.dialect === 'sqlite') return `sqlite:${o.filename}`;
  const user = o.user ? `${o.user}@` : '';
  return `${o.dialect}://${user}${o.host}${o.port ? `:${o.port}` : ''}/${o.database ?? ''}`;
}

/** Open an adapter for the options. The connection itself is made lazily, on the first call. */
export function createAdapter(options: EmrConnectionOptions): EmrAdapter {
  const o = resolveOptions(options);
  switch (o.dialect) {
    case 'sqlite': return new (require('./dialects/sqlite') as typeof import('./dialects/sqlite')).SqliteAdapter(o);
    case 'postgres': return new (require('./dialects/postgres') as typeof import('./dialects/postgres')).PostgresAdapter(o);
    case 'mysql': return new (require('./dialects/mysql') as typeof import('./dialects/mysql')).MysqlAdapter(o);
    case 'mssql': return new (require('./dialects/mssql') as typeof import('./dialects/mssql')).MssqlAdapter(o);
  }
}

// SPDX-License-Identifier: Apache-2.0
// Throw-away EMR databases for the adapter tests: a fresh database per test on the local PostgreSQL and
// MariaDB servers (CI starts both), loaded from examples/emr-*/emr.sql with the server's own client
// (psql, mariadb) when it is installed, else through the driver; SQLite demo EMRs in temp directories.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import mysql = require('mysql2/promise');
import pg = require('pg');
import { createAdapter, parseEmrUrl, type EmrAdapter, type EmrConnectionOptions } from '../../../lib/emr/adapter';
import { ensureDemoEmr } from '../../../lib/emr/demo';
import { repoRoot } from '../../helpers/paths';

export const PG_URL = process.env.MGS_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_URL = process.env.MGS_TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/mysql';

/** A test database: the adapter, a URL to reach it, and how to throw it away. */
export interface TestEmr {
  dialect: 'sqlite' | 'postgres' | 'mysql';
  url: string;
  name: string;
  open(extra?: EmrConnectionOptions): EmrAdapter;
  drop(): Promise<void>;
}

function hasClient(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, stdinFile?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: [stdinFile ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`))));
    if (stdinFile) fs.createReadStream(stdinFile).pipe(child.stdin!);
  });
}

function uniqueName(): string {
  return `mgs_test_${randomBytes(5).toString('hex')}`;
}

/** Why PostgreSQL cannot be used, or undefined when it answers. */
export async function pgUnavailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return `PostgreSQL not reachable at ${PG_URL.replace(/:[^:@/]*@/, '@')} (${(err as Error).message}); CI starts it`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Why MySQL/MariaDB cannot be used, or undefined when it answers. */
export async function mysqlUnavailable(): Promise<string | undefined> {
  let c: mysql.Connection | undefined;
  try {
    c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 2000 });
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return `MariaDB/MySQL not reachable at ${MYSQL_URL.replace(/:[^:@/]*@/, '@')} (${(err as Error).message}); CI starts it`;
  } finally {
    await c?.end().catch(() => undefined);
  }
}

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** A fresh PostgreSQL database loaded with examples/emr-postgres/emr.sql. */
export async function createPgEmr(): Promise<TestEmr> {
  const name = uniqueName();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} ENCODING 'UTF8' TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(PG_URL, name);
  const file = path.join(repoRoot, 'examples', 'emr-postgres', 'emr.sql');
  if (hasClient('psql')) {
    const o = parseEmrUrl(url);
    await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', o.host ?? '127.0.0.1', '-p', String(o.port ?? 5432),
      '-U', o.user ?? 'postgres', '-d', name, '-f', file], { PGPASSWORD: o.password ?? '' });
  } else {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { await c.query(fs.readFileSync(file, 'utf8')); } finally { await c.end(); }
  }
  const adapters: EmrAdapter[] = [];
  return {
    dialect: 'postgres', url, name,
    open: (extra = {}) => { const a = createAdapter({ url, ...extra }); adapters.push(a); return a; },
    drop: async () => {
      for (const a of adapters) await a.close().catch(() => undefined);
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } finally { await c.end(); }
    },
  };
}

/** A fresh MariaDB/MySQL database loaded with examples/emr-mariadb/emr.sql. */
export async function createMysqlEmr(): Promise<TestEmr> {
  const name = uniqueName();
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    await admin.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(MYSQL_URL, name);
  const file = path.join(repoRoot, 'examples', 'emr-mariadb', 'emr.sql');
  const client = hasClient('mariadb') ? 'mariadb' : hasClient('mysql') ? 'mysql' : undefined;
  if (client) {
    const o = parseEmrUrl(url);
    await run(client, ['--default-character-set=utf8mb4', '-h', o.host ?? '127.0.0.1', '-P', String(o.port ?? 3306),
      '-u', o.user ?? 'root', name], { MYSQL_PWD: o.password ?? '' }, file);
  } else {
    const c = await mysql.createConnection({ uri: url, multipleStatements: true, charset: 'utf8mb4' });
    try { await c.query(fs.readFileSync(file, 'utf8')); } finally { await c.end(); }
  }
  const adapters: EmrAdapter[] = [];
  return {
    dialect: 'mysql', url, name,
    open: (extra = {}) => { const a = createAdapter({ url, ...extra }); adapters.push(a); return a; },
    drop: async () => {
      for (const a of adapters) await a.close().catch(() => undefined);
      const c = await mysql.createConnection({ uri: MYSQL_URL });
      try { await c.query(`DROP DATABASE IF EXISTS ${name}`); } finally { await c.end(); }
    },
  };
}

/** A fresh demo EMR (SQLite) in a temporary data directory. */
export async function createSqliteEmr(): Promise<TestEmr> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-emr-'));
  const file = ensureDemoEmr(dir);
  const adapters: EmrAdapter[] = [];
  return {
    dialect: 'sqlite', url: `sqlite:${file}`, name: dir,
    open: (extra = {}) => { const a = createAdapter({ url: `sqlite:${file}`, ...extra }); adapters.push(a); return a; },
    drop: async () => {
      for (const a of adapters) await a.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

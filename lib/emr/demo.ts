// SPDX-License-Identifier: Apache-2.0
/**
 * The demo EMR that ships with MGS: a SQLite file `<data dir>/demo-emr.sqlite`, created and
 * seeded from lib/emr/sql/demo-sqlite.sql on first use. It exposes the same interface a hospital
 * would (views mg_patient, mg_ordered_tests, mg_test_ranges; table results), so the default flow
 * works out of the box and the end-to-end tests have a real database to read back.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database = require('better-sqlite3');
import { GatewayError } from '../errors';

/** File name of the demo EMR inside the data directory. */
export const DEMO_EMR_FILE = 'demo-emr.sqlite';

const SEED_RELATIVE = path.join('lib', 'emr', 'sql', 'demo-sqlite.sql');

/** Path of the demo EMR for a data directory. */
export function demoEmrPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), DEMO_EMR_FILE);
}

/**
 * Location of demo-sqlite.sql. The compiled module sits in dist/lib/emr (or another build
 * folder) while the SQL stays in the package's lib/emr/sql, so look beside the module first and
 * then up the directory tree.
 */
export function demoSeedPath(): string {
  const beside = path.join(__dirname, 'sql', 'demo-sqlite.sql');
  if (fs.existsSync(beside)) return beside;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, SEED_RELATIVE);
    if (fs.existsSync(candidate)) return candidate;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new GatewayError('EMR_BAD_CONFIG', { detail: `demo EMR seed ${SEED_RELATIVE} not found`, hl7Code: '207', ackCode: 'AE' });
}

/** The demo EMR's schema and data as SQL text. */
export function demoSeedSql(): string {
  return fs.readFileSync(demoSeedPath(), 'utf8');
}

function isSeeded(file: string): boolean {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, readonly: true });
    return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'results'").get() !== undefined;
  } catch {
    return false;
  } finally {
    db?.close();
  }
}

/**
 * Make sure the demo EMR exists in `dataDir` and return its path. The database is built in a
 * temporary file and renamed into place, so a crash or a second process never sees half a seed.
 */
export function ensureDemoEmr(dataDir: string): string {
  const file = demoEmrPath(dataDir);
  if (fs.existsSync(file) && isSeeded(file)) return file;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    const db = new Database(tmp);
    try {
      db.exec('BEGIN');
      db.exec(demoSeedSql());
      db.exec('COMMIT');
      db.pragma('journal_mode = WAL');        // readers (tests, staff tools) never block the gateway
    } finally {
      db.close();
    }
    if (fs.existsSync(file) && isSeeded(file)) {
      fs.rmSync(tmp, { force: true });         // someone else finished first
    } else {
      fs.renameSync(tmp, file);
    }
    for (const ext of ['-wal', '-shm']) fs.rmSync(`${tmp}${ext}`, { force: true });
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('EMR_UNREACHABLE', { detail: `cannot create the demo EMR: ${(err as Error).message}`, hl7Code: '207', ackCode: 'AE' });
  }
  return file;
}

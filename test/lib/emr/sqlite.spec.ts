// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createAdapter } from '../../../lib/emr/adapter';
import { isGatewayError } from '../../../lib/errors';
import { emrSuite } from './emr-suite';
import { createSqliteEmr } from './servers';

describe('emr adapter: SQLite demo EMR', () => {
  emrSuite(createSqliteEmr, async () => undefined);
});

describe('emr adapter: SQLite specifics', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-sqlite-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reports a missing database file as EMR_UNREACHABLE instead of creating an empty one', async () => {
    const file = path.join(dir, 'nope.sqlite');
    const a = createAdapter({ url: `sqlite:${file}` });
    await assert.rejects(a.ping(), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE') && e.params.hl7Code === '207' && e.params.ackCode === 'AE');
    assert.equal(fs.existsSync(file), false);
    await a.close();
  });

  it('keeps concurrent transactions apart and fails calls after close', async () => {
    const a = createAdapter({ dialect: 'sqlite', filename: ':memory:' });
    await a.execute('CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)');
    const order: string[] = [];
    const slow = a.transaction(async (tx) => {
      await tx.execute('INSERT INTO t VALUES (:k, 1)', { k: 'a' });
      order.push('a-inserted');
      await new Promise((r) => setImmediate(r));
      throw new Error('boom');                              // rolled back
    });
    const other = a.query('SELECT COUNT(*) AS n FROM t').then((r) => { order.push(`other-saw-${String(r[0].n)}`); });
    await assert.rejects(slow, (e: unknown) => isGatewayError(e, 'EMR_QUERY_FAILED'));
    await other;
    assert.deepEqual(order, ['a-inserted', 'other-saw-0']);
    assert.deepEqual(await a.execute('INSERT INTO t VALUES (:k, 1)', { k: 'a' }), { rowsAffected: 1 });
    assert.deepEqual(await a.execute('INSERT INTO t VALUES (:k, 2)', { k: 'a' }, { ignoreDuplicate: true }), { rowsAffected: 0, duplicate: true });
    await assert.rejects(a.execute('INSERT INTO t VALUES (:k, 2)', { k: 'a' }), (e: unknown) => isGatewayError(e, 'EMR_QUERY_FAILED'));
    await a.close();
    await assert.rejects(a.query('SELECT 1'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE'));
  });

  it('waits at most the query time-out for a lock held by another process, then EMR_TIMEOUT', async () => {
    const file = path.join(dir, 'locked.sqlite');
    const a = createAdapter({ url: `sqlite:${file}`, queryTimeoutMs: 100 });
    const Database = (await import('better-sqlite3')).default;
    const holder = new Database(file);
    holder.exec('CREATE TABLE t (n INTEGER)');
    holder.exec('BEGIN EXCLUSIVE');
    const started = Date.now();
    await assert.rejects(a.query('SELECT * FROM t'), (e: unknown) => isGatewayError(e, 'EMR_TIMEOUT') && e.params.ms === 100);
    assert.ok(Date.now() - started < 2000);
    holder.exec('ROLLBACK');
    holder.close();
    await a.close();
  });
});

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

  it('group commit: batches that arrive together commit together in order; a failing one rolls back only its rows', async () => {
    const file = path.join(dir, 'group.sqlite');
    const Database = (await import('better-sqlite3')).default;
    const setup = new Database(file);
    setup.exec('CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL UNIQUE, n INTEGER NOT NULL CHECK (n > 0))');
    setup.close();
    const a = createAdapter({ url: `sqlite:${file}` });
    assert.ok(a.transactionBatch);
    const ins = 'INSERT INTO t (k, n) VALUES (:k, :n)';
    const batch = (rows: [string, number][]) => (a.transactionBatch as NonNullable<typeof a.transactionBatch>)(
      rows.map(([k, n]) => ({ sql: ins, params: { k, n }, ignoreDuplicate: true })));
    const outcomes = await Promise.allSettled([
      batch([['a1', 1], ['a2', 2]]),
      batch([['b1', 1], ['b2', 0]]),            // CHECK fails on its second row: b1 is rolled back with it
      batch([['a2', 5], ['c1', 3]]),            // a2 is already there: tolerated as a duplicate
      batch([['d1', 4]]),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.deepEqual((outcomes[0] as PromiseFulfilledResult<unknown>).value, [{ rowsAffected: 1 }, { rowsAffected: 1 }]);
    assert.ok(isGatewayError((outcomes[1] as PromiseRejectedResult).reason, 'EMR_QUERY_FAILED'));
    assert.deepEqual((outcomes[2] as PromiseFulfilledResult<unknown>).value, [{ rowsAffected: 0, duplicate: true }, { rowsAffected: 1 }]);
    const reader = new Database(file, { readonly: true });
    assert.deepEqual(reader.prepare('SELECT k, n FROM t ORDER BY seq').all(),
      [{ k: 'a1', n: 1 }, { k: 'a2', n: 2 }, { k: 'c1', n: 3 }, { k: 'd1', n: 4 }]);
    reader.close();
    await a.close();
  });

  it('group commit: a lock time-out fails every batch of the group and writes nothing', async () => {
    const file = path.join(dir, 'group-locked.sqlite');
    const Database = (await import('better-sqlite3')).default;
    const holder = new Database(file);
    holder.exec('CREATE TABLE t (k TEXT NOT NULL UNIQUE)');
    const a = createAdapter({ url: `sqlite:${file}`, queryTimeoutMs: 100 });
    holder.exec('BEGIN EXCLUSIVE');
    const run = (k: string) => (a.transactionBatch as NonNullable<typeof a.transactionBatch>)([{ sql: 'INSERT INTO t (k) VALUES (:k)', params: { k } }]);
    const outcomes = await Promise.allSettled([run('x'), run('y')]);
    assert.deepEqual(outcomes.map((o) => o.status === 'rejected' && isGatewayError(o.reason, 'EMR_TIMEOUT')), [true, true]);
    holder.exec('ROLLBACK');
    assert.deepEqual(holder.prepare('SELECT k FROM t').all(), []);
    assert.deepEqual(await run('z'), [{ rowsAffected: 1 }]);
    holder.close();
    await a.close();
  });
});

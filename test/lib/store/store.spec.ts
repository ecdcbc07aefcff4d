// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GatewayError } from '../../../lib/errors';
import { acquireStore, closeAllStores, logEvent, logMessage, storeFile, type Store } from '../../../lib/store';

const RESULT = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||107558^E024^1234|홍길동||50|M', 'PV1||E|1111^2222',
  'OBR|1||||||20090927151949', 'OBX|1|ST|03|HGB|12.7|g/dl|11.2~17.2|A|||R||P|'].join('\r') + '\r';

/** A distinct MG-style message (MSH-10 = BARCODE) for barcode `b`. */
const msgFor = (b: string | number): string => RESULT.replace('107558', String(b));

const err = { code: 'EMR_QUERY_FAILED', message: 'constraint' };

async function rejection(p: Promise<unknown>): Promise<GatewayError> {
  try { await p; } catch (e) { assert.ok(e instanceof GatewayError, `not a GatewayError: ${String(e)}`); return e; }
  assert.fail('expected a rejection');
}

describe('store: message store and spool queue', () => {
  let dir: string;
  let store: Store;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-store-'));
    store = acquireStore(storeFile(dir), { lingerMs: 0 });
  });
  afterEach(async () => {
    await closeAllStores();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps FIFO order per destination', async () => {
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      writes.push(store.enqueue({ destination: i % 2 ? 'lab' : 'emr', text: msgFor(1000 + i), key: null }));
    }
    await Promise.all(writes);
    assert.deepEqual(store.spoolHead('emr', 10).map((e) => e.text), [msgFor(1000), msgFor(1002), msgFor(1004)]);
    assert.deepEqual(store.spoolHead('lab', 2).map((e) => e.text), [msgFor(1001), msgFor(1003)]);
    const seqs = store.spoolHead('emr', 10).map((e) => e.seq);
    assert.deepEqual([...seqs].sort((a, b) => a - b), seqs);
    assert.deepEqual(store.spoolStats().map((s) => [s.destination, s.depth, s.dead]), [['emr', 3, 0], ['lab', 3, 0]]);
  });

  it('group commit: concurrent writes share commits; a lone write pays exactly one', async () => {
    await store.enqueue({ destination: 'emr', text: msgFor(1), key: null });   // the writer is up
    let s0 = store.stats();
    await store.enqueue({ destination: 'emr', text: msgFor(2), key: null });
    let s1 = store.stats();
    assert.equal(s1.commits - s0.commits, 1);
    assert.equal(s1.writes - s0.writes, 1);

    // 200 writes in one tick: one commit
    s0 = store.stats();
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.enqueue({ destination: 'emr', text: msgFor(100 + i), key: null })));
    s1 = store.stats();
    assert.equal(s1.writes - s0.writes, 200);
    assert.equal(s1.commits - s0.commits, 1);

    // one write in flight, 100 arrive meanwhile: they all join the next commit
    s0 = store.stats();
    const first = store.enqueue({ destination: 'emr', text: msgFor(900), key: null });
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 100 }, (_, i) => store.enqueue({ destination: 'emr', text: msgFor(1000 + i), key: null }));
    await Promise.all([first, ...rest]);
    s1 = store.stats();
    assert.equal(s1.writes - s0.writes, 101);
    assert.equal(s1.commits - s0.commits, 2);
    assert.equal(store.spoolStats('emr')[0].depth, 303);
  });

  it('records failures, delivery and dead letters with history', async () => {
    const a = await store.enqueue({ destination: 'emr', text: msgFor(1), key: null, actor: 't' });
    const b = await store.enqueue({ destination: 'emr', text: msgFor(2), key: null, actor: 't' });
    assert.equal(a.duplicate, false);
    const f = await store.failed(a.seq!, { attempts: 1, failures: 1, nextAt: 12345, error: err, actor: 't' });
    assert.deepEqual(f, { changed: true, messageId: a.messageId, destination: 'emr' });
    const head = store.spoolHead('emr', 1)[0];
    assert.deepEqual([head.seq, head.attempts, head.failures, head.nextAt, head.lastError], [a.seq, 1, 1, 12345, err]);
    assert.equal(store.getMessage(a.messageId)!.status, 'failed');

    await store.delivered(a.seq!, 2, 't');
    assert.deepEqual(store.spoolHead('emr', 5).map((e) => e.seq), [b.seq]);
    const ma = store.getMessage(a.messageId)!;
    assert.equal(ma.status, 'delivered');
    assert.equal(ma.attempts, 2);
    assert.equal(ma.lastError, null);
    assert.deepEqual(ma.history.map((h) => [h.status, h.attempt]), [['spooled', null], ['failed', 1], ['delivered', 2]]);
    assert.deepEqual(ma.spool, []);

    await store.dead(b.seq!, { attempts: 3, failures: 3, error: err, actor: 't' });
    assert.deepEqual(store.spoolHead('emr', 5), []);
    assert.deepEqual(store.spoolStats('emr').map((s) => [s.depth, s.dead, s.oldestAt]), [[0, 1, null]]);
    assert.equal(store.getMessage(b.messageId)!.status, 'dead');
    // a transition for an entry that is gone changes nothing
    assert.deepEqual(await store.failed(a.seq!, { attempts: 3, failures: 1, nextAt: 0, error: err, actor: 't' }),
      { changed: false, messageId: null, destination: null });
  });

  it('idempotency: a resend with a new MSH-7 is a duplicate while queued or delivered, not after a dead letter', async () => {
    const resend = RESULT.replace('|||1||ORU^R01|', '|||20260101120000||ORU^R01|');
    const a = await store.enqueue({ destination: 'emr', text: RESULT, key: 'auto' });
    const d1 = await store.enqueue({ destination: 'emr', text: resend, key: 'auto' });
    assert.deepEqual([d1.duplicate, d1.originalId, d1.seq, d1.key], [true, a.messageId, null, a.key]);
    assert.equal(store.spoolStats('emr')[0].depth, 1);
    assert.equal(store.getMessage(d1.messageId)!.status, 'duplicate');
    assert.equal(store.getMessage(d1.messageId)!.relatedId, a.messageId);

    // another destination is another delivery
    const other = await store.enqueue({ destination: 'lab', text: resend, key: 'auto' });
    assert.equal(other.duplicate, false);

    await store.delivered(a.seq!, 1, 't');
    const d2 = await store.enqueue({ destination: 'emr', text: resend, key: 'auto' });
    assert.deepEqual([d2.duplicate, d2.originalId], [true, a.messageId]);

    // a dead letter sent again is queued again
    const x = await store.enqueue({ destination: 'emr', text: msgFor(5), key: 'auto' });
    await store.dead(x.seq!, { attempts: 1, failures: 1, error: err, actor: 't' });
    const again = await store.enqueue({ destination: 'emr', text: msgFor(5), key: 'auto' });
    assert.equal(again.duplicate, false);
    assert.equal(store.spoolHead('emr', 5).length, 1);

    // key null: never a duplicate
    const n1 = await store.enqueue({ destination: 'emr', text: msgFor(6), key: null });
    const n2 = await store.enqueue({ destination: 'emr', text: msgFor(6), key: null });
    assert.deepEqual([n1.duplicate, n2.duplicate], [false, false]);
  });

  it('the same stored row offered again is not queued twice (and keeps its status)', async () => {
    const a = await store.enqueue({ destination: 'emr', text: RESULT, key: 'auto' });
    const again = await store.enqueue({ destination: 'emr', text: RESULT, key: 'auto', messageId: a.messageId });
    assert.deepEqual([again.duplicate, again.originalId, again.seq], [true, a.messageId, null]);
    assert.equal(store.spoolStats('emr')[0].depth, 1);
    assert.equal(store.getMessage(a.messageId)!.status, 'spooled');
  });

  it('two copies in one commit: the second is the duplicate', async () => {
    const [a, b] = await Promise.all([RESULT, RESULT].map((t) => store.enqueue({ destination: 'emr', text: t, key: 'auto' })));
    assert.deepEqual([a.duplicate, b.duplicate, b.originalId], [false, true, a.messageId]);
  });

  it('reprocess queues a stored message again at the end; park moves a queued one aside', async () => {
    const a = await store.enqueue({ destination: 'emr', text: msgFor(1), key: 'auto' });
    const b = await store.enqueue({ destination: 'emr', text: msgFor(2), key: 'auto' });
    assert.deepEqual(await store.reprocess(a.messageId, null, 'api'), { messageId: a.messageId, seq: a.seq, destination: 'emr', alreadyQueued: true });
    await store.delivered(a.seq!, 1, 't');
    const r = await store.reprocess(a.messageId, null, 'api');
    assert.equal(r.alreadyQueued, false);
    assert.ok(r.seq > b.seq!);
    assert.deepEqual(store.spoolHead('emr', 5).map((e) => e.messageId), [b.messageId, a.messageId]);
    assert.equal(store.getMessage(a.messageId)!.status, 'spooled');
    // to another destination
    const r2 = await store.reprocess(a.messageId, 'archive', 'api');
    assert.equal(store.spoolHead('archive', 5)[0].seq, r2.seq);

    const parked = await store.park(b.seq!, 'api', 'operator');
    assert.equal(parked.changed, true);
    assert.deepEqual(store.spoolHead('emr', 5).map((e) => e.messageId), [a.messageId]);
    assert.equal(store.getMessage(b.messageId)!.status, 'dead');
    // reprocessing the dead letter replaces it
    await store.reprocess(b.messageId, null, 'api');
    assert.deepEqual(store.getMessage(b.messageId)!.spool.map((s) => s.state), ['queued']);

    const missing = await rejection(store.reprocess(999999, 'emr', 'api'));
    assert.equal(missing.code, 'STORE_NOT_FOUND');
    assert.equal(missing.params.id, 999999);
  });

  it('logMessage gives the id at once; the spool then updates that row and keeps its raw bytes', async () => {
    const raw = Buffer.concat([Buffer.from([0x0b]), Buffer.from(RESULT), Buffer.from([0x1c, 0x0d])]);
    const logged = logMessage(dir, { direction: 'in', text: RESULT, raw, peer: '10.0.0.5:4000' });
    assert.equal(typeof logged.id, 'number');
    await logged.durable;
    assert.equal(store.getMessage(logged.id!)!.status, 'received');
    const q = await store.enqueue({ destination: 'emr', text: RESULT, key: 'auto', messageId: logged.id, kind: 'result' });
    assert.equal(q.messageId, logged.id);
    const m = store.getMessage(logged.id!)!;
    assert.deepEqual([m.status, m.kind, m.peer, m.barcode, m.patientId, m.controlId, m.type],
      ['spooled', 'result', '10.0.0.5:4000', '107558', '1234', 'BARCODE', 'ORU^R01']);
    assert.deepEqual(m.raw, raw);
    assert.equal(store.listMessages({}).total, 1);

    await logEvent(dir, logged.id!, { acked: true, actor: 'mllp-response', detail: 'AA' });
    const acked = store.getMessage(logged.id!)!;
    assert.equal(acked.status, 'acked');
    assert.equal(typeof acked.ackedAt, 'number');
    assert.deepEqual(acked.history.map((h) => h.status), ['received', 'spooled', 'acked']);

    const ack = logMessage(dir, { direction: 'out', text: 'MSH|^~\\&|MGS||HL7|B0801|20250101||ACK^R01|A1|P|2.3\rMSA|AA|BARCODE\r', relatedId: logged.id });
    await ack.durable;
    const a = store.getMessage(ack.id!)!;
    assert.deepEqual([a.direction, a.kind, a.status, a.relatedId], ['out', 'ack', 'delivered', logged.id]);
  });

  it('lists by time, status, barcode, patient id, control id and kind; stats per minute', async () => {
    const t0 = Date.UTC(2026, 0, 1, 8, 0, 0);
    await store.enqueue({ destination: 'emr', text: msgFor(111), key: null, kind: 'result', at: t0 });
    const b = await store.enqueue({ destination: 'emr', text: msgFor(222), key: null, kind: 'result', at: t0 + 60_000 });
    logMessage(dir, { direction: 'in', text: RESULT.replace('^1234', '^9999'), kind: 'request', at: t0 + 120_000 });
    await store.failed(b.seq!, { attempts: 1, failures: 1, nextAt: 0, error: err, actor: 't' });
    await store.drain();
    assert.deepEqual(store.listMessages({}).items.map((m) => m.barcode), ['107558', '222', '111']);
    assert.deepEqual(store.listMessages({ barcode: '222' }).items.map((m) => m.status), ['failed']);
    assert.deepEqual(store.listMessages({ status: ['spooled', 'received'] }).items.map((m) => m.barcode), ['107558', '111']);
    assert.deepEqual(store.listMessages({ patientId: '9999' }).items.map((m) => m.kind), ['request']);
    assert.equal(store.listMessages({ controlId: 'BARCODE' }).total, 3);
    assert.equal(store.listMessages({ kind: 'result' }).total, 2);
    assert.deepEqual(store.listMessages({ from: t0 + 60_000, to: t0 + 120_000 }).items.map((m) => m.barcode), ['222']);
    const page = store.listMessages({ limit: 1, offset: 1 });
    assert.deepEqual([page.total, page.items.map((m) => m.barcode)], [3, ['222']]);

    const st = store.statistics(t0 + 180_000);
    assert.deepEqual(st.perMinute, [{ minute: t0, in: 1, out: 0 }, { minute: t0 + 60_000, in: 1, out: 0 }, { minute: t0 + 120_000, in: 1, out: 0 }]);
    assert.deepEqual(st.byStatus, { spooled: 1, failed: 1, received: 1 });
    assert.deepEqual(st.recentErrors.map((e) => [e.messageId, e.status, e.detail, e.controlId]),
      [[b.messageId, 'failed', 'EMR_QUERY_FAILED: constraint', 'BARCODE']]);
  });

  it('retention by age keeps what is still queued or parked', async () => {
    const old = Date.now() - 100 * 24 * 3600_000;
    const delivered = await store.enqueue({ destination: 'emr', text: msgFor(1), key: 'auto', at: old });
    const queued = await store.enqueue({ destination: 'emr', text: msgFor(2), key: 'auto', at: old });
    const dead = await store.enqueue({ destination: 'emr', text: msgFor(3), key: 'auto', at: old });
    const fresh = await store.enqueue({ destination: 'emr', text: msgFor(4), key: 'auto' });
    await store.delivered(delivered.seq!, 1, 't');
    await store.delivered(fresh.seq!, 1, 't');
    await store.dead(dead.seq!, { attempts: 1, failures: 1, error: err, actor: 't' });
    store.configureRetention({ maxAgeMs: 90 * 24 * 3600_000, maxBytes: 0, batch: 1 });
    assert.deepEqual(await store.runRetention(), { deleted: 1 });
    assert.equal(store.getMessage(delivered.messageId), undefined);
    assert.deepEqual([queued, dead, fresh].map((m) => store.getMessage(m.messageId)?.status), ['spooled', 'dead', 'delivered']);
    // its idempotency key went with it: the same result is new again
    assert.equal((await store.enqueue({ destination: 'emr', text: msgFor(1), key: 'auto' })).duplicate, false);
  });

  it('retention by size deletes the oldest in small batches until under the limit', async () => {
    const big = 'x'.repeat(20_000);
    const ids: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await store.enqueue({ destination: 'emr', text: `${msgFor(i)}NTE|1||${big}\r`, key: null, at: 1_000_000 + i });
      await store.delivered(r.seq!, 1, 't');
      ids.push(r.messageId);
    }
    const kept = await store.enqueue({ destination: 'emr', text: `${msgFor(99)}NTE|1||${big}\r`, key: null, at: 1 });
    const before = store.usedBytes();
    const limit = Math.floor(before / 2);
    store.configureRetention({ maxAgeMs: 0, maxBytes: limit, batch: 4 });
    const r = await store.runRetention();
    assert.ok(store.usedBytes() <= limit, `${store.usedBytes()} > ${limit}`);
    assert.ok(r.deleted > 0 && r.deleted < 30, `deleted ${r.deleted}`);
    // oldest first: the survivors are the newest ones, and the queued (oldest of all) one stays
    const left = store.listMessages({ limit: 1000 }).items.map((m) => m.id).sort((a, b) => a - b);
    assert.deepEqual(left, [...ids.slice(r.deleted), kept.messageId]);
  });

  it('shares one instance per file and closes after the last release', async () => {
    const again = acquireStore(storeFile(dir));
    assert.equal(again, store);
    store.release();
    assert.equal(store.isClosed, false);
    again.release();
    await store.whenClosed();
    assert.equal(store.isClosed, true);
    const next = acquireStore(storeFile(dir), { lingerMs: 0 });
    assert.notEqual(next, store);
    store = next;
  });

  it('close() waits for writes already submitted; they survive a reopen', async () => {
    const writes = Array.from({ length: 50 }, (_, i) => store.enqueue({ destination: 'emr', text: msgFor(i), key: null }));
    await store.close();
    const results = await Promise.all(writes);
    assert.equal(results.length, 50);
    const reopened = acquireStore(storeFile(dir), { lingerMs: 0 });
    assert.equal(reopened.spoolStats('emr')[0].depth, 50);
    const late = await rejection(store.enqueue({ destination: 'emr', text: RESULT, key: null }));
    assert.equal(late.code, 'SPOOL_WRITE_FAILED');
  });
});

describe('store: write failures reject, never resolve', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-store-')); });
  afterEach(async () => {
    await closeAllStores();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('unusable data directory: SPOOL_WRITE_FAILED / STORE_WRITE_FAILED / STORE_UNAVAILABLE, then recovers', async () => {
    fs.writeFileSync(path.join(dir, 'blocker'), 'a file where the data directory should be');
    const dataDir = path.join(dir, 'blocker', 'data');
    const store = acquireStore(storeFile(dataDir), { lingerMs: 0 });
    const e1 = await rejection(store.enqueue({ destination: 'emr', text: RESULT, key: 'auto' }));
    assert.equal(e1.code, 'SPOOL_WRITE_FAILED');
    assert.match(String(e1.params.detail), /ENOTDIR/);
    const logged = logMessage(dataDir, { direction: 'in', text: RESULT });
    assert.equal(logged.id, null);
    const e2 = await rejection(logged.durable);
    assert.equal(e2.code, 'STORE_WRITE_FAILED');
    assert.throws(() => store.spoolHead('emr', 1), (e: unknown) => e instanceof GatewayError && e.code === 'STORE_UNAVAILABLE');

    // an operator fixes the directory: the same store instance works again
    fs.rmSync(path.join(dir, 'blocker'));
    const ok = await store.enqueue({ destination: 'emr', text: RESULT, key: 'auto' });
    assert.equal(ok.duplicate, false);
    assert.equal(store.spoolHead('emr', 5).length, 1);
  });

  it('database path taken by a directory: SQLITE_CANTOPEN', async () => {
    fs.mkdirSync(storeFile(dir));
    const store = acquireStore(storeFile(dir), { lingerMs: 0 });
    const e = await rejection(store.enqueue({ destination: 'emr', text: RESULT, key: null }));
    assert.equal(e.code, 'SPOOL_WRITE_FAILED');
    assert.match(String(e.params.detail), /SQLITE_CANTOPEN/);
  });

  it('read-only data directory: EACCES (only when not running as root)', async function () {
    if (process.getuid?.() === 0) {
      console.log('    skipped: running as root, which ignores directory permissions (the full-disk and bad-path cases above run instead)');
      this.skip();
    }
    fs.chmodSync(dir, 0o500);
    try {
      const store = acquireStore(storeFile(dir), { lingerMs: 0 });
      const e = await rejection(store.enqueue({ destination: 'emr', text: RESULT, key: null }));
      assert.equal(e.code, 'SPOOL_WRITE_FAILED');
      assert.match(String(e.params.detail), /SQLITE_CANTOPEN|EACCES|SQLITE_READONLY/);
    } finally {
      fs.chmodSync(dir, 0o700);
    }
  });

  it('disk full (SQLITE_FULL): the write is rejected and the messages before it stay', async () => {
    const store = acquireStore(storeFile(dir), { lingerMs: 0, maxPageCount: 60 });
    const stored: number[] = [];
    let failure: GatewayError | undefined;
    for (let i = 0; i < 200 && !failure; i++) {
      try {
        stored.push((await store.enqueue({ destination: 'emr', text: `${msgFor(i)}NTE|1||${'y'.repeat(3000)}\r`, key: 'auto' })).messageId);
      } catch (e) {
        assert.ok(e instanceof GatewayError);
        failure = e;
      }
    }
    assert.ok(failure, 'the database never filled up');
    assert.equal(failure.code, 'SPOOL_WRITE_FAILED');
    assert.match(String(failure.params.detail), /SQLITE_FULL/);
    const logFailure = await rejection(store.log({ direction: 'in', text: `${RESULT}NTE|1||${'z'.repeat(3000)}\r` }).durable);
    assert.equal(logFailure.code, 'STORE_WRITE_FAILED');
    assert.ok(stored.length > 0);
    assert.deepEqual(store.spoolHead('emr', 1000).map((e) => e.messageId), stored);
  });
});

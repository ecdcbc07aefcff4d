// SPDX-License-Identifier: Apache-2.0
// hl7-spool in a real Node-RED runtime: commit then "stored", delivery with outcomes wired back
// through a function node, retry policies, duplicates, restart, and the /mgs/api routes.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import hl7Spool = require('../../nodes/hl7-spool/hl7-spool');
import { GatewayError } from '../../lib/errors';
import { acquireStore, closeAllStores, storeFile, type Store } from '../../lib/store';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const functionNode = require('@node-red/nodes/core/function/10-function.js');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

const RESULT = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||107558^E024^1234|홍길동||50|M', 'PV1||E|1111^2222',
  'OBR|1||||||20090927151949', 'OBX|1|ST|03|HGB|12.7|g/dl|11.2~17.2|A|||R||P|'].join('\r') + '\r';
const msgFor = (barcode: string): string => RESULT.replace('107558', barcode);
const barcodeOf = (m: Msg): string => /PID\|\|\|([^^|]*)/.exec(String(m.payload))![1];

/** Resolves with the next `n` messages node `id` receives. */
function collect(id: string, n: number): Promise<Msg[]> {
  const got: Msg[] = [];
  return new Promise((resolve) => {
    const node = helper.getNode(id);
    const on = (m: Msg): void => {
      got.push(m);
      if (got.length === n) { node.removeListener('input', on); resolve(got); }
    };
    node.on('input', on);
  });
}

/** Resolves once `cond` holds, checking now and whenever node `id` updates its status (it does on every change). */
function until(id: string, cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (cond()) { resolve(); return; }
    const node = helper.getNode(id);
    const on = (): void => { if (cond()) { node.removeListener('call:status', on); resolve(); } };
    node.on('call:status', on);
  });
}

/** Every status node `id` shows from now on. */
function statusLog(id: string): Msg[] {
  const log: Msg[] = [];
  helper.getNode(id).on('call:status', (call: { args: Msg[] }) => log.push(call.args[0]));
  return log;
}

/** Spool config with fast retries for tests. */
function spool(extra: Msg = {}): Msg {
  return {
    id: 's1', type: 'hl7-spool', name: '', destination: 'emr', maxRate: 0, window: 1, timeout: 5, retryBase: 0.01,
    retryCap: 0.05, policy: 'dead-letter', maxAttempts: 3, dedupe: 'content', wires: [['stored'], ['fn', 'tap'], ['dead']],
    ...extra,
  };
}

/** A function node standing in for the EMR side: success on output 1, failure (msg.error) on output 2, both wired back. */
function emrSide(func: string): Msg {
  return { id: 'fn', type: 'function', func, outputs: 2, noerr: 0, wires: [['s1', 'ok'], ['s1']] };
}

const helpers = ['stored', 'tap', 'ok', 'dead', 'caught'].map((id) => ({ id, type: 'helper' }));

describe('hl7-spool node', () => {
  let dir: string;
  let store: Store;

  before((done) => { helper.startServer(done); });
  after((done) => { helper.settings({}); helper.stopServer(done); });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-spool-'));
    helper.settings({ mgsDataDir: dir });
    store = acquireStore(storeFile(dir));
  });
  afterEach(async () => {
    await helper.unload();
    store.release();
    await closeAllStores();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends "stored" only after the commit, then delivers with msg.spool and the stored msg properties', async () => {
    await helper.load([hl7Spool, functionNode], [spool({ wires: [['stored'], ['tap'], ['dead']] }), ...helpers]);
    const order: string[] = [];
    const stored = collect('stored', 1).then((m) => { order.push('stored'); return m[0]; });
    const delivered = collect('tap', 1).then((m) => { order.push('deliver'); return m[0]; });
    const obx = [{ setId: '1', code: '03', test: 'HGB', value: '12.7', flag: 'N' }];
    helper.getNode('s1').receive({ payload: RESULT, topic: 'ORU^R01', kind: 'result', obx, _session: { type: 'mllp', id: 'c1' } });

    const s = await stored;
    assert.deepEqual(s._session, { type: 'mllp', id: 'c1' });
    assert.equal(s.store.duplicate, false);
    assert.equal(s.store.destination, 'emr');
    assert.match(s.store.key, /^v1:[0-9a-f]{64}$/);
    // durable when "stored" fires: the store already holds it
    assert.equal(store.getMessage(s.store.id)!.status, 'spooled');

    const d = await delivered;
    assert.deepEqual(order, ['stored', 'deliver']);
    assert.deepEqual(d.spool, { id: s.store.seq, messageId: s.store.id, destination: 'emr', attempt: 1, key: s.store.key });
    assert.equal(d.payload, RESULT);
    assert.equal(d.topic, 'ORU^R01');
    assert.equal(d.kind, 'result');
    assert.deepEqual(d.obx, obx);
    assert.equal(d._session, undefined);

    d.mllpOut = { controlId: 'MGS00042' };   // as mllp out reports the MSH-10 it forwarded with
    helper.getNode('s1').receive(d);   // the outcome: success
    await until('s1', () => store.getMessage(s.store.id)!.status === 'delivered');
    assert.equal(store.getMessage(s.store.id)!.history.at(-1)!.detail, 'MSH-10 MGS00042');
    assert.equal(store.spoolStats('emr')[0].depth, 0);
  });

  it('retries a failing message through the wired outcome; the ones behind it wait; each is delivered once, in order', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool({ policy: 'block' }),
      emrSide(`if (msg.payload.indexOf('PID|||111^') >= 0 && msg.spool.attempt <= 2) {
                 msg.error = { code: 'EMR_QUERY_FAILED', message: 'deadlock' }; return [null, msg]; }
               return [msg, null];`),
      ...helpers,
    ]);
    const tapped = collect('tap', 5);
    const ok = collect('ok', 3);
    for (const b of ['111', '222', '333']) helper.getNode('s1').receive({ payload: msgFor(b) });

    assert.deepEqual((await tapped).map((m) => `${barcodeOf(m)}#${m.spool.attempt}`), ['111#1', '111#2', '111#3', '222#1', '333#1']);
    const done = await ok;
    assert.deepEqual(done.map(barcodeOf), ['111', '222', '333']);
    const ids = done.map((m) => m.spool.messageId as number);
    await until('s1', () => ids.every((id) => store.getMessage(id)!.status === 'delivered'));
    const first = store.getMessage(ids[0])!;
    assert.equal(first.attempts, 3);
    assert.deepEqual(first.history.map((h) => [h.status, h.attempt, h.detail]), [
      ['spooled', null, `#${done[0].spool.id}`], ['failed', 1, 'EMR_QUERY_FAILED: deadlock'],
      ['failed', 2, 'EMR_QUERY_FAILED: deadlock'], ['delivered', 3, null]]);
    assert.deepEqual(ids.map((id) => store.getMessage(id)!.attempts), [3, 1, 1]);
  });

  it('dead-letter policy: parks after N message failures and goes on', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool({ policy: 'dead-letter', maxAttempts: 2 }),
      emrSide(`if (msg.payload.indexOf('PID|||111^') >= 0) { msg.error = { code: 'EMR_QUERY_FAILED', message: 'bad test code' }; return [null, msg]; }
               return [msg, null];`),
      ...helpers,
    ]);
    const dead = collect('dead', 1);
    const ok = collect('ok', 1);
    helper.getNode('s1').receive({ payload: msgFor('111'), kind: 'result' });
    helper.getNode('s1').receive({ payload: msgFor('222') });
    const [d] = await dead;
    assert.equal(barcodeOf(d), '111');
    assert.deepEqual(d.error, { code: 'EMR_QUERY_FAILED', message: 'bad test code' });
    assert.equal(d.spool.state, 'dead');
    assert.equal(d.spool.attempt, 2);
    assert.equal(d.kind, 'result');
    assert.equal(barcodeOf((await ok)[0]), '222');
    assert.equal(store.getMessage(d.spool.messageId)!.status, 'dead');
    await until('s1', () => store.spoolStats('emr')[0].depth === 0);
    assert.equal(store.spoolStats('emr')[0].dead, 1);
  });

  it('block policy: retries the head for ever and nothing behind it goes; the API can park it', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool({ policy: 'block', maxAttempts: 2 }),
      emrSide(`if (msg.payload.indexOf('PID|||111^') >= 0) { msg.error = { code: 'EMR_QUERY_FAILED', message: 'bad' }; return [null, msg]; }
               return [msg, null];`),
      ...helpers,
    ]);
    const tapped = collect('tap', 5);
    helper.getNode('s1').receive({ payload: msgFor('111') });
    helper.getNode('s1').receive({ payload: msgFor('222') });
    const t = await tapped;
    assert.deepEqual(t.map((m) => `${barcodeOf(m)}#${m.spool.attempt}`), ['111#1', '111#2', '111#3', '111#4', '111#5']);
    assert.equal(store.spoolStats('emr')[0].depth, 2);
    assert.equal(store.spoolStats('emr')[0].dead, 0);

    const ok = collect('ok', 1);
    const res = await helper.request().post('/mgs/api/messages/park').send({ ids: [t[0].spool.messageId] }).expect(200);
    assert.deepEqual(res.body.results, [{ id: t[0].spool.messageId, ok: true, parked: [t[0].spool.id] }]);
    assert.equal(barcodeOf((await ok)[0]), '222');
  });

  it('an AE from an HL7 receiver (MLLP_NAK:AE) is parked at once, even under "block"; an AR is retried', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool({ policy: 'block' }),
      emrSide(`const ae = msg.payload.indexOf('PID|||111^') >= 0;
               if (ae || msg.spool.attempt === 1) {
                 const code = ae ? 'AE' : 'AR';
                 msg.error = { code: 'MLLP_NAK', message: 'Receiver answered ' + code, params: { code: code } };
                 return [null, msg];
               }
               return [msg, null];`),
      ...helpers,
    ]);
    const dead = collect('dead', 1);
    const ok = collect('ok', 1);
    helper.getNode('s1').receive({ payload: msgFor('111') });
    helper.getNode('s1').receive({ payload: msgFor('222') });
    const [d] = await dead;
    assert.deepEqual([barcodeOf(d), d.spool.attempt, d.error.code, d.error.message], ['111', 1, 'MLLP_NAK', 'Receiver answered AE']);
    const [o] = await ok;
    assert.deepEqual([barcodeOf(o), o.spool.attempt], ['222', 2]);
  });

  it('EMR down: keeps storing, probes only the head with back-off, drains in order when back', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool({ policy: 'dead-letter', maxAttempts: 1, window: 3 }),
      emrSide(`if (context.get('down') !== false) { msg.error = { code: 'EMR_UNREACHABLE', message: 'connection refused' }; return [null, msg]; }
               return [msg, null];`),
      ...helpers,
    ]);
    const statuses = statusLog('s1');
    const stored = collect('stored', 3);
    const probes = collect('tap', 4);
    for (const b of ['111', '222', '333']) helper.getNode('s1').receive({ payload: msgFor(b) });
    assert.equal((await stored).length, 3);   // the MG is ACKed while the EMR is down
    // the first delivery used the window of 3; after the failure only the head is probed
    const p = await probes;
    assert.deepEqual(p.map((m) => `${barcodeOf(m)}#${m.spool.attempt}`).slice(0, 3), ['111#1', '222#1', '333#1']);
    assert.equal(barcodeOf(p[3]), '111');
    await until('s1', () => (store.spoolHead('emr', 1)[0]?.attempts ?? 0) >= 3);
    assert.equal(store.controller('emr')!.state().state, 'failing');
    await until('s1', () => statuses.at(-1)?.text === 'hl7-spool.status.failing');
    assert.deepEqual(statuses.at(-1), { fill: 'red', shape: 'ring', text: 'hl7-spool.status.failing' });
    assert.equal(store.spoolStats('emr')[0].dead, 0);   // outage failures never park

    const ok = collect('ok', 3);
    helper.getNode('fn').context().set('down', false);
    const back = await ok;
    assert.deepEqual(back.map(barcodeOf), ['111', '222', '333']);
    await until('s1', () => store.spoolStats('emr')[0].depth === 0);
    assert.equal(store.controller('emr')!.state().state, 'idle');
    await until('s1', () => statuses.at(-1)?.text === 'hl7-spool.status.idle');
    assert.deepEqual(statuses.at(-1), { fill: 'green', shape: 'dot', text: 'hl7-spool.status.idle' });
  });

  it('an outcome that never comes is a time-out (SPOOL_TIMEOUT) and the message is retried', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool({ timeout: 0.1 }),
      emrSide(`if (msg.spool.attempt === 1) return null;   // lost
               return [msg, null];`),
      ...helpers,
    ]);
    const ok = collect('ok', 1);
    helper.getNode('s1').receive({ payload: RESULT });
    const [m] = await ok;
    assert.equal(m.spool.attempt, 2);
    await until('s1', () => store.getMessage(m.spool.messageId)!.status === 'delivered');
    const h = store.getMessage(m.spool.messageId)!.history;
    assert.deepEqual(h.map((x) => x.status), ['spooled', 'failed', 'delivered']);
    assert.match(String(h[1].detail), /^SPOOL_TIMEOUT: /);
  });

  it('a result resent after a lost ACK is ACKed ("stored", duplicate) but delivered once', async () => {
    await helper.load([hl7Spool, functionNode], [spool(), emrSide('return [msg, null];'), ...helpers]);
    const stored = collect('stored', 3);
    const ok = collect('ok', 1);
    let deliveries = 0;
    helper.getNode('tap').on('input', () => deliveries++);
    helper.getNode('s1').receive({ payload: RESULT });
    await ok;
    helper.getNode('s1').receive({ payload: RESULT.replace('|||1||ORU^R01|', '|||20260101120000||ORU^R01|') });
    helper.getNode('s1').receive({ payload: RESULT });
    const s = await stored;
    assert.deepEqual(s.map((m) => m.store.duplicate), [false, true, true]);
    assert.deepEqual(s.map((m) => m.store.originalId), [null, s[0].store.id, s[0].store.id]);
    assert.deepEqual(s.map((m) => m.store.seq), [s[0].store.seq, null, null]);
    await until('s1', () => store.getMessage(s[0].store.id)!.status === 'delivered');
    assert.equal(store.spoolStats('emr')[0].depth, 0);
    assert.equal(store.listMessages({ status: ['duplicate'] }).total, 2);
    assert.equal(deliveries, 1);
  });

  it('resumes the backlog in order after a restart; the store file stays', async () => {
    const flow = [spool({ wires: [['stored'], ['tap'], ['dead']] }), ...helpers];
    await helper.load([hl7Spool, functionNode], flow);
    const stored = collect('stored', 3);
    const first = collect('tap', 1);
    for (const b of ['111', '222', '333']) helper.getNode('s1').receive({ payload: msgFor(b) });
    await stored;
    assert.equal(barcodeOf((await first)[0]), '111');   // handed downstream, no outcome: the EMR side died
    await helper.unload();
    assert.ok(fs.existsSync(storeFile(dir)));
    assert.equal(store.spoolStats('emr')[0].depth, 3);

    await helper.load([hl7Spool, functionNode], [spool(), emrSide('return [msg, null];'), ...helpers]);
    const ok = await collect('ok', 3);
    assert.deepEqual(ok.map(barcodeOf), ['111', '222', '333']);
    await until('s1', () => store.spoolStats('emr')[0].depth === 0);
  });

  it('limits the drain rate', async () => {
    const flow = [spool({ wires: [['stored'], ['tap'], ['dead']] }), ...helpers];
    await helper.load([hl7Spool, functionNode], flow);
    const stored = collect('stored', 5);
    for (const b of ['1', '2', '3', '4', '5']) helper.getNode('s1').receive({ payload: msgFor(b) });
    await stored;
    await helper.unload();
    await helper.load([hl7Spool, functionNode], [spool({ maxRate: 20 }), emrSide('return [msg, null];'), ...helpers]);
    const times: number[] = [];
    helper.getNode('ok').on('input', () => times.push(Date.now()));
    const ok = await collect('ok', 5);
    assert.deepEqual(ok.map(barcodeOf), ['1', '2', '3', '4', '5']);
    // Measured from the 2nd arrival: the 1st one's trip through the function node includes its first-run
    // compilation, which would shrink the first gap as seen here although the spool spaced the sends.
    assert.ok(times[4] - times[1] >= 3 * 50 - 5, `messages 2-5 in ${times[4] - times[1]} ms at 20/s`);
  });

  it('a store write failure fails the message with SPOOL_WRITE_FAILED and ackCode AE (never "stored")', async () => {
    fs.writeFileSync(path.join(dir, 'blocker'), 'x');
    helper.settings({ mgsDataDir: path.join(dir, 'blocker', 'data') });
    await helper.load([hl7Spool, functionNode], [
      spool(), { id: 'c1', type: 'catch', scope: ['s1'], wires: [['caught']] }, ...helpers,
    ]);
    // at start the node reports that it cannot read its queue; then the message fails
    const caught = collect('caught', 2);
    let storedCount = 0;
    helper.getNode('stored').on('input', () => storedCount++);
    const s1 = helper.getNode('s1');
    const errors: Msg[] = [];
    s1.on('call:error', (call: { args: Msg[] }) => errors.push(call.args[0]));
    s1.receive({ payload: RESULT, _session: { type: 'mllp', id: 'c9' } });
    const [start, c] = await caught;
    assert.equal(start.error.code, 'STORE_UNAVAILABLE');
    assert.equal(c.error.code, 'SPOOL_WRITE_FAILED');
    assert.deepEqual(c._session, { type: 'mllp', id: 'c9' });
    await until('s1', () => errors.some((e) => e.code === 'SPOOL_WRITE_FAILED'));
    const e = errors.find((x) => x.code === 'SPOOL_WRITE_FAILED')!;
    assert.equal(e.params.ackCode, 'AE');
    assert.match(String(e.params.detail), /ENOTDIR/);
    assert.equal(storedCount, 0);
  });

  it('a delivery the store could not record (disk full) is recorded once it can write again, and never sent twice', async () => {
    await helper.load([hl7Spool, functionNode], [spool(), emrSide('return [msg, null];'), ...helpers]);
    // the store refuses the first three records of a delivery, as a full disk would
    const real = store.delivered.bind(store);
    let tries = 0;
    store.delivered = (...args: Parameters<Store['delivered']>) => (++tries <= 3
      ? Promise.reject(new GatewayError('SPOOL_WRITE_FAILED', { detail: 'SQLITE_FULL: database or disk is full' }))
      : real(...args));
    const errors: Msg[] = [];
    helper.getNode('s1').on('call:error', (call: { args: Msg[] }) => errors.push(call.args[0]));
    const sent: string[] = [];
    helper.getNode('ok').on('input', (m: Msg) => sent.push(barcodeOf(m)));

    const [s] = await Promise.all([collect('stored', 1).then((m) => m[0].store), helper.getNode('s1').receive({ payload: msgFor('1') })]);
    for (const deadline = Date.now() + 5000; store.getMessage(s.id)!.status !== 'delivered';) {
      assert.ok(Date.now() < deadline, `still ${store.getMessage(s.id)!.status} after ${tries} tries`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(tries, 4);
    assert.equal(store.spoolStats('emr')[0].depth, 0);
    assert.deepEqual(errors.map((e) => e.code), ['SPOOL_WRITE_FAILED'], 'reported once, not at every try');
    // the next message goes; the first one was never sent again
    const ok = collect('ok', 1);
    helper.getNode('s1').receive({ payload: msgFor('2') });
    await ok;
    assert.deepEqual(sent, ['1', '2']);
  });

  it('two spool nodes may not share a destination', async () => {
    await helper.load([hl7Spool, functionNode], [
      spool(), { ...spool(), id: 's2', wires: [[], [], []] }, { id: 'c1', type: 'catch', scope: ['s2'], wires: [['caught']] }, ...helpers,
    ]);
    const [c] = await collect('caught', 1);
    assert.equal(c.error.code, 'CONFIG_INVALID');
  });

  it('serves /mgs/api: list, one message with history, reprocess, spool and stats', async () => {
    await helper.load([hl7Spool, functionNode], [spool(), emrSide('return [msg, null];'), ...helpers]);
    const ok = collect('ok', 2);
    helper.getNode('s1').receive({ payload: msgFor('111'), kind: 'result' });
    helper.getNode('s1').receive({ payload: msgFor('222'), kind: 'result' });
    const done = await ok;
    const ids = done.map((m) => m.spool.messageId as number);
    await until('s1', () => ids.every((id) => store.getMessage(id)!.status === 'delivered'));

    const list = await helper.request().get('/mgs/api/messages').query({ barcode: '222', status: 'delivered' }).expect(200);
    assert.equal(list.body.total, 1);
    assert.deepEqual(Object.keys(list.body).sort(), ['items', 'limit', 'offset', 'total']);
    const item = list.body.items[0];
    assert.deepEqual([item.id, item.barcode, item.patientId, item.kind, item.type, item.controlId, item.status, item.destination],
      [ids[1], '222', '1234', 'result', 'ORU^R01', 'BARCODE', 'delivered', 'emr']);
    assert.match(item.receivedAt, /^\d{4}-\d\d-\d\dT/);
    const all = await helper.request().get('/mgs/api/messages').query({ from: new Date(Date.now() - 60_000).toISOString(), limit: 1 }).expect(200);
    assert.deepEqual([all.body.total, all.body.items.length, all.body.items[0].id], [2, 1, ids[1]]);
    await helper.request().get('/mgs/api/messages').query({ status: 'nonsense' }).expect(400);

    const one = await helper.request().get(`/mgs/api/messages/${ids[0]}`).expect(200);
    assert.equal(one.body.text, msgFor('111'));
    assert.deepEqual(one.body.history.map((h: Msg) => h.status), ['spooled', 'delivered']);
    await helper.request().get('/mgs/api/messages/999999').expect(404);

    const again = collect('ok', 1);
    const rp = await helper.request().post('/mgs/api/messages/reprocess').send({ ids: [ids[0]] }).expect(200);
    assert.equal(rp.body.results[0].ok, true);
    assert.equal(rp.body.results[0].destination, 'emr');
    assert.equal(rp.body.results[0].active, true);
    const [re] = await again;
    assert.equal(barcodeOf(re), '111');
    assert.equal(re.spool.id, rp.body.results[0].seq);
    assert.equal(re.kind, 'result');
    const bad = await helper.request().post('/mgs/api/messages/reprocess').send({ ids: [999999] }).expect(200);
    assert.equal(bad.body.results[0].error.code, 'STORE_NOT_FOUND');
    await helper.request().post('/mgs/api/messages/reprocess').send({ ids: 'x' }).expect(400);

    await until('s1', () => store.spoolStats('emr')[0].depth === 0);
    const sp = await helper.request().get('/mgs/api/spool').expect(200);
    assert.deepEqual(sp.body.destinations.map((d: Msg) => [d.destination, d.depth, d.dead, d.state, d.oldestAt]),
      [['emr', 0, 0, 'idle', null]]);

    const st = await helper.request().get('/mgs/api/stats').expect(200);
    assert.equal(st.body.perMinute.reduce((n: number, p: Msg) => n + p.in, 0), 2);
    assert.deepEqual(st.body.byStatus, { delivered: 2 });
    assert.ok(st.body.writer.commits > 0);
  });
});

// SPDX-License-Identifier: Apache-2.0
// emr-write in a real Node-RED runtime against the demo EMR in a temporary data directory.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import emrConnection = require('../../nodes/emr-connection/emr-connection');
import emrWrite = require('../../nodes/emr-write/emr-write');
import { messageKeyOf } from '../../lib/emr/write';
import { freePort } from '../helpers/free-port';
import { RESULT, SPEC_OBX } from '../lib/emr/emr-suite';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

const conn = (extra: Msg = {}): Msg => ({ id: 'c1', type: 'emr-connection', name: '', dialect: 'sqlite', url: '', ...extra });
const writer = (extra: Msg = {}): Msg => ({ id: 'w1', type: 'emr-write', name: '', connection: 'c1', wires: [['ok'], ['failed']], ...extra });
const rest = (): Msg[] => [{ id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper' }, { id: 'ok', type: 'helper' }, { id: 'failed', type: 'helper' }];

function next(id: string): Promise<Msg> {
  return new Promise((resolve) => helper.getNode(id).once('input', resolve));
}

describe('emr-write node', function () {
  this.timeout(20000);
  let dir: string;
  const rows = (): Msg[] => {
    const db = new Database(path.join(dir, 'demo-emr.sqlite'), { readonly: true });
    try { return db.prepare('SELECT * FROM results ORDER BY message_key, set_id').all() as Msg[]; } finally { db.close(); }
  };

  before((done) => { helper.startServer(done); });
  after((done) => { helper.settings({}); helper.stopServer(done); });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-emr-write-'));
    helper.settings({ mgsDataDir: dir });
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores SPEC 2.3 as four rows flagged N, N, (none), L; the same message again adds none', async () => {
    await helper.load([emrConnection, emrWrite], [conn(), writer({ timezone: '+09:00' }), ...rest()]);
    let ok = next('ok');
    helper.getNode('w1').receive({ payload: RESULT, obx: SPEC_OBX, mllp: { receivedAt: '2009-09-27T06:20:00.000Z' } });
    let msg = await ok;
    assert.deepEqual(msg.emrWrite, { rows: 4, duplicates: 0, messageKey: messageKeyOf(RESULT) });
    assert.deepEqual(rows().map((r) => [r.test_code, r.value, r.flag, r.reason]),
      [['HGB', '12.7', 'N', null], ['HCT', '39.1', 'N', null], ['RBC', 'TEST', '', 'not-numeric'], ['WBC', '2', 'L', null]]);
    assert.deepEqual(rows().map((r) => [r.patient_no, r.device, r.observed_at, r.received_at]),
      Array(4).fill(['1234', 'E024', '2009-09-27T06:19:49.000Z', '2009-09-27T06:20:00.000Z']));

    ok = next('ok');
    helper.getNode('w1').receive({ payload: RESULT, obx: SPEC_OBX });
    msg = await ok;
    assert.deepEqual(msg.emrWrite, { rows: 0, duplicates: 4, messageKey: messageKeyOf(RESULT) });
    assert.equal(rows().length, 4);
  });

  it("uses the spool's idempotency key and reads OBX from the payload when msg.obx is absent", async () => {
    await helper.load([emrConnection, emrWrite], [conn(), writer(), ...rest()]);
    const ok = next('ok');
    helper.getNode('w1').receive({ payload: RESULT, spool: { id: 7, destination: 'emr', attempt: 1, key: 'spool-key-7' } });
    const msg = await ok;
    assert.equal(msg.emrWrite.messageKey, 'spool-key-7');
    assert.deepEqual(msg.spool, { id: 7, destination: 'emr', attempt: 1, key: 'spool-key-7' });
    assert.equal(msg.error, undefined);
    assert.deepEqual(rows().map((r) => [r.message_key, r.set_id, r.test_code, r.flag]),
      [['spool-key-7', 1, 'HGB', 'A'], ['spool-key-7', 2, 'HCT', 'A'], ['spool-key-7', 3, 'RBC', 'A'], ['spool-key-7', 4, 'WBC', 'A']]);
  });

  it('hands a failure behind a spool to output 2 with msg.error, and to Catch without one', async () => {
    const port = await freePort();
    await helper.load([emrConnection, emrWrite], [
      conn({ dialect: 'postgres', host: '127.0.0.1', port, database: 'emr', user: 'mgs' }), writer(), ...rest()]);
    const failed = next('failed');
    helper.getNode('w1').receive({ payload: RESULT, obx: SPEC_OBX, spool: { id: 1, destination: 'emr', attempt: 1, key: 'k' } });
    const msg = await failed;
    assert.equal(msg.error.code, 'EMR_UNREACHABLE');
    assert.equal(typeof msg.error.message, 'string');
    assert.equal(msg.spool.id, 1);

    const caught = next('caught');
    helper.getNode('w1').receive({ payload: RESULT, obx: SPEC_OBX });
    const c = await caught;
    assert.equal(c.error.code, 'EMR_UNREACHABLE');
    assert.deepEqual([c.error.cause.params.hl7Code, c.error.cause.params.ackCode], ['207', 'AE']);
  });

  it('writes through a configured statement with its own parameters', async () => {
    const sql = 'INSERT INTO results (barcode, test_code, value, flag, message_key, set_id, control_id) '
      + 'VALUES (:bc, :testCode, :value, :flag, :messageKey, :setId, :sender)';
    await helper.load([emrConnection, emrWrite], [conn(),
      writer({ sql, params: JSON.stringify([{ name: 'bc', field: 'PID-3.1' }, { name: 'sender', field: 'MSH-4' }]) }), ...rest()]);
    const ok = next('ok');
    helper.getNode('w1').receive({ payload: RESULT, obx: SPEC_OBX.slice(3) });
    await ok;
    assert.deepEqual(rows().map((r) => [r.barcode, r.test_code, r.value, r.flag, r.set_id, r.control_id, r.patient_no]),
      [['107558', 'WBC', '2', 'L', 4, 'B0801', null]]);
  });

  it('reports a bad configuration: to Catch, or to output 2 behind a spool', async () => {
    await helper.load([emrConnection, emrWrite], [conn(), writer({ mode: 'procedure', procedure: "x'; DROP TABLE results" }), ...rest()]);
    const caught = next('caught');
    helper.getNode('w1').receive({ payload: RESULT });
    assert.equal((await caught).error.code, 'EMR_BAD_CONFIG');
    const failed = next('failed');
    helper.getNode('w1').receive({ payload: RESULT, spool: { id: 2, destination: 'emr', attempt: 1, key: 'k2' } });
    assert.equal((await failed).error.code, 'EMR_BAD_CONFIG');
  });
});

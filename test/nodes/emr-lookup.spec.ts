// SPDX-License-Identifier: Apache-2.0
// emr-lookup in a real Node-RED runtime against the demo EMR in a temporary data directory.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import emrConnection = require('../../nodes/emr-connection/emr-connection');
import emrLookup = require('../../nodes/emr-lookup/emr-lookup');
import { ensureDemoEmr } from '../../lib/emr/demo';
import { STANDARD_PATIENT_MAPPING } from '../../lib/emr/mapping';
import { freePort } from '../helpers/free-port';
import { REQUEST, RESPONSE, request } from '../lib/emr/emr-suite';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

const conn = (extra: Msg = {}): Msg => ({ id: 'c1', type: 'emr-connection', name: '', dialect: 'sqlite', url: '', ...extra });
const lookup = (extra: Msg = {}): Msg => ({ id: 'n1', type: 'emr-lookup', name: '', connection: 'c1', wires: [['out']], ...extra });
const catchAll = (): Msg[] => [{ id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
  { id: 'caught', type: 'helper' }, { id: 'out', type: 'helper' }];

function next(id: string): Promise<Msg> {
  return new Promise((resolve) => helper.getNode(id).once('input', resolve));
}

describe('emr-lookup node', function () {
  this.timeout(20000);
  let dir: string;

  before((done) => { helper.startServer(done); });
  after((done) => { helper.settings({}); helper.stopServer(done); });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-emr-node-'));
    helper.settings({ mgsDataDir: dir });
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers SPEC 2.1 with SPEC 2.2 byte for byte from the demo EMR', async () => {
    await helper.load([emrConnection, emrLookup], [conn(), lookup(), ...catchAll()]);
    const out = next('out');
    helper.getNode('n1').receive({ payload: REQUEST, topic: 'ORU^R01', _session: { type: 'mllp', id: 's1' } });
    const msg = await out;
    assert.equal(msg.payload, RESPONSE);
    assert.equal(msg.topic, 'ORU^R01');
    assert.deepEqual(msg._session, { type: 'mllp', id: 's1' });
    assert.equal(msg.emr.patient.name, '홍길동');
    assert.deepEqual(msg.emr.tests.map((t: Msg) => t.test_code), ['HGB', 'HCT', 'RBC', 'WBC']);
    assert.ok(fs.existsSync(path.join(dir, 'demo-emr.sqlite')));
  });

  it('gives Catch EMR_NOT_FOUND for an unknown barcode, with what the NAK needs', async () => {
    await helper.load([emrConnection, emrLookup], [conn(), lookup(), ...catchAll()]);
    const caught = next('caught');
    helper.getNode('n1').receive({ payload: request('999999', 'E024') });
    const msg = await caught;
    assert.equal(msg.error.code, 'EMR_NOT_FOUND');
    // No barcode among the parameters: they end up in logs (the barcode is in msg.payload for a Catch flow).
    assert.deepEqual(msg.error.cause.params, { location: 'PID-3', hl7Code: '204', ackCode: 'AE' });
    assert.equal(msg.error.source.id, 'n1');
  });

  it('gives Catch EMR_NO_BARCODE for a request without PID-3.1', async () => {
    await helper.load([emrConnection, emrLookup], [conn(), lookup(), ...catchAll()]);
    const caught = next('caught');
    helper.getNode('n1').receive({ payload: request('', 'E024') });
    const msg = await caught;
    assert.equal(msg.error.code, 'EMR_NO_BARCODE');
    assert.deepEqual(msg.error.cause.params, { location: 'PID-3', hl7Code: '101', ackCode: 'AE' });
  });

  it('fills the standard layout when the mapping says so', async () => {
    await helper.load([emrConnection, emrLookup], [conn(), lookup({ patientMapping: JSON.stringify(STANDARD_PATIENT_MAPPING) }), ...catchAll()]);
    const out = next('out');
    helper.getNode('n1').receive({ payload: REQUEST });
    const lines = (await out).payload.split('\r');
    assert.equal(lines[1], 'PID|||107558^E024^1234||홍^길동||19590315|M');
    assert.equal(lines[2], 'PV1||E|1111^2222');
  });

  it('reads the EMR URL from ${MGS_EMR_URL}', async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-emr-env-'));
    const file = path.join(other, 'site.sqlite');
    fs.copyFileSync(ensureDemoEmr(other), file);
    process.env.MGS_EMR_URL = `sqlite:${file}`;
    try {
      await helper.load([emrConnection, emrLookup], [conn({ url: '${MGS_EMR_URL}' }), lookup(), ...catchAll()]);
      const out = next('out');
      helper.getNode('n1').receive({ payload: REQUEST });
      assert.equal((await out).payload, RESPONSE);
      assert.equal(fs.existsSync(path.join(dir, 'demo-emr.sqlite')), false);
    } finally {
      delete process.env.MGS_EMR_URL;
      await helper.unload();
      fs.rmSync(other, { recursive: true, force: true });
    }
  });

  it('answers EMR_UNREACHABLE at once when nothing listens, and EMR_TIMEOUT within its time-out when the EMR hangs', async () => {
    const closedPort = await freePort();
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });   // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      await helper.load([emrConnection, emrLookup], [
        conn({ id: 'down', dialect: 'postgres', host: '127.0.0.1', port: closedPort, database: 'emr', user: 'mgs' }),
        conn({ id: 'hung', dialect: 'postgres', host: '127.0.0.1', port: silentPort, database: 'emr', user: 'mgs', connectTimeout: 10000 }),
        lookup({ id: 'n1', connection: 'down' }),
        lookup({ id: 'n2', connection: 'hung', timeout: 300 }),
        ...catchAll(),
      ]);
      let caught = next('caught');
      helper.getNode('n1').receive({ payload: REQUEST });
      let msg = await caught;
      assert.equal(msg.error.code, 'EMR_UNREACHABLE');
      assert.equal(msg.error.cause.params.hl7Code, '207');
      assert.equal(msg.error.cause.params.ackCode, 'AE');

      caught = next('caught');
      const started = Date.now();
      helper.getNode('n2').receive({ payload: REQUEST });
      msg = await caught;
      const took = Date.now() - started;
      assert.equal(msg.error.code, 'EMR_TIMEOUT');
      assert.deepEqual([msg.error.cause.params.ms, msg.error.cause.params.hl7Code, msg.error.cause.params.ackCode], [300, '207', 'AE']);
      assert.ok(took >= 290 && took < 2000, `took ${took} ms`);
      const closing = Date.now();
      await helper.unload();                              // a redeploy does not wait for the hung EMR
      assert.ok(Date.now() - closing < 3000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
      await helper.unload();
    }
  });

  it('reports a bad configuration at deploy, catchably', async () => {
    await helper.load([emrConnection, emrLookup], [conn(), lookup({ patientMapping: '[{"column": "name", "field": "nowhere"}]' }), ...catchAll()]);
    const caught = next('caught');
    // the deploy-time report went out before this listener existed; a message fails with the same code
    helper.getNode('n1').receive({ payload: REQUEST });
    const msg = await caught;
    assert.equal(msg.error.code, 'EMR_BAD_CONFIG');
  });

  it('refuses to work without an EMR connection (CONFIG_MISSING_EMR)', async () => {
    await helper.load([emrConnection, emrLookup], [lookup({ connection: '' }), ...catchAll()]);
    const caught = next('caught');
    helper.getNode('n1').receive({ payload: REQUEST });
    assert.equal((await caught).error.code, 'CONFIG_MISSING_EMR');
  });

  it('gives Catch HL7_MISSING_MSH for a payload that is not HL7', async () => {
    await helper.load([emrConnection, emrLookup], [conn(), lookup(), ...catchAll()]);
    const caught = next('caught');
    helper.getNode('n1').receive({ payload: 'not hl7' });
    assert.equal((await caught).error.code, 'HL7_MISSING_MSH');
  });
});

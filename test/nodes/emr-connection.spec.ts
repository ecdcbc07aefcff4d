// SPDX-License-Identifier: Apache-2.0
// emr-connection: one adapter shared by its users and closed on redeploy, the editor's test route.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import emrConnection = require('../../nodes/emr-connection/emr-connection');
import emrLookup = require('../../nodes/emr-lookup/emr-lookup');
import emrWrite = require('../../nodes/emr-write/emr-write');
import { isGatewayError } from '../../lib/errors';
import { freePort } from '../helpers/free-port';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

describe('emr-connection node', function () {
  this.timeout(20000);
  let dir: string;

  before((done) => { helper.startServer(done); });
  after((done) => { helper.settings({}); helper.stopServer(done); });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-emr-conn-'));
    helper.settings({ mgsDataDir: dir });
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shares one adapter among its users and closes it on redeploy', async () => {
    await helper.load([emrConnection, emrLookup, emrWrite], [
      { id: 'c1', type: 'emr-connection', name: '', dialect: 'sqlite', url: '' },
      { id: 'l1', type: 'emr-lookup', connection: 'c1', wires: [[]] },
      { id: 'w1', type: 'emr-write', connection: 'c1', wires: [[], []] },
    ]);
    const c = helper.getNode('c1');
    const a = c.getAdapter();
    assert.equal(c.getAdapter(), a);
    assert.equal(a.dialect, 'sqlite');
    assert.equal(c.describe(), `sqlite:${path.join(dir, 'demo-emr.sqlite')}`);
    assert.deepEqual(await a.query('SELECT COUNT(*) AS n FROM mg_patient WHERE barcode = :b', { b: '107558' }), [{ n: 1 }]);
    await helper.unload();
    await assert.rejects(a.query('SELECT 1'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE'));
  });

  it('keeps the password in credentials, out of the flow', async () => {
    await helper.load([emrConnection], [
      { id: 'c1', type: 'emr-connection', name: '', dialect: 'postgres', host: '127.0.0.1', port: 5432, database: 'x', user: 'u' },
    ], { c1: { password: 's3cret' } });
    const c = helper.getNode('c1');
    assert.equal(c.credentials.password, 's3cret');
    assert.equal(JSON.stringify(helper._redNodes.getFlows().flows).includes('s3cret'), false);
  });

  it('answers the editor\'s "test connection" with the target or the error code', async () => {
    await helper.load([emrConnection], [{ id: 'c1', type: 'emr-connection', name: '', dialect: 'sqlite', url: '' }]);
    const ok = await helper.request().post('/emr-connection/test').send({ dialect: 'sqlite', url: '' }).expect(200);
    assert.equal(ok.body.ok, true);
    assert.equal(ok.body.target, `sqlite:${path.join(dir, 'demo-emr.sqlite')}`);
    assert.equal(typeof ok.body.ms, 'number');

    const port = await freePort();
    const down = await helper.request().post('/emr-connection/test')
      .send({ dialect: 'postgres', host: '127.0.0.1', port, database: 'emr', user: 'mgs', password: 'pw' }).expect(200);
    assert.deepEqual([down.body.ok, down.body.code, down.body.target], [false, 'EMR_UNREACHABLE', `postgres://mgs@127.0.0.1:${port}/emr`]);
    assert.equal(JSON.stringify(down.body).includes('pw'), false);

    // the URL's scheme decides the database, so one flow serves the demo and a real EMR
    const byUrl = await helper.request().post('/emr-connection/test').send({ dialect: 'sqlite', url: `postgres://mgs@127.0.0.1:${port}/emr` }).expect(200);
    assert.deepEqual([byUrl.body.ok, byUrl.body.code, byUrl.body.target], [false, 'EMR_UNREACHABLE', `postgres://mgs@127.0.0.1:${port}/emr`]);

    const bad = await helper.request().post('/emr-connection/test').send({ dialect: 'oracle' }).expect(200);
    assert.deepEqual([bad.body.ok, bad.body.code], [false, 'EMR_BAD_CONFIG']);
  });

  it('reports a connection that cannot work at deploy, catchably', async () => {
    await helper.load([emrConnection, emrLookup], [
      { id: 'c1', type: 'emr-connection', name: '', dialect: 'postgres', host: '', url: '' },
      { id: 'l1', type: 'emr-lookup', connection: 'c1', wires: [[]] },
      { id: 'catcher', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]);
    const caught = new Promise<Msg>((resolve) => helper.getNode('caught').once('input', resolve));
    helper.getNode('l1').receive({ payload: 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||107558^E024^\r' });
    assert.equal((await caught).error.code, 'EMR_BAD_CONFIG');
  });
});

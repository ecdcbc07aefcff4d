// SPDX-License-Identifier: Apache-2.0
// The image path end to end in one runtime, over real MLLP and HTTP on loopback:
// mllp in -> hl7 classify -> image mapping -> (receipt) mllp response; uploads over HTTP; approval on the admin API.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import imageMapping = require('../../nodes/image-mapping/image-mapping');
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import mllpResponse = require('../../nodes/mllp-response/mllp-response');
import hl7Classify = require('../../nodes/hl7-classify/hl7-classify');
import { freePort } from '../helpers/free-port';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { caseFile } from '../helpers/paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const request = require('supertest');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const switchNode = require('@node-red/nodes/core/function/10-switch.js');

helper.init(require.resolve('node-red'));

const CASE = '01-mllp-split-large-ed-image';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const imageMessage = (name: string, barcode = ''): string => ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3',
  `PID|||${barcode}^E031^|||||`, 'PV1||O|', 'OBR|1||||||20261203101500', `OBX|1|ST|01|ECG|${name}||||||R||P|`].join('\r') + '\r';

describe('image path end to end (MLLP + HTTP)', () => {
  let dataDir: string;
  let httpNode: any;
  let port: number;
  let client: TestMllpClient;
  const mod = (RED: any): void => { httpNode = RED.httpNode; (imageMapping as any)(RED); };
  const next = (id: string): Promise<any> => new Promise((resolve) => helper.getNode(id).once('input', resolve));

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-img-e2e-'));
    helper.settings({ mgsDataDir: dataDir });
    port = await freePort();
    await helper.load([mod, mllpIn, mllpResponse, hl7Classify, switchNode], [
      { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, charset: 'utf-8', maxFrameSize: 4194304, idleTimeout: 0, maxConnections: 0,
        strict: false, missingCrWait: 100, ackMode: 'flow', replyTimeout: 10000, wires: [['classify']] },
      { id: 'classify', type: 'hl7-classify', rules: '', wires: [['other'], ['other'], ['im'], ['other']] },
      { id: 'im', type: 'image-mapping', maxSize: 5, layout: 'mg', replyForm: 'echo', receiptAck: true, wires: [['approved'], ['sw'], ['rejected']] },
      { id: 'sw', type: 'switch', property: 'image.event', propertyType: 'msg', checkall: 'false', outputs: 2,
        rules: [{ t: 'eq', v: 'queued', vt: 'str' }, { t: 'else' }], wires: [['resp'], ['decision']] },
      { id: 'resp', type: 'mllp-response', replyWith: 'ack', ackCode: 'auto', ackText: '', wires: [] },
      { id: 'c1', type: 'catch', scope: ['im'], wires: [['resp']] },
      { id: 'approved', type: 'helper' }, { id: 'rejected', type: 'helper' }, { id: 'decision', type: 'helper' }, { id: 'other', type: 'helper' },
    ]);
    client = await TestMllpClient.connect(port);
  });
  afterEach(async () => {
    await client.close();
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('case 01: three TCP chunks -> exactly one AA for IMAGE, and the ED PDF waits in the queue with its SHA-256', async () => {
    for (const c of ['chunk1.bin', 'chunk2.bin', 'chunk3.bin']) {
      client.write(caseFile(CASE, c));
      await new Promise((r) => setTimeout(r, 50));
    }
    const [ack] = await client.waitFrames(1);
    const text = ack.toString('utf8');
    assert.equal(field(text, 'MSA', 1), 'AA');
    assert.equal(field(text, 'MSA', 2), 'IMAGE');
    const list = await helper.request().get('/mgs/image-queue').expect(200);
    assert.equal(list.body.items.length, 1);
    const e = list.body.items[0];
    assert.deepEqual([e.state, e.barcode, e.device, e.patient, e.size], ['pending', '318204', 'E041', null, 230065]);
    assert.equal(e.sha256, caseFile(CASE, 'expected_payload.sha256').toString('utf8').split(/\s+/)[0]);
    const detail = await helper.request().get(`/mgs/image-queue/${e.id}`).expect(200);
    assert.equal(detail.body.events[0].action, 'message');
    assert.match(detail.body.events[0].actor, /^mllp 127\.0\.0\.1:\d+$/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(client.frames.length, 1);
  });

  it('message over MLLP, upload over HTTP, approval on the API: stored, approved msg and the reply for the MG', async () => {
    const ack = await client.request(imageMessage('E031-000123.jpg'));
    assert.equal(field(ack, 'MSA', 1), 'AA');
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(3000, 9)]);
    const up = await request(httpNode).post('/mgs/images/E031-000123.jpg').set('X-Content-SHA256', sha(jpeg)).send(jpeg).expect(201);
    assert.equal(up.body.state, 'pending');
    const approved = next('approved');
    const decision = next('decision');
    await helper.request().post(`/mgs/image-queue/${up.body.id}/approve`)
      .send({ patient: { id: '1234', name: '홍길동', age: '50', sex: 'M' }, patientId: '1234' }).expect(200);
    const out = await approved;
    const rep = await decision;
    assert.ok(fs.readFileSync(out.image.path).equals(jpeg));
    assert.equal(out.image.path, path.join(dataDir, 'images', 'store', '1234', '20261203', 'E031-000123.jpg'));
    assert.equal(field(out.payload, 'PID', 3), '^E031^1234');
    assert.equal(field(out.payload, 'PID', 4), '홍길동');
    assert.equal(field(rep.payload, 'MSH', 10), 'IMAGE');
    assert.equal(field(rep.payload, 'OBX', 11), 'F');
    assert.deepEqual(rep.ack, { code: 'AA' });
  });

  it('upload first, message later: matched; nothing is dropped while either side waits', async () => {
    const up = await request(httpNode).post('/mgs/images/E031-000200.png').send(Buffer.from('\x89PNG\r\n\x1a\nfake', 'latin1')).expect(201);
    assert.equal(up.body.state, 'awaiting-message');
    const ack1 = await client.request(imageMessage('E031-000201.jpg'));
    assert.equal(field(ack1, 'MSA', 1), 'AA');
    let list = await helper.request().get('/mgs/image-queue').expect(200);
    assert.deepEqual(list.body.counts, { 'awaiting-file': 1, 'awaiting-message': 1 });
    const ack2 = await client.request(imageMessage('E031-000200.png', '107558'));
    assert.equal(field(ack2, 'MSA', 1), 'AA');
    list = await helper.request().get('/mgs/image-queue').expect(200);
    assert.deepEqual(list.body.counts, { 'awaiting-file': 1, pending: 1 });
    const pending = list.body.items.find((x: any) => x.state === 'pending');
    assert.deepEqual([pending.id, pending.barcode], [up.body.id, '107558']);
  });

  it('an image-type message naming no image is NAKed (AE) and not queued', async () => {
    const nak = await client.request(imageMessage('x'));
    assert.equal(field(nak, 'MSA', 1), 'AE');
    assert.equal(field(nak, 'MSA', 2), 'IMAGE');
    const list = await helper.request().get('/mgs/image-queue').expect(200);
    assert.deepEqual(list.body.items, []);
  });
});

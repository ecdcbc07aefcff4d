// SPDX-License-Identifier: Apache-2.0
// image-mapping in a real Node-RED runtime: upload route (httpNode), queue routes (httpAdmin via helper.request()),
// receipt ACK, map/approve/reject outputs and replies, never-dropped waiting entries, case 01.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import imageMapping = require('../../nodes/image-mapping/image-mapping');
import { caseFile } from '../helpers/paths';

// Neither package ships type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const request = require('supertest');

helper.init(require.resolve('node-red'));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function imageMessage(name: string, barcode = ''): string {
  return ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3', `PID|||${barcode}^E031^|||||`, 'PV1||O|',
    'OBR|1||||||20261203101500', `OBX|1|ST|01|ECG|${name}||||||R||P|`].join('\r') + '\r';
}

describe('image-mapping node', () => {
  let dataDir: string;
  let httpNode: any;
  // Wraps the module so the test can reach RED.httpNode (the helper serves only httpAdmin).
  const mod = (RED: any): void => { httpNode = RED.httpNode; (imageMapping as any)(RED); };

  const flow = (extra: Record<string, unknown> = {}) => [
    { id: 'im', type: 'image-mapping', name: '', maxSize: 1, layout: 'mg', replyForm: 'echo', receiptAck: true, wires: [['ok'], ['reply'], ['no']], ...extra },
    { id: 'ok', type: 'helper' }, { id: 'reply', type: 'helper' }, { id: 'no', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['im'], wires: [['caught']] }, { id: 'caught', type: 'helper' },
  ];
  const next = (id: string): Promise<any> => new Promise((resolve) => helper.getNode(id).once('input', resolve));

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-imnode-'));
    helper.settings({ mgsDataDir: dataDir });
  });
  afterEach(async () => {
    await helper.unload();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('queues a message, ACKs it once durable, matches the upload, then map + approve sends approved + reply', async () => {
    await helper.load(mod as any, flow());
    const reply1 = next('reply');
    helper.getNode('im').receive({ payload: imageMessage('E031-000123.jpg'), _session: { type: 'mllp', id: 's1' },
      mllp: { remoteAddress: '127.0.0.1', remotePort: 40000 } } as any);
    const receipt = await reply1;
    assert.deepEqual(receipt.ack, { code: 'AA' });
    assert.deepEqual(receipt._session, { type: 'mllp', id: 's1' });
    assert.equal(receipt.image.event, 'queued');
    assert.equal(receipt.image.entries[0].state, 'awaiting-file');
    const id = receipt.image.ids[0];

    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(1000)]);
    const up = await request(httpNode).post('/mgs/images/E031-000123.jpg').set('Content-Type', 'application/octet-stream').send(jpeg);
    assert.equal(up.status, 201);
    assert.deepEqual([up.body.id, up.body.state, up.body.matched, up.body.sha256], [id, 'pending', true, sha(jpeg)]);

    const list = await helper.request().get('/mgs/image-queue?state=pending').expect(200);
    assert.deepEqual(list.body.items.map((x: any) => [x.id, x.name, x.state, x.contentType]), [[id, 'E031-000123.jpg', 'pending', 'image/jpeg']]);
    assert.deepEqual(list.body.counts, { pending: 1 });
    const file = await helper.request().get(`/mgs/image-queue/${id}/file`).buffer(true).parse((res: any, cb: (e: Error | null, b: Buffer) => void) => {
      const parts: Buffer[] = []; res.on('data', (d: Buffer) => parts.push(d)); res.on('end', () => cb(null, Buffer.concat(parts)));
    }).expect(200);
    assert.equal(file.headers['content-type'], 'image/jpeg');
    assert.ok((file.body as Buffer).equals(jpeg));

    await helper.request().post(`/mgs/image-queue/${id}/map`).send({ patient: { id: '1234', name: '홍길동', age: '50', sex: 'M' }, operator: 'kim' }).expect(200);
    const approved = next('ok');
    const reply2 = next('reply');
    const a = await helper.request().post(`/mgs/image-queue/${id}/approve`).send({ patientId: '1234', operator: 'lee' }).expect(200);
    assert.equal(a.body.state, 'approved');
    const out = await approved;
    const rep = await reply2;
    const stored = path.join(dataDir, 'images', 'store', '1234', '20261203', 'E031-000123.jpg');
    assert.equal(out.image.path, stored);
    assert.ok(fs.readFileSync(stored).equals(jpeg));
    assert.deepEqual(out.image.patient, { id: '1234', name: '홍길동', age: '50', sex: 'M' });
    assert.equal(out.image.decidedBy, 'lee (unverified)');
    assert.equal(out.image.mappedBy, 'kim (unverified)');
    assert.equal(out.payload, ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3', 'PID|||^E031^1234|홍길동||50|M|', 'PV1||O|',
      'OBR|1||||||20261203101500', 'OBX|1|ST|01|ECG|E031-000123.jpg||||||R||P|'].join('\r') + '\r');
    assert.deepEqual(rep.ack, { code: 'AA' });
    assert.equal(rep.image.event, 'approved');
    assert.match(rep.payload, /\rOBX\|1\|ST\|01\|ECG\|E031-000123\.jpg\|\|\|\|\|\|F\|\|P\|\r$/);

    const detail = await helper.request().get(`/mgs/image-queue/${id}`).expect(200);
    assert.deepEqual(detail.body.events.map((e: any) => `${e.actor}|${e.action}`), ['mllp 127.0.0.1:40000|message', 'upload ::ffff:127.0.0.1|file',
      'system|matched', 'kim (unverified)|mapped', 'lee (unverified)|approved', 'system|stored'].map((s) => s.replace('upload ::ffff:127.0.0.1', detail.body.events[1].actor)));
    assert.match(detail.body.events[1].actor, /^upload (::ffff:)?127\.0\.0\.1$/);
  });

  it('refuses to approve another patient than the one mapped (409) and an unmapped image (400)', async () => {
    await helper.load(mod as any, flow());
    const r = next('reply');
    helper.getNode('im').receive({ payload: imageMessage('E031-000777.png', '107558') } as any);
    const id = (await r).image.ids[0];
    await request(httpNode).post('/mgs/images/E031-000777.png').send(Buffer.from('png')).expect(201);
    const none = await helper.request().post(`/mgs/image-queue/${id}/approve`).send({ patientId: '1234' }).expect(400);
    assert.equal(none.body.error, 'IMAGE_NO_PATIENT');
    await helper.request().post(`/mgs/image-queue/${id}/map`).send({ patient: { id: '1234' } }).expect(200);
    const wrong = await helper.request().post(`/mgs/image-queue/${id}/approve`).send({ patientId: '9999' }).expect(409);
    assert.equal(wrong.body.error, 'IMAGE_PATIENT_MISMATCH');
    const missing = await helper.request().post('/mgs/image-queue/999/approve').send({ patientId: '1' }).expect(404);
    assert.equal(missing.body.error, 'IMAGE_NOT_FOUND');
  });

  it('reject: output 3 and a reply with OBX-11 X and AR; the file is kept', async () => {
    await helper.load(mod as any, flow());
    await request(httpNode).post('/mgs/images/E031-000900.jpg').send(Buffer.from('file first')).expect(201);
    const r = next('reply');
    helper.getNode('im').receive({ payload: imageMessage('E031-000900.jpg') } as any);
    const receipt = await r;
    assert.equal(receipt.image.entries[0].state, 'pending');
    const id = receipt.image.ids[0];
    const rejected = next('no');
    const reply = next('reply');
    await helper.request().post(`/mgs/image-queue/${id}/reject`).send({ reason: 'wrong device', operator: 'kim' }).expect(200);
    const out = await rejected;
    const rep = await reply;
    assert.equal(out.image.event, 'rejected');
    assert.equal(out.image.reason, 'wrong device');
    assert.deepEqual(rep.ack, { code: 'AR', text: 'wrong device' });
    assert.match(rep.payload, /\|X\|\|P\|\r$/);
    assert.equal(fs.readFileSync(out.image.path, 'utf8'), 'file first');
    assert.ok(out.image.path.startsWith(path.join(dataDir, 'images', 'rejected')));
  });

  it('upload over the limit -> 413, nothing kept; bad name -> 400', async () => {
    await helper.load(mod as any, flow({ maxSize: 0.001 }));   // 1048 bytes
    const big = await request(httpNode).post('/mgs/images/big.jpg').send(Buffer.alloc(2000, 1));
    assert.equal(big.status, 413);
    assert.equal(big.body.error, 'IMAGE_TOO_LARGE');
    assert.deepEqual(fs.readdirSync(path.join(dataDir, 'images', 'incoming')), []);
    const bad = await request(httpNode).post('/mgs/images/.secret.jpg').send(Buffer.from('x'));
    assert.equal(bad.status, 400);
    const list = await helper.request().get('/mgs/image-queue').expect(200);
    assert.deepEqual(list.body.items, []);
  });

  it('a message without an image goes to Catch with IMAGE_NONE_IN_MESSAGE (NAK path), nothing queued', async () => {
    await helper.load(mod as any, flow());
    const caught = next('caught');
    helper.getNode('im').receive({ payload: imageMessage('12.7') } as any);
    assert.equal((await caught).error.code, 'IMAGE_NONE_IN_MESSAGE');
  });

  it('case 01: the ED PDF message waits in the queue with the decoded PDF SHA-256 and barcode 318204', async () => {
    await helper.load(mod as any, flow());
    const hl7 = caseFile('01-mllp-split-large-ed-image', 'input.hl7').toString('latin1');
    const r = next('reply');
    helper.getNode('im').receive({ payload: hl7 } as any);
    const receipt = await r;
    assert.equal(receipt.payload, hl7);
    const list = await helper.request().get('/mgs/image-queue').expect(200);
    assert.equal(list.body.items.length, 1);
    const e = list.body.items[0];
    assert.deepEqual([e.state, e.barcode, e.device, e.patient, e.contentType, e.size, e.sha256],
      ['pending', '318204', 'E041', null, 'application/pdf', 230065, '8fdd4f2bc504982e2711fbc273f3c285ca3457f4d616d0c21eddeac973e08411']);
  });

  it('serves the management page shell at /mgs/ and reports the EMR search as unavailable without a connection', async () => {
    await helper.load(mod as any, flow());
    const page = await helper.request().get('/mgs/').expect(200);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.text, /<html/i);
    await helper.request().get('/mgs').expect(301).expect('Location', '/mgs/');
    await helper.request().get('/mgs/../package.json').expect(404);
    const s = await helper.request().get('/mgs/image-queue/patients?q=1234').expect(200);
    assert.deepEqual(s.body, { available: false, patients: [] });
  });
});

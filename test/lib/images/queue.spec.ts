// SPDX-License-Identifier: Apache-2.0
// The durable image queue: either-order matching, never dropped, decisions, image store, recovery, case 01.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { ImageQueue } from '../../../lib/images/queue';
import { buildImageReply, readImageMessage } from '../../../lib/images/hl7-images';
import { caseFile } from '../../helpers/paths';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

export function imageMessage(name: string, barcode = '', extraObx: string[] = []): string {
  return ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3', `PID|||${barcode}^E031^|||||`, 'PV1||O|',
    'OBR|1||||||20261203101500', `OBX|1|ST|01|ECG|${name}||||||R||P|`, ...extraObx].join('\r') + '\r';
}

describe('lib/images queue', () => {
  let dir: string;
  let q: ImageQueue;
  const upload = (name: string, data: Buffer) => q.addUpload(Readable.from([data]), name, { maxBytes: 1 << 20, actor: 'upload 127.0.0.1' });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-queue-'));
    q = new ImageQueue(dir);
  });
  afterEach(() => { q.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  it('message first, then upload: the entry waits for its file, then becomes pending', async () => {
    const [e] = q.addMessage({ hl7: imageMessage('E031-000123.jpg'), actor: 'mllp 127.0.0.1:5000' });
    assert.equal(e.state, 'awaiting-file');
    assert.equal(e.name, 'E031-000123.jpg');
    assert.equal(e.device, 'E031');
    assert.equal(e.barcode, '');
    const data = randomBytes(3000);
    const r = await upload('E031-000123.jpg', data);
    assert.equal(r.matched, true);
    assert.equal(r.entry.id, e.id);
    assert.equal(r.entry.state, 'pending');
    assert.equal(r.entry.sha256, sha(data));
    assert.deepEqual(q.events(e.id).map((x) => [x.actor, x.action]),
      [['mllp 127.0.0.1:5000', 'message'], ['upload 127.0.0.1', 'file'], ['system', 'matched']]);
  });

  it('upload first, then message: matched by the serial-numbered name (case-insensitive)', async () => {
    const data = randomBytes(3000);
    const r = await upload('e031-000125.JPG', data);
    assert.equal(r.entry.state, 'awaiting-message');
    const [e] = q.addMessage({ hl7: imageMessage('E031-000125.jpg', '107558'), actor: 'mllp' });
    assert.equal(e.id, r.entry.id);
    assert.equal(e.state, 'pending');
    assert.equal(e.barcode, '107558');
    assert.equal(e.hl7, imageMessage('E031-000125.jpg', '107558'));
  });

  it('never drops: unmatched uploads and messages stay listed, with counts and oldest times', async () => {
    await upload('E031-000200.jpg', randomBytes(10));
    q.addMessage({ hl7: imageMessage('E031-000201.jpg'), actor: 'mllp' });
    assert.deepEqual(q.counts(), { 'awaiting-file': 1, 'awaiting-message': 1 });
    assert.deepEqual(Object.keys(q.oldestWaiting()).sort(), ['awaiting-file', 'awaiting-message']);
    assert.deepEqual(q.list({ states: ['awaiting-message'] }).map((x) => x.name), ['E031-000200.jpg']);
    assert.deepEqual(q.list({ q: '000201' }).map((x) => x.name), ['E031-000201.jpg']);
    // survives a restart
    q.close();
    q = new ImageQueue(dir);
    assert.deepEqual(q.list().map((x) => [x.name, x.state]), [['E031-000201.jpg', 'awaiting-file'], ['E031-000200.jpg', 'awaiting-message']]);
  });

  it('a message sent again (its ACK was lost) is recognised: one entry, one file', () => {
    const hl7 = caseFile('01-mllp-split-large-ed-image', 'input.hl7').toString('latin1');
    const [a] = q.addMessage({ hl7, actor: 'mllp' });
    const [b] = q.addMessage({ hl7, actor: 'mllp' });
    assert.equal(b.id, a.id);
    assert.equal(q.list().length, 1);
    assert.equal(fs.readdirSync(q.incomingDir).length, 1);
    const [c] = q.addMessage({ hl7: imageMessage('E031-000900.jpg'), actor: 'mllp' });
    const [d] = q.addMessage({ hl7: imageMessage('E031-000900.jpg'), actor: 'mllp' });
    assert.equal(d.id, c.id);
    assert.deepEqual(q.events(c.id).map((x) => x.action), ['message', 'duplicate-message']);
  });

  it('one message naming two images gives two entries', () => {
    const hl7 = imageMessage('E031-000300.jpg', '', ['OBX|2|ST|02|ECG|E031-000301.png||||||R||P|']);
    const es = q.addMessage({ hl7, actor: 'mllp' });
    assert.deepEqual(es.map((x) => [x.name, x.obxIndex, x.state]), [['E031-000300.jpg', 1, 'awaiting-file'], ['E031-000301.png', 2, 'awaiting-file']]);
  });

  it('a message with no image name and no data is refused with IMAGE_NONE_IN_MESSAGE', () => {
    assert.throws(() => q.addMessage({ hl7: imageMessage('12.7'), actor: 'mllp' }), { code: 'IMAGE_NONE_IN_MESSAGE' });
  });

  it('approve: needs a mapped patient, the same patient, and moves the file to store/<patient>/<OBR-7 date>/<name>', async () => {
    q.addMessage({ hl7: imageMessage('E031-000400.jpg'), actor: 'mllp' });
    const data = randomBytes(500);
    const { entry } = await upload('E031-000400.jpg', data);
    assert.throws(() => q.approve(entry.id, '1234', 'kim'), { code: 'IMAGE_NO_PATIENT' });
    q.map(entry.id, { id: '1234', name: '홍길동', sex: 'M', age: '50' }, 'kim');
    assert.throws(() => q.approve(entry.id, '9999', 'lee'), { code: 'IMAGE_PATIENT_MISMATCH' });
    const done = q.approve(entry.id, '1234', 'lee');
    assert.equal(done.state, 'approved');
    assert.equal(done.decidedBy, 'lee');
    assert.equal(done.mappedBy, 'kim');
    assert.equal(done.filePath, path.join(dir, 'store', '1234', '20261203', 'E031-000400.jpg'));
    assert.deepEqual(fs.readFileSync(done.filePath!), data);
    assert.deepEqual(fs.readdirSync(q.incomingDir), []);
    assert.throws(() => q.approve(entry.id, '1234', 'lee'), { code: 'IMAGE_BAD_STATE' });
    assert.throws(() => q.reject(entry.id, 'late', 'lee'), { code: 'IMAGE_BAD_STATE' });
    assert.deepEqual(q.events(entry.id).map((x) => `${x.actor}:${x.action}`),
      ['mllp:message', 'upload 127.0.0.1:file', 'system:matched', 'kim:mapped', 'lee:approved', 'system:stored']);
    assert.deepEqual(q.undispatched().map((x) => x.id), [entry.id]);
    q.markDispatched(entry.id);
    assert.deepEqual(q.undispatched(), []);
  });

  it('a waiting entry cannot be mapped; reject keeps the file under rejected/', async () => {
    const { entry } = await upload('stray-001.jpg', Buffer.from('stray'));
    assert.throws(() => q.map(entry.id, { id: '1' }, 'kim'), { code: 'IMAGE_BAD_STATE' });
    const r = q.reject(entry.id, 'not ours', 'kim');
    assert.equal(r.state, 'rejected');
    assert.equal(r.reason, 'not ours');
    assert.ok(r.filePath!.startsWith(path.join(dir, 'rejected')));
    assert.equal(fs.readFileSync(r.filePath!, 'utf8'), 'stray');
  });

  it('recovers after a crash: adopts an unrecorded file, removes partial ones, finishes a half-done approval', async () => {
    fs.writeFileSync(path.join(q.incomingDir, '0b5f2b4e-8a1c-4c55-9e59-3a4b1f0e7d21--E031-000500.jpg'), 'whole');
    fs.writeFileSync(path.join(q.incomingDir, '.x.jpg.abc.part'), 'partial');
    q.addMessage({ hl7: imageMessage('E031-000501.jpg'), actor: 'mllp' });
    const { entry } = await upload('E031-000501.jpg', Buffer.from('img'));
    q.map(entry.id, { id: '77' }, 'kim');
    // simulate a crash between the two halves of approve(): state approving, file not yet moved
    const db = (q as any).db;
    const target = path.join(q.storeDir, '77', '20261203', 'E031-000501.jpg');
    db.prepare("UPDATE image SET state = 'approving', target_path = ? WHERE id = ?").run(target, entry.id);
    q.close();
    q = new ImageQueue(dir);
    assert.equal(q.require(entry.id).state, 'approved');
    assert.equal(fs.readFileSync(target, 'utf8'), 'img');
    const adopted = q.list({ states: ['awaiting-message'] });
    assert.deepEqual(adopted.map((x) => [x.name, x.source, x.sha256]), [['E031-000500.jpg', 'recovered', sha(Buffer.from('whole'))]]);
    assert.deepEqual(fs.readdirSync(q.incomingDir).filter((f) => f.endsWith('.part')), []);
  });

  it('case 01: the ED/Base64 PDF lands in the unmatched queue with the decoded SHA-256, message byte-identical', () => {
    const hl7 = caseFile('01-mllp-split-large-ed-image', 'input.hl7').toString('latin1');
    const expected = caseFile('01-mllp-split-large-ed-image', 'expected_payload.sha256').toString('utf8').trim().split(/\s+/)[0];
    assert.equal(hl7.length, 306929);
    const info = readImageMessage(hl7);
    assert.equal(info.barcode, '318204');
    assert.equal(info.device, 'E041');
    assert.equal(info.patientId, '');
    const [e] = q.addMessage({ hl7, actor: 'mllp' });
    assert.equal(e.state, 'pending');
    assert.equal(e.patient, null);
    assert.equal(e.source, 'ed');
    assert.equal(e.contentType, 'application/pdf');
    assert.equal(e.size, 230065);
    assert.equal(e.sha256, expected);
    assert.equal(e.sha256, '8fdd4f2bc504982e2711fbc273f3c285ca3457f4d616d0c21eddeac973e08411');
    assert.equal(sha(fs.readFileSync(e.filePath!)), expected);
    assert.equal(e.hl7, hl7);
    assert.deepEqual(q.list({ states: ['pending'] }).map((x) => x.id), [e.id]);
  });

  it('the reply echoes MSH, fills PID in the MG layout and keeps only this OBX with OBX-11 F / X', () => {
    const hl7 = imageMessage('E031-000600.jpg', '', ['OBX|2|ST|02|ECG|E031-000601.jpg||||||R||P|']);
    const ok = buildImageReply(hl7, 2, 'approved', { id: '1234', name: '홍길동', age: '50', sex: 'M' });
    assert.equal(ok, ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3', 'PID|||^E031^1234|홍길동||50|M|', 'PV1||O|',
      'OBR|1||||||20261203101500', 'OBX|2|ST|02|ECG|E031-000601.jpg||||||F||P|'].join('\r') + '\r');
    const no = buildImageReply(hl7, 1, 'rejected', null);
    assert.equal(no, ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3', 'PID|||^E031^|||||', 'PV1||O|',
      'OBR|1||||||20261203101500', 'OBX|1|ST|01|ECG|E031-000600.jpg||||||X||P|'].join('\r') + '\r');
  });
});

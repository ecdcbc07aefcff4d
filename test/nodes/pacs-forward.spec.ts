// SPDX-License-Identifier: Apache-2.0
// pacs-forward in a real runtime: disabled pass-through, C-STORE to dcmtk storescp, failure output, bad target.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pacsForward = require('../../nodes/pacs-forward/pacs-forward');
import { freePort } from '../helpers/free-port';
import { dcmdump, haveTool, makePng, rgbPattern, startStorescp, tag } from '../lib/dicom/tools';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

describe('pacs-forward node', () => {
  let tmp: string;
  let file: string;
  const flow = (target: string | undefined) => [
    { id: 'p', type: 'pacs-forward', ...(target === undefined ? {} : { target }), timeout: 5, modality: 'OT', wires: [['sent'], ['failed']] },
    { id: 'sent', type: 'helper' }, { id: 'failed', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['p'], wires: [['caught']] }, { id: 'caught', type: 'helper' },
  ];
  const next = (id: string): Promise<any> => new Promise((resolve) => helper.getNode(id).once('input', resolve));
  const image = () => ({ id: 7, name: 'E031-000123.png', path: file, contentType: 'image/png', sha256: 'abc', observedAt: '20261203101500',
    test: 'ECG', patient: { id: '1234', name: '홍길동', sex: 'M' } });

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-pacs-'));
    file = path.join(tmp, 'E031-000123.png');
    fs.writeFileSync(file, makePng(16, 8, rgbPattern(16, 8)));
  });
  afterEach(async () => { await helper.unload(); fs.rmSync(tmp, { recursive: true, force: true }); });

  it('is disabled without a target (${MGS_PACS} unset): the message passes through output 1', async () => {
    const saved = process.env.MGS_PACS;
    delete process.env.MGS_PACS;
    try {
      await helper.load(pacsForward, flow('${MGS_PACS}'));
      const out = next('sent');
      helper.getNode('p').receive({ payload: 'x', image: image() });
      assert.deepEqual((await out).pacs, { status: 'disabled' });
    } finally { if (saved !== undefined) process.env.MGS_PACS = saved; }
  });

  it('sends the image by C-STORE with the patient, and the same image twice keeps its SOP Instance UID', async function () {
    if (!haveTool('storescp') || !haveTool('dcmdump')) { console.log('    skipped: dcmtk not installed'); this.skip(); }
    const scp = await startStorescp();
    try {
      await helper.load(pacsForward, flow(`dicom://${scp.aet}@127.0.0.1:${scp.port}`));
      const out = next('sent');
      helper.getNode('p').receive({ payload: 'x', image: image() });
      const msg = await out;
      assert.equal(msg.pacs.status, 'sent');
      assert.equal(msg.pacs.target, `dicom://${scp.aet}@127.0.0.1:${scp.port}`);
      const again = next('sent');
      helper.getNode('p').receive({ payload: 'x', image: image() });
      assert.equal((await again).pacs.sopInstanceUid, msg.pacs.sopInstanceUid);
      const files = scp.files();
      assert.equal(files.length, 1);                        // same SOP Instance UID: the receiver replaced it
      const dump = dcmdump(files[0]);
      assert.equal(tag(dump, '0010,0020'), '1234');
      assert.equal(tag(dump, '0010,0010'), '홍길동');
      assert.equal(tag(dump, '0008,0018'), msg.pacs.sopInstanceUid);
      assert.equal(tag(dump, '0008,1030'), 'ECG');
    } finally { await scp.stop(); }
  });

  it('a receiver that is down gives output 2 with PACS_FAILED', async () => {
    const port = await freePort();
    await helper.load(pacsForward, flow(`dicom://PACS@127.0.0.1:${port}`));
    const out = next('failed');
    helper.getNode('p').receive({ payload: 'x', image: image() });
    const msg = await out;
    assert.equal(msg.pacs.status, 'failed');
    assert.equal(msg.pacs.error.code, 'PACS_FAILED');
  });

  it('an approved msg without a mapped patient is not sent (IMAGE_NO_PATIENT on output 2)', async () => {
    const port = await freePort();
    await helper.load(pacsForward, flow(`dicom://PACS@127.0.0.1:${port}`));
    const out = next('failed');
    helper.getNode('p').receive({ payload: 'x', image: { ...image(), patient: null } });
    assert.equal((await out).pacs.error.code, 'IMAGE_NO_PATIENT');
  });

  it('an invalid target fails every message with PACS_BAD_TARGET for Catch', async () => {
    await helper.load(pacsForward, flow('ftp://nowhere'));
    const caught = next('caught');
    helper.getNode('p').receive({ payload: 'x', image: image() });
    assert.equal((await caught).error.code, 'PACS_BAD_TARGET');
  });
});

// SPDX-License-Identifier: Apache-2.0
// Traffic logging of mllp-in and mllp-response into the message store, read back through the store's query
// API (GET /mgs/api/messages): accepted and receiver-rejected messages with their raw bytes, every reply
// related to its message, NAKs from the flow, the spool storing into the same row, and the off switches.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import hl7Spool = require('../../nodes/hl7-spool/hl7-spool');
import hl7Validate = require('../../nodes/hl7-validate/hl7-validate');
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import mllpResponse = require('../../nodes/mllp-response/mllp-response');
import { acquireStore, closeAllStores, storeFile, type Store } from '../../lib/store';
import { freePort } from '../helpers/free-port';
import { field, frame, type TestMllpClient } from '../helpers/mllp-client';
import { caseFile, fixture } from '../helpers/paths';
import { collect, connectWhenListening, helper, withHooks, type Msg } from './mllp-support';

const C09 = '09-ack-nak-ae-ar-err';
const C15 = '15-batch-fhs-bhs';
const C21 = '21-charset-euckr-latin1';
const RESULT = fixture('vectors', 'fig10-result.hl7');
const NODES = [withHooks(mllpIn), mllpResponse, hl7Validate, hl7Spool];

/** Bytes of a message as the MLLP client frames it (LF/CRLF ends become CR). */
const body = (b: Buffer): Buffer => Buffer.from(b.toString('utf8').replace(/\r\n|\n/g, '\r'), 'utf8');

describe('message log (mllp-in, mllp-response)', function () {
  this.timeout(20000);
  let dir: string;
  let store: Store;
  let client: TestMllpClient | undefined;

  before((done) => { helper.startServer(done); });
  after((done) => { helper.settings({}); helper.stopServer(done); });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-log-'));
    helper.settings({ mgsDataDir: dir });
    store = acquireStore(storeFile(dir));
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await helper.unload();
    store.release();
    await closeAllStores();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** mllp-in -> [extra wiring]; returns a connected client. */
  async function start(flow: Msg[], inConfig: Msg = {}, wires: string[] = ['reply']): Promise<TestMllpClient> {
    const port = await freePort();
    await helper.load(NODES, [
      { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, charset: 'utf-8', ackMode: 'flow', ...inConfig, wires: [wires] },
      ...flow,
    ]);
    client = await connectWhenListening(port);
    return client;
  }

  /** Every logged row through the API, oldest first, once every write submitted so far is in. */
  async function rows(query: Record<string, string> = {}): Promise<Msg[]> {
    await store.drain();
    const res = await helper.request().get('/mgs/api/messages').query(query).expect(200);
    return (res.body.items as Msg[]).slice().reverse();
  }

  async function detail(id: number): Promise<Msg> {
    return (await helper.request().get(`/mgs/api/messages/${id}`).expect(200)).body;
  }

  it('a valid message, an AR-rejected one and both replies, with raw bytes, status and direction', async () => {
    const c = await start([{ id: 'reply', type: 'mllp-response', replyWith: 'ack', wires: [] }, { id: 'tap', type: 'helper' }],
      {}, ['reply', 'tap']);
    const sent = collect('tap', 1);
    const aa = await c.request(RESULT);
    const ar = await c.request(caseFile(C09, 'input_a.hl7'));
    assert.equal(field(aa, 'MSA', 1), 'AA');
    assert.equal(field(ar, 'MSA', 1), 'AR');

    const all = await rows();
    assert.deepEqual(all.map((r) => [r.direction, r.kind, r.type, r.controlId, r.status, r.relatedId]), [
      ['in', null, 'ORU^R01', 'BARCODE', 'acked', null],
      ['out', 'ack', 'ACK^R01', field(aa, 'MSH', 10), 'delivered', all[0].id],
      ['in', null, null, 'CTRL-0091', 'failed', null],
      ['out', 'ack', 'ACK', field(ar, 'MSH', 10), 'delivered', all[2].id],
    ]);
    const [valid, ack, rejected, nak] = all;
    // the row id travels with the message, for the spool to store it in that same row
    assert.deepEqual((await sent)[0].store, { id: valid.id });
    assert.equal(valid.barcode, '107558');
    assert.equal(valid.patientId, '1234');
    assert.match(valid.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(ack.peer, valid.peer);
    assert.notEqual(valid.ackedAt, null);
    assert.equal(rejected.ackedAt, null);
    assert.deepEqual(rejected.lastError, { code: 'HL7_BAD_HEADER', message: 'MSH-9 message type is empty (MSH-9:101)' });

    const v = await detail(valid.id);
    assert.deepEqual(Buffer.from(v.raw, 'base64'), body(RESULT));
    assert.equal(v.text, body(RESULT).toString('utf8'));
    assert.deepEqual(v.history.map((h: Msg) => [h.status, h.actor]), [['received', 'mllp-in'], ['acked', 'mllp-response']]);
    assert.equal(v.history[1].detail, 'AA');
    const a = await detail(ack.id);
    assert.equal(a.text, aa);
    assert.equal(a.raw, null);
    const r = await detail(rejected.id);
    assert.deepEqual(Buffer.from(r.raw, 'base64'), caseFile(C09, 'input_a.hl7'));
    assert.deepEqual(r.history.map((h: Msg) => [h.status, h.actor]), [['received', 'mllp-in'], ['failed', 'mllp-in']]);
    assert.equal(r.history[1].detail, 'AR HL7_BAD_HEADER: MSH-9 message type is empty (MSH-9:101)');
    assert.equal((await detail(nak.id)).text, ar);

    // the query API filters the error store
    const failed = (await helper.request().get('/mgs/api/messages').query({ status: 'failed' }).expect(200)).body;
    assert.deepEqual(failed.items.map((x: Msg) => x.id), [rejected.id]);
  });

  it('frames rejected as a whole keep their bytes: no MSH, bad charset (case 21 b), oversize', async () => {
    const c = await start([{ id: 'reply', type: 'mllp-response', replyWith: 'ack', wires: [] }], { maxFrameSize: 2048 });
    const big = Buffer.from(`MSH|^~\\&|HL7|B0801|||1||ORU^R01|BIG-1|P|2.3\rOBX|1|ED|||${'A'.repeat(5000)}\r`);
    c.write(frame(caseFile(C09, 'input_c.hl7')));
    c.write(caseFile(C21, 'input_b_euckr_no_msh18.bin'));
    c.write(frame(big));
    const replies = (await c.waitFrames(3)).map((f) => f.toString('latin1'));
    assert.deepEqual(replies.map((x) => field(x, 'MSA', 1)), ['AR', 'AE', 'AR']);

    const all = await rows({ direction: 'in' });
    assert.deepEqual(all.map((x) => [x.status, x.controlId, x.lastError.code]),
      [['failed', null, 'HL7_MISSING_MSH'], ['failed', 'BARCODE', 'HL7_BAD_CHARSET'], ['failed', 'BIG-1', 'MLLP_FRAME_TOO_LARGE']]);
    const [noMsh, euckr, oversize] = await Promise.all(all.map((x) => detail(x.id)));
    assert.deepEqual(Buffer.from(noMsh.raw, 'base64'), caseFile(C09, 'input_c.hl7'));
    const euckrBytes = caseFile(C21, 'input_b_euckr_no_msh18.bin');
    assert.deepEqual(Buffer.from(euckr.raw, 'base64'), euckrBytes.subarray(1, euckrBytes.length - 2), 'the frame body, byte for byte');
    const head = Buffer.from(oversize.raw, 'base64');
    assert.ok(head.length > 0 && head.length < big.length);
    assert.deepEqual(head, big.subarray(0, head.length));
    const out = await rows({ direction: 'out' });
    assert.deepEqual(out.map((x) => x.relatedId), all.map((x) => x.id));
  });

  it('a NAK from the flow (hl7-validate -> Catch -> mllp response) marks the message failed with the error', async () => {
    const c = await start([
      { id: 'v', type: 'hl7-validate', rules: '', wires: [['reply']] },
      { id: 'reply', type: 'mllp-response', replyWith: 'ack', wires: [] },
      { id: 'c', type: 'catch', scope: ['v'], uncaught: false, wires: [['nak']] },
      { id: 'nak', type: 'mllp-response', replyWith: 'ack', wires: [] },
    ], {}, ['v']);
    const reply = await c.request(caseFile(C09, 'input_d.hl7'));
    assert.equal(field(reply, 'MSA', 1), 'AE');
    const [inbound, out] = await rows();
    assert.equal(inbound.status, 'failed');
    assert.deepEqual(inbound.lastError, { code: 'HL7_MISSING_FIELD', message: 'gateway.errors.HL7_MISSING_FIELD' });
    assert.deepEqual([out.direction, out.relatedId, out.kind], ['out', inbound.id, 'ack']);
    const h = (await detail(inbound.id)).history;
    assert.deepEqual(h.map((x: Msg) => [x.status, x.actor]), [['received', 'mllp-in'], ['failed', 'mllp-response']]);
    assert.equal(h[1].detail, 'AE HL7_MISSING_FIELD: gateway.errors.HL7_MISSING_FIELD');
  });

  it('the spool stores the message in the row mllp-in logged (one row, raw bytes kept)', async () => {
    const c = await start([
      { id: 'spool', type: 'hl7-spool', destination: 'emr', maxRate: 0, window: 1, timeout: 30, retryBase: 1, retryCap: 60,
        policy: 'dead-letter', maxAttempts: 5, dedupe: 'content', wires: [['reply'], [], []] },
      { id: 'reply', type: 'mllp-response', replyWith: 'ack', wires: [] },
    ], {}, ['spool']);
    const ack = await c.request(RESULT);
    assert.equal(field(ack, 'MSA', 1), 'AA');
    const all = await rows();
    assert.equal(all.length, 2);
    const [inbound, out] = all;
    assert.deepEqual([inbound.status, inbound.destination, out.relatedId], ['acked', 'emr', inbound.id]);
    const d = await detail(inbound.id);
    assert.deepEqual(Buffer.from(d.raw, 'base64'), body(RESULT));
    assert.deepEqual(d.history.map((x: Msg) => x.status), ['received', 'spooled', 'acked']);
    assert.equal(d.spool.length, 1);
  });

  it('immediate ACKs and each message of a multi-message frame are logged', async () => {
    const c = await start([], { ackMode: 'immediate' }, []);
    await c.request(RESULT);
    c.write(caseFile(C15, 'input_b_two_msh_one_frame.bin'));
    await c.waitFrames(2);
    const all = await rows();
    const inbound = all.filter((x) => x.direction === 'in');
    assert.equal(inbound.length, 3);
    assert.deepEqual(inbound.map((x) => x.status), ['acked', 'acked', 'acked']);
    assert.equal(all.filter((x) => x.direction === 'out').length, 3);
    // each message of a two-message frame has its own bytes
    const [b1, b2] = await Promise.all(inbound.slice(1).map((x) => detail(x.id)));
    assert.equal(Buffer.from(b1.raw, 'base64').toString('utf8'), b1.text);
    assert.equal(Buffer.from(b2.raw, 'base64').toString('utf8'), b2.text);
    assert.notEqual(b1.text, b2.text);
  });

  it('a response (replyWith payload) is logged as such and marks the message acked; EUC-KR text intact', async () => {
    const c = await start([{ id: 'reply', type: 'mllp-response', replyWith: 'payload', wires: [] }], { charset: 'euc-kr' });
    c.write(caseFile(C21, 'input_b_euckr_no_msh18.bin'));
    await c.waitFrames(1);
    const [inbound, out] = await rows();
    assert.deepEqual([inbound.status, out.kind, out.relatedId], ['acked', 'response', inbound.id]);
    const i = await detail(inbound.id);
    assert.match(i.text, /\|강바다\|/);
    assert.equal((await detail(out.id)).text, i.text, 'the echo, as text');
    assert.equal(i.history[1].detail, 'response');
  });

  it('a reply time-out is an AE the store records as MLLP_TIMEOUT', async () => {
    const c = await start([{ id: 'sink', type: 'helper' }], { replyTimeout: 100 }, ['sink']);
    const reply = await c.request(RESULT);
    assert.equal(field(reply, 'MSA', 1), 'AE');
    const [inbound, out] = await rows();
    assert.equal(inbound.status, 'failed');
    assert.equal(inbound.lastError.code, 'MLLP_TIMEOUT');
    assert.equal(out.relatedId, inbound.id);
  });

  it('nothing is logged with the node option log: false, nor with settings.mgsMessageLog false', async () => {
    const c = await start([{ id: 'reply', type: 'mllp-response', replyWith: 'ack', wires: [] }, { id: 'tap', type: 'helper' }],
      { log: false }, ['reply', 'tap']);
    const sent = collect('tap', 1);
    await c.request(RESULT);
    await c.request(caseFile(C09, 'input_a.hl7'));
    assert.equal((await sent)[0].store, undefined);
    assert.deepEqual(await rows(), []);
    await c.close();
    await helper.unload();

    helper.settings({ mgsDataDir: dir, mgsMessageLog: false });
    const c2 = await start([{ id: 'reply', type: 'mllp-response', replyWith: 'ack', wires: [] }]);
    await c2.request(RESULT);
    await c2.request(caseFile(C09, 'input_a.hl7'));
    assert.deepEqual(await rows(), []);
  });
});

// SPDX-License-Identifier: Apache-2.0
// mllp-response in a real Node-RED runtime, answering sessions of a real mllp-in over loopback sockets.
import { strict as assert } from 'node:assert';
import * as iconv from 'iconv-lite';
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import mllpResponse = require('../../nodes/mllp-response/mllp-response');
import { Hl7Message } from '../../lib/hl7/message';
import { freePort } from '../helpers/free-port';
import type { TestMllpClient } from '../helpers/mllp-client';
import { caseFile } from '../helpers/paths';
import { collect, connectWhenListening, delay, helper, hl7, record, testNodes, warnings, withHooks, type Msg } from './mllp-support';

const C07 = '07-ack-original-mode-fields';
const C21 = '21-charset-euckr-latin1';
const NODES = [withHooks(mllpIn), mllpResponse, testNodes];

/** mllp-in -> hold (the test decides when the message reaches resp); Catch on resp -> caught and back to resp. */
function flow(port: number, resp: Msg = {}, inConfig: Msg = {}): Msg[] {
  return [
    { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, charset: 'utf-8', ackMode: 'flow', ...inConfig, wires: [['hold']] },
    { id: 'hold', type: 'test-hold', wires: [['resp']] },
    { id: 'resp', type: 'mllp-response', replyWith: 'ack', ackCode: 'auto', ackText: '', ...resp, wires: [] },
    { id: 'c1', type: 'catch', scope: ['resp'], wires: [['caught', 'resp']] },
    { id: 'caught', type: 'helper' },
  ];
}

describe('mllp-response node', function () {
  this.timeout(20000);
  let client: TestMllpClient | undefined;

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await helper.unload();
  });

  /** Deploys, connects, sends `bytes` and resolves with the held message (not answered yet). */
  async function received(bytes: Buffer, resp: Msg = {}, inConfig: Msg = {}): Promise<Msg> {
    const port = await freePort();
    await helper.load(NODES, flow(port, resp, inConfig));
    client = await connectWhenListening(port);
    client.write(bytes);
    const hold = helper.getNode('hold');
    while (hold.held.length < 1) await delay(5);
    return hold.held[0];
  }

  it('AA by default, for the message as received even if the flow changed msg.payload', async () => {
    const msg = await received(caseFile(C07, 'input_a.bin'));
    msg.payload = 'something else';
    helper.getNode('resp').receive(msg);
    const [ack] = await client!.waitFrames(1, 2000);
    assert.equal(hl7(ack.toString(), 'MSA-1'), 'AA');
    assert.equal(hl7(ack.toString(), 'MSA-2'), 'LAB20261102-00017');
  });

  it('msg.ack sets the code, text and ERR segments', async () => {
    const msg = await received(caseFile(C07, 'input_a.bin'));
    msg.ack = { code: 'AR', text: 'not for this site', errors: [{ location: 'MSH-5', code: '103', text: 'unknown receiver' }] };
    helper.getNode('resp').receive(msg);
    const text = (await client!.waitFrames(1, 2000))[0].toString();
    assert.deepEqual([hl7(text, 'MSA-1'), hl7(text, 'MSA-2'), hl7(text, 'MSA-3')], ['AR', 'LAB20261102-00017', 'not for this site']);
    const err = Hl7Message.parse(text).segment('ERR')!;
    assert.deepEqual([err.get('2.1'), err.get('2.3'), err.get('3.1'), err.get('8')], ['MSH', '5', '103', 'unknown receiver']);
    assert.deepEqual(warnings('resp').map((w) => w.split(' ')[0]), ['[AR]']);
  });

  it('msg.error (as from a Catch node) gives a NAK from its params: ackCode, location, hl7Code and the message', async () => {
    const msg = await received(caseFile(C07, 'input_a.bin'));
    msg.error = { message: 'Error: no such patient', code: 'EMR_NOT_FOUND', params: { ackCode: 'AR', location: 'PID-3', hl7Code: '204' },
      source: { id: 'emr', type: 'emr-lookup' } };
    helper.getNode('resp').receive(msg);
    const text = (await client!.waitFrames(1, 2000))[0].toString();
    assert.deepEqual([hl7(text, 'MSA-1'), hl7(text, 'MSA-3')], ['AR', 'no such patient']);
    const err = Hl7Message.parse(text).segment('ERR')!;
    assert.deepEqual([err.get('2.1'), err.get('2.3'), err.get('3.1'), err.get('8')], ['PID', '3', '204', 'no such patient']);
  });

  it('msg.error params are also read from msg.error.cause; AE is the default code', async () => {
    const msg = await received(caseFile(C07, 'input_b.bin'));
    msg.error = { message: 'Error: EMR down', code: 'EMR_UNREACHABLE', cause: { params: { location: 'PID-3' } } };
    helper.getNode('resp').receive(msg);
    const text = (await client!.waitFrames(1, 2000))[0].toString();
    assert.deepEqual([hl7(text, 'MSA-1'), hl7(text, 'MSA-2'), hl7(text, 'MSA-3')], ['AE', 'BARCODE', 'EMR down']);
    const err = Hl7Message.parse(text).segment('ERR')!;      // v2.3: ERR-1 = segment^sequence^field^code&text
    assert.deepEqual([err.get('1.1'), err.get('1.3'), err.get('1.4.1')], ['PID', '3', '207']);
  });

  it('a fixed AR code with its text (e.g. an "other" route)', async () => {
    const msg = await received(caseFile(C07, 'input_b.bin'), { ackCode: 'AR', ackText: 'Message kind not handled' });
    helper.getNode('resp').receive(msg);
    const text = (await client!.waitFrames(1, 2000))[0].toString();
    assert.deepEqual([hl7(text, 'MSA-1'), hl7(text, 'MSA-3')], ['AR', 'Message kind not handled']);
    assert.equal(Hl7Message.parse(text).segment('ERR')!.get('1.4.1'), '207');
  });

  it('reply with msg.payload: the response text, encoded in the charset the message came in', async () => {
    const msg = await received(caseFile(C21, 'input_b_euckr_no_msh18.bin'), { replyWith: 'payload' }, { charset: 'euc-kr' });
    const response = msg.payload.replace(/\rOBX.*$/s, '\r') + 'NTE|1||응답 확인\r';
    msg.payload = response;
    helper.getNode('resp').receive(msg);
    const [bytes] = await client!.waitFrames(1, 2000);
    assert.ok(bytes.equals(iconv.encode(response, 'cp949')));
    assert.equal(iconv.decode(bytes, 'cp949'), response);
  });

  it('no msg._session: MLLP_NO_SESSION for Catch, raised once (no loop through the Catch wired back)', async () => {
    const port = await freePort();
    await helper.load(NODES, flow(port));
    const caught = record('caught');
    helper.getNode('resp').receive({ payload: caseFile(C07, 'input_b.hl7').toString() });
    while (caught.length < 1) await delay(5);
    await delay(200);
    assert.deepEqual(caught.map((m) => m.error.code), ['MLLP_NO_SESSION']);
  });

  it('connection gone: MLLP_SESSION_CLOSED for Catch', async () => {
    const msg = await received(caseFile(C07, 'input_b.bin'));
    await client!.close();
    client = undefined;
    await delay(100);
    const caught = collect('caught', 1);
    helper.getNode('resp').receive(msg);
    assert.equal((await caught)[0].error.code, 'MLLP_SESSION_CLOSED');
  });

  it('already answered by the reply time-out: a warning, nothing sent twice', async () => {
    const msg = await received(caseFile(C07, 'input_b.bin'), {}, { replyTimeout: 200 });
    const [nak] = await client!.waitFrames(1, 2000);
    assert.equal(hl7(nak.toString(), 'MSA-1'), 'AE');
    helper.getNode('resp').receive(msg);
    await delay(200);
    assert.equal(client!.frames.length, 1);
    assert.deepEqual(warnings('resp').map((w) => w.split(' ')[0]), ['[MLLP_ALREADY_REPLIED]']);
  });

  it('a msg.ack with an unknown code is an error for Catch', async () => {
    const msg = await received(caseFile(C07, 'input_b.bin'));
    msg.ack = { code: 'OK' };
    const caught = collect('caught', 1);
    helper.getNode('resp').receive(msg);
    assert.equal((await caught)[0].error.code, 'CONFIG_INVALID');
  });
});

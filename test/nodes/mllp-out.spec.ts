// SPDX-License-Identifier: Apache-2.0
// mllp-out in a real Node-RED runtime against a fake downstream MLLP listener (case 23 and case 21 forwarding).
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import * as iconv from 'iconv-lite';
import mllpOut = require('../../nodes/mllp-out/mllp-out');
import { freePort } from '../helpers/free-port';
import { caseFile } from '../helpers/paths';
import { collect, helper, warnings, type Msg } from './mllp-support';

const C21 = '21-charset-euckr-latin1';
const C23 = '23-forward-ack-correlation';
const template = (name: string): string => caseFile(C23, name).toString('latin1');
const framed = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x0b]), b, Buffer.from([0x1c, 0x0d])]);

type Responder = (socket: net.Socket, ctrl: string, prev: string) => void;

/** A fake downstream HL7 interface: records each received frame's bytes and answers as the scenario says. */
class Fake {
  readonly frames: Buffer[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly server = net.createServer((s) => {
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => { /* client went away */ });
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const a = buf.indexOf(0x0b);
        const e = buf.indexOf(0x1c, a + 1);
        if (a < 0 || e < 0 || buf.length < e + 2) break;
        const frame = buf.subarray(a + 1, e);
        buf = buf.subarray(e + 2);
        const ctrl = this.ctrl(frame);
        const prev = this.frames.length ? this.ctrl(this.frames[this.frames.length - 1]) : '';
        this.frames.push(frame);
        this.respond(s, ctrl, prev);
      }
    });
  });
  port = 0;

  constructor(public respond: Responder) {}

  ctrl(frame: Buffer): string {
    return frame.toString('latin1').split('\r')[0].split('|')[9] ?? '';
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const answer = (name: string): Responder => (s, ctrl, prev) => {
  s.write(framed(Buffer.from(template(name).replace('{CTRL}', ctrl).replace('{PREV}', prev), 'latin1')));
};

function flow(port: number, config: Msg = {}): Msg[] {
  return [
    { id: 'out', type: 'mllp-out', host: '127.0.0.1', port, charset: 'auto', ackTimeout: 3000, newControlId: true,
      enhancedMode: false, ...config, wires: [['ok'], ['failed']] },
    { id: 'ok', type: 'helper' },
    { id: 'failed', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['out'], wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

describe('mllp-out node', function () {
  this.timeout(20000);
  let fake: Fake | undefined;

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(async () => {
    await helper.unload();
    await fake?.close();
    fake = undefined;
  });

  async function start(respond: Responder, config: Msg = {}): Promise<Fake> {
    fake = new Fake(respond);
    const port = await fake.listen();
    await helper.load(mllpOut, flow(port, config));
    return fake;
  }

  const m1 = caseFile(C23, 'mg_m1.hl7').toString('utf8');
  const m2 = caseFile(C23, 'mg_m2.hl7').toString('utf8');

  it('case 23: forwards with distinct fresh MSH-10s, in order, and maps them back in msg.mllpOut', async () => {
    const f = await start(answer('resp_ok.hl7'));
    const ok = collect('ok', 2);
    const out = helper.getNode('out');
    out.receive({ payload: m1, hl7: { charset: 'utf-8' } });
    out.receive({ payload: m2, hl7: { charset: 'utf-8' } });
    const [r1, r2] = await ok;
    assert.deepEqual([r1.payload, r2.payload], [m1, m2]);
    const ids = [r1.mllpOut.controlId, r2.mllpOut.controlId];
    assert.ok(ids.every((id: string) => /^MGS[0-9A-Z]+$/.test(id) && id.length <= 20));
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual([r1.mllpOut.originalControlId, r2.mllpOut.originalControlId], ['BARCODE', 'BARCODE']);
    assert.deepEqual(r1.mllpOut.ack, { code: 'AA', controlId: ids[0], text: '' });
    assert.deepEqual(f.frames.map((b) => f.ctrl(b)), ids);
    assert.equal(f.frames[0].toString('utf8'), m1.replace('|BARCODE|', `|${ids[0]}|`));
  });

  it('case 23 stale only, with msg.spool: output 2 with MLLP_TIMEOUT after the ACK time-out', async () => {
    let n = 0;
    await start((s, ctrl, prev) => { if (n++ === 0) answer('resp_ok.hl7')(s, ctrl, prev); else answer('resp_stale.hl7')(s, ctrl, prev); },
      { ackTimeout: 500 });
    const ok = collect('ok', 1);
    const failed = collect('failed', 1);
    const out = helper.getNode('out');
    out.receive({ payload: m1, spool: { id: 1, destination: 'emr', attempt: 1 } });
    await ok;
    out.receive({ payload: m2, spool: { id: 2, destination: 'emr', attempt: 1 } });
    const [f] = await failed;
    assert.equal(f.error.code, 'MLLP_TIMEOUT');
    assert.deepEqual(f.error.params, { ms: 500 });
    assert.deepEqual(f.spool, { id: 2, destination: 'emr', attempt: 1 });
    assert.equal(f.mllpOut.originalControlId, 'BARCODE');
    assert.ok(warnings('out').some((w) => w.startsWith('[MLLP_ACK_MISMATCH]')));
  });

  it('case 23 AE with msg.spool: output 2 with MLLP_NAK, MSA-1 and MSA-3', async () => {
    await start(answer('resp_ae.hl7'));
    const failed = collect('failed', 1);
    helper.getNode('out').receive({ payload: m1, spool: { id: 7 } });
    const [f] = await failed;
    assert.deepEqual(f.error, { code: 'MLLP_NAK', message: 'gateway.errors.MLLP_NAK', params: { code: 'AE', text: 'Patient not found in ADT' } });
  });

  it('case 23 AR without msg.spool: a Catch node gets MLLP_NAK, nothing on the outputs', async () => {
    await start(answer('resp_ar.hl7'));
    const caught = collect('caught', 1);
    let outputs = 0;
    helper.getNode('ok').on('input', () => outputs++);
    helper.getNode('failed').on('input', () => outputs++);
    helper.getNode('out').receive({ payload: m1 });
    const [c] = await caught;
    assert.equal(c.error.code, 'MLLP_NAK');
    assert.equal(c.payload, m1);
    assert.equal(outputs, 0);
  });

  it('case 23 garbage and unframed replies fail with the bytes shown', async () => {
    let which = 'garbage';
    await start((s, ctrl) => {
      if (which === 'garbage') s.write(caseFile(C23, 'resp_garbage.bin'));
      else s.write(Buffer.from(template('resp_unframed.bin').replace('{CTRL}', ctrl), 'latin1'));
    });
    const out = helper.getNode('out');
    const first = collect('failed', 1);
    out.receive({ payload: m1, spool: { id: 1 } });
    const [g] = await first;
    which = 'unframed';
    const second = collect('failed', 1);
    out.receive({ payload: m2, spool: { id: 2 } });
    const [u] = await second;
    assert.equal(g.error.code, 'MLLP_BAD_ACK');
    assert.deepEqual(g.error.params, { bytes: 'fail' });
    assert.equal(u.error.code, 'MLLP_BAD_FRAME');
    assert.match(String(u.error.params.detail), /^reply not MLLP-framed: MSH\|\^~\\x5c&\|EMRIF/);
  });

  it('case 23 CA: delivered in enhanced mode', async () => {
    await start(answer('resp_ca.hl7'), { enhancedMode: true });
    const ok = collect('ok', 1);
    helper.getNode('out').receive({ payload: m1 });
    const [r] = await ok;
    assert.equal(r.mllpOut.ack.code, 'CA');
  });

  it('case 21: as received, an EUC-KR message goes out in the same bytes (MSH-10 kept when told)', async () => {
    const f = await start(answer('resp_ok.hl7'), { newControlId: false });
    const ok = collect('ok', 1);
    const bytes = caseFile(C21, 'input_b_euckr_no_msh18.hl7');
    helper.getNode('out').receive({ payload: iconv.decode(bytes, 'cp949'), hl7: { charset: 'euc-kr' } });
    const [r] = await ok;
    assert.ok(f.frames[0].equals(bytes));
    assert.equal(r.mllpOut.controlId, 'BARCODE');
    assert.equal(r.mllpOut.charset, 'euc-kr');
  });

  it('case 21: re-encoding to UTF-8 sets MSH-18 to UNICODE UTF-8 too', async () => {
    const f = await start(answer('resp_ok.hl7'), { charset: 'utf-8', newControlId: false });
    const ok = collect('ok', 1);
    const text = iconv.decode(caseFile(C21, 'input_b_euckr_no_msh18.hl7'), 'cp949');
    helper.getNode('out').receive({ payload: text, hl7: { charset: 'euc-kr' } });
    await ok;
    const sent = f.frames[0].toString('utf8');
    assert.equal(sent.split('\r')[0].split('|')[17], 'UNICODE UTF-8');
    assert.ok(sent.includes('강바다'));
  });

  it('peer down: MLLP_NOT_CONNECTED on output 2 with msg.spool, red ring status', async () => {
    const port = await freePort();
    await helper.load(mllpOut, flow(port));
    const failed = collect('failed', 1);
    const node = helper.getNode('out');
    node.receive({ payload: m1, spool: { id: 1 } });
    const [f] = await failed;
    assert.equal(f.error.code, 'MLLP_NOT_CONNECTED');
    const statuses = node.status.getCalls().filter((c: any) => c.thisValue === node).map((c: any) => c.args[0]);
    assert.ok(statuses.some((s: Msg) => s.fill === 'red' && s.shape === 'ring' && s.text === 'mllp-out.status.failed'));
  });

  it('a payload without MSH is HL7_MISSING_MSH for Catch', async () => {
    await start(answer('resp_ok.hl7'));
    const caught = collect('caught', 1);
    helper.getNode('out').receive({ payload: 'not hl7' });
    assert.equal((await caught)[0].error.code, 'HL7_MISSING_MSH');
  });

  it('a bad port is a CONFIG_INVALID at deploy', async () => {
    await helper.load(mllpOut, flow(0, { port: '${MGS_TEST_UNSET_EMR_PORT}' }));
    const caught = await collect('caught', 1);
    assert.equal(caught[0].error.code, 'CONFIG_INVALID');
  });
});

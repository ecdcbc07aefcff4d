// SPDX-License-Identifier: Apache-2.0
// mllp-in (with mllp-response) in a real Node-RED runtime over real loopback sockets: the shared MLLP and ACK
// cases 01, 03, 05, 07, 09, 15 and 21, the three ACK modes, reply ordering, listen failures and config errors.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as iconv from 'iconv-lite';
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import mllpResponse = require('../../nodes/mllp-response/mllp-response');
import { Hl7Message } from '../../lib/hl7/message';
import { freePort } from '../helpers/free-port';
import { TestMllpClient } from '../helpers/mllp-client';
import { caseFile } from '../helpers/paths';
import {
  collect, connectWhenListening, delay, helper, hl7, occupy, record, testNodes, warnings, withHooks, type Msg,
} from './mllp-support';

const C01 = '01-mllp-split-large-ed-image';
const C03 = '03-mllp-single-byte-chunks-trailer';
const C05 = '05-mllp-trailing-lf-and-fs-without-cr';
const C07 = '07-ack-original-mode-fields';
const C09 = '09-ack-nak-ae-ar-err';
const C15 = '15-batch-fhs-bhs';
const C21 = '21-charset-euckr-latin1';

const NODES = [withHooks(mllpIn), mllpResponse, testNodes];

/** mllp-in -> [mllp-response, out]; extra config for mllp-in. */
function flow(port: number, config: Msg = {}, extra: Msg[] = [], wires: string[] = ['resp', 'out']): Msg[] {
  return [
    { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, charset: 'utf-8', ackMode: 'flow', ...config, wires: [wires] },
    { id: 'resp', type: 'mllp-response', replyWith: 'ack', wires: [] },
    { id: 'out', type: 'helper' },
    ...extra,
  ];
}

describe('mllp-in node', function () {
  this.timeout(20000);
  const clients: TestMllpClient[] = [];

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await helper.unload();
  });

  async function start(config: Msg = {}, extra: Msg[] = [], wires?: string[]): Promise<{ port: number; client: TestMllpClient }> {
    const port = await freePort();
    await helper.load(NODES, flow(port, config, extra, wires));
    const client = await connectWhenListening(port);
    clients.push(client);
    return { port, client };
  }

  describe('framing (cases 01, 03, 05)', () => {
    it('case 03: no ACK before chunk 4, one within 1 s after it, one after chunk 6; B starts with MSH|', async () => {
      const { client } = await start();
      const out = collect('out', 2);
      client.socket.setNoDelay(true);
      const times: number[] = [];
      let ackAfter4 = 0;
      for (let i = 1; i <= 6; i++) {
        client.write(caseFile(C03, `chunk${i}.bin`));
        times.push(Date.now());
        if (i === 4) { await client.waitFrames(1, 1000); ackAfter4 = Date.now(); }
        if (i < 4) { await delay(100); assert.equal(client.frames.length, 0, `ACK after chunk ${i}`); }
        if (i === 5) { await delay(100); assert.equal(client.frames.length, 1, 'second ACK before chunk 6'); }
        if (i === 4) await delay(100);
      }
      const frames = await client.waitFrames(2, 1000);
      assert.ok(ackAfter4 - times[3] < 1000);
      assert.deepEqual(frames.map((f) => [hl7(f.toString(), 'MSA-1'), hl7(f.toString(), 'MSA-2')]), [['AA', 'BARCODE'], ['AA', 'BARCODE']]);
      const [a, b] = await out;
      assert.equal(a.payload, caseFile(C03, 'msg_a.hl7').toString('utf8'));
      assert.equal(b.payload, caseFile(C03, 'msg_b.hl7').toString('utf8'));
      assert.ok(b.payload.startsWith('MSH|'));
      assert.equal(hl7(b.payload, 'MSH-7'), '20261102101030');
      await delay(200);
      assert.equal(client.frames.length, 2);
    });

    for (const variant of ['three chunks 50 ms apart', 'one write', '1460-byte pieces']) {
      it(`case 01 (${variant}): exactly one ACK MSA|AA|IMAGE, payload byte-identical, OBX-5.5 decodes to the expected SHA-256`, async () => {
        const { client } = await start();
        const out = collect('out', 1);
        const input = caseFile(C01, 'input.bin');
        if (variant === 'one write') {
          client.write(input);
        } else if (variant === 'three chunks 50 ms apart') {
          for (const f of ['chunk1.bin', 'chunk2.bin', 'chunk3.bin']) {
            client.write(caseFile(C01, f));
            if (f !== 'chunk3.bin') { await delay(50); assert.equal(client.frames.length, 0); }
          }
        } else {
          for (let i = 0; i < input.length; i += 1460) client.write(input.subarray(i, i + 1460));
        }
        const [ack] = await client.waitFrames(1, 5000);
        assert.equal(hl7(ack.toString(), 'MSA-1'), 'AA');
        assert.equal(hl7(ack.toString(), 'MSA-2'), 'IMAGE');
        const [msg] = await out;
        const expected = caseFile(C01, 'input.hl7');
        assert.equal(msg.payload.length, 306929);
        assert.ok(Buffer.from(msg.payload, 'utf8').equals(expected));
        const obx = Hl7Message.parse(msg.payload).segment('OBX')!;
        assert.deepEqual([obx.get('2'), obx.get('5.2'), obx.get('5.3'), obx.get('5.4')], ['ED', 'AP', 'PDF', 'Base64']);
        const pdf = Buffer.from(obx.get('5.5') ?? '', 'base64');
        assert.equal(pdf.length, 230065);
        const sha = createHash('sha256').update(pdf).digest('hex');
        assert.equal(sha, caseFile(C01, 'expected_payload.sha256').toString('utf8').trim().split(/\s+/)[0]);
        assert.equal(sha, '8fdd4f2bc504982e2711fbc273f3c285ca3457f4d616d0c21eddeac973e08411');
        await delay(200);
        assert.equal(client.frames.length, 1);
      });
    }

    it('case 05 A: FS CR LF then a pipelined frame: two ACKs, the LF dropped, B parsed', async () => {
      const { client } = await start();
      const out = collect('out', 2);
      client.write(caseFile(C05, 'a_chunk1.bin'));
      await delay(50);
      client.write(caseFile(C05, 'a_chunk2.bin'));
      const frames = await client.waitFrames(2, 2000);
      assert.deepEqual(frames.map((f) => hl7(f.toString(), 'MSA-1') + ' ' + hl7(f.toString(), 'MSA-2')), ['AA BARCODE', 'AA BARCODE']);
      const [a, b] = await out;
      assert.equal(a.payload, caseFile(C05, 'msg_a.hl7').toString('utf8'));
      assert.equal(b.payload, caseFile(C05, 'msg_b.hl7').toString('utf8'));
      assert.equal(hl7(b.payload, 'MSH-7'), '20261102103001');
      assert.deepEqual(warnings('in'), []);
    });

    it('case 05 B: FS without CR then VT: both ACKed, never merged, a missing-CR warning', async () => {
      const { client } = await start();
      const out = collect('out', 2);
      client.write(caseFile(C05, 'b_input.bin'));
      const frames = await client.waitFrames(2, 2000);
      assert.deepEqual(frames.map((f) => hl7(f.toString(), 'MSA-1')), ['AA', 'AA']);
      const [a, b] = await out;
      assert.equal(a.payload, caseFile(C05, 'msg_a.hl7').toString('utf8'));
      assert.equal((a.payload.match(/MSH\|/g) ?? []).length, 1);
      assert.equal(b.payload, caseFile(C05, 'msg_b.hl7').toString('utf8'));
      assert.deepEqual(warnings('in').map((w) => w.split(' ')[0]), ['[MLLP_MISSING_CR]']);
    });

    it('case 05 C lenient (default): FS then silence is ACKed within about 2 s, processed once', async () => {
      const { client } = await start();
      const got = record('out');
      const t0 = Date.now();
      client.write(caseFile(C05, 'c_input.bin'));
      const [ack] = await client.waitFrames(1, 4000);
      const waited = Date.now() - t0;
      assert.ok(waited >= 1900 && waited < 3000, `ACK after ${waited} ms`);
      assert.equal(hl7(ack.toString(), 'MSA-1'), 'AA');
      client.write(Buffer.from([0x0d]));
      await delay(200);
      assert.equal(got.length, 1);
      assert.equal(got[0].payload, caseFile(C05, 'msg_a.hl7').toString('utf8'));
      assert.deepEqual(warnings('in').map((w) => w.split(' ')[0]), ['[MLLP_MISSING_CR]']);
    });

    it('case 05 C strict: FS then silence gets AR with the reason, nothing downstream, the socket stays open', async () => {
      const { client } = await start({ strict: true, missingCrWait: 300 });
      const got = record('out');
      client.write(caseFile(C05, 'c_input.bin'));
      const [nak] = await client.waitFrames(1, 3000);
      assert.equal(hl7(nak.toString(), 'MSA-1'), 'AR');
      assert.equal(hl7(nak.toString(), 'MSA-2'), 'BARCODE');
      assert.match(hl7(nak.toString(), 'MSA-3'), /FS but no CR/);
      await delay(100);
      assert.equal(got.length, 0);
      assert.equal(client.closed, false);
      assert.deepEqual(warnings('in').map((w) => w.split(' ')[0]), ['[MLLP_MISSING_CR]', '[AR]']);
    });

    it('an oversize message gets AR, is not sent on, and the connection carries the next one', async () => {
      const { client } = await start({ maxFrameSize: 2048 });
      const out = collect('out', 1);
      client.send(`MSH|^~\\&|HL7|B0801|||1||ORU^R01|BIG-1|P|2.3\rOBX|1|ED|||${'A'.repeat(5000)}\r`);
      client.send(caseFile(C03, 'msg_a.hl7'));
      const frames = await client.waitFrames(2, 2000);
      assert.deepEqual(frames.map((f) => hl7(f.toString(), 'MSA-1') + ' ' + hl7(f.toString(), 'MSA-2')), ['AR BIG-1', 'AA BARCODE']);
      assert.equal((await out)[0].hl7.controlId, 'BARCODE');
    });
  });

  describe('ACK content (cases 07, 09)', () => {
    it('case 07: MSA-2, swapped sender/receiver, MSH-9/11/12, fresh MSH-10, CR-terminated segments', async () => {
      const { client } = await start();
      client.write(caseFile(C07, 'input_a.bin'));
      client.write(caseFile(C07, 'input_b.bin'));
      const raw = await client.waitFrames(2, 2000);
      const [a, b] = raw.map((f) => f.toString('utf8'));
      assert.equal(hl7(a, 'MSA-1'), 'AA');
      assert.equal(hl7(a, 'MSA-2'), 'LAB20261102-00017');
      const ma = Hl7Message.parse(a);
      assert.deepEqual(['MSH-3', 'MSH-4', 'MSH-5', 'MSH-6', 'MSH-9', 'MSH-11', 'MSH-12'].map((p) => ma.getRaw(p)),
        ['MGS', 'WARD7', 'LABSYS^1.2.410.200001.9.1^ISO', 'CITYLAB', 'ACK^R01^ACK', 'T', '2.5']);
      assert.match(ma.getRaw('MSH-7'), /^\d{14}/);
      const mb = Hl7Message.parse(b);
      assert.equal(hl7(b, 'MSA-2'), 'BARCODE');
      assert.deepEqual(['MSH-5', 'MSH-6', 'MSH-11', 'MSH-12'].map((p) => mb.getRaw(p)), ['HL7', 'B0801', 'P', '2.3']);
      assert.ok(['ACK', 'ACK^R01'].includes(mb.getRaw('MSH-9')));
      const ids = [ma.getRaw('MSH-10'), mb.getRaw('MSH-10')];
      assert.ok(ids.every((id) => id !== '' && id !== 'BARCODE' && id !== 'LAB20261102-00017'));
      assert.notEqual(ids[0], ids[1]);
      for (const text of [a, b]) {
        assert.ok(text.endsWith('\r'));
        assert.ok(text.split('\r').slice(0, -1).every((s) => /^[A-Z]{3}\|/.test(s)));
      }
      // The frame's last bytes on the wire: 0x0D 0x1C 0x0D
      const wire = Buffer.concat([Buffer.from([0x0b]), raw[1], Buffer.from([0x1c, 0x0d])]);
      assert.deepEqual([...wire.subarray(-3)], [0x0d, 0x1c, 0x0d]);
    });

    for (const mode of ['ack', 'error']) {
      it(`case 09 (flow refuses D via ${mode === 'ack' ? 'msg.ack' : 'a Catch node'}): AR AR AR AE AA in order on one open socket`, async () => {
        const extra: Msg[] = [
          { id: 'pid3', type: 'test-pid3', mode, wires: [['resp', 'out']] },
          ...(mode === 'error' ? [{ id: 'c1', type: 'catch', scope: ['pid3'], wires: [['resp']] }] : []),
        ];
        const { client } = await start({}, extra, ['pid3']);
        const got = record('out');
        client.write(caseFile(C09, 'input.bin'));
        const frames = (await client.waitFrames(5, 5000)).map((f) => f.toString('utf8'));
        assert.deepEqual(frames.map((f) => [hl7(f, 'MSA-1'), hl7(f, 'MSA-2')]),
          [['AR', 'CTRL-0091'], ['AR', 'CTRL-0092'], ['AR', ''], ['AE', 'BARCODE'], ['AA', 'BARCODE']]);
        const err = (f: string): { loc: string; code: string } => {
          const e = Hl7Message.parse(f).segment('ERR');
          if (!e) return { loc: '', code: '' };
          const v25 = e.get('3.1') !== '';
          return v25
            ? { loc: [e.get('2.1'), e.get('2.3')].filter(Boolean).join('-'), code: e.get('3.1') ?? '' }
            : { loc: [e.get('1.1'), e.get('1.3')].filter(Boolean).join('-'), code: e.get('1.4.1') ?? '' };
        };
        assert.deepEqual(err(frames[0]), { loc: 'MSH-9', code: '101' });
        assert.deepEqual(err(frames[1]), { loc: 'MSH-12', code: '203' });
        assert.deepEqual(err(frames[2]), { loc: '', code: '100' });
        assert.equal(Hl7Message.parse(frames[4]).segment('ERR'), undefined);
        for (const f of frames.slice(0, 4)) assert.ok(hl7(f, 'MSA-3').length > 0, 'NAK text');
        if (mode === 'ack') {
          assert.deepEqual(err(frames[3]), { loc: 'PID-3', code: '101' });
          assert.equal(got.length, 2);      // D (refused by the flow) and E passed the receiver
        } else {
          // The runtime copies only message/code/stack/cause of an error into msg.error; the GatewayError's
          // params (location PID-3, code 101) travel as msg.error.cause.params (nodes/shared/report.ts).
          assert.deepEqual(err(frames[3]), { loc: 'PID-3', code: '101' });
          assert.equal(hl7(frames[3], 'MSA-3'), 'gateway.errors.EMR_NO_BARCODE');
          assert.equal(got.length, 1);      // only E reached the end of the flow
        }
        assert.equal(client.closed, false);
        // one log entry per NAK, naming type and MSH-10 only
        assert.deepEqual(warnings('in').map((w) => w.split(' ')[0]), ['[AR]', '[AR]', '[AR]']);
        assert.deepEqual(warnings('resp').map((w) => w.split(' ')[0]), ['[AE]']);
        // still usable after the sequence
        client.write(caseFile(C07, 'input_b.bin'));
        assert.equal(hl7((await client.waitFrames(6, 2000))[5].toString(), 'MSA-1'), 'AA');
      });
    }
  });

  describe('character sets (case 21)', () => {
    it('a: EUC-KR with MSH-18 is decoded; the ACK goes back in EUC-KR', async () => {
      const { client } = await start();
      const out = collect('out', 1);
      client.write(caseFile(C21, 'input_a_euckr_msh18.bin'));
      const [ack] = await client.waitFrames(1, 2000);
      const [msg] = await out;
      assert.equal(hl7(msg.payload, 'PID-4'), '이하늘');
      assert.equal(hl7(msg.payload, 'NTE-3'), '검체 용혈 있음');
      assert.equal(msg.hl7.charset, 'euc-kr');
      const text = iconv.decode(ack, 'cp949');
      assert.equal(hl7(text, 'MSA-1'), 'AA');
      assert.equal(hl7(text, 'MSA-2'), 'BARCODE');
      assert.equal(hl7(text, 'MSH-18'), 'KS X 1001');
    });

    it('b: no MSH-18, node charset euc-kr: decoded', async () => {
      const { client } = await start({ charset: 'euc-kr' });
      const out = collect('out', 1);
      client.write(caseFile(C21, 'input_b_euckr_no_msh18.bin'));
      const [ack] = await client.waitFrames(1, 2000);
      assert.equal(hl7(ack.toString('latin1'), 'MSA-1'), 'AA');
      const [msg] = await out;
      assert.equal(hl7(msg.payload, 'PID-4'), '강바다');
      assert.equal(msg.hl7.charset, 'euc-kr');
      assert.doesNotMatch(msg.payload, /\uFFFD/);
    });

    it('b: no MSH-18, node charset utf-8: AE naming the charset, nothing downstream', async () => {
      const { client } = await start({ charset: 'utf-8' });
      const got = record('out');
      client.write(caseFile(C21, 'input_b_euckr_no_msh18.bin'));
      const [nak] = await client.waitFrames(1, 2000);
      const text = nak.toString('latin1');
      assert.equal(hl7(text, 'MSA-1'), 'AE');
      assert.equal(hl7(text, 'MSA-2'), 'BARCODE');
      assert.match(hl7(text, 'MSA-3'), /utf-8/i);
      await delay(200);
      assert.equal(got.length, 0);
      assert.deepEqual(warnings('in').map((w) => w.split(' ')[0]), ['[AE]']);
    });

    it('c: ISO 8859-1 by MSH-18, ACK MSA|AA|LAT-0001', async () => {
      const { client } = await start();
      const out = collect('out', 1);
      client.write(caseFile(C21, 'input_c_latin1_8859.bin'));
      const [ack] = await client.waitFrames(1, 2000);
      assert.equal(hl7(ack.toString('latin1'), 'MSA-2'), 'LAT-0001');
      const [msg] = await out;
      assert.equal(hl7(msg.payload, 'PID-5.1'), 'SØNDERGÅRD');
    });
  });

  describe('batches (case 15)', () => {
    it('a: one batch frame -> two messages downstream, one batch acknowledgment back', async () => {
      const { client } = await start();
      const out = collect('out', 2);
      client.write(caseFile(C15, 'input_a_batch.bin'));
      const [reply] = await client.waitFrames(1, 2000);
      const text = reply.toString('utf8');
      const segs = text.split('\r').filter(Boolean);
      assert.deepEqual(segs.map((s) => s.slice(0, 3)), ['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS', 'FTS']);
      assert.equal(segs[1].split('|')[11], 'B260001');
      assert.deepEqual([segs[3], segs[5]].map((s) => s.split('|').slice(1, 3).join('|')), ['AA|M260001', 'AA|M260002']);
      assert.equal(segs[6], 'BTS|2');
      const msgs = await out;
      assert.deepEqual(msgs.map((m) => m.hl7.controlId), ['M260001', 'M260002']);
      assert.deepEqual(msgs.map((m) => m.mllp.batch), [{ index: 0, count: 2 }, { index: 1, count: 2 }]);
      assert.ok(msgs.every((m) => m.payload.startsWith('MSH|') && !/\r(FHS|BHS|BTS|FTS)\|/.test(m.payload)));
      assert.notEqual(msgs[0]._session.id, msgs[1]._session.id);
      await delay(200);
      assert.equal(client.frames.length, 1);
    });

    it('b: two MSH in one frame -> two messages, one reply frame with both ACKs in order', async () => {
      const { client } = await start();
      const out = collect('out', 2);
      client.write(caseFile(C15, 'input_b_two_msh_one_frame.bin'));
      const [reply] = await client.waitFrames(1, 2000);
      const msas = reply.toString('utf8').split('\r').filter((s) => s.startsWith('MSA|'));
      assert.deepEqual(msas, ['MSA|AA|BARCODE', 'MSA|AA|BARCODE']);
      const msgs = await out;
      assert.deepEqual(msgs.map((m) => hl7(m.payload, 'PID-3.3')), ['5145', '5146']);
      assert.ok(msgs.every((m) => (m.payload.match(/(^|\r)MSH\|/g) ?? []).length === 1));
      await delay(200);
      assert.equal(client.frames.length, 1);
    });
  });

  describe('ACK modes', () => {
    it('flow: nothing replies within the reply time-out -> AE with an ERR saying so', async () => {
      const { client } = await start({ replyTimeout: 300 }, [], ['out']);
      const t0 = Date.now();
      client.write(caseFile(C07, 'input_b.bin'));
      const [nak] = await client.waitFrames(1, 3000);
      assert.ok(Date.now() - t0 >= 280);
      const text = nak.toString();
      assert.equal(hl7(text, 'MSA-1'), 'AE');
      assert.equal(hl7(text, 'MSA-2'), 'BARCODE');
      assert.equal(hl7(text, 'MSA-3'), 'No reply from the gateway flow within 300 ms');
      assert.equal(Hl7Message.parse(text).segment('ERR')!.get('1.4.1'), '207');
      assert.deepEqual(warnings('in').map((w) => w.split(' ')[0]), ['[AE]']);
    });

    it('flow: replies leave in arrival order when the flow answers out of order', async () => {
      const { client } = await start({}, [
        { id: 'hold', type: 'test-hold', wires: [['resp']] },
      ], ['hold', 'out']);
      const out = collect('out', 2);
      client.write(caseFile(C07, 'input_a.bin'));
      client.write(caseFile(C07, 'input_b.bin'));
      await out;
      const hold = helper.getNode('hold');
      while (hold.held.length < 2) await delay(10);
      hold.release(1);
      await delay(150);
      assert.equal(client.frames.length, 0);
      hold.release(0);
      const frames = await client.waitFrames(2, 2000);
      assert.deepEqual(frames.map((f) => hl7(f.toString(), 'MSA-2')), ['LAB20261102-00017', 'BARCODE']);
    });

    it('immediate: AA before the flow has done anything; mllp-response stays silent', async () => {
      const { client } = await start({ ackMode: 'immediate' }, [
        { id: 'hold', type: 'test-hold', wires: [['resp']] },
      ], ['hold', 'out']);
      client.write(caseFile(C07, 'input_b.bin'));
      const [ack] = await client.waitFrames(1, 2000);
      assert.equal(hl7(ack.toString(), 'MSA-1'), 'AA');
      const hold = helper.getNode('hold');
      while (hold.held.length < 1) await delay(10);
      hold.release(0);
      await delay(150);
      assert.equal(client.frames.length, 1);
      assert.deepEqual([...warnings('in'), ...warnings('resp')], []);
    });

    it('enhanced mode (MSH-15): commit ACKs CA/CE; NE gets no reply; original-mode messages behind it still get AA in order', async () => {
      const { client } = await start({ ackMode: 'flow' }, [
        { id: 'pid3', type: 'test-pid3', mode: 'ack', wires: [['resp']] },
      ], ['pid3']);
      const base = 'MSH|^~\\&|LAB|CITY|MGS|WARD|20261102101500||ORU^R01^ORU_R01|{ID}|P|2.5|||{ACCEPT}|NE\r'
        + 'PID|||{PID3}\rOBR|1||||||20261102101000\rOBX|1|NM|HGB||14.6|g/dL|13.5-17.5||||F\r';
      const msg = (id: string, accept: string, pid3: string): string =>
        base.replace('{ID}', id).replace('{ACCEPT}', accept).replace('{PID3}', pid3);
      client.send(msg('ENH-1', 'AL', '4711'));        // enhanced, accepted -> CA
      client.send(msg('ENH-2', 'AL', ''));            // enhanced, refused -> CE with the ERR
      client.send(msg('ENH-3', 'NE', '4711'));        // enhanced, never acknowledge -> nothing
      client.send(msg('ENH-4', 'ER', '4711'));        // enhanced, errors only, accepted -> nothing
      client.send(msg('ENH-5', '', '4711'));          // original mode -> AA
      const frames = await client.waitFrames(3, 3000);
      await delay(200);
      assert.equal(client.frames.length, 3);
      assert.deepEqual(frames.map((f) => [hl7(f.toString(), 'MSA-1'), hl7(f.toString(), 'MSA-2')]),
        [['CA', 'ENH-1'], ['CE', 'ENH-2'], ['AA', 'ENH-5']]);
      assert.equal(hl7(frames[1].toString(), 'ERR-2'), 'PID^1^3');
      assert.equal(client.closed, false);
    });

    it('complete: AA only once every node has finished the message', async () => {
      const { client } = await start({ ackMode: 'complete' }, [
        { id: 'work', type: 'test-worker', delay: 300, wires: [['work2']] },
        { id: 'work2', type: 'test-worker', delay: 200, wires: [] },
      ], ['work']);
      const t0 = Date.now();
      client.write(caseFile(C07, 'input_b.bin'));
      const [ack] = await client.waitFrames(1, 3000);
      assert.ok(Date.now() - t0 >= 480, `ACK after ${Date.now() - t0} ms`);
      assert.equal(hl7(ack.toString(), 'MSA-1'), 'AA');
      assert.equal(hl7(ack.toString(), 'MSA-2'), 'BARCODE');
    });

    it('complete: a node failing the message gives a NAK from its error', async () => {
      const { client } = await start({ ackMode: 'complete' }, [
        { id: 'work', type: 'test-worker', delay: 50, fail: true, wires: [[]] },
      ], ['work']);
      client.write(caseFile(C07, 'input_b.bin'));
      const [nak] = await client.waitFrames(1, 3000);
      assert.equal(hl7(nak.toString(), 'MSA-1'), 'AE');
      assert.equal(hl7(nak.toString(), 'MSA-3'), 'worker failed');
      assert.ok(warnings('in').some((w) => w.startsWith('[AE]')));
    });

    it('complete: a Catch path with mllp-response answers instead', async () => {
      const { client } = await start({ ackMode: 'complete' }, [
        { id: 'work', type: 'test-worker', delay: 50, fail: true, wires: [[]] },
        { id: 'c1', type: 'catch', scope: ['work'], wires: [['resp']] },
      ], ['work']);
      client.write(caseFile(C07, 'input_b.bin'));
      const [nak] = await client.waitFrames(1, 3000);
      assert.equal(hl7(nak.toString(), 'MSA-1'), 'AE');
      assert.equal(hl7(nak.toString(), 'MSA-2'), 'BARCODE');
      assert.deepEqual(warnings('resp').map((w) => w.split(' ')[0]), ['[AE]']);
      assert.deepEqual(warnings('in'), []);
    });

    it('complete: an mllp-response in the flow answers first; the completion adds nothing', async () => {
      const { client } = await start({ ackMode: 'complete' }, [
        { id: 'work', type: 'test-worker', delay: 200, wires: [[]] },
      ], ['resp', 'work']);
      client.write(caseFile(C07, 'input_b.bin'));
      await client.waitFrames(1, 2000);
      await delay(400);
      assert.equal(client.frames.length, 1);
    });
  });

  describe('deployment', () => {
    it('EADDRINUSE: red ring and a Catch node gets the code', async () => {
      const busy = await occupy();
      try {
        await helper.load(NODES, [
          { id: 'in', type: 'mllp-in', host: '127.0.0.1', port: busy.port, wires: [[]] },
          { id: 'c1', type: 'catch', scope: ['in'], wires: [['caught']] },
          { id: 'caught', type: 'helper' },
        ]);
        const caught = await collect('caught', 1);
        assert.equal(caught[0].error.code, 'EADDRINUSE');
        assert.equal(caught[0].error.message, 'Error: mllp-in.errors.listen');
        const node = helper.getNode('in');
        const statuses = node.status.getCalls().filter((c: any) => c.thisValue === node).map((c: any) => c.args[0]);
        assert.deepEqual(statuses[statuses.length - 1], { fill: 'red', shape: 'ring', text: 'mllp-in.status.listenFailed' });
      } finally {
        await busy.close();
      }
    });

    it('${NAME} host and port are taken from the environment', async () => {
      const port = await freePort();
      process.env.MGS_TEST_MLLP_PORT = String(port);
      process.env.MGS_TEST_MLLP_HOST = '127.0.0.1';
      try {
        await helper.load(NODES, flow(0, { host: '${MGS_TEST_MLLP_HOST}', port: '${MGS_TEST_MLLP_PORT}' }));
        const client = await connectWhenListening(port);
        clients.push(client);
        client.write(caseFile(C07, 'input_b.bin'));
        assert.equal(hl7((await client.waitFrames(1, 2000))[0].toString(), 'MSA-1'), 'AA');
      } finally {
        delete process.env.MGS_TEST_MLLP_PORT;
        delete process.env.MGS_TEST_MLLP_HOST;
      }
    });

    it('an unset ${NAME} port or a bad option is a CONFIG_INVALID a Catch node sees', async () => {
      await helper.load(NODES, [
        { id: 'in', type: 'mllp-in', host: '127.0.0.1', port: '${MGS_TEST_UNSET_PORT}', wires: [[]] },
        { id: 'in2', type: 'mllp-in', host: '127.0.0.1', port: 2575, charset: 'ebcdic', wires: [[]] },
        { id: 'c1', type: 'catch', scope: ['in', 'in2'], wires: [['caught']] },
        { id: 'caught', type: 'helper' },
      ]);
      const caught = await collect('caught', 2);
      assert.deepEqual(caught.map((m) => m.error.code), ['CONFIG_INVALID', 'CONFIG_INVALID']);
    });

    it('status shows the connection count', async () => {
      const port = await freePort();
      await helper.load(NODES, flow(port));
      const node = helper.getNode('in');
      const statuses: Msg[] = [];
      node.on('call:status', (call: { args: Msg[] }) => statuses.push(call.args[0]));
      const client = await connectWhenListening(port);
      clients.push(client);
      while (!statuses.some((s) => s.fill === 'green')) await delay(10);
      assert.ok(statuses.every((s) => s.fill === 'green' && s.shape === 'dot' && s.text === 'mllp-in.status.connections'));
    });
  });
});

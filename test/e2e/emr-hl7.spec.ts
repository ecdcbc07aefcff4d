// SPDX-License-Identifier: Apache-2.0
// The per-site example examples/emr-hl7/flow.json on the real gateway (as test/fixtures/flows/emr-hl7-fast.json: the same
// flow with short retry and time-out values) against a fake HL7 EMR listener on loopback that ACKs, NAKs (AR, AE), stops
// answering and goes down: the EMR receives standard ORU^R01 with distinct MSH-10s, each result is accepted exactly once,
// in order, and the MG is ACKed from the spool whatever the EMR does.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { caseFile, fixture, fixturePath, repoRoot } from '../helpers/paths';

type Reply = 'AA' | 'AE' | 'AR' | 'silent';
interface Received { text: string; ctrl: string; barcode: string; reply: Reply }

const C23 = '23-forward-ack-correlation';
const TEMPLATES: Record<Exclude<Reply, 'silent'>, string> = {
  AA: caseFile(C23, 'resp_ok.hl7').toString('latin1'),
  AE: caseFile(C23, 'resp_ae.hl7').toString('latin1'),
  AR: caseFile(C23, 'resp_ar.hl7').toString('latin1'),
};
const SPEC_RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');

/** A fake HL7 interface of an EMR: records every ORU it receives and answers as `policy` says (case 23 reply templates). */
class FakeEmr {
  readonly received: Received[] = [];
  policy: (r: Omit<Received, 'reply'>, copies: number) => Reply = () => 'AA';
  port = 0;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private waiters: Array<() => void> = [];

  async start(port = 0): Promise<void> {
    const server = net.createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => { /* the gateway went away */ });
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const a = buf.indexOf(0x0b);
          const e = buf.indexOf(0x1c, a + 1);
          if (a < 0 || e < 0 || buf.length < e + 2) break;
          const text = buf.subarray(a + 1, e).toString('utf8');
          buf = buf.subarray(e + 2);
          const ctrl = field(text, 'MSH', 10) ?? '';
          const barcode = /\rPID\|[^|]*\|\|[^~|]*~([^^|]*)\^\^\^\^ACSN/.exec(text)?.[1] ?? '';
          const r = { text, ctrl, barcode };
          const reply = this.policy(r, this.received.filter((x) => x.ctrl === ctrl).length);
          this.received.push({ ...r, reply });
          if (reply !== 'silent') {
            const ack = TEMPLATES[reply].replace('{CTRL}', ctrl).replace(/\r?\n/g, '\r');
            s.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(ack, 'latin1'), Buffer.from([0x1c, 0x0d])]));
          }
          this.wake();
        }
      });
    });
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', () => resolve()); });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  /** Stops listening and drops every connection (the EMR interface is down). */
  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  private wake(): void { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }

  /** Waits until `test` holds for what was received; rejects after `timeoutMs`. */
  async until(test: (rx: Received[]) => boolean, what: string, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received: ${this.received.map((r) => `${r.barcode}:${r.reply}`).join(' ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  of(barcode: string): Received[] { return this.received.filter((r) => r.barcode === barcode); }
}

/** An MG barcode result in the shape of SPEC 2.3 / case 23 with its own barcode and patient (the spool dedupes identical content). */
function mgResult(barcode: string, patientNo: string, hgb: string): string {
  return [
    'MSH|^~\\&|HL7|B0801|||20261102155000||ORU^R01|BARCODE|P|2.3',
    `PID|||${barcode}^E024^${patientNo}|TESTAK^IRO||36|F`,
    'PV1||O|2201^3302',
    'OBR|1||||||20261102154500',
    `OBX|1|ST|03|HGB|${hgb}|g/dl|12.0~16.0|A|||R||P|`,
  ].join('\r') + '\r';
}

describe('e2e: examples/emr-hl7 (HL7 ORU^R01 over MLLP to the EMR) against a fake EMR listener', function () {
  this.timeout(90000);
  const fake = new FakeEmr();
  let gw: Gateway;
  let mg: TestMllpClient;

  const api = async (p: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}/mgs/api/${p}`);
    assert.equal(res.status, 200, `GET /mgs/api/${p}`);
    return res.json();
  };
  /** The stored inbound message of a barcode, once `test` holds for it. */
  const stored = async (barcode: string, test: (m: any) => boolean, what: string, timeoutMs = 20000): Promise<any> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await api(`messages?direction=in&barcode=${barcode}`);
      if (r.items.length === 1 && test(r.items[0])) return r.items[0];
      if (Date.now() > deadline) throw new Error(`${barcode}: ${what} not reached: ${JSON.stringify(r.items)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const spool = async (): Promise<any> => (await api('spool')).destinations.find((d: any) => d.destination === 'emr-hl7');
  /** Sends one MG result and returns the MG's ACK (MSA-1, MSA-2). */
  const send = async (message: string | Buffer): Promise<[string | undefined, string | undefined]> => {
    let ack: string;
    if (typeof message === 'string') {
      ack = await mg.request(message);
    } else {
      const n = mg.frames.length + 1;
      mg.write(message);                                   // a case file's bytes, already MLLP-framed
      ack = (await mg.waitFrames(n))[n - 1].toString('utf8');
    }
    return [field(ack, 'MSA', 1), field(ack, 'MSA', 2)];
  };

  before(async () => {
    await fake.start();
    gw = await startGateway({ flowFile: fixturePath('flows', 'emr-hl7-fast.json'),
      env: { MGS_EMR_HL7_HOST: '127.0.0.1', MGS_EMR_HL7_PORT: String(fake.port) } });
    mg = await TestMllpClient.connect(gw.mllpPort);
  });
  after(async () => {
    await mg?.close();
    await gw?.stop();
    await fake.stop();
  });

  it('runs the example flow itself: the test copy differs only in the spool\'s and mllp out\'s times', () => {
    const example = JSON.parse(fs.readFileSync(path.join(repoRoot, 'examples', 'emr-hl7', 'flow.json'), 'utf8')) as any[];
    const fast = JSON.parse(fs.readFileSync(fixturePath('flows', 'emr-hl7-fast.json'), 'utf8')) as any[];
    const times = (f: any[]): any[] => f.map((n) => {
      const { timeout, retryBase, retryCap, ackTimeout, ...rest } = n;
      return n.type === 'hl7-spool' || n.type === 'mllp-out' ? rest : n;
    });
    assert.deepEqual(times(fast), times(example));
    const exSpool = example.find((n) => n.type === 'hl7-spool');
    assert.deepEqual([exSpool.timeout, exSpool.retryBase, exSpool.retryCap, example.find((n) => n.type === 'mllp-out').ackTimeout],
      [30, 1, 60, 10000]);
  });

  it('delivers SPEC 2.3 as a standard ORU^R01; AA from the EMR -> delivered once', async () => {
    assert.deepEqual(await send(SPEC_RESULT), ['AA', 'BARCODE']);
    await fake.until((rx) => rx.length >= 1, 'the first ORU');
    const oru = fake.received[0].text;
    const seg = (name: string, n = 1): string[] => {
      const line = oru.split('\r').filter((l) => l.startsWith(name + '|'))[n - 1];
      return name === 'MSH' ? ['MSH', '|', ...line.split('|').slice(1)] : line.split('|');
    };
    const msh = seg('MSH');
    assert.deepEqual([msh[3], msh[4], msh[5], msh[6], msh[9], msh[11], msh[12], msh[18]],
      ['MGS', '', '', '', 'ORU^R01^ORU_R01', 'P', '2.5.1', 'UNICODE UTF-8']);
    assert.match(msh[7], /^\d{14}[+-]\d{4}$/);
    assert.match(msh[10], /^MGS[0-9A-F]{17}$/);
    assert.deepEqual(seg('PID'), ['PID', '1', '', '1234^^^^MR~107558^^^^ACSN', '', '홍길동', '', '', 'M']);
    assert.deepEqual(seg('NTE'), ['NTE', '1', 'L', 'Patient age: 50']);
    assert.deepEqual(seg('PV1'), ['PV1', '1', 'E', '1111^2222']);
    assert.deepEqual(seg('ORC'), ['ORC', 'RE', '107558', '107558']);
    assert.deepEqual([1, 2, 3, 4, 7, 22, 25].map((i) => seg('OBR')[i]), ['1', '107558', '107558', 'E024^E024^L', '20090927151949', msh[7], 'F']);
    assert.deepEqual([1, 2, 3, 4].map((n) => seg('OBX', n).join('|')), [
      'OBX|1|NM|HGB^HGB^L||12.7|g/dl|11.2-17.2|N|||F|||20090927151949||||E024',
      'OBX|2|NM|HCT^HCT^L||39.1|%|33.6-51.5|N|||F|||20090927151949||||E024',
      'OBX|3|ST|RBC^RBC^L||TEST|*10-6/mm-3|3.8-5.6||||F|||20090927151949||||E024',
      'OBX|4|NM|WBC^WBC^L||2|*10-6/mm-3|3.2-10.2|L|||F|||20090927151949||||E024',
    ]);
    const m = await stored('107558', (x) => x.status === 'delivered', 'delivered');
    assert.equal(m.destination, 'emr-hl7');
    assert.equal(m.controlId, 'BARCODE');
    const detail = await api(`messages/${m.id}`);
    assert.ok(detail.history.some((h: any) => h.status === 'delivered' && h.detail?.includes(`MSH-10 ${msh[10]}`)), JSON.stringify(detail.history));
    assert.equal(fake.of('107558').length, 1);
  });

  it('case 23: m1 and m2 (both MSH-10 BARCODE) go out in order with distinct MSH-10s, each delivered once', async () => {
    assert.deepEqual(await send(caseFile(C23, 'mg_m1.bin')), ['AA', 'BARCODE']);
    assert.deepEqual(await send(caseFile(C23, 'mg_m2.bin')), ['AA', 'BARCODE']);
    await fake.until((rx) => fake.of('410091').length > 0 && fake.of('410092').length > 0, 'm1 and m2');
    const [m1, m2] = [fake.of('410091')[0], fake.of('410092')[0]];
    assert.ok(fake.received.indexOf(m1) < fake.received.indexOf(m2));
    assert.equal(new Set([m1.ctrl, m2.ctrl, fake.received[0].ctrl]).size, 3);
    for (const r of [m1, m2]) assert.match(r.ctrl, /^MGS[0-9A-F]{17}$/);
    assert.match(m1.text, /\rPID\|1\|\|5191\^\^\^\^MR~410091\^\^\^\^ACSN\|\|TESTAK\^IRO\|\|\|F\r/);
    assert.match(m2.text, /\rOBX\|1\|NM\|HGB\^HGB\^L\|\|12\.4\|g\/dl\|13\.5-17\.5\|L\|\|\|F\|/);
    await stored('410091', (x) => x.status === 'delivered', 'm1 delivered');
    await stored('410092', (x) => x.status === 'delivered', 'm2 delivered');
    assert.deepEqual([fake.of('410091').length, fake.of('410092').length], [1, 1]);
  });

  it('case 21a: an EUC-KR result (MSH-18 KS X 1001) reaches the EMR as UTF-8 bytes with MSH-18 UNICODE UTF-8, Hangul intact', async () => {
    assert.deepEqual(await send(caseFile('21-charset-euckr-latin1', 'input_a_euckr_msh18.bin')), ['AA', 'BARCODE']);
    await fake.until(() => fake.of('410072').length > 0, 'the case 21a result');
    const text = fake.of('410072')[0].text;            // decoded by the fake as UTF-8
    assert.equal(field(text, 'MSH', 18), 'UNICODE UTF-8');
    assert.equal(field(text, 'PID', 5), '이하늘');
    assert.match(text, /\rOBX\|[^\r]*\rNTE\|1\|\|검체 용혈 있음\r$/);       // the OBX's note, after it
    assert.match(text, /\rOBX\|1\|NM\|HGB\^HGB\^L\|\|15\.2\|g\/dl\|13\.5-17\.5\|N\|/);
    await stored('410072', (x) => x.status === 'delivered', 'delivered');
  });

  it('AR from the EMR -> retried with the same MSH-10, then AA -> delivered once', async () => {
    fake.policy = (r, copies) => (r.barcode === '410301' && copies === 0 ? 'AR' : 'AA');
    assert.deepEqual(await send(mgResult('410301', '6301', '13.1')), ['AA', 'BARCODE']);
    const m = await stored('410301', (x) => x.status === 'delivered', 'delivered after AR');
    const copies = fake.of('410301');
    assert.deepEqual(copies.map((r) => r.reply), ['AR', 'AA']);
    assert.equal(copies[0].ctrl, copies[1].ctrl);          // the EMR can tell the resend from a new result
    const detail = await api(`messages/${m.id}`);
    const failed = detail.history.filter((h: any) => h.status === 'failed');
    assert.equal(failed.length, 1, JSON.stringify(detail.history));
    assert.match(failed[0].detail ?? '', /MLLP_NAK/);
    assert.equal(detail.history.filter((h: any) => h.status === 'delivered').length, 1);
  });

  it('AE from the EMR -> parked for staff (dead letter in /mgs/api), not retried; the next result is not held up', async () => {
    fake.policy = (r) => (r.barcode === '410302' ? 'AE' : 'AA');
    assert.deepEqual(await send(mgResult('410302', '6302', '13.2')), ['AA', 'BARCODE']);
    assert.deepEqual(await send(mgResult('410303', '6303', '13.3')), ['AA', 'BARCODE']);
    const dead = await stored('410302', (x) => x.status === 'dead', 'parked');
    assert.equal(dead.lastError.code, 'MLLP_NAK');
    assert.match(dead.lastError.message, /AE/);
    assert.match(dead.lastError.message, /Patient not found in ADT/);
    await stored('410303', (x) => x.status === 'delivered', 'delivered behind the parked one');
    const listed = await api('messages?status=dead&destination=emr-hl7');
    assert.deepEqual(listed.items.map((x: any) => x.barcode), ['410302']);
    assert.equal((await spool()).dead, 1);
    assert.deepEqual(fake.of('410302').map((r) => r.reply), ['AE']);
    assert.deepEqual(fake.of('410303').map((r) => r.reply), ['AA']);
  });

  it('EMR stops answering -> MG still ACKed, results wait in the spool, then all delivered in order, none twice', async () => {
    let answering = false;
    fake.policy = () => (answering ? 'AA' : 'silent');
    const barcodes = ['410311', '410312', '410313'];
    for (const [i, b] of barcodes.entries()) assert.deepEqual(await send(mgResult(b, `631${i + 1}`, `14.${i + 1}`)), ['AA', 'BARCODE']);
    // the first one times out at least once (ACK time-out 1 s) and is resent with the same MSH-10
    await fake.until(() => fake.of('410311').length >= 2, 'a resend of the unanswered result');
    const s = await spool();
    assert.equal(s.depth, 3);
    assert.deepEqual(fake.of('410312'), []);               // nothing overtakes the unanswered head
    answering = true;
    for (const b of barcodes) await stored(b, (x) => x.status === 'delivered', 'delivered once the EMR answers');
    const order = barcodes.map((b) => fake.received.findIndex((r) => r.barcode === b && r.reply === 'AA'));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    for (const b of barcodes) {
      const copies = fake.of(b);
      assert.equal(copies.filter((r) => r.reply === 'AA').length, 1, b);
      assert.equal(new Set(copies.map((r) => r.ctrl)).size, 1, `${b}: every copy carries one MSH-10`);
    }
  });

  it('EMR down -> MG still ACKed, results spooled; EMR back -> all delivered in order, none twice', async () => {
    fake.policy = () => 'AA';
    const port = fake.port;
    await fake.stop();
    const barcodes = ['410321', '410322', '410323'];
    for (const [i, b] of barcodes.entries()) assert.deepEqual(await send(mgResult(b, `632${i + 1}`, `15.${i + 1}`)), ['AA', 'BARCODE']);
    for (const deadline = Date.now() + 10000; ;) {
      const s = await spool();
      if (s.depth === 3 && s.lastError?.code === 'MLLP_NOT_CONNECTED') break;
      if (Date.now() > deadline) throw new Error(`spool: ${JSON.stringify(s)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const before = fake.received.length;
    await fake.start(port);
    for (const b of barcodes) await stored(b, (x) => x.status === 'delivered', 'delivered after the EMR came back', 30000);
    const after = fake.received.slice(before);
    assert.deepEqual(after.map((r) => [r.barcode, r.reply]), barcodes.map((b) => [b, 'AA']));
    assert.equal((await spool()).depth, 0);
  });

  it('over the whole run: every MSH-10 distinct per result, each accepted (AA) exactly once, none for the parked one', async () => {
    const accepted = fake.received.filter((r) => r.reply === 'AA');
    const byCtrl = new Map<string, string>();
    for (const r of fake.received) {
      assert.ok(!byCtrl.has(r.ctrl) || byCtrl.get(r.ctrl) === r.barcode, `MSH-10 ${r.ctrl} used for two results`);
      byCtrl.set(r.ctrl, r.barcode);
    }
    assert.equal(new Set(accepted.map((r) => r.ctrl)).size, accepted.length);
    assert.deepEqual(accepted.map((r) => r.barcode), ['107558', '410091', '410092', '410072', '410301', '410303',
      '410311', '410312', '410313', '410321', '410322', '410323']);
    const delivered = await api('messages?direction=in&status=delivered&destination=emr-hl7');
    assert.equal(delivered.total, 12);
  });
});

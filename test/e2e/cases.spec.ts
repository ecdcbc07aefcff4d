// SPDX-License-Identifier: Apache-2.0
// Every shared real-world case (/work/shared/cases, inputs copied under test/fixtures/cases) end to end against the
// product: the real gateway (settings.js, the default flow or a site variant made from it that differs only in the one
// setting the case needs) on free ports, each input over a real MLLP socket, and the case's right values read back from the ACKs,
// the demo EMR's SQLite file, the message store (/mgs/api/messages) and the image queue (/mgs/image-queue).
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { freePort } from '../helpers/free-port';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { caseFile, repoRoot } from '../helpers/paths';

// ------------------------------------------------------------------------------------------------ helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const text = (c: string, name: string): string => caseFile(c, name).toString('utf8');

/** A raw MLLP connection that also records when each reply frame arrived and every byte received. */
interface Peer { c: TestMllpClient; times: number[]; raw: () => Buffer }

async function open(gw: Gateway): Promise<Peer> {
  const c = await TestMllpClient.connect(gw.mllpPort);
  const times: number[] = [];
  let raw = Buffer.alloc(0);
  // registered after the client's own listener, so its frames are already counted here
  c.socket.on('data', (d: Buffer) => {
    raw = Buffer.concat([raw, d]);
    while (times.length < c.frames.length) times.push(Date.now());
  });
  return { c, times, raw: () => raw };
}

const peers: Peer[] = [];
async function connect(gw: Gateway): Promise<Peer> {
  const p = await open(gw);
  peers.push(p);
  return p;
}

/** Writes bytes and resolves once they are handed to the kernel. */
function write(p: Peer, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => p.c.socket.write(bytes, (err) => (err ? reject(err) : resolve())));
}

/** Reply frames as text (replies are ASCII in the fields asserted, whatever charset the frame is in). */
const replies = (p: Peer): string[] => p.c.frames.map((f) => f.toString('utf8'));

/** Waits until nothing more arrives for `idleMs` and returns all replies. */
async function untilIdle(p: Peer, idleMs = 1000): Promise<string[]> {
  let n = -1;
  while (n !== p.c.frames.length) {
    n = p.c.frames.length;
    await sleep(idleMs);
  }
  return replies(p);
}

const msa = (ack: string): [string | undefined, string | undefined] => [field(ack, 'MSA', 1), field(ack, 'MSA', 2)];

/** ERR details of an ACK, read independently of the product: v2.5 ERR-2/ERR-3/ERR-8, or v2.3 ERR-1 (seg^seq^field^code&text). */
function errorsOf(ack: string): Array<{ location: string; code: string; text: string }> {
  const out: Array<{ location: string; code: string; text: string }> = [];
  const loc = (seg: string | undefined, fld: string | undefined): string => (seg ? (fld ? `${seg}-${fld}` : seg) : '');
  for (const line of ack.split('\r')) {
    if (!line.startsWith('ERR|')) continue;
    const f = line.split('|');
    if ((f[2] ?? '') !== '' || (f[3] ?? '') !== '') {
      const l = f[2].split('^');
      const c = (f[3] ?? '').split('^');
      out.push({ location: loc(l[0], l[2]), code: c[0] ?? '', text: f[8] || c[1] || '' });
    } else {
      for (const rep of (f[1] ?? '').split('~')) {
        const c = rep.split('^');
        const code = (c[3] ?? '').split('&');
        out.push({ location: loc(c[0], c[2]), code: code[0] ?? '', text: code[1] ?? '' });
      }
    }
  }
  return out;
}

/**
 * The message as the gateway must keep and forward it: the input with only the first repetition of OBX-8
 * replaced by MGS's flag, for the OBX positions (1-based among the OBX segments) given.
 */
function withFlags(input: string, flags: Record<number, string>): string {
  let n = 0;
  return input.split('\r').map((seg) => {
    if (!seg.startsWith('OBX|')) return seg;
    n++;
    if (!(n in flags)) return seg;
    const f = seg.split('|');
    while (f.length <= 8) f.push('');
    const reps = f[8].split('~');
    reps[0] = flags[n];
    f[8] = reps.join('~');
    return f.join('|');
  }).join('\r');
}

/** A field of one segment of HL7 text, split naively (used on texts whose separators are the defaults). */
function seg(textValue: string, name: string, n: number, occurrence = 1): string {
  return field(textValue, name, n, occurrence) ?? '';
}

// --- the demo EMR

interface ResultRow {
  id: number; barcode: string | null; patient_no: string | null; device: string | null; test_code: string | null;
  channel_code: string | null; value: string | null; numeric_value: number | null; units: string | null;
  ref_range: string | null; flag: string | null; reason: string | null; observed_at: string | null;
  control_id: string | null; message_key: string; set_id: number;
}

function emrRows(gw: Gateway, where: string, args: unknown[]): ResultRow[] {
  const file = path.join(gw.dataDir, 'demo-emr.sqlite');
  if (!fs.existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT * FROM results WHERE ${where} ORDER BY id`).all(...args) as ResultRow[];
  } finally {
    db.close();
  }
}

/** Polls the demo EMR until at least `n` rows match (delivery runs behind the spool). */
async function waitRows(gw: Gateway, where: string, args: unknown[], n: number, timeoutMs = 15000): Promise<ResultRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = emrRows(gw, where, args);
    if (rows.length >= n) return rows;
    if (Date.now() > deadline) assert.fail(`${rows.length} of ${n} EMR rows where ${where} [${args.join(', ')}]`);
    await sleep(100);
  }
}

const byBarcode = (gw: Gateway, barcode: string, n: number): Promise<ResultRow[]> => waitRows(gw, 'barcode = ?', [barcode], n);

/** [set_id, value, flag] of each row: the per-row right values of most cases. */
const flagsOf = (rows: ResultRow[]): Array<[number, string | null, string]> => rows.map((r) => [r.set_id, r.value, r.flag ?? '']);

// --- the message store and the image queue (management API; no login on loopback by default)

async function getJson<T>(gw: Gateway, p: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${gw.httpPort}${p}`);
  assert.equal(res.status, 200, `GET ${p}: ${res.status} ${await res.clone().text()}`);
  return await res.json() as T;
}

interface StoredSummary { id: number; status: string; destination: string | null; controlId: string | null; barcode: string | null;
  direction: string; kind: string | null; lastError: { code: string; message: string } | null; deliveredAt: string | null }
interface StoredMessage extends StoredSummary { text: string | null; raw: string | null;
  history: Array<{ status: string; detail: string | null; attempt: number | null }> }

async function storedList(gw: Gateway, query: Record<string, string>): Promise<StoredSummary[]> {
  const q = new URLSearchParams({ limit: '1000', ...query }).toString();
  return (await getJson<{ items: StoredSummary[] }>(gw, `/mgs/api/messages?${q}`)).items;
}

/** The stored messages that match, oldest first, with their text and history; waits until at least `n` exist. */
async function stored(gw: Gateway, query: Record<string, string>, n = 1, timeoutMs = 10000): Promise<StoredMessage[]> {
  const deadline = Date.now() + timeoutMs;
  let items = await storedList(gw, query);
  while (items.length < n) {
    if (Date.now() > deadline) assert.fail(`${items.length} of ${n} stored messages for ${JSON.stringify(query)}`);
    await sleep(100);
    items = await storedList(gw, query);
  }
  const details = await Promise.all(items.map((i) => getJson<StoredMessage>(gw, `/mgs/api/messages/${i.id}`)));
  return details.sort((a, b) => a.id - b.id);
}

/** The stored text of the message the spool delivered to the EMR destination. */
async function deliveredText(gw: Gateway, query: Record<string, string>): Promise<string> {
  const deadline = Date.now() + 10000;
  for (;;) {
    const all = await stored(gw, query);
    const m = all.find((s) => s.status === 'delivered' && s.text !== null);
    if (m) return m.text as string;
    if (Date.now() > deadline) assert.fail(`no delivered message for ${JSON.stringify(query)}: ${all.map((s) => s.status).join(', ')}`);
    await sleep(100);
  }
}

// --- the gateways

const DEFAULT_FLOW = path.join(repoRoot, 'flows', 'gateway.json');
type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][] };

/**
 * Site variants of the default flow for the cases that need a setting it lacks. Each is made from
 * flows/gateway.json as it is when the test runs, so it differs from the default flow in exactly this
 * setting and follows every other change of the default flow.
 */
const VARIANTS: Record<string, { why: string; changes: string[]; patch: (flow: FlowNode[]) => FlowNode[] }> = {
  'cases-euc-kr': {
    why: 'case 21 b: a Korean site whose MG sends EUC-KR without MSH-18 (mllp in charset euc-kr)',
    changes: ['mllp-in'],
    patch: (flow) => flow.map((n) => (n.id === 'mllp-in' ? { ...n, charset: 'euc-kr' } : n)),
  },
  'cases-decimal-comma': {
    why: 'case 17 row 18: a site that writes decimal commas (obx check decimalComma)',
    changes: ['obx-check'],
    patch: (flow) => flow.map((n) => (n.id === 'obx-check' ? { ...n, decimalComma: true } : n)),
  },
  'cases-hl7-emr': {
    why: 'case 23: the default flow\'s documented HL7/MLLP EMR side (hl7 convert and mllp out enabled, spool output 2 to '
      + 'hl7 convert, conversion failures parked), with a 1 s ACK time-out, enhanced mode (CA) and short spool back-offs for the test',
    changes: ['hl7-convert', 'mllp-out-emr', 'spool'],
    patch: (flow) => flow.map((n) => {
      if (n.id === 'hl7-convert') return enabled(n);
      if (n.id === 'mllp-out-emr') return { ...enabled(n), ackTimeout: 1000, enhancedMode: true };
      if (n.id === 'spool') {
        return { ...n, retryBase: 0.2, retryCap: 1, parkCodes: `${String(n.parkCodes)},HL7_MISSING_FIELD,HL7_MISSING_SEGMENT,HL7_BAD_CHARSET`,
          wires: rewire(n, 'emr-write', 'hl7-convert') };
      }
      return n;
    }),
  },
  'cases-hl7-forward': {
    why: 'cases 11, 17, 21: results forwarded as received to an HL7/MLLP EMR (mllp out, fresh MSH-10, behind the spool)',
    changes: ['mllp-out-emr', 'spool'],
    patch: (flow) => flow.map((n) => {
      if (n.id === 'mllp-out-emr') return { ...enabled(n), newControlId: true };
      if (n.id === 'spool') return { ...n, wires: rewire(n, 'emr-write', 'mllp-out-emr') };
      return n;
    }),
  },
};

function enabled(n: FlowNode): FlowNode {
  const { d: _disabled, ...rest } = n;
  return rest as FlowNode;
}

function rewire(n: FlowNode, from: string, to: string): string[][] {
  return (n.wires ?? []).map((w) => w.map((id) => (id === from ? to : id)));
}

const readFlow = (file: string): FlowNode[] => JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[];

/** Ids of the nodes added, removed or changed between two flows. */
function changedIds(a: FlowNode[], b: FlowNode[]): string[] {
  const ids = new Set([...a, ...b].map((n) => n.id));
  const find = (f: FlowNode[], id: string): string => JSON.stringify(f.find((n) => n.id === id) ?? null);
  return [...ids].filter((id) => find(a, id) !== find(b, id)).sort();
}

const flowDirs: string[] = [];
/** Writes a variant of the current default flow to a temporary file and returns its path. */
function variantFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-cases-flow-'));
  flowDirs.push(dir);
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(VARIANTS[name].patch(readFlow(DEFAULT_FLOW)), null, 2));
  return file;
}

let main: Gateway;
const started: Gateway[] = [];
async function gateway(opts: Parameters<typeof startGateway>[0]): Promise<Gateway> {
  const gw = await startGateway(opts);
  started.push(gw);
  return gw;
}

describe('e2e: the shared cases against the real gateway', function () {
  this.timeout(60000);

  before(async () => {
    main = await gateway({ env: { TZ: 'Asia/Seoul' } });
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.c.close()));
    await Promise.all(started.map((g) => g.stop()));
    for (const dir of [...flowDirs, ...started.map((g) => g.dataDir)]) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each site variant changes exactly the nodes of its setting in flows/gateway.json', () => {
    const flow = readFlow(DEFAULT_FLOW);
    for (const [name, v] of Object.entries(VARIANTS)) assert.deepEqual(changedIds(flow, v.patch(flow)), v.changes, `${name} (${v.why})`);
  });

  // ---------------------------------------------------------------------------------------------- 01
  describe('case 01: large ED/Base64 image message split across TCP reads', () => {
    const C = '01-mllp-split-large-ed-image';
    const input = caseFile(C, 'input.hl7');
    const expectedSha = text(C, 'expected_payload.sha256').trim().split(/\s+/)[0];

    it('three chunks 50 ms apart: nothing before the last, then exactly one MSA|AA|IMAGE', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'chunk1.bin'));
      await sleep(50);
      await write(p, caseFile(C, 'chunk2.bin'));
      await sleep(50);
      assert.equal(p.c.frames.length, 0, 'a reply after chunk 1 or 2');
      await write(p, caseFile(C, 'chunk3.bin'));
      await p.c.waitFrames(1);
      await untilIdle(p, 300);
      assert.equal(p.c.frames.length, 1);
      assert.deepEqual(msa(replies(p)[0]), ['AA', 'IMAGE']);
    });

    it('the image waits unmatched in the queue: PID-3 318204^E041, no patient, the PDF decoded exactly', async () => {
      const q = await getJson<{ items: Array<Record<string, any>> }>(main, '/mgs/image-queue');
      const items = q.items.filter((i) => i.barcode === '318204');
      assert.equal(items.length, 1);
      const e = items[0];
      assert.deepEqual([e.state, e.source, e.controlId, e.device, e.patient, e.size, e.sha256, e.contentType],
        ['pending', 'ed', 'IMAGE', 'E041', null, 230065, expectedSha, 'application/pdf']);
      const file = await fetch(`http://127.0.0.1:${main.httpPort}/mgs/image-queue/${e.id}/file`);
      assert.equal(file.status, 200);
      const pdf = Buffer.from(await file.arrayBuffer());
      assert.deepEqual([pdf.length, sha256(pdf)], [230065, expectedSha]);
      // the message is kept byte-identical to what the MG sent
      const db = new Database(path.join(main.dataDir, 'images', 'queue.sqlite'), { readonly: true, fileMustExist: true });
      try {
        const kept = (db.prepare('SELECT hl7 FROM image WHERE id = ?').get(e.id) as { hl7: string }).hl7;
        assert.equal(Buffer.byteLength(kept), 306929);
        assert.ok(Buffer.from(kept, 'utf8').equals(input), 'stored message differs from input.hl7');
        const obx5 = seg(kept, 'OBX', 5).split('^');
        assert.deepEqual(obx5.slice(1, 4), ['AP', 'PDF', 'Base64']);
        assert.equal(sha256(Buffer.from(obx5[4], 'base64')), expectedSha);
      } finally {
        db.close();
      }
      // and the message log has it as received
      const [logged] = await stored(main, { controlId: 'IMAGE', direction: 'in' });
      assert.ok(Buffer.from(logged.raw ?? '', 'base64').equals(input), 'message log: not the bytes received');
    });

    it('the same message in one write, then in 1 460-byte pieces: one MSA|AA|IMAGE each, still one queue entry', async () => {
      const whole = caseFile(C, 'input.bin');
      const p = await connect(main);
      await write(p, whole);
      await p.c.waitFrames(1);
      for (let i = 0; i < whole.length; i += 1460) await write(p, whole.subarray(i, i + 1460));
      await p.c.waitFrames(2);
      assert.deepEqual((await untilIdle(p, 300)).map(msa), [['AA', 'IMAGE'], ['AA', 'IMAGE']]);
      const q = await getJson<{ items: Array<Record<string, any>> }>(main, '/mgs/image-queue');
      assert.deepEqual(q.items.filter((i) => i.barcode === '318204').map((i) => [i.state, i.sha256]), [['pending', expectedSha]]);
    });
  });

  // ---------------------------------------------------------------------------------------------- 03
  describe('case 03: start block and trailer bytes in their own TCP reads', () => {
    const C = '03-mllp-single-byte-chunks-trailer';

    it('no ACK before chunk 4, one within 1 s after it, one within 1 s after chunk 6', async () => {
      const p = await connect(main);
      const sentAt: number[] = [];
      for (let i = 1; i <= 6; i++) {
        if (i > 1) await sleep(100);
        sentAt[i] = Date.now();
        await write(p, caseFile(C, `chunk${i}.bin`));
        if (i === 3) assert.equal(p.c.frames.length, 0, 'an ACK before the trailer was complete');
      }
      await p.c.waitFrames(2, 3000);
      await untilIdle(p, 300);
      assert.equal(p.c.frames.length, 2);
      assert.deepEqual(replies(p).map(msa), [['AA', 'BARCODE'], ['AA', 'BARCODE']]);
      assert.ok(p.times[0] >= sentAt[4] && p.times[0] - sentAt[4] < 1000, `first ACK ${p.times[0] - sentAt[4]} ms after chunk 4`);
      assert.ok(p.times[0] < sentAt[6], 'first ACK only after chunk 6');
      assert.ok(p.times[1] >= sentAt[6] && p.times[1] - sentAt[6] < 1000, `second ACK ${p.times[1] - sentAt[6]} ms after chunk 6`);
    });

    it('EMR: A WBC 2 -> L, B HCT 39.1 -> N; B kept starting with MSH| (MSH-7 20261102101030)', async () => {
      assert.deepEqual(flagsOf(await byBarcode(main, '410024', 1)), [[1, '2', 'L']]);
      assert.deepEqual(flagsOf(await byBarcode(main, '410025', 1)), [[1, '39.1', 'N']]);
      const b = await deliveredText(main, { barcode: '410025' });
      assert.equal(b, withFlags(text(C, 'msg_b.hl7'), { 1: 'N' }));
      assert.ok(b.startsWith('MSH|'));
      assert.equal(seg(b, 'MSH', 7), '20261102101030');
    });
  });

  // ---------------------------------------------------------------------------------------------- 05
  describe('case 05: FS CR LF, FS without CR, FS then silence', () => {
    const C = '05-mllp-trailing-lf-and-fs-without-cr';
    const a = text(C, 'msg_a.hl7');
    const b = text(C, 'msg_b.hl7');

    it('A: FS CR LF then a pipelined frame: two MSA|AA|BARCODE, the LF dropped, B parsed', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'a_chunk1.bin'));
      await sleep(50);
      await write(p, caseFile(C, 'a_chunk2.bin'));
      await p.c.waitFrames(2);
      assert.deepEqual((await untilIdle(p, 300)).map(msa), [['AA', 'BARCODE'], ['AA', 'BARCODE']]);
      assert.deepEqual(flagsOf(await byBarcode(main, '410028', 1)), [[1, '9.9', 'L']]);
      assert.deepEqual(flagsOf(await byBarcode(main, '410029', 1)), [[1, '12.5', 'H']]);
      const kept = await deliveredText(main, { barcode: '410029' });
      assert.equal(kept, withFlags(b, { 1: 'H' }));
      assert.equal(seg(kept, 'MSH', 7), '20261102103001');
    });

    it('B: FS without CR then the next frame: both ACKed, never merged, the missing CR logged', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'b_input.bin'));
      await p.c.waitFrames(2);
      assert.deepEqual((await untilIdle(p, 300)).map(msa), [['AA', 'BARCODE'], ['AA', 'BARCODE']]);
      assert.match(main.log(), /\[MLLP_MISSING_CR\]/);
      // both were received again (a resend of A and B): each kept once more, as a duplicate, each a single message
      for (const [barcode, original] of [['410028', a], ['410029', b]] as const) {
        const kept = await stored(main, { barcode }, 2);
        assert.deepEqual(kept.map((m) => m.status), ['delivered', 'duplicate']);
        for (const m of kept) assert.equal((m.text ?? '').split('\r').filter((s) => s.startsWith('MSH|')).length, 1);
        assert.equal(kept[1].text, kept[0].text);
        assert.equal(seg(kept[1].text ?? '', 'MSH', 7), seg(original, 'MSH', 7));
      }
      assert.equal(emrRows(main, 'barcode IN (?, ?)', ['410028', '410029']).length, 2);
    });

    it('C: FS then silence is taken as the end within about 2 s and ACKed; A processed once', async () => {
      const p = await connect(main);
      const t0 = Date.now();
      await write(p, caseFile(C, 'c_input.bin'));
      const [ack] = await p.c.waitFrames(1, 5000);
      const ms = Date.now() - t0;
      assert.deepEqual(msa(ack.toString('utf8')), ['AA', 'BARCODE']);
      assert.ok(ms >= 1500 && ms < 3500, `ACK after ${ms} ms`);
      const kept = await stored(main, { barcode: '410028' }, 3);
      assert.deepEqual(kept.map((m) => m.status), ['delivered', 'duplicate', 'duplicate']);
      assert.equal(emrRows(main, 'barcode = ?', ['410028']).length, 1);
    });
  });

  // ---------------------------------------------------------------------------------------------- 07
  describe('case 07: original-mode ACK fields', () => {
    const C = '07-ack-original-mode-fields';
    let ackA = '';

    it('A (v2.5): MSA|AA|<MSH-10>, sender/receiver swapped, ACK^R01^ACK, fresh MSH-10, MSH-11 T, MSH-12 2.5, CR everywhere', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_a.bin'));
      ackA = (await p.c.waitFrames(1))[0].toString('utf8');
      await untilIdle(p, 200);
      const raw = p.raw();
      assert.deepEqual([raw[0], ...raw.subarray(raw.length - 3)], [0x0b, 0x0d, 0x1c, 0x0d]);
      assert.deepEqual(msa(ackA), ['AA', 'LAB20261102-00017']);
      assert.deepEqual([3, 4, 5, 6, 9, 11, 12].map((n) => seg(ackA, 'MSH', n)),
        ['MGS', 'WARD7', 'LABSYS^1.2.410.200001.9.1^ISO', 'CITYLAB', 'ACK^R01^ACK', 'T', '2.5']);
      assert.match(seg(ackA, 'MSH', 7), /^\d{14}(\.\d{1,4})?([+-]\d{4})?$/);
      assert.ok(seg(ackA, 'MSH', 10) !== '' && seg(ackA, 'MSH', 10) !== 'LAB20261102-00017');
      assert.ok(ackA.endsWith('\r'));
      assert.ok(ackA.split('\r').slice(0, -1).every((s) => /^[A-Z][A-Z0-9]{2}\|/.test(s)), JSON.stringify(ackA));
    });

    it('B (MG v2.3): MSA|AA|BARCODE, MSH-5 HL7, MSH-6 B0801, MSH-11 P, MSH-12 2.3, MSH-9 ACK[^R01]; HGB 12.7 -> N', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_b.bin'));
      const [f] = await p.c.waitFrames(1);
      const ack = f.toString('utf8');
      const raw = p.raw();
      assert.deepEqual([raw[0], ...raw.subarray(raw.length - 3)], [0x0b, 0x0d, 0x1c, 0x0d]);
      assert.deepEqual(msa(ack), ['AA', 'BARCODE']);
      assert.deepEqual([5, 6, 11, 12].map((n) => seg(ack, 'MSH', n)), ['HL7', 'B0801', 'P', '2.3']);
      assert.ok(['ACK', 'ACK^R01'].includes(seg(ack, 'MSH', 9)), seg(ack, 'MSH', 9));
      assert.ok(seg(ack, 'MSH', 10) !== '' && seg(ack, 'MSH', 10) !== seg(ackA, 'MSH', 10), 'MSH-10 reused');
      assert.ok(ack.endsWith('\r'));
      assert.deepEqual(flagsOf(await byBarcode(main, '410041', 1)), [[1, '12.7', 'N']]);
      assert.deepEqual(flagsOf(await byBarcode(main, 'KR55501', 1)), [[1, '14.1', 'N']]);
    });
  });

  // ---------------------------------------------------------------------------------------------- 09
  describe('case 09: NAKs with ERR, on one connection that stays open', () => {
    const C = '09-ack-nak-ae-ar-err';
    let acks: string[] = [];
    let p: Peer;

    before(async () => {
      p = await connect(main);
      await write(p, caseFile(C, 'input.bin'));
      acks = (await p.c.waitFrames(5, 15000)).map((f) => f.toString('utf8'));
    });

    it('A: AR CTRL-0091, MSH-9 101', () => {
      assert.deepEqual(msa(acks[0]), ['AR', 'CTRL-0091']);
      assert.deepEqual(errorsOf(acks[0]).map((e) => [e.location, e.code]), [['MSH-9', '101']]);
    });

    it('B: AR CTRL-0092, MSH-12 203', () => {
      assert.deepEqual(msa(acks[1]), ['AR', 'CTRL-0092']);
      assert.deepEqual(errorsOf(acks[1]).map((e) => [e.location, e.code]), [['MSH-12', '203']]);
    });

    it('C: AR with an empty MSA-2, code 100 (no MSH)', () => {
      assert.deepEqual(msa(acks[2]), ['AR', '']);
      assert.deepEqual(errorsOf(acks[2]).map((e) => e.code), ['100']);
    });

    it('D: AE BARCODE, PID-3 101 (no barcode, no patient number)', () => {
      assert.deepEqual(msa(acks[3]), ['AE', 'BARCODE']);
      assert.deepEqual(errorsOf(acks[3]).map((e) => [e.location, e.code]), [['PID-3', '101']]);
    });

    it('E: AA BARCODE, HGB 14.6 -> N; every NAK has a text; A-D never reach the EMR; the socket stays open', async () => {
      assert.deepEqual(msa(acks[4]), ['AA', 'BARCODE']);
      assert.equal(errorsOf(acks[4]).length, 0);
      for (const nak of acks.slice(0, 4)) {
        assert.ok(seg(nak, 'MSA', 3) !== '' || errorsOf(nak).some((e) => e.text !== ''), `no text in ${JSON.stringify(nak)}`);
      }
      assert.deepEqual(flagsOf(await byBarcode(main, '410042', 1)), [[1, '14.6', 'N']]);
      // E was delivered after D (the spool keeps order), so D would be there by now
      assert.deepEqual(emrRows(main, "barcode IN ('KR55601', 'KR55602', '410099', '') OR barcode IS NULL", []), []);
      assert.equal(p.c.closed, false);
      assert.deepEqual(msa(await p.c.request(text(C, 'input_e.hl7'))), ['AA', 'BARCODE']);
    });

    it('A-D are kept in the message store as refused (raw bytes, the reason), not silently dropped; the NAKs are logged', async () => {
      const inbound = (await storedList(main, { direction: 'in' })).filter((m) => m.status !== 'duplicate');
      const details = await Promise.all(inbound.map((i) => getJson<StoredMessage>(main, `/mgs/api/messages/${i.id}`)));
      for (const x of ['a', 'b', 'c', 'd']) {
        const body = caseFile(C, `input_${x}.hl7`);
        const kept = details.filter((m) => m.raw !== null && Buffer.from(m.raw, 'base64').equals(body));
        assert.equal(kept.length, 1, `frame ${x.toUpperCase()} kept ${kept.length} times`);
        assert.equal(kept[0].status, 'failed', `frame ${x.toUpperCase()}`);
        assert.ok(kept[0].lastError?.code, `frame ${x.toUpperCase()} has no reason`);
      }
      assert.match(main.log(), /\[AR\][^\n]*#CTRL-0091/);
      assert.match(main.log(), /\[AR\][^\n]*#CTRL-0092/);
    });
  });

  // ---------------------------------------------------------------------------------------------- 11
  describe('case 11: escape sequences', () => {
    const C = '11-escape-sequences-decode';
    const input = text(C, 'input.hl7');

    it('ACK MSA|AA|ESC-0001; the EMR gets the decoded FT text and g^dL, HGB 13.9 -> N', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('utf8')), ['AA', 'ESC-0001']);
      const rows = await byBarcode(main, 'KR55801', 2);
      assert.equal(rows.length, 2);
      assert.equal(rows[0].value, caseFile(C, 'expected_obx1_text.bin').toString('utf8'));
      assert.deepEqual([rows[1].set_id, rows[1].value, rows[1].units, rows[1].flag], [2, '13.9', 'g^dL', 'N']);
    });

    it('kept and forwarded as HL7 with OBX-5 byte-identical (no re-escaping, nothing decoded)', async () => {
      const kept = await deliveredText(main, { controlId: 'ESC-0001' });
      assert.equal(kept, withFlags(input, { 2: 'N' }));
      assert.equal(kept.split('\r')[3], input.split('\r')[3]);
    });
  });

  // ---------------------------------------------------------------------------------------------- 13
  describe('case 13: HL7 null "" versus empty', () => {
    const C = '13-null-vs-empty-fields';

    it('ACK MSA|AA|BARCODE; EMR: null result, null and empty ranges, empty result -> no flag with the reason; WBC N', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('utf8')), ['AA', 'BARCODE']);
      const rows = await byBarcode(main, '410043', 5);
      assert.deepEqual(rows.map((r) => [r.test_code, r.value, r.ref_range, r.flag, r.reason]), [
        ['HGB', null, '11.2~17.2', '', 'null-value'],
        ['HCT', '41.2', null, '', 'no-range'],
        ['RBC', '4.61', '', '', 'no-range'],
        ['WBC', '7.4', '3.2~10.2', 'N', null],
        ['PLT', '', '150~400', '', 'no-value'],
      ]);
    });

    it('re-encoded with "" kept as "" and empty as empty; the placeholder A never survives', async () => {
      const kept = await deliveredText(main, { barcode: '410043' });
      assert.equal(kept, withFlags(text(C, 'input.hl7'), { 1: '', 2: '', 3: '', 4: 'N', 5: '' }));
    });
  });

  // ---------------------------------------------------------------------------------------------- 15
  describe('case 15: HL7 batch and two MSH in one frame', () => {
    const C = '15-batch-fhs-bhs';

    it('a: one reply frame acknowledging the batch; Sodium 128 -> L, Potassium 4.1 -> N', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_a_batch.bin'));
      await p.c.waitFrames(1);
      const frames = await untilIdle(p);
      assert.equal(frames.length, 1);
      const segs = frames[0].split('\r').filter((s) => s !== '');
      if (segs[0].startsWith('FHS|')) {
        assert.deepEqual(segs.map((s) => s.slice(0, 3)), ['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS', 'FTS']);
        assert.equal(segs[1].split('|')[11], 'B260001');
        assert.deepEqual([segs[3], segs[5], segs[6], segs[7]], ['MSA|AA|M260001', 'MSA|AA|M260002', 'BTS|2', 'FTS|1']);
      } else {
        assert.deepEqual(msa(frames[0]), ['AA', 'B260001']);
      }
      assert.deepEqual(flagsOf(await byBarcode(main, 'KR56001', 1)), [[1, '128', 'L']]);
      assert.deepEqual(flagsOf(await byBarcode(main, 'KR56002', 1)), [[1, '4.1', 'N']]);
      assert.equal(emrRows(main, "control_id IN ('M260001', 'M260002')", []).length, 2);
    });

    it('b: both messages processed (5145 L, 5146 N), MSA|AA|BARCODE for each, never one message with two MSH', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_b_two_msh_one_frame.bin'));
      await p.c.waitFrames(1);
      const all = (await untilIdle(p)).join('\r').split('\r').filter((s) => s.startsWith('MSA|'));
      assert.deepEqual(all, ['MSA|AA|BARCODE', 'MSA|AA|BARCODE']);
      const rows = [...await byBarcode(main, '410045', 1), ...await byBarcode(main, '410046', 1)];
      assert.deepEqual(rows.map((r) => [r.patient_no, r.value, r.flag]), [['5145', '11.0', 'L'], ['5146', '15.0', 'N']]);
      for (const barcode of ['410045', '410046']) {
        const kept = await deliveredText(main, { barcode });
        assert.equal(kept.split('\r').filter((s) => s.startsWith('MSH|')).length, 1);
      }
    });
  });

  // ---------------------------------------------------------------------------------------------- 17
  const C17 = '17-refrange-formats-flags';
  const FLAGS17 = ['N', 'L', 'H', 'N', 'H', 'L', 'N', 'N', 'N', 'L', 'N', 'L', 'H', 'L', 'H', 'H', 'L', '', 'N'];
  const flagMap = (flags: string[]): Record<number, string> => Object.fromEntries(flags.map((f, i) => [i + 1, f]));

  describe('case 17: reference-range formats', () => {
    it('ACK MSA|AA|BARCODE; EMR flags per row, TSH not evaluable (decimal comma) by default', async () => {
      const p = await connect(main);
      await write(p, caseFile(C17, 'input.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('utf8')), ['AA', 'BARCODE']);
      const rows = await byBarcode(main, '410061', 19);
      assert.deepEqual(rows.map((r) => r.flag), FLAGS17);
      assert.deepEqual([rows[17].test_code, rows[17].value, rows[17].numeric_value, rows[17].reason], ['TSH', '4,2', null, 'decimal-comma']);
      assert.deepEqual([0, 1, 18].map((i) => rows[i].ref_range), ['11.2~17.2', '3.2~10.2', '150~400']);
    });

    it('OBX-7 forwarded as received (the ~ of rows 1, 2, 19 kept, never \\R\\)', async () => {
      const kept = await deliveredText(main, { barcode: '410061' });
      assert.equal(kept, withFlags(text(C17, 'input.hl7'), flagMap(FLAGS17)));
    });

    describe('with the site setting for decimal commas', () => {
      let gw: Gateway;
      before(async () => { gw = await gateway({ flowFile: variantFile('cases-decimal-comma') }); });

      it('TSH 4,2 vs 0,4-4,0 -> H; every other row as by default', async () => {
        const p = await connect(gw);
        await write(p, caseFile(C17, 'input.bin'));
        assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('utf8')), ['AA', 'BARCODE']);
        const rows = await byBarcode(gw, '410061', 19);
        const flags = [...FLAGS17];
        flags[17] = 'H';
        assert.deepEqual(rows.map((r) => r.flag), flags);
        assert.deepEqual([rows[17].value, rows[17].numeric_value, rows[17].reason], ['4,2', 4.2, null]);
      });
    });
  });

  // ---------------------------------------------------------------------------------------------- 19
  describe('case 19: time stamps, offsets and precision', () => {
    const C = '19-timestamps-timezone-precision';
    const run = async (gw: Gateway): Promise<Array<[string | null, string | null, string | null]>> => {
      const p = await connect(gw);
      await write(p, caseFile(C, 'input_a.bin'));
      await write(p, caseFile(C, 'input_b.bin'));
      await p.c.waitFrames(2);
      assert.deepEqual(replies(p).map(msa), [['AA', 'TS-0001'], ['AA', 'TS-0002']]);
      const rows = [...await byBarcode(gw, 'KR56101', 1), ...await byBarcode(gw, 'KR56102', 1)];
      return rows.map((r) => [r.control_id, r.observed_at, r.flag]);
    };
    const EXPECTED: Array<[string, string, string]> = [
      ['TS-0001', '2026-11-01T23:15:00.000Z', 'N'],    // OBR-7 202611020815 takes MSH-7's +0900
      ['TS-0002', '2026-03-08T06:25:00.000Z', 'H'],    // OBR-7 20260308012500-0500, US DST start day
    ];

    it('TZ=Asia/Seoul: EMR instants in UTC from the message offsets, flags N and H', async () => {
      assert.deepEqual(await run(main), EXPECTED);
    });

    it('TZ=America/Los_Angeles: identical EMR instants', async () => {
      const la = await gateway({ env: { TZ: 'America/Los_Angeles' } });
      assert.deepEqual(await run(la), EXPECTED);
    });

    it('time stamps forwarded as HL7 keep their original text', async () => {
      assert.equal(await deliveredText(main, { controlId: 'TS-0001' }), withFlags(text(C, 'input_a.hl7'), { 1: 'N' }));
      assert.equal(await deliveredText(main, { controlId: 'TS-0002' }), withFlags(text(C, 'input_b.hl7'), { 1: 'H' }));
    });
  });

  // ---------------------------------------------------------------------------------------------- 21
  describe('case 21: EUC-KR and ISO 8859-1', () => {
    const C = '21-charset-euckr-latin1';
    const SON = 'SØNDERGÅRD';
    const NTE_DK = 'Prøve modtaget kl. 14:05, hæmolyse \u00b1 (Å-afsnit)';

    it('a: MSH-18 KS X 1001 decoded: 이하늘, NTE 검체 용혈 있음; HGB 15.2 -> N; MSA|AA|BARCODE', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_a_euckr_msh18.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('latin1')), ['AA', 'BARCODE']);
      assert.deepEqual(flagsOf(await byBarcode(main, '410072', 1)), [[1, '15.2', 'N']]);
      const kept = await deliveredText(main, { barcode: '410072' });
      assert.deepEqual([seg(kept, 'PID', 4), seg(kept, 'NTE', 3), seg(kept, 'MSH', 18)], ['이하늘', '검체 용혈 있음', 'KS X 1001']);
    });

    it('b with the default UTF-8 setting: AE naming the charset, nothing in the EMR', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_b_euckr_no_msh18.bin'));
      const nak = (await p.c.waitFrames(1))[0].toString('latin1');
      assert.deepEqual(msa(nak), ['AE', 'BARCODE']);
      assert.match(seg(nak, 'MSA', 3), /utf-8/i);
      assert.deepEqual(errorsOf(nak).map((e) => e.code), ['102']);
      // held with the bytes as received, for staff
      const kept = await stored(main, { barcode: '410073' });
      assert.deepEqual(kept.map((m) => [m.status, m.lastError?.code]), [['failed', 'HL7_BAD_CHARSET']]);
      assert.ok(Buffer.from(kept[0].raw ?? '', 'base64').equals(caseFile(C, 'input_b_euckr_no_msh18.hl7')), 'raw bytes not kept');
    });

    it('c and d: 8859/1 and ISO IR100 decoded (SØNDERGÅRD^ÆSA, ±); Natrium 133 -> L; LAT-0001, LAT-0002', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input_c_latin1_8859.bin'));
      await write(p, caseFile(C, 'input_d_latin1_isoir100.bin'));
      await p.c.waitFrames(2);
      assert.deepEqual(replies(p).map(msa), [['AA', 'LAT-0001'], ['AA', 'LAT-0002']]);
      const rows = await byBarcode(main, 'DK77001', 2);
      assert.deepEqual(rows.map((r) => [r.control_id, r.value, r.flag]), [['LAT-0001', '133', 'L'], ['LAT-0002', '133', 'L']]);
      for (const [controlId, msh18] of [['LAT-0001', '8859/1'], ['LAT-0002', 'ISO IR100']]) {
        const kept = await deliveredText(main, { controlId });
        assert.deepEqual([seg(kept, 'PID', 5), seg(kept, 'NTE', 3), seg(kept, 'MSH', 18)], [`${SON}^ÆSA`, NTE_DK, msh18]);
      }
      // b, sent before c, never entered the spool
      assert.deepEqual(emrRows(main, 'barcode = ?', ['410073']), []);
    });

    describe('at a Korean site (mllp in charset EUC-KR)', () => {
      let gw: Gateway;
      before(async () => { gw = await gateway({ flowFile: variantFile('cases-euc-kr') }); });

      it('b: no MSH-18, decoded as EUC-KR: 강바다; HGB 10.4 -> L; and MSH-18 still wins for Latin-1', async () => {
        const p = await connect(gw);
        await write(p, caseFile(C, 'input_b_euckr_no_msh18.bin'));
        await write(p, caseFile(C, 'input_c_latin1_8859.bin'));
        await p.c.waitFrames(2);
        assert.deepEqual(replies(p).map(msa), [['AA', 'BARCODE'], ['AA', 'LAT-0001']]);
        assert.deepEqual(flagsOf(await byBarcode(gw, '410073', 1)), [[1, '10.4', 'L']]);
        assert.equal(seg(await deliveredText(gw, { barcode: '410073' }), 'PID', 4), '강바다');
        assert.equal(seg(await deliveredText(gw, { controlId: 'LAT-0001' }), 'PID', 5), `${SON}^ÆSA`);
      });
    });
  });

  // ---------------------------------------------------------------------------------------------- 24
  describe('case 24: Mindray BC-series rows relayed by the MG', () => {
    const C = '24-hematology-mindray-bc-relay';
    const FLAGS: Record<number, string> = { 5: 'H', 6: 'H', 7: 'N', 8: 'H', 9: 'L', 10: 'N', 11: 'L', 12: 'L', 13: 'N', 14: 'N',
      15: 'N', 16: 'N', 17: 'N', 18: 'H', 19: '' };

    it('MSA|AA|BARCODE; EMR: the 15 results (IS rows not results), MGS flag per row, **** not reported', async () => {
      const p = await connect(main);
      await write(p, caseFile(C, 'input.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('utf8')), ['AA', 'BARCODE']);
      const rows = await byBarcode(main, '410101', 15);
      await sleep(200);
      assert.equal(emrRows(main, 'barcode = ?', ['410101']).length, 15);
      assert.deepEqual(rows.map((r) => [r.set_id, r.flag]), Object.entries(FLAGS).map(([k, v]) => [Number(k), v]));
      assert.deepEqual([rows[14].channel_code, rows[14].value, rows[14].reason], ['10055', '****', 'not-reported']);
      assert.deepEqual([rows[12].channel_code, rows[12].value, rows[12].flag], ['777-3', '100', 'N']);
    });

    it('kept with OBX-8 first repetition = MGS flag, the device repetitions and IS rows unchanged', async () => {
      const kept = await deliveredText(main, { barcode: '410101' });
      assert.equal(kept, withFlags(text(C, 'input.hl7'), FLAGS));
      // the device's own OBX-8 (N of the **** row) stays in the store with the message as received
      const [m] = await stored(main, { barcode: '410101' });
      assert.ok(Buffer.from(m.raw ?? '', 'base64').equals(caseFile(C, 'input.hl7')), 'the message as received is not kept');
      // the only row not evaluated is reported as such; the IS mode/alarm rows raise no warning
      assert.match(main.log(), /OBX-19 H-NR% \(not-reported\)/);
      assert.doesNotMatch(main.log(), /Take Mode|Blood Mode|Test Mode|Ref Group|Leucocytosis/);
    });
  });

  // ---------------------------------------------------------------------------------------------- 23
  describe('case 23: results to an HL7/MLLP EMR, ACK correlation', () => {
    const C = '23-forward-ack-correlation';
    const reply = (name: string): Step => ({ name, reply: (s, ctrl) => s.write(frameOf(fill(text(C, `resp_${name}.hl7`), ctrl, ''))) });
    let gw: Gateway;
    let emr: FakeEmr;

    before(async () => {
      emr = await FakeEmr.start();
      gw = await gateway({ flowFile: variantFile('cases-hl7-emr'),
        env: { MGS_EMR_HL7_HOST: '127.0.0.1', MGS_EMR_HL7_PORT: String(emr.port) } });
    });
    after(async () => { await emr?.close(); });

    it('m1 (fragmented ACK) and m2 (stale only, garbage, unframed, AR, then stale + right) are each delivered once, in order', async () => {
      // what the fake EMR answers to each message it receives, in order
      emr.script = [
        { name: 'fragmented', reply: (s, ctrl) => fragmented(s, fill(text(C, 'resp_ok.hl7'), ctrl, '')) },
        { name: 'stale only', reply: (s, _ctrl, prev) => s.write(frameOf(fill(text(C, 'resp_stale.hl7'), '', prev))) },
        { name: 'garbage', reply: (s) => s.write(caseFile(C, 'resp_garbage.bin')) },
        { name: 'unframed', reply: (s, ctrl) => s.write(Buffer.from(fill(caseFile(C, 'resp_unframed.bin').toString('latin1'), ctrl, ''), 'latin1')) },
        reply('ar'),
        { name: 'stale then right', reply: async (s, ctrl, prev) => {
          s.write(frameOf(fill(text(C, 'resp_stale.hl7'), '', prev)));
          await sleep(500);
          s.write(frameOf(fill(text(C, 'resp_ok.hl7'), ctrl, '')));
        } },
      ];
      const p = await connect(gw);
      await write(p, caseFile(C, 'mg_m1.bin'));
      await p.c.waitFrames(1);
      await write(p, caseFile(C, 'mg_m2.bin'));
      await p.c.waitFrames(2);
      assert.deepEqual(replies(p).map(msa), [['AA', 'BARCODE'], ['AA', 'BARCODE']]);

      const m2 = await waitStored(gw, '410092', (m) => m.status === 'delivered', 20000);
      const m1 = (await stored(gw, { barcode: '410091' }))[0];
      assert.equal(m1.status, 'delivered');

      // m1 first, then every attempt of m2
      assert.deepEqual(emr.received.map((r) => (r.text.includes('410091') ? 'm1' : r.text.includes('410092') ? 'm2' : '?')),
        ['m1', 'm2', 'm2', 'm2', 'm2', 'm2'], emr.received.map((r) => r.step).join(', '));
      // forwarded MSH-10s: non-empty, never the MG's BARCODE, m2's never m1's, so an ACK can be matched to its message
      const ctrls = emr.received.map((r) => seg(r.text, 'MSH', 10));
      assert.ok(ctrls.every((c) => c !== '' && c !== 'BARCODE'), ctrls.join(','));
      assert.ok(!ctrls.slice(1).includes(ctrls[0]), ctrls.join(','));
      // each delivered once, on the ACK that matches, with the forwarded MSH-10 kept with the MG message
      const deliveries = (m: StoredMessage): StoredMessage['history'] => m.history.filter((h) => h.status === 'delivered');
      assert.equal(deliveries(m1).length, 1);
      assert.equal(deliveries(m2).length, 1);
      assert.match(deliveries(m1)[0].detail ?? '', new RegExp(`MSH-10 ${ctrls[0]}\\b`));
      assert.match(deliveries(m2)[0].detail ?? '', new RegExp(`MSH-10 ${ctrls[5]}\\b`));
      assert.ok(Date.parse(m1.deliveredAt ?? '') <= emr.received[1].at, 'm2 sent before m1 was delivered');
      // m2's failed attempts, each with its reason: time-out (stale ACK only), bad reply bytes (twice), AR
      const failures = m2.history.filter((h) => h.status === 'failed').map((h) => h.detail ?? '');
      assert.equal(failures.length, 4, failures.join('\n'));
      assert.match(failures[0], /^MLLP_TIMEOUT/);
      assert.match(failures[1], /^MLLP_BAD_(FRAME|ACK)\b.*fail/);
      assert.match(failures[2], /^MLLP_BAD_(FRAME|ACK)\b.*MSH/);
      assert.match(failures[3], /^MLLP_NAK\b.*Database unavailable/);
      // the stale ACKs were discarded with a log line
      assert.match(gw.log(), /\[MLLP_ACK_MISMATCH\]/);
    });

    it('AE: held for staff with the EMR\'s MSA-3 text, never marked sent; EUC-KR transcoded to UTF-8 together with MSH-18', async () => {
      emr.script = [reply('ae')];
      const p = await connect(gw);
      await write(p, caseFile('21-charset-euckr-latin1', 'input_a_euckr_msh18.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('latin1')), ['AA', 'BARCODE']);
      const m = await waitStored(gw, '410072', (s) => s.status === 'dead', 10000);
      assert.equal(m.history.filter((h) => h.status === 'delivered').length, 0);
      assert.equal(m.lastError?.code, 'MLLP_NAK');
      assert.match(m.lastError?.message ?? '', /Patient not found in ADT/);
      const got = emr.received[emr.received.length - 1];
      assert.equal(seg(got.text, 'MSH', 18), 'UNICODE UTF-8');
      assert.ok(got.bytes.includes(Buffer.from('이하늘', 'utf8')), 'the name is not in UTF-8');
    });

    it('CA counts as delivered (destination in enhanced mode)', async () => {
      emr.script = [reply('ca')];
      const p = await connect(gw);
      await write(p, caseFile('07-ack-original-mode-fields', 'input_b.bin'));
      assert.deepEqual(msa((await p.c.waitFrames(1))[0].toString('utf8')), ['AA', 'BARCODE']);
      const m = await waitStored(gw, '410041', (s) => s.status === 'delivered', 10000);
      assert.equal(m.history.filter((h) => h.status === 'delivered').length, 1);
    });
  });

  describe('cases 11, 17, 21: results forwarded as received to an HL7/MLLP EMR', () => {
    let gw: Gateway;
    let emr: FakeEmr;

    before(async () => {
      emr = await FakeEmr.start();
      emr.otherwise = { name: 'ok', reply: (s, ctrl) => s.write(frameOf(fill(text('23-forward-ack-correlation', 'resp_ok.hl7'), ctrl, ''))) };
      gw = await gateway({ flowFile: variantFile('cases-hl7-forward'),
        env: { MGS_EMR_HL7_HOST: '127.0.0.1', MGS_EMR_HL7_PORT: String(emr.port) } });
    });
    after(async () => { await emr?.close(); });

    it('byte for byte: only MSH-10 (fresh) and OBX-8 (flags) change; escapes, ~ ranges and Latin-1 bytes with MSH-18 kept', async () => {
      const p = await connect(gw);
      await write(p, caseFile('11-escape-sequences-decode', 'input.bin'));
      await write(p, caseFile(C17, 'input.bin'));
      await write(p, caseFile('21-charset-euckr-latin1', 'input_c_latin1_8859.bin'));
      await p.c.waitFrames(3);
      assert.deepEqual(replies(p).map(msa), [['AA', 'ESC-0001'], ['AA', 'BARCODE'], ['AA', 'LAT-0001']]);
      await waitStored(gw, { controlId: 'LAT-0001' }, (m) => m.status === 'delivered', 10000);
      assert.equal(emr.received.length, 3);
      const expected: Array<[Buffer, BufferEncoding]> = [
        [Buffer.from(withFlags(text('11-escape-sequences-decode', 'input.hl7'), { 2: 'N' }), 'utf8'), 'utf8'],
        [Buffer.from(withFlags(text(C17, 'input.hl7'), flagMap(FLAGS17)), 'utf8'), 'utf8'],
        [Buffer.from(withFlags(caseFile('21-charset-euckr-latin1', 'input_c_latin1_8859.hl7').toString('latin1'), { 1: 'L' }), 'latin1'), 'latin1'],
      ];
      emr.received.forEach((got, i) => {
        const [bytes, enc] = expected[i];
        const lines = bytes.toString(enc).split('\r');
        const f = lines[0].split('|');
        assert.notEqual(seg(got.text, 'MSH', 10), f[9]);
        f[9] = seg(got.text, 'MSH', 10);
        assert.ok(got.bytes.equals(Buffer.from([f.join('|'), ...lines.slice(1)].join('\r'), enc)), got.text);
      });
    });
  });

  // ---------------------------------------------------------------------------------------------- all
  describe('the demo EMR after all the cases', () => {
    it('matches every result row to a known patient (by barcode, and by PID-3.3 where the MG filled it)', () => {
      const db = new Database(path.join(main.dataDir, 'demo-emr.sqlite'), { readonly: true, fileMustExist: true });
      try {
        const rows = db.prepare(`SELECT r.barcode, r.patient_no AS sent, p.patient_no AS known FROM results r
          LEFT JOIN mg_patient p ON p.barcode = r.barcode ORDER BY r.id`).all() as Array<{ barcode: string; sent: string; known: string | null }>;
        assert.ok(rows.length >= 50, `${rows.length} rows`);
        assert.deepEqual(rows.filter((r) => r.known === null || (r.sent !== '' && r.sent !== r.known)), []);
      } finally {
        db.close();
      }
    });
  });
});

// ------------------------------------------------------------------------------------------------ case 23's fake EMR

function frameOf(body: string, charset: BufferEncoding = 'utf8'): Buffer {
  return Buffer.concat([Buffer.from([0x0b]), Buffer.from(body, charset), Buffer.from([0x1c, 0x0d])]);
}

/** A reply template with {CTRL} (MSH-10 just received) and {PREV} (the one before) filled in; CR segment ends. */
function fill(template: string, ctrl: string, prev: string): string {
  return template.replace(/\r?\n/g, '\r').replace(/\{CTRL\}/g, ctrl).replace(/\{PREV\}/g, prev);
}

/** Sends a reply as three writes 200 ms apart: start block | body | trailer. */
async function fragmented(s: net.Socket, body: string): Promise<void> {
  s.write(Buffer.from([0x0b]));
  await sleep(200);
  s.write(Buffer.from(body, 'utf8'));
  await sleep(200);
  s.write(Buffer.from([0x1c, 0x0d]));
}

interface Step { name: string; reply: (s: net.Socket, ctrl: string, prev: string) => unknown }

/** An HL7 EMR interface on loopback that answers each message it receives with the next scripted reply. */
class FakeEmr {
  script: Step[] = [];
  /** The reply when the script is used up (none: the message is left unanswered). */
  otherwise: Step | undefined;
  readonly received: Array<{ text: string; bytes: Buffer; at: number; step: string }> = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, readonly port: number) {
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => { /* the gateway drops connections after bad replies */ });
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const start = buf.indexOf(0x0b);
          const end = buf.indexOf(0x1c, start + 1);
          if (start < 0 || end < 0 || buf.length < end + 2) break;
          const bytes = buf.subarray(start + 1, end);
          buf = buf.subarray(end + 2);
          const msgText = bytes.toString('latin1');
          const ctrl = seg(msgText, 'MSH', 10);
          // {PREV}: MSH-10 of the message before this one (a resend of the same message keeps its MSH-10)
          const prev = [...this.received].reverse().map((r) => seg(r.text, 'MSH', 10)).find((c) => c !== ctrl) ?? '';
          const step = this.script.shift() ?? this.otherwise;
          this.received.push({ text: msgText, bytes: Buffer.from(bytes), at: Date.now(), step: step?.name ?? '(none)' });
          if (step) void step.reply(s, ctrl, prev);
        }
      });
    });
  }

  static async start(): Promise<FakeEmr> {
    const port = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve); });
    return new FakeEmr(server, port);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls the store until the one message matching `query` (a barcode, or a filter) satisfies `ok`. */
async function waitStored(gw: Gateway, query: string | Record<string, string>, ok: (m: StoredMessage) => boolean,
                          timeoutMs: number): Promise<StoredMessage> {
  const q = typeof query === 'string' ? { barcode: query } : query;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await stored(gw, q);
    const m = all[all.length - 1];
    if (ok(m)) return m;
    if (Date.now() > deadline) assert.fail(`${JSON.stringify(q)}: ${m.status} ${JSON.stringify(m.history)}`);
    await sleep(200);
  }
}

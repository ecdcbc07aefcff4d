// SPDX-License-Identifier: Apache-2.0
// Nothing lost (SPEC 3.3): durable spool with retry, commit-then-ACK, checked on the real gateway process.
// (a) the EMR side goes away under a steady stream of results; (b) kill -9 in the middle of a stream;
// (c) the data directory cannot be written; (d) a poisoned message under both failure policies.
// The HL7-EMR variants use the default flow with its `emr write` replaced by an `mllp out` to a fake EMR
// listener run by the test, so every delivery attempt (and its order) is seen from outside the gateway.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { startGateway, type Gateway, type GatewayOptions } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { repoRoot } from '../helpers/paths';

// ------------------------------------------------------------------ messages

const STORE_FILE = 'mgs-store.sqlite';
const EMR_FILE = 'demo-emr.sqlite';

/** OBR-7 of the n-th result: one second apart, so every result is a different observation. */
function observedAt(n: number): string {
  return new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString().replace(/[-T:]/g, '').slice(0, 14);
}

/** A SPEC 2.3 result (MSH-10 BARCODE, as the MG sends it) for specimen `barcode`. */
function result(barcode: string, n: number): string {
  return [
    'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3',
    `PID|||${barcode}^E024^1234|홍길동||50|M`,
    'PV1||E|1111^2222',
    `OBR|1||||||${observedAt(n)}`,
    'OBX|1|ST|03|HGB|12.7|g/dl|11.2~17.2|A|||R||P|',
    'OBX|2|ST|04|HCT|39.1|%|33.6~51.5|A|||R||P|',
    'OBX|3|ST|02|RBC|TEST|*10-6/mm-3|3.8~5.6|A|||R||Q|',
    'OBX|4|ST|01|WBC|2|*10-6/mm-3|3.2~10.2|A|||R||Q|',
  ].join('\r') + '\r';
}

const barcodes = (prefix: string, count: number): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(5, '0')}`);

/** The n (0-based) a code of barcodes() was made for. */
const indexOfCode = (code: string): number => Number(code.slice(1)) - 1;

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined; fails with `what` after `timeoutMs`. */
async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(50);
  }
}

/** Figures worth reading in the test output (the report quotes them). */
function figure(text: string): void {
  process.stdout.write(`      [durability] ${text}\n`);
}

// ------------------------------------------------------------------ flows

interface FlowNode { id: string; type: string; z?: string; wires?: string[][]; [k: string]: unknown }

function defaultFlow(): FlowNode[] {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, 'flows', 'gateway.json'), 'utf8')) as FlowNode[];
}

/** The spool whose deliveries go to `emr write`, and that emr write node, in a flow. */
function resultPath(flow: FlowNode[]): { spool: FlowNode; write: FlowNode } {
  const byId = new Map(flow.map((n) => [n.id, n]));
  for (const spool of flow.filter((n) => n.type === 'hl7-spool')) {
    for (const id of spool.wires?.[1] ?? []) {
      const write = byId.get(id);
      if (write?.type === 'emr-write') return { spool, write };
    }
  }
  throw new Error('the default flow has no hl7-spool delivering to emr-write');
}

/** The default flow with the result spool's settings changed (times in s, as in the editor). */
function withSpool(flow: FlowNode[], spoolConfig: Record<string, unknown>): FlowNode[] {
  const { spool } = resultPath(flow);
  Object.assign(spool, spoolConfig);
  return flow;
}

/**
 * The default flow with the EMR side delivering HL7 over MLLP: `emr write` replaced (same id, same place) by an
 * `mllp out` to 127.0.0.1:${MGS_TEST_EMR_PORT}, both of its outputs wired back to the spool. No conversion: the
 * flagged result is forwarded as it is (with a fresh MSH-10, as mllp out does by default). Its ACK time-out (10 s)
 * stays below the spool's outcome time-out (30 s in the default flow), so no attempt is retried while still awaited.
 */
function hl7EmrFlow(spoolConfig: Record<string, unknown>): FlowNode[] {
  const flow = withSpool(defaultFlow(), spoolConfig);
  const { spool, write } = resultPath(flow);
  const out: FlowNode = {
    id: write.id, type: 'mllp-out', z: write.z, name: 'results to HL7 EMR', host: '127.0.0.1', port: '${MGS_TEST_EMR_PORT}',
    charset: 'auto', ackTimeout: 10000, enhancedMode: false, newControlId: true, x: write.x, y: write.y,
    wires: [[spool.id], [spool.id]],
  };
  return flow.map((n) => (n.id === write.id ? out : n));
}

// ------------------------------------------------------------------ the fake HL7 EMR

type Answer = 'AA' | 'AE' | 'AR';

/**
 * An HL7 EMR interface on loopback: answers every forwarded result with an ACK (MSA-2 = the MSH-10 it got),
 * or with the NAK `answer` chooses. While stopped it listens on nothing (connection refused), and a frame that
 * reaches a connection being closed is not processed (no ACK, not counted): a stopped EMR has not got it.
 */
class FakeHl7Emr {
  port = 0;
  /** Every message processed, in order: its barcode (PID-3.1), the MSH-10 it came with, and the answer. */
  readonly log: { barcode: string; controlId: string; answer: Answer }[] = [];
  answer: (barcode: string, attempt: number) => Answer = () => 'AA';
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private ackNo = 0;
  private disposed = false;

  /** Barcodes accepted (AA), in the order they were accepted. */
  accepted(): string[] { return this.log.filter((e) => e.answer === 'AA').map((e) => e.barcode); }

  attempts(barcode: string): number { return this.log.filter((e) => e.barcode === barcode).length; }

  async start(): Promise<void> {
    if (this.disposed) return;
    const server = net.createServer((socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops for good (after the test): a start still pending does nothing. */
  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stop();
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    let buf = Buffer.alloc(0);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => { /* the gateway went away */ });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const start = buf.indexOf(0x0b);
        const end = buf.indexOf(0x1c, start + 1);
        if (start < 0 || end < 0) return;
        const text = buf.subarray(start + 1, end).toString('utf8');
        buf = buf.subarray(end + 2);
        if (!this.server || !this.sockets.has(socket)) return;   // stopping: not processed
        const msh = text.split('\r')[0].split('|');
        const pid = text.split('\r').find((s) => s.startsWith('PID|'))?.split('|') ?? [];
        const barcode = (pid[3] ?? '').split('^')[0];
        const controlId = msh[9] ?? '';
        const code = this.answer(barcode, this.attempts(barcode) + 1);
        this.log.push({ barcode, controlId, answer: code });
        const ack = `MSH|^~\\&|EMR|HOSP|HL7|B0801|||ACK^R01|EMR${++this.ackNo}|P|2.3\rMSA|${code}|${controlId}|${code === 'AA' ? '' : `refused ${barcode}`}\r`;
        socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(ack, 'utf8'), Buffer.from([0x1c, 0x0d])]));
      }
    });
  }
}

// ------------------------------------------------------------------ gateway, store and EMR access

/** Gateways, fake EMRs, MLLP clients and folders made by the current test; all ended afterwards. */
const cleanup: (() => Promise<void> | void)[] = [];

async function cleanupAll(): Promise<void> {
  for (const f of cleanup.splice(0).reverse()) {
    try { await f(); } catch { /* keep cleaning */ }
  }
}

function tempRoot(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-durability-'));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts the gateway; it is killed after the test whatever happens. `flow` = a flow to write and use. */
async function gateway(root: string, opts: GatewayOptions & { flow?: FlowNode[] } = {}): Promise<Gateway> {
  const { flow, ...options } = opts;
  const dataDir = options.dataDir ?? path.join(root, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  let flowFile = options.flowFile;
  if (flow) {
    flowFile = path.join(root, 'test-flow.json');
    fs.writeFileSync(flowFile, JSON.stringify(flow, null, 2));
  }
  const gw = await startGateway({ ...options, dataDir, ...(flowFile ? { flowFile } : {}) });
  cleanup.push(() => gw.kill9());
  return gw;
}

async function connect(port: number): Promise<TestMllpClient> {
  const c = await TestMllpClient.connect(port);
  cleanup.push(() => c.close());
  return c;
}

/** Read-only look into an SQLite file of the data directory (the gateway keeps writing meanwhile). */
function query<T>(file: string, sql: string, ...args: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try { return db.prepare(sql).all(...args) as T[]; } finally { db.close(); }
}

interface SpoolState { destination: string; depth: number; dead: number }

async function spoolState(gw: Gateway): Promise<SpoolState> {
  const res = await fetch(`http://127.0.0.1:${gw.httpPort}/mgs/api/spool`);
  assert.equal(res.status, 200);
  const body = await res.json() as { destinations: SpoolState[] };
  const d = body.destinations.find((x) => x.destination === 'emr');
  assert.ok(d, 'the spool "emr" is known to the API');
  return d;
}

/** Store history rows of one kind ('failed', 'dead', 'delivered') with their message's barcode. */
function history(gw: Gateway, status: string): { barcode: string; detail: string; attempt: number | null }[] {
  return query(path.join(gw.dataDir, STORE_FILE), `SELECT m.barcode AS barcode, h.detail AS detail, h.attempt AS attempt
    FROM history h JOIN messages m ON m.id = h.message_id WHERE h.status = ? ORDER BY h.id`, status);
}

/** Result rows per barcode in the demo EMR: [barcode, rows, first rowid], in the order written. */
function emrRows(gw: Gateway, prefix: string): { barcode: string; rows: number; setIds: string; first: number }[] {
  return query(path.join(gw.dataDir, EMR_FILE), `SELECT barcode, count(*) AS rows, group_concat(set_id, ',') AS setIds,
      min(rowid) AS first FROM (SELECT rowid, * FROM results WHERE barcode LIKE ? ORDER BY set_id)
    GROUP BY barcode ORDER BY first`, `${prefix}%`);
}

function assertAck(reply: string, code: string, what: string): void {
  assert.equal(field(reply, 'MSA', 1), code, `${what}: ${JSON.stringify(reply)}`);
  assert.equal(field(reply, 'MSA', 2), 'BARCODE', what);
}

/**
 * Sends results one after the other on one connection, as an MG does (the next only after the reply),
 * `gapMs` apart; `onReply` sees every reply as it comes. Returns the replies.
 */
async function lockStep(port: number, codes: string[], gapMs: number,
                        onReply: (i: number, reply: string) => void = () => undefined): Promise<string[]> {
  const c = await connect(port);
  const replies: string[] = [];
  for (let i = 0; i < codes.length; i++) {
    const reply = await c.request(result(codes[i], indexOfCode(codes[i])), 15000);
    replies.push(reply);
    onReply(i, reply);
    if (gapMs > 0) await delay(gapMs);
  }
  await c.close();
  return replies;
}

/**
 * Several MGs: `conns` connections, connection c sending codes c, c + conns, ... one after the other (lock-step,
 * each result only after the reply to the one before), as devices do. They can go on after a restart: each
 * starts again with the result it got no ACK for.
 */
class MgStreams {
  readonly lanes: string[][];
  readonly next: number[];                  // per lane: everything before this index got its AA
  readonly acked = new Set<string>();

  constructor(codes: string[], conns: number) {
    this.lanes = Array.from({ length: conns }, (_, c) => codes.filter((_, i) => i % conns === c));
    this.next = this.lanes.map(() => 0);
  }

  /**
   * Sends until every lane is done; with `killAt`, kill -9 of the gateway once that many results have their AA.
   * A result whose connection dropped in the kill got no ACK: it stays first in its lane.
   */
  async run(gw: Gateway, killAt?: number): Promise<void> {
    let killing: Promise<void> | undefined;
    const lane = async (c: number): Promise<void> => {
      const client = await connect(gw.mllpPort);
      while (this.next[c] < this.lanes[c].length) {
        const code = this.lanes[c][this.next[c]];
        let reply: string;
        try {
          reply = await client.request(result(code, indexOfCode(code)), 15000);
        } catch (err) {
          if (killing) return;
          throw err;
        }
        assertAck(reply, 'AA', `result ${code}`);
        this.acked.add(code);
        this.next[c]++;
        if (this.acked.size === killAt) killing = gw.kill9();
      }
      await client.close();
    };
    await Promise.all(this.lanes.map((_, c) => lane(c)));
    await killing;
  }
}

// ------------------------------------------------------------------ the tests

describe('e2e durability: nothing lost (spool with retry, commit-then-ACK)', function () {
  this.timeout(60000);
  afterEach(cleanupAll);

  describe('(a) the EMR side becomes unavailable under a steady stream of results', () => {
    it('HL7 EMR stopped and started again mid-stream: every result ACKed, all delivered after recovery, in order, none twice', async () => {
      const emr = new FakeHl7Emr();
      await emr.start();
      cleanup.push(() => emr.dispose());
      const root = tempRoot();
      const gw = await gateway(root, {
        flow: hl7EmrFlow({ retryBase: 0.2, retryCap: 1, policy: 'dead-letter', maxAttempts: 3 }),
        env: { MGS_TEST_EMR_PORT: String(emr.port) },
      });

      const codes = barcodes('A', 400);
      let downAt = 0;
      let upAt = 0;
      let ackedWhileDown = 0;
      let restarting: Promise<void> | undefined;
      const replies = await lockStep(gw.mllpPort, codes, 5, (i) => {
        if (downAt && !upAt) ackedWhileDown++;
        if (i === 99) {
          downAt = Date.now();
          restarting = emr.stop().then(() => delay(2000)).then(() => emr.start()).then(() => { upAt = Date.now(); });
        }
      });
      await restarting;
      replies.forEach((r, i) => assertAck(r, 'AA', `result ${codes[i]}`));

      await waitFor('every result at the EMR', () => (emr.accepted().length >= codes.length ? true : undefined), 40000);
      const recoveredMs = Date.now() - upAt;
      assert.deepEqual(emr.accepted(), codes, 'delivered in the order received, each once');
      assert.equal(emr.log.length, codes.length, 'no message reached the EMR twice');
      assert.equal(new Set(emr.log.map((e) => e.controlId)).size, codes.length, 'a distinct MSH-10 per forwarded message');

      // The outage was seen and retried as "destination down": failed attempts, none of them held against the message.
      const failed = history(gw, 'failed');
      assert.ok(failed.length >= 1, 'delivery attempts failed during the outage');
      for (const f of failed) assert.match(f.detail, /^MLLP_NOT_CONNECTED: /);
      assert.deepEqual(history(gw, 'dead'), []);
      const spool = await spoolState(gw);
      assert.deepEqual([spool.depth, spool.dead], [0, 0]);
      figure(`(a) HL7 EMR down ${upAt - downAt} ms: ${ackedWhileDown} results ACKed meanwhile, ` +
        `${failed.length} failed delivery attempts (MLLP_NOT_CONNECTED); all ${codes.length} at the EMR ${recoveredMs} ms after it was back`);
    });

    it('demo EMR database locked by another program: emr write fails with EMR_TIMEOUT, retried; every result ACKed and written once, in order', async () => {
      // The default flow as it ships; only the EMR connection waits 500 ms for a lock instead of 10 s, so that a
      // locked database fails an attempt quickly (SQLite's busy time-out -> SQLITE_BUSY -> EMR_TIMEOUT).
      const flow = defaultFlow();
      const { write } = resultPath(flow);
      const conn = flow.find((n) => n.id === write.connection);
      assert.ok(conn, 'emr write has its emr-connection');
      conn.queryTimeout = 500;
      const root = tempRoot();
      const gw = await gateway(root, { flow });
      const emrFile = path.join(gw.dataDir, EMR_FILE);

      const codes = barcodes('L', 150);
      const locker = new Database(emrFile, { fileMustExist: true });
      cleanup.push(() => { if (locker.open) { if (locker.inTransaction) locker.exec('ROLLBACK'); locker.close(); } });
      let lockedAt = 0;
      let releasedAt = 0;
      let ackedWhileLocked = 0;
      let releasing: Promise<void> | undefined;
      const replies = await lockStep(gw.mllpPort, codes, 5, (i) => {
        if (lockedAt && !releasedAt) ackedWhileLocked++;
        if (i === 29) {
          locker.exec('BEGIN EXCLUSIVE');
          lockedAt = Date.now();
          releasing = delay(2500).then(() => { if (locker.open && locker.inTransaction) locker.exec('COMMIT'); releasedAt = Date.now(); });
        }
      });
      await releasing;
      locker.close();
      replies.forEach((r, i) => assertAck(r, 'AA', `result ${codes[i]}`));

      const rows = await waitFor('every result in the demo EMR', () => {
        const r = emrRows(gw, 'L');
        return r.length >= codes.length ? r : undefined;
      }, 40000);
      const drainedMs = Date.now() - releasedAt;
      assert.deepEqual(rows.map((r) => r.barcode), codes, 'written in the order received');
      for (const r of rows) assert.deepEqual([r.barcode, r.rows, r.setIds], [r.barcode, 4, '1,2,3,4'], 'each OBX written once');

      const failed = history(gw, 'failed');
      assert.ok(failed.length >= 1, 'delivery attempts failed while the database was locked');
      for (const f of failed) assert.match(f.detail, /^EMR_TIMEOUT: /);
      assert.deepEqual(history(gw, 'dead'), []);
      const spool = await spoolState(gw);
      assert.deepEqual([spool.depth, spool.dead], [0, 0]);
      figure(`(a) demo EMR locked ${releasedAt - lockedAt} ms: ${ackedWhileLocked} results ACKed meanwhile, ` +
        `${failed.length} failed attempts (EMR_TIMEOUT); all ${codes.length} written ${drainedMs} ms after the lock was released`);
    });
  });

  describe('(b) kill -9 of the running gateway in the middle of a stream', () => {
    it('every result ACKed before the kill is in the demo EMR exactly once after the restart; resent ones are not doubled', async () => {
      const CONNS = 4;
      const TOTAL = 2000;
      const KILL_AT = 1000;   // in the middle of the stream of 2,000
      const root = tempRoot();
      const dataDir = path.join(root, 'data');
      const gw1 = await gateway(root, { dataDir });   // the default flow and the demo EMR, as shipped

      const codes = barcodes('K', TOTAL);
      const mgs = new MgStreams(codes, CONNS);
      await mgs.run(gw1, KILL_AT);
      assert.equal(gw1.child.signalCode, 'SIGKILL');
      const ackedBeforeKill = new Set(mgs.acked);
      assert.ok(ackedBeforeKill.size >= KILL_AT && ackedBeforeKill.size < TOTAL, `killed mid-stream (${ackedBeforeKill.size} ACKed)`);
      const atKill = new Set(emrRows(gw1, 'K').map((r) => r.barcode));
      const backlog = [...ackedBeforeKill].filter((c) => !atKill.has(c)).length;
      const unackedInEmr = [...atKill].filter((c) => !ackedBeforeKill.has(c)).length;

      // Restart on the same data directory (on fresh ports: the killed one's may be taken by another test by now);
      // nobody resends anything yet.
      const restartAt = Date.now();
      const gw2 = await gateway(root, { dataDir });
      const startedMs = Date.now() - restartAt;
      const rows = await waitFor('the ACKed backlog in the demo EMR', () => {
        const r = emrRows(gw2, 'K');
        const have = new Set(r.map((x) => x.barcode));
        return [...ackedBeforeKill].every((c) => have.has(c)) ? r : undefined;
      }, 40000);
      const drainMs = Date.now() - restartAt;
      for (const r of rows) assert.deepEqual([r.barcode, r.rows, r.setIds], [r.barcode, 4, '1,2,3,4'], 'written exactly once');

      // The MGs reconnect and go on: each resends the result it got no ACK for, then the rest of its stream.
      await mgs.run(gw2);
      assert.equal(mgs.acked.size, TOTAL);
      const all = await waitFor('every result in the demo EMR', () => {
        const r = emrRows(gw2, 'K');
        return r.length >= TOTAL ? r : undefined;
      }, 40000);
      assert.equal(all.length, TOTAL);
      for (const r of all) assert.deepEqual([r.barcode, r.rows, r.setIds], [r.barcode, 4, '1,2,3,4'], 'written exactly once');
      // Per connection, the EMR got the results in the order the MG sent them, across the kill.
      const position = new Map(all.map((r, i) => [r.barcode, i]));
      for (const lane of mgs.lanes) {
        const order = lane.map((c) => position.get(c) as number);
        assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in order per connection');
      }
      const spool = await spoolState(gw2);
      assert.deepEqual([spool.depth, spool.dead], [0, 0]);
      const store = path.join(gw2.dataDir, STORE_FILE);
      const rewritten = query<{ n: number }>(store, `SELECT count(*) AS n FROM history WHERE status = 'delivered' AND detail = '0 rows'`)[0].n;
      const duplicates = query<{ n: number }>(store, `SELECT count(*) AS n FROM messages WHERE status = 'duplicate'`)[0].n;
      figure(`(b) ${ackedBeforeKill.size} results ACKed before kill -9 (${CONNS} connections), ${backlog} of them not yet in the EMR, ` +
        `${unackedInEmr} un-ACKed ones already there; restart ${startedMs} ms, ACKed backlog written ${drainMs} ms after the restart began; ` +
        `${rewritten} delivery repeated after the kill (EMR had it: 0 rows), ${duplicates} resent results recognised as already stored`);
    });

    it('HL7 EMR: every result ACKed before the kill reaches the EMR after the restart, in order (an MLLP receiver may get the last ones twice)', async () => {
      const emr = new FakeHl7Emr();
      await emr.start();
      cleanup.push(() => emr.dispose());
      const root = tempRoot();
      const dataDir = path.join(root, 'data');
      const flow = hl7EmrFlow({});   // the default flow's spool settings
      const env = { MGS_TEST_EMR_PORT: String(emr.port) };
      const gw1 = await gateway(root, { dataDir, flow, env });
      const codes = barcodes('H', 2000);
      const mgs = new MgStreams(codes, 4);
      await mgs.run(gw1, 1000);
      assert.equal(gw1.child.signalCode, 'SIGKILL');
      const ackedBeforeKill = [...mgs.acked];
      const atKill = new Set(emr.accepted());
      const backlog = ackedBeforeKill.filter((c) => !atKill.has(c)).length;

      const restartAt = Date.now();
      const gw2 = await gateway(root, { dataDir, flow, env });
      await waitFor('the ACKed results at the EMR', () => {
        const have = new Set(emr.accepted());
        return ackedBeforeKill.every((c) => have.has(c)) ? true : undefined;
      }, 40000);
      const drainMs = Date.now() - restartAt;
      await waitFor('an empty spool', async () => ((await spoolState(gw2)).depth === 0 ? true : undefined));
      // In order per connection (first arrival), across the kill.
      const first = new Map<string, number>();
      emr.accepted().forEach((c, i) => { if (!first.has(c)) first.set(c, i); });
      for (const lane of mgs.lanes) {
        const order = lane.filter((c) => first.has(c)).map((c) => first.get(c) as number);
        assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in order per connection');
      }
      // At least once: what the EMR got twice is what it had when the gateway died without having recorded it.
      const twice = [...first.keys()].filter((c) => emr.accepted().filter((x) => x === c).length > 1);
      for (const c of twice) assert.ok(atKill.has(c), `${c} arrived twice only because of the kill`);
      assert.equal(emr.accepted().length, first.size + twice.length);
      figure(`(b) HL7 EMR: ${ackedBeforeKill.length} ACKed before kill -9, ${backlog} of them not yet at the EMR; all there ` +
        `${drainMs} ms after the restart began; ${twice.length} delivered twice (in flight or unrecorded at the kill)`);
    });
  });

  describe('(c) the data directory becomes full or cannot be written', () => {
    /** The start of the English SPOOL_WRITE_FAILED text (the gateway runs with MGS_LANG=en-US). */
    const storeFailedText = (): string => {
      const catalog = JSON.parse(fs.readFileSync(path.join(repoRoot, 'nodes', 'shared', 'locales', 'en-US', 'gateway.json'), 'utf8')) as
        { gateway: { errors: Record<string, string> } };
      return catalog.gateway.errors.SPOOL_WRITE_FAILED.split('__')[0];
    };

    /** A NAK for a result that could not be stored: AE, an ERR segment (207 application error), the store's reason. */
    function assertStoreNak(reply: string, what: string): void {
      assertAck(reply, 'AE', what);
      assert.ok(field(reply, 'MSA', 3)?.startsWith(storeFailedText()), `${what}: MSA-3 says why: ${JSON.stringify(reply)}`);
      assert.match(field(reply, 'ERR', 1) ?? '', /207/, `${what}: ERR segment`);
    }

    /** Sets the gateway's file size limit (soft; RLIMIT_FSIZE, bytes or 'unlimited'): writes past it fail with EFBIG. */
    function fileSizeLimit(gw: Gateway, limit: number | 'unlimited'): void {
      const r = spawnSync('prlimit', ['--pid', String(gw.child.pid), `--fsize=${limit}:`], { encoding: 'utf8' });
      assert.equal(r.status, 0, `prlimit: ${r.stderr}`);
    }

    it('the store cannot grow any more (file size limit mid-stream): AE with ERR, never AA; the gateway stays up and ACKs again once there is room', async function () {
      if (spawnSync('prlimit', ['--version']).status !== 0) this.skip();   // util-linux is needed to limit a running process
      const root = tempRoot();
      const gw = await gateway(root);
      const wal = path.join(gw.dataDir, `${STORE_FILE}-wal`);

      // A first batch goes through normally.
      const codes = barcodes('F', 400);
      const client = await connect(gw.mllpPort);
      const ok: string[] = [];
      let n = 0;
      for (; n < 10; n++) {
        assertAck(await client.request(result(codes[n], n)), 'AA', `result ${codes[n]}`);
        ok.push(codes[n]);
      }
      // From now on no file of the gateway may grow past the store's write-ahead log as it is plus 768 KiB: some
      // more commits fit, then the store is full. Every result must get its AA (it was stored) or AE (it was not).
      // (Below SQLite's automatic checkpoint at 1000 pages, so the log is never emptied meanwhile.)
      const limit = fs.statSync(wal).size + 768 * 1024;
      assert.ok(limit < 4_000_000, `write-ahead log of ${limit} bytes after 10 results`);
      fileSizeLimit(gw, limit);
      const nakked: string[] = [];
      for (; n < codes.length && nakked.length === 0; n++) {
        const reply = await client.request(result(codes[n], n));
        if (field(reply, 'MSA', 1) === 'AA') { assertAck(reply, 'AA', `result ${codes[n]}`); ok.push(codes[n]); continue; }
        assertStoreNak(reply, `result ${codes[n]}`);
        nakked.push(codes[n]);
      }
      assert.equal(nakked.length, 1, 'the store became full');
      const fullAfter = ok.length - 10;
      for (const end = n + 20; n < end; n++) {
        assertStoreNak(await client.request(result(codes[n], n)), `result ${codes[n]} while full`);
        nakked.push(codes[n]);
      }
      assert.equal(gw.child.exitCode, null, 'the gateway is still running');
      const spool = await spoolState(gw);   // and its management API still answers

      // Room again: the next result is stored and ACKed, with no restart.
      fileSizeLimit(gw, 'unlimited');
      assertAck(await client.request(result(codes[n], n)), 'AA', `result ${codes[n]} after the limit was lifted`);
      ok.push(codes[n++]);
      // Nothing NAKed was queued: the spool holds none of them.
      const queuedNakked = query<{ barcode: string }>(path.join(gw.dataDir, STORE_FILE), `SELECT m.barcode AS barcode FROM spool s
        JOIN messages m ON m.id = s.message_id WHERE m.barcode IN (${nakked.map(() => '?').join(',')})`, ...nakked);
      assert.deepEqual(queuedNakked, []);
      // The MG sends the NAKed results again; now they are taken.
      for (const code of nakked) assertAck(await client.request(result(code, indexOfCode(code))), 'AA', `result ${code} resent`);

      const all = [...ok, ...nakked];
      const rows = await waitFor('every ACKed result in the demo EMR', () => {
        const r = emrRows(gw, 'F');
        return r.length >= all.length ? r : undefined;
      }, 40000);
      assert.deepEqual(rows.map((r) => r.barcode).sort(), [...all].sort());
      for (const r of rows) assert.deepEqual([r.barcode, r.rows, r.setIds], [r.barcode, 4, '1,2,3,4'], 'written exactly once');
      // Deliveries made while the store could not record them are recorded afterwards, not made again.
      await waitFor('an empty spool', async () => ((await spoolState(gw)).depth === 0 ? true : undefined), 20000);
      const repeated = query<{ n: number }>(path.join(gw.dataDir, STORE_FILE),
        `SELECT count(*) AS n FROM history WHERE status = 'delivered' AND detail = '0 rows'`)[0].n;
      assert.equal(repeated, 0, 'no result was delivered to the EMR twice');
      assert.equal(gw.child.exitCode, null);
      figure(`(c) file size limit set after 10 results: ${fullAfter} more ACKed, then AE for ${nakked.length} results in a row ` +
        `(spool depth ${spool.depth} while full); AA again at once when lifted; ${all.length} results in the EMR once each`);
    });

    it('the store cannot be opened (a directory where its file belongs): every result gets AE; fixed, AA again without a restart', async () => {
      const root = tempRoot();
      const dataDir = path.join(root, 'data');
      fs.mkdirSync(path.join(dataDir, STORE_FILE), { recursive: true });   // opening it fails, for root too (EISDIR)
      const gw = await gateway(root, { dataDir });
      const client = await connect(gw.mllpPort);
      const codes = barcodes('U', 10);
      for (let i = 0; i < 5; i++) assertStoreNak(await client.request(result(codes[i], i)), `result ${codes[i]}`);
      assert.equal(gw.child.exitCode, null, 'the gateway is still running');

      fs.rmdirSync(path.join(dataDir, STORE_FILE));
      for (let i = 0; i < codes.length; i++) {
        assertAck(await client.request(result(codes[i], i)), 'AA', `result ${codes[i]} once the store can be created`);
      }
      const rows = await waitFor('the results in the demo EMR', () => {
        const r = emrRows(gw, 'U');
        return r.length >= codes.length ? r : undefined;
      });
      assert.deepEqual(rows.map((r) => [r.barcode, r.rows]), codes.map((c) => [c, 4]));
    });
  });

  describe('(d) a poisoned message', () => {
    /** Dead letters as the management API lists them: barcode and the error that parked each. */
    async function deadLetters(gw: Gateway): Promise<[string, string][]> {
      const res = await fetch(`http://127.0.0.1:${gw.httpPort}/mgs/api/messages?status=dead`);
      assert.equal(res.status, 200);
      const body = await res.json() as { items: { barcode: string; lastError: { code: string } | null }[] };
      return body.items.map((m): [string, string] => [m.barcode, m.lastError?.code ?? '']).sort();
    }

    it('dead-letter policy: a result the EMR keeps refusing (AR) is parked after maxAttempts, one refused with AE at once; the queue goes on', async () => {
      const codes = barcodes('D', 12);
      const refused = codes[3];     // AR every time: "try again" that never succeeds
      const rejected = codes[7];    // AE: the EMR says the message itself is wrong
      const emr = new FakeHl7Emr();
      emr.answer = (barcode) => (barcode === refused ? 'AR' : barcode === rejected ? 'AE' : 'AA');
      await emr.start();
      cleanup.push(() => emr.dispose());
      const root = tempRoot();
      const gw = await gateway(root, {
        flow: hl7EmrFlow({ retryBase: 0.1, retryCap: 0.4, policy: 'dead-letter', maxAttempts: 3 }),
        env: { MGS_TEST_EMR_PORT: String(emr.port) },
      });
      const replies = await lockStep(gw.mllpPort, codes, 0);
      replies.forEach((r, i) => assertAck(r, 'AA', `result ${codes[i]}`));   // the MG's ACK never waits for the EMR

      const rest = codes.filter((c) => c !== refused && c !== rejected);
      await waitFor('the other results at the EMR', () => (emr.accepted().length >= rest.length ? true : undefined), 20000);
      assert.deepEqual(emr.accepted(), rest, 'the others delivered, in order');
      assert.equal(emr.attempts(refused), 3, 'AR: tried maxAttempts times');
      assert.equal(emr.attempts(rejected), 1, 'AE: parked at the first refusal (parkCodes MLLP_NAK:AE)');
      assert.equal(emr.log.length, rest.length + 3 + 1, 'nothing else was sent');
      const order = emr.log.map((e) => e.barcode);
      assert.ok(order.lastIndexOf(refused) < order.indexOf(codes[4]), 'the results behind it waited until it was parked');
      await waitFor('both dead letters recorded', async () => ((await spoolState(gw)).dead === 2 ? true : undefined));
      assert.deepEqual(await deadLetters(gw), [[refused, 'MLLP_NAK'], [rejected, 'MLLP_NAK']]);
      assert.equal((await spoolState(gw)).depth, 0);
    });

    it('block policy: a result the EMR keeps refusing (AR) holds the queue past maxAttempts; once accepted, the rest follow in order', async () => {
      const codes = barcodes('B', 8);
      const refused = codes[2];
      const rejected = codes[5];
      let released = false;
      const emr = new FakeHl7Emr();
      emr.answer = (barcode) => (barcode === refused && !released ? 'AR' : barcode === rejected ? 'AE' : 'AA');
      await emr.start();
      cleanup.push(() => emr.dispose());
      const root = tempRoot();
      const gw = await gateway(root, {
        flow: hl7EmrFlow({ retryBase: 0.1, retryCap: 0.4, policy: 'block', maxAttempts: 3 }),
        env: { MGS_TEST_EMR_PORT: String(emr.port) },
      });
      const replies = await lockStep(gw.mllpPort, codes, 0);
      replies.forEach((r, i) => assertAck(r, 'AA', `result ${codes[i]}`));

      await waitFor('the refused result tried twice maxAttempts', () => (emr.attempts(refused) >= 6 ? true : undefined), 20000);
      assert.deepEqual(emr.accepted(), codes.slice(0, 2), 'nothing behind the refused result went');
      const held = await spoolState(gw);
      assert.deepEqual([held.depth, held.dead], [codes.length - 2, 0]);
      assert.deepEqual(emr.log.slice(2).map((e) => [e.barcode, e.answer]), emr.log.slice(2).map(() => [refused, 'AR']));

      released = true;   // the EMR is fixed: it takes the result now
      const rest = codes.filter((c) => c !== rejected);
      await waitFor('the queue drained', () => (emr.accepted().length >= rest.length ? true : undefined), 20000);
      assert.deepEqual(emr.accepted(), rest, 'in order, each once');
      assert.equal(emr.attempts(rejected), 1, 'an AE is parked at once under "block" too (parkCodes)');
      await waitFor('the AE recorded as a dead letter', async () => ((await spoolState(gw)).dead === 1 ? true : undefined));
      assert.deepEqual(await deadLetters(gw), [[rejected, 'MLLP_NAK']]);
      assert.equal((await spoolState(gw)).depth, 0);
      figure(`(d) block: the refused result was tried ${emr.attempts(refused)} times (${emr.attempts(refused) - 1} AR) while ${codes.length - 3} waited behind it`);
    });

    it('dead-letter policy with the demo EMR: a result an EMR rule rejects (EMR_QUERY_FAILED) is parked after the flow\'s maxAttempts; the rest are written', async () => {
      // The default flow as it ships (maxAttempts 5), with retries 0.1-0.4 s apart instead of 1-60 s.
      const flow = withSpool(defaultFlow(), { retryBase: 0.1, retryCap: 0.4 });
      const maxAttempts = Number(resultPath(flow).spool.maxAttempts);
      const root = tempRoot();
      const gw = await gateway(root, { flow });
      const codes = barcodes('R', 8);
      const poisoned = codes[2];
      // A rule inside the EMR database refuses this one result, as a hospital's validation trigger would.
      const db = new Database(path.join(gw.dataDir, EMR_FILE), { fileMustExist: true });
      db.exec(`CREATE TRIGGER reject_result BEFORE INSERT ON results WHEN NEW.barcode = '${poisoned}'
        BEGIN SELECT RAISE(ABORT, 'result refused by an EMR rule'); END`);
      db.close();

      const replies = await lockStep(gw.mllpPort, codes, 0);
      replies.forEach((r, i) => assertAck(r, 'AA', `result ${codes[i]}`));
      await waitFor('the dead letter', async () => ((await spoolState(gw)).dead === 1 ? true : undefined));
      const rest = codes.filter((c) => c !== poisoned);
      const rows = await waitFor('the other results in the demo EMR', () => {
        const r = emrRows(gw, 'R');
        return r.length >= rest.length ? r : undefined;
      });
      assert.deepEqual(rows.map((r) => [r.barcode, r.rows]), rest.map((c) => [c, 4]), 'the others written in order; none of the refused one (all or nothing)');
      const failed = history(gw, 'failed').filter((h) => h.barcode === poisoned);
      assert.deepEqual(failed.map((h) => h.attempt), Array.from({ length: maxAttempts - 1 }, (_, i) => i + 1));
      for (const f of failed) assert.match(f.detail, /^EMR_QUERY_FAILED: /);
      assert.deepEqual(history(gw, 'dead').map((h) => [h.barcode, h.attempt]), [[poisoned, maxAttempts]]);
      assert.deepEqual(await deadLetters(gw), [[poisoned, 'EMR_QUERY_FAILED']]);
      assert.equal((await spoolState(gw)).depth, 0);
    });
  });
});

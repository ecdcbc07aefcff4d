// SPDX-License-Identifier: Apache-2.0
// The project's MLLP load generator: K connections, lock-step (one message in flight per connection, as devices
// do) or pipelined (several in flight), a unique id per message, replies matched by MSA-2 or in order, a latency
// record of every measured message, and every failure counted. Used by bench/run.ts; also a small CLI:
//   node dist/bench/load.js --port 2575 [--host 127.0.0.1] [--conns 10] [--pipeline 1] [--count 10000]
//        [--warmup 1000] [--max-seconds 30] [--timeout 5000] [--file msg.hl7] [--match control-id|order]
import * as fs from 'node:fs';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';

const VT = 0x0b, FS = 0x1c, CR = 0x0d;

/** A 10-segment ORU^R01 result, used when no template is given. `{{ID}}` marks where the unique id goes. */
export const DEFAULT_TEMPLATE = [
  'MSH|^~\\&|LIS|LAB|MGS|HOSP|20240101120000||ORU^R01|{{ID}}|P|2.3',
  'PID|||107558^E024^1234|DOE^JANE||19800101|F',
  'PV1||I|WARD3^301',
  'OBR|1|ORD1|LAB1|CBC|||20240101110000',
  'OBX|1|NM|6690-2^WBC^LN||7.2|10*3/uL|4.0-11.0|N|||F',
  'OBX|2|NM|789-8^RBC^LN||4.65|10*6/uL|3.80-5.20|N|||F',
  'OBX|3|NM|718-7^HGB^LN||13.8|g/dL|12.0-16.0|N|||F',
  'OBX|4|NM|4544-3^HCT^LN||41.2|%|36.0-46.0|N|||F',
  'OBX|5|NM|787-2^MCV^LN||88.6|fL|80.0-100.0|N|||F',
  'OBX|6|NM|777-3^PLT^LN||245|10*3/uL|150-400|N|||F',
].join('\r') + '\r';

/** How a reply is paired with the message it answers. */
export type MatchMode =
  /** MSA-2 must equal the message's own MSH-10 (each message gets a unique MSH-10). */
  | 'control-id'
  /** The next reply on a connection answers the oldest message in flight there (MSH-10 kept as in the template). */
  | 'order';

export interface LoadOptions {
  host?: string;
  port: number;
  /** Parallel TCP connections. */
  conns: number;
  /** Messages in flight per connection; 1 = lock-step (send, wait for the reply, send the next). */
  pipeline?: number;
  /** Messages in the measured phase, shared by all connections. */
  count: number;
  /** Messages sent first over the same connections and not measured (JIT, caches, pools). */
  warmup?: number;
  /** Stop issuing new measured messages after this long (the run stays bounded on a slow system). */
  maxSeconds?: number;
  /** The same for the warm-up (default: the smaller of 2 s and maxSeconds). */
  warmupSeconds?: number;
  /** A message without a reply after this long is an error; its connection is dropped and reopened. */
  timeoutMs?: number;
  /** HL7 text; `{{ID}}` is replaced by a unique id per message, `{{SEQ}}` by a sequence number. */
  template?: string;
  /** 'control-id' (default) puts the unique id into MSH-10 if the template has no `{{ID}}`. */
  match?: MatchMode;
  /** Validates a reply; returns null when it is right, else a short reason. Default: an ACK with MSA-1 AA or CA. */
  check?: (reply: Buffer) => string | null;
  /** Called right before the measured phase starts and right after it ends (all replies in). */
  onMeasureStart?: () => void;
  onMeasureEnd?: () => void;
  /** Progress lines on stderr every few seconds. */
  progress?: boolean;
}

export interface LoadResult {
  conns: number;
  pipeline: number;
  count: number;
  sent: number;
  ok: number;
  errors: number;
  /** Error breakdown: reply with MSA-1 other than AA/CA, or failing `check`. */
  naks: number;
  /** Reply whose MSA-2 matches nothing in flight on that connection. */
  mismatches: number;
  timeouts: number;
  /** Messages lost with a connection that closed or failed. */
  dropped: number;
  /** Connections the server closed before sending any reply on them (e.g. over its connection limit). */
  refused: number;
  connectFailures: number;
  reconnects: number;
  /** First few distinct error reasons, for the report. */
  reasons: string[];
  seconds: number;
  perSecond: number;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  meanMs: number | null;
  /** CPU time of the load generator's process during the measured phase. */
  clientCpuMs: number;
  /** Errors during the (unmeasured) warm-up. */
  warmupErrors: number;
}

/** Splits MLLP frames out of a byte stream; a frame is what lies between 0x0B and 0x1C (the CR after 0x1C is skipped). */
export class Deframer {
  private rest: Buffer | null = null;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const b = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const s = b.indexOf(VT, pos);
      if (s < 0) { this.rest = null; break; }
      const e = b.indexOf(FS, s + 1);
      if (e < 0) { this.rest = Buffer.from(b.subarray(s)); break; }
      out.push(b.subarray(s + 1, e));
      pos = e + 1;
    }
    return out;
  }
}

/** Reads MSA-1 and MSA-2 from a reply frame without decoding the whole message. */
export function readMsa(frame: Buffer): { code: string; id: string } | null {
  let i = frame.indexOf('MSA');
  while (i > 0 && frame[i - 1] !== CR && frame[i - 1] !== 0x0a) i = frame.indexOf('MSA', i + 3);
  if (i < 0) return null;
  const sep = frame[i + 3];
  let end = frame.indexOf(CR, i);
  if (end < 0) end = frame.length;
  const f = frame.toString('latin1', i, end).split(String.fromCharCode(sep));
  return { code: f[1] ?? '', id: f[2] ?? '' };
}

/** The default reply check: an ACK (MSA segment present) with MSA-1 AA or CA. */
export function expectAccept(reply: Buffer): string | null {
  const msa = readMsa(reply);
  if (!msa) return 'reply without MSA';
  return msa.code === 'AA' || msa.code === 'CA' ? null : `MSA-1 ${msa.code}`;
}

interface Template { parts: Buffer[]; slots: Array<'id' | 'seq'> }

/** Prepares the template: segments ended by CR, MSH-10 turned into an `{{ID}}` slot when matching by control id. */
export function compileTemplate(text: string, match: MatchMode): Template {
  let t = text.replace(/\r\n|\n/g, '\r').replace(/[\x0b\x1c]/g, '');
  if (!t.startsWith('MSH')) throw new Error('template must start with MSH');
  if (!t.endsWith('\r')) t += '\r';
  if (match === 'control-id' && !t.includes('{{ID}}')) {
    const sep = t[3];
    const end = t.indexOf('\r');
    const msh = t.slice(0, end).split(sep);
    while (msh.length < 12) msh.push('');
    msh[9] = '{{ID}}';
    t = msh.join(sep) + t.slice(end);
  }
  const parts: Buffer[] = [];
  const slots: Array<'id' | 'seq'> = [];
  const re = /\{\{(ID|SEQ)\}\}/g;
  let last = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    parts.push(Buffer.from(t.slice(last, m.index), 'utf8'));
    slots.push(m[1] === 'ID' ? 'id' : 'seq');
    last = m.index + m[0].length;
  }
  parts.push(Buffer.from(t.slice(last), 'utf8'));
  parts[0] = Buffer.concat([Buffer.from([VT]), parts[0]]);
  parts[parts.length - 1] = Buffer.concat([parts[parts.length - 1], Buffer.from([FS, CR])]);
  return { parts, slots };
}

function buildFrame(t: Template, id: string, seq: number): Buffer {
  if (t.slots.length === 0) return t.parts[0];
  const list: Buffer[] = [t.parts[0]];
  for (let i = 0; i < t.slots.length; i++) {
    list.push(Buffer.from(t.slots[i] === 'id' ? id : String(seq), 'latin1'), t.parts[i + 1]);
  }
  return Buffer.concat(list);
}

/** Value at percentile p (0..100) of an ascending array, nearest-rank. */
export function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

interface Conn {
  sock: net.Socket | null;
  deframer: Deframer;
  /** In flight, oldest first: [id, sentAt]. */
  inflight: Map<string, number>;
  alive: boolean;
  /** Replies received since this socket was opened (0 at a close = the server refused or dropped it at once). */
  replies: number;
}

function connect(host: string, port: number, timeoutMs: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => { s.destroy(); resolve(null); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.setNoDelay(true); s.removeAllListeners('error'); resolve(s); });
    s.once('error', () => { clearTimeout(t); resolve(null); });
  });
}

/** Runs one bounded load: connects K sockets, optionally warms up, then sends `count` messages and collects every reply. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const o = {
    host: '127.0.0.1', pipeline: 1, warmup: 0, maxSeconds: 0, timeoutMs: 10000, match: 'control-id' as MatchMode,
    template: DEFAULT_TEMPLATE, check: expectAccept, progress: false, ...options,
  };
  if (o.conns < 1 || o.pipeline < 1 || o.count < 0) throw new Error('conns and pipeline must be >= 1, count >= 0');
  const tpl = compileTemplate(o.template, o.match);
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  let seq = 0;

  let connectFailures = 0;
  let reconnects = 0;
  const conns: Conn[] = await Promise.all(Array.from({ length: o.conns }, async () => {
    const sock = await connect(o.host, o.port, o.timeoutMs);
    if (!sock) connectFailures++;
    return { sock, deframer: new Deframer(), inflight: new Map<string, number>(), alive: sock !== null, replies: 0 };
  }));

  async function phase(total: number, measured: boolean, capSeconds: number): Promise<Omit<LoadResult, 'conns' | 'pipeline' | 'count' |
    'connectFailures' | 'reconnects' | 'clientCpuMs' | 'warmupErrors'>> {
    const lat = new Float64Array(Math.max(1, total));
    let nLat = 0, sumLat = 0;
    let sent = 0, ok = 0, naks = 0, mismatches = 0, timeouts = 0, dropped = 0, refused = 0;
    const reasons = new Set<string>();
    const note = (r: string): void => { if (reasons.size < 5) reasons.add(r); };
    let issued = 0;
    let inflightTotal = 0;
    const t0 = performance.now();
    const stopIssuingAt = capSeconds > 0 ? t0 + capSeconds * 1000 : Infinity;
    let lastProgress = t0;

    return await new Promise((resolve) => {
      let finished = false;
      const mayIssue = (): boolean => issued < total && performance.now() < stopIssuingAt;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearInterval(sweep);
        for (const t of timers) clearTimeout(t);
        const seconds = (performance.now() - t0) / 1000;
        const sorted = lat.subarray(0, nLat).sort();
        resolve({
          sent, ok, errors: sent - ok, naks, mismatches, timeouts, dropped, refused, reasons: [...reasons], seconds,
          perSecond: seconds > 0 ? ok / seconds : 0,
          p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99),
          maxMs: nLat ? sorted[nLat - 1] : null, meanMs: nLat ? sumLat / nLat : null,
        });
      };
      let pendingReconnects = 0;
      const timers = new Set<NodeJS.Timeout>();
      const checkDone = (): void => {
        if (inflightTotal > 0) return;
        if (!mayIssue() || (pendingReconnects === 0 && conns.every((c) => !c.alive))) finish();
      };
      const fill = (c: Conn): void => {
        if (!c.alive || !c.sock) return;
        const sock = c.sock;
        let corked = false;
        while (c.inflight.size < o.pipeline && mayIssue()) {
          issued++;
          seq++;
          const id = `${tag}-${seq}`;
          const frame = buildFrame(tpl, id, seq);
          if (o.pipeline > 1 && !corked) { sock.cork(); corked = true; }
          c.inflight.set(id, performance.now());
          inflightTotal++;
          sent++;
          sock.write(frame);
        }
        if (corked) sock.uncork();
      };
      const settle = (c: Conn, id: string, sentAt: number, good: boolean): void => {
        c.inflight.delete(id);
        inflightTotal--;
        if (!good) return;
        ok++;
        const ms = performance.now() - sentAt;
        if (nLat < lat.length) { lat[nLat++] = ms; sumLat += ms; }
      };
      /**
       * Drops a connection: what it had in flight is lost; a fresh one replaces it while there is work left, after a
       * pause (a device does not hammer a server that just closed on it).
       */
      const drop = (c: Conn, why: 'timeout' | 'closed'): void => {
        if (!c.alive) return;
        c.alive = false;
        const lost = c.inflight.size;
        if (why === 'timeout') {
          timeouts += lost;
          if (lost) note('reply timeout');
        } else if (c.replies === 0) {
          refused++;
          dropped += lost;
          note('connection closed by the server before any reply (connection limit?)');
        } else {
          dropped += lost;
          if (lost) note('connection closed with messages in flight');
        }
        inflightTotal -= lost;
        c.inflight.clear();
        c.sock?.destroy();
        c.sock = null;
        if (mayIssue()) {
          reconnects++;
          const t = setTimeout(() => {
            timers.delete(t);
            void connect(o.host, o.port, o.timeoutMs).then((s) => {
              if (!s) { connectFailures++; pendingReconnects--; checkDone(); return; }
              pendingReconnects--;
              if (finished) { s.destroy(); return; }
              attach(c, s);
              fill(c);
              checkDone();
            });
          }, 250);
          timers.add(t);
          pendingReconnects++;
        }
        checkDone();
      };
      const onFrame = (c: Conn, frame: Buffer): void => {
        c.replies++;
        let entry: [string, number] | undefined;
        if (o.match === 'order') {
          const first = c.inflight.entries().next();
          if (first.done) { mismatches++; note('reply with nothing in flight'); return; }
          entry = first.value;
        } else {
          const msa = readMsa(frame);
          const t = msa ? c.inflight.get(msa.id) : undefined;
          if (!msa || t === undefined) {
            mismatches++;
            note(msa ? 'MSA-2 matches no message in flight' : 'reply without MSA');
            // replies come in order on a connection: the oldest message in flight has had its answer
            const first = c.inflight.entries().next();
            if (!first.done) settle(c, first.value[0], first.value[1], false);
            return;
          }
          entry = [msa.id, t];
        }
        const bad = o.check(frame);
        if (bad) { naks++; note(bad); }
        settle(c, entry[0], entry[1], bad === null);
      };
      const attach = (c: Conn, sock: net.Socket): void => {
        c.sock = sock;
        c.deframer = new Deframer();
        c.alive = true;
        c.replies = 0;
        sock.removeAllListeners('data');
        sock.removeAllListeners('close');
        sock.removeAllListeners('error');
        sock.on('data', (chunk: Buffer) => {
          if (c.sock !== sock) return;
          for (const f of c.deframer.push(chunk)) onFrame(c, f);
          fill(c);
          checkDone();
        });
        sock.on('error', () => { /* followed by close */ });
        sock.on('close', () => { if (c.sock === sock) drop(c, 'closed'); });
        // closed before this phase listened (e.g. refused at once over a connection limit)
        if (sock.destroyed || sock.readyState !== 'open') setImmediate(() => { if (c.sock === sock) drop(c, 'closed'); });
      };
      for (const c of conns) if (c.sock) attach(c, c.sock);

      const sweep = setInterval(() => {
        const now = performance.now();
        for (const c of conns) {
          const first = c.inflight.values().next();
          if (!first.done && now - first.value > o.timeoutMs) drop(c, 'timeout');
        }
        if (o.progress && measured && now - lastProgress > 3000) {
          lastProgress = now;
          process.stderr.write(`    ${((now - t0) / 1000).toFixed(0)} s: ${ok} replies\n`);
        }
        checkDone();
      }, Math.max(20, Math.min(200, o.timeoutMs / 5)));
      for (const c of conns) fill(c);
      checkDone();
    });
  }

  let warmupErrors = 0;
  if (o.warmup > 0) {
    const w = await phase(o.warmup, false, o.warmupSeconds ?? (o.maxSeconds > 0 ? Math.min(2, o.maxSeconds) : 2));
    warmupErrors = w.errors;
    // a connection lost during the warm-up is reopened, so the measured phase runs with all K
    await Promise.all(conns.filter((c) => !c.alive).map(async (c) => {
      const s = await connect(o.host, o.port, o.timeoutMs);
      if (!s) { connectFailures++; return; }
      reconnects++;
      c.sock = s;
      c.alive = true;
      c.replies = 0;
    }));
  }
  o.onMeasureStart?.();
  const cpu0 = process.cpuUsage();
  const r = await phase(o.count, true, o.maxSeconds);
  const cpu = process.cpuUsage(cpu0);
  o.onMeasureEnd?.();
  for (const c of conns) c.sock?.destroy();
  return {
    conns: o.conns, pipeline: o.pipeline, count: o.count, ...r,
    errors: r.errors + connectFailures, connectFailures, reconnects,
    clientCpuMs: (cpu.user + cpu.system) / 1000, warmupErrors,
  };
}

function parseCli(argv: string[]): LoadOptions {
  const o: LoadOptions = { port: 2575, conns: 1, count: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    const v = argv[++i];
    if (v === undefined) throw new Error(`missing value for ${key}`);
    const num = (): number => { const n = Number(v); if (!Number.isFinite(n)) throw new Error(`bad number for ${key}`); return n; };
    switch (key) {
      case '--host': o.host = v; break;
      case '--port': o.port = num(); break;
      case '--conns': o.conns = num(); break;
      case '--pipeline': o.pipeline = num(); break;
      case '--count': o.count = num(); break;
      case '--warmup': o.warmup = num(); break;
      case '--max-seconds': o.maxSeconds = num(); break;
      case '--timeout': o.timeoutMs = num(); break;
      case '--file': o.template = fs.readFileSync(v, 'utf8'); break;
      case '--match': if (v !== 'control-id' && v !== 'order') throw new Error('--match control-id|order'); o.match = v; break;
      default: throw new Error(`unknown option ${key}`);
    }
  }
  return o;
}

if (require.main === module) {
  let opts: LoadOptions;
  try { opts = parseCli(process.argv.slice(2)); } catch (e) { console.error((e as Error).message); process.exit(2); }
  runLoad({ ...opts, progress: true }).then((r) => {
    console.log(JSON.stringify(r));
    process.exitCode = r.errors === 0 && r.ok > 0 ? 0 : 1;
  }, (e: unknown) => { console.error(e); process.exitCode = 1; });
}

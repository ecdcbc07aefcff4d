// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from 'node-red';
import { GatewayError } from '../../lib/errors';
import {
  DEFAULT_PARK_CODES, DEFAULT_TRANSIENT_CODES, decideFailure, parseCodeList, retryDelay, type ErrorInfo, type FailurePolicy, type RetryPolicy,
  type SpoolController, type SpoolEntry, type Store,
} from '../../lib/store';
import { openGatewayStore, registerApi } from '../shared/api';
import { reportConfigFailure } from '../shared/config-failure';
import { reportFailure } from '../shared/report';

/** Editor configuration. Times are in seconds, as the dialog shows them. */
interface Hl7SpoolDef extends NodeDef {
  destination: string;       // queue name, unique per gateway (e.g. 'emr')
  maxRate: number | string;  // messages per second handed downstream (0 = no limit)
  window: number | string;   // messages awaiting their outcome at once (1 = strict order)
  timeout: number | string;  // s without an outcome = failed attempt (SPOOL_TIMEOUT)
  retryBase: number | string;   // s, first retry delay (doubles each attempt)
  retryCap: number | string;    // s, longest retry delay
  policy: FailurePolicy;        // 'block' | 'dead-letter'
  maxAttempts: number | string; // dead-letter after this many failures that blame the message
  transientCodes: string;       // error codes that mean "destination down": retried for ever
  parkCodes: string;            // failures parked at once for staff: 'CODE' or 'CODE:SUBCODE' (msg.error.params.code)
  dedupe: 'content' | 'off';    // 'content': a resent result (same idempotency key) is ACKed but not queued again
}

interface Config {
  destination: string; maxRate: number; window: number; timeoutMs: number; dedupe: boolean; retry: RetryPolicy;
}

/** What the spool puts on the messages it hands downstream; the outcome must come back with it. */
interface SpoolTag { id: number; messageId: number; destination: string; attempt: number; key: string | null; state?: 'dead' }

type SpoolMsg = NodeMessage & {
  spool?: Partial<SpoolTag>; store?: { id?: unknown }; error?: { code?: unknown; message?: unknown } | unknown;
  spoolCommand?: unknown; idempotencyKey?: unknown; kind?: unknown; mllp?: { remoteAddress?: unknown; remotePort?: unknown };
};

interface InFlight { attempt: number; timer: NodeJS.Timeout; entry: SpoolEntry }

/** A delivery the destination has but the store has not recorded yet (its write failed: disk full, I/O error). */
interface Unrecorded { attempt: number; detail: string | null; tries: number; writing: boolean; timer: NodeJS.Timeout | null }

const DESTINATION = /^[A-Za-z0-9_.:-]{1,64}$/;
const STATUS_TICK_MS = 5000;
/**
 * While the destination is down only the head probes it, and a probe is cheap: its back-off stops growing here
 * (when retryCap is longer), so a backlog starts to drain within seconds of the destination's return.
 */
const PROBE_CAP_MS = 5000;

function num(v: unknown, name: string, min: number, max: number, integer = false): number {
  const n = typeof v === 'number' ? v : Number(String(v ?? '').trim());
  if (String(v ?? '').trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new GatewayError('CONFIG_INVALID', { detail: `${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}` });
  }
  return n;
}

function parseConfig(c: Hl7SpoolDef): Config {
  const destination = String(c.destination ?? '').trim();
  if (!DESTINATION.test(destination)) {
    throw new GatewayError('CONFIG_INVALID', { detail: 'destination: 1-64 letters, digits, _ . : -' });
  }
  if (c.policy !== 'block' && c.policy !== 'dead-letter') throw new GatewayError('CONFIG_INVALID', { detail: 'policy: block or dead-letter' });
  const baseMs = num(c.retryBase, 'retryBase', 0.001, 86400) * 1000;
  const capMs = num(c.retryCap, 'retryCap', 0.001, 86400) * 1000;
  if (capMs < baseMs) throw new GatewayError('CONFIG_INVALID', { detail: 'retryCap must not be below retryBase' });
  return {
    destination,
    maxRate: num(c.maxRate, 'maxRate', 0, 100000),
    window: num(c.window, 'window', 1, 1000, true),
    timeoutMs: num(c.timeout, 'timeout', 0.001, 86400) * 1000,
    dedupe: (c.dedupe ?? 'content') !== 'off',
    retry: {
      baseMs, capMs, jitter: 0.2, policy: c.policy, maxAttempts: num(c.maxAttempts, 'maxAttempts', 1, 1000000, true),
      transientCodes: c.transientCodes === undefined ? new Set(DEFAULT_TRANSIENT_CODES) : parseCodeList(c.transientCodes),
      parkCodes: c.parkCodes === undefined ? new Set(DEFAULT_PARK_CODES) : parseCodeList(c.parkCodes),
    },
  };
}

/** msg properties kept with the message and restored on every delivery (payload is stored as text). */
function snapshot(msg: SpoolMsg): string | null {
  const keep: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) {
    if (k.startsWith('_') || ['payload', 'error', 'spool', 'store', 'spoolCommand', 'req', 'res'].includes(k)) continue;
    keep[k] = v;
  }
  try {
    return JSON.stringify(keep);
  } catch {
    // circular or exotic values: keep what the EMR side needs to route
    return JSON.stringify({ topic: msg.topic, hl7: (msg as Record<string, unknown>).hl7, kind: msg.kind });
  }
}

function revive(_k: string, v: unknown): unknown {
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return Buffer.from((v as { data: number[] }).data);
  }
  return v;
}

/** The failure an outcome reports: msg.error's code and message, and params.code (e.g. AE of an MLLP_NAK). */
function errorInfo(e: unknown): ErrorInfo & { subCode?: string } {
  if (e && typeof e === 'object') {
    const o = e as { code?: unknown; message?: unknown; params?: { code?: unknown } };
    const sub = o.params && typeof o.params === 'object' && typeof o.params.code === 'string' ? o.params.code : undefined;
    return { code: typeof o.code === 'string' && o.code ? o.code : 'DELIVERY_FAILED', message: String(o.message ?? ''),
      ...(sub ? { subCode: sub } : {}) };
  }
  return { code: 'DELIVERY_FAILED', message: String(e) };
}

/** What the EMR side reports about a delivery, kept in the message's history (case 23: the MSH-10 it was forwarded with). */
function outcomeDetail(msg: SpoolMsg): string | null {
  const m = msg as { mllpOut?: { controlId?: unknown }; emrWrite?: { rows?: unknown } };
  const parts: string[] = [];
  if (typeof m.mllpOut?.controlId === 'string' && m.mllpOut.controlId) parts.push(`MSH-10 ${m.mllpOut.controlId}`);
  if (typeof m.emrWrite?.rows === 'number') parts.push(`${m.emrWrite.rows} rows`);
  return parts.length ? parts.join(', ') : null;
}

/** Compact age for the status line: 45s, 3m, 2h, 4d. */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export = function (RED: NodeAPI): void {
  registerApi(RED);

  function Hl7SpoolNode(this: Node, config: Hl7SpoolDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let cfg: Config;
    let store: Store;
    try {
      cfg = parseConfig(config);
      store = openGatewayStore(RED);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }
    const dest = cfg.destination;
    const actor = `hl7-spool:${node.id}`;

    const inflight = new Map<number, InFlight>();
    const failing = new Set<number>();        // failure being recorded: nothing behind it may go yet
    const unrecorded = new Map<number, Unrecorded>();   // delivered, not yet recorded: never resend, record again
    const localNextAt = new Map<number, number>();   // back-off known here (also when its write failed)
    let closed = false;
    let paused = false;
    let transientFailures = 0;                // consecutive "destination down" failures
    let lastFailure: ErrorInfo | null = null;
    /** Rate limit: when the next message may go (sends within the same millisecond share the rate's budget). */
    let nextSendAt = 0;
    let wakeTimer: NodeJS.Timeout | null = null;
    let pumpQueued = false;
    let wakeAt = 0;
    let statusTimer: NodeJS.Timeout | null = null;
    let readError: string | null = null;

    const controller: SpoolController = {
      kick: () => pump(),
      state: () => ({ state: stateName(), inFlight: inflight.size, consecutiveFailures: transientFailures, paused, lastError: lastFailure }),
    };
    try {
      store.claim(dest, controller);
    } catch (err) {
      store.release();
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    function stateName(): string {
      if (paused) return 'paused';
      if (transientFailures >= 3) return 'failing';
      if (transientFailures > 0 || localNextAt.size > 0) return 'retrying';
      return inflight.size > 0 || depthCache > 0 ? 'backlog' : 'idle';
    }

    // ------------------------------------------------------------ status
    let depthCache = 0;
    let statusPending = false;
    function updateStatus(): void {
      if (statusPending || closed) return;
      statusPending = true;
      setTimeout(() => { statusPending = false; if (!closed) showStatus(); }, 200).unref();
    }
    function showStatus(): void {
      let depth = 0;
      let oldestAt: number | null = null;
      try {
        const s = store.spoolStats(dest)[0];
        depth = s?.depth ?? 0;
        oldestAt = s?.oldestAt ?? null;
      } catch {
        return;   // the read error is reported by pump()
      }
      depthCache = depth;
      const params = { depth, age: oldestAt === null ? '0s' : age(Date.now() - oldestAt) };
      const st = stateName();
      if (st === 'paused') node.status({ fill: 'yellow', shape: 'ring', text: RED._('hl7-spool.status.paused', params) });
      else if (st === 'failing') node.status({ fill: 'red', shape: 'ring', text: RED._('hl7-spool.status.failing', params) });
      else if (st === 'retrying') node.status({ fill: 'yellow', shape: 'ring', text: RED._('hl7-spool.status.retrying', params) });
      else if (depth > 0) node.status({ fill: 'yellow', shape: 'dot', text: RED._('hl7-spool.status.backlog', params) });
      else node.status({ fill: 'green', shape: 'dot', text: RED._('hl7-spool.status.idle', params) });
    }

    // ------------------------------------------------------------ delivery
    function wake(ms: number): void {
      const at = Date.now() + Math.max(1, ms);
      if (wakeTimer && wakeAt <= at) return;
      if (wakeTimer) clearTimeout(wakeTimer);
      wakeAt = at;
      wakeTimer = setTimeout(() => { wakeTimer = null; pump(); }, Math.max(1, ms));
    }

    /**
     * pump() once after the current burst of outcomes and arrivals: each pump reads the queue head from the
     * store, and outcomes come back in bursts (several deliveries in flight share one EMR commit).
     */
    function pumpSoon(): void {
      if (pumpQueued) return;
      pumpQueued = true;
      setImmediate(() => { pumpQueued = false; pump(); });
    }

    /** Hands the next due messages downstream, in FIFO order, within the window and the rate. */
    function pump(): void {
      if (closed || paused) return;
      // while the destination is failing, one message at a time probes it
      const window = transientFailures > 0 ? 1 : cfg.window;
      if (inflight.size >= window) return;
      let rows: SpoolEntry[];
      try {
        rows = store.spoolHead(dest, window + inflight.size + unrecorded.size + failing.size);
        if (readError !== null) { readError = null; updateStatus(); }
      } catch (err) {
        const text = err instanceof Error ? err.message : String(err);
        if (readError !== text) { readError = text; reportFailure(RED, node, err, {}); }
        return;   // the status tick tries again
      }
      // FIFO: a back-off kept for a message before the head is for one no longer queued (delivered, parked)
      for (const seq of localNextAt.keys()) if (rows.length === 0 || seq < rows[0].seq) localNextAt.delete(seq);
      const gap = cfg.maxRate > 0 ? 1000 / cfg.maxRate : 0;
      for (const row of rows) {
        if (inflight.has(row.seq) || unrecorded.has(row.seq)) continue;
        if (failing.has(row.seq)) break;
        if (inflight.size >= window) break;
        const now = Date.now();
        const due = localNextAt.get(row.seq) ?? row.nextAt;
        if (due > now) { wake(due - now); break; }
        if (gap > 0 && nextSendAt > now) { wake(nextSendAt - now); break; }
        deliver(row);
        // at most `maxRate` a second on average, in bursts of at most a millisecond's worth (Date.now's grain)
        if (gap > 0) nextSendAt = Math.max(nextSendAt, now - 1) + gap;
      }
      updateStatus();
    }

    function deliver(row: SpoolEntry): void {
      const attempt = row.attempts + 1;
      let meta: Record<string, unknown> = {};
      try { meta = row.meta ? JSON.parse(row.meta, revive) as Record<string, unknown> : {}; } catch { meta = {}; }
      const tag: SpoolTag = { id: row.seq, messageId: row.messageId, destination: dest, attempt, key: row.key };
      const msg: SpoolMsg = { ...meta, payload: row.text, topic: (meta.topic as string | undefined) ?? row.type ?? undefined,
        spool: tag, store: { id: row.messageId } };
      const timer = setTimeout(() => onTimeout(row.seq, attempt), cfg.timeoutMs);
      inflight.set(row.seq, { attempt, timer, entry: row });
      node.send([null, msg, null]);
    }

    function onTimeout(seq: number, attempt: number): void {
      const f = inflight.get(seq);
      if (!f || f.attempt !== attempt || closed) return;
      inflight.delete(seq);
      void recordFailure(f.entry, attempt, { code: 'SPOOL_TIMEOUT', message: `no outcome within ${cfg.timeoutMs} ms` });
    }

    async function recordFailure(row: SpoolEntry, attempt: number, failure: ErrorInfo & { subCode?: string }): Promise<void> {
      failing.add(row.seq);
      const error: ErrorInfo = { code: failure.code, message: failure.message };
      const d = decideFailure(attempt, row.failures, failure.code, cfg.retry, Math.random, failure.subCode);
      const transient = cfg.retry.transientCodes.has(failure.code);
      const wasHealthy = transientFailures === 0;
      transientFailures = transient ? transientFailures + 1 : 0;
      lastFailure = error;
      if (transient && wasHealthy) node.warn(RED._('hl7-spool.log.failing', { destination: dest, code: failure.code }));
      try {
        if (d.action === 'dead') {
          localNextAt.delete(row.seq);
          const r = await store.dead(row.seq, { attempts: attempt, failures: d.failures, error, actor });
          if (r.changed) {
            node.warn(RED._('hl7-spool.log.dead', { destination: dest, seq: row.seq, type: row.type ?? '', controlId: row.controlId ?? '', code: error.code }));
            node.send([null, null, deadLetter(row, attempt, error)]);
          }
        } else {
          const nextAt = Date.now() + (transient ? Math.min(d.delayMs, PROBE_CAP_MS) : d.delayMs);
          localNextAt.set(row.seq, nextAt);
          await store.failed(row.seq, { attempts: attempt, failures: d.failures, nextAt, error, actor });
        }
      } catch (err) {
        // the back-off stays in memory; the next attempt will record its own outcome
        if (d.action === 'dead') localNextAt.set(row.seq, Date.now() + cfg.retry.capMs);
        reportFailure(RED, node, err, {});
      } finally {
        failing.delete(row.seq);
        pumpSoon();
      }
    }

    function deadLetter(row: SpoolEntry, attempt: number, error: ErrorInfo): SpoolMsg {
      let meta: Record<string, unknown> = {};
      try { meta = row.meta ? JSON.parse(row.meta, revive) as Record<string, unknown> : {}; } catch { meta = {}; }
      return { ...meta, payload: row.text, topic: (meta.topic as string | undefined) ?? row.type ?? undefined,
        spool: { id: row.seq, messageId: row.messageId, destination: dest, attempt, key: row.key, state: 'dead' },
        store: { id: row.messageId }, error };
    }

    async function recordDelivered(seq: number, attempt: number, detail: string | null): Promise<void> {
      localNextAt.delete(seq);
      transientFailures = 0;
      lastFailure = null;
      unrecorded.set(seq, { attempt, detail, tries: 0, writing: false, timer: null });
      const written = writeDelivered(seq);
      // the next message goes while this record commits (it is never sent again meanwhile: `unrecorded`)
      pumpSoon();
      await written;
    }

    /**
     * Records a delivery in the store. While that fails (the store cannot write), the message is not sent
     * again by this process and the record is tried again with back-off, and at once after any write of this
     * spool succeeds: else it would stay queued, shown as a backlog, and go to the destination a second time
     * after the next restart.
     */
    async function writeDelivered(seq: number): Promise<void> {
      const u = unrecorded.get(seq);
      if (!u || u.writing || closed) return;
      if (u.timer) { clearTimeout(u.timer); u.timer = null; }
      u.writing = true;
      u.tries++;
      try {
        await store.delivered(seq, u.attempt, actor, u.detail);
        unrecorded.delete(seq);
        retryUnrecorded();
      } catch (err) {
        u.writing = false;
        if (u.tries === 1) reportFailure(RED, node, err, {});   // once per delivery, not at every try
        if (!closed) u.timer = setTimeout(() => { u.timer = null; void writeDelivered(seq); }, retryDelay(u.tries, cfg.retry));
      } finally {
        pumpSoon();
      }
    }

    /** The store took a write: record the deliveries it could not take before. */
    function retryUnrecorded(): void {
      for (const [seq, u] of unrecorded) if (!u.writing && u.tries > 0) void writeDelivered(seq);
    }

    /** An outcome: msg.spool.id of this destination came back (msg.error set = the attempt failed). */
    function onOutcome(msg: SpoolMsg): void {
      const tag = msg.spool as SpoolTag;
      const f = inflight.get(tag.id);
      const failed = msg.error !== undefined && msg.error !== null;
      if (!failed) {
        if (f) {
          clearTimeout(f.timer);
          inflight.delete(tag.id);
          void recordDelivered(tag.id, f.attempt, outcomeDetail(msg));
          return;
        }
        // a success after its time-out: the destination has it, so it must not be sent again
        let entry: (SpoolEntry & { state: string }) | undefined;
        try { entry = store.spoolEntry(tag.id); } catch { entry = undefined; }
        if (entry && entry.destination === dest) {
          void recordDelivered(tag.id, typeof tag.attempt === 'number' ? tag.attempt : entry.attempts, outcomeDetail(msg));
        } else {
          node.debug(`outcome for #${tag.id} ignored: no longer queued`);
        }
        return;
      }
      if (!f || f.attempt !== tag.attempt) {
        node.debug(`failure for #${tag.id} attempt ${String(tag.attempt)} ignored: not the attempt in flight`);
        return;
      }
      clearTimeout(f.timer);
      inflight.delete(tag.id);
      void recordFailure(f.entry, f.attempt, errorInfo(msg.error));
    }

    function onCommand(cmd: string): boolean {
      if (cmd === 'pause') { paused = true; updateStatus(); return true; }
      if (cmd === 'resume') { paused = false; pump(); return true; }
      if (cmd === 'retry') {
        // probe now: forget the back-off of the waiting messages
        for (const k of localNextAt.keys()) localNextAt.set(k, 0);
        try { for (const r of store.spoolHead(dest, cfg.window)) localNextAt.set(r.seq, 0); } catch { /* reported by pump */ }
        pump();
        return true;
      }
      return false;
    }

    node.on('input', (msg0: NodeMessageInFlow, send, done) => {
      const msg = msg0 as unknown as SpoolMsg;
      const tag = msg.spool;
      if (tag && typeof tag === 'object' && typeof tag.id === 'number' && tag.destination === dest) {
        onOutcome(msg);
        done();
        return;
      }
      if (typeof msg.spoolCommand === 'string') {
        if (onCommand(msg.spoolCommand)) { done(); return; }
        reportFailure(RED, node, new GatewayError('CONFIG_INVALID', { detail: `unknown spoolCommand ${msg.spoolCommand}` }), msg, done);
        return;
      }
      void (async () => {
        try {
          const text = typeof msg.payload === 'string' ? msg.payload : Buffer.isBuffer(msg.payload) ? msg.payload.toString('utf8') : null;
          if (text === null || !/^\s*MSH/.test(text)) throw new GatewayError('HL7_MISSING_MSH', { ackCode: 'AR' });
          const key = !cfg.dedupe ? null : typeof msg.idempotencyKey === 'string' && msg.idempotencyKey ? msg.idempotencyKey : 'auto';
          const logged = typeof msg.store?.id === 'number' ? msg.store.id : null;
          const peer = msg.mllp && msg.mllp.remoteAddress !== undefined ? `${String(msg.mllp.remoteAddress)}:${String(msg.mllp.remotePort ?? '')}` : null;
          let r;
          try {
            r = await store.enqueue({ destination: dest, text, key, meta: snapshot(msg), messageId: logged,
              kind: typeof msg.kind === 'string' ? msg.kind : null, peer, actor });
          } catch (err) {
            const params = err instanceof GatewayError ? err.params : { detail: String(err) };
            throw new GatewayError('SPOOL_WRITE_FAILED', { ...params, ackCode: 'AE' });
          }
          (msg as Record<string, unknown>).store = { id: r.messageId, seq: r.seq, destination: dest, key: r.key,
            duplicate: r.duplicate, originalId: r.originalId };
          send([msg as NodeMessage, null, null]);
          done();
          retryUnrecorded();
          // backing off a down destination: the head's wake-up timer probes it, nothing behind it is due sooner
          if (!r.duplicate && !(transientFailures > 0 && wakeTimer !== null)) pumpSoon();
        } catch (err) {
          reportFailure(RED, node, err, msg, done);
        }
      })();
    });

    function start(): void { pump(); }

    node.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      RED.events.removeListener('flows:started', start);
      if (wakeTimer) clearTimeout(wakeTimer);
      if (statusTimer) clearInterval(statusTimer);
      for (const f of inflight.values()) clearTimeout(f.timer);
      inflight.clear();    // still queued in the store: resent, in order, after the restart
      // a last try at deliveries not recorded yet (the store may have room again); drain() below waits for it
      for (const [seq, u] of unrecorded) {
        if (u.timer) clearTimeout(u.timer);
        if (!u.writing) store.delivered(seq, u.attempt, actor, u.detail).catch(() => undefined);
      }
      unrecorded.clear();
      store.unclaim(dest, controller);
      // writes already submitted finish before the next deploy reads the queue; the spool file stays
      const finish = (): void => { store.release(); node.status({}); done(); };
      store.drain().then(finish, finish);
    });

    statusTimer = setInterval(() => { pump(); showStatus(); }, STATUS_TICK_MS);
    statusTimer.unref();
    showStatus();
    // resume what the store holds for this destination once every node of the flow exists
    // (a message sent from the constructor would find no wires yet)
    RED.events.once('flows:started', start);
  }

  RED.nodes.registerType('hl7-spool', Hl7SpoolNode);
};

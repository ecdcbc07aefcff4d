// SPDX-License-Identifier: Apache-2.0
/**
 * The durable message store: one SQLite file (WAL, synchronous=FULL) per data directory,
 * shared by every user in the process (ref-counted). Writes go to a single writer in a worker
 * thread with adaptive group commit: a write that arrives while a commit is running joins the
 * next commit; a lone write is sent at once and pays one commit. Each write's promise resolves
 * only after its commit is fsync'ed, and rejects with GatewayError SPOOL_WRITE_FAILED or
 * STORE_WRITE_FAILED when it is not. Reads use a second connection on the calling thread.
 */
import type Database from 'better-sqlite3';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { GatewayError, type GatewayErrorCode } from '../errors';
import { openDatabase } from './schema';
import { Writer } from './writer';
import type {
  BatchReply, Direction, EnqueueResult, ErrorInfo, MessageColumns, MessageStatus, OpResult, PurgeResult,
  ReprocessResult, TransitionResult, WriteOp,
} from './types';

export type { EnqueueResult, ErrorInfo, MessageStatus, ReprocessResult, TransitionResult } from './types';

/** File name of the store inside the data directory. */
export const STORE_FILE = 'mgs-store.sqlite';

/** Path of the store of a data directory. */
export function storeFile(dataDir: string): string {
  return path.join(dataDir, STORE_FILE);
}

export interface RetentionOptions {
  maxAgeMs: number;     // messages older than this are deleted (0 = keep for ever)
  maxBytes: number;     // and the oldest go while the database holds more than this (0 = no limit)
  intervalMs: number;   // how often retention runs
  batch: number;        // rows deleted per commit, so a purge never holds the writer for long
}

export const DEFAULT_RETENTION: RetentionOptions = {
  maxAgeMs: 90 * 24 * 3600_000, maxBytes: 4 * 1024 ** 3, intervalMs: 10 * 60_000, batch: 500,
};

export interface StoreOptions {
  writer?: 'worker' | 'inline';         // inline: commits on the calling thread (measurements only)
  retention?: Partial<RetentionOptions>;
  lingerMs?: number;                    // keep the store open this long after the last release
  maxPageCount?: number;                // tests: a tiny database that fills up (SQLITE_FULL)
}

/** What a caller logs: an inbound or outbound message. Summary fields default to those read from the text. */
export interface LogEntry {
  direction: Direction;
  text: string;
  raw?: Uint8Array | null;
  kind?: string | null;
  type?: string | null;
  controlId?: string | null;
  sender?: string | null;
  barcode?: string | null;
  patientId?: string | null;
  peer?: string | null;             // 'address:port' of the other side
  status?: MessageStatus;           // default: 'received' (in) / 'delivered' (out)
  relatedId?: number | null;        // an ACK: the message it answers
  actor?: string;
  detail?: string | null;
  at?: number;
}

export interface EnqueueEntry extends Omit<LogEntry, 'direction' | 'status' | 'relatedId'> {
  destination: string;
  key: string | null | 'auto';      // idempotency key; 'auto' = idempotencyKey(text); null = never a duplicate
  meta?: string | null;             // JSON of msg properties to restore on delivery
  messageId?: number | null;        // the row logged earlier for this message (mllp in), updated in place
  direction?: Direction;
}

export interface EventEntry {
  status?: MessageStatus | null;
  acked?: boolean;                  // an ACK went out for it: sets acked_at (and status 'acked' while only received/spooled)
  actor: string;
  detail?: string | null;
  error?: ErrorInfo | null;
  at?: number;
}

export interface SpoolEntry {
  seq: number;
  messageId: number;
  destination: string;
  attempts: number;
  failures: number;
  nextAt: number;
  enqueuedAt: number;
  key: string | null;
  text: string;
  meta: string | null;
  type: string | null;
  controlId: string | null;
  lastError: ErrorInfo | null;
}

export interface SpoolStats {
  destination: string;
  depth: number;            // queued (incl. in flight)
  oldestAt: number | null;  // enqueued_at of the head
  dead: number;             // parked dead letters
  head: { seq: number; attempts: number; nextAt: number; lastError: ErrorInfo | null } | null;
}

export interface MessageFilter {
  from?: number; to?: number;
  status?: string[]; kind?: string; direction?: string; destination?: string;
  barcode?: string; patientId?: string; controlId?: string;
  limit?: number; offset?: number;
}

export interface MessageSummaryRow {
  id: number; direction: Direction; kind: string | null; type: string | null; controlId: string | null;
  sender: string | null; barcode: string | null; patientId: string | null; peer: string | null;
  status: MessageStatus; destination: string | null; size: number;
  receivedAt: number; ackedAt: number | null; deliveredAt: number | null; updatedAt: number;
  attempts: number; lastError: ErrorInfo | null; relatedId: number | null;
}

export interface HistoryRow {
  at: number; status: string; actor: string | null; destination: string | null; attempt: number | null; detail: string | null;
}

export interface MessageDetail extends MessageSummaryRow {
  text: string | null;
  raw: Buffer | null;
  key: string | null;
  history: HistoryRow[];
  spool: { seq: number; destination: string; state: string; attempts: number; nextAt: number; lastError: ErrorInfo | null }[];
}

export interface StoreStats {
  perMinute: { minute: number; in: number; out: number }[];
  byStatus: Record<string, number>;
  recentErrors: { at: number; messageId: number; status: string; destination: string | null; detail: string | null;
    type: string | null; controlId: string | null }[];
}

/** A live spool destination registers itself so the API can wake it and report its state. */
export interface SpoolController {
  kick(): void;
  state(): { state: string; inFlight: number; consecutiveFailures: number; paused: boolean; lastError: ErrorInfo | null };
}

export interface WriteStats { writes: number; commits: number; maxBatch: number; commitMs: number }

type Category = 'SPOOL_WRITE_FAILED' | 'STORE_WRITE_FAILED';
interface Pending {
  op: WriteOp; category: Category; resolve: (v: unknown) => void; reject: (e: Error) => void;
  /** Bytes handed over to the writer thread (moved, not copied; the caller gave them up). */
  transfer?: ArrayBuffer;
}
const ignore = (): void => undefined;

/**
 * How long a log write (log, event) waits for a commit to join before it starts one of its own: the
 * spool's enqueue of the same message, usually, arrives well within it and carries the log along, so a
 * log written on receipt never puts a commit (an fsync) in front of the durable write an ACK waits for.
 */
export const LOG_LINGER_MS = 10;

const registry = new Map<string, Store>();
const lastIds = new Map<string, number>();   // survives a Store instance: ids are never reused in a process

/**
 * Opens (or shares) the store of `file`. Every acquire needs one release(). Never throws for an
 * unusable directory: writes then reject with SPOOL_WRITE_FAILED/STORE_WRITE_FAILED and reads
 * throw STORE_UNAVAILABLE, and both try again later (an operator may fix the directory).
 */
export function acquireStore(file: string, options: StoreOptions = {}): Store {
  const key = path.resolve(file);
  let store = registry.get(key);
  if (!store) {
    store = new Store(key, options);
    registry.set(key, store);
  } else if (options.retention) {
    store.configureRetention(options.retention);
  }
  store.ref();
  return store;
}

/** Closes every open store now (tests; process shutdown). */
export async function closeAllStores(): Promise<void> {
  await Promise.all([...registry.values()].map((s) => s.close()));
}

function toError(r: Extract<OpResult, { ok: false }>, category: Category): GatewayError {
  if (r.error.gateway) return new GatewayError(r.error.gateway.code as GatewayErrorCode, r.error.gateway.params);
  return new GatewayError(category, { detail: `${r.error.code}: ${r.error.message}` });
}

function detailOf(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code ? `${String(e.code)}: ${String(e.message ?? '')}` : String(e?.message ?? err);
}

const parseError = (s: string | null): ErrorInfo | null => {
  if (!s) return null;
  try { return JSON.parse(s) as ErrorInfo; } catch { return { code: 'ERROR', message: s }; }
};

interface MessageRow {
  id: number; direction: Direction; kind: string | null; type: string | null; control_id: string | null;
  sender: string | null; barcode: string | null; patient_id: string | null; peer: string | null; status: MessageStatus;
  destination: string | null; size: number; received_at: number; acked_at: number | null; delivered_at: number | null;
  updated_at: number; attempts: number; last_error: string | null; related_id: number | null;
}

const SUMMARY_COLUMNS = `id, direction, kind, type, control_id, sender, barcode, patient_id, peer, status, destination,
  size, received_at, acked_at, delivered_at, updated_at, attempts, last_error, related_id`;

function summaryOf(r: MessageRow): MessageSummaryRow {
  return {
    id: r.id, direction: r.direction, kind: r.kind, type: r.type, controlId: r.control_id, sender: r.sender,
    barcode: r.barcode, patientId: r.patient_id, peer: r.peer, status: r.status, destination: r.destination,
    size: r.size, receivedAt: r.received_at, ackedAt: r.acked_at, deliveredAt: r.delivered_at, updatedAt: r.updated_at,
    attempts: r.attempts, lastError: parseError(r.last_error), relatedId: r.related_id,
  };
}

export class Store {
  private refs = 0;
  private linger: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private reader: Database.Database | null = null;
  /** Statements of the hot reads, prepared once per reader connection. */
  private readonly statements = new Map<string, Database.Statement>();
  private worker: Worker | null = null;
  private inline: Writer | null = null;
  private pending: Pending[] = [];
  private inflight: Pending[] | null = null;
  private flushScheduled = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  private batchNo = 0;
  private retention: RetentionOptions;
  private retentionTimer: NodeJS.Timeout | null = null;
  private firstRetention: NodeJS.Timeout | null = null;
  private retentionRunning: Promise<PurgeResult> | null = null;
  private readonly spools = new Map<string, SpoolController>();
  private readonly closedWaiters: (() => void)[] = [];
  private readonly writeStats: WriteStats = { writes: 0, commits: 0, maxBatch: 0, commitMs: 0 };

  constructor(readonly file: string, private readonly options: StoreOptions = {}) {
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    if (options.writer === 'inline') this.inline = new Writer(file, { maxPageCount: options.maxPageCount });
    this.scheduleRetention();
  }

  /** Counts one more user. */
  ref(): void {
    this.refs++;
    if (this.linger) { clearTimeout(this.linger); this.linger = null; }
  }

  /** One user is done; the last one closes the store after a short linger (writes still pending are flushed first). */
  release(): void {
    if (this.refs > 0) this.refs--;
    if (this.refs > 0 || this.closing) return;
    const ms = this.options.lingerMs ?? 2000;
    this.linger = setTimeout(() => { this.linger = null; if (this.refs === 0) void this.close(); }, ms);
    this.linger.unref();
  }

  get isClosed(): boolean { return this.closing !== null; }

  /** Settles once the store has been closed (by the last release or close()). */
  whenClosed(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closing) { void this.closing.then(resolve); return; }
      this.closedWaiters.push(resolve);
    });
  }

  configureRetention(r: Partial<RetentionOptions>): void {
    this.retention = { ...this.retention, ...r };
    this.scheduleRetention();
  }

  /** Waits for every write submitted so far, then stops the writer and closes the connections. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    if (registry.get(this.file) === this) registry.delete(this.file);
    if (this.linger) { clearTimeout(this.linger); this.linger = null; }
    if (this.retentionTimer) { clearInterval(this.retentionTimer); this.retentionTimer = null; }
    if (this.firstRetention) { clearTimeout(this.firstRetention); }
    if (this.lingerTimer) this.flush();
    this.closing = (async () => {
      await this.drain();
      if (this.retentionRunning) await this.retentionRunning.catch(() => undefined);
      await this.drain();
      const w = this.worker;
      this.worker = null;
      if (w) {
        await new Promise<void>((resolve) => {
          w.once('exit', () => resolve());
          w.postMessage({ close: true });
        });
      }
      this.inline?.close();
      try { this.reader?.close(); } catch { /* already closed */ }
      this.reader = null;
      this.statements.clear();
      for (const w of this.closedWaiters.splice(0)) w();
    })();
    return this.closing;
  }

  /** Resolves when every write submitted before the call has settled. */
  async drain(): Promise<void> {
    const all = [...(this.inflight ?? []), ...this.pending].map((p) => new Promise<void>((resolve) => {
      const { resolve: r0, reject: j0 } = p;
      p.resolve = (v) => { r0(v); resolve(); };
      p.reject = (e) => { j0(e); resolve(); };
    }));
    await Promise.all(all);
  }

  stats(): WriteStats { return { ...this.writeStats }; }

  // ---------------------------------------------------------------- writes

  /** `lazy`: a write nobody waits for (log, event); it joins the next commit, or starts one after LOG_LINGER_MS. */
  private submit<T>(op: WriteOp, category: Category, lazy = false): Promise<T> {
    if (this.closing) return Promise.reject(new GatewayError(category, { detail: 'store closed' }));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ op, category, resolve: resolve as (v: unknown) => void, reject });
      if (!lazy) this.scheduleFlush();
      else if (!this.lingerTimer && !this.flushScheduled && !this.inflight) {
        this.lingerTimer = setTimeout(() => { this.lingerTimer = null; this.flush(); }, LOG_LINGER_MS);
      }
    });
  }

  /** A lazy write nobody waits for, without a promise (the message log's per-message path). */
  private submitQuiet(op: WriteOp, transfer?: ArrayBuffer): boolean {
    if (this.closing) return false;
    this.pending.push(transfer ? { op, category: 'STORE_WRITE_FAILED', resolve: ignore, reject: ignore, transfer }
      : { op, category: 'STORE_WRITE_FAILED', resolve: ignore, reject: ignore });
    if (!this.lingerTimer && !this.flushScheduled && !this.inflight) {
      this.lingerTimer = setTimeout(() => { this.lingerTimer = null; this.flush(); }, LOG_LINGER_MS);
    }
    return true;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inflight) return;
    this.flushScheduled = true;
    // a microtask: writes made in the same tick share the commit, and a lone write waits for nothing
    queueMicrotask(() => { this.flushScheduled = false; this.flush(); });
  }

  private flush(): void {
    if (this.inflight || this.pending.length === 0) return;
    if (this.lingerTimer) { clearTimeout(this.lingerTimer); this.lingerTimer = null; }
    const batch = this.pending;
    this.pending = [];
    this.inflight = batch;
    const req = { batch: ++this.batchNo, ops: batch.map((p) => p.op) };
    if (this.inline) {
      this.onReply(this.inline.apply(req));
      return;
    }
    try {
      const w = this.startWorker();
      w.ref();
      let transfer: ArrayBuffer[] | undefined;
      for (const p of batch) if (p.transfer) (transfer ??= []).push(p.transfer);
      if (transfer) w.postMessage(req, transfer); else w.postMessage(req);
    } catch (err) {
      this.failInflight(err);
    }
  }

  private startWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(path.join(__dirname, 'writer-worker.js'), {
      workerData: { file: this.file, options: { maxPageCount: this.options.maxPageCount } },
    });
    w.on('message', (m: BatchReply | { closed: true }) => { if ('batch' in m) this.onReply(m); });
    w.on('error', (err) => { if (this.worker === w) this.worker = null; this.failInflight(err); });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = null;
      if (this.inflight) this.failInflight(new Error(`store writer exited (${code})`));
    });
    this.worker = w;
    return w;
  }

  private onReply(reply: BatchReply): void {
    const batch = this.inflight ?? [];
    this.inflight = null;
    this.writeStats.commits++;
    this.writeStats.writes += batch.length;
    this.writeStats.maxBatch = Math.max(this.writeStats.maxBatch, batch.length);
    this.writeStats.commitMs += reply.commitMs;
    batch.forEach((p, i) => {
      const r = reply.results[i];
      if (r && r.ok) p.resolve(r.value);
      else p.reject(toError(r ?? { ok: false, error: { code: 'ERROR', message: 'no result' } }, p.category));
    });
    if (this.pending.length) this.flush();
    else if (!this.inflight) this.worker?.unref();
  }

  private failInflight(err: unknown): void {
    const batch = this.inflight ?? [];
    this.inflight = null;
    for (const p of batch) p.reject(new GatewayError(p.category, { detail: detailOf(err) }));
    if (this.pending.length) this.scheduleFlush();
  }

  /** Caller-given columns; the writer fills the rest from the text (so the parsing cost is off this thread). */
  private columns(e: LogEntry | EnqueueEntry, direction: Direction): MessageColumns {
    const v = (x: string | null | undefined): string | null => (x === undefined || x === '' ? null : x);
    return {
      direction, kind: v(e.kind), type: v(e.type), controlId: v(e.controlId), sender: v(e.sender),
      barcode: v(e.barcode), patientId: v(e.patientId), peer: v(e.peer), raw: e.raw ?? null, text: e.text,
    };
  }

  /** Allocates the id of a new message row (ids are allocated here so a logger learns its id at once). */
  allocateId(): number {
    let last = lastIds.get(this.file);
    if (last === undefined) {
      const db = this.read();
      const r = db.prepare(`SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
        coalesce((SELECT max(id) FROM messages), 0)) AS last`).get() as { last: number };
      last = r.last;
    }
    lastIds.set(this.file, last + 1);
    return last + 1;
  }

  private idOr(category: Category): number | GatewayError {
    try { return this.allocateId(); } catch (err) {
      return new GatewayError(category, { detail: err instanceof GatewayError ? String(err.params.detail) : detailOf(err) });
    }
  }

  /**
   * Logs a message without making the caller wait: returns its id at once and a promise that
   * settles when it is durable (a rejection there is already handled, so ignoring it is safe).
   */
  log(e: LogEntry): { id: number | null; durable: Promise<void> } {
    const id = this.idOr('STORE_WRITE_FAILED');
    if (id instanceof GatewayError) {
      const failed = Promise.reject(id);
      failed.catch(() => undefined);
      return { id: null, durable: failed };
    }
    const durable = this.submit<unknown>({
      op: 'log', id, at: e.at ?? Date.now(), status: e.status ?? (e.direction === 'in' ? 'received' : 'delivered'),
      actor: e.actor ?? 'log', detail: e.detail ?? null, relatedId: e.relatedId ?? null, cols: this.columns(e, e.direction),
    }, 'STORE_WRITE_FAILED', true).then(() => undefined);
    durable.catch(() => undefined);
    return { id, durable };
  }

  /**
   * log() for a caller that does not wait: no promise, and `raw`, when it is the only view on a buffer of
   * its own (a copy made for the log), is moved to the writer thread instead of copied; the caller must
   * not use it afterwards. Returns the id, or null when the store cannot take the write.
   */
  logDetached(e: LogEntry): number | null {
    const id = this.idOr('STORE_WRITE_FAILED');
    if (id instanceof GatewayError) return null;
    const raw = e.raw;
    const own = raw && !this.inline && raw.byteOffset === 0 && raw.buffer instanceof ArrayBuffer
      && raw.byteLength === raw.buffer.byteLength && raw.byteLength > 0 ? raw.buffer : undefined;
    return this.submitQuiet({
      op: 'log', id, at: e.at ?? Date.now(), status: e.status ?? (e.direction === 'in' ? 'received' : 'delivered'),
      actor: e.actor ?? 'log', detail: e.detail ?? null, relatedId: e.relatedId ?? null, cols: this.columns(e, e.direction),
    }, own) ? id : null;
  }

  /** event() for a caller that does not wait (no promise; a failure only loses the history line). */
  eventDetached(id: number, e: EventEntry): void {
    this.submitQuiet({
      op: 'event', id, at: e.at ?? Date.now(), status: e.status ?? null, actor: e.actor, detail: e.detail ?? null,
      acked: e.acked ?? false, error: e.error ?? null,
    });
  }

  /** Records a status change or note on a message (history row; 'acked' sets acked_at). */
  event(id: number, e: EventEntry): Promise<void> {
    return this.submit<unknown>({
      op: 'event', id, at: e.at ?? Date.now(), status: e.status ?? null, actor: e.actor, detail: e.detail ?? null,
      acked: e.acked ?? false, error: e.error ?? null,
    }, 'STORE_WRITE_FAILED', true).then(() => undefined);
  }

  /**
   * Stores a message and queues it for `destination`, durably, in one commit. A message whose
   * key is already queued or delivered for that destination is stored as 'duplicate' and not queued.
   */
  enqueue(e: EnqueueEntry): Promise<EnqueueResult> {
    const id = e.messageId ?? this.idOr('SPOOL_WRITE_FAILED');
    if (id instanceof GatewayError) return Promise.reject(id);
    return this.submit<EnqueueResult>({
      op: 'enqueue', id, at: e.at ?? Date.now(), destination: e.destination, key: e.key === 'auto' ? null : e.key,
      autoKey: e.key === 'auto', meta: e.meta ?? null,
      actor: e.actor ?? 'spool', cols: this.columns(e, e.direction ?? 'in'),
    }, 'SPOOL_WRITE_FAILED');
  }

  /** The destination has the message: removes it from the queue (a late success for a parked one counts too). */
  delivered(seq: number, attempts: number, actor: string, detail: string | null = null): Promise<TransitionResult> {
    return this.submit({ op: 'delivered', seq, at: Date.now(), attempts, actor, detail }, 'SPOOL_WRITE_FAILED');
  }

  /** An attempt failed: records it and when the next one is due. */
  failed(seq: number, f: { attempts: number; failures: number; nextAt: number; error: ErrorInfo; actor: string }): Promise<TransitionResult> {
    return this.submit({ op: 'failed', seq, at: Date.now(), ...f }, 'SPOOL_WRITE_FAILED');
  }

  /** Parks a queued message as a dead letter after its last allowed failure. */
  dead(seq: number, f: { attempts: number; failures: number; error: ErrorInfo; actor: string }): Promise<TransitionResult> {
    return this.submit({ op: 'dead', seq, at: Date.now(), ...f }, 'SPOOL_WRITE_FAILED');
  }

  /** Parks a queued message on an operator's request, so the messages behind it can go. */
  park(seq: number, actor: string, detail: string | null = null): Promise<TransitionResult> {
    return this.submit({ op: 'park', seq, at: Date.now(), actor, detail }, 'SPOOL_WRITE_FAILED');
  }

  /** Queues a stored message again, at the end of `destination`'s queue (default: its last destination). */
  reprocess(id: number, destination: string | null, actor: string): Promise<ReprocessResult> {
    return this.submit({ op: 'reprocess', id, at: Date.now(), destination, actor }, 'SPOOL_WRITE_FAILED');
  }

  // ---------------------------------------------------------------- retention

  private scheduleRetention(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    if (this.options.writer === 'inline' || this.retention.intervalMs <= 0) return;
    this.retentionTimer = setInterval(() => { void this.runRetention().catch(() => undefined); }, this.retention.intervalMs);
    this.retentionTimer.unref();
    if (!this.firstRetention) {
      // once soon after start too, so a gateway restarted often still purges
      this.firstRetention = setTimeout(() => { void this.runRetention().catch(() => undefined); },
        Math.min(60_000, this.retention.intervalMs));
      this.firstRetention.unref();
    }
  }

  /** Bytes the database uses (pages in use, not the file size: deleted rows free pages for reuse). */
  usedBytes(): number {
    const db = this.read();
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const count = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return (count - free) * pageSize;
  }

  /**
   * Deletes messages older than maxAgeMs, then the oldest while the database is over maxBytes,
   * `batch` rows per commit. Messages still queued or parked are never deleted.
   */
  runRetention(now: number = Date.now()): Promise<PurgeResult> {
    if (this.retentionRunning) return this.retentionRunning;
    const r = this.retention;
    this.retentionRunning = (async () => {
      let deleted = 0;
      if (r.maxAgeMs > 0) {
        for (;;) {
          const res = await this.submit<PurgeResult>({ op: 'purge', at: now, olderThan: now - r.maxAgeMs, batch: r.batch }, 'STORE_WRITE_FAILED');
          deleted += res.deleted;
          if (res.deleted < r.batch) break;
        }
      }
      if (r.maxBytes > 0) {
        while (this.usedBytes() > r.maxBytes) {
          const res = await this.submit<PurgeResult>({ op: 'purge', at: now, olderThan: null, batch: r.batch }, 'STORE_WRITE_FAILED');
          deleted += res.deleted;
          if (res.deleted === 0) break;
        }
      }
      return { deleted };
    })().finally(() => { this.retentionRunning = null; });
    return this.retentionRunning;
  }

  // ---------------------------------------------------------------- reads

  private read(): Database.Database {
    if (this.closing && !this.reader) throw new GatewayError('STORE_UNAVAILABLE', { detail: 'store closed' });
    if (!this.reader) {
      try { this.reader = openDatabase(this.file); } catch (err) {
        throw new GatewayError('STORE_UNAVAILABLE', { detail: detailOf(err) });
      }
    }
    return this.reader;
  }

  /** A prepared statement on the reader, kept for the reader's life. */
  private prepared(sql: string): Database.Statement {
    const db = this.read();
    let st = this.statements.get(sql);
    if (st === undefined) { st = db.prepare(sql); this.statements.set(sql, st); }
    return st;
  }

  /** The first `limit` queued entries of a destination, in FIFO order. */
  spoolHead(destination: string, limit: number): SpoolEntry[] {
    const rows = this.prepared(`SELECT s.seq, s.message_id, s.destination, s.attempts, s.failures, s.next_at,
        s.enqueued_at, s.idem_key, s.last_error, m.text, m.meta, m.type, m.control_id
      FROM spool s JOIN messages m ON m.id = s.message_id
      WHERE s.destination = ? AND s.state = 'queued' ORDER BY s.seq LIMIT ?`).all(destination, limit) as SpoolJoinRow[];
    return rows.map(entryOf);
  }

  /** One spool entry (any state), or undefined. */
  spoolEntry(seq: number): (SpoolEntry & { state: string }) | undefined {
    const r = this.prepared(`SELECT s.seq, s.message_id, s.destination, s.state, s.attempts, s.failures, s.next_at,
        s.enqueued_at, s.idem_key, s.last_error, m.text, m.meta, m.type, m.control_id
      FROM spool s JOIN messages m ON m.id = s.message_id WHERE s.seq = ?`).get(seq) as (SpoolJoinRow & { state: string }) | undefined;
    return r ? { ...entryOf(r), state: r.state } : undefined;
  }

  /** Depth, oldest and dead letters per destination (all destinations known to the store, or one). */
  spoolStats(destination?: string): SpoolStats[] {
    const where = destination !== undefined ? 'WHERE destination = ?' : '';
    const args = destination !== undefined ? [destination] : [];
    const rows = this.prepared(`SELECT destination,
        sum(state = 'queued') AS depth, sum(state = 'dead') AS dead,
        min(CASE WHEN state = 'queued' THEN seq END) AS head
      FROM spool ${where} GROUP BY destination ORDER BY destination`).all(...args) as
      { destination: string; depth: number; dead: number; head: number | null }[];
    const headStmt = this.prepared('SELECT seq, attempts, next_at, enqueued_at, last_error FROM spool WHERE seq = ?');
    const out = rows.map((r) => {
      const h = r.head !== null ? headStmt.get(r.head) as { seq: number; attempts: number; next_at: number; enqueued_at: number; last_error: string | null } : undefined;
      return {
        destination: r.destination, depth: r.depth, dead: r.dead, oldestAt: h ? h.enqueued_at : null,
        head: h ? { seq: h.seq, attempts: h.attempts, nextAt: h.next_at, lastError: parseError(h.last_error) } : null,
      };
    });
    for (const d of this.spools.keys()) {
      if ((destination === undefined || destination === d) && !out.some((o) => o.destination === d)) {
        out.push({ destination: d, depth: 0, dead: 0, oldestAt: null, head: null });
      }
    }
    return out.sort((a, b) => a.destination.localeCompare(b.destination));
  }

  /** Messages matching a filter, newest first, with the total count. */
  listMessages(f: MessageFilter): { total: number; items: MessageSummaryRow[] } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.from !== undefined) { where.push('received_at >= ?'); args.push(f.from); }
    if (f.to !== undefined) { where.push('received_at < ?'); args.push(f.to); }
    if (f.status?.length) { where.push(`status IN (${f.status.map(() => '?').join(',')})`); args.push(...f.status); }
    const eq: [keyof MessageFilter, string][] = [['kind', 'kind'], ['direction', 'direction'], ['destination', 'destination'],
      ['barcode', 'barcode'], ['patientId', 'patient_id'], ['controlId', 'control_id']];
    for (const [k, col] of eq) {
      const v = f[k];
      if (typeof v === 'string' && v !== '') { where.push(`${col} = ?`); args.push(v); }
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const limit = Math.min(1000, Math.max(1, Math.floor(f.limit ?? 100)));
    const offset = Math.max(0, Math.floor(f.offset ?? 0));
    const db = this.read();
    const total = (db.prepare(`SELECT count(*) AS n FROM messages ${w}`).get(...args) as { n: number }).n;
    const items = (db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM messages ${w} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...args, limit, offset) as MessageRow[]).map(summaryOf);
    return { total, items };
  }

  /** One message with its text, raw bytes, history and spool entries; undefined when unknown. */
  getMessage(id: number): MessageDetail | undefined {
    const db = this.read();
    const r = db.prepare(`SELECT ${SUMMARY_COLUMNS}, text, raw, idem_key FROM messages WHERE id = ?`).get(id) as
      (MessageRow & { text: string | null; raw: Buffer | null; idem_key: string | null }) | undefined;
    if (!r) return undefined;
    const history = db.prepare('SELECT at, status, actor, destination, attempt, detail FROM history WHERE message_id = ? ORDER BY id')
      .all(id) as HistoryRow[];
    const spool = (db.prepare('SELECT seq, destination, state, attempts, next_at, last_error FROM spool WHERE message_id = ? ORDER BY seq')
      .all(id) as { seq: number; destination: string; state: string; attempts: number; next_at: number; last_error: string | null }[])
      .map((s) => ({ seq: s.seq, destination: s.destination, state: s.state, attempts: s.attempts, nextAt: s.next_at, lastError: parseError(s.last_error) }));
    return { ...summaryOf(r), text: r.text, raw: r.raw, key: r.idem_key, history, spool };
  }

  /** Messages per minute over the last `minutes`, counts by status, and the latest failures. */
  statistics(now: number = Date.now(), minutes = 60): StoreStats {
    const db = this.read();
    const since = now - minutes * 60_000;
    const perMinute = db.prepare(`SELECT (received_at / 60000) * 60000 AS minute,
        sum(direction = 'in') AS "in", sum(direction = 'out') AS "out"
      FROM messages WHERE received_at >= ? GROUP BY minute ORDER BY minute`).all(since) as StoreStats['perMinute'];
    const byStatus: Record<string, number> = {};
    for (const r of db.prepare('SELECT status, count(*) AS n FROM messages WHERE received_at >= ? GROUP BY status')
      .all(now - 24 * 3600_000) as { status: string; n: number }[]) byStatus[r.status] = r.n;
    const recentErrors = db.prepare(`SELECT h.at, h.message_id AS messageId, h.status, h.destination, h.detail, m.type,
        m.control_id AS controlId
      FROM history h JOIN messages m ON m.id = h.message_id
      WHERE h.status IN ('failed', 'dead') ORDER BY h.id DESC LIMIT 20`).all() as StoreStats['recentErrors'];
    return { perMinute, byStatus, recentErrors };
  }

  // ---------------------------------------------------------------- live spool destinations

  /** Registers the node that drains `destination`; a second claimant is a configuration error. */
  claim(destination: string, c: SpoolController): void {
    const owner = this.spools.get(destination);
    if (owner && owner !== c) throw new GatewayError('CONFIG_INVALID', { detail: `destination "${destination}" already has a spool` });
    this.spools.set(destination, c);
  }

  unclaim(destination: string, c: SpoolController): void {
    if (this.spools.get(destination) === c) this.spools.delete(destination);
  }

  controller(destination: string): SpoolController | undefined { return this.spools.get(destination); }
}

interface SpoolJoinRow {
  seq: number; message_id: number; destination: string; attempts: number; failures: number; next_at: number;
  enqueued_at: number; idem_key: string | null; last_error: string | null; text: string; meta: string | null;
  type: string | null; control_id: string | null;
}

function entryOf(r: SpoolJoinRow): SpoolEntry {
  return {
    seq: r.seq, messageId: r.message_id, destination: r.destination, attempts: r.attempts, failures: r.failures,
    nextAt: r.next_at, enqueuedAt: r.enqueued_at, key: r.idem_key, text: r.text, meta: r.meta, type: r.type,
    controlId: r.control_id, lastError: parseError(r.last_error),
  };
}

// SPDX-License-Identifier: Apache-2.0
/**
 * The store's single writer: applies a batch of write ops in ONE transaction, so a batch costs
 * one fsync whatever its size (group commit). Runs in a worker thread (writer-worker.ts) or,
 * for measurements, inline. Each op gets a savepoint, so a domain error in one op (message not
 * found) rejects that op only; an I/O error (disk full, read-only) fails the whole batch.
 */
import type Database from 'better-sqlite3';
import { openDatabase, type ConnectionOptions } from './schema';
import { idempotencyKey, summarize } from './summary';
import type {
  BatchReply, BatchRequest, EnqueueResult, ErrorInfo, MessageColumns, OpResult, PurgeResult, ReprocessResult,
  TransitionResult, WriteOp,
} from './types';

/** A domain failure of one op; it does not abort the batch. */
class OpError extends Error {
  constructor(readonly gatewayCode: string, readonly params: Record<string, string | number>) { super(gatewayCode); }
}

/** SQLite / fs errors after which the transaction cannot be trusted: fail the whole batch. */
function isBatchFatal(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB|PERM|BUSY|LOCKED|NOMEM|PROTOCOL|AUTH)/.test(code)
    || /^E[A-Z]+$/.test(code);
}

function errorOf(err: unknown): OpResult {
  if (err instanceof OpError) {
    return { ok: false, error: { code: err.gatewayCode, message: err.gatewayCode,
      gateway: { code: err.gatewayCode, params: err.params } } };
  }
  const e = err as { code?: unknown; message?: unknown };
  return { ok: false, error: { code: String(e?.code ?? 'ERROR'), message: String(e?.message ?? err) } };
}

const json = (e: ErrorInfo | null): string | null => (e ? JSON.stringify(e) : null);

function sizeOf(cols: MessageColumns): number {
  return (cols.raw?.byteLength ?? 0) + Buffer.byteLength(cols.text, 'utf8');
}

export class Writer {
  private db: Database.Database | null = null;
  private st: ReturnType<Writer['prepare']> | null = null;
  /** Message rows inserted in the current transaction (fast path only: no op there was rolled back). */
  private readonly written = new Set<number>();
  private trackWritten = false;

  constructor(private readonly file: string, private readonly opts: ConnectionOptions = {}) {}

  /** Opens the database on first use and again after a failure (a directory fixed by an operator recovers). */
  private open(): { db: Database.Database; st: ReturnType<Writer['prepare']> } {
    if (!this.db || !this.st) {
      const db = openDatabase(this.file, this.opts);
      try { this.st = this.prepare(db); } catch (err) { db.close(); throw err; }
      this.db = db;
    }
    return { db: this.db, st: this.st };
  }

  private prepare(db: Database.Database) {
    return {
      insertMessage: db.prepare(`INSERT INTO messages (id, direction, kind, type, control_id, sender, barcode,
          patient_id, peer, status, destination, idem_key, raw, text, meta, size, received_at, updated_at, related_id)
        VALUES (@id, @direction, @kind, @type, @controlId, @sender, @barcode, @patientId, @peer, @status,
          @destination, @key, @raw, @text, @meta, @size, @at, @at, @relatedId)
        ON CONFLICT(id) DO UPDATE SET
          kind = coalesce(excluded.kind, kind), type = coalesce(excluded.type, type),
          control_id = coalesce(excluded.control_id, control_id), sender = coalesce(excluded.sender, sender),
          barcode = coalesce(excluded.barcode, barcode), patient_id = coalesce(excluded.patient_id, patient_id),
          peer = coalesce(peer, excluded.peer), status = excluded.status,
          destination = coalesce(excluded.destination, destination), idem_key = coalesce(excluded.idem_key, idem_key),
          raw = coalesce(raw, excluded.raw), text = coalesce(excluded.text, text), meta = coalesce(excluded.meta, meta),
          size = max(size, excluded.size), updated_at = excluded.updated_at,
          related_id = coalesce(excluded.related_id, related_id)`),
      history: db.prepare(`INSERT INTO history (message_id, at, status, actor, destination, attempt, detail)
        VALUES (?, ?, ?, ?, ?, ?, ?)`),
      messageById: db.prepare('SELECT id, status, destination, idem_key FROM messages WHERE id = ?'),
      setStatus: db.prepare('UPDATE messages SET status = ?, updated_at = ? WHERE id = ?'),
      msgRespool: db.prepare(`UPDATE messages SET status = 'spooled', destination = ?, updated_at = ? WHERE id = ?`),
      setAcked: db.prepare(`UPDATE messages SET acked_at = coalesce(acked_at, @at), updated_at = @at,
          status = CASE WHEN status IN ('received', 'spooled') THEN 'acked' ELSE status END WHERE id = @id`),
      setError: db.prepare('UPDATE messages SET last_error = ?, updated_at = ? WHERE id = ?'),
      idemGet: db.prepare('SELECT message_id, state FROM idem_keys WHERE destination = ? AND key = ?'),
      idemPut: db.prepare(`INSERT INTO idem_keys (destination, key, message_id, state, at) VALUES (?, ?, ?, 'queued', ?)
        ON CONFLICT(destination, key) DO UPDATE SET message_id = excluded.message_id, state = 'queued', at = excluded.at`),
      idemState: db.prepare('UPDATE idem_keys SET state = ? WHERE destination = ? AND key = ? AND message_id = ?'),
      spoolInsert: db.prepare(`INSERT INTO spool (message_id, destination, state, enqueued_at, idem_key)
        VALUES (?, ?, 'queued', ?, ?)`),
      spoolGet: db.prepare('SELECT seq, message_id, destination, state, idem_key FROM spool WHERE seq = ?'),
      spoolQueuedFor: db.prepare(`SELECT seq FROM spool WHERE message_id = ? AND destination = ? AND state = 'queued'`),
      spoolDelete: db.prepare('DELETE FROM spool WHERE seq = ?'),
      spoolDeleteDead: db.prepare(`DELETE FROM spool WHERE message_id = ? AND destination = ? AND state = 'dead'`),
      spoolFailed: db.prepare(`UPDATE spool SET attempts = ?, failures = ?, next_at = ?, last_error = ?
        WHERE seq = ? AND state = 'queued'`),
      spoolDead: db.prepare(`UPDATE spool SET state = 'dead', attempts = ?, failures = ?, last_error = ?
        WHERE seq = ? AND state = 'queued'`),
      msgDelivered: db.prepare(`UPDATE messages SET status = 'delivered', delivered_at = ?, updated_at = ?,
        attempts = attempts + ?, last_error = NULL WHERE id = ?`),
      msgFailed: db.prepare(`UPDATE messages SET status = ?, updated_at = ?, attempts = attempts + 1, last_error = ?
        WHERE id = ?`),
      purgeAge: db.prepare(`SELECT id FROM messages m WHERE received_at < ?
        AND NOT EXISTS (SELECT 1 FROM spool s WHERE s.message_id = m.id) ORDER BY received_at LIMIT ?`),
      purgeOldest: db.prepare(`SELECT id FROM messages m
        WHERE NOT EXISTS (SELECT 1 FROM spool s WHERE s.message_id = m.id) ORDER BY received_at LIMIT ?`),
      purgeHistory: db.prepare('DELETE FROM history WHERE message_id IN (SELECT value FROM json_each(?))'),
      purgeIdem: db.prepare('DELETE FROM idem_keys WHERE message_id IN (SELECT value FROM json_each(?))'),
      purgeMessages: db.prepare('DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))'),
    };
  }

  /** Applies a batch in one transaction and commits it (fsync). Never throws: errors are per-op results. */
  apply(req: BatchRequest): BatchReply {
    const started = performance.now();
    let db: Database.Database, st: ReturnType<Writer['prepare']>;
    try {
      ({ db, st } = this.open());
    } catch (err) {
      this.reset();
      const failed = errorOf(err);
      return { batch: req.batch, results: req.ops.map(() => failed), commitMs: performance.now() - started };
    }
    let results: OpResult[] = [];
    try {
      db.exec('BEGIN IMMEDIATE');
      // fast path: no savepoints; ops almost never fail one by one
      let failedOne = false;
      this.trackWritten = true;
      try {
        for (const op of req.ops) {
          try {
            results.push({ ok: true, value: this.applyOp(st, op) });
          } catch (err) {
            if (isBatchFatal(err) || !db.inTransaction) throw err;
            failedOne = true;
            break;
          }
        }
      } finally {
        this.trackWritten = false;
        this.written.clear();
      }
      if (failedOne) {
        // slow path: start over with a savepoint per op, so only the failing ops are rejected
        db.exec('ROLLBACK; BEGIN IMMEDIATE');
        results = [];
        for (const op of req.ops) {
          db.exec('SAVEPOINT op');
          try {
            const value = this.applyOp(st, op);
            db.exec('RELEASE op');
            results.push({ ok: true, value });
          } catch (err) {
            if (isBatchFatal(err) || !db.inTransaction) throw err;
            db.exec('ROLLBACK TO op; RELEASE op');
            results.push(errorOf(err));
          }
        }
      }
      db.exec('COMMIT');
    } catch (err) {
      try { if (db.inTransaction) db.exec('ROLLBACK'); } catch { /* the connection is dropped below */ }
      if (isBatchFatal(err) || db.inTransaction) this.reset();   // reopen next time: the directory may be fixed
      const failed = errorOf(err);
      return { batch: req.batch, results: req.ops.map(() => failed), commitMs: performance.now() - started };
    }
    return { batch: req.batch, results, commitMs: performance.now() - started };
  }

  private applyOp(st: ReturnType<Writer['prepare']>, op: WriteOp): unknown {
    switch (op.op) {
      case 'log': {
        st.insertMessage.run(this.row(op.id, op.cols, op.status, op.at, null, null, null, op.relatedId));
        st.history.run(op.id, op.at, op.status, op.actor, null, null, op.detail);
        if (this.trackWritten) this.written.add(op.id);
        return { messageId: op.id };
      }
      case 'event': {
        // a row written earlier in this same transaction exists: no need to look it up
        if (!this.written.has(op.id) && !st.messageById.get(op.id)) throw new OpError('STORE_NOT_FOUND', { id: op.id });
        if (op.acked) st.setAcked.run({ at: op.at, id: op.id });
        else if (op.status) st.setStatus.run(op.status, op.at, op.id);
        if (op.error) st.setError.run(json(op.error), op.at, op.id);
        st.history.run(op.id, op.at, op.acked ? 'acked' : (op.status ?? 'note'), op.actor, null, null,
          op.detail ?? (op.error ? `${op.error.code}: ${op.error.message}` : null));
        return { messageId: op.id };
      }
      case 'enqueue': return this.enqueue(st, op);
      case 'delivered': {
        // a late success for a parked message still counts: the destination has it
        const s = st.spoolGet.get(op.seq) as SpoolRow | undefined;
        if (!s) return { changed: false, messageId: null, destination: null } satisfies TransitionResult;
        st.spoolDelete.run(op.seq);
        st.msgDelivered.run(op.at, op.at, 1, s.message_id);
        if (s.idem_key) st.idemState.run('delivered', s.destination, s.idem_key, s.message_id);
        st.history.run(s.message_id, op.at, 'delivered', op.actor, s.destination, op.attempts, op.detail);
        return { changed: true, messageId: s.message_id, destination: s.destination } satisfies TransitionResult;
      }
      case 'failed': {
        const s = st.spoolGet.get(op.seq) as SpoolRow | undefined;
        if (!s || s.state !== 'queued') return { changed: false, messageId: s?.message_id ?? null, destination: s?.destination ?? null } satisfies TransitionResult;
        st.spoolFailed.run(op.attempts, op.failures, op.nextAt, json(op.error), op.seq);
        st.msgFailed.run('failed', op.at, json(op.error), s.message_id);
        st.history.run(s.message_id, op.at, 'failed', op.actor, s.destination, op.attempts,
          `${op.error.code}: ${op.error.message}`);
        return { changed: true, messageId: s.message_id, destination: s.destination } satisfies TransitionResult;
      }
      case 'dead': {
        const s = st.spoolGet.get(op.seq) as SpoolRow | undefined;
        if (!s || s.state !== 'queued') return { changed: false, messageId: s?.message_id ?? null, destination: s?.destination ?? null } satisfies TransitionResult;
        st.spoolDead.run(op.attempts, op.failures, json(op.error), op.seq);
        st.msgFailed.run('dead', op.at, json(op.error), s.message_id);
        if (s.idem_key) st.idemState.run('dead', s.destination, s.idem_key, s.message_id);
        st.history.run(s.message_id, op.at, 'dead', op.actor, s.destination, op.attempts,
          `${op.error.code}: ${op.error.message}`);
        return { changed: true, messageId: s.message_id, destination: s.destination } satisfies TransitionResult;
      }
      case 'park': {
        const s = st.spoolGet.get(op.seq) as SpoolRow | undefined;
        if (!s) throw new OpError('STORE_NOT_FOUND', { id: op.seq });
        if (s.state !== 'queued') return { changed: false, messageId: s.message_id, destination: s.destination } satisfies TransitionResult;
        const error: ErrorInfo = { code: 'PARKED', message: op.detail ?? 'parked by an operator' };
        st.spoolDead.run(0, 0, json(error), op.seq);
        st.setStatus.run('dead', op.at, s.message_id);
        if (s.idem_key) st.idemState.run('dead', s.destination, s.idem_key, s.message_id);
        st.history.run(s.message_id, op.at, 'dead', op.actor, s.destination, null, error.message);
        return { changed: true, messageId: s.message_id, destination: s.destination } satisfies TransitionResult;
      }
      case 'reprocess': return this.reprocess(st, op);
      case 'purge': {
        const rows = (op.olderThan !== null ? st.purgeAge.all(op.olderThan, op.batch) : st.purgeOldest.all(op.batch)) as { id: number }[];
        if (rows.length === 0) return { deleted: 0 } satisfies PurgeResult;
        const ids = JSON.stringify(rows.map((r) => r.id));
        st.purgeHistory.run(ids);
        st.purgeIdem.run(ids);
        st.purgeMessages.run(ids);
        return { deleted: rows.length } satisfies PurgeResult;
      }
    }
  }

  private row(id: number, cols: MessageColumns, status: string, at: number, destination: string | null,
              key: string | null, meta: string | null, relatedId: number | null) {
    const s = summarize(cols.text);
    return {
      id, direction: cols.direction, kind: cols.kind ?? (s.type?.startsWith('ACK') ? 'ack' : null),
      type: cols.type ?? s.type, controlId: cols.controlId ?? s.controlId, sender: cols.sender ?? s.sender,
      barcode: cols.barcode ?? s.barcode, patientId: cols.patientId ?? s.patientId, peer: cols.peer, status, destination, key,
      raw: cols.raw ? Buffer.from(cols.raw.buffer, cols.raw.byteOffset, cols.raw.byteLength) : null,
      text: cols.text, meta, size: sizeOf(cols), at, relatedId,
    };
  }

  private enqueue(st: ReturnType<Writer['prepare']>, op0: Extract<WriteOp, { op: 'enqueue' }>): EnqueueResult {
    const op = op0.autoKey ? { ...op0, key: idempotencyKey(op0.cols.text) } : op0;
    if (op.key) {
      const prior = st.idemGet.get(op.destination, op.key) as { message_id: number; state: string } | undefined;
      if (prior && prior.message_id === op.id && (prior.state === 'queued' || prior.state === 'delivered')) {
        // the same stored message offered again (e.g. wired back by mistake): not a second delivery
        st.history.run(op.id, op.at, 'duplicate', op.actor, op.destination, null, `already ${prior.state}`);
        return { messageId: op.id, seq: null, duplicate: true, originalId: op.id, key: op.key };
      }
      if (prior && (prior.state === 'queued' || prior.state === 'delivered')) {
        st.insertMessage.run(this.row(op.id, op.cols, 'duplicate', op.at, op.destination, op.key, op.meta, prior.message_id));
        st.history.run(op.id, op.at, 'duplicate', op.actor, op.destination, null, `of #${prior.message_id} (${prior.state})`);
        return { messageId: op.id, seq: null, duplicate: true, originalId: prior.message_id, key: op.key };
      }
    }
    st.insertMessage.run(this.row(op.id, op.cols, 'spooled', op.at, op.destination, op.key, op.meta, null));
    const seq = Number(st.spoolInsert.run(op.id, op.destination, op.at, op.key).lastInsertRowid);
    if (op.key) st.idemPut.run(op.destination, op.key, op.id, op.at);
    st.history.run(op.id, op.at, 'spooled', op.actor, op.destination, null, `#${seq}`);
    return { messageId: op.id, seq, duplicate: false, originalId: null, key: op.key };
  }

  private reprocess(st: ReturnType<Writer['prepare']>, op: Extract<WriteOp, { op: 'reprocess' }>): ReprocessResult {
    const m = st.messageById.get(op.id) as { id: number; destination: string | null; idem_key: string | null } | undefined;
    if (!m) throw new OpError('STORE_NOT_FOUND', { id: op.id });
    const destination = op.destination ?? m.destination;
    if (!destination) throw new OpError('CONFIG_INVALID', { detail: `message ${op.id} has no destination` });
    const queued = st.spoolQueuedFor.get(op.id, destination) as { seq: number } | undefined;
    if (queued) return { messageId: op.id, seq: queued.seq, destination, alreadyQueued: true };
    st.spoolDeleteDead.run(op.id, destination);
    const seq = Number(st.spoolInsert.run(op.id, destination, op.at, m.idem_key).lastInsertRowid);
    if (m.idem_key) st.idemPut.run(destination, m.idem_key, op.id, op.at);
    st.msgRespool.run(destination, op.at, op.id);
    st.history.run(op.id, op.at, 'spooled', op.actor, destination, null, `reprocess #${seq}`);
    return { messageId: op.id, seq, destination, alreadyQueued: false };
  }

  /** Drops the connection so the next batch reopens it (after an I/O error or a vanished file). */
  reset(): void {
    try { this.db?.close(); } catch { /* already broken */ }
    this.db = null;
    this.st = null;
  }

  close(): void { this.reset(); }
}

interface SpoolRow { seq: number; message_id: number; destination: string; state: string; idem_key: string | null }

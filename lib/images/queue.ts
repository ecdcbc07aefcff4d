// SPDX-License-Identifier: Apache-2.0
/**
 * The durable image queue: one SQLite file plus folders under the image directory.
 *
 *   <dir>/queue.sqlite          entries and their audit trail (who did what, when)
 *   <dir>/incoming/             files received and not yet decided ("<uuid>--<name>")
 *   <dir>/store/<patient>/<YYYYMMDD>/<name>    approved images (the image store)
 *   <dir>/rejected/<YYYYMMDD>/<id>-<name>       rejected images, kept
 *
 * An entry is one image: the file (upload, drop folder or ED data) and the image-type message that names
 * it, matched by file name (the MG's serial number) in either order. Nothing is ever deleted: an upload
 * without a message or a message without an upload waits, visibly, until it is matched or staff reject it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import Database = require('better-sqlite3');
import { GatewayError } from '../errors';
import { readImageMessage, type MappedPatient } from './hl7-images';
import { contentTypeOf, matchKey, safeSegment, validateImageName } from './names';
import { fsyncDir, moveFileDurable, receiveToFile, writeFileAtomic } from './receiver';

export type ImageState = 'awaiting-file' | 'awaiting-message' | 'pending' | 'approving' | 'approved'
  | 'rejecting' | 'rejected';

export interface ImageEntry {
  id: number;
  name: string;
  state: ImageState;
  source: 'upload' | 'drop' | 'ed' | 'name' | 'rp' | 'recovered';
  hl7: string | null;
  messageType: string | null;
  controlId: string | null;
  obxIndex: number | null;
  test: string | null;
  barcode: string | null;
  device: string | null;
  observedAt: string | null;
  filePath: string | null;
  size: number | null;
  sha256: string | null;
  contentType: string | null;
  messageAt: string | null;
  fileAt: string | null;
  createdAt: string;
  updatedAt: string;
  patient: MappedPatient | null;
  mappedBy: string | null;
  mappedAt: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
  dispatchedAt: string | null;
  /** Transport context of the message (e.g. msg._session, msg.mllp), kept for the reply. */
  context: Record<string, unknown> | null;
}

export interface ImageEvent { id: number; imageId: number; at: string; actor: string; action: string; detail: string | null }

export interface ListOptions { states?: ImageState[]; q?: string; limit?: number; offset?: number }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS image (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL, match_key TEXT NOT NULL, state TEXT NOT NULL, source TEXT NOT NULL,
  hl7 TEXT, message_type TEXT, control_id TEXT, obx_index INTEGER, test TEXT,
  barcode TEXT, device TEXT, observed_at TEXT,
  file_path TEXT, size INTEGER, sha256 TEXT, content_type TEXT, target_path TEXT,
  message_at TEXT, file_at TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  patient TEXT, mapped_by TEXT, mapped_at TEXT, decided_by TEXT, decided_at TEXT, reason TEXT,
  dispatched_at TEXT, context TEXT
);
CREATE INDEX IF NOT EXISTS image_key ON image (match_key, state);
CREATE INDEX IF NOT EXISTS image_state ON image (state, id);
CREATE TABLE IF NOT EXISTS image_event (
  id INTEGER PRIMARY KEY AUTOINCREMENT, image_id INTEGER NOT NULL, at TEXT NOT NULL,
  actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS image_event_image ON image_event (image_id, id);
`;

type Row = Record<string, unknown>;

function toEntry(r: Row): ImageEntry {
  const json = (v: unknown): any => (typeof v === 'string' && v ? JSON.parse(v) : null);
  return {
    id: r.id as number, name: r.name as string, state: r.state as ImageState, source: r.source as ImageEntry['source'],
    hl7: r.hl7 as string | null, messageType: r.message_type as string | null, controlId: r.control_id as string | null,
    obxIndex: r.obx_index as number | null, test: r.test as string | null, barcode: r.barcode as string | null,
    device: r.device as string | null, observedAt: r.observed_at as string | null, filePath: r.file_path as string | null,
    size: r.size as number | null, sha256: r.sha256 as string | null, contentType: r.content_type as string | null,
    messageAt: r.message_at as string | null, fileAt: r.file_at as string | null, createdAt: r.created_at as string,
    updatedAt: r.updated_at as string, patient: json(r.patient), mappedBy: r.mapped_by as string | null,
    mappedAt: r.mapped_at as string | null, decidedBy: r.decided_by as string | null, decidedAt: r.decided_at as string | null,
    reason: r.reason as string | null, dispatchedAt: r.dispatched_at as string | null, context: json(r.context),
  };
}

/** Local calendar date YYYYMMDD of an ISO time (the store's date folders follow the hospital's clock). */
function localDate(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
}

export interface MessageInput {
  hl7: string;
  actor: string;
  context?: Record<string, unknown>;
}

export interface UploadResult { entry: ImageEntry; duplicate: boolean; matched: boolean }

/** The durable queue of images waiting for their message, their file, or a staff decision. */
export class ImageQueue extends EventEmitter {
  readonly dir: string;
  readonly incomingDir: string;
  readonly storeDir: string;
  readonly rejectedDir: string;
  private readonly db: Database.Database;

  constructor(dir: string, opts: { storeDir?: string } = {}) {
    super();
    this.dir = dir;
    this.incomingDir = path.join(dir, 'incoming');
    this.storeDir = opts.storeDir || path.join(dir, 'store');
    this.rejectedDir = path.join(dir, 'rejected');
    for (const d of [this.incomingDir, this.storeDir, this.rejectedDir]) fs.mkdirSync(d, { recursive: true });
    this.db = new Database(path.join(dir, 'queue.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.recover();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private now(): string { return new Date().toISOString(); }

  /** Appends to an entry's audit trail. */
  addEvent(imageId: number, actor: string, action: string, detail?: string | Record<string, unknown>): void {
    this.db.prepare('INSERT INTO image_event (image_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)')
      .run(imageId, this.now(), actor || 'system', action,
        detail === undefined ? null : typeof detail === 'string' ? detail : JSON.stringify(detail));
  }

  get(id: number): ImageEntry | undefined {
    const r = this.db.prepare('SELECT * FROM image WHERE id = ?').get(id) as Row | undefined;
    return r ? toEntry(r) : undefined;
  }

  /** Like get(), but throws IMAGE_NOT_FOUND. */
  require(id: number): ImageEntry {
    const e = this.get(id);
    if (!e) throw new GatewayError('IMAGE_NOT_FOUND', { name: String(id) });
    return e;
  }

  events(id: number): ImageEvent[] {
    return (this.db.prepare('SELECT * FROM image_event WHERE image_id = ? ORDER BY id').all(id) as Row[]).map((r) => ({
      id: r.id as number, imageId: r.image_id as number, at: r.at as string, actor: r.actor as string,
      action: r.action as string, detail: r.detail as string | null,
    }));
  }

  /** Entries, newest first, optionally filtered by state and by a search over name, barcode, device, patient. */
  list(opts: ListOptions = {}): ImageEntry[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.states?.length) { where.push(`state IN (${opts.states.map(() => '?').join(',')})`); args.push(...opts.states); }
    if (opts.q) {
      where.push('(name LIKE ? OR barcode LIKE ? OR device LIKE ? OR patient LIKE ? OR control_id LIKE ?)');
      const like = `%${opts.q.replace(/[%_]/g, (c) => `\\${c}`)}%`;
      args.push(like, like, like, like, like);
    }
    const sql = `SELECT * FROM image ${where.length ? 'WHERE ' + where.join(' AND ').replace(/LIKE \?/g, "LIKE ? ESCAPE '\\'") : ''}
      ORDER BY id DESC LIMIT ? OFFSET ?`;
    args.push(Math.min(opts.limit ?? 100, 1000), opts.offset ?? 0);
    return (this.db.prepare(sql).all(...args) as Row[]).map(toEntry);
  }

  /** Number of entries per state. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.db.prepare('SELECT state, COUNT(*) AS n FROM image GROUP BY state').all() as Row[]) out[r.state as string] = r.n as number;
    return out;
  }

  /** Oldest creation time per waiting state (for "waiting since" on the page and the node status). */
  oldestWaiting(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const r of this.db.prepare(`SELECT state, MIN(created_at) AS t FROM image
      WHERE state IN ('awaiting-file','awaiting-message','pending') GROUP BY state`).all() as Row[]) out[r.state as string] = r.t as string;
    return out;
  }

  private changed(id: number): ImageEntry {
    const e = this.require(id);
    this.emit('change', e);
    return e;
  }

  /**
   * Records an image-type message: one entry per image it names or carries. ED data is written to
   * incoming/ first (durably), so an entry never points at a file that is not there. Names are matched
   * against uploads that are already waiting (oldest first).
   */
  addMessage(input: MessageInput): ImageEntry[] {
    const info = readImageMessage(input.hl7);
    const at = this.now();
    const files = new Map<number, string>();
    for (const img of info.images) {
      if (img.source !== 'ed' || !img.data) continue;
      const file = path.join(this.incomingDir, `${randomUUID()}--${img.name}`);
      writeFileAtomic(file, img.data);
      files.set(img.obxIndex, file);
    }
    const ids: number[] = [];
    const tx = this.db.transaction(() => {
      for (const img of info.images) {
        const common = {
          hl7: input.hl7, message_type: info.type, control_id: info.controlId, obx_index: img.obxIndex, test: img.test,
          barcode: info.barcode, device: info.device, observed_at: info.observedAt, message_at: at, updated_at: at,
          context: input.context ? JSON.stringify(input.context) : null,
        };
        // The MG resends a message whose ACK it did not get: the same text for the same image is one entry.
        const resent = this.db.prepare('SELECT id FROM image WHERE match_key = ? AND obx_index = ? AND hl7 = ? ORDER BY id LIMIT 1')
          .get(matchKey(img.name), img.obxIndex, input.hl7) as Row | undefined;
        if (resent) {
          this.addEvent(resent.id as number, input.actor, 'duplicate-message', { controlId: info.controlId });
          const f = files.get(img.obxIndex);
          if (f) { fs.rmSync(f, { force: true }); files.delete(img.obxIndex); }
          ids.push(resent.id as number);
          continue;
        }
        const waiting = img.source === 'ed' ? undefined : this.db.prepare(
          "SELECT id FROM image WHERE match_key = ? AND state = 'awaiting-message' ORDER BY id LIMIT 1").get(matchKey(img.name)) as Row | undefined;
        let id: number;
        if (waiting) {
          id = waiting.id as number;
          this.db.prepare(`UPDATE image SET state = 'pending', hl7 = @hl7, message_type = @message_type, control_id = @control_id,
            obx_index = @obx_index, test = @test, barcode = @barcode, device = @device, observed_at = @observed_at,
            message_at = @message_at, updated_at = @updated_at, context = @context WHERE id = @id`).run({ ...common, id });
          this.addEvent(id, input.actor, 'message', { controlId: info.controlId, obx: img.obxIndex });
          this.addEvent(id, 'system', 'matched', { by: 'name', name: img.name });
        } else {
          const ed = img.source === 'ed';
          const r = this.db.prepare(`INSERT INTO image (name, match_key, state, source, hl7, message_type, control_id, obx_index, test,
            barcode, device, observed_at, file_path, size, sha256, content_type, message_at, file_at, created_at, updated_at, context)
            VALUES (@name, @match_key, @state, @source, @hl7, @message_type, @control_id, @obx_index, @test, @barcode, @device,
            @observed_at, @file_path, @size, @sha256, @content_type, @message_at, @file_at, @created_at, @updated_at, @context)`).run({
            ...common, name: img.name, match_key: matchKey(img.name), state: ed ? 'pending' : 'awaiting-file', source: img.source,
            file_path: ed ? files.get(img.obxIndex) : null, size: ed ? img.data!.length : null, sha256: ed ? img.sha256 : null,
            content_type: ed ? img.contentType : null, file_at: ed ? at : null, created_at: at,
          });
          id = Number(r.lastInsertRowid);
          this.addEvent(id, input.actor, 'message', { controlId: info.controlId, obx: img.obxIndex });
          if (ed) this.addEvent(id, 'system', 'file', { source: 'ed', size: img.data!.length, sha256: img.sha256 });
        }
        ids.push(id);
      }
    });
    tx();
    return ids.map((id) => this.changed(id));
  }

  /**
   * Streams an upload into incoming/ and matches it to a waiting message. The same file uploaded twice
   * (same name, same SHA-256) is recognised and not stored again; a different file under a name already
   * used becomes its own entry (never overwrites).
   */
  async addUpload(source: Readable, name: string, opts: { maxBytes: number; expectedSha256?: string; actor: string; origin?: 'upload' | 'drop' }): Promise<UploadResult> {
    validateImageName(name);
    const file = path.join(this.incomingDir, `${randomUUID()}--${name}`);
    const got = await receiveToFile(source, file, { maxBytes: opts.maxBytes, expectedSha256: opts.expectedSha256 });
    return this.adoptFile(file, name, got.size, got.sha256, contentTypeOf(got.head, name), opts.actor, opts.origin ?? 'upload');
  }

  /** Records a file already durable in incoming/ (upload, drop folder, recovery). */
  adoptFile(file: string, name: string, size: number, sha256: string, contentType: string, actor: string,
    source: ImageEntry['source']): UploadResult {
    const at = this.now();
    const key = matchKey(name);
    let result: { id: number; duplicate: boolean; matched: boolean } | undefined;
    const tx = this.db.transaction(() => {
      const same = this.db.prepare(`SELECT id FROM image WHERE match_key = ? AND sha256 = ? AND state NOT IN ('rejected','rejecting')
        ORDER BY id LIMIT 1`).get(key, sha256) as Row | undefined;
      if (same) {
        this.addEvent(same.id as number, actor, 'duplicate-upload', { size, sha256 });
        result = { id: same.id as number, duplicate: true, matched: false };
        return;
      }
      const waiting = this.db.prepare("SELECT id FROM image WHERE match_key = ? AND state = 'awaiting-file' ORDER BY id LIMIT 1")
        .get(key) as Row | undefined;
      if (waiting) {
        const id = waiting.id as number;
        this.db.prepare(`UPDATE image SET state = 'pending', file_path = ?, size = ?, sha256 = ?, content_type = ?, file_at = ?,
          updated_at = ? WHERE id = ?`).run(file, size, sha256, contentType, at, at, id);
        this.addEvent(id, actor, 'file', { source, size, sha256 });
        this.addEvent(id, 'system', 'matched', { by: 'name', name });
        result = { id, duplicate: false, matched: true };
        return;
      }
      const r = this.db.prepare(`INSERT INTO image (name, match_key, state, source, file_path, size, sha256, content_type, file_at,
        created_at, updated_at) VALUES (?, ?, 'awaiting-message', ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(name, key, source, file, size, sha256, contentType, at, at, at);
      const id = Number(r.lastInsertRowid);
      this.addEvent(id, actor, 'file', { source, size, sha256 });
      result = { id, duplicate: false, matched: false };
    });
    tx();
    const res = result!;
    if (res.duplicate) fs.rmSync(file, { force: true });
    return { entry: this.changed(res.id), duplicate: res.duplicate, matched: res.matched };
  }

  /** Staff chose the patient for a pending entry (may be changed until approval). */
  map(id: number, patient: MappedPatient, actor: string): ImageEntry {
    if (!patient || typeof patient.id !== 'string' || patient.id.trim() === '') throw new GatewayError('IMAGE_NO_PATIENT', { id });
    const clean: Record<string, string> = {};
    for (const k of ['id', 'name', 'sex', 'birthDate', 'age', 'barcode', 'location'] as const) {
      const v = (patient as unknown as Record<string, unknown>)[k];
      if (v !== undefined && v !== null && v !== '') clean[k] = String(v).trim();
    }
    const p = clean as unknown as MappedPatient;
    const at = this.now();
    const tx = this.db.transaction(() => {
      const e = this.require(id);
      if (e.state !== 'pending') throw new GatewayError('IMAGE_BAD_STATE', { id, state: e.state });
      this.db.prepare('UPDATE image SET patient = ?, mapped_by = ?, mapped_at = ?, updated_at = ? WHERE id = ?')
        .run(JSON.stringify(p), actor, at, at, id);
      this.addEvent(id, actor, 'mapped', { patientId: p.id });
    });
    tx();
    return this.changed(id);
  }

  /** Path in the image store for an entry: store/<patient>/<YYYYMMDD of OBR-7 or arrival>/<name>, never an existing file. */
  private storePathFor(e: ImageEntry, patientId: string): string {
    const date = /^\d{8}/.test(e.observedAt ?? '') ? (e.observedAt as string).slice(0, 8) : localDate(e.messageAt ?? e.createdAt);
    const dir = path.join(this.storeDir, safeSegment(patientId), date);
    let target = path.join(dir, e.name);
    if (fs.existsSync(target)) target = path.join(dir, `${e.id}-${e.name}`);
    return target;
  }

  /**
   * Approves a pending, mapped entry and moves its file into the image store. `patientId` must be the
   * patient the staff member saw: an entry remapped by someone else in between is not approved.
   */
  approve(id: number, patientId: string, actor: string): ImageEntry {
    let target = '';
    const tx = this.db.transaction(() => {
      const e = this.require(id);
      if (e.state !== 'pending') throw new GatewayError('IMAGE_BAD_STATE', { id, state: e.state });
      if (!e.patient) throw new GatewayError('IMAGE_NO_PATIENT', { id });
      if (e.patient.id !== patientId) throw new GatewayError('IMAGE_PATIENT_MISMATCH', { id });
      target = this.storePathFor(e, e.patient.id);
      this.db.prepare("UPDATE image SET state = 'approving', target_path = ?, decided_by = ?, decided_at = ?, updated_at = ? WHERE id = ?")
        .run(target, actor, this.now(), this.now(), id);
    });
    tx();
    this.finishMove(id, 'approved');
    this.addEvent(id, actor, 'approved', { patientId });
    this.addEvent(id, 'system', 'stored', { path: path.relative(this.dir, target) });
    return this.changed(id);
  }

  /** Rejects an entry that is not yet decided; its file (if any) is kept under rejected/. */
  reject(id: number, reason: string, actor: string): ImageEntry {
    const tx = this.db.transaction(() => {
      const e = this.require(id);
      if (!['pending', 'awaiting-file', 'awaiting-message'].includes(e.state)) throw new GatewayError('IMAGE_BAD_STATE', { id, state: e.state });
      const target = e.filePath ? path.join(this.rejectedDir, localDate(this.now()), `${e.id}-${e.name}`) : null;
      this.db.prepare(`UPDATE image SET state = 'rejecting', target_path = ?, reason = ?, decided_by = ?, decided_at = ?, updated_at = ?
        WHERE id = ?`).run(target, reason || null, actor, this.now(), this.now(), id);
    });
    tx();
    this.finishMove(id, 'rejected');
    this.addEvent(id, actor, 'rejected', reason ? { reason } : undefined);
    return this.changed(id);
  }

  /** Second half of approve/reject: move the file to target_path, then record the final state. Idempotent (recovery). */
  private finishMove(id: number, final: 'approved' | 'rejected'): void {
    const r = this.db.prepare('SELECT file_path, target_path FROM image WHERE id = ?').get(id) as Row;
    const from = r.file_path as string | null;
    const to = r.target_path as string | null;
    if (from && to && from !== to) {
      if (fs.existsSync(from)) moveFileDurable(from, to);
      else if (!fs.existsSync(to)) throw new GatewayError('IMAGE_STORE_FAILED', { detail: `${path.basename(from)} is missing` });
    }
    this.db.prepare('UPDATE image SET state = ?, file_path = COALESCE(target_path, file_path), target_path = NULL, updated_at = ? WHERE id = ?')
      .run(final, this.now(), id);
  }

  /** Marks an approved/rejected entry as handed to the flow (outputs sent). */
  markDispatched(id: number): void {
    this.db.prepare('UPDATE image SET dispatched_at = ? WHERE id = ?').run(this.now(), id);
  }

  /** Decided entries whose outputs were never sent (e.g. a crash right after the decision). */
  undispatched(): ImageEntry[] {
    return (this.db.prepare("SELECT * FROM image WHERE state IN ('approved','rejected') AND dispatched_at IS NULL ORDER BY id").all() as Row[]).map(toEntry);
  }

  /**
   * After a crash: finishes half-done moves, removes partial uploads (`.part`, never acknowledged), and
   * adopts complete files in incoming/ that no entry references (renamed but not yet recorded) as
   * waiting uploads, so no received image is ever lost.
   */
  recover(): void {
    for (const r of this.db.prepare("SELECT id, state FROM image WHERE state IN ('approving','rejecting')").all() as Row[]) {
      this.finishMove(r.id as number, r.state === 'approving' ? 'approved' : 'rejected');
      this.addEvent(r.id as number, 'system', 'recovered', { state: r.state as string });
    }
    const known = new Set((this.db.prepare('SELECT file_path FROM image WHERE file_path IS NOT NULL').all() as Row[]).map((r) => r.file_path as string));
    for (const f of fs.readdirSync(this.incomingDir)) {
      const full = path.join(this.incomingDir, f);
      if (f.startsWith('.') && f.endsWith('.part')) { fs.rmSync(full, { force: true }); continue; }
      const m = /^[0-9a-f-]{36}--(.+)$/.exec(f);
      if (!m || known.has(full)) continue;
      const data = fs.readFileSync(full);
      const sha = createHash('sha256').update(data).digest('hex');
      this.adoptFile(full, m[1], data.length, sha, contentTypeOf(data.subarray(0, 512), m[1]), 'system', 'recovered');
    }
    fsyncDir(this.incomingDir);
  }
}

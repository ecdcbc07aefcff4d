// SPDX-License-Identifier: Apache-2.0
/**
 * image mapping: the image-type workflow of SPEC 3.2. Image-type messages come in; uploads arrive at
 * POST /mgs/images/<name> (httpNode) or in a drop folder; both wait in a durable queue (lib/images) until
 * matched; staff map each image to a patient and approve or reject it on the management page (/mgs),
 * through the JSON routes below (httpAdmin, same login as the editor). Outputs:
 *   1 approved   the message with PID filled, msg.image (stored file, patient): for emr write and pacs forward
 *   2 reply      to the MG: the receipt ACK for each queued message (AA, with msg._session), and later
 *                the approval/rejection reply (the image message echoed, or an ACK: config `replyForm`)
 *   3 rejected
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { buildAck } from '../../lib/hl7/ack';
import { Hl7Message } from '../../lib/hl7/message';
import { buildApprovedMessage, buildImageReply, type MappedPatient } from '../../lib/images/hl7-images';
import { validateImageName } from '../../lib/images/names';
import type { ImageEntry, ImageQueue, ImageState } from '../../lib/images/queue';
import { handleUpload } from '../../lib/images/upload';
import { DropFolder } from './drop-folder';
import { searchPatients } from './emr-search';
import { serveWeb } from './web';
import { reportConfigFailure } from '../shared/config-failure';
import { imageDataDir, imageDir, openImageQueue, releaseImageQueue } from '../shared/image-queue';
import { reportFailure, toCatchable } from '../shared/report';

interface ImageMappingDef extends NodeDef {
  emr: string;          // emr-connection config node (optional): patient search on the page
  searchSql: string;    // SQL for the patient search ('' = the default for the demo EMR schema)
  maxSize: number | string;   // upload limit, MB
  watchDir: string;     // drop folder ('' = off)
  storeDir: string;     // image store root ('' = <data dir>/images/store)
  layout: 'mg' | 'standard';
  replyForm: 'echo' | 'ack';
  receiptAck: boolean;
}

type Msg = NodeMessage & Record<string, any>;

interface ImageMappingNode extends Node {
  queue: ImageQueue;
  maxBytes: number;
  decide(entry: ImageEntry): void;
  searchEmr(q: string): Promise<{ available: boolean; patients: MappedPatient[] }>;
}

const DEFAULT_MAX_MB = 50;
const WAITING: ImageState[] = ['awaiting-file', 'awaiting-message', 'pending'];

/** An entry as the page sees it (no file paths, no message text). */
function summary(e: ImageEntry): Record<string, unknown> {
  return {
    id: e.id, name: e.name, state: e.state, source: e.source, controlId: e.controlId, test: e.test, barcode: e.barcode,
    device: e.device, observedAt: e.observedAt, size: e.size, sha256: e.sha256, contentType: e.contentType,
    messageAt: e.messageAt, fileAt: e.fileAt, createdAt: e.createdAt, updatedAt: e.updatedAt, patient: e.patient,
    mappedBy: e.mappedBy, mappedAt: e.mappedAt, decidedBy: e.decidedBy, decidedAt: e.decidedAt, reason: e.reason,
  };
}

export = function (RED: NodeAPI): void {
  const active: ImageMappingNode[] = [];
  const dataDir = (): string => imageDataDir(RED);
  const current = (): ImageMappingNode | undefined => active[active.length - 1];

  // ---- HTTP routes, registered once per runtime ------------------------------------------------------
  const read = RED.auth.needsPermission('image-mapping.read');
  const write = RED.auth.needsPermission('image-mapping.write');
  type Req = IncomingMessage & { params: Record<string, string>; query: Record<string, string>; body?: any; user?: { username?: string } };
  type Res = ServerResponse & { status(n: number): Res; json(v: unknown): void; sendFile?: unknown };

  const who = (req: Req): string => {
    if (req.user?.username) return req.user.username;
    const op = typeof req.body?.operator === 'string' ? req.body.operator.trim().slice(0, 60) : '';
    return op ? `${op} (unverified)` : 'anonymous';
  };
  const fail = (res: Res, err: unknown): void => {
    const code = err instanceof GatewayError ? err.code : 'IMAGE_STORE_FAILED';
    const status = code === 'IMAGE_NOT_FOUND' ? 404 : code === 'IMAGE_BAD_STATE' || code === 'IMAGE_PATIENT_MISMATCH' ? 409
      : code === 'IMAGE_NO_PATIENT' || code === 'IMAGE_BAD_NAME' ? 400 : 500;
    res.status(status).json({ error: code, message: toCatchable(RED, err).message,
      ...(err instanceof GatewayError ? { params: err.params } : {}) });
  };
  const withNode = (res: Res): ImageMappingNode | undefined => {
    const n = current();
    if (!n) res.status(503).json({ error: 'IMAGE_RECEIVER_OFF', message: 'no image-mapping node is deployed' });
    return n;
  };

  // The MG's upload: the raw file as the body. Same auth as other httpNode routes (httpNodeAuth).
  RED.httpNode.post('/mgs/images/:name', (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) { req.resume(); return; }
    void handleUpload(req, res, req.params.name, n.queue, {
      maxBytes: n.maxBytes,
      onStored: (r) => { if (!r.duplicate) n.log(`image ${r.entry.name} received (#${r.entry.id}, ${r.entry.state})`); },
    });
  });

  RED.httpAdmin.get('/mgs/image-queue', read, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    try {
      const states = String(req.query.state ?? '').split(',').filter(Boolean) as ImageState[];
      const items = n.queue.list({ states: states.length ? states : undefined, q: req.query.q ? String(req.query.q) : undefined,
        limit: Number(req.query.limit) || 100, offset: Number(req.query.offset) || 0 });
      res.json({ items: items.map(summary), counts: n.queue.counts(), oldest: n.queue.oldestWaiting(), emr: Boolean(n.searchEmr) });
    } catch (err) { fail(res, err); }
  });

  RED.httpAdmin.get('/mgs/image-queue/patients', read, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    n.searchEmr(String(req.query.q ?? '').trim()).then((r) => res.json(r), (err) => fail(res, err));
  });

  RED.httpAdmin.get('/mgs/image-queue/:id(\\d+)', read, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    try {
      const e = n.queue.require(Number(req.params.id));
      res.json({ ...summary(e), hl7: e.hl7 && e.hl7.length > 20000 ? `${e.hl7.slice(0, 20000)}…` : e.hl7, events: n.queue.events(e.id) });
    } catch (err) { fail(res, err); }
  });

  RED.httpAdmin.get('/mgs/image-queue/:id(\\d+)/file', read, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    try {
      const e = n.queue.require(Number(req.params.id));
      if (!e.filePath || !fs.existsSync(e.filePath)) throw new GatewayError('IMAGE_NOT_FOUND', { name: e.name });
      res.setHeader('Content-Type', e.contentType ?? 'application/octet-stream');
      res.setHeader('Content-Length', fs.statSync(e.filePath).size);
      res.setHeader('Cache-Control', 'private, no-store');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Content-Disposition', `${req.query.download ? 'attachment' : 'inline'}; filename="${validateImageName(e.name)}"`);
      fs.createReadStream(e.filePath).pipe(res);
    } catch (err) { fail(res, err); }
  });

  RED.httpAdmin.post('/mgs/image-queue/:id(\\d+)/map', write, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    try { res.json(summary(n.queue.map(Number(req.params.id), req.body?.patient, who(req)))); } catch (err) { fail(res, err); }
  });

  RED.httpAdmin.post('/mgs/image-queue/:id(\\d+)/approve', write, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    try {
      const id = Number(req.params.id);
      const actor = who(req);
      if (req.body?.patient) n.queue.map(id, req.body.patient, actor);
      const e = n.queue.approve(id, String(req.body?.patientId ?? req.body?.patient?.id ?? ''), actor);
      n.decide(e);
      res.json(summary(e));
    } catch (err) { fail(res, err); }
  });

  RED.httpAdmin.post('/mgs/image-queue/:id(\\d+)/reject', write, (req: Req, res: Res) => {
    const n = withNode(res);
    if (!n) return;
    try {
      const e = n.queue.reject(Number(req.params.id), String(req.body?.reason ?? '').slice(0, 500), who(req));
      n.decide(e);
      res.json(summary(e));
    } catch (err) { fail(res, err); }
  });

  // The management page (plain files under web/): its shell is public, its data routes need the login.
  serveWeb(RED);

  // ---- the node ------------------------------------------------------------------------------------
  function ImageMappingNodeCtor(this: ImageMappingNode, config: ImageMappingDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const layout = config.layout === 'standard' ? 'standard' : 'mg';
    const replyForm = config.replyForm === 'ack' ? 'ack' : 'echo';
    const receiptAck = config.receiptAck !== false;
    const mb = config.maxSize === '' || config.maxSize === undefined ? DEFAULT_MAX_MB : Number(config.maxSize);

    let drop: DropFolder | undefined;
    try {
      if (!Number.isFinite(mb) || mb <= 0) throw new GatewayError('CONFIG_INVALID', { detail: 'maxSize' });
      node.maxBytes = Math.round(mb * 1024 * 1024);
      node.queue = openImageQueue(imageDir(RED), config.storeDir ? path.resolve(dataDir(), config.storeDir) : undefined);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }
    const queue = node.queue;
    const emrNode = config.emr ? RED.nodes.getNode(config.emr) : null;
    node.searchEmr = (q: string) => searchPatients(emrNode, config.searchSql, q);

    const showStatus = (): void => {
      const c = queue.counts();
      const pending = c.pending ?? 0;
      const waiting = (c['awaiting-file'] ?? 0) + (c['awaiting-message'] ?? 0);
      node.status({ fill: pending || waiting ? 'yellow' : 'green', shape: 'dot',
        text: RED._('image-mapping.status.queue', { pending, waiting }) });
    };
    const onChange = (): void => showStatus();
    queue.on('change', onChange);

    /** Sends the outputs for a decided entry, once. */
    node.decide = (e: ImageEntry): void => {
      if (!e.hl7 || e.obxIndex === null) { queue.markDispatched(e.id); return; }   // a stray upload rejected: nobody to tell
      try {
        const m = Hl7Message.parse(e.hl7);
        const hl7 = { type: m.type, controlId: m.controlId, version: m.version, charset: m.charset };
        const image = {
          id: e.id, event: e.state, name: e.name, path: e.filePath, sha256: e.sha256, size: e.size, contentType: e.contentType,
          patient: e.patient, obxIndex: e.obxIndex, test: e.test, barcode: e.barcode, device: e.device, observedAt: e.observedAt,
          mappedBy: e.mappedBy, mappedAt: e.mappedAt, decidedBy: e.decidedBy, decidedAt: e.decidedAt, reason: e.reason,
          redelivered: Boolean(e.dispatchedAt),
        };
        const approved = e.state === 'approved';
        const ackCode = approved ? 'AA' : 'AR';
        const replyPayload = replyForm === 'ack'
          ? buildAck(m, { code: ackCode, text: approved ? undefined : (e.reason || 'rejected') })
          : buildImageReply(e.hl7, e.obxIndex, approved ? 'approved' : 'rejected', e.patient, layout);
        const reply: Msg = { payload: replyPayload, topic: Hl7Message.parse(replyPayload).type, hl7, kind: 'image',
          ack: { code: ackCode, ...(approved ? {} : { text: e.reason || 'rejected' }) }, image };
        if (approved) {
          const out: Msg = { payload: buildApprovedMessage(e.hl7, e.patient!, layout), topic: m.type, hl7, kind: 'image', image };
          node.send([out, reply, null]);
        } else {
          node.send([null, reply, { payload: e.hl7, topic: m.type, hl7, kind: 'image', image }]);
        }
        queue.markDispatched(e.id);
      } catch (err) {
        reportFailure(RED, node, err, { image: { id: e.id } });
      }
    };

    node.on('input', (msg: Msg, send, done) => {
      try {
        const actor = msg.mllp?.remoteAddress ? `mllp ${msg.mllp.remoteAddress}:${msg.mllp.remotePort ?? ''}` : 'flow';
        const context: Record<string, unknown> = {};
        if (msg._session) context.session = msg._session;
        if (msg.mllp) context.mllp = msg.mllp;
        const entries = queue.addMessage({ hl7: String(msg.payload), actor, context });
        msg.image = { event: 'queued', ids: entries.map((e) => e.id),
          entries: entries.map((e) => ({ id: e.id, name: e.name, state: e.state, sha256: e.sha256 })) };
        if (receiptAck) { msg.ack = { code: 'AA' }; send([null, msg, null]); }
        done();
      } catch (err) {
        reportFailure(RED, node, err, msg, done);
      }
    });

    if (config.watchDir) {
      drop = new DropFolder(path.resolve(dataDir(), config.watchDir), queue, node.maxBytes, (err) => node.error(toCatchable(RED, err), {}));
      drop.start();
    }

    active.push(node);
    showStatus();
    // Decisions recorded but never handed to the flow (a crash in between) are sent now.
    const redeliver = (): void => { for (const e of queue.undispatched()) node.decide(e); };
    RED.events.once('flows:started', redeliver);

    node.on('close', (_removed: boolean, done: () => void) => {
      RED.events.removeListener('flows:started', redeliver);
      queue.removeListener('change', onChange);
      const i = active.indexOf(node);
      if (i >= 0) active.splice(i, 1);
      const finish = (): void => { releaseImageQueue(queue); node.status({}); done(); };
      if (drop) drop.stop().then(finish, finish); else finish();
    });
  }

  RED.nodes.registerType('image-mapping', ImageMappingNodeCtor as unknown as (this: Node, def: NodeDef) => void);
};

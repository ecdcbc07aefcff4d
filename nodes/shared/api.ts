// SPDX-License-Identifier: Apache-2.0
/**
 * The management REST API under /mgs/api, on Node-RED's admin app so it shares the editor's
 * login (adminAuth): reading needs the 'mgs.read' permission (granted by 'read' or '*'),
 * changing needs 'mgs.write'. Registered once per admin app by the hl7-spool module.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response, Express } from 'express';
import * as path from 'node:path';
import { GatewayError } from '../../lib/errors';
import { listenerInfo } from '../../lib/mllp/listeners';
import {
  acquireStore, storeFile, type ErrorInfo, type HistoryRow, type MessageFilter, type MessageSummaryRow, type Store,
  type StoreOptions,
} from '../../lib/store';

type Settings = Record<string, unknown>;

/** The data directory of the gateway: settings.mgsDataDir, else Node-RED's user directory. */
export function dataDirOf(RED: NodeAPI): string {
  const s = RED.settings as unknown as Settings;
  const dir = s.mgsDataDir ?? s.userDir;
  if (typeof dir !== 'string' || dir === '') {
    throw new GatewayError('CONFIG_INVALID', { detail: 'no data directory (settings.mgsDataDir or userDir)' });
  }
  return path.resolve(dir);
}

/** Store options from settings.js: mgsStoreRetentionDays (default 90), mgsStoreMaxMB (default 4096; 0 = no limit). */
export function storeOptionsOf(RED: NodeAPI): StoreOptions {
  const s = RED.settings as unknown as Settings;
  const retention: NonNullable<StoreOptions['retention']> = {};
  const days = Number(s.mgsStoreRetentionDays);
  if (s.mgsStoreRetentionDays !== undefined && Number.isFinite(days) && days >= 0) retention.maxAgeMs = days * 24 * 3600_000;
  const mb = Number(s.mgsStoreMaxMB);
  if (s.mgsStoreMaxMB !== undefined && Number.isFinite(mb) && mb >= 0) retention.maxBytes = mb * 1024 * 1024;
  return { retention };
}

/** Opens the gateway's store (every call needs a store.release()). */
export function openGatewayStore(RED: NodeAPI): Store {
  return acquireStore(storeFile(dataDirOf(RED)), storeOptionsOf(RED));
}

const iso = (ms: number | null): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

function summaryJson(m: MessageSummaryRow) {
  return { ...m, receivedAt: iso(m.receivedAt), ackedAt: iso(m.ackedAt), deliveredAt: iso(m.deliveredAt), updatedAt: iso(m.updatedAt) };
}

function historyJson(h: HistoryRow) { return { ...h, at: iso(h.at) }; }

/** A time given as ms since epoch or as an ISO date; undefined when absent, GatewayError when unreadable. */
function timeParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const s = String(v);
  const n = /^\d+$/.test(s) ? Number(s) : Date.parse(s);
  if (!Number.isFinite(n)) throw new GatewayError('CONFIG_INVALID', { detail: `${name} is not a time: ${s}` });
  return n;
}

function intParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new GatewayError('CONFIG_INVALID', { detail: `${name} must be a whole number` });
  return n;
}

const STATUSES = new Set(['received', 'acked', 'spooled', 'delivered', 'failed', 'dead', 'duplicate']);

function filterOf(q: Record<string, unknown>): MessageFilter {
  const str = (k: string): string | undefined => (typeof q[k] === 'string' && q[k] !== '' ? q[k] as string : undefined);
  const status = str('status')?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of status ?? []) {
    if (!STATUSES.has(s)) throw new GatewayError('CONFIG_INVALID', { detail: `unknown status ${s}` });
  }
  return {
    from: timeParam(q.from, 'from'), to: timeParam(q.to, 'to'), status,
    kind: str('kind'), direction: str('direction'), destination: str('destination'),
    barcode: str('barcode'), patientId: str('patientId'), controlId: str('controlId'),
    limit: intParam(q.limit, 'limit'), offset: intParam(q.offset, 'offset'),
  };
}

function sendError(res: Response, err: unknown): void {
  if (err instanceof GatewayError) {
    const status = err.code === 'STORE_NOT_FOUND' ? 404 : err.code === 'CONFIG_INVALID' ? 400
      : err.code === 'STORE_UNAVAILABLE' ? 503 : 500;
    res.status(status).json({ error: { code: err.code, params: err.params } });
  } else {
    res.status(500).json({ error: { code: 'ERROR', params: { detail: err instanceof Error ? err.message : String(err) } } });
  }
}

function actorOf(req: Request): string {
  const user = (req as Request & { user?: { username?: string } }).user?.username;
  return user ? `api:${user}` : 'api';
}

function idsOf(body: unknown): number[] {
  const ids = (body as { ids?: unknown } | undefined)?.ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000 || !ids.every((i) => Number.isInteger(i) && i > 0)) {
    throw new GatewayError('CONFIG_INVALID', { detail: 'ids must be a list of 1..1000 message ids' });
  }
  return ids as number[];
}

function destinationOf(body: unknown): string | null {
  const d = (body as { destination?: unknown } | undefined)?.destination;
  if (d === undefined || d === null || d === '') return null;
  if (typeof d !== 'string') throw new GatewayError('CONFIG_INVALID', { detail: 'destination must be a string' });
  return d;
}

const registered = new WeakSet<object>();

/** Adds the /mgs/api routes to RED.httpAdmin once. */
export function registerApi(RED: NodeAPI): void {
  const app = RED.httpAdmin as Express | undefined;
  if (!app || registered.has(app)) return;
  registered.add(app);
  const read = RED.auth.needsPermission('mgs.read');
  const write = RED.auth.needsPermission('mgs.write');

  /** Runs `fn` with the store open, answering errors as JSON. */
  const withStore = (fn: (store: Store, req: Request, res: Response) => Promise<void> | void) =>
    async (req: Request, res: Response): Promise<void> => {
      let store: Store | undefined;
      try {
        store = openGatewayStore(RED);
        await fn(store, req, res);
      } catch (err) {
        sendError(res, err);
      } finally {
        store?.release();
      }
    };

  app.get('/mgs/api/messages', read, withStore((store, req, res) => {
    const f = filterOf(req.query as Record<string, unknown>);
    const r = store.listMessages(f);
    res.json({ total: r.total, limit: Math.min(1000, f.limit ?? 100), offset: f.offset ?? 0, items: r.items.map(summaryJson) });
  }));

  app.get('/mgs/api/messages/:id', read, withStore((store, req, res) => {
    const id = Number(req.params.id);
    const m = Number.isInteger(id) ? store.getMessage(id) : undefined;
    if (!m) throw new GatewayError('STORE_NOT_FOUND', { id: String(req.params.id) });
    res.json({
      ...summaryJson(m), key: m.key, text: m.text, raw: m.raw ? m.raw.toString('base64') : null,
      history: m.history.map(historyJson),
      spool: m.spool.map((s) => ({ ...s, nextAt: iso(s.nextAt || null) })),
    });
  }));

  app.post('/mgs/api/messages/reprocess', write, withStore(async (store, req, res) => {
    const ids = idsOf(req.body);
    const destination = destinationOf(req.body);
    const actor = actorOf(req);
    const results = await Promise.all(ids.map(async (id) => {
      try {
        const r = await store.reprocess(id, destination, actor);
        const live = store.controller(r.destination);
        live?.kick();
        return { id, ok: true, seq: r.seq, destination: r.destination, alreadyQueued: r.alreadyQueued, active: live !== undefined };
      } catch (err) {
        return { id, ok: false, error: errorJson(err) };
      }
    }));
    res.json({ results });
  }));

  app.post('/mgs/api/messages/park', write, withStore(async (store, req, res) => {
    const ids = idsOf(req.body);
    const destination = destinationOf(req.body);
    const actor = actorOf(req);
    const results = await Promise.all(ids.map(async (id) => {
      try {
        const m = store.getMessage(id);
        if (!m) throw new GatewayError('STORE_NOT_FOUND', { id });
        const queued = m.spool.filter((s) => s.state === 'queued' && (destination === null || s.destination === destination));
        const parked: number[] = [];
        for (const s of queued) {
          const r = await store.park(s.seq, actor, 'parked from the management API');
          if (r.changed) parked.push(s.seq);
          store.controller(s.destination)?.kick();
        }
        return { id, ok: true, parked };
      } catch (err) {
        return { id, ok: false, error: errorJson(err) };
      }
    }));
    res.json({ results });
  }));

  app.get('/mgs/api/spool', read, withStore((store, _req, res) => {
    const now = Date.now();
    res.json({
      destinations: store.spoolStats().map((d) => {
        const live = store.controller(d.destination)?.state();
        return {
          destination: d.destination, depth: d.depth, dead: d.dead,
          oldestAt: iso(d.oldestAt), oldestAgeMs: d.oldestAt === null ? null : Math.max(0, now - d.oldestAt),
          state: live ? live.state : 'inactive', inFlight: live?.inFlight ?? 0,
          consecutiveFailures: live?.consecutiveFailures ?? 0, lastError: live?.lastError ?? d.head?.lastError ?? null,
          head: d.head ? { seq: d.head.seq, attempts: d.head.attempts, nextAttemptAt: iso(d.head.nextAt || null), lastError: d.head.lastError } : null,
        };
      }),
    });
  }));

  app.get('/mgs/api/stats', read, withStore((store, _req, res) => {
    const s = store.statistics();
    res.json({
      perMinute: s.perMinute.map((p) => ({ minute: iso(p.minute), in: p.in, out: p.out })),
      byStatus: s.byStatus,
      recentErrors: s.recentErrors.map((e) => ({ ...e, at: iso(e.at) })),
      writer: store.stats(),
      listeners: listenerInfo(),
    });
  }));
}

function errorJson(err: unknown): { code: string; params: ErrorInfo | Record<string, string | number> } {
  if (err instanceof GatewayError) return { code: err.code, params: err.params };
  return { code: 'ERROR', params: { detail: err instanceof Error ? err.message : String(err) } };
}

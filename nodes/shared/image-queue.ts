// SPDX-License-Identifier: Apache-2.0
// The image queue (lib/images/queue.ts) shared by the nodes of one runtime: one open SQLite file per folder,
// reference-counted across redeploys, so image mapping and pacs forward record into the same audit trail.
import * as path from 'node:path';
import type { NodeAPI } from 'node-red';
import { ImageQueue } from '../../lib/images/queue';

const queues = new Map<string, { queue: ImageQueue; users: number }>();

/** The gateway's data directory: settings.mgsDataDir, else Node-RED's user directory. */
export function imageDataDir(RED: NodeAPI): string {
  const s = RED.settings as unknown as Record<string, unknown>;
  return path.resolve(String(s.mgsDataDir ?? s.userDir ?? process.cwd()));
}

/** The image folder of the gateway: <data dir>/images. */
export function imageDir(RED: NodeAPI): string {
  return path.join(imageDataDir(RED), 'images');
}

/** Opens (or shares) the queue in `dir`; every call needs a releaseImageQueue(). */
export function openImageQueue(dir: string, storeDir?: string): ImageQueue {
  let q = queues.get(dir);
  if (!q) { q = { queue: new ImageQueue(dir, { storeDir }), users: 0 }; queues.set(dir, q); }
  q.users++;
  return q.queue;
}

export function releaseImageQueue(queue: ImageQueue): void {
  for (const [k, q] of queues) {
    if (q.queue === queue && --q.users <= 0) { q.queue.close(); queues.delete(k); }
  }
}

/** Adds a step to an image's audit trail if the queue is open in this runtime (image mapping deployed). */
export function recordImageEvent(RED: NodeAPI, id: unknown, actor: string, action: string, detail?: Record<string, unknown>): void {
  const q = queues.get(imageDir(RED));
  if (!q || typeof id !== 'number') return;
  try { if (q.queue.get(id)) q.queue.addEvent(id, actor, action, detail); } catch { /* the audit trail never blocks delivery */ }
}

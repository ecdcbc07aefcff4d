// SPDX-License-Identifier: Apache-2.0
// Watches delivery behind the spool from outside the gateway: the message store is an SQLite file in the data
// directory, read here read-only (WAL: readers never block the gateway's writer).
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Sut } from './sut';

const storeFiles = new Map<string, string | null>();

/** The SQLite file under the gateway's data directory that holds the spool table, or null. */
export function findStore(dataDir: string): string | null {
  const known = storeFiles.get(dataDir);
  if (known) return known;
  const walk = (dir: string, depth: number): string | null => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return null; }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isFile() && /\.(sqlite3?|db)$/.test(e.name)) {
        try {
          const db = new Database(p, { readonly: true, fileMustExist: true });
          try {
            if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spool'").get()) return p;
          } finally { db.close(); }
        } catch { /* not a database we can read */ }
      } else if (e.isDirectory() && depth > 0 && e.name !== 'node_modules' && e.name !== 'lib') {
        const f = walk(p, depth - 1);
        if (f) return f;
      }
    }
    return null;
  };
  const f = walk(dataDir, 3);
  storeFiles.set(dataDir, f);
  return f;
}

export interface SpoolState { queued: number; dead: number; delivered: number }

/** Messages still queued for delivery, dead-lettered, and delivered, as the store says; null if there is no store. */
export function spoolState(sut: Sut): SpoolState | null {
  const file = sut.dataDir ? findStore(sut.dataDir) : null;
  if (!file) return null;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 2000');
    const q = db.prepare("SELECT state, count(*) AS n FROM spool GROUP BY state").all() as Array<{ state: string; n: number }>;
    const d = db.prepare("SELECT count(*) AS n FROM messages WHERE status = 'delivered'").get() as { n: number };
    return {
      queued: q.find((r) => r.state === 'queued')?.n ?? 0,
      dead: q.find((r) => r.state === 'dead')?.n ?? 0,
      delivered: d.n,
    };
  } finally { db.close(); }
}

/** How many messages have been delivered so far, or null when delivery cannot be observed. */
export async function deliveredCount(sut: Sut): Promise<number | null> {
  return spoolState(sut)?.delivered ?? null;
}

/** Waits until nothing is queued any more (dead letters do not count as queued). */
export async function waitDelivered(sut: Sut, timeoutMs: number, pollMs = 200):
  Promise<{ caughtUp: boolean; seconds: number; behind: number; state: SpoolState | null }> {
  const t0 = Date.now();
  for (;;) {
    const s = spoolState(sut);
    const seconds = (Date.now() - t0) / 1000;
    if (!s) return { caughtUp: false, seconds, behind: -1, state: null };
    if (s.queued === 0) return { caughtUp: true, seconds, behind: 0, state: s };
    if (Date.now() - t0 > timeoutMs) return { caughtUp: false, seconds, behind: s.queued, state: s };
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

// SPDX-License-Identifier: Apache-2.0
// The backlog scenario: result messages are ACKed and spooled while the EMR is unavailable (the switch of
// bench/drain-flow.ts is down, so every delivery attempt fails as an unreachable EMR does and the spool backs
// off); then the EMR comes back and the time until the spool is empty is the drain time. The demo EMR is read
// afterwards to check that every message arrived.
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { SWITCH_PATH } from './drain-flow';
import { runLoad } from './load';
import { cpuSeconds, peakRssMb, resetPeak } from './proc';
import type { Context } from './run';
import { expectResultAck, RESULT_UNIQUE } from './scenarios';
import type { Sut } from './sut';

export interface DrainResult {
  /** Messages ACKed while the EMR was down (the backlog actually built). */
  backlog: number;
  /** Messages asked for. */
  requested: number;
  fillSeconds: number;
  fillPerSecond: number;
  fillErrors: number;
  /** Queued in the spool when the EMR came back. */
  queuedAtStart: number | null;
  /** EMR back -> first delivery (the spool's next probe after its back-off). */
  firstDeliverySeconds: number | null;
  /** EMR back -> spool empty; null when it did not empty within the time cap. */
  drainSeconds: number | null;
  /** Messages delivered per second while draining (over the whole observed drain). */
  perSecond: number | null;
  /** With a drain that did not finish: the time 100 % would take at the observed rate. */
  projectedSeconds: number | null;
  serverCpuUsPerMsg: number | null;
  peakRssMb: number | null;
  /** Messages that reached the demo EMR during the drain (distinct message keys), null if it cannot be read. */
  delivered: number | null;
  /** Backlog messages not in the EMR once the spool reported empty. */
  lost: number | null;
  note?: string;
}

interface SpoolDestination { destination: string; depth: number; dead: number; state: string }

async function http(sut: Sut, method: 'GET' | 'POST', url: string, body?: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${sut.httpPort}${url}`, { method, body,
    headers: body === undefined ? {} : { 'content-type': 'text/plain' } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return text;
}

async function setEmr(sut: Sut, state: 'up' | 'down'): Promise<void> {
  const r = await http(sut, 'POST', SWITCH_PATH, state);
  if (r.trim() !== state) throw new Error(`EMR switch answered "${r.trim()}" instead of "${state}"`);
}

/** Queued messages of the gated destinations, from the management API (GET /mgs/api/spool). */
async function queued(sut: Sut, destinations: string[]): Promise<{ depth: number; dead: number }> {
  const r = JSON.parse(await http(sut, 'GET', '/mgs/api/spool')) as { destinations: SpoolDestination[] };
  const mine = r.destinations.filter((d) => destinations.includes(d.destination));
  return { depth: mine.reduce((a, d) => a + d.depth, 0), dead: mine.reduce((a, d) => a + d.dead, 0) };
}

/** Distinct messages written to the demo EMR so far (one message key per result message), or null. */
function emrMessages(dataDir: string | undefined): number | null {
  const file = dataDir ? path.join(dataDir, 'demo-emr.sqlite') : '';
  if (!file || !fs.existsSync(file)) return null;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return (db.prepare('SELECT count(DISTINCT message_key) AS n FROM results').get() as { n: number }).n;
  } catch {
    return null;
  } finally { db.close(); }
}

/** Fills the spool with `backlog` results while the EMR is down, brings it back and times the drain. */
export async function drainBacklog(sut: Sut, backlog: number, destinations: string[], ctx: Context): Promise<DrainResult> {
  const caps = ctx.options.caps;
  await setEmr(sut, 'down');
  ctx.log(`  EMR down; filling the spool with ${backlog} results`);
  const fill = await runLoad({
    port: sut.port, conns: 10, pipeline: 10, count: backlog, maxSeconds: caps.fill, timeoutMs: 10000,
    template: RESULT_UNIQUE, match: 'order', check: expectResultAck, progress: true,
  });
  const before = emrMessages(sut.dataDir);
  const q0 = await queued(sut, destinations);
  ctx.log(`  ${fill.ok} ACKed in ${fill.seconds.toFixed(1)} s (${fill.errors} errors); ${q0.depth} queued; EMR back`);

  resetPeak(sut.pid);
  const cpu0 = cpuSeconds(sut.pid);
  const t0 = performance.now();
  await setEmr(sut, 'up');
  const capMs = caps.drain * 1000;
  let firstAt: number | null = null;
  let depth = q0.depth;
  let lastLog = t0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const q = await queued(sut, destinations);
    const now = performance.now();
    if (firstAt === null && q.depth < q0.depth) firstAt = now;
    depth = q.depth;
    if (depth === 0 || now - t0 > capMs) break;
    if (now - lastLog > 5000) { lastLog = now; ctx.log(`    ${((now - t0) / 1000).toFixed(0)} s: ${depth} queued`); }
  }
  const t1 = performance.now();
  const cpu1 = cpuSeconds(sut.pid);
  const peak = peakRssMb(sut.pid);
  const seconds = (t1 - t0) / 1000;
  const drained = q0.depth - depth;
  const after = emrMessages(sut.dataDir);
  const delivered = before !== null && after !== null ? after - before : null;
  const perSecond = firstAt !== null && drained > 0 ? drained / ((t1 - firstAt) / 1000) : null;
  return {
    backlog: fill.ok, requested: backlog, fillSeconds: fill.seconds, fillPerSecond: fill.perSecond, fillErrors: fill.errors,
    queuedAtStart: q0.depth,
    firstDeliverySeconds: firstAt === null ? null : (firstAt - t0) / 1000,
    drainSeconds: depth === 0 ? seconds : null,
    perSecond,
    projectedSeconds: depth === 0 || perSecond === null || firstAt === null ? null
      : (firstAt - t0) / 1000 + q0.depth / perSecond,
    serverCpuUsPerMsg: cpu0 !== null && cpu1 !== null && drained > 0 ? ((cpu1 - cpu0) * 1e6) / drained : null,
    peakRssMb: peak,
    delivered,
    lost: depth === 0 && delivered !== null ? Math.max(0, fill.ok - delivered) : null,
    note: depth === 0 ? undefined : `${depth} still queued after ${seconds.toFixed(0)} s`,
  };
}

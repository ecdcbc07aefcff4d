// SPDX-License-Identifier: Apache-2.0
// The systems the bench measures, in the order it runs them: three references it starts itself, then MGS.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMsa, type LoadOptions } from './load';
import type { Context, Options, Row } from './run';
import { builtNodeFile, packageNodes, repoRoot, type Sut } from './sut';
import { makeDrainFlow, type FlowNode } from './drain-flow';
import { drainBacklog, type DrainResult } from './drain';

export interface Scenario {
  key: string;
  label: string;
  /** Message template, reply matching and reply check for this system. */
  load: Pick<LoadOptions, 'template' | 'match' | 'check'>;
  /** A reason why this system cannot run yet (its nodes or flow are not built), or null. */
  requires?(o: Options): string | null;
  start(ctx: Context): Promise<Sut>;
  /** Runs after each shape (e.g. waits for delivery to the EMR to catch up) and may annotate the row. */
  afterShape?(sut: Sut, row: Row, ctx: Context): Promise<void>;
  /** Instead of the load shapes: the backlog drain. */
  drain?(sut: Sut, ctx: Context): Promise<DrainResult>;
}

const vector = (name: string): string => fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'vectors', name), 'utf8');

/** SPEC 2.3, the MG's barcode result (MSH-10 = BARCODE, four OBX with values). */
export const RESULT = vector('fig10-result.hl7');
/**
 * SPEC 2.3 made unique per message: a real MG never sends the same result twice, and the spool ACKs a resent
 * result without queueing it again (content idempotency key, MSH-7 and MSH-10 ignored). OBR-3 (filler order
 * number, empty in SPEC) carries the load generator's unique id.
 */
export const RESULT_UNIQUE = RESULT.replace(/^OBR\|1\|\|\|/m, 'OBR|1||{{ID}}|');
/** SPEC 2.1, the MG's barcode request (MSH-10 = BARCODE, no OBX). */
export const REQUEST = vector('fig8-request.hl7');

/** A response is right when the demo EMR filled in patient 1234 and the four ordered tests (SPEC 2.2). */
const PATIENT = Buffer.from('\rPID|||107558^E024^1234|');
const FOURTH_OBX = Buffer.from('\rOBX|4|');
export function expectResponse(reply: Buffer): string | null {
  if (reply.indexOf(PATIENT) >= 0 && reply.indexOf(FOURTH_OBX) >= 0) return null;
  const msa = readMsa(reply);
  return msa ? `MSA-1 ${msa.code} instead of a response` : 'response without the EMR patient and tests';
}

/** The ACK of a result echoes MSH-10 = BARCODE (SPEC), so replies pair in order; it must accept. */
export function expectResultAck(reply: Buffer): string | null {
  const msa = readMsa(reply);
  if (!msa) return 'reply without MSA';
  if (msa.code !== 'AA' && msa.code !== 'CA') return `MSA-1 ${msa.code}`;
  return msa.id === 'BARCODE' ? null : `MSA-2 ${msa.id}`;
}

/** Which MGS node types a flow uses that this build does not have yet; core types are Node-RED's own. */
export function missingNodes(flowFile: string): string[] {
  if (!fs.existsSync(flowFile)) return [`flow ${path.relative(repoRoot, flowFile)}`];
  const nodes = packageNodes();
  const types = new Set((JSON.parse(fs.readFileSync(flowFile, 'utf8')) as Array<{ type: string }>).map((n) => n.type));
  const missing: string[] = [];
  for (const t of types) {
    const file = nodes[t];
    if (file && !fs.existsSync(builtNodeFile(file))) missing.push(t);
  }
  return missing;
}

const requireFlow = (flowFile: (o: Options) => string) => (o: Options): string | null => {
  const m = missingNodes(flowFile(o));
  return m.length ? `not built yet: ${m.join(', ')}` : null;
};

export const DEFAULT_FLOW = path.join(repoRoot, 'flows', 'gateway.json');
export const ACK_ONLY_FLOW = path.join(repoRoot, 'bench', 'flows', 'ack-only.json');
export const ACK_ONLY_NOLOG_FLOW = path.join(repoRoot, 'bench', 'flows', 'ack-only-nolog.json');

/** The same SPEC result message for every ACK-only system, with a unique MSH-10 per message (MSA-2 matching). */
const ackLoad: Scenario['load'] = { template: RESULT, match: 'control-id' };

// Each MGS system runs right after the reference it is compared with, so that a ratio compares figures taken
// within a minute or two of each other on a machine whose other load changes.
export const scenarios: Scenario[] = [
  {
    key: 'bare', label: 'bare limit (hand-written, ACK only)', load: ackLoad,
    start: (ctx) => ctx.startReference('bare', 'ref-bare.js'),
  },
  {
    key: 'mgs-ack', label: 'MGS mllp in, ACK only', load: ackLoad,
    requires: requireFlow(() => ACK_ONLY_FLOW),
    start: (ctx) => ctx.startGateway({ name: 'mgs-ack', dataDir: path.join(ctx.workDir, 'mgs-ack'), flowFile: ACK_ONLY_FLOW,
      nodeArgs: ctx.nodeArgs('mgs-ack') }),
  },
  {
    // diagnostic: what the message log (every inbound message written to the store) costs the ACK path
    key: 'mgs-ack-nolog', label: 'MGS mllp in, ACK only, message log off', load: ackLoad,
    requires: requireFlow(() => ACK_ONLY_NOLOG_FLOW),
    start: (ctx) => ctx.startGateway({ name: 'mgs-ack-nolog', dataDir: path.join(ctx.workDir, 'mgs-ack-nolog'),
      flowFile: ACK_ONLY_NOLOG_FLOW, nodeArgs: ctx.nodeArgs('mgs-ack-nolog') }),
  },
  {
    key: 'nodered', label: 'plain Node-RED (tcp in -> function -> tcp out)', load: ackLoad,
    start: (ctx) => ctx.startPlainNodeRed('nodered', path.join(ctx.workDir, 'nodered'), ctx.nodeArgs('nodered')),
  },
  {
    key: 'journal', label: 'durable limit (hand-written, journal + group fdatasync)', load: ackLoad,
    start: (ctx) => ctx.startReference('journal', 'ref-journal.js', ['--dir', path.join(ctx.workDir, 'journal')]),
  },
  {
    key: 'mgs-result', label: 'MGS result path (classify, check, spool, ACK; delivery behind)',
    load: { template: RESULT_UNIQUE, match: 'order', check: expectResultAck },
    requires: requireFlow((o) => o.flow),
    start: (ctx) => ctx.startGateway({ name: 'mgs-result', dataDir: path.join(ctx.workDir, 'mgs-result'), flowFile: siteFlow(ctx),
      nodeArgs: ctx.nodeArgs('mgs-result') }),
    // delivery to the demo EMR runs behind the ACK: note how far behind it is when the shape ends, and give it
    // a short while to catch up before the next shape
    afterShape: async (sut, row, ctx) => {
      const s0 = await spoolDepth(sut);
      if (s0 === null) { row.note = '(spool not observed)'; return; }
      const t0 = Date.now();
      let depth = s0;
      while (depth > 0 && Date.now() - t0 < ctx.options.caps.settle * 1000) {
        await new Promise((r) => setTimeout(r, 250));
        depth = (await spoolDepth(sut)) ?? depth;
      }
      row.note = s0 === 0 ? '(EMR delivery kept up)'
        : `(EMR delivery ${s0} behind at the last ACK${depth === 0 ? `, caught up in ${((Date.now() - t0) / 1000).toFixed(1)} s`
          : `, ${depth} ${ctx.options.caps.settle} s later`})`;
    },
  },
  {
    key: 'mgs-request', label: 'MGS barcode request -> response (demo EMR lookup)',
    load: { template: REQUEST, match: 'order', check: expectResponse },
    requires: requireFlow((o) => o.flow),
    start: (ctx) => ctx.startGateway({ name: 'mgs-request', dataDir: path.join(ctx.workDir, 'mgs-request'), flowFile: siteFlow(ctx),
      nodeArgs: ctx.nodeArgs('mgs-request') }),
  },
  {
    key: 'mgs-drain', label: 'MGS backlog drain', load: { template: RESULT_UNIQUE, match: 'order', check: expectResultAck },
    requires: requireFlow((o) => o.flow),
    start: async (ctx) => {
      const { flow, gated } = makeDrainFlow(JSON.parse(fs.readFileSync(ctx.options.flow, 'utf8')) as FlowNode[]);
      drainDestinations = gated;
      const file = path.join(ctx.workDir, 'drain-flow.json');
      fs.writeFileSync(file, JSON.stringify(flow, null, 2));
      return ctx.startGateway({ name: 'mgs-drain', dataDir: path.join(ctx.workDir, 'mgs-drain'), flowFile: file,
        nodeArgs: ctx.nodeArgs('mgs-drain') });
    },
    drain: (sut, ctx) => drainBacklog(sut, ctx.options.backlog, drainDestinations, ctx),
  },
];

let drainDestinations: string[] = [];

/** The flow file to start the gateway with: undefined for the default flow (what `npm start` runs). */
function siteFlow(ctx: Context): string | undefined {
  return path.resolve(ctx.options.flow) === DEFAULT_FLOW ? undefined : ctx.options.flow;
}

/** Messages queued in all spools of the gateway (GET /mgs/api/spool), or null when the API does not answer. */
export async function spoolDepth(sut: Sut): Promise<number | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${sut.httpPort}/mgs/api/spool`);
    if (!res.ok) return null;
    const r = await res.json() as { destinations: Array<{ depth: number }> };
    return r.destinations.reduce((a, d) => a + d.depth, 0);
  } catch { return null; }
}

// SPDX-License-Identifier: Apache-2.0
// The flow of the backlog scenario, derived at run time from the default flow (flows/gateway.json) so that it
// always measures what ships: the same nodes and settings, plus one switch on the EMR side. Between the spool's
// "deliver" output and the EMR nodes sits a function that, while the switch is off, answers every delivery
// attempt the way a failing EMR write does (msg.error EMR_UNREACHABLE back into the spool, which then backs off
// and probes, as it would for a real outage). POST /bench/emr with body "down" or "up" flips it.
import * as crypto from 'node:crypto';

export interface FlowNode { id: string; type: string; z?: string; wires?: string[][]; x?: number; y?: number; [k: string]: unknown }

/** The path of the switch on the gateway's HTTP port. */
export const SWITCH_PATH = '/bench/emr';

const GATE = `// bench: the EMR switch (POST ${SWITCH_PATH} down|up)
if (global.get('benchEmrDown')) {
    msg.error = { code: 'EMR_UNREACHABLE', message: 'EMR switched off by the bench' };
    return [null, msg];
}
return [msg, null];`;

const SWITCH = `global.set('benchEmrDown', String(msg.payload).trim() === 'down');
msg.payload = global.get('benchEmrDown') ? 'down' : 'up';
return msg;`;

const newId = (): string => crypto.randomBytes(8).toString('hex');

/** Ids of the nodes reachable from `from` along wires and link nodes. */
function reachable(nodes: Map<string, FlowNode>, from: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...from];
  while (todo.length) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const n = nodes.get(id);
    for (const out of n?.wires ?? []) todo.push(...out);
    if (n?.type === 'link out' && Array.isArray(n.links)) todo.push(...(n.links as string[]));
  }
  return seen;
}

/**
 * The drain flow: `flow` with the gate on the deliver output (output 2) of every hl7-spool whose deliveries reach
 * an emr-write node, and the switch endpoint. Throws when the flow has no such spool. The switch starts "up";
 * the bench turns it down before filling.
 */
export function makeDrainFlow(flow: FlowNode[]): { flow: FlowNode[]; gated: string[] } {
  const out: FlowNode[] = flow.map((n) => ({ ...n, wires: n.wires?.map((w) => [...w]) }));
  const byId = new Map(out.map((n) => [n.id, n]));
  const gated: string[] = [];
  for (const spool of out.filter((n) => n.type === 'hl7-spool')) {
    const deliver = spool.wires?.[1] ?? [];
    const reach = reachable(byId, deliver);
    if (![...reach].some((id) => byId.get(id)?.type === 'emr-write')) continue;
    const gate: FlowNode = {
      id: newId(), type: 'function', z: spool.z, name: 'bench: EMR switch', func: GATE, outputs: 2, timeout: 0,
      noerr: 0, initialize: '', finalize: '', libs: [], x: (spool.x ?? 0) + 60, y: (spool.y ?? 0) + 80,
      wires: [deliver, [spool.id]],
    };
    spool.wires![1] = [gate.id];
    out.push(gate);
    gated.push(String(spool.destination ?? spool.id));
  }
  if (!gated.length) throw new Error('the default flow has no hl7-spool whose deliveries reach emr-write');
  const z = out.find((n) => n.type === 'tab')?.id;
  const resp: FlowNode = { id: newId(), type: 'http response', z, name: '', statusCode: '', headers: {}, x: 500, y: 40, wires: [] };
  const fn: FlowNode = { id: newId(), type: 'function', z, name: 'bench: set EMR switch', func: SWITCH, outputs: 1, timeout: 0,
    noerr: 0, initialize: '', finalize: '', libs: [], x: 320, y: 40, wires: [[resp.id]] };
  const http: FlowNode = { id: newId(), type: 'http in', z, name: '', url: SWITCH_PATH, method: 'post', upload: false,
    swaggerDoc: '', x: 140, y: 40, wires: [[fn.id]] };
  out.push(http, fn, resp);
  return { flow: out, gated };
}

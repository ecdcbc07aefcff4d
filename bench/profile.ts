// SPDX-License-Identifier: Apache-2.0
// Summarises a .cpuprofile (node --cpu-prof): self time by function and by file, heaviest first.
//   node dist/bench/profile.js <file.cpuprofile> [--top 25]
import * as fs from 'node:fs';
import * as path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface Hot { name: string; ms: number; pct: number }

/** Self time per function and per source file of a V8 CPU profile. */
export function summarise(p: Profile): { totalMs: number; functions: Hot[]; files: Hot[] } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)?.callFrame;
    if (!cf) continue;
    total += us;
    const where = cf.url ? shorten(cf.url) : '';
    const name = `${cf.functionName || '(anonymous)'} ${where ? `${where}:${cf.lineNumber + 1}` : ''}`.trim();
    fn.set(name, (fn.get(name) ?? 0) + us);
    const f = where || cf.functionName;
    file.set(f, (file.get(f) ?? 0) + us);
  }
  const list = (m: Map<string, number>): Hot[] => [...m].sort((a, b) => b[1] - a[1])
    .map(([name, us]) => ({ name, ms: us / 1000, pct: total ? (us / total) * 100 : 0 }));
  return { totalMs: total / 1000, functions: list(fn), files: list(file) };
}

function shorten(url: string): string {
  const p = url.replace(/^file:\/\//, '');
  const i = p.indexOf('node_modules/');
  if (i >= 0) return p.slice(i + 'node_modules/'.length);
  return path.relative(process.cwd(), p) || p;
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) { console.error('usage: node dist/bench/profile.js <file.cpuprofile> [--top N]'); process.exit(2); }
  const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 25;
  const s = summarise(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile);
  console.log(`total sampled: ${s.totalMs.toFixed(0)} ms`);
  console.log('\nself time by file:');
  for (const h of s.files.slice(0, top)) console.log(`${h.pct.toFixed(1).padStart(6)} %  ${h.ms.toFixed(0).padStart(7)} ms  ${h.name}`);
  console.log('\nself time by function:');
  for (const h of s.functions.slice(0, top)) console.log(`${h.pct.toFixed(1).padStart(6)} %  ${h.ms.toFixed(0).padStart(7)} ms  ${h.name}`);
}

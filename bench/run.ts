// SPDX-License-Identifier: Apache-2.0
// `npm run bench`: the default MGS flow measured side by side with hand-written limits, in one run on one machine.
// Every system under test is its own child process on loopback; the load generator (bench/load.ts) runs here.
//   node dist/bench/run.js [--quick] [--only bare,journal,...] [--shapes 1,10,100,10x10] [--backlog N]
//                          [--profile] [--keep] [--out bench/results/latest.json]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runLoad, type LoadOptions, type LoadResult } from './load';
import { cpuSeconds, fsType, machine, machineCpu, peakRssMb, resetPeak, rssMb } from './proc';
import { repoRoot, startGateway, startPlainNodeRed, startReference, type Sut } from './sut';
import { DEFAULT_FLOW, scenarios, type Scenario } from './scenarios';
import type { DrainResult } from './drain';

/** One load shape: K connections, lock-step or pipelined, bounded by a count and a time cap. */
export interface Shape { key: string; label: string; conns: number; pipeline: number; count: number; warmup: number; maxSeconds: number }

export interface Row {
  system: string;
  label: string;
  shape: string;
  shapeLabel: string;
  conns: number;
  pipeline: number;
  sent: number;
  ok: number;
  errors: number;
  /** Connections the server closed before any reply (over its connection limit). */
  refused: number;
  reasons: string[];
  seconds: number;
  perSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Server CPU time per answered message (µs), all its threads. */
  serverCpuUsPerMsg: number | null;
  /** Server CPU, 100 % = one core. */
  serverCpuPct: number | null;
  /** The load generator's CPU, 100 % = one core. */
  loadCpuPct: number;
  /** The whole machine, 100 % = one core (200 % = both cores of a 2-core machine busy). */
  machineCpuPct: number | null;
  /** Everything else on the machine (machine minus server minus load generator), 100 % = one core. */
  otherCpuPct: number | null;
  /** Peak resident set of the server while this shape ran (connections opened included). */
  peakRssMb: number | null;
  note?: string;
}

export interface Options {
  quick: boolean;
  only: Set<string> | null;
  shapes: Set<string> | null;
  backlog: number;
  profile: boolean;
  keep: boolean;
  out: string;
  /** The gateway flow of the MGS scenarios (default flows/gateway.json). */
  flow: string;
  /** Time caps in seconds: each load shape, the wait for delivery after a result shape, the backlog fill, the drain. */
  caps: { shape: number; settle: number; fill: number; drain: number };
}

const FULL_CAPS: Options['caps'] = { shape: 10, settle: 5, fill: 100, drain: 90 };
const QUICK_CAPS: Options['caps'] = { shape: 2, settle: 2, fill: 30, drain: 30 };

const FULL_SHAPES: Shape[] = [
  { key: '1', label: 'lock-step, 1 conn', conns: 1, pipeline: 1, count: 10000, warmup: 2000, maxSeconds: 10 },
  { key: '10', label: 'lock-step, 10 conns', conns: 10, pipeline: 1, count: 60000, warmup: 5000, maxSeconds: 10 },
  { key: '100', label: 'lock-step, 100 conns', conns: 100, pipeline: 1, count: 60000, warmup: 5000, maxSeconds: 10 },
  { key: '10x10', label: '10 conns x 10 in flight', conns: 10, pipeline: 10, count: 80000, warmup: 5000, maxSeconds: 10 },
];

function shapesFor(o: Options): Shape[] {
  const all = o.quick
    ? FULL_SHAPES.map((s) => ({ ...s, count: Math.round(s.count / 5), warmup: Math.round(s.warmup / 4), maxSeconds: o.caps.shape }))
    : FULL_SHAPES.map((s) => ({ ...s, maxSeconds: o.caps.shape }));
  return all.filter((s) => !o.shapes || o.shapes.has(s.key));
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: null, shapes: null, backlog: 0, profile: false, keep: false,
    out: path.join(repoRoot, 'bench', 'results', 'latest.json'), flow: DEFAULT_FLOW, caps: FULL_CAPS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => { const v = argv[++i]; if (v === undefined) throw new Error(`missing value for ${a}`); return v; };
    switch (a) {
      case '--quick': o.quick = true; o.caps = QUICK_CAPS; break;
      case '--only': o.only = new Set(next().split(',').map((s) => s.trim()).filter(Boolean)); break;
      case '--shapes': o.shapes = new Set(next().split(',').map((s) => s.trim()).filter(Boolean)); break;
      case '--backlog': o.backlog = Number(next()); break;
      case '--profile': o.profile = true; break;
      case '--keep': o.keep = true; break;
      case '--out': o.out = path.resolve(next()); break;
      case '--flow': o.flow = path.resolve(next()); break;
      case '--help': case '-h':
        console.log(usage());
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a}\n${usage()}`);
    }
  }
  if (!o.backlog) o.backlog = o.quick ? 10000 : 100000;
  if (o.only) for (const k of o.only) if (!scenarios.some((s) => s.key === k)) throw new Error(`unknown scenario ${k}`);
  return o;
}

function usage(): string {
  return ['usage: node dist/bench/run.js [options]   (npm run bench -- [options])',
    '  --quick            smaller counts and 2 s caps, a 10,000-message backlog (a few minutes in all)',
    `  --only a,b         scenarios: ${scenarios.map((s) => s.key).join(', ')}`,
    `  --shapes a,b       load shapes: ${FULL_SHAPES.map((s) => s.key).join(', ')} (conns, or conns x in-flight)`,
    '  --backlog N        messages in the backlog to drain (default 100000, quick 10000)',
    '  --profile          run the MGS gateway with --cpu-prof (profiles under bench/results/profiles/)',
    '  --keep             keep the temporary data directories',
    '  --flow FILE        the gateway flow for mgs-result, mgs-request, mgs-drain (default flows/gateway.json)',
    '  --out FILE         the JSON figures (default bench/results/latest.json)'].join('\n');
}

const round = (v: number | null, d = 1): number | null => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

/** Runs one shape against a running system and measures the server process around the measured phase. */
async function measure(sut: Sut, sc: Scenario, shape: Shape): Promise<Row> {
  let cpu0: number | null = null, cpu1: number | null = null;
  let m0: ReturnType<typeof machineCpu> = null, m1: ReturnType<typeof machineCpu> = null;
  resetPeak(sut.pid);
  const opts: LoadOptions = {
    port: sut.port, conns: shape.conns, pipeline: shape.pipeline, count: shape.count, warmup: shape.warmup,
    maxSeconds: shape.maxSeconds, timeoutMs: 10000, ...sc.load,
    onMeasureStart: () => { cpu0 = cpuSeconds(sut.pid); m0 = machineCpu(); },
    onMeasureEnd: () => { cpu1 = cpuSeconds(sut.pid); m1 = machineCpu(); },
  };
  const r: LoadResult = await runLoad(opts);
  const peak = peakRssMb(sut.pid);
  const serverCpu = cpu0 !== null && cpu1 !== null ? (cpu1 as number) - (cpu0 as number) : null;
  const mc = m0 && m1 ? { busy: (m1 as { busy: number }).busy - (m0 as { busy: number }).busy,
    total: (m1 as { total: number }).total - (m0 as { total: number }).total } : null;
  const cores = os.cpus().length;
  return {
    system: sc.key, label: sc.label, shape: shape.key, shapeLabel: shape.label, conns: shape.conns, pipeline: shape.pipeline,
    sent: r.sent, ok: r.ok, errors: r.errors + r.warmupErrors, refused: r.refused, reasons: r.reasons,
    seconds: round(r.seconds, 2)!, perSecond: Math.round(r.perSecond),
    p50Ms: round(r.p50Ms, 3), p99Ms: round(r.p99Ms, 3), maxMs: round(r.maxMs, 2),
    serverCpuUsPerMsg: serverCpu !== null && r.ok > 0 ? Math.round((serverCpu * 1e6) / r.ok) : null,
    serverCpuPct: serverCpu !== null && r.seconds > 0 ? Math.round((serverCpu / r.seconds) * 100) : null,
    loadCpuPct: r.seconds > 0 ? Math.round(r.clientCpuMs / 10 / r.seconds) : 0,
    machineCpuPct: mc && mc.total > 0 ? Math.round((mc.busy / mc.total) * 100 * cores) : null,
    otherCpuPct: mc && mc.total > 0 && serverCpu !== null && r.seconds > 0
      ? Math.max(0, Math.round((mc.busy / mc.total) * 100 * cores - (serverCpu / r.seconds) * 100 - r.clientCpuMs / 10 / r.seconds)) : null,
    peakRssMb: round(peak, 0),
  };
}

function fmt(v: number | null | undefined, d = 0): string {
  if (v === null || v === undefined) return '–';
  return d === 0 ? Math.round(v).toLocaleString('en-US') : v.toFixed(d);
}

/** The one table of the report (markdown). */
export function table(rows: Row[]): string {
  const head = '| system | load | msg/s | p50 ms | p99 ms | max ms | server CPU µs/msg | server CPU % | others CPU % | peak RSS MB | errors |';
  const sep = '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|';
  const lines = rows.map((r) => `| ${r.label} | ${r.shapeLabel} | ${fmt(r.perSecond)} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ` +
    `${fmt(r.maxMs, 1)} | ${fmt(r.serverCpuUsPerMsg)} | ${fmt(r.serverCpuPct)} | ${fmt(r.otherCpuPct)} | ${fmt(r.peakRssMb)} | ` +
    `${r.errors}${r.errors ? ` (${r.reasons.join('; ')})` : ''}${r.note ? ` ${r.note}` : ''} |`);
  return [head, sep, ...lines].join('\n');
}

export interface Target { name: string; goal: string; measured: string; met: boolean | null }

/** The issue's targets, as ratios within this run. */
export function targets(rows: Row[], drain: DrainResult | null): Target[] {
  const get = (system: string, shape: string): Row | undefined => rows.find((r) => r.system === system && r.shape === shape);
  const out: Target[] = [];
  const ratio = (name: string, sys: string, ref: string, min: number): void => {
    for (const shape of ['10', '100', '10x10', '1']) {
      const a = get(sys, shape), b = get(ref, shape);
      const first = shape === '10';
      if (!a || !b) { if (first) out.push({ name, goal: `>= ${min}x`, measured: 'not run', met: null }); continue; }
      const x = b.perSecond > 0 ? a.perSecond / b.perSecond : 0;
      const errs = a.errors ? `, ${fmt(a.errors)} errors` : '';
      out.push({ name: `${name} (${a.shapeLabel})`, goal: `>= ${min}x`,
        measured: `${x.toFixed(2)}x (${fmt(a.perSecond)} vs ${fmt(b.perSecond)} msg/s${errs})`, met: x >= min && a.errors === 0 });
    }
  };
  ratio('ACK-only mllp in vs bare limit', 'mgs-ack', 'bare', 0.7);
  ratio('durable result path vs durable limit', 'mgs-result', 'journal', 0.5);
  const req = get('mgs-request', '10');
  out.push(req
    ? { name: 'barcode request -> response, 10 conns', goal: '>= 10,000 msg/s, p99 < 10 ms',
      measured: `${fmt(req.perSecond)} msg/s, p99 ${fmt(req.p99Ms, 2)} ms`,
      met: req.errors === 0 && req.perSecond >= 10000 && req.p99Ms !== null && req.p99Ms < 10 }
    : { name: 'barcode request -> response, 10 conns', goal: '>= 10,000 msg/s, p99 < 10 ms', measured: 'not run', met: null });
  for (const sys of ['mgs-ack', 'mgs-result']) {
    const r = get(sys, '1');
    const name = `one lock-step connection p99 (${sys === 'mgs-ack' ? 'ACK-only mllp in' : 'durable result path'})`;
    out.push(r ? { name, goal: '< 2 ms', measured: `${fmt(r.p99Ms, 2)} ms`, met: r.errors === 0 && r.p99Ms !== null && r.p99Ms < 2 }
      : { name, goal: '< 2 ms', measured: 'not run', met: null });
  }
  out.push(drain
    ? { name: `backlog drain, ${fmt(drain.backlog)} messages, EMR back -> spool empty`, goal: '< 30 s, nothing lost',
      measured: drain.drainSeconds === null
        ? `not drained in the cap; ${fmt(drain.perSecond)} msg/s${drain.projectedSeconds !== null ? `, ~${fmt(drain.projectedSeconds)} s projected` : ''}`
        : `${drain.drainSeconds.toFixed(1)} s (first delivery after ${fmt(drain.firstDeliverySeconds, 1)} s, then ` +
          `${fmt(drain.perSecond)} msg/s), lost ${fmt(drain.lost)}`,
      met: drain.drainSeconds !== null && drain.drainSeconds < 30 && drain.lost === 0 && drain.backlog === drain.requested }
    : { name: 'backlog drain', goal: '< 30 s', measured: 'not run', met: null });
  for (const sys of ['mgs-ack', 'mgs-result', 'mgs-request']) {
    const r = get(sys, '100');
    if (r) out.push({ name: `peak RSS with 100 conns (${r.label})`, goal: '< 300 MB', measured: `${fmt(r.peakRssMb)} MB`,
      met: r.peakRssMb !== null && r.peakRssMb < 300 });
  }
  return out;
}

function targetTable(ts: Target[]): string {
  return ['| target | goal | measured | met |', '|---|---|---|---|',
    ...ts.map((t) => `| ${t.name} | ${t.goal} | ${t.measured} | ${t.met === null ? '–' : t.met ? 'yes' : '**no**'} |`)].join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-bench-'));
  const profileDir = path.join(repoRoot, 'bench', 'results', 'profiles');
  if (o.profile) fs.mkdirSync(profileDir, { recursive: true });
  const m = machine();
  const load0 = os.loadavg()[0];
  const log = (s: string): void => { process.stderr.write(s + '\n'); };
  log(`MGS bench: ${m.cores} cores (${m.cpu}), Node ${m.node}, data on ${fsType(workDir)} (${workDir})${o.quick ? ', quick' : ''}`);

  const rows: Row[] = [];
  const skipped: Array<{ system: string; reason: string }> = [];
  let drain: DrainResult | null = null;
  const shapes = shapesFor(o);
  const ctx = {
    workDir, shapes, options: o,
    nodeArgs: (name: string): string[] => (o.profile ? ['--cpu-prof', '--cpu-prof-dir', path.join(profileDir, name)] : []),
    startReference, startGateway, startPlainNodeRed, log,
  };

  for (const sc of scenarios) {
    if (o.only && !o.only.has(sc.key)) continue;
    const missing = sc.requires?.(o);
    if (missing) { skipped.push({ system: sc.key, reason: missing }); log(`- ${sc.label}: skipped (${missing})`); continue; }
    log(`- ${sc.label}`);
    let sut: Sut | null = null;
    try {
      sut = await sc.start(ctx);
      log(`  started (pid ${sut.pid}, port ${sut.port}, RSS ${fmt(rssMb(sut.pid))} MB)`);
      if (sc.drain) {
        drain = await sc.drain(sut, ctx);
        log(`  ${drainLine(drain)}`);
      } else {
        for (const shape of shapes) {
          const row = await measure(sut, sc, shape);
          if (sc.afterShape) await sc.afterShape(sut, row, ctx);
          rows.push(row);
          log(`  ${shape.label}: ${fmt(row.perSecond)} msg/s, p50 ${fmt(row.p50Ms, 2)} ms, p99 ${fmt(row.p99Ms, 2)} ms, ` +
            `${fmt(row.serverCpuUsPerMsg)} µs/msg, RSS ${fmt(row.peakRssMb)} MB, ${row.errors} errors` +
            `${row.errors ? ` (${row.reasons.join('; ')})` : ''}${row.note ? ` ${row.note}` : ''}`);
        }
      }
    } catch (err) {
      const reason = (err as Error).message.split('\n').slice(0, 12).join('\n');
      skipped.push({ system: sc.key, reason: `failed: ${reason}` });
      log(`  failed: ${reason}`);
    } finally {
      await sut?.stop();
    }
  }

  const ts = targets(rows, drain);
  const load1 = os.loadavg()[0];
  const header = `MGS bench ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC — ${m.cores} cores (${m.cpu}), ` +
    `Node ${m.node}, Linux ${m.kernel}, data on ${fsType(workDir)}${o.quick ? ', --quick' : ''}; load generator on the same machine; ` +
    `load average ${load0.toFixed(1)} at the start, ${load1.toFixed(1)} at the end`;
  const report = [header, ...(path.resolve(o.flow) !== DEFAULT_FLOW ? [`flow: ${path.relative(repoRoot, o.flow)}`] : []), '',
    rows.length ? table(rows) : '', '', drain ? drainLine(drain) : '', '', targetTable(ts),
    ...(skipped.length ? ['', ...skipped.map((s) => `skipped ${s.system}: ${s.reason.split('\n')[0]}`)] : [])]
    .filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
  console.log(report);

  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify({
    at: new Date().toISOString(), machine: { ...m, dataFs: fsType(workDir), loadAverage: [load0, os.loadavg()[0]] },
    quick: o.quick, flow: path.relative(repoRoot, o.flow), shapes, rows, drain,
    targets: ts, skipped, seconds: Math.round((Date.now() - started) / 1000),
  }, null, 2) + '\n');
  log(`figures: ${path.relative(repoRoot, o.out)} (${Math.round((Date.now() - started) / 1000)} s in all)`);
  if (!o.keep) fs.rmSync(workDir, { recursive: true, force: true });
}

function drainLine(d: DrainResult): string {
  const drained = d.drainSeconds !== null
    ? `All delivered ${fmt(d.drainSeconds, 1)} s after the EMR came back`
    : `Not drained within the time cap${d.projectedSeconds !== null ? ` (about ${fmt(d.projectedSeconds)} s at the observed rate)` : ''}`;
  return `Backlog: ${fmt(d.backlog)} result messages ACKed while the EMR was down, in ${fmt(d.fillSeconds, 1)} s ` +
    `(${fmt(d.fillPerSecond)} msg/s, ${d.fillErrors} errors; ${fmt(d.queuedAtStart)} queued). ${drained}: first delivery after ` +
    `${fmt(d.firstDeliverySeconds, 1)} s (the spool's next probe), then ${fmt(d.perSecond)} msg/s; server CPU ` +
    `${fmt(d.serverCpuUsPerMsg)} µs/msg, peak RSS ${fmt(d.peakRssMb)} MB; in the demo EMR: ${fmt(d.delivered)} messages` +
    `${d.lost !== null ? `, lost ${fmt(d.lost)}` : ''}.${d.note ? ` ${d.note}.` : ''}`;
}

export type Context = {
  workDir: string;
  shapes: Shape[];
  options: Options;
  nodeArgs(name: string): string[];
  startReference: typeof startReference;
  startGateway: typeof startGateway;
  startPlainNodeRed: typeof startPlainNodeRed;
  log(s: string): void;
};

if (require.main === module) {
  main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
}

// SPDX-License-Identifier: Apache-2.0
// Systems under test, each its own child process on loopback so that its CPU and memory are measured apart from
// the load generator: the hand-written references, plain Node-RED, and the real MGS gateway (settings.js).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** The repository root: `npm run bench` runs from it. */
export const repoRoot = process.cwd();

/** The build this bench runs from: dist/ under `npm run bench`, or a personal outDir (tsc --outDir .tmp/<you>). */
export const buildRoot = path.resolve(__dirname, '..');

interface PackageJson { name: string; version: string; 'node-red': { version?: string; nodes: Record<string, string> } }

/** Where the node type's compiled file of this build lies (package.json names the dist/ path). */
export function builtNodeFile(file: string): string {
  return path.join(buildRoot, file.replace(/^dist[\\/]/, ''));
}

/** The node types of package.json and their files in this build. */
export function packageNodes(): Record<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
  return pkg['node-red'].nodes;
}

/**
 * The settings file for the gateway: settings.js itself when running from dist/ (what package.json points at);
 * from a personal build, a wrapper that loads that build's node types (as test/helpers/gateway.ts does), so the
 * bench measures the code it was built with.
 */
function gatewaySettings(dataDir: string): string {
  const main = path.join(repoRoot, 'settings.js');
  if (buildRoot === path.join(repoRoot, 'dist') || !fs.existsSync(path.join(buildRoot, 'nodes', 'mllp-in', 'mllp-in.html'))) return main;
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
  const dir = path.join(dataDir, '.build');
  fs.mkdirSync(dir, { recursive: true });
  const nodes: Record<string, string> = {};
  for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
    const built = builtNodeFile(file);
    if (fs.existsSync(built)) nodes[type] = path.relative(dir, built);
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version,
    'node-red': { ...pkg['node-red'], nodes } }));
  fs.writeFileSync(path.join(dir, 'settings.js'), `const s = require(${JSON.stringify(main)});\n`
    + `module.exports = { ...s, nodesDir: [${JSON.stringify(dir)}] };\n`);
  return path.join(dir, 'settings.js');
}

export interface Sut {
  name: string;
  pid: number;
  /** The MLLP port. */
  port: number;
  httpPort?: number;
  dataDir?: string;
  /** The last 64 KB of the child's stdout and stderr. */
  log(): string;
  /** SIGTERM, then SIGKILL if it has not exited within 15 s; resolves once it is gone. */
  stop(): Promise<void>;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

function keepLog(child: ChildProcess): { text(): string } {
  let out = '';
  const add = (d: Buffer): void => { out += d.toString(); if (out.length > 65536) out = out.slice(-65536); };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return { text: () => out };
}

function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    }
  };
}

/** Starts a hand-written reference (dist/bench/<script>.js) and waits for the port it announces. */
export async function startReference(name: string, script: string, extraArgs: string[] = []): Promise<Sut> {
  const child = spawn(process.execPath, [path.join(__dirname, script), '--host', '127.0.0.1', '--port', '0', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = keepLog(child);
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} did not start:\n${log.text()}`)), 10000);
    child.once('exit', () => { clearTimeout(t); reject(new Error(`${name} exited during start-up:\n${log.text()}`)); });
    child.stdout!.on('data', () => {
      const m = /\{"listening":(\d+)/.exec(log.text());
      if (m) { clearTimeout(t); resolve(Number(m[1])); }
    });
  });
  return { name, pid: child.pid!, port, log: log.text, stop: stopper(child) };
}

export interface NodeRedStart {
  name: string;
  settingsFile: string;
  env: NodeJS.ProcessEnv;
  mllpPort: number;
  httpPort: number;
  dataDir: string;
  /** Node.js flags placed before red.js (e.g. --cpu-prof). */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

/** Runs node-red/red.js with a settings file; resolves once flows have started and both ports accept connections. */
export async function startNodeRed(o: NodeRedStart): Promise<Sut> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), require.resolve('node-red/red.js'), '--settings', o.settingsFile],
    { cwd: repoRoot, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = keepLog(child);
  const stop = stopper(child);
  let started = false;
  child.stdout!.on('data', () => { if (!started && /Started flows/.test(log.text())) started = true; });
  const deadline = Date.now() + (o.startTimeoutMs ?? 60000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${o.name} exited during start-up:\n${log.text()}`);
    if (Date.now() > deadline) { await stop(); throw new Error(`${o.name} did not start in time:\n${log.text()}`); }
    if (started && await canConnect(o.httpPort) && await canConnect(o.mllpPort)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name: o.name, pid: child.pid!, port: o.mllpPort, httpPort: o.httpPort, dataDir: o.dataDir, log: log.text, stop };
}

export interface GatewayStart {
  name: string;
  /** Working directory for this instance (its MGS_DATA_DIR). */
  dataDir: string;
  /** A bench flow instead of flows/gateway.json. */
  flowFile?: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

/** Starts the real gateway exactly as `npm start` does (settings.js), on free loopback ports, with its own data directory. */
export async function startGateway(o: GatewayStart): Promise<Sut> {
  fs.mkdirSync(o.dataDir, { recursive: true });
  const httpPort = await freePort();
  const mllpPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MGS_HOST: '127.0.0.1',
    MGS_HTTP_PORT: String(httpPort),
    MGS_MLLP_PORT: String(mllpPort),
    MGS_DATA_DIR: o.dataDir,
    MGS_LANG: 'en-US',
    ...(o.flowFile ? { MGS_FLOW_FILE: o.flowFile } : {}),
    ...o.env,
  };
  return startNodeRed({ name: o.name, settingsFile: gatewaySettings(o.dataDir), env, mllpPort, httpPort,
    dataDir: o.dataDir, nodeArgs: o.nodeArgs });
}

/** Starts plain Node-RED (no MGS nodes) with bench/ref-nodered.json: core `tcp in` -> `function` -> `tcp out`. */
export async function startPlainNodeRed(name: string, userDir: string, nodeArgs?: string[]): Promise<Sut> {
  fs.mkdirSync(userDir, { recursive: true });
  const httpPort = await freePort();
  const mllpPort = await freePort();
  fs.copyFileSync(path.join(repoRoot, 'bench', 'ref-nodered.json'), path.join(userDir, 'flows.json'));
  const settingsFile = path.join(userDir, 'settings.js');
  // the same runtime knobs as settings.js where they matter for speed and memory: editor on, info logging
  fs.writeFileSync(settingsFile, `module.exports = ${JSON.stringify({
    uiHost: '127.0.0.1', uiPort: httpPort, userDir, flowFile: 'flows.json', flowFilePretty: true,
    logging: { console: { level: 'info', metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false }, tours: false },
    diagnostics: { enabled: false }, runtimeState: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  }, null, 2)};\n`);
  return startNodeRed({ name, settingsFile, env: { ...process.env, BENCH_MLLP_PORT: String(mllpPort) }, mllpPort, httpPort,
    dataDir: userDir, nodeArgs });
}

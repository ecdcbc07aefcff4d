// SPDX-License-Identifier: Apache-2.0
// Starts the real gateway (Node-RED with settings.js and a flow file) as a child process on free ports,
// exactly as `npm start` does, with its own data directory.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './free-port';
import { repoRoot } from './paths';

export interface Gateway {
  httpPort: number;
  mllpPort: number;
  dataDir: string;
  child: ChildProcess;
  log(): string;
  /** Graceful stop (SIGTERM), waits for exit. */
  stop(): Promise<void>;
  /** kill -9, waits for exit. */
  kill9(): Promise<void>;
}

export interface GatewayOptions {
  dataDir?: string;
  flowFile?: string;
  env?: Record<string, string>;
  httpPort?: number;
  mllpPort?: number;
  startTimeoutMs?: number;
}

/**
 * The settings file to start Node-RED with. Under `npm test` the tests run from dist/, which is what
 * package.json's node list points at, so settings.js is used as is. A personal build (tsc --outDir .tmp/<you>,
 * assets copied) gets a small settings file that loads the node types of that build instead, so an
 * end-to-end test checks the code it was built with, not whatever dist/ holds at the moment.
 */
function settingsFile(dataDir: string): string {
  const main = path.join(repoRoot, 'settings.js');
  const build = path.resolve(__dirname, '..', '..');
  if (build === path.join(repoRoot, 'dist') || !fs.existsSync(path.join(build, 'nodes', 'mllp-in', 'mllp-in.html'))) return main;
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as
    { name: string; version: string; 'node-red': { version?: string; nodes: Record<string, string> } };
  const dir = path.join(dataDir, '.build');
  fs.mkdirSync(dir, { recursive: true });
  const nodes: Record<string, string> = {};
  for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
    const built = path.join(build, file.replace(/^dist[\\/]/, ''));
    if (fs.existsSync(built)) nodes[type] = path.relative(dir, built);
  }
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version,
    'node-red': { ...pkg['node-red'], nodes } }));
  fs.writeFileSync(path.join(dir, 'settings.js'), `const s = require(${JSON.stringify(main)});\n`
    + `module.exports = { ...s, nodesDir: [${JSON.stringify(dir)}] };\n`);
  return path.join(dir, 'settings.js');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Starts the gateway and resolves once both its HTTP and MLLP ports accept connections. */
export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-e2e-'));
  const httpPort = opts.httpPort ?? await freePort();
  const mllpPort = opts.mllpPort ?? await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MGS_HOST: '127.0.0.1',
    MGS_HTTP_PORT: String(httpPort),
    MGS_MLLP_PORT: String(mllpPort),
    MGS_DATA_DIR: dataDir,
    MGS_LANG: 'en-US',
    ...(opts.flowFile ? { MGS_FLOW_FILE: opts.flowFile } : {}),
    ...opts.env,
  };
  const child = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', settingsFile(dataDir)],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited during start-up:\n${out}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`gateway did not start in time:\n${out}`); }
    if (/Started flows/.test(out) && await canConnect(httpPort) && await canConnect(mllpPort)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    httpPort, mllpPort, dataDir, child,
    log: () => out,
    async stop() { if (child.exitCode === null) { child.kill('SIGTERM'); await exited; } },
    async kill9() { if (child.exitCode === null) { child.kill('SIGKILL'); await exited; } },
  };
}

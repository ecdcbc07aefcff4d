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
  const child = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(repoRoot, 'settings.js')],
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

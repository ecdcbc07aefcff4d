// SPDX-License-Identifier: Apache-2.0
// Commit, then ACK: every write whose promise resolved survives the process being killed (SIGKILL)
// right after, with no clean shutdown of the store.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireStore, closeAllStores, storeFile } from '../../../lib/store';

// The child writes as fast as it can from 8 concurrent "senders" and prints the number of each
// message whose write resolved: that is the moment MGS would send the AA.
const CHILD = `
const { acquireStore, storeFile } = require(process.argv[1]);
const store = acquireStore(storeFile(process.argv[2]));
let n = 0;
async function sender() {
  for (;;) {
    const i = n++;
    await store.enqueue({ destination: 'emr', key: 'auto',
      text: 'MSH|^~\\\\&|MG|B0801|||' + i + '||ORU^R01|BARCODE|P|2.3\\rPID|||' + i + '^E024^\\rOBX|1|ST|03|HGB|' + i + '|g/dl\\r' });
    process.stdout.write(i + '\\n');
  }
}
for (let k = 0; k < 8; k++) sender();
`;

describe('store: durability across a kill', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-kill-')); });
  afterEach(async () => {
    await closeAllStores();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds every message whose write resolved before SIGKILL', async () => {
    const lib = path.join(__dirname, '..', '..', '..', 'lib', 'store', 'index.js');
    const child = spawn(process.execPath, ['-e', CHILD, lib, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Set<number>();
    let buf = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) acked.add(Number(l));
      if (!killed && acked.size >= 2000) { killed = true; child.kill('SIGKILL'); }
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    assert.equal(signal, 'SIGKILL', `child ended with code ${String(code)}`);
    assert.ok(acked.size >= 2000);

    const store = acquireStore(storeFile(dir), { lingerMs: 0 });
    const found = new Set<number>();
    for (let offset = 0; ; offset += 1000) {
      const page = store.listMessages({ limit: 1000, offset });
      for (const m of page.items) found.add(Number(m.barcode));
      if (page.items.length < 1000) break;
    }
    const lost = [...acked].filter((i) => !found.has(i));
    assert.deepEqual(lost, []);
    // and the queue is intact and in order
    const queue = store.spoolHead('emr', found.size + 10).map((e) => e.messageId);
    assert.equal(queue.length, found.size);
    assert.deepEqual([...queue].sort((a, b) => a - b), queue);
    store.release();
  });
});

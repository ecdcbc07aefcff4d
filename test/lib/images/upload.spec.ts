// SPDX-License-Identifier: Apache-2.0
// The image receiver over real HTTP on loopback: streaming, size limit, checksum, atomic rename.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ImageQueue } from '../../../lib/images/queue';
import { handleUpload } from '../../../lib/images/upload';

interface Answer { status: number; body: any }

function post(port: number, name: string, chunks: Buffer[], headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/mgs/images/${encodeURIComponent(name)}`, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    (async () => {
      for (const c of chunks) {
        if (req.destroyed) return;
        await new Promise<void>((r) => req.write(c, () => r()));
      }
      req.end();
    })().catch(() => { /* the server may close an oversized upload early */ });
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function filesIn(dir: string): string[] {
  return fs.readdirSync(dir);
}

describe('lib/images upload handler (HTTP)', () => {
  let dir: string;
  let queue: ImageQueue;
  let server: http.Server;
  let port: number;
  const MAX = 256 * 1024;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-upload-'));
    queue = new ImageQueue(dir);
    server = http.createServer((req, res) => {
      const m = /^\/mgs\/images\/([^/?]+)$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) { res.statusCode = 404; res.end(); return; }
      void handleUpload(req, res, decodeURIComponent(m[1]), queue, { maxBytes: MAX });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    queue.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('streams a chunked upload to incoming/ under its final name with the right SHA-256', async () => {
    const data = randomBytes(100_000);
    const chunks = [data.subarray(0, 1), data.subarray(1, 40_000), data.subarray(40_000)];
    const a = await post(port, 'E031-000123.jpg', chunks, { 'Content-Type': 'application/octet-stream' });
    assert.equal(a.status, 201);
    assert.equal(a.body.name, 'E031-000123.jpg');
    assert.equal(a.body.state, 'awaiting-message');
    assert.equal(a.body.size, 100_000);
    assert.equal(a.body.sha256, sha(data));
    assert.equal(a.body.duplicate, false);
    const files = filesIn(queue.incomingDir);
    assert.equal(files.length, 1);
    assert.match(files[0], /^[0-9a-f-]{36}--E031-000123\.jpg$/);
    assert.deepEqual(fs.readFileSync(path.join(queue.incomingDir, files[0])), data);
    const e = queue.require(a.body.id);
    assert.equal(e.filePath, path.join(queue.incomingDir, files[0]));
    assert.deepEqual(queue.events(e.id).map((x) => x.action), ['file']);
    assert.match(queue.events(e.id)[0].actor, /^upload 127\.0\.0\.1$/);
  });

  it('answers 413 to a declared oversized upload and keeps nothing', async () => {
    const data = Buffer.alloc(MAX + 1, 7);
    const a = await post(port, 'big.jpg', [data], { 'Content-Length': String(data.length) });
    assert.equal(a.status, 413);
    assert.equal(a.body.error, 'IMAGE_TOO_LARGE');
    assert.deepEqual(filesIn(queue.incomingDir), []);
    assert.deepEqual(queue.list(), []);
  });

  it('answers 413 when a chunked upload without length passes the limit mid-stream, and keeps nothing', async () => {
    const chunk = Buffer.alloc(64 * 1024, 1);
    const a = await post(port, 'stream.jpg', [chunk, chunk, chunk, chunk, chunk], { 'Transfer-Encoding': 'chunked' });
    assert.equal(a.status, 413);
    assert.equal(a.body.error, 'IMAGE_TOO_LARGE');
    assert.deepEqual(filesIn(queue.incomingDir), []);
    assert.deepEqual(queue.list(), []);
  });

  it('accepts a file of exactly the limit', async () => {
    const data = Buffer.alloc(MAX, 3);
    const a = await post(port, 'edge.png', [data]);
    assert.equal(a.status, 201);
    assert.equal(a.body.size, MAX);
  });

  it('checks a sent checksum (hex header and RFC 9530 Content-Digest): mismatch -> 400, nothing kept', async () => {
    const data = randomBytes(5000);
    const bad = await post(port, 'c.jpg', [data], { 'X-Content-SHA256': sha(Buffer.from('other')) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'IMAGE_CHECKSUM_MISMATCH');
    assert.deepEqual(filesIn(queue.incomingDir), []);
    assert.deepEqual(queue.list(), []);
    const good = await post(port, 'c.jpg', [data], { 'Content-Digest': `sha-256=:${createHash('sha256').update(data).digest('base64')}:` });
    assert.equal(good.status, 201);
    assert.equal(good.body.sha256, sha(data));
  });

  it('rejects names that are paths or hidden files with 400 IMAGE_BAD_NAME', async () => {
    for (const name of ['../etc.jpg', '.hidden.jpg', 'a/b.jpg', 'x..jpg']) {
      const a = await post(port, name, [Buffer.from('x')]);
      assert.equal(a.status, 400, name);
      assert.equal(a.body.error, 'IMAGE_BAD_NAME');
    }
    assert.deepEqual(filesIn(queue.incomingDir), []);
  });

  it('stores the same file twice only once (200 duplicate) and a different file under the same name as its own entry', async () => {
    const data = randomBytes(2000);
    const first = await post(port, 'E031-000124.jpg', [data]);
    const again = await post(port, 'E031-000124.jpg', [data]);
    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.id, first.body.id);
    assert.equal(filesIn(queue.incomingDir).length, 1);
    const other = await post(port, 'E031-000124.jpg', [randomBytes(2000)]);
    assert.equal(other.status, 201);
    assert.notEqual(other.body.id, first.body.id);
    assert.equal(filesIn(queue.incomingDir).length, 2);
    assert.deepEqual(queue.events(first.body.id).map((x) => x.action), ['file', 'duplicate-upload']);
  });

  it('leaves no .part file when the uploader disconnects mid-stream', async () => {
    const stored = new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/mgs/images/cut.jpg', headers: { 'Content-Length': '100000' } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(30_000, 1), () => setImmediate(() => req.destroy()));
    });
    await stored;
    const deadline = Date.now() + 5000;
    while (filesIn(queue.incomingDir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(filesIn(queue.incomingDir), []);
    assert.deepEqual(queue.list(), []);
  });
});

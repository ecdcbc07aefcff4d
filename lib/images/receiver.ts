// SPDX-License-Identifier: Apache-2.0
/**
 * Streams an uploaded file to disk: into a temporary `.part` file beside its final place, with a size
 * limit and a SHA-256 computed on the way, fsync'd, then renamed atomically. A file is either there
 * whole under its final name or not at all; a failed or oversized upload leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { GatewayError } from '../errors';

export interface ReceivedFile {
  path: string;
  size: number;
  sha256: string;   // lower-case hex
  head: Buffer;     // the first bytes, for content sniffing
}

export interface ReceiveOptions {
  maxBytes: number;
  /** Expected SHA-256 (hex) sent by the uploader; a mismatch fails with IMAGE_CHECKSUM_MISMATCH. */
  expectedSha256?: string;
}

/** fsync a directory so a rename inside it survives a power cut (no-op where the OS refuses). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try { fd = fs.openSync(dir, 'r'); fs.fsyncSync(fd); } catch { /* Windows cannot open directories */ } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `source` to `finalPath` through a temporary file; resolves once it is durable under its final name. */
export function receiveToFile(source: Readable, finalPath: string, opts: ReceiveOptions): Promise<ReceivedFile> {
  const dir = path.dirname(finalPath);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(finalPath)}.${randomBytes(6).toString('hex')}.part`);
  return new Promise<ReceivedFile>((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    const headParts: Buffer[] = [];
    let headLen = 0;
    let failed = false;
    const fd = fs.openSync(tmp, 'wx', 0o640);
    const out = fs.createWriteStream(tmp, { fd, autoClose: false });

    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      source.unpipe(out);
      source.removeListener('data', onData);
      source.resume();                                   // drain the rest so the socket can answer
      out.destroy();
      try { fs.closeSync(fd); } catch { /* already closed */ }
      try { fs.unlinkSync(tmp); } catch { /* never created */ }
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > opts.maxBytes) { fail(new GatewayError('IMAGE_TOO_LARGE', { max: opts.maxBytes })); return; }
      hash.update(chunk);
      if (headLen < 512) { headParts.push(chunk.subarray(0, 512 - headLen)); headLen += Math.min(chunk.length, 512 - headLen); }
    };
    source.on('data', onData);
    source.on('error', (err) => fail(new GatewayError('IMAGE_INCOMPLETE', { detail: err.message })));
    source.on('aborted', () => fail(new GatewayError('IMAGE_INCOMPLETE', { detail: 'upload aborted' })));
    out.on('error', (err) => fail(new GatewayError('IMAGE_STORE_FAILED', { detail: err.message })));
    source.pipe(out, { end: false });
    source.on('end', () => {
      if (failed) return;
      if ((source as Readable & { complete?: boolean }).complete === false) {
        fail(new GatewayError('IMAGE_INCOMPLETE', { detail: 'upload aborted' }));
        return;
      }
      out.end(() => {
        if (failed) return;
        try {
          const sha256 = hash.digest('hex');
          if (opts.expectedSha256 && opts.expectedSha256.toLowerCase() !== sha256) {
            fail(new GatewayError('IMAGE_CHECKSUM_MISMATCH', { expected: opts.expectedSha256, actual: sha256 }));
            return;
          }
          fs.fsyncSync(fd);
          fs.closeSync(fd);
          fs.renameSync(tmp, finalPath);
          fsyncDir(dir);
          failed = true;                                 // settled
          resolve({ path: finalPath, size, sha256, head: Buffer.concat(headParts) });
        } catch (err) {
          fail(new GatewayError('IMAGE_STORE_FAILED', { detail: (err as Error).message }));
        }
      });
    });
  });
}

/** Writes a buffer durably under `finalPath` (temporary file, fsync, rename); used for ED payloads and copies. */
export function writeFileAtomic(finalPath: string, data: Buffer): void {
  const dir = path.dirname(finalPath);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(finalPath)}.${randomBytes(6).toString('hex')}.part`);
  const fd = fs.openSync(tmp, 'wx', 0o640);
  try {
    fs.writeSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, finalPath);
  fsyncDir(dir);
}

/** Moves a file durably (rename, or copy + fsync + unlink across file systems); never overwrites. */
export function moveFileDurable(from: string, to: string): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  if (fs.existsSync(to)) throw new GatewayError('IMAGE_STORE_FAILED', { detail: `${path.basename(to)} exists` });
  try {
    fs.renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    writeFileAtomic(to, fs.readFileSync(from));
    fs.unlinkSync(from);
  }
  fsyncDir(path.dirname(to));
  fsyncDir(path.dirname(from));
}

/** SHA-256 (hex) of a file on disk. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    fs.createReadStream(file).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

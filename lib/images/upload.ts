// SPDX-License-Identifier: Apache-2.0
/**
 * The image receiver's HTTP handler (POST <root>/mgs/images/<file name>, the raw file as the body), for
 * any `http` server or Express app. Answers:
 *   201 {id, name, state, size, sha256, matched}   stored (state pending when its message was waiting)
 *   200 {..., duplicate: true}                     the same file was already received: nothing stored twice
 *   400 IMAGE_BAD_NAME | IMAGE_CHECKSUM_MISMATCH    413 IMAGE_TOO_LARGE    500 IMAGE_STORE_FAILED
 * Only a 2xx means the file is durable; on any other answer nothing is kept and the MG should retry.
 * An optional checksum is checked: `X-Content-SHA256: <hex>`, `Content-Digest: sha-256=:<base64>:`
 * (RFC 9530) or `Digest: SHA-256=<base64>` (RFC 3230).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors';
import type { ImageQueue } from './queue';
import { validateImageName } from './names';

export interface UploadOptions {
  maxBytes: number;
  /** Called with each stored entry (e.g. to update a node's status). */
  onStored?: (result: Awaited<ReturnType<ImageQueue['addUpload']>>) => void;
}

/** Expected SHA-256 (hex) from the request headers, if the uploader sent one. */
export function expectedChecksum(req: IncomingMessage): string | undefined {
  const hex = req.headers['x-content-sha256'];
  if (typeof hex === 'string' && /^[0-9a-fA-F]{64}$/.test(hex.trim())) return hex.trim().toLowerCase();
  const cd = req.headers['content-digest'];
  const m1 = typeof cd === 'string' ? /sha-256=:([A-Za-z0-9+/=]+):/i.exec(cd) : null;
  if (m1) return Buffer.from(m1[1], 'base64').toString('hex');
  const dg = req.headers.digest;
  const m2 = typeof dg === 'string' ? /sha-256=([A-Za-z0-9+/=]+)/i.exec(dg) : null;
  if (m2) return Buffer.from(m2[1], 'base64').toString('hex');
  return undefined;
}

function reply(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, closeAfter = false): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  if (closeAfter) {
    // The rest of an oversized body is not read: close the connection once the answer is out.
    res.setHeader('Connection', 'close');
    res.on('finish', () => { if (!req.complete) req.socket.destroy(); });
  }
  res.end(text);
}

function statusOf(err: unknown): number {
  if (err instanceof GatewayError) {
    if (err.code === 'IMAGE_TOO_LARGE') return 413;
    if (err.code === 'IMAGE_BAD_NAME' || err.code === 'IMAGE_CHECKSUM_MISMATCH') return 400;
    if (err.code === 'IMAGE_INCOMPLETE') return 400;
  }
  return 500;
}

/** Handles one upload; `name` is the URL's last path segment (already URL-decoded). */
export async function handleUpload(req: IncomingMessage, res: ServerResponse, name: string, queue: ImageQueue,
  opts: UploadOptions): Promise<void> {
  try {
    validateImageName(name);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > opts.maxBytes) throw new GatewayError('IMAGE_TOO_LARGE', { max: opts.maxBytes });
    const actor = `upload ${req.socket.remoteAddress ?? ''}`.trim();
    const result = await queue.addUpload(req, name, { maxBytes: opts.maxBytes, expectedSha256: expectedChecksum(req), actor });
    const e = result.entry;
    opts.onStored?.(result);
    reply(req, res, result.duplicate ? 200 : 201, {
      id: e.id, name: e.name, state: e.state, size: e.size, sha256: e.sha256, matched: result.matched, duplicate: result.duplicate,
    });
  } catch (err) {
    const status = statusOf(err);
    const code = err instanceof GatewayError ? err.code : 'IMAGE_STORE_FAILED';
    reply(req, res, status, { error: code, ...(err instanceof GatewayError ? { params: err.params } : {}) }, status === 413);
    if (status !== 413 && !req.complete) req.resume();
  }
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Sends DICOM objects to PACS: C-STORE (dcmjs-dimse) to `dicom://CALLED_AE@host:port[?calling=MGS]`,
 * or DICOMweb STOW-RS to an http(s) base URL (POST <base>/studies, multipart/related; type="application/dicom").
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors';
import { toPart10, type DicomObject } from './secondary-capture';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dimse: any = require('dcmjs-dimse');
// dcmjs-dimse logs every association (and, at debug level, datasets with patient data) to the console.
dimse.log.setLevel?.('silent');

export type PacsTarget =
  | { kind: 'dimse'; host: string; port: number; calledAe: string; callingAe: string }
  | { kind: 'stow'; url: string; headers: Record<string, string> };

/** Parses a PACS target; '' (or an unset ${MGS_PACS}) means disabled and gives null. Throws PACS_BAD_TARGET. */
export function parsePacsTarget(text: string | undefined): PacsTarget | null {
  const t = (text ?? '').trim();
  if (t === '' || /^\$\{[^}]*\}$/.test(t)) return null;
  let u: URL;
  try { u = new URL(t); } catch { throw new GatewayError('PACS_BAD_TARGET', { target: t }); }
  if (u.protocol === 'dicom:') {
    const port = Number(u.port || 104);
    const calledAe = decodeURIComponent(u.username || 'ANY-SCP');
    const callingAe = u.searchParams.get('calling') || 'MGS';
    if (!u.hostname || !Number.isInteger(port) || port < 1 || port > 65535 || calledAe.length > 16 || callingAe.length > 16) {
      throw new GatewayError('PACS_BAD_TARGET', { target: t });
    }
    return { kind: 'dimse', host: u.hostname.replace(/^\[|\]$/g, ''), port, calledAe, callingAe };
  }
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    const headers: Record<string, string> = {};
    if (u.username || u.password) {
      headers.Authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
      u.username = ''; u.password = '';
    }
    return { kind: 'stow', url: u.toString().replace(/\/+$/, ''), headers };
  }
  throw new GatewayError('PACS_BAD_TARGET', { target: t });
}

/** A target for logs and status texts, without credentials. */
export function describeTarget(t: PacsTarget): string {
  return t.kind === 'dimse' ? `dicom://${t.calledAe}@${t.host}:${t.port}` : t.url;
}

let transcodingReady: Promise<void> | undefined;

/**
 * dcmjs-dimse must have its codecs initialised before the first store: otherwise a dataset whose
 * transfer syntax the receiver did not accept is skipped without any error.
 */
export function initTranscoding(): Promise<void> {
  if (!transcodingReady) {
    transcodingReady = (dimse.Transcoding.isInitialized() ? Promise.resolve() : dimse.Transcoding.initializeAsync())
      .catch((err: Error) => { transcodingReady = undefined; throw err; });
  }
  return transcodingReady as Promise<void>;
}

export interface StoreResult { status: number; sopInstanceUid: string; target: string }

/** C-STORE of one object; resolves on a success (or warning) status, rejects with PACS_FAILED otherwise. */
export async function cStore(obj: DicomObject, t: Extract<PacsTarget, { kind: 'dimse' }>, timeoutMs = 30000): Promise<StoreResult> {
  await initTranscoding();
  return new Promise<StoreResult>((resolve, reject) => {
    const { Client, Dataset, requests, constants } = dimse;
    const client = new Client();
    const dataset = new Dataset(obj.dataset, obj.transferSyntaxUid);
    const request = new requests.CStoreRequest(dataset);
    // Offer the uncompressed syntaxes too, so a receiver that refuses JPEG still gets the image (transcoded).
    request.setAdditionalTransferSyntaxes?.([constants.TransferSyntax.ExplicitVRLittleEndian]);
    let status: number | undefined;
    let failure: string | undefined;
    let settled = false;
    const finish = (err?: GatewayError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve({ status: status as number, sopInstanceUid: obj.sopInstanceUid, target: describeTarget(t) });
    };
    const timer = setTimeout(() => {
      try { client.abort(); } catch { /* not connected */ }
      finish(new GatewayError('PACS_FAILED', { detail: `no answer from ${describeTarget(t)} within ${timeoutMs} ms` }));
    }, timeoutMs);
    request.on('response', (response: any) => {
      status = response.getStatus();
      if (status !== constants.Status.Success && !(status! >= 0xb000 && status! <= 0xbfff)) {
        failure = `C-STORE status 0x${status!.toString(16)} ${response.getErrorComment?.() ?? ''}`.trim();
      }
    });
    client.on('associationRejected', (r: any) => { failure = `association rejected (${JSON.stringify(r)})`; });
    client.on('networkError', (e: Error) => finish(new GatewayError('PACS_FAILED', { detail: e.message })));
    client.on('closed', () => {
      if (failure) finish(new GatewayError('PACS_FAILED', { detail: failure }));
      else if (status === undefined) finish(new GatewayError('PACS_FAILED', { detail: 'the object was not stored (no C-STORE response)' }));
      else finish();
    });
    client.addRequest(request);
    client.send(t.host, t.port, t.callingAe, t.calledAe, { connectTimeout: Math.min(timeoutMs, 10000), associationTimeout: timeoutMs, pduTimeout: timeoutMs });
    // Without TCP_NODELAY each PDU waits for the peer's delayed ACK (~40 ms per store).
    client.network?.socket?.setNoDelay?.(true);
  });
}

/** STOW-RS of one object to <base>/studies. */
export function stow(obj: DicomObject, t: Extract<PacsTarget, { kind: 'stow' }>, timeoutMs = 30000): Promise<StoreResult> {
  const boundary = `mgs-${randomBytes(12).toString('hex')}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    toPart10(obj),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const url = new URL(`${t.url}/studies`);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise<StoreResult>((resolve, reject) => {
    const req = lib.request(url, {
      method: 'POST', timeout: timeoutMs,
      headers: {
        ...t.headers,
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        'Content-Length': body.length, Accept: 'application/dicom+json',
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { if (text.length < 4000) text += d; });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status === 200 || status === 202) resolve({ status, sopInstanceUid: obj.sopInstanceUid, target: describeTarget(t) });
        else reject(new GatewayError('PACS_FAILED', { detail: `STOW-RS HTTP ${status} ${text.slice(0, 200)}`.trim() }));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new GatewayError('PACS_FAILED', { detail: e.message })));
    req.end(body);
  });
}

/** Sends one object to a parsed target. */
export function sendToPacs(obj: DicomObject, t: PacsTarget, timeoutMs?: number): Promise<StoreResult> {
  return t.kind === 'dimse' ? cStore(obj, t, timeoutMs) : stow(obj, t, timeoutMs);
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Image file names as the MG writes them in OBX-5 and uses for the upload (SPEC 2.4: built from a
 * serial number, e.g. `E031-000123.jpg`). A name is one path component of safe characters, so it can
 * never point outside the folders the gateway keeps images in.
 */
import { GatewayError } from '../errors';

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._\-]{0,199}$/;
const IMAGE_EXT = /\.(jpe?g|png|pdf|bmp|gif|tiff?|dcm|webp)$/i;

/** Throws IMAGE_BAD_NAME unless `name` is a safe single file name (no path, no leading dot). */
export function validateImageName(name: unknown): string {
  if (typeof name !== 'string' || !SAFE_NAME.test(name) || name.includes('..')) {
    throw new GatewayError('IMAGE_BAD_NAME');
  }
  return name;
}

/** True when an OBX-5 value looks like the name of an image file the MG will upload. */
export function looksLikeImageName(value: string): boolean {
  return SAFE_NAME.test(value) && IMAGE_EXT.test(value) && !value.includes('..');
}

/** The key an upload and a message are matched on: the file name, case-insensitively (Windows MGs vary case). */
export function matchKey(name: string): string {
  return name.toLowerCase();
}

/** MIME type from the first bytes of a file (magic numbers), falling back to the name's extension. */
export function contentTypeOf(head: Buffer, name = ''): string {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (head.length >= 5 && head.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf';
  if (head.length >= 132 && head.subarray(128, 132).toString('latin1') === 'DICM') return 'application/dicom';
  if (head.length >= 6 && /^GIF8[79]a$/.test(head.subarray(0, 6).toString('latin1'))) return 'image/gif';
  if (head.length >= 2 && head[0] === 0x42 && head[1] === 0x4d) return 'image/bmp';
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  switch (ext) {
    case 'jpg': case 'jpeg': return 'image/jpeg';
    case 'png': return 'image/png';
    case 'pdf': return 'application/pdf';
    case 'dcm': return 'application/dicom';
    case 'tif': case 'tiff': return 'image/tiff';
    default: return 'application/octet-stream';
  }
}

/** File extension (without dot) conventionally used for a MIME type. */
export function extensionFor(contentType: string): string {
  switch (contentType.toLowerCase()) {
    case 'image/jpeg': return 'jpg';
    case 'image/png': return 'png';
    case 'application/pdf': return 'pdf';
    case 'application/dicom': return 'dcm';
    case 'image/tiff': return 'tif';
    case 'image/gif': return 'gif';
    case 'image/bmp': return 'bmp';
    default: return 'bin';
  }
}

/** Makes any identifier (e.g. an EMR patient number) safe to use as one folder name. */
export function safeSegment(value: string): string {
  const s = value.normalize('NFC').replace(/[^A-Za-z0-9._\-\u3131-\uD79D]/g, '_').replace(/^\.+/, '_');
  return s.length ? s.slice(0, 100) : '_';
}

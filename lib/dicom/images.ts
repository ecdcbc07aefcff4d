// SPDX-License-Identifier: Apache-2.0
/**
 * What DICOM needs to know about an image file: JPEG frame headers (read, never re-encoded) and PNG
 * pixels (decoded here with zlib: PNG is not a DICOM transfer syntax).
 */
import * as zlib from 'node:zlib';
import { GatewayError } from '../errors';

export interface JpegInfo {
  rows: number;
  columns: number;
  components: number;
  bitsPerSample: number;
  /** SOF marker: 0xc0 baseline, 0xc1 extended, 0xc2 progressive, 0xc3 lossless. */
  sof: number;
}

/** Reads the frame header (SOFn) of a JPEG file. Throws IMAGE_UNSUPPORTED when there is none. */
export function jpegInfo(buf: Buffer): JpegInfo {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== 0xd8) throw new GatewayError('IMAGE_UNSUPPORTED', { detail: 'not a JPEG file' });
  let i = 2;
  while (i + 4 <= buf.length) {
    if (buf[i] !== 0xff) { i++; continue; }
    const marker = buf[i + 1];
    if (marker === 0xff) { i++; continue; }                       // fill bytes
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; }
    if (marker === 0xd9 || marker === 0xda) break;                 // EOI / SOS before any SOF
    const len = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (i + 9 >= buf.length) break;
      return { sof: marker, bitsPerSample: buf[i + 4], rows: buf.readUInt16BE(i + 5), columns: buf.readUInt16BE(i + 7), components: buf[i + 9] };
    }
    i += 2 + len;
  }
  throw new GatewayError('IMAGE_UNSUPPORTED', { detail: 'JPEG without a frame header' });
}

export interface RawImage {
  width: number;
  height: number;
  /** 1 = grey, 3 = RGB (alpha is dropped: DICOM secondary capture has no transparency). */
  samples: 1 | 3;
  bits: 8 | 16;
  /** Pixel data, interleaved, big-endian 16-bit samples converted to little-endian. */
  pixels: Buffer;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decodes a non-interlaced PNG (grey, RGB, palette, with or without alpha; 1-16 bits) to raw pixels. */
export function decodePng(buf: Buffer): RawImage {
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(sig)) throw new GatewayError('IMAGE_UNSUPPORTED', { detail: 'not a PNG file' });
  let width = 0, height = 0, depth = 0, colorType = 0, interlace = 0;
  let palette: Buffer | undefined;
  const idat: Buffer[] = [];
  for (let i = 8; i + 8 <= buf.length;) {
    const len = buf.readUInt32BE(i);
    const type = buf.toString('latin1', i + 4, i + 8);
    const data = buf.subarray(i + 8, i + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4); depth = data[8]; colorType = data[9]; interlace = data[12];
    } else if (type === 'PLTE') palette = data;
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    i += 12 + len;
  }
  if (interlace) throw new GatewayError('IMAGE_UNSUPPORTED', { detail: 'interlaced PNG' });
  const channels = ({ 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as Record<number, number>)[colorType];
  if (!channels || !width || !height || ![1, 2, 4, 8, 16].includes(depth)) throw new GatewayError('IMAGE_UNSUPPORTED', { detail: 'PNG header' });
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const bpp = Math.max(1, (channels * depth) >> 3);                 // bytes per complete pixel, for filters
  const stride = Math.ceil((width * channels * depth) / 8);
  const lines = Buffer.alloc(stride * height);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = lines.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
      const v = src[x];
      cur[x] = (f === 0 ? v : f === 1 ? v + a : f === 2 ? v + b : f === 3 ? v + ((a + b) >> 1) : v + paeth(a, b, c)) & 0xff;
    }
    prev = cur;
  }
  const samples: 1 | 3 = colorType === 2 || colorType === 6 || colorType === 3 ? 3 : 1;
  const bits: 8 | 16 = depth === 16 ? 16 : 8;
  const out = Buffer.alloc(width * height * samples * (bits / 8));
  const sample = (line: Buffer, index: number): number => {       // index-th sample of a line, in the PNG's depth
    if (depth === 8) return line[index];
    if (depth === 16) return line.readUInt16BE(index * 2);
    const perByte = 8 / depth;
    return (line[Math.floor(index / perByte)] >> (8 - depth * ((index % perByte) + 1))) & ((1 << depth) - 1);
  };
  let o = 0;
  for (let y = 0; y < height; y++) {
    const line = lines.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < width; x++) {
      if (colorType === 3) {
        const p = sample(line, x) * 3;
        if (!palette || p + 2 >= palette.length) throw new GatewayError('IMAGE_UNSUPPORTED', { detail: 'PNG palette' });
        out[o++] = palette[p]; out[o++] = palette[p + 1]; out[o++] = palette[p + 2];
        continue;
      }
      for (let s = 0; s < samples; s++) {
        let v = sample(line, x * channels + s);
        if (depth < 8) v = Math.round((v * 255) / ((1 << depth) - 1));
        if (bits === 16) { out.writeUInt16LE(v, o); o += 2; } else out[o++] = v;
      }
    }
  }
  return { width, height, samples, bits, pixels: out };
}

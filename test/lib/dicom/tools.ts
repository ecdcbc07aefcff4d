// SPDX-License-Identifier: Apache-2.0
// Test tools for the DICOM tests: small real images made here (PNG written by hand, JPEG encoded by the
// dcmjs-codecs JPEG encoder shipped inside dcmjs-dimse), and dcmtk's storescp/dcmdump on loopback.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { freePort } from '../../helpers/free-port';
import { initTranscoding } from '../../../lib/dicom/send';
import { TS_EXPLICIT_LE } from '../../../lib/dicom/secondary-capture';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dimse: any = require('dcmjs-dimse');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(b: Buffer): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** RGB test pattern: red gradient across, green down, blue constant. */
export function rgbPattern(width: number, height: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const o = (y * width + x) * 3;
    px[o] = Math.round((x * 255) / (width - 1)); px[o + 1] = Math.round((y * 255) / (height - 1)); px[o + 2] = 128;
  }
  return px;
}

/** A PNG file (colour type 2 RGB, or 6 RGBA with alpha 255), rows filtered with filter `filter` (0-4, Sub/Up/Avg/Paeth). */
export function makePng(width: number, height: number, rgb: Buffer, opts: { alpha?: boolean; filter?: number } = {}): Buffer {
  const channels = opts.alpha ? 4 : 3;
  const filter = opts.filter ?? 0;
  const stride = width * channels;
  const raw = Buffer.alloc((stride + 1) * height);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const line = Buffer.alloc(stride);
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) line[x * channels + c] = rgb[(y * width + x) * 3 + c];
      if (opts.alpha) line[x * channels + 3] = 255;
    }
    raw[y * (stride + 1)] = filter;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels] : 0, b = prev[i], c = i >= channels ? prev[i - channels] : 0;
      const p = a + b - c;
      const pr = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : filter === 4 ? pr : 0;
      raw[y * (stride + 1) + 1 + i] = (line[i] - pred) & 0xff;
    }
    prev = line;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4); ihdr[8] = 8; ihdr[9] = opts.alpha ? 6 : 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A baseline JPEG of an RGB image, encoded by libjpeg-turbo (dcmjs-codecs) through a DICOM transcode. */
export async function makeJpeg(width: number, height: number, rgb: Buffer): Promise<Buffer> {
  await initTranscoding();
  const ds = new dimse.Dataset({
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', SOPInstanceUID: '2.25.1', SamplesPerPixel: 3, PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0, Rows: height, Columns: width, BitsAllocated: 8, BitsStored: 8, HighBit: 7, PixelRepresentation: 0,
    PixelData: [rgb.buffer.slice(rgb.byteOffset, rgb.byteOffset + rgb.byteLength)], _vrMap: { PixelData: 'OB' },
  }, TS_EXPLICIT_LE);
  const jpeg = dimse.Transcoding.transcodeDataset(ds, dimse.constants.TransferSyntax.JpegBaseline, { quality: 90 });
  const frame = jpeg.getElement('PixelData')[0] as ArrayBuffer;
  let b = Buffer.from(frame);
  while (b.length > 2 && !(b[b.length - 2] === 0xff && b[b.length - 1] === 0xd9)) b = b.subarray(0, b.length - 1);   // drop even-length padding
  return b;
}

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** dcmdump of a file, as text. */
export function dcmdump(file: string): string {
  const r = spawnSync('dcmdump', ['+U8', '-Un', '-M', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`dcmdump failed: ${r.stderr}`);
  return r.stdout;
}

/** Value of a tag in dcmdump output, e.g. tag(dump, '0010,0020') -> '1234'. */
export function tag(dump: string, t: string): string | undefined {
  const line = dump.split('\n').find((l) => l.startsWith(`(${t})`));
  if (!line) return undefined;
  const m = /\[(.*)\]/.exec(line);
  return m ? m[1] : line.split(/\s+/)[2];
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

export interface StoreScp { port: number; aet: string; dir: string; files(): string[]; stop(): Promise<void> }

/** dcmtk's storescp on a free loopback port, storing into a fresh temporary folder. */
export async function startStorescp(opts: { acceptAll?: boolean } = {}): Promise<StoreScp> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-storescp-'));
  const port = await freePort();
  const aet = 'STORESCP';
  const args = ['-aet', aet, '-od', dir, ...(opts.acceptAll === false ? [] : ['+xa']), String(port)];
  const child: ChildProcess = spawn('storescp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null || Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`storescp did not start: ${log}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port, aet, dir,
    files: () => fs.readdirSync(dir).filter((f) => !f.startsWith('.')).map((f) => path.join(dir, f)),
    async stop() {
      if (child.exitCode === null) { child.kill('SIGTERM'); await exited; }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface OrthancServer { httpPort: number; dicomPort: number; aet: string; dicomWeb: boolean; get(p: string): Promise<any>; stop(): Promise<void> }

/** Debian's Orthanc on free loopback ports with a throw-away storage folder (DICOMweb plugin when installed). */
export async function startOrthanc(): Promise<OrthancServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-orthanc-'));
  const httpPort = await freePort();
  const dicomPort = await freePort();
  const plugin = ['/usr/share/orthanc/plugins/libOrthancDicomWeb.so', '/usr/lib/orthanc/plugins/libOrthancDicomWeb.so'].find((p) => fs.existsSync(p));
  const config = {
    Name: 'MGS-TEST', StorageDirectory: path.join(dir, 'db'), IndexDirectory: path.join(dir, 'db'),
    HttpPort: httpPort, DicomPort: dicomPort, DicomAet: 'ORTHANC', DicomCheckCalledAet: false,
    RemoteAccessAllowed: false, AuthenticationEnabled: false, HttpServerEnabled: true, DicomServerEnabled: true,
    Plugins: plugin ? [plugin] : [], DicomWeb: { Enable: true, Root: '/dicom-web/' }, ConcurrentJobs: 1,
  };
  fs.writeFileSync(path.join(dir, 'orthanc.json'), JSON.stringify(config));
  const bin = fs.existsSync('/usr/sbin/Orthanc') ? '/usr/sbin/Orthanc' : 'Orthanc';
  const child = spawn(bin, [path.join(dir, 'orthanc.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const get = async (p: string): Promise<any> => {
    const r = await fetch(`http://127.0.0.1:${httpPort}${p}`);
    if (!r.ok) throw new Error(`GET ${p}: HTTP ${r.status}`);
    return r.json();
  };
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`Orthanc did not start: ${log.slice(-2000)}`); }
    try { await get('/system'); if (await canConnect(dicomPort)) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    httpPort, dicomPort, aet: 'ORTHANC', dicomWeb: Boolean(plugin), get,
    async stop() {
      if (child.exitCode === null) { child.kill('SIGTERM'); await exited; }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

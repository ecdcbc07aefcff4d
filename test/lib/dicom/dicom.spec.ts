// SPDX-License-Identifier: Apache-2.0
// Secondary Capture from a real JPEG and PNG, C-STORE to dcmtk's storescp, STOW-RS to a loopback receiver.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePng, jpegInfo } from '../../../lib/dicom/images';
import { buildDicom, toPart10, SOP_ENCAPSULATED_PDF, SOP_SECONDARY_CAPTURE, TS_EXPLICIT_LE, TS_JPEG_BASELINE } from '../../../lib/dicom/secondary-capture';
import { cStore, parsePacsTarget, sendToPacs } from '../../../lib/dicom/send';
import { freePort } from '../../helpers/free-port';
import { dcmdump, haveTool, makeJpeg, makePng, rgbPattern, startStorescp, tag } from './tools';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dcmjs: any = require('dcmjs');

const patient = { id: '1234', name: '홍길동', sex: 'M', birthDate: '19750101' };
const W = 40, H = 24;

function readBack(p10: Buffer): any {
  const dict = dcmjs.data.DicomMessage.readFile(p10.buffer.slice(p10.byteOffset, p10.byteOffset + p10.byteLength));
  return { meta: dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.meta), ds: dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) };
}

describe('lib/dicom', () => {
  const rgb = rgbPattern(W, H);
  let jpeg: Buffer;
  let tmp: string;
  before(async () => { jpeg = await makeJpeg(W, H, rgb); });
  beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-dicom-')); });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads a JPEG frame header and decodes PNGs of every filter type, with and without alpha', () => {
    assert.deepEqual(jpegInfo(jpeg), { sof: 0xc0, bitsPerSample: 8, rows: H, columns: W, components: 3 });
    for (const filter of [0, 1, 2, 3, 4]) {
      for (const alpha of [false, true]) {
        const img = decodePng(makePng(W, H, rgb, { filter, alpha }));
        assert.deepEqual([img.width, img.height, img.samples, img.bits], [W, H, 3, 8]);
        assert.ok(img.pixels.equals(rgb), `filter ${filter} alpha ${alpha}`);
      }
    }
    assert.throws(() => jpegInfo(Buffer.from('not a jpeg')), { code: 'IMAGE_UNSUPPORTED' });
  });

  it('wraps a JPEG as Secondary Capture without re-encoding: the fragment is the JPEG itself', () => {
    const obj = buildDicom({ data: jpeg, contentType: 'image/jpeg', patient, observedAt: '20261203101500', description: 'ECG' });
    assert.equal(obj.transferSyntaxUid, TS_JPEG_BASELINE);
    const file = path.join(tmp, 'sc.dcm');
    fs.writeFileSync(file, toPart10(obj));
    const dump = dcmdump(file);
    assert.equal(tag(dump, '0002,0010'), TS_JPEG_BASELINE);
    assert.equal(tag(dump, '0008,0016'), SOP_SECONDARY_CAPTURE);
    assert.equal(tag(dump, '0010,0020'), '1234');
    assert.equal(tag(dump, '0010,0010'), '홍길동');
    assert.equal(tag(dump, '0010,0040'), 'M');
    assert.equal(tag(dump, '0010,0030'), '19750101');
    assert.equal(tag(dump, '0008,0020'), '20261203');
    assert.equal(tag(dump, '0028,0010'), String(H));
    assert.equal(tag(dump, '0028,0011'), String(W));
    assert.equal(tag(dump, '0028,0004'), 'YBR_FULL_422');
    const { ds } = readBack(fs.readFileSync(file));
    const frag = Buffer.from(Array.isArray(ds.PixelData) ? ds.PixelData[0] : ds.PixelData);
    assert.ok(frag.subarray(0, jpeg.length).equals(jpeg));
  });

  it('wraps a PNG as Secondary Capture with its decoded pixels (Explicit VR Little Endian)', () => {
    const obj = buildDicom({ data: makePng(W, H, rgb, { filter: 4 }), contentType: 'image/png', patient });
    assert.equal(obj.transferSyntaxUid, TS_EXPLICIT_LE);
    const file = path.join(tmp, 'png.dcm');
    fs.writeFileSync(file, toPart10(obj));
    const dump = dcmdump(file);
    assert.equal(tag(dump, '0010,0020'), '1234');
    assert.equal(tag(dump, '0028,0004'), 'RGB');
    const { ds } = readBack(fs.readFileSync(file));
    assert.ok(Buffer.from(ds.PixelData[0]).equals(rgb));
  });

  it('wraps a PDF as Encapsulated PDF', () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(101)]);
    const obj = buildDicom({ data: pdf, contentType: 'application/pdf', patient });
    const file = path.join(tmp, 'pdf.dcm');
    fs.writeFileSync(file, toPart10(obj));
    const dump = dcmdump(file);
    assert.equal(tag(dump, '0008,0016'), SOP_ENCAPSULATED_PDF);
    assert.equal(tag(dump, '0042,0012'), 'application/pdf');
    const { ds } = readBack(fs.readFileSync(file));
    assert.ok(Buffer.from(ds.EncapsulatedDocument[0] ?? ds.EncapsulatedDocument).subarray(0, pdf.length).equals(pdf));
  });

  it('parses PACS targets: dicom://AET@host:port, DICOMweb base URLs, empty = disabled', () => {
    assert.deepEqual(parsePacsTarget('dicom://ORTHANC@127.0.0.1:4242'), { kind: 'dimse', host: '127.0.0.1', port: 4242, calledAe: 'ORTHANC', callingAe: 'MGS' });
    assert.deepEqual(parsePacsTarget('dicom://PACS@10.0.0.5:104?calling=MGS01'), { kind: 'dimse', host: '10.0.0.5', port: 104, calledAe: 'PACS', callingAe: 'MGS01' });
    assert.deepEqual(parsePacsTarget('http://u:p@127.0.0.1:8042/dicom-web/'),
      { kind: 'stow', url: 'http://127.0.0.1:8042/dicom-web', headers: { Authorization: 'Basic ' + Buffer.from('u:p').toString('base64') } });
    assert.equal(parsePacsTarget(''), null);
    assert.equal(parsePacsTarget('${MGS_PACS}'), null);
    assert.throws(() => parsePacsTarget('ftp://x'), { code: 'PACS_BAD_TARGET' });
    assert.throws(() => parsePacsTarget('dicom://AETITLE_LONGER_THAN_16@h:104'), { code: 'PACS_BAD_TARGET' });
  });

  describe('C-STORE to dcmtk storescp on loopback', function () {
    before(function () {
      if (!haveTool('storescp') || !haveTool('dcmdump')) {
        console.log('    skipped: dcmtk (storescp, dcmdump) not installed; apt-get install dcmtk');
        this.skip();
      }
    });

    for (const acceptAll of [true, false]) {
      it(`stores a JPEG Secondary Capture ${acceptAll ? 'as JPEG' : 'transcoded for a receiver that only takes uncompressed'}`, async () => {
        const scp = await startStorescp({ acceptAll });
        try {
          const obj = buildDicom({ data: jpeg, contentType: 'image/jpeg', patient, description: 'ECG' });
          const t0 = Date.now();
          const r = await cStore(obj, { kind: 'dimse', host: '127.0.0.1', port: scp.port, calledAe: scp.aet, callingAe: 'MGS' });
          assert.equal(r.status, 0);
          assert.ok(Date.now() - t0 < 5000);
          const files = scp.files();
          assert.equal(files.length, 1);
          const dump = dcmdump(files[0]);
          assert.equal(tag(dump, '0010,0020'), '1234');
          assert.equal(tag(dump, '0010,0010'), '홍길동');
          assert.equal(tag(dump, '0008,0018'), obj.sopInstanceUid);
          assert.equal(tag(dump, '0002,0010'), acceptAll ? TS_JPEG_BASELINE : TS_EXPLICIT_LE);
        } finally { await scp.stop(); }
      });
    }

    it('stores a PNG Secondary Capture and several stores stay fast (TCP_NODELAY)', async () => {
      const scp = await startStorescp();
      try {
        const png = makePng(W, H, rgb);
        const t0 = Date.now();
        for (let i = 0; i < 5; i++) {
          await sendToPacs(buildDicom({ data: png, contentType: 'image/png', patient: { id: `P${i}`, name: 'DOE^JANE' } }),
            parsePacsTarget(`dicom://${scp.aet}@127.0.0.1:${scp.port}`)!);
        }
        assert.ok(Date.now() - t0 < 4000, `5 stores took ${Date.now() - t0} ms`);
        const ids = scp.files().map((f) => tag(dcmdump(f), '0010,0020')).sort();
        assert.deepEqual(ids, ['P0', 'P1', 'P2', 'P3', 'P4']);
        assert.equal(tag(dcmdump(scp.files()[0]), '0010,0010'), 'DOE^JANE');
      } finally { await scp.stop(); }
    });

    it('fails with PACS_FAILED when nothing listens', async () => {
      const port = await freePort();
      const obj = buildDicom({ data: jpeg, contentType: 'image/jpeg', patient });
      await assert.rejects(cStore(obj, { kind: 'dimse', host: '127.0.0.1', port, calledAe: 'X', callingAe: 'MGS' }, 5000), { code: 'PACS_FAILED' });
    });
  });

  it('STOW-RS: posts multipart/related application/dicom to <base>/studies', async () => {
    const got: { url?: string; type?: string; body?: Buffer } = {};
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d) => parts.push(d));
      req.on('end', () => {
        got.url = req.url; got.type = req.headers['content-type']; got.body = Buffer.concat(parts);
        res.writeHead(200, { 'Content-Type': 'application/dicom+json' }); res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const obj = buildDicom({ data: jpeg, contentType: 'image/jpeg', patient });
      const r = await sendToPacs(obj, parsePacsTarget(`http://127.0.0.1:${port}/dicom-web`)!);
      assert.equal(r.status, 200);
      assert.equal(got.url, '/dicom-web/studies');
      const boundary = /boundary=([^;\s]+)/.exec(got.type!)![1];
      assert.match(got.type!, /^multipart\/related; type="application\/dicom"/);
      const body = got.body!;
      const start = body.indexOf('\r\n\r\n') + 4;
      const end = body.lastIndexOf(Buffer.from(`\r\n--${boundary}--`));
      const file = path.join(tmp, 'stow.dcm');
      fs.writeFileSync(file, body.subarray(start, end));
      if (haveTool('dcmdump')) assert.equal(tag(dcmdump(file), '0010,0020'), '1234');
      assert.equal(readBack(body.subarray(start, end)).ds.PatientID, '1234');
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

// SPDX-License-Identifier: Apache-2.0
// C-STORE and STOW-RS to a real Orthanc (Debian's orthanc, orthanc-dicomweb) on loopback.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { buildDicom } from '../../../lib/dicom/secondary-capture';
import { parsePacsTarget, sendToPacs } from '../../../lib/dicom/send';
import { haveTool, makeJpeg, makePng, rgbPattern, startOrthanc, type OrthancServer } from './tools';

describe('lib/dicom against Orthanc', function () {
  this.timeout(60000);
  let orthanc: OrthancServer;

  before(async function () {
    if (!haveTool('Orthanc') && !fs.existsSync('/usr/sbin/Orthanc')) {
      console.log('    skipped: Orthanc not installed (apt-get install orthanc orthanc-dicomweb)');
      this.skip();
    }
    orthanc = await startOrthanc();
  });
  after(async () => { if (orthanc) await orthanc.stop(); });

  it('C-STORE of a JPEG Secondary Capture: Orthanc has the patient with the right name and the image unchanged', async () => {
    const jpeg = await makeJpeg(32, 24, rgbPattern(32, 24));
    const obj = buildDicom({ data: jpeg, contentType: 'image/jpeg', patient: { id: 'OR-1', name: '김영희', sex: 'F' }, description: 'ECG' });
    const r = await sendToPacs(obj, parsePacsTarget(`dicom://ORTHANC@127.0.0.1:${orthanc.dicomPort}`)!);
    assert.equal(r.status, 0);
    const found = await fetch(`http://127.0.0.1:${orthanc.httpPort}/tools/find`, { method: 'POST',
      body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: obj.sopInstanceUid }, Expand: true }) }).then((x) => x.json());
    assert.equal(found.length, 1);
    const tags = await orthanc.get(`/instances/${found[0].ID}/simplified-tags`);
    assert.equal(tags.PatientID, 'OR-1');
    assert.equal(tags.PatientName, '김영희');
    assert.equal(tags.PatientSex, 'F');
    const meta = await orthanc.get(`/instances/${found[0].ID}/metadata?expand`);
    assert.equal(meta.TransferSyntax, '1.2.840.10008.1.2.4.50');
  });

  it('STOW-RS of a PNG Secondary Capture through the DICOMweb plugin', async function () {
    if (!orthanc.dicomWeb) { console.log('    skipped: orthanc-dicomweb not installed'); this.skip(); }
    const obj = buildDicom({ data: makePng(20, 10, rgbPattern(20, 10)), contentType: 'image/png', patient: { id: 'OR-2', name: 'DOE^JOHN' } });
    const r = await sendToPacs(obj, parsePacsTarget(`http://127.0.0.1:${orthanc.httpPort}/dicom-web`)!);
    assert.equal(r.status, 200);
    const found = await fetch(`http://127.0.0.1:${orthanc.httpPort}/tools/find`, { method: 'POST',
      body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: obj.sopInstanceUid } }) }).then((x) => x.json());
    assert.equal(found.length, 1);
    const tags = await orthanc.get(`/instances/${found[0]}/simplified-tags`);
    assert.equal(tags.PatientID, 'OR-2');
    assert.equal(tags.PatientName, 'DOE^JOHN');
    assert.equal(tags.Rows, '10');
  });
});

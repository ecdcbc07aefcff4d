// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { idempotencyKey, summarize } from '../../../lib/store/summary';

// SPEC 2.3, the MG's result
const RESULT = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||107558^E024^1234|홍길동||50|M', 'PV1||E|1111^2222',
  'OBR|1||||||20090927151949', 'OBX|1|ST|03|HGB|12.7|g/dl|11.2~17.2|A|||R||P|', 'OBX|2|ST|04|HCT|39.1|%|33.6~51.5|A|||R||P|',
  'OBX|3|ST|02|RBC|TEST|*10-6/mm-3|3.8~5.6|A|||R||Q|', 'OBX|4|ST|01|WBC|2|*10-6/mm-3|3.2~10.2|A|||R||Q|'].join('\r') + '\r';

describe('store/summary', () => {
  it('reads type, MSH-10, sender, barcode and patient number (MG layout)', () => {
    assert.deepEqual(summarize(RESULT), { type: 'ORU^R01', controlId: 'BARCODE', sender: 'HL7^B0801', barcode: '107558', patientId: '1234' });
  });

  it('request without patient number; ACK; non-HL7', () => {
    assert.deepEqual(summarize('MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||107558^E024^|||||\r'),
      { type: 'ORU^R01', controlId: 'BARCODE', sender: 'HL7^B0801', barcode: '107558', patientId: null });
    assert.deepEqual(summarize('MSH|^~\\&|MGS||HL7|B0801|20250101||ACK^R01|A1|P|2.3\rMSA|AA|BARCODE\r'),
      { type: 'ACK^R01', controlId: 'A1', sender: 'MGS', barcode: null, patientId: null });
    assert.deepEqual(summarize('hello'), { type: null, controlId: null, sender: null, barcode: null, patientId: null });
  });

  it('honours other separators', () => {
    assert.deepEqual(summarize('MSH#$~\\&#APP#FAC#####ORU$R01#C9#P#2.5\nPID###B1$$P7\n'),
      { type: 'ORU^R01', controlId: 'C9', sender: 'APP^FAC', barcode: 'B1', patientId: 'P7' });
  });
});

describe('store/summary: idempotency key', () => {
  it('a resend with a new MSH-7 (and another MSH-10) has the same key', () => {
    const resend = RESULT.replace('|||1||ORU^R01|BARCODE|', '|||20260101120000||ORU^R01|RESEND1|');
    assert.notEqual(resend, RESULT);
    assert.equal(idempotencyKey(resend), idempotencyKey(RESULT));
  });

  it('line endings and trailing empty fields do not matter', () => {
    assert.equal(idempotencyKey(RESULT.replace(/\r/g, '\r\n')), idempotencyKey(RESULT));
    assert.equal(idempotencyKey(RESULT.replace('PV1||E|1111^2222', 'PV1||E|1111^2222||')), idempotencyKey(RESULT));
  });

  it('another value, another observation time or another patient is another message', () => {
    const k = idempotencyKey(RESULT);
    assert.notEqual(idempotencyKey(RESULT.replace('|12.7|', '|12.8|')), k);
    assert.notEqual(idempotencyKey(RESULT.replace('20090927151949', '20090927152000')), k);
    assert.notEqual(idempotencyKey(RESULT.replace('107558^E024', '107559^E024')), k);
  });

  it('is versioned sha256 hex', () => {
    assert.match(idempotencyKey(RESULT), /^v1:[0-9a-f]{64}$/);
  });
});

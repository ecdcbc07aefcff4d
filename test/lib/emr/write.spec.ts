// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { messageKeyOf, numericValue, resultRows } from '../../../lib/emr/write';
import { Hl7Message } from '../../../lib/hl7/message';
import { observedAt } from '../../../lib/emr/write';
import { caseFile } from '../../helpers/paths';
import { RESULT, SPEC_OBX } from './emr-suite';

describe('emr result rows', () => {
  it('builds one parameter set per msg.obx row with the message fields', () => {
    const rows = resultRows({ payload: RESULT, obx: SPEC_OBX, timezone: 'Asia/Seoul', receivedAt: 1254032400000 });
    assert.equal(rows.length, 4);
    assert.deepEqual({ ...rows[2], observedAt: (rows[2].observedAt as Date).toISOString(), receivedAt: (rows[2].receivedAt as Date).toISOString() }, {
      barcode: '107558', device: 'E024', patientNo: '1234', controlId: 'BARCODE', setId: 3, testCode: 'RBC', channelCode: '02',
      value: 'TEST', numericValue: null, units: '*10-6/mm-3', range: '3.8~5.6', flag: '', reason: 'not-numeric',
      observedAt: '2009-09-27T06:19:49.000Z', receivedAt: '2009-09-27T06:20:00.000Z', messageKey: messageKeyOf(RESULT),
    });
    assert.deepEqual(rows.map((r) => r.numericValue), [12.7, 39.1, null, 2]);
  });

  it('uses the spool key when there is one, else the SHA-256 of the text', () => {
    assert.equal(messageKeyOf(RESULT), createHash('sha256').update(Buffer.from(RESULT, 'utf8')).digest('hex'));
    assert.equal(resultRows({ payload: RESULT, messageKey: 'spool-7' })[0].messageKey, 'spool-7');
  });

  it('times OBR-7 by its own offset, else MSH-7s, else the site zone (case 19)', () => {
    const a = Hl7Message.parse(caseFile('19-timestamps-timezone-precision', 'input_a.hl7').toString('utf8'));
    assert.equal(observedAt(a, 'America/Los_Angeles')?.toISOString(), '2026-11-01T23:15:00.000Z');   // MSH-7 +0900 applies
    const b = Hl7Message.parse(caseFile('19-timestamps-timezone-precision', 'input_b.hl7').toString('utf8'));
    assert.equal(observedAt(b, 'Asia/Seoul')?.toISOString(), '2026-03-08T06:25:00.000Z');            // its own -0500
    const spec = Hl7Message.parse(RESULT);                                                           // MSH-7 is "1": no offset
    assert.equal(observedAt(spec, '+09:00')?.toISOString(), '2009-09-27T06:19:49.000Z');
    assert.equal(observedAt(spec, 'UTC')?.toISOString(), '2009-09-27T15:19:49.000Z');
    assert.equal(observedAt(Hl7Message.parse(RESULT.replace('20090927151949', 'garbage')), 'UTC'), null);
  });

  it('takes the number obx-check read (a site\'s decimal comma, case 17) over its own reading of the text', () => {
    const rows = resultRows({ payload: RESULT, obx: SPEC_OBX.map((r, i) => (i === 0 ? { ...r, value: '12,7', numeric: 12.7 } : r)) });
    assert.deepEqual(rows.map((r) => [r.value, r.numericValue]), [['12,7', 12.7], ['39.1', 39.1], ['TEST', null], ['2', 2]]);
  });

  it('reads numbers only where the value is plainly one', () => {
    assert.deepEqual(['12.7', '-3.1', ' 2 ', '.5', 'TEST', '<5', '4,2', '', null, '1e3', '12.7.1'].map(numericValue),
      [12.7, -3.1, 2, 0.5, null, null, null, null, null, null, null]);
  });
});

// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { buildResponse } from '../../../lib/emr/lookup';
import { hl7Text, parseMapping, parseParams, parseArgs, MG_PATIENT_MAPPING } from '../../../lib/emr/mapping';
import { isGatewayError } from '../../../lib/errors';
import { REQUEST, RESPONSE } from './emr-suite';

const PATIENT = { patient_no: '1234', name: '홍길동', age: 50, sex: 'M', patient_class: 'E', ward: '1111', room: '2222' };
const TESTS = [
  { test_code: 'HGB', units: 'g/dl', ref_range: '11.2~17.2', obx13: 'P' },
  { test_code: 'HCT', units: '%', ref_range: '33.6~51.5', obx13: 'P' },
  { test_code: 'RBC', units: '*10-6/mm-3', ref_range: '3.8~5.6', obx13: 'Q' },
  { test_code: 'WBC', units: '*10-6/mm-3', ref_range: '3.2~10.2', obx13: 'Q' },
];

describe('emr response building', () => {
  it('fills SPEC 2.1 into SPEC 2.2 from rows, whatever the line ends of the request', () => {
    assert.equal(buildResponse(REQUEST, PATIENT, TESTS), RESPONSE);
    assert.equal(buildResponse(REQUEST.replace(/\r/g, '\n'), PATIENT, TESTS), RESPONSE);
    assert.equal(buildResponse(REQUEST.replace(/\r/g, '\r\n'), PATIENT, TESTS), RESPONSE);
    assert.equal(buildResponse(REQUEST.replace(/\r$/, ''), PATIENT, TESTS), RESPONSE.replace(/\r$/, ''));
  });

  it("keeps the request's own text where the EMR has NULL, and its untouched segments byte for byte", () => {
    const req = 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||107558^E024^|Kept Name||33|F\rPV1||O|9^9\rOBR|1||||||20090927151949|||x\r';
    const out = buildResponse(req, { patient_no: '1234', name: null, age: null, sex: null, patient_class: null, ward: null, room: null }, []);
    assert.equal(out, 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||107558^E024^1234|Kept Name||33|F\rPV1||O|9^9\rOBR|1||||||20090927151949|||x\r');
  });

  it('adds a PV1 the request lacks, after PID, and replaces any OBX/NTE the request carried', () => {
    const req = 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||107558^E024^\rOBR|1||||||20090927151949\rOBX|1|ST||OLD|\rNTE|1||note\r';
    const out = buildResponse(req, PATIENT, TESTS.slice(0, 1)).split('\r');
    assert.deepEqual(out, ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||107558^E024^1234|홍길동||50|M', 'PV1||E|1111^2222',
      'OBR|1||||||20090927151949', 'OBX|1|ST||HGB||g/dl|11.2~17.2|A|||R||P|', '']);
  });

  it("writes with the request's own delimiters", () => {
    const req = 'MSH#$*!@#HL7#B0801###1##ORU$R01#BARCODE#P#2.3\rPID###107558$E024$#####\rPV1##E#\rOBR#1######20090927151949\r';
    const out = buildResponse(req, { ...PATIENT, name: 'A#B$C' }, TESTS.slice(0, 1)).split('\r');
    assert.deepEqual(out.slice(1, 5), ['PID###107558$E024$1234#A!F!B!S!C##50#M', 'PV1##E#1111$2222', 'OBR#1######20090927151949',
      'OBX#1#ST##HGB##g/dl#11.2*17.2#A###R##P#']);
  });

  it('keeps a raw range from breaking the segment', () => {
    const out = buildResponse(REQUEST, PATIENT, [{ test_code: 'X', units: '', ref_range: '1|2\r3', obx13: 'P' }]);
    assert.equal(out.split('\r')[4], 'OBX|1|ST||X|||1\\F\\2\\X0D\\3|A|||R||P|');
  });

  it('turns EMR values into HL7 text: dates, date-times, numbers, code translation', () => {
    assert.equal(hl7Text('1959-03-15'), '19590315');
    assert.equal(hl7Text('2009-09-27T06:19:49.000Z'), '20090927061949.000+0000');
    assert.equal(hl7Text('2009-09-27T15:19:49+09:00', { format: 'datetime' }), '20090927151949+0900');
    assert.equal(hl7Text('2009-09-27 15:19:49'), '20090927151949');
    assert.equal(hl7Text('2009-09-27T15:19:49Z', { format: 'date' }), '20090927');
    assert.equal(hl7Text('1959-03-15', { format: 'text' }), '1959-03-15');
    assert.equal(hl7Text(new Date(Date.UTC(2009, 8, 27, 6, 19, 49))), '20090927061949+0000');
    assert.equal(hl7Text(50), '50');
    assert.equal(hl7Text(true), 'Y');
    assert.equal(hl7Text(null), undefined);
    assert.equal(hl7Text(undefined), undefined);
    assert.equal(hl7Text('male', { values: { male: 'M', female: 'F' } }), 'M');
    assert.equal(hl7Text('other', { values: { male: 'M' } }), 'other');
  });

  it('validates mapping and parameter tables', () => {
    assert.deepEqual(parseMapping('', MG_PATIENT_MAPPING), MG_PATIENT_MAPPING);
    assert.deepEqual(parseMapping('[{"column":"sex","field":"pid-8","values":{"1":"M"}}]', []), [{ column: 'sex', field: 'PID-8', values: { 1: 'M' } }]);
    assert.deepEqual(parseParams('[{"name":"bc","field":"PID-3.1"}]', []), [{ name: 'bc', field: 'PID-3.1' }]);
    assert.deepEqual(parseArgs('barcode, :device'), ['barcode', 'device']);
    const bad = (f: () => unknown): void => assert.throws(f, (e: unknown) => isGatewayError(e, 'EMR_BAD_CONFIG'));
    bad(() => parseMapping('{', []));
    bad(() => parseMapping('[{"column":"x","field":"nope"}]', []));
    bad(() => parseMapping('[{"column":"x","field":"MSH-2"}]', []));
    bad(() => parseMapping('[{"field":"PID-4"}]', []));
    bad(() => parseMapping('[{"column":"x","field":"PID-4","format":"weird"}]', []));
    bad(() => parseParams('[{"name":"a b","field":"PID-3"}]', []));
    bad(() => parseParams('[{"name":"a","field":"PID-3"},{"name":"a","field":"PID-4"}]', []));
    bad(() => parseArgs('a; DROP'));
  });
});

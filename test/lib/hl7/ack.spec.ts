// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { buildAck, newControlId, readAck, versionAtLeast, type AckCode } from '../../../lib/hl7/ack';
import { parseDtm } from '../../../lib/hl7/datetime';
import { Hl7Message } from '../../../lib/hl7/message';
import { validateHeader } from '../../../lib/hl7/validate';
import { caseFile } from '../../helpers/paths';

const C07 = '07-ack-original-mode-fields';
const C09 = '09-ack-nak-ae-ar-err';
const text = (dir: string, name: string): string => caseFile(dir, name).toString('latin1');

function assertCrTerminated(ack: string): void {
  assert.equal(ack.includes('\n'), false);
  assert.equal(ack.endsWith('\r'), true, 'last segment (MSA or ERR) ends with CR');
  assert.equal(ack.split('\r').filter((s) => s === '').length, 1, 'no empty segments');
}

describe('lib/hl7 ack: original-mode ACK fields (case 07)', () => {
  it('A: v2.5 ORU^R01^ORU_R01 -> swapped sender/receiver, ACK^R01^ACK, MSA-2 = MSH-10, MSH-11/12 copied', () => {
    const now = new Date('2026-11-02T01:15:30Z');
    const ack = buildAck(Hl7Message.parse(text(C07, 'input_a.hl7')), { code: 'AA', now });
    assertCrTerminated(ack);
    const m = Hl7Message.parse(ack);
    assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'MSA']);
    assert.equal(m.get('MSA-1'), 'AA');
    assert.equal(m.getRaw('MSA-2'), 'LAB20261102-00017');
    assert.equal(m.getRaw('MSH-3'), 'MGS');
    assert.equal(m.getRaw('MSH-4'), 'WARD7');
    assert.equal(m.getRaw('MSH-5'), 'LABSYS^1.2.410.200001.9.1^ISO');
    assert.equal(m.getRaw('MSH-6'), 'CITYLAB');
    assert.equal(m.getRaw('MSH-9'), 'ACK^R01^ACK');
    assert.equal(m.getRaw('MSH-11'), 'T');
    assert.equal(m.getRaw('MSH-12'), '2.5');
    assert.equal(m.getRaw('MSH-15'), '');
    assert.equal(m.getRaw('MSH-16'), '');
    assert.notEqual(m.controlId, '');
    assert.notEqual(m.controlId, 'LAB20261102-00017');
    const dtm = parseDtm(m.get('MSH-7'));
    assert.ok(dtm);
    assert.equal(dtm.precision, 'second');
    assert.notEqual(dtm.offsetMinutes, null, 'MSH-7 carries its offset');
    assert.equal(dtm.instant?.getTime(), now.getTime());
  });

  it('B: MG v2.3 result -> MSH-5 HL7, MSH-6 B0801, ACK^R01 without structure, MSA|AA|BARCODE', () => {
    const ack = buildAck(text(C07, 'input_b.hl7'), { code: 'AA' });
    assertCrTerminated(ack);
    const m = Hl7Message.parse(ack);
    assert.equal(ack.split('\r')[1], 'MSA|AA|BARCODE');
    assert.equal(m.getRaw('MSH-3'), '');
    assert.equal(m.getRaw('MSH-4'), '');
    assert.equal(m.getRaw('MSH-5'), 'HL7');
    assert.equal(m.getRaw('MSH-6'), 'B0801');
    assert.equal(m.getRaw('MSH-9'), 'ACK^R01');
    assert.equal(m.getRaw('MSH-11'), 'P');
    assert.equal(m.getRaw('MSH-12'), '2.3');
    assert.notEqual(m.controlId, '');
    assert.notEqual(m.controlId, 'BARCODE');
    assert.ok(parseDtm(m.get('MSH-7')));
  });

  it('gives every ACK a fresh control id that fits ST(20)', () => {
    const ids = new Set<string>();
    const received = text(C07, 'input_b.hl7');
    for (let i = 0; i < 2000; i++) ids.add(Hl7Message.parse(buildAck(received, { code: 'AA' })).controlId);
    assert.equal(ids.size, 2000);
    for (const id of ids) assert.ok(id.length <= 20 && /^[A-Z0-9]+$/.test(id), id);
    assert.ok(newControlId().length <= 20);
  });

  it('writes every MSA-1 code and MSA-3 text, escaped', () => {
    for (const code of ['AA', 'AE', 'AR', 'CA', 'CE', 'CR'] as AckCode[]) {
      const m = Hl7Message.parse(buildAck(text(C07, 'input_a.hl7'), { code, text: 'a|b' }));
      assert.equal(m.get('MSA-1'), code);
      assert.equal(m.getRaw('MSA-3'), 'a\\F\\b');
      assert.equal(m.get('MSA-3'), 'a|b');
    }
  });

  it('copies MSH-18 of the received message, or sets the one asked for', () => {
    const a = Hl7Message.parse(buildAck(text(C09, 'input_a.hl7'), { code: 'AA' }));
    assert.equal(a.charset, 'UNICODE UTF-8');
    const b = Hl7Message.parse(buildAck(text(C07, 'input_b.hl7'), { code: 'AA', charset: 'KS X 1001' }));
    assert.equal(b.charset, 'KS X 1001');
    assert.equal(Hl7Message.parse(buildAck(text(C07, 'input_b.hl7'), { code: 'AA' })).getRaw('MSH-18'), '');
  });

  it('keeps the received delimiters', () => {
    const ack = buildAck('MSH#$*@!#LAB#FAC#MGS#W#20260101##ORU$R01#ID$1#P#2.5\rPID#1\r', { code: 'AE', text: 'x$y' });
    const m = Hl7Message.parse(ack);
    assert.equal(m.get('MSH-2'), '$*@!');
    assert.equal(m.getRaw('MSH-9'), 'ACK$R01$ACK');
    assert.equal(m.getRaw('MSA-2'), 'ID$1');
    assert.equal(m.get('MSA-3'), 'x$y');
  });

  it('compares versions numerically', () => {
    assert.equal(versionAtLeast('2.3.1', '2.4'), false);
    assert.equal(versionAtLeast('2.4', '2.4'), true);
    assert.equal(versionAtLeast('2.10', '2.9'), true);
    assert.equal(versionAtLeast('2.5.1', '2.5'), true);
  });
});

describe('lib/hl7 ack: NAKs with ERR (case 09)', () => {
  function nak(name: string): { ack: string; m: Hl7Message } {
    const input = text(C09, name);
    const errors = validateHeader(input);
    const ack = buildAck(input, { code: errors.length ? 'AR' : 'AA', errors });
    assertCrTerminated(ack);
    return { ack, m: Hl7Message.parse(ack) };
  }

  it('A: MSH-9 empty (v2.3.1) -> AR, MSA-2 CTRL-0091, ERR-1 MSH^1^9^101&text', () => {
    const { m } = nak('input_a.hl7');
    assert.equal(m.get('MSA-1'), 'AR');
    assert.equal(m.get('MSA-2'), 'CTRL-0091');
    assert.notEqual(m.get('MSA-3'), '');
    assert.equal(m.getRaw('MSH-9'), 'ACK', 'no trigger to echo, and v2.3.1 has no structure component');
    assert.equal(m.getRaw('MSH-12'), '2.3.1');
    const err = m.segments('ERR');
    assert.equal(err.length, 1);
    assert.equal(err[0].get('1.1'), 'MSH');
    assert.equal(err[0].get('1.2'), '1');
    assert.equal(err[0].get('1.3'), '9');
    assert.equal(err[0].get('1.4.1'), '101');
    assert.equal(err[0].get('1.4.2'), 'MSH-9 message type is empty');
    assert.equal(err[0].get('1.4.3'), 'HL70357');
    assert.deepEqual(readAck(m).errors, [{ location: 'MSH-9', code: '101', text: 'MSH-9 message type is empty' }]);
  });

  it('B: MSH-12 9.9 -> AR, MSA-2 CTRL-0092, ERR-2 MSH^1^12, ERR-3 203^...^HL70357', () => {
    const { m } = nak('input_b.hl7');
    assert.equal(m.get('MSA-1'), 'AR');
    assert.equal(m.get('MSA-2'), 'CTRL-0092');
    assert.equal(m.getRaw('MSH-12'), '9.9');
    const err = m.segments('ERR');
    assert.equal(err.length, 1);
    assert.equal(err[0].getRaw('1'), '');
    assert.equal(err[0].getRaw('2'), 'MSH^1^12');
    assert.equal(err[0].getRaw('3'), '203^Unsupported version id^HL70357');
    assert.equal(err[0].get('4'), 'E');
    assert.equal(err[0].get('8'), 'Unsupported version id 9.9');
  });

  it('C: no MSH -> AR, MSA-2 empty, ERR-3 code 100', () => {
    const { m } = nak('input_c.hl7');
    assert.equal(m.get('MSA-1'), 'AR');
    assert.equal(m.getRaw('MSA-2'), '');
    assert.notEqual(m.get('MSA-3'), '');
    assert.equal(m.getRaw('MSH-11'), 'P');
    assert.equal(m.getRaw('MSH-12'), '2.5');
    const err = m.segments('ERR');
    assert.equal(err.length, 1);
    assert.equal(err[0].get('3.1'), '100');
    assert.equal(err[0].get('3.3'), 'HL70357');
    assert.equal(err[0].getRaw('2'), '');
  });

  it('D: header valid; the AE the EMR side builds for PID-3 (v2.3) has ERR-1 PID^1^3^101', () => {
    const input = text(C09, 'input_d.hl7');
    assert.deepEqual(validateHeader(input), []);
    const ack = buildAck(input, { code: 'AE', errors: [{ location: 'PID-3', code: '101', text: 'No barcode in PID-3' }] });
    assertCrTerminated(ack);
    const m = Hl7Message.parse(ack);
    assert.equal(m.get('MSA-1'), 'AE');
    assert.equal(m.get('MSA-2'), 'BARCODE');
    assert.equal(m.get('MSA-3'), 'No barcode in PID-3');
    assert.equal(m.getRaw('ERR-1'), 'PID^1^3^101&No barcode in PID-3&HL70357');
  });

  it('E: valid -> AA, no ERR', () => {
    const { m } = nak('input_e.hl7');
    assert.equal(m.get('MSA-1'), 'AA');
    assert.equal(m.get('MSA-2'), 'BARCODE');
    assert.equal(m.segments('ERR').length, 0);
  });

  it('writes one v2.5 ERR per error (with component locations and severity) and one repeating ERR-1 before v2.5', () => {
    const errors = [
      { location: 'OBX[2]-5.1', code: '102', text: 'not numeric', severity: 'W' as const },
      { location: 'PID-3', code: '101' },
    ];
    const v25 = Hl7Message.parse(buildAck(text(C07, 'input_a.hl7'), { code: 'AE', errors }));
    const err = v25.segments('ERR');
    assert.equal(err.length, 2);
    assert.equal(err[0].getRaw('2'), 'OBX^2^5^1^1');
    assert.equal(err[0].getRaw('3'), '102^Data type error^HL70357');
    assert.equal(err[0].get('4'), 'W');
    assert.equal(err[0].get('8'), 'not numeric');
    assert.equal(err[1].getRaw('2'), 'PID^1^3');
    assert.equal(err[1].get('8'), 'Required field missing');
    assert.equal(v25.get('MSA-3'), 'not numeric');
    assert.deepEqual(readAck(v25).errors.map((e) => [e.location, e.code]), [['OBX[2]-5', '102'], ['PID-3', '101']]);

    const v23 = Hl7Message.parse(buildAck(text(C07, 'input_b.hl7'), { code: 'AE', errors }));
    assert.equal(v23.segments('ERR').length, 1);
    assert.equal(v23.getRaw('ERR-1'), 'OBX^2^5^102&not numeric&HL70357~PID^1^3^101&Required field missing&HL70357');
    assert.deepEqual(readAck(v23).errors.map((e) => [e.location, e.code]), [['OBX[2]-5', '102'], ['PID-3', '101']]);
  });
});

// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { peekMsh } from '../../../lib/hl7/peek';
import { HL7_VERSIONS, validateHeader } from '../../../lib/hl7/validate';
import { caseFile } from '../../helpers/paths';

const text = (dir: string, name: string): string => caseFile(dir, name).toString('latin1');

describe('lib/hl7 peekMsh', () => {
  it('reads the MSH of a message whose body is broken', () => {
    const p = peekMsh('MSH|^~\\&|RISGW|HOSP2|MGS|LAB|20261102120000|||CTRL-0091|P|2.3.1||||||UNICODE UTF-8\rgarbage\x00\rPID|');
    assert.ok(p);
    assert.equal(p.fieldSep, '|');
    assert.equal(p.encodingChars, '^~\\&');
    assert.equal(p.fields[0], 'MSH');
    assert.equal(p.fields[1], '|');
    assert.equal(p.fields[2], '^~\\&');
    assert.equal(p.fields[3], 'RISGW');
    assert.equal(p.fields[10], 'CTRL-0091');
    assert.equal(p.type, '');
    assert.equal(p.controlId, 'CTRL-0091');
    assert.equal(p.version, '2.3.1');
    assert.equal(p.charset, 'UNICODE UTF-8');
  });

  it('reads type, decoded control id and version components', () => {
    const p = peekMsh(text('07-ack-original-mode-fields', 'input_a.hl7'));
    assert.equal(p?.type, 'ORU^R01');
    assert.equal(p?.controlId, 'LAB20261102-00017');
    assert.equal(p?.version, '2.5');
    assert.equal(peekMsh('MSH|^~\\&|||||||ADT^A01|ID\\F\\1|P|2.5.1^KOR\r')?.controlId, 'ID|1');
    assert.equal(peekMsh('MSH|^~\\&|||||||ADT^A01|ID\\F\\1|P|2.5.1^KOR\r')?.version, '2.5.1');
  });

  it('finds an MSH after junk lines, inside an MLLP frame, and with LF endings', () => {
    assert.equal(peekMsh('junk\nMSH|^~\\&|A|||||||X9|P|2.3\n')?.controlId, 'X9');
    assert.equal(peekMsh('\x0bMSH|^~\\&|A|||||||X8|P|2.3\r\x1c\r')?.controlId, 'X8');
    assert.equal(peekMsh('FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|A|||||||X7|P|2.3\r')?.controlId, 'X7');
  });

  it('returns null without MSH and never throws', () => {
    assert.equal(peekMsh(text('09-ack-nak-ae-ar-err', 'input_c.hl7')), null);
    assert.equal(peekMsh(''), null);
    assert.equal(peekMsh(null), null);
    assert.equal(peekMsh(42), null);
    assert.equal(peekMsh('XMSH|^~\\&|'), null);
    assert.equal(peekMsh('MSH')?.fields.length, 2);
    assert.equal(peekMsh('MSH|')?.controlId, '');
    assert.equal(peekMsh('MSHA|B')?.fieldSep, '|');
  });
});

describe('lib/hl7 validateHeader (AR conditions)', () => {
  it('case 09: A -> 101 at MSH-9, B -> 203 at MSH-12, C -> 100, D and E -> none', () => {
    const dir = '09-ack-nak-ae-ar-err';
    assert.deepEqual(validateHeader(text(dir, 'input_a.hl7')),
      [{ location: 'MSH-9', code: '101', text: 'MSH-9 message type is empty' }]);
    assert.deepEqual(validateHeader(text(dir, 'input_b.hl7')),
      [{ location: 'MSH-12', code: '203', text: 'Unsupported version id 9.9' }]);
    assert.deepEqual(validateHeader(text(dir, 'input_c.hl7')), [{ code: '100', text: 'No MSH segment: not an HL7 message' }]);
    assert.deepEqual(validateHeader(text(dir, 'input_d.hl7')), []);
    assert.deepEqual(validateHeader(text(dir, 'input_e.hl7')), []);
  });

  it('accepts every listed version and the other cases\' headers', () => {
    assert.deepEqual([...HL7_VERSIONS],
      ['2.1', '2.2', '2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2', '2.9']);
    for (const v of HL7_VERSIONS) assert.deepEqual(validateHeader(`MSH|^~\\&|A||||20260101||ORU^R01|1|P|${v}\r`), [], v);
    assert.deepEqual(validateHeader('MSH|^~\\&#|A||||20260101||ORU^R01^ORU_R01|1|P|2.7\r'), []);
    for (const [d, n] of [['07-ack-original-mode-fields', 'input_a.hl7'], ['07-ack-original-mode-fields', 'input_b.hl7'],
      ['11-escape-sequences-decode', 'input.hl7'], ['13-null-vs-empty-fields', 'input.hl7']]) {
      assert.deepEqual(validateHeader(text(d, n)), [], `${d}/${n}`);
    }
  });

  it('reports MSH-10, MSH-11 and MSH-12 problems and bad separators', () => {
    assert.deepEqual(validateHeader('MSH|^~\\&|A||||20260101||ORU^R01||X|\r').map((e) => [e.location, e.code]),
      [['MSH-10', '101'], ['MSH-11', '202'], ['MSH-12', '101']]);
    assert.deepEqual(validateHeader('MSH|^~\\&|A||||20260101||ORU^R01|1||2.3\r').map((e) => [e.location, e.code]),
      [['MSH-11', '101']]);
    assert.deepEqual(validateHeader('MSH|^~\\&|A||||20260101||ORU^R01|1||2.3\r', { requireProcessingId: false }), []);
    assert.deepEqual(validateHeader('MSH|^~\\&|A||||20260101||""|1|P|2.3\r').map((e) => [e.location, e.code]),
      [['MSH-9', '101']]);
    assert.deepEqual(validateHeader('MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.5\r', { versions: ['2.3'] })
      .map((e) => [e.location, e.code]), [['MSH-12', '203']]);
    assert.deepEqual(validateHeader('MSH|ab|c\r').map((e) => [e.location, e.code]), [['MSH-2', '102']]);
    assert.deepEqual(validateHeader('MSH|^^\\&|c\r').map((e) => [e.location, e.code]), [['MSH-2', '102']]);
  });
});

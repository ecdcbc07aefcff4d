// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { splitMessages } from '../../../lib/hl7/batch';
import { Hl7Message } from '../../../lib/hl7/message';
import { caseFile } from '../../helpers/paths';

const C15 = '15-batch-fhs-bhs';
const text = (name: string): string => caseFile(C15, name).toString('latin1');

describe('lib/hl7 batch: splitMessages (case 15)', () => {
  it('a: FHS/BHS/2 x MSH/BTS/FTS -> both messages, batch ids, counts that match', () => {
    const input = text('input_a_batch.hl7');
    const { messages, batch } = splitMessages(input);
    assert.equal(messages.length, 2);
    const [m1, m2] = messages.map((t) => Hl7Message.parse(t));
    assert.equal(m1.controlId, 'M260001');
    assert.equal(m1.get('PID-3.1'), 'KR56001');
    assert.equal(m1.get('OBX-3.2'), 'Sodium');
    assert.equal(m1.get('OBX-5'), '128');
    assert.equal(m1.get('OBX-7'), '135-145');
    assert.equal(m2.controlId, 'M260002');
    assert.equal(m2.get('PID-3.1'), 'KR56002');
    assert.equal(m2.get('OBX-3.2'), 'Potassium');
    assert.equal(m2.get('OBX-5'), '4.1');
    assert.equal(m2.get('OBX-7'), '3.5-5.1');
    for (const m of [m1, m2]) {
      assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'PID', 'OBR', 'OBX']);
      assert.ok(input.includes(m.encode()), 'each message is an exact slice of the frame');
    }
    assert.ok(batch);
    assert.equal(batch.file?.controlId, 'F260001');
    assert.equal(batch.header?.controlId, 'B260001');
    assert.equal(batch.header?.fields[3], 'LABSYS');
    assert.equal(batch.header?.fields[6], 'WARD7');
    assert.deepEqual(batch.declaredCounts, [2]);
    assert.deepEqual(batch.messageCounts, [2]);
    assert.equal(batch.declaredBatchCount, 1);
    assert.equal(batch.countMismatch, false);
    assert.deepEqual(batch.warnings, []);
  });

  it('a with a wrong BTS count still yields every message, with the warning flag set', () => {
    const { messages, batch } = splitMessages(text('input_a_batch.hl7').replace('BTS|2|', 'BTS|3|'));
    assert.equal(messages.length, 2);
    assert.equal(batch?.countMismatch, true);
    assert.deepEqual(batch?.warnings, ['BTS-1 declares 3 messages, found 2']);
  });

  it('b: two MSH back to back in one frame -> two messages, never one with two MSH', () => {
    const input = text('input_b_two_msh_one_frame.hl7');
    const { messages, batch } = splitMessages(input);
    assert.equal(batch, undefined);
    assert.equal(messages.length, 2);
    assert.equal(messages.join(''), input);
    const [m1, m2] = messages.map((t) => Hl7Message.parse(t));
    assert.equal(m1.segments('MSH').length, 1);
    assert.equal(m2.segments('MSH').length, 1);
    assert.equal(m1.get('PID-3.3'), '5145');
    assert.equal(m1.get('OBX-5'), '11.0');
    assert.deepEqual(m1.segments('OBX')[0].repetitions(7), ['12.0', '16.0']);
    assert.equal(m2.get('PID-3.3'), '5146');
    assert.equal(m2.get('OBX-5'), '15.0');
    assert.equal(m1.controlId, 'BARCODE');
    assert.equal(m2.controlId, 'BARCODE');
  });

  it('handles LF/CRLF line ends, a single message, and frames without MSH', () => {
    const lf = text('input_b_two_msh_one_frame.hl7').replace(/\r/g, '\r\n');
    const split = splitMessages(lf).messages;
    assert.equal(split.length, 2);
    assert.equal(Hl7Message.parse(split[1]).get('PID-3.3'), '5146');
    const one = caseFile('07-ack-original-mode-fields', 'input_a.hl7').toString('latin1');
    assert.deepEqual(splitMessages(one), { messages: [one] });
    const noMsh = caseFile('09-ack-nak-ae-ar-err', 'input_c.hl7').toString('latin1');
    assert.deepEqual(splitMessages(noMsh), { messages: [noMsh] }, 'kept, so that it is NAKed rather than dropped');
    assert.deepEqual(splitMessages(''), { messages: [] });
    assert.deepEqual(splitMessages('\r\n'), { messages: [] });
  });

  it('handles several batches, a BHS without BTS and stray segments', () => {
    const input = 'FHS|^~\\&|A||||||||F1\rBHS|^~\\&|A||||||||B1\rMSH|^~\\&|A|||||||M1|P|2.5\rBTS|1\r'
      + 'BHS|^~\\&|A||||||||B2\rNTE|stray\rMSH|^~\\&|A|||||||M2|P|2.5\rMSH|^~\\&|A|||||||M3|P|2.5\rFTS|1\r';
    const { messages, batch } = splitMessages(input);
    assert.equal(messages.length, 3);
    assert.equal(messages[1], 'NTE|stray\rMSH|^~\\&|A|||||||M2|P|2.5\r', 'a stray segment stays with the next message');
    assert.deepEqual(batch?.headers.map((h) => h.controlId), ['B1', 'B2']);
    assert.deepEqual(batch?.messageCounts, [1, 2]);
    assert.deepEqual(batch?.declaredCounts, [1, undefined]);
    assert.equal(batch?.countMismatch, true);
    assert.deepEqual(batch?.warnings, ['NTE segment outside a message', 'batch B2 has no BTS', 'FTS-1 declares 1 batches, found 2']);
  });
});

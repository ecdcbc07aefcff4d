// SPDX-License-Identifier: Apache-2.0
// Property and fuzz tests of the receiving path (frame bytes -> decoded text -> messages -> parse -> reply):
// whatever bytes arrive, nothing throws or hangs, and every message is either handed on (it parses) or
// answered by the receiver with a NAK that is itself a parseable ACK.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { buildAck } from '../../../lib/hl7/ack';
import { Hl7Message } from '../../../lib/hl7/message';
import { readFrame } from '../../../lib/mllp/inbound';
import { ackCodeOf, nakForError } from '../../../lib/mllp/replies';
import { fixture } from '../../helpers/paths';

const RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');
const SPECIALS = ['|', '^', '~', '\\', '&', '\r', '\n', '""', 'MSH', 'MSH|^~\\&|', '\x0b', '\x1c', '\\X0D\\', '\\E\\', 'é', '홍'];

/** Checks the receiver's promise for one frame: a parseable message or a parseable NAK, per message. */
function checkFrame(bytes: Buffer, charset = 'utf-8'): void {
  const frame = readFrame(bytes, charset);
  assert.ok(frame.messages.length >= 1);
  for (const m of frame.messages) {
    if (m.nak) {
      assert.match(m.nak.code, /^(AE|AR)$/);
      const ack = Hl7Message.parse(m.nak.text);
      assert.equal(ack.get('MSA-1'), m.nak.code);
      assert.ok(m.nak.text.endsWith('\r'));
    } else {
      const parsed = Hl7Message.parse(m.text);
      for (const seg of parsed.segments()) for (let i = 1; i <= Math.min(seg.fieldCount, 30); i++) seg.get(String(i));
      // Byte-exact for CR-terminated text; LF and CRLF segment ends are accepted on input and written as CR.
      if (!m.text.includes('\n')) assert.equal(parsed.encode(), m.text, 'an untouched message encodes to its own text');
      const ack = buildAck(m.text, { code: 'AA' });
      assert.equal(ackCodeOf(ack), 'AA');
      const nak = nakForError(m.text, { message: 'x', code: 'EMR_NOT_FOUND', cause: { params: { location: 'PID-3', hl7Code: '204' } } });
      assert.equal(ackCodeOf(nak), 'AE');
    }
  }
}

describe('fuzz: the receiving path never throws and answers every message', function () {
  this.timeout(60000);

  it('a message refused for its own MSH-2 gets a NAK written with standard delimiters', () => {
    const broken = RESULT.replace('MSH|^~\\&|', 'MSH|~^~\\&|');
    const frame = readFrame(Buffer.from(broken, 'utf8'), 'utf-8');
    const nak = frame.messages[0].nak!;
    assert.equal(nak.code, 'AR');
    assert.ok(nak.text.startsWith('MSH|^~\\&|'));
    const parsed = Hl7Message.parse(nak.text);
    assert.equal(parsed.get('MSA-1'), 'AR');
    assert.equal(parsed.get('MSA-2'), 'BARCODE');
  });

  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => checkFrame(Buffer.from(b))), { numRuns: 400 });
  });

  it('random bytes decoded as EUC-KR and Latin-1', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      checkFrame(Buffer.from(b), 'euc-kr');
      checkFrame(Buffer.from(b), 'latin1');
    }), { numRuns: 200 });
  });

  it('SPEC result with random edits (deletions, insertions of delimiters, truncation)', () => {
    const edit = fc.tuple(fc.nat({ max: RESULT.length }), fc.nat({ max: 8 }),
      fc.oneof(fc.constantFrom(...SPECIALS), fc.string({ maxLength: 4 })));
    fc.assert(fc.property(fc.array(edit, { maxLength: 6 }), fc.nat({ max: RESULT.length }), (edits, cut) => {
      let text = RESULT;
      for (const [at, del, ins] of edits) text = text.slice(0, at) + ins + text.slice(at + del);
      checkFrame(Buffer.from(text.slice(0, Math.max(cut, 1)), 'utf8'));
      checkFrame(Buffer.from(text, 'utf8'));
    }), { numRuns: 500 });
  });

  it('a 4 MB field and 20,000-deep component/subcomponent nesting parse in bounded time', () => {
    const huge = RESULT.replace('12.7', 'A'.repeat(4 * 1024 * 1024));
    const deep = RESULT.replace('11.2~17.2', Array.from({ length: 20000 }, (_, i) => (i % 2 ? '&' : '^') + i).join(''));
    const reps = RESULT.replace('11.2~17.2', Array.from({ length: 20000 }, (_, i) => String(i)).join('~'));
    for (const text of [huge, deep, reps]) {
      const started = Date.now();
      checkFrame(Buffer.from(text, 'utf8'));
      const m = Hl7Message.parse(text);
      m.segments('OBX')[0].set('8', 'H');
      assert.ok(m.encode().includes('|H|'));
      // Not a speed assertion: a guard against quadratic blow-ups that would hang a listener.
      assert.ok(Date.now() - started < 20000, 'bounded');
    }
  });
});

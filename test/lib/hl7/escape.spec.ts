// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { decodeEscapes, encodeEscapes } from '../../../lib/hl7/escape';
import { Hl7Message } from '../../../lib/hl7/message';
import { caseFile } from '../../helpers/paths';

const D = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '' };
const CASE = '11-escape-sequences-decode';

describe('lib/hl7 escape sequences', () => {
  it('decodes OBX-1 OBX-5 of case 11 to exactly the expected bytes', () => {
    const m = Hl7Message.parse(caseFile(CASE, 'input.hl7').toString('latin1'));
    const expected = caseFile(CASE, 'expected_obx1_text.bin');
    assert.deepEqual(Buffer.from(m.get('OBX-5') as string, 'utf8'), expected);
    assert.deepEqual(Buffer.from(m.get('OBX-5.1') as string, 'utf8'), expected);
    assert.equal(m.get('PID-5.1'), 'TEST&SON', 'one component, not split at the decoded &');
    assert.equal(m.get('PID-5.2'), 'ALEX');
    assert.equal(m.get('OBX[2]-6'), 'g^dL');
    assert.equal(m.get('OBX[2]-5'), '13.9');
    assert.equal(m.get('OBX[2]-7'), '13.5-17.5');
    assert.equal(m.controlId, 'ESC-0001');
  });

  it('leaves OBX-5 byte-identical when other fields are re-encoded', () => {
    const text = caseFile(CASE, 'input.hl7').toString('latin1');
    const m = Hl7Message.parse(text);
    const raw5 = m.getRaw('OBX-5');
    m.set('OBX-8', 'N');
    m.set('OBX[2]-8', 'N');
    m.set('PID-8', 'F');
    const out = m.encode();
    assert.equal(m.getRaw('OBX-5'), raw5);
    const inLines = text.split('\r');
    const outLines = out.split('\r');
    assert.equal(outLines.length, inLines.length);
    assert.equal(outLines[0], inLines[0]);
    assert.equal(outLines[2], inLines[2], 'OBR untouched');
    assert.equal(outLines[3], inLines[3].replace('||||||F', '|||N|||F'));
    assert.ok(outLines[3].includes(`||${raw5}||`), 'no \\E\\X0D\\E\\ and no decoded | or ^ inside OBX-5');
    assert.equal(outLines[4], 'OBX|2|NM|718-7^Hemoglobin^LN||13.9|g\\S\\dL|13.5-17.5|N|||F');
    assert.equal(outLines[1], 'PID|1||KR55801^^^CITYLAB^MR||TEST\\T\\SON^ALEX||19750505|F');
    const again = Hl7Message.parse(out);
    assert.deepEqual(Buffer.from(again.get('OBX-5') as string, 'utf8'), caseFile(CASE, 'expected_obx1_text.bin'));
  });

  it('decodes each sequence', () => {
    const cases: Array<[string, string]> = [
      ['\\F\\', '|'], ['\\S\\', '^'], ['\\T\\', '&'], ['\\R\\', '~'], ['\\E\\', '\\'],
      ['a\\X0D\\\\X0A\\b', 'a\r\nb'],                  // back-to-back escapes do not collapse
      ['a\\X0D0A\\b', 'a\r\nb'],                        // multi-byte hex
      ['\\X000d\\\\X0A\\', '\u0000\r\n'],                // lower-case hex, NUL kept
      ['\\X484559\\', 'HEY'],
      ['\\XC3A9\\', 'é'],                               // UTF-8 bytes
      ['\\XE9\\', 'é'],                                 // not UTF-8: Latin-1
      ['\\E\\\\F\\\\R\\\\S\\\\T\\\\X484559\\', '\\|~^&HEY'],
      ['x\\.br\\y', 'x\ny'], ['x\\.sp\\y', 'x\ny'], ['x\\.sp 2\\y', 'x\n\ny'], ['\\.in +4\\x', 'x'], ['\\.ce\\x', '\nx'],
      ['\\H\\bold\\N\\', 'bold'],
      ['\\C2842\\x\\M2442\\', 'x'],                     // character-set switches leave nothing
      ['\\Zlocal\\', '\\Zlocal\\'],                     // unknown: kept
      ['C:\\temp', 'C:\\temp'],                         // unterminated: kept
      ['a\\b \\F\\', 'a\\b |'],                         // stray escape char, then a real escape
      ['\\X0\\', '\\X0\\'],                             // odd hex: kept
      ['\\\\', '\\\\'],
      ['plain', 'plain'],
    ];
    for (const [raw, text] of cases) assert.equal(decodeEscapes(raw, D), text, raw);
  });

  it('encodes delimiters, the escape character, CR and LF', () => {
    assert.equal(encodeEscapes('a|b^c~d\\e&f', D), 'a\\F\\b\\S\\c\\R\\d\\E\\e\\T\\f');
    assert.equal(encodeEscapes('l1\r\nl2', D), 'l1\\X0D\\\\X0A\\l2');
    assert.equal(encodeEscapes('plain 한글', D), 'plain 한글');
    assert.equal(encodeEscapes('a#b', { ...D, truncation: '#' }), 'a\\P\\b');
    assert.equal(encodeEscapes('a#b', D), 'a#b');
  });

  it('decode(encode(x)) === x for any text, and encoded text holds no delimiter', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
      const enc = encodeEscapes(s, D);
      assert.equal(/[|^~&\r\n]/.test(enc), false);
      assert.equal(decodeEscapes(enc, D), s);
    }), { numRuns: 500 });
  });

  it('writes the text \'""\' so that it does not read back as the HL7 null', () => {
    const m = Hl7Message.parse('MSH|^~\\&|A|B|||20260101||ORU^R01|X|P|2.5\rNTE|1||x\r');
    m.set('NTE-3', '""');
    assert.equal(m.getRaw('NTE-3'), '\\X2222\\');
    assert.equal(m.get('NTE-3'), '""');
    m.set('NTE-3', null);
    assert.equal(m.getRaw('NTE-3'), '""');
    assert.equal(m.get('NTE-3'), null);
  });

  it('set/get round-trips any text through a message', () => {
    const m = Hl7Message.parse('MSH|^~\\&|A|B|||20260101||ORU^R01|X|P|2.5\rNTE|1||x\r');
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      m.set('NTE-3', s);
      const again = Hl7Message.parse(m.encode());
      assert.equal(again.get('NTE-3'), s);
      assert.equal(again.segments().length, 2);
    }), { numRuns: 300 });
  });
});

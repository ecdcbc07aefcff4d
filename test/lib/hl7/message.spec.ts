// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { GatewayError } from '../../../lib/errors';
import { Hl7Message } from '../../../lib/hl7/message';
import { caseFile } from '../../helpers/paths';

const ORU = [
  'MSH|^~\\&|LABSYS|CITYLAB|MGS|WARD7|20261102101500+0900||ORU^R01^ORU_R01|MSG-1|P|2.5.1||||||UNICODE UTF-8',
  'PID|1||KR1^^^CITYLAB&1.2.3&ISO^MR~KR2^^^OTHER^PI||DOE^JANE||19800101|F',
  'OBR|1|O1|F1|58410-2^CBC panel^LN',
  'OBX|1|NM|718-7^Hemoglobin^LN||13.9|g/dL|13.5-17.5||||F',
  'OBX|2|NM|4544-3^Hematocrit^LN||41.2|%|33.6~51.5||||F',
].join('\r') + '\r';

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { return e instanceof GatewayError ? e.code : `not a GatewayError: ${String(e)}`; }
  return 'no error';
}

describe('lib/hl7 message: parsing and access', () => {
  it('reads fields, components, repetitions and subcomponents with 1-based HL7 paths', () => {
    const m = Hl7Message.parse(ORU);
    assert.equal(m.get('MSH-1'), '|');
    assert.equal(m.get('MSH-2'), '^~\\&');
    assert.equal(m.get('MSH-3'), 'LABSYS');
    assert.equal(m.get('MSH-9.1'), 'ORU');
    assert.equal(m.get('MSH-9.2'), 'R01');
    assert.equal(m.get('MSH-9.3'), 'ORU_R01');
    assert.equal(m.get('PID-3'), 'KR1^^^CITYLAB&1.2.3&ISO^MR');        // first repetition, decoded
    assert.equal(m.get('PID-3.1'), 'KR1');
    assert.equal(m.get('PID-3.4'), 'CITYLAB&1.2.3&ISO');
    assert.equal(m.get('PID-3.4.2'), '1.2.3');
    assert.equal(m.get('PID-3[2].1'), 'KR2');
    assert.equal(m.get('PID-3[2].4'), 'OTHER');
    assert.equal(m.get('PID-3[3].1'), '');
    assert.equal(m.get('PID-5.2'), 'JANE');
    assert.equal(m.get('OBX-5'), '13.9');
    assert.equal(m.get('OBX[2]-5'), '41.2');
    assert.equal(m.get('OBX[3]-5'), '');
    assert.equal(m.get('ZZZ-1'), '');
    assert.equal(m.get('PID-40'), '');
    assert.equal(m.getRaw('PID-3'), 'KR1^^^CITYLAB&1.2.3&ISO^MR~KR2^^^OTHER^PI');
    assert.equal(m.getRaw('PID-3[2]'), 'KR2^^^OTHER^PI');
    assert.equal(m.getRaw('OBX[2]-7'), '33.6~51.5');
  });

  it('exposes type, controlId, version, charset and delimiters', () => {
    const m = Hl7Message.parse(ORU);
    assert.equal(m.type, 'ORU^R01');
    assert.equal(m.trigger, 'R01');
    assert.equal(m.controlId, 'MSG-1');
    assert.equal(m.version, '2.5.1');
    assert.equal(m.charset, 'UNICODE UTF-8');
    assert.deepEqual(m.delimiters, { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&',
      truncation: '', segment: '\r', encodingChars: '^~\\&' });
    assert.equal(Hl7Message.parse('MSH|^~\\&|||||||ACK|1|P|2.3\r').type, 'ACK');
  });

  it('gives Segment objects with the same accessors', () => {
    const m = Hl7Message.parse(ORU);
    const obx = m.segments('OBX');
    assert.equal(obx.length, 2);
    assert.equal(obx[1].name, 'OBX');
    assert.equal(obx[1].get('5'), '41.2');
    assert.equal(obx[1].get(5), '41.2');
    assert.equal(obx[1].get('7[2]'), '51.5');
    assert.equal(obx[1].getRaw('7'), '33.6~51.5');
    assert.deepEqual(obx[1].repetitions(7), ['33.6', '51.5']);
    assert.deepEqual(obx[0].repetitions(7), ['13.5-17.5']);
    assert.deepEqual(obx[0].repetitions(9), []);
    assert.equal(obx[0].fieldCount, 11);
    assert.equal(m.segment('PID')?.get('3.1'), 'KR1');
    assert.equal(m.segment('NTE'), undefined);
    assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'PID', 'OBR', 'OBX', 'OBX']);
    assert.equal(m.segment('MSH')?.get('1'), '|');
    assert.equal(m.segment('MSH')?.get('10'), 'MSG-1');
  });

  it('accepts CR, LF and CRLF segment ends alike', () => {
    const segs = ORU.split('\r').filter((s) => s !== '');
    for (const sep of ['\r', '\n', '\r\n']) {
      const m = Hl7Message.parse(segs.join(sep) + sep);
      assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'PID', 'OBR', 'OBX', 'OBX'], JSON.stringify(sep));
      assert.equal(m.get('OBX[2]-5'), '41.2');
      assert.equal(m.encode(), ORU, 'LF and CRLF are re-encoded with CR');
    }
  });

  it('keeps raw LFs inside fields of a CR-terminated message as data', () => {
    const m = Hl7Message.parse('MSH|^~\\&|A|B|||20260101||ORU^R01|X|P|2.5\r\nOBX|1|TX|||line1\nline2\n\nline4||\r\n'
      + 'NTE|1\nPID|1\n\nPV1|1\n');
    assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'OBX', 'NTE', 'PID', 'PV1']);
    assert.equal(m.get('OBX-5'), 'line1\nline2\n\nline4');
    assert.equal(m.get('OBX-6'), '');
    assert.equal(m.encode(), 'MSH|^~\\&|A|B|||20260101||ORU^R01|X|P|2.5\rOBX|1|TX|||line1\nline2\n\nline4||\rNTE|1\rPID|1\rPV1|1\r');
  });

  it('round-trips an unmodified message byte for byte', () => {
    for (const [dir, name] of [['07-ack-original-mode-fields', 'input_a.hl7'], ['07-ack-original-mode-fields', 'input_b.hl7'],
      ['11-escape-sequences-decode', 'input.hl7'], ['13-null-vs-empty-fields', 'input.hl7'],
      ['19-timestamps-timezone-precision', 'input_a.hl7'], ['21-charset-euckr-latin1', 'input_c_latin1_8859.hl7']]) {
      const text = caseFile(dir, name).toString('latin1');
      assert.equal(Hl7Message.parse(text).encode(), text, `${dir}/${name}`);
    }
    const noTrailingCr = ORU.slice(0, -1);
    assert.equal(Hl7Message.parse(noTrailingCr).encode(), noTrailingCr);
    const m = Hl7Message.parse(noTrailingCr);
    m.set('OBX-8', 'N');
    assert.equal(m.encode().endsWith('\r'), false, 'a missing final CR stays missing after a change');
  });

  it('re-encodes only the touched segment and field', () => {
    const text = 'MSH|^~\\&|A|B|||20260101||ORU^R01|X1|P|2.5\rPID|1||ID\\T\\1^^^AUTH||NAME\\S\\X\r'
      + 'OBX|1|FT|C^Code||line\\.br\\two\\X0D0A\\|u|||||F\rOBX|2|ST|||v\r';
    const m = Hl7Message.parse(text);
    m.set('OBX-8', 'N');
    m.set('OBX[2]-3.2', 'a^b');
    const out = m.encode().split('\r');
    const inp = text.split('\r');
    assert.equal(out[0], inp[0]);
    assert.equal(out[1], inp[1]);
    assert.equal(out[2], 'OBX|1|FT|C^Code||line\\.br\\two\\X0D0A\\|u||N|||F');
    assert.equal(out[3], 'OBX|2|ST|^a\\S\\b||v');
    assert.equal(m.get('OBX[2]-3.2'), 'a^b');
    assert.equal(m.isModified, true);
  });

  it('sets fields, components, repetitions and raw text, padding as needed', () => {
    const m = Hl7Message.parse('MSH|^~\\&|A|B|||20260101||ORU^R01|X1|P|2.3\rPID|||107558^E024^\r');
    m.set('PID-3.3', '1234');
    assert.equal(m.getRaw('PID-3'), '107558^E024^1234');
    m.set('PID-4', '홍길동');
    m.set('PID-6', '50');
    m.set('PID-7', 'M');
    m.set('PID-3[2].2', 'X');
    assert.equal(m.getRaw('PID-3'), '107558^E024^1234~^X');
    m.set('PID-13.1.2', 'sub');
    assert.equal(m.getRaw('PID-13'), '&sub');
    m.setRaw('PID-11', 'A^B~C');
    assert.equal(m.get('PID-11[2]'), 'C');
    m.set('PID-12', 'x|y~z\\w&v\r\n');
    assert.equal(m.getRaw('PID-12'), 'x\\F\\y\\R\\z\\E\\w\\T\\v\\X0D\\\\X0A\\');
    assert.equal(m.get('PID-12'), 'x|y~z\\w&v\r\n');
    m.set('PID-20', '');
    assert.equal(m.segment('PID')?.fieldCount, 13, "setting '' past the end adds nothing");
    assert.equal(m.encode(), 'MSH|^~\\&|A|B|||20260101||ORU^R01|X1|P|2.3\r'
      + 'PID|||107558^E024^1234~^X|홍길동||50|M||||A^B~C|x\\F\\y\\R\\z\\E\\w\\T\\v\\X0D\\\\X0A\\|&sub\r');
    m.set('MSH-10', 'NEW');
    assert.equal(m.controlId, 'NEW');
  });

  it('adds and removes segments', () => {
    const m = Hl7Message.parse('MSH|^~\\&|A|B|||20260101||ORU^R01|X1|P|2.3\rPID|||1\r');
    const obx = m.addSegment('OBX', ['1', 'ST', null, 'HGB']);
    obx.set('5', '12.7');
    assert.equal(m.segments('OBX').length, 1);
    assert.equal(m.encode(), 'MSH|^~\\&|A|B|||20260101||ORU^R01|X1|P|2.3\rPID|||1\rOBX|1|ST|""|HGB|12.7\r');
    const nte = m.addSegment('NTE', ['1'], 1);
    assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'NTE', 'PID', 'OBX']);
    m.removeSegment(nte);
    m.removeSegment(m.segments()[0]);     // MSH stays
    assert.deepEqual(m.segments().map((s) => s.name), ['MSH', 'PID', 'OBX']);
    assert.equal(code(() => m.addSegment('obx')), 'HL7_BAD_SEGMENT');
    assert.equal(code(() => m.addSegment('MSH')), 'HL7_BAD_SEGMENT');
  });

  it('honours any legal delimiters from MSH-1/MSH-2, including the v2.7 truncation character', () => {
    const m = Hl7Message.parse('MSH#$*@!#A#B#####ORU$R01#C1#P#2.3\rPID###ID1$$$AU!TH*ID2##N@F@\r');
    assert.equal(m.get('MSH-1'), '#');
    assert.equal(m.get('MSH-2'), '$*@!');
    assert.equal(m.type, 'ORU^R01');
    assert.equal(m.get('PID-3.1'), 'ID1');
    assert.equal(m.get('PID-3.4.2'), 'TH');
    assert.equal(m.get('PID-3[2]'), 'ID2');
    assert.equal(m.get('PID-5'), 'N#');
    m.set('PID-6', '#$*!@');
    assert.equal(m.getRaw('PID-6'), '@F@@S@@R@@T@@E@');

    const v27 = Hl7Message.parse('MSH|^~\\&#|A|B|||20260101||ORU^R01^ORU_R01|C2|P|2.7\rNTE|1||cut\\P\\here\r');
    assert.equal(v27.delimiters.truncation, '#');
    assert.equal(v27.get('MSH-2'), '^~\\&#');
    assert.equal(v27.get('NTE-3'), 'cut#here');
    v27.set('NTE-4', 'a#b');
    assert.equal(v27.getRaw('NTE-4'), 'a\\P\\b');
  });

  it('rejects text without MSH and unusable separators with stable codes', () => {
    assert.equal(code(() => Hl7Message.parse('PID|||1\r')), 'HL7_MISSING_MSH');
    assert.equal(code(() => Hl7Message.parse('')), 'HL7_MISSING_MSH');
    assert.equal(code(() => Hl7Message.parse(caseFile('09-ack-nak-ae-ar-err', 'input_c.hl7').toString('latin1'))), 'HL7_MISSING_MSH');
    assert.equal(code(() => Hl7Message.parse(undefined as unknown as string)), 'HL7_MISSING_MSH');
    assert.equal(code(() => Hl7Message.parse('MSH')), 'HL7_BAD_SEPARATORS');
    assert.equal(code(() => Hl7Message.parse('MSH|')), 'HL7_BAD_SEPARATORS');
    assert.equal(code(() => Hl7Message.parse('MSHA^~\\&|')), 'HL7_BAD_SEPARATORS');
    assert.equal(code(() => Hl7Message.parse('MSH|^^\\&|A')), 'HL7_BAD_SEPARATORS');
    assert.equal(code(() => Hl7Message.parse('MSH|ab|A')), 'HL7_BAD_SEPARATORS');
    assert.equal(Hl7Message.parse('\r\n\uFEFFMSH|^~\\&|A\r').get('MSH-3'), 'A', 'leading blank lines and BOM tolerated');
  });

  it('rejects malformed paths and read-only header fields', () => {
    const m = Hl7Message.parse(ORU);
    for (const p of ['PID3', 'PID-x', 'PID-3.0', 'PID-3[0]', 'P-3', 'PID-3.1.2.3', '']) {
      assert.equal(code(() => m.get(p)), 'HL7_BAD_PATH', p);
    }
    assert.equal(code(() => m.set('MSH-1', '#')), 'HL7_BAD_PATH');
    assert.equal(code(() => m.set('MSH-2', '^~')), 'HL7_BAD_PATH');
    assert.equal(code(() => m.set('NTE-3', 'x')), 'HL7_BAD_PATH');
    assert.equal(code(() => m.segment('PID')?.get('x')), 'HL7_BAD_PATH');
  });

  it('clones independently', () => {
    const m = Hl7Message.parse(ORU);
    const c = m.clone();
    c.set('OBX-5', '1');
    assert.equal(m.get('OBX-5'), '13.9');
    assert.equal(c.get('OBX-5'), '1');
  });
});

describe('lib/hl7 message: HL7 null "" versus empty (case 13)', () => {
  const text = caseFile('13-null-vs-empty-fields', 'input.hl7').toString('latin1');

  it('returns null for "" and \'\' for empty or absent fields', () => {
    const m = Hl7Message.parse(text);
    assert.equal(m.get('PID-6'), null, 'age (strict PID-6) is null');
    assert.equal(m.get('PID-7'), null, 'sex (strict PID-7) is null');
    assert.equal(m.get('PV1-3'), null);
    assert.equal(m.get('OBR-8'), null);
    const obx = m.segments('OBX');
    assert.equal(obx.length, 5);
    assert.equal(obx[0].get('5'), null, 'OBX-1 OBX-5');
    assert.equal(obx[1].get('7'), null, 'OBX-2 OBX-7');
    assert.equal(obx[2].get('7'), '', 'OBX-3 OBX-7');
    assert.equal(obx[4].get('5'), '', 'OBX-5 OBX-5');
    assert.equal(m.get('OBX[5]-5'), '');
    assert.equal(m.get('OBX-5.1'), null, 'the null reads as null at component level too');
    assert.equal(m.get('OBX-5.2'), '');
    assert.equal(m.getRaw('PID-6'), '""');
    assert.equal(obx[1].get('5'), '41.2');
    assert.equal(obx[2].get('5'), '4.61');
    assert.deepEqual(obx[0].repetitions(7), ['11.2', '17.2']);
    assert.equal(obx[3].fieldCount, 19, 'six trailing empty fields are kept');
    assert.equal(obx[3].get('7'), '3.2');
  });

  it('keeps "" as "" and empty as empty when re-encoding, and writes null as ""', () => {
    const m = Hl7Message.parse(text);
    m.set('OBX-8', '');
    m.set('OBX[4]-8', 'N');
    m.set('PID-8', null);
    const out = m.encode();
    assert.ok(out.includes('PID|||410043^E024^5143|TESTX^DOYUN||""|""|""\r'));
    assert.ok(out.includes('OBX|1|ST|03|HGB|""|g/dl|11.2~17.2||||R||P|\r'));
    assert.ok(out.includes('OBX|2|ST|04|HCT|41.2|%|""|A|||R||P|\r'));
    assert.ok(out.includes('OBX|4|ST|01|WBC|7.4|*10-6/mm-3|3.2~10.2|N|||R||Q||||||\r'));
    assert.ok(out.includes('OBX|5|ST|05|PLT||*10-3/mm-3|150~400|A|||R||Q|\r'));
    assert.equal(Hl7Message.parse(out).get('PID-8'), null);
  });
});

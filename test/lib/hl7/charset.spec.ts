// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { GatewayError } from '../../../lib/errors';
import {
  decodeBytes, encodeText, hl7CharsetName, readMsh18, resolveCharset, setMsh18, transcodeMessage, transcodeToUtf8,
} from '../../../lib/hl7/charset';
import { Hl7Message } from '../../../lib/hl7/message';
import { caseFile } from '../../helpers/paths';

const C21 = '21-charset-euckr-latin1';
const bytes = (name: string): Buffer => caseFile(C21, name);

function gatewayCode(fn: () => unknown): string {
  try { fn(); } catch (e) { return e instanceof GatewayError ? `${e.code} ${JSON.stringify(e.params)}` : String(e); }
  return 'no error';
}

describe('lib/hl7 charset (case 21)', () => {
  it('a: MSH-18 KS X 1001 is honoured over a UTF-8 default', () => {
    for (const def of ['utf-8', 'latin1', 'euc-kr'] as const) {
      const d = decodeBytes(bytes('input_a_euckr_msh18.hl7'), def);
      assert.equal(d.charset, 'euc-kr');
      assert.equal(d.declared, 'KS X 1001');
      const m = Hl7Message.parse(d.text);
      assert.equal(m.get('PID-4'), '이하늘');
      assert.equal(m.get('NTE-3'), '검체 용혈 있음');
      assert.equal(m.get('OBX-5'), '15.2');
      assert.equal(m.controlId, 'BARCODE');
      assert.equal(d.text.includes('\uFFFD'), false);
    }
    assert.deepEqual(encodeText('이하늘', 'euc-kr'), Buffer.from([0xc0, 0xcc, 0xc7, 0xcf, 0xb4, 0xc3]));
    assert.deepEqual(encodeText('이하늘', 'KS X 1001'), Buffer.from([0xc0, 0xcc, 0xc7, 0xcf, 0xb4, 0xc3]));
  });

  it('b: no MSH-18 -> the listener default; EUC-KR/CP949 read the name, UTF-8 fails with HL7_BAD_CHARSET', () => {
    for (const def of ['euc-kr', 'cp949'] as const) {
      const d = decodeBytes(bytes('input_b_euckr_no_msh18.hl7'), def);
      assert.equal(d.charset, def);
      assert.equal(d.declared, '');
      const m = Hl7Message.parse(d.text);
      assert.equal(m.get('PID-4'), '강바다');
      assert.equal(m.get('OBX-5'), '10.4');
      assert.deepEqual(m.segments('OBX')[0].repetitions(7), ['12.0', '16.0']);
    }
    assert.deepEqual(encodeText('강바다', 'euc-kr'), Buffer.from([0xb0, 0xad, 0xb9, 0xd9, 0xb4, 0xd9]));
    assert.equal(gatewayCode(() => decodeBytes(bytes('input_b_euckr_no_msh18.hl7'), 'utf-8')),
      'HL7_BAD_CHARSET {"charset":"utf-8"}', 'never U+FFFD');
    assert.equal(gatewayCode(() => decodeBytes(bytes('input_b_euckr_no_msh18.hl7'))), 'HL7_BAD_CHARSET {"charset":"utf-8"}');
  });

  it('c and d: 8859/1 and ISO IR100 decode Latin-1', () => {
    for (const [name, id] of [['input_c_latin1_8859.hl7', 'LAT-0001'], ['input_d_latin1_isoir100.hl7', 'LAT-0002']]) {
      const d = decodeBytes(bytes(name), 'utf-8');
      assert.equal(d.charset, 'latin1');
      const m = Hl7Message.parse(d.text);
      assert.equal(m.controlId, id);
      assert.equal(m.get('PID-5.1'), 'SØNDERGÅRD');
      assert.equal(m.get('PID-5.2'), 'ÆSA');
      assert.equal(m.get('NTE-3'), 'Prøve modtaget kl. 14:05, hæmolyse \u00B1 (Å-afsnit)');
      assert.equal(m.get('OBX-5'), '133');
    }
    assert.equal(decodeBytes(bytes('input_c_latin1_8859.hl7')).declared, '8859/1');
    assert.equal(decodeBytes(bytes('input_d_latin1_isoir100.hl7')).declared, 'ISO IR100');
  });

  it('reads MSH-18 from framed bytes too (.bin inputs)', () => {
    assert.equal(readMsh18(bytes('input_a_euckr_msh18.bin')), 'KS X 1001');
    assert.equal(readMsh18(bytes('input_b_euckr_no_msh18.bin')), '');
    assert.equal(readMsh18(bytes('input_c_latin1_8859.bin')), '8859/1');
    assert.equal(readMsh18(Buffer.from('PID|1\r')), '');
    const msh18 = (v: string): string => `MSH|^~\\&${'|'.repeat(16)}${v}\r`;
    assert.equal(Hl7Message.parse(msh18('X')).get('MSH-18'), 'X');
    assert.equal(readMsh18(Buffer.from(`\uFEFF${msh18('UNICODE UTF-8')}`, 'utf8')), 'UNICODE UTF-8');
  });

  it('transcodes to UTF-8 and sets MSH-18 together, keeping the rest of the text', () => {
    for (const [name, def] of [['input_a_euckr_msh18.hl7', 'utf-8'], ['input_b_euckr_no_msh18.hl7', 'euc-kr'],
      ['input_c_latin1_8859.hl7', 'utf-8'], ['input_d_latin1_isoir100.hl7', 'utf-8']]) {
      const before = Hl7Message.parse(decodeBytes(bytes(name), def).text);
      const t = transcodeToUtf8(bytes(name), def);
      assert.equal(t.bytes.toString('utf8'), t.text);
      const after = Hl7Message.parse(decodeBytes(t.bytes, 'latin1').text);   // MSH-18 now says UTF-8
      assert.equal(after.charset, 'UNICODE UTF-8', name);
      assert.equal(after.version, before.version);
      assert.equal(after.get('PID-4'), before.get('PID-4'));
      assert.equal(after.get('PID-5'), before.get('PID-5'));
      assert.equal(after.get('NTE-3'), before.get('NTE-3'));
      assert.deepEqual(after.segments().slice(1).map(String), before.segments().slice(1).map(String));
    }
    const b = transcodeToUtf8(bytes('input_b_euckr_no_msh18.hl7'), 'euc-kr');
    assert.equal(b.from, 'euc-kr');
    assert.equal(b.text.split('\r')[0], 'MSH|^~\\&|HL7|B0801|||20261102141600||ORU^R01|BARCODE|P|2.3||||||UNICODE UTF-8');
    const back = transcodeMessage(b.bytes, 'utf-8', 'euc-kr');
    assert.equal(back.text.split('\r')[0], 'MSH|^~\\&|HL7|B0801|||20261102141600||ORU^R01|BARCODE|P|2.3||||||KS X 1001');
    assert.equal(Hl7Message.parse(decodeBytes(back.bytes).text).get('PID-4'), '강바다');
  });

  it('refuses characters the target charset cannot hold, instead of writing ?', () => {
    assert.equal(gatewayCode(() => encodeText('똠', 'euc-kr')), 'HL7_BAD_CHARSET {"charset":"euc-kr"}');
    assert.deepEqual(encodeText('똠', 'cp949'), Buffer.from([0x8c, 0x63]));
    assert.equal(decodeBytes(Buffer.from([0x4d, 0x53, 0x48, 0x7c, 0x5e, 0x7e, 0x5c, 0x26, 0x7c, 0x8c, 0x63]), 'euc-kr').text,
      'MSH|^~\\&|똠', 'EUC-KR is decoded with the CP949 superset');
    assert.equal(gatewayCode(() => encodeText('ÆSA', 'ascii')), 'HL7_BAD_CHARSET {"charset":"ascii"}');
    assert.equal(gatewayCode(() => encodeText('홍', 'latin1')), 'HL7_BAD_CHARSET {"charset":"latin1"}');
    assert.equal(gatewayCode(() => encodeText('홍', '8859/1')), 'HL7_BAD_CHARSET {"charset":"latin1"}');
    assert.deepEqual(encodeText('ÆSA', '8859/1'), Buffer.from([0xc6, 0x53, 0x41]));
    assert.deepEqual(encodeText('홍길동', 'UNICODE UTF-8'), Buffer.from('홍길동', 'utf8'));
  });

  it('rejects invalid bytes and unknown MSH-18 values', () => {
    const msh = (cs: string, tail: number[]): Buffer => Buffer.concat([
      Buffer.from(`MSH|^~\\&|||||||ORU^R01|1|P|2.5||||||${cs}\rNTE|1||`), Buffer.from(tail), Buffer.from('\r')]);
    assert.equal(gatewayCode(() => decodeBytes(msh('KS X 1001', [0xff, 0x41]))), 'HL7_BAD_CHARSET {"charset":"euc-kr"}');
    assert.equal(gatewayCode(() => decodeBytes(msh('UNICODE UTF-8', [0xc0, 0xcc]))), 'HL7_BAD_CHARSET {"charset":"utf-8"}');
    assert.equal(gatewayCode(() => decodeBytes(msh('ASCII', [0xe9]))), 'HL7_BAD_CHARSET {"charset":"ascii"}');
    assert.equal(gatewayCode(() => decodeBytes(msh('KLINGON', [0x41]))), 'HL7_UNKNOWN_CHARSET {"charset":"KLINGON"}');
    assert.equal(decodeBytes(msh('ASCII~KS X 1001', [0xc0, 0xcc])).text.endsWith('이\r'), true, 'ASCII plus an extension');
    assert.equal(decodeBytes(msh('', [0xe9]), 'latin1').text.endsWith('é\r'), true, 'empty MSH-18 -> default');
  });

  it('maps HL7 table 0211 names and common spellings', () => {
    const expect: Array<[string, string]> = [
      ['UNICODE UTF-8', 'utf-8'], ['utf-8', 'utf-8'], ['ISO IR192', 'utf-8'], ['8859/1', 'latin1'], ['ISO IR100', 'latin1'],
      ['iso_ir 100', 'latin1'], ['latin1', 'latin1'], ['KS X 1001', 'euc-kr'], ['ISO IR149', 'euc-kr'], ['EUC-KR', 'euc-kr'],
      ['cp949', 'cp949'], ['ASCII', 'ascii'], ['8859/2', 'iso-8859-2'], ['8859/15', 'iso-8859-15'], ['ISO IR126', 'iso-8859-7'],
      ['GB 18030-2000', 'gb18030'], ['BIG-5', 'big5'], ['UNICODE UTF-16', 'utf-16'],
    ];
    for (const [name, codec] of expect) assert.equal(resolveCharset(name), codec, name);
    assert.equal(hl7CharsetName('utf-8'), 'UNICODE UTF-8');
    assert.equal(hl7CharsetName('latin1'), '8859/1');
    assert.equal(hl7CharsetName('cp949'), 'KS X 1001');
    const two = setMsh18(`MSH|^~\\&|A\rPID|1\rMSH|^~\\&|B${'|'.repeat(15)}X|19\r`, 'UNICODE UTF-8');
    assert.equal(two, `MSH|^~\\&|A${'|'.repeat(15)}UNICODE UTF-8\rPID|1\rMSH|^~\\&|B${'|'.repeat(15)}UNICODE UTF-8|19\r`);
    assert.deepEqual(two.split('\r').filter((l) => l.startsWith('MSH')).map((l) => Hl7Message.parse(l).charset),
      ['UNICODE UTF-8', 'UNICODE UTF-8']);
  });
});

// SPDX-License-Identifier: Apache-2.0
// MG barcode result -> standard ORU^R01 (lib/hl7/convert.ts): SPEC 2.3 field by field, case 24's Mindray rows,
// case 21's Hangul and Latin-1 text, escapes, options and errors.
import { strict as assert } from 'node:assert';
import { convertToOru, parseCodeMap, resolveConvertOptions, spoolControlId, type ConvertOptions } from '../../../lib/hl7/convert';
import { decodeBytes, encodeText } from '../../../lib/hl7/charset';
import { Hl7Message } from '../../../lib/hl7/message';
import { flagObservations, STANDARD_DEMOGRAPHICS } from '../../../lib/obx/range-check';
import { caseFile, fixture } from '../../helpers/paths';

const SPEC_RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');
const NOW = new Date('2026-11-02T06:00:00Z');
const NOW_TEXT = '20261102150000+0900';
const BASE: ConvertOptions = {
  sendingApplication: 'MGS', sendingFacility: 'LAB', receivingApplication: 'EMR', receivingFacility: 'HOSP',
  patientAuthority: 'HOSP', now: NOW, offsetMinutes: 540, controlId: 'MGS00000000000000001',
};

/** Raw fields of the n-th segment `name` of HL7 text, indexed by HL7 field number (MSH-1 = '|'). */
function seg(text: string, name: string, occurrence = 1): string[] {
  const lines = text.split('\r').filter((l) => l.startsWith(name + '|'));
  const line = lines[occurrence - 1];
  assert.ok(line !== undefined, `no ${name} #${occurrence}`);
  const parts = line.split('|');
  return name === 'MSH' ? ['MSH', '|', ...parts.slice(1)] : parts;
}

/** The HL7 bytes of a case's `.bin` file (they are MLLP-framed: 0x0B ... 0x1C 0x0D). */
function caseBytes(dir: string, name: string): Buffer {
  const b = caseFile(dir, name);
  return b[0] === 0x0b ? b.subarray(1, b.lastIndexOf(0x1c)) : b;
}

/** Flags as obx-check computes them (msg.obx), from a message in the MG layout. */
function obxFlags(text: string, standard = false): ReturnType<typeof flagObservations> {
  return flagObservations(Hl7Message.parse(text), [], standard ? { demographics: STANDARD_DEMOGRAPHICS } : {});
}

describe('lib/hl7/convert: MG result -> standard ORU^R01', () => {
  it('converts SPEC 2.3 into exactly this ORU^R01 (every segment, every field)', () => {
    const r = convertToOru(SPEC_RESULT, { ...BASE, flags: obxFlags(SPEC_RESULT) });
    const expected = [
      `MSH|^~\\&|MGS|LAB|EMR|HOSP|${NOW_TEXT}||ORU^R01^ORU_R01|MGS00000000000000001|P|2.5.1||||||UNICODE UTF-8`,
      'PID|1||1234^^^HOSP^MR~107558^^^HOSP^ACSN||홍길동|||M',
      'NTE|1|L|Patient age: 50',
      'PV1|1|E|1111^2222',
      'ORC|RE|107558|107558',
      `OBR|1|107558|107558|E024^E024^L|||20090927151949|||||||||||||||${NOW_TEXT}|||F`,
      'OBX|1|NM|HGB^HGB^L||12.7|g/dl|11.2-17.2|N|||F|||20090927151949||||E024',
      'OBX|2|NM|HCT^HCT^L||39.1|%|33.6-51.5|N|||F|||20090927151949||||E024',
      'OBX|3|ST|RBC^RBC^L||TEST|*10-6/mm-3|3.8-5.6||||F|||20090927151949||||E024',
      'OBX|4|NM|WBC^WBC^L||2|*10-6/mm-3|3.2-10.2|L|||F|||20090927151949||||E024',
    ].join('\r') + '\r';
    assert.equal(r.text, expected);
    assert.equal(r.controlId, 'MGS00000000000000001');
    assert.equal(r.originalControlId, 'BARCODE');
    assert.equal(r.version, '2.5.1');
    assert.equal(r.charset, 'utf-8');
    assert.equal(r.charsetName, 'UNICODE UTF-8');
    assert.equal(r.observations, 4);
    assert.deepEqual(r.dropped, []);

    // The same, field by field, in HL7 terms.
    const msh = seg(r.text, 'MSH');
    assert.deepEqual([msh[2], msh[3], msh[4], msh[5], msh[6], msh[7]], ['^~\\&', 'MGS', 'LAB', 'EMR', 'HOSP', NOW_TEXT]);
    assert.deepEqual([msh[9], msh[10], msh[11], msh[12], msh[18]], ['ORU^R01^ORU_R01', 'MGS00000000000000001', 'P', '2.5.1', 'UNICODE UTF-8']);
    const m = Hl7Message.parse(r.text);
    assert.equal(m.get('PID-3[1].1'), '1234');
    assert.equal(m.get('PID-3[1].4'), 'HOSP');
    assert.equal(m.get('PID-3[1].5'), 'MR');
    assert.equal(m.get('PID-3[2].1'), '107558');
    assert.equal(m.get('PID-3[2].5'), 'ACSN');
    assert.equal(m.get('PID-4'), '');
    assert.equal(m.get('PID-5'), '홍길동');
    assert.equal(m.get('PID-6'), '');
    assert.equal(m.get('PID-7'), '');                  // the MG sends an age, never a birth date: none is invented
    assert.equal(m.get('PID-8'), 'M');
    assert.equal(m.get('PV1-2'), 'E');
    assert.equal(m.get('PV1-3.1'), '1111');
    assert.equal(m.get('PV1-3.2'), '2222');
    assert.deepEqual(['ORC-1', 'ORC-2', 'ORC-3', 'OBR-2', 'OBR-3', 'OBR-4.1', 'OBR-7', 'OBR-25'].map((p) => m.get(p)),
      ['RE', '107558', '107558', '107558', '107558', 'E024', '20090927151949', 'F']);
    const obx = m.segments('OBX');
    assert.deepEqual(obx.map((s) => [s.get('1'), s.get('2'), s.getRaw('3'), s.get('4'), s.get('5'), s.get('6'), s.getRaw('7'),
      s.getRaw('8'), s.get('11'), s.get('13'), s.get('14'), s.get('18')]), [
      ['1', 'NM', 'HGB^HGB^L', '', '12.7', 'g/dl', '11.2-17.2', 'N', 'F', '', '20090927151949', 'E024'],
      ['2', 'NM', 'HCT^HCT^L', '', '39.1', '%', '33.6-51.5', 'N', 'F', '', '20090927151949', 'E024'],
      ['3', 'ST', 'RBC^RBC^L', '', 'TEST', '*10-6/mm-3', '3.8-5.6', '', 'F', '', '20090927151949', 'E024'],
      ['4', 'NM', 'WBC^WBC^L', '', '2', '*10-6/mm-3', '3.2-10.2', 'L', 'F', '', '20090927151949', 'E024'],
    ]);
  });

  it('uses the defaults: sender MGS, no receiver, v2.5.1, P, UNICODE UTF-8, MR, ACSN, local codes L, F, age in an NTE', () => {
    const r = convertToOru(SPEC_RESULT, { now: NOW, offsetMinutes: 0, controlId: 'X1' });
    assert.equal(seg(r.text, 'MSH').slice(3, 13).join('|'), 'MGS||||20261102060000+0000||ORU^R01^ORU_R01|X1|P|2.5.1');
    assert.equal(seg(r.text, 'MSH')[18], 'UNICODE UTF-8');
    assert.equal(seg(r.text, 'PID')[3], '1234^^^^MR~107558^^^^ACSN');
    assert.equal(seg(r.text, 'OBX')[3], 'HGB^HGB^L');
    assert.equal(seg(r.text, 'NTE')[3], 'Patient age: 50');
    // without msg.obx the MG's placeholder A is not taken for a flag
    assert.deepEqual([1, 2, 3, 4].map((i) => seg(r.text, 'OBX', i)[8]), ['', '', '', '']);
  });

  it('gives each message a fresh unique MSH-10 of at most 20 characters when none is given', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const id = convertToOru(SPEC_RESULT).controlId;
      assert.ok(id.length > 0 && id.length <= 20 && id !== 'BARCODE', id);
      ids.add(id);
    }
    assert.equal(ids.size, 50);
  });

  it('derives MSH-10 from the spool entry: the same for every attempt, different per entry, 20 characters', () => {
    const a1 = spoolControlId({ id: 7, messageId: 12, destination: 'emr-hl7', attempt: 1, key: 'v1:abc' } as never);
    const a2 = spoolControlId({ id: 7, messageId: 12, destination: 'emr-hl7', attempt: 3, key: 'v1:abc' } as never);
    const b = spoolControlId({ id: 8, messageId: 13, destination: 'emr-hl7', key: 'v1:abd' });
    const c = spoolControlId({ id: 8, messageId: 13, destination: 'emr-hl7', key: null });
    const c2 = spoolControlId({ id: 8, messageId: 13, destination: 'emr-hl7', key: null });
    const d = spoolControlId({ id: 9, messageId: 14, destination: 'emr-hl7', key: null });
    assert.equal(a1, a2);
    assert.equal(c, c2);
    assert.equal(new Set([a1, b, c, d]).size, 4);
    for (const id of [a1, b, c, d]) assert.match(id!, /^MGS[0-9A-F]{17}$/);
    assert.equal(spoolControlId({}), undefined);
  });

  it('maps test codes through the code map (string or object form) and devices for OBR-4', () => {
    const codeMap = parseCodeMap(JSON.stringify({
      hgb: '718-7^Hemoglobin [Mass/volume] in Blood^LN',
      WBC: { code: '6690-2', text: 'Leukocytes [#/volume] in Blood by Automated count', system: 'LN' },
      E024: '58410-2^CBC panel - Blood by Automated count^LN',
    }));
    const r = convertToOru(SPEC_RESULT, { ...BASE, codeMap });
    assert.equal(seg(r.text, 'OBR')[4], '58410-2^CBC panel - Blood by Automated count^LN');
    assert.deepEqual([1, 2, 3, 4].map((i) => seg(r.text, 'OBX', i)[3]), [
      '718-7^Hemoglobin [Mass/volume] in Blood^LN', 'HCT^HCT^L', 'RBC^RBC^L', '6690-2^Leukocytes [#/volume] in Blood by Automated count^LN',
    ]);
  });

  it('rejects a code map that is not an object of code^text^system', () => {
    for (const bad of ['[]', '{"HGB": 5}', '{"HGB": ""}', '{"HGB": {"code": "1", "unit": "x"}}', '{"HGB": "a|b"}', 'not json']) {
      assert.throws(() => parseCodeMap(bad), (e: any) => e.code === 'CONFIG_INVALID', bad);
    }
    assert.equal(parseCodeMap('').size, 0);
  });

  it('writes the standard forms of OBX-7: low~high -> low-high, one side -> >=low / <=high, other forms unchanged', () => {
    const text = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||1^E1^9|N||40|F', 'OBR|1||||||20260101120000',
      'OBX|1|ST|01|A|5|u|1.0~2.0|A|||R||P|', 'OBX|2|ST|02|B|5|u|~2.0|A|||R||P|', 'OBX|3|ST|03|C|5|u|1.0~|A|||R||P|',
      'OBX|4|ST|04|D|5|u|<5|A|||R||P|', 'OBX|5|ST|05|E|5|u|-2.0~2.0|A|||R||P|', 'OBX|6|ST|06|F|5|u|0,4~4,0|A|||R||P|',
      'OBX|7|ST|07|G|5|u|neg~pos|A|||R||P|', 'OBX|8|ST|08|H|5|u|""|A|||R||P|'].join('\r');
    const r = convertToOru(text, BASE);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => seg(r.text, 'OBX', i)[7]),
      ['1.0-2.0', '<=2.0', '>=1.0', '<5', '-2.0-2.0', '0,4-4,0', 'neg~pos', '""']);
  });

  it('NM for plain numbers, ST for anything else (comparators, text, device markers); other value types are carried', () => {
    const text = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||1^E1^9|N||40|F', 'OBR|1||||||20260101120000',
      'OBX|1|ST|01|A|-1.5||||||R||P|', 'OBX|2|NM|02|B|<0.1||||||R||P|', 'OBX|3|ST|03|C|****||||||R||P|',
      'OBX|4|ST|04|D|12,5||||||R||P|', 'OBX|5|SN|05|E|>^100||||||R||P|', 'OBX|6|CE|06|F|POS^Positive^L||||||R||P|',
      'OBX|7|ST|07|G|||||||R||P|'].join('\r');
    const r = convertToOru(text, BASE);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((i) => [seg(r.text, 'OBX', i)[2], seg(r.text, 'OBX', i)[5]]),
      [['NM', '-1.5'], ['ST', '<0.1'], ['ST', '****'], ['ST', '12,5'], ['SN', '>^100'], ['CE', 'POS^Positive^L'], ['ST', '']]);
  });

  it('encodes escapes with the lib/hl7 setters, also from a message with other delimiters', () => {
    // Written with # as component and ! as repetition separator: ^ and ~ are plain text there, \F\ \E\ escapes.
    const text = ['MSH|#!\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||B1#E1#P^1|O^BRIEN#JOHN||40|M',
      'PV1||I|W~1#R2', 'OBR|1||||||20260101120000', 'OBX|1|ST|01|T1|a\\F\\b\\E\\c x^y|mg/dl|1.0!2.0|A|||R||P|',
      'NTE|1||line 1\\.br\\line 2 \\F\\ end'].join('\r');
    const r = convertToOru(text, BASE);
    const m = Hl7Message.parse(r.text);
    assert.equal(seg(r.text, 'PID')[3], 'P\\S\\1^^^HOSP^MR~B1^^^HOSP^ACSN');
    assert.equal(m.get('PID-3[1].1'), 'P^1');
    assert.equal(seg(r.text, 'PID')[5], 'O\\S\\BRIEN^JOHN');
    assert.equal(m.get('PID-5.1'), 'O^BRIEN');
    assert.equal(m.get('PID-5.2'), 'JOHN');
    assert.equal(seg(r.text, 'PV1')[3], 'W\\R\\1^R2');
    assert.equal(m.get('PV1-3.1'), 'W~1');
    assert.equal(seg(r.text, 'OBX')[3], 'T1^T1^L');
    assert.equal(seg(r.text, 'OBX')[5], 'a\\F\\b\\E\\c x\\S\\y');
    assert.equal(m.get('OBX-5'), 'a|b\\c x^y');
    assert.equal(seg(r.text, 'OBX')[7], '1.0-2.0');
    assert.equal(seg(r.text, 'NTE', 2)[3], 'line 1\\X0A\\line 2 \\F\\ end');
    assert.equal(m.segments('NTE')[1].get('3'), 'line 1\nline 2 | end');
  });

  it('keeps formatting escapes of standard-delimited text exactly (copied raw)', () => {
    const text = SPEC_RESULT.replace(/\r$/, '') + '\rNTE|1||first\\.br\\second \\H\\bold\\N\\\r';
    const r = convertToOru(text, BASE);
    assert.equal(seg(r.text, 'NTE', 2)[3], 'first\\.br\\second \\H\\bold\\N\\');
  });

  it('case 24 (Mindray rows in the MG envelope): coded OBX-3 kept, ranges and flags, IS rows carried, **** as ST', () => {
    const raw = caseBytes('24-hematology-mindray-bc-relay', 'input.bin');
    const text = decodeBytes(raw, 'utf-8').text;
    const m0 = Hl7Message.parse(text);
    const flags = flagObservations(m0, []);
    const r = convertToOru(m0.encode(), { ...BASE, flags });
    const m = Hl7Message.parse(r.text);
    assert.equal(r.observations, 20);
    assert.equal(seg(r.text, 'PID')[3], '5201^^^HOSP^MR~410101^^^HOSP^ACSN');
    assert.equal(m.get('PID-5.1'), 'TESTAM');
    assert.equal(m.get('PID-5.2'), 'NARAE');
    assert.equal(m.get('PID-8'), 'F');
    assert.equal(m.get('NTE-3'), 'Patient age: 45');
    assert.equal(seg(r.text, 'PV1').join('|'), 'PV1|1|O|2201^3302');
    assert.equal(seg(r.text, 'OBR')[4], 'E052^E052^L');
    assert.equal(m.get('OBR-7'), '20261102145500');
    const rows = m.segments('OBX').map((s) => [s.get('1'), s.get('2'), s.getRaw('3'), s.get('5'), s.get('6'), s.getRaw('7'),
      s.getRaw('8'), s.get('11'), s.get('14'), s.get('18')].join('|'));
    const t = '20261102145500|E052';
    assert.deepEqual(rows, [
      `1|IS|08001^Take Mode^99MRC|O||||F|${t}`,
      `2|IS|08002^Blood Mode^99MRC|W||||F|${t}`,
      `3|IS|08003^Test Mode^99MRC|CBC+DIFF||||F|${t}`,
      `4|IS|01002^Ref Group^99MRC|Woman||||F|${t}`,
      `5|NM|6690-2^WBC^LN|10.42|10*3/uL|4.00-10.00|H~N|F|${t}`,
      `6|NM|751-8^NEU#^LN|7.49|10*3/uL|2.00-7.00|H~N|F|${t}`,
      `7|NM|731-0^LYM#^LN|1.80|10*3/uL|0.80-4.00|N|F|${t}`,
      `8|NM|770-8^NEU%^LN|71.9|%|50.0-70.0|H~N|F|${t}`,
      `9|NM|736-9^LYM%^LN|17.3|%|20.0-40.0|L~N|F|${t}`,
      `10|NM|789-8^RBC^LN|3.62|10*6/uL|3.50-5.00|N|F|${t}`,
      `11|NM|718-7^HGB^LN|10.8|g/dL|11.0-15.0|L~N|F|${t}`,
      `12|NM|4544-3^HCT^LN|33.1|%|37.0-47.0|L~N|F|${t}`,
      `13|NM|787-2^MCV^LN|91.4|fL|80.0-100.0|N|F|${t}`,
      `14|NM|785-6^MCH^LN|29.8|pg|27.0-34.0|N|F|${t}`,
      `15|NM|786-4^MCHC^LN|32.6|g/dL|32.0-36.0|N|F|${t}`,
      `16|NM|788-0^RDW-CV^LN|14.9|%|11.0-16.0|N|F|${t}`,
      `17|NM|777-3^PLT^LN|100|10*3/uL|100-300|N|F|${t}`,
      `18|NM|32623-1^MPV^LN|12.6|fL|6.5-12.0|H~N|F|${t}`,
      `19|ST|10055^H-NR%^99MRC|****|%|||F|${t}`,   // no flag: not reported (obx-check)
      `20|IS|12002^Leucocytosis^99MRC|T||||F|${t}`,
    ]);
  });

  it('case 24 rows behind a standard-layout PID (PID-5 name, PID-7 birth date, PID-8 sex), codes mapped by OBX-3', () => {
    const text = decodeBytes(caseBytes('24-hematology-mindray-bc-relay', 'input.bin'), 'utf-8').text
      .replace('PID|||410101^E052^5201|TESTAM^NARAE||45|F', 'PID|||410101^E052^5201||TESTAM^NARAE||19810304|F');
    const flags = flagObservations(Hl7Message.parse(text), [], { demographics: STANDARD_DEMOGRAPHICS });
    const codeMap = parseCodeMap('{"6690-2": "WBC-LOCAL^White cells^99HOSP", "PLT": "PLT-LOCAL^Platelets^99HOSP"}');
    const r = convertToOru(text, { ...BASE, layout: 'standard', flags, codeMap, age: 'obx' });
    const m = Hl7Message.parse(r.text);
    assert.equal(seg(r.text, 'PID').join('|'), 'PID|1||5201^^^HOSP^MR~410101^^^HOSP^ACSN||TESTAM^NARAE||19810304|F');
    assert.equal(m.segments('NTE').length, 0);
    assert.equal(m.segments('OBX').length, 20);                       // no age OBX: a birth date is known
    assert.equal(m.segments('OBX')[4].getRaw('3'), 'WBC-LOCAL^White cells^99HOSP');   // by OBX-3.1
    assert.equal(m.segments('OBX')[16].getRaw('3'), 'PLT-LOCAL^Platelets^99HOSP');   // by OBX-3.2
    assert.equal(m.segments('OBX')[16].getRaw('8'), 'N');
    assert.equal(m.segments('OBX')[10].getRaw('8'), 'L~N');
  });

  it('case 21a/b: Hangul names and notes survive (EUC-KR in, UTF-8 out with MSH-18 UNICODE UTF-8)', () => {
    const a = decodeBytes(caseBytes('21-charset-euckr-latin1', 'input_a_euckr_msh18.bin'), 'utf-8');
    assert.equal(a.charset, 'euc-kr');
    const ra = convertToOru(a.text, { ...BASE, flags: obxFlags(a.text) });
    const back = decodeBytes(encodeText(ra.text, ra.charset), 'latin1').text;   // MSH-18 decides, not the default
    const m = Hl7Message.parse(back);
    assert.equal(m.get('MSH-18'), 'UNICODE UTF-8');
    assert.equal(m.get('PID-5'), '이하늘');
    assert.equal(m.get('PID-8'), 'M');
    assert.equal(m.segments('NTE')[0].get('3'), 'Patient age: 52');
    assert.equal(m.segments('NTE')[1].get('3'), '검체 용혈 있음');
    assert.equal(m.get('OBX-8'), 'N');

    const b = decodeBytes(caseBytes('21-charset-euckr-latin1', 'input_b_euckr_no_msh18.bin'), 'euc-kr');
    const rb = convertToOru(b.text, { ...BASE, flags: obxFlags(b.text) });
    const mb = Hl7Message.parse(decodeBytes(encodeText(rb.text, rb.charset), 'latin1').text);
    assert.equal(mb.get('PID-5'), '강바다');
    assert.equal(mb.get('OBX-8'), 'L');
    assert.equal(mb.get('OBX-7'), '12.0-16.0');
  });

  it('case 21a: a Korean name in a KS X 1001 message, and HL7_BAD_CHARSET when the charset cannot carry it', () => {
    const a = decodeBytes(caseBytes('21-charset-euckr-latin1', 'input_a_euckr_msh18.bin'), 'utf-8');
    const r = convertToOru(a.text, { ...BASE, charset: 'KS X 1001' });
    assert.equal(r.charset, 'euc-kr');
    assert.equal(seg(r.text, 'MSH')[18], 'KS X 1001');
    const bytes = encodeText(r.text, r.charset);
    assert.ok(bytes.includes(Buffer.from([0xc0, 0xcc, 0xc7, 0xcf, 0xb4, 0xc3])));   // 이하늘 in EUC-KR
    assert.throws(() => convertToOru(a.text, { ...BASE, charset: '8859/1' }),
      (e: any) => e.code === 'HL7_BAD_CHARSET' && e.params.charset === 'latin1');
  });

  for (const file of ['input_c_latin1_8859.bin', 'input_d_latin1_isoir100.bin']) {
    it(`case 21 ${file}: standard v2.5 input, Latin-1 name and note survive (UTF-8 and 8859/1 out)`, () => {
      const d = decodeBytes(caseBytes('21-charset-euckr-latin1', file), 'utf-8');
      assert.equal(d.charset, 'latin1');
      const opts: ConvertOptions = { ...BASE, layout: 'standard', patientIdField: 'PID-3.1', barcodeField: 'OBR-3.1', deviceField: '',
        flags: obxFlags(d.text, true) };
      for (const charset of ['UNICODE UTF-8', '8859/1']) {
        const r = convertToOru(d.text, { ...opts, charset });
        const m = Hl7Message.parse(decodeBytes(encodeText(r.text, r.charset), 'utf-8').text);
        assert.equal(m.get('MSH-18'), charset);
        assert.equal(seg(r.text, 'PID')[3], 'DK77001^^^HOSP^MR~F21^^^HOSP^ACSN');
        assert.equal(m.get('PID-5.1'), 'SØNDERGÅRD');
        assert.equal(m.get('PID-5.2'), 'ÆSA');
        assert.equal(m.get('PID-7'), '19640912');
        assert.equal(m.get('PID-8'), 'F');
        assert.equal(m.get('NTE-3'), 'Prøve modtaget kl. 14:05, hæmolyse ± (Å-afsnit)');
        assert.deepEqual(['ORC-2', 'ORC-3', 'OBR-2', 'OBR-3', 'OBR-4', 'OBR-7'].map((p) => m.getRaw(p)),
          ['O21', 'F21', 'O21', 'F21', '2951-2^Natrium^LN', '20261102141500']);
        assert.deepEqual([2, 3, 4, 5, 6, 7, 8, 11, 14, 18].map((f) => m.segments('OBX')[0].getRaw(String(f))),
          ['NM', '2951-2^Natrium^LN', '', '133', 'mmol/L', '137-145', 'L', 'F', '20261102141500', '']);
        assert.equal(r.originalControlId, file.includes('8859') ? 'LAT-0001' : 'LAT-0002');
      }
    });
  }

  it('age: NTE (default), an Age OBX (LOINC 30525-0, UCUM unit) or nothing; a birth date in the MG age field goes to PID-7', () => {
    const obx = convertToOru(SPEC_RESULT, { ...BASE, age: 'obx' });
    assert.equal(seg(obx.text, 'OBX').join('|'), 'OBX|1|NM|30525-0^Age^LN||50|a^year^UCUM|||||F|||20090927151949');
    assert.equal(seg(obx.text, 'OBX', 2)[1], '2');
    assert.equal(seg(obx.text, 'OBX', 2)[3], 'HGB^HGB^L');
    assert.equal(obx.observations, 5);
    assert.ok(!obx.text.includes('\rNTE|'));
    const months = convertToOru(SPEC_RESULT.replace('홍길동||50|M', '홍길동||6M|M'), { ...BASE, age: 'obx' });
    assert.equal(seg(months.text, 'OBX')[6], 'mo^month^UCUM');
    assert.equal(seg(months.text, 'OBX')[5], '6');
    const none = convertToOru(SPEC_RESULT, { ...BASE, age: 'none' });
    assert.ok(!none.text.includes('Patient age') && !none.text.includes('30525-0'));
    const born = convertToOru(SPEC_RESULT.replace('홍길동||50|M', '홍길동||19760412|M'), BASE);
    assert.equal(seg(born.text, 'PID')[7], '19760412');
    assert.ok(!born.text.includes('\rNTE|'));
  });

  it('version, processing id, charset and result status are configurable; MSH-9 has 2 components before v2.3.1', () => {
    const r = convertToOru(SPEC_RESULT, { ...BASE, version: '2.3', processingId: 'T', charset: '', resultStatus: 'P' });
    const msh = seg(r.text, 'MSH');
    assert.deepEqual([msh[9], msh[11], msh[12], msh.length], ['ORU^R01', 'T', '2.3', 13]);
    assert.equal(r.charset, 'utf-8');
    assert.equal(seg(r.text, 'OBX')[11], 'P');
    assert.equal(seg(r.text, 'OBX')[18], undefined);   // OBX-18 exists from v2.4 on
    assert.equal(seg(r.text, 'OBR')[25], 'P');
    const keep = convertToOru(SPEC_RESULT, { ...BASE, resultStatus: 'keep' });
    assert.equal(seg(keep.text, 'OBX')[11], 'R');
    const hd = convertToOru(SPEC_RESULT, { ...BASE, sendingApplication: 'MGS^1.2.410.1^ISO' });
    assert.equal(seg(hd.text, 'MSH')[3], 'MGS^1.2.410.1^ISO');
  });

  it('flags from msg.obx win over OBX-8; without msg.obx the input OBX-8 is used (standard layout keeps A)', () => {
    const flagged = convertToOru(SPEC_RESULT, { ...BASE, flags: [{ index: 1, flag: 'HH' }, { setId: '4', flag: 'LL' }] });
    assert.deepEqual([1, 2, 3, 4].map((i) => seg(flagged.text, 'OBX', i)[8]), ['HH', '', '', 'LL']);
    const std = convertToOru(SPEC_RESULT, { ...BASE, layout: 'standard' });
    assert.equal(seg(std.text, 'OBX')[8], 'A');
  });

  it('carries several order groups, notes in place, and drops segments that have no place in an ORU^R01', () => {
    const text = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'EVN||1', 'PID|||1^E1^9|N||40|F', 'NTE|1||patient note',
      'PV1||I|W^1', 'OBR|1||||||20260101120000', 'NTE|1||order note', 'OBX|1|ST|01|A|1|||A|||R||P|', 'NTE|1||obx note',
      'OBR|2|P2|F2|PANEL^Panel^L|||20260101130000', 'OBX|1|ST|02|B|2|||A|||R||P|', 'ZZZ|1'].join('\r');
    const r = convertToOru(text, BASE);
    assert.deepEqual(r.text.split('\r').filter((l) => l).map((l) => l.slice(0, 3)),
      ['MSH', 'PID', 'NTE', 'NTE', 'PV1', 'ORC', 'OBR', 'NTE', 'OBX', 'NTE', 'ORC', 'OBR', 'OBX']);
    assert.deepEqual(r.dropped, ['EVN', 'ZZZ']);
    assert.equal(seg(r.text, 'NTE', 2).join('|'), 'NTE|2||patient note');
    assert.equal(seg(r.text, 'NTE', 3).join('|'), 'NTE|1||order note');
    assert.equal(seg(r.text, 'NTE', 4).join('|'), 'NTE|1||obx note');
    assert.deepEqual(seg(r.text, 'OBR', 2).slice(1, 5), ['2', 'P2', 'F2', 'PANEL^Panel^L']);
    assert.deepEqual(seg(r.text, 'ORC', 2), ['ORC', 'RE', 'P2', 'F2']);
    assert.equal(seg(r.text, 'OBX', 2)[1], '1');
    assert.equal(seg(r.text, 'OBX', 2)[14], '20260101130000');
  });

  it('fails with stable codes: no PID, no OBX, neither patient number nor barcode, not HL7', () => {
    const msh = 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3';
    assert.throws(() => convertToOru(`${msh}\rOBR|1\rOBX|1|ST|01|A|1`), (e: any) => e.code === 'HL7_MISSING_SEGMENT' && e.params.location === 'PID');
    assert.throws(() => convertToOru(`${msh}\rPID|||1^E1^9\rOBR|1`), (e: any) => e.code === 'HL7_MISSING_SEGMENT' && e.params.location === 'OBX');
    assert.throws(() => convertToOru(`${msh}\rPID|||^E1^\rOBR|1\rOBX|1|ST|01|A|1`),
      (e: any) => e.code === 'HL7_MISSING_FIELD' && e.params.location === 'PID-3.3');
    assert.throws(() => convertToOru('not hl7'), (e: any) => e.code === 'HL7_MISSING_MSH');
    const onlyBarcode = convertToOru(`${msh}\rPID|||7^E1^\rOBR|1\rOBX|1|ST|01|A|1`, BASE);
    assert.equal(seg(onlyBarcode.text, 'PID')[3], '7^^^HOSP^ACSN');
  });

  it('validates the options (CONFIG_INVALID)', () => {
    for (const bad of [{ version: '3.0' }, { processingId: 'x' }, { charset: 'KLINGON' }, { resultStatus: 'final' },
      { age: 'pid' }, { layout: 'x' }, { sendingApplication: 'A|B' }, { patientIdType: 'M^R' }, { patientIdField: 'PID3' },
      { codingSystem: 'L^X' }] as ConvertOptions[]) {
      assert.throws(() => resolveConvertOptions(bad), (e: any) => e.code === 'CONFIG_INVALID', JSON.stringify(bad));
    }
    const d = resolveConvertOptions({});
    assert.deepEqual([d.layout, d.version, d.processingId, d.charset, d.patientIdType, d.barcodeIdType, d.codingSystem, d.resultStatus, d.age],
      ['mg', '2.5.1', 'P', 'UNICODE UTF-8', 'MR', 'ACSN', 'L', 'F', 'nte']);
  });
});

// SPDX-License-Identifier: Apache-2.0
// Flagging whole messages: SPEC 2.3, cases 11, 13, 17 and 24, critical limits, the per-test table,
// and that re-encoding changes nothing but OBX-8.
import { strict as assert } from 'node:assert';
import { isGatewayError } from '../../../lib/errors';
import { Hl7Message } from '../../../lib/hl7/message';
import {
  STANDARD_DEMOGRAPHICS, ageFromBirthDate, flagObservations, flagValue, parseAge, parseRangeTable,
  readDemographics, type FlagOptions, type ObxEntry, type RangeTable,
} from '../../../lib/obx/range-check';
import { caseFile, fixture } from '../../helpers/paths';

const text = (c: string, f = 'input.hl7'): string => caseFile(c, f).toString('utf8');

function run(hl7: string, table: RangeTable = [], options: FlagOptions = {}): { m: Hl7Message; entries: ObxEntry[]; out: string } {
  const m = Hl7Message.parse(hl7);
  const entries = flagObservations(m, table, options);
  return { m, entries, out: m.encode() };
}

/** OBX-8 of every OBX segment of an encoded message (raw). */
function obx8(hl7: string): string[] {
  return Hl7Message.parse(hl7).segments('OBX').map((s) => s.getRaw('8'));
}

/** Positions (SEG#n-field) whose raw text differs between two encodings of the same message. */
function changedFields(a: string, b: string): string[] {
  const sa = a.split('\r');
  const sb = b.split('\r');
  assert.equal(sb.length, sa.length, 'segment count');
  const out: string[] = [];
  sa.forEach((seg, i) => {
    const fa = seg.split('|');
    const fb = sb[i].split('|');
    for (let f = 0; f < Math.max(fa.length, fb.length); f++) {
      if ((fa[f] ?? '') !== (fb[f] ?? '')) out.push(`${fa[0]}#${i + 1}-${f}`);
    }
  });
  return out;
}

/** A small MG result with the given OBX rows `[test, value, range]` and patient sex/age (MG layout). */
function mgResult(rows: Array<[string, string, string]>, sex = 'M', age = '50'): string {
  return [
    'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3',
    `PID|||107558^E024^1234|TEST^PATIENT||${age}|${sex}`,
    'PV1||E|1111^2222',
    'OBR|1||||||20260101120000',
    ...rows.map(([t, v, r], i) => `OBX|${i + 1}|ST|${String(i + 1).padStart(2, '0')}|${t}|${v}|u|${r}|A|||R||P|`),
  ].join('\r') + '\r';
}

describe('lib/obx/range-check', () => {
  describe('SPEC 2.3: the MG result', () => {
    it('flags HGB N, HCT N, RBC none (not-numeric), WBC L, and writes them into OBX-8', () => {
      const { entries, out } = run(fixture('vectors', 'fig10-result.hl7').toString('utf8'));
      assert.deepEqual(entries.map((e) => [e.test, e.flag, e.reason]), [
        ['HGB', 'N', undefined], ['HCT', 'N', undefined], ['RBC', '', 'not-numeric'], ['WBC', 'L', undefined],
      ]);
      assert.deepEqual(obx8(out), ['N', 'N', '', 'L']);
      assert.deepEqual(entries[2], {
        setId: '3', code: '02', test: 'RBC', name: '', value: 'TEST', units: '*10-6/mm-3', range: '3.8~5.6',
        flag: '', deviceFlag: 'A', reason: 'not-numeric', index: 3, valueType: 'ST', low: 3.8, high: 5.6,
        rangeSource: 'message', overridden: true,
      });
      assert.deepEqual([entries[0].low, entries[0].high, entries[0].range], [11.2, 17.2, '11.2~17.2']);
    });

    it('changes only OBX-8 and keeps the ~ of OBX-7 as a repetition separator', () => {
      const input = fixture('vectors', 'fig10-result.hl7').toString('utf8');
      const { out } = run(input);
      assert.deepEqual(changedFields(input, out), ['OBX#5-8', 'OBX#6-8', 'OBX#7-8', 'OBX#8-8']);
      assert.equal(Hl7Message.parse(out).segments('OBX')[0].getRaw('7'), '11.2~17.2');
      assert.ok(out.includes('PID|||107558^E024^1234|홍길동||50|M\r'));
    });
  });

  describe('case 17: range formats in one message', () => {
    const expected = ['N', 'L', 'H', 'N', 'H', 'L', 'N', 'N', 'N', 'L', 'N', 'L', 'H', 'L', 'H', 'H', 'L', '', 'N'];

    it('gives every row its OBX-8, TSH empty with reason decimal-comma by default', () => {
      const input = text('17-refrange-formats-flags');
      const { entries, out } = run(input);
      assert.deepEqual(obx8(out), expected);
      assert.equal(entries.length, 19);
      assert.deepEqual(entries.filter((e) => e.reason).map((e) => [e.test, e.reason]), [['TSH', 'decimal-comma']]);
      assert.deepEqual(changedFields(input, out), expected.map((_f, i) => `OBX#${i + 5}-8`));
    });

    it('gives TSH H when the site enables decimal commas', () => {
      const { entries, out } = run(text('17-refrange-formats-flags'), [], { decimalComma: true });
      assert.deepEqual(obx8(out), expected.map((f, i) => (i === 17 ? 'H' : f)));
      assert.equal(entries.some((e) => e.reason), false);
      assert.equal(entries[17].numeric, 4.2);   // the number it was flagged as, for the EMR's numeric column
    });

    it('gives each plainly numeric value as a number, and none for 4,2 when decimal commas are off', () => {
      const { entries } = run(text('17-refrange-formats-flags'));
      assert.deepEqual(entries.map((e) => e.numeric ?? null),
        [12.7, 2, 5.8, 3, 7.2, 8, 10, 100, 70, -3.1, 1.5, 0.4, 1.2, 1.1, 1.3, 0.6, 3.4, null, 150]);
    });

    it('forwards OBX-7 exactly as received', () => {
      const input = text('17-refrange-formats-flags');
      const before = Hl7Message.parse(input).segments('OBX').map((s) => s.getRaw('7'));
      const after = Hl7Message.parse(run(input).out).segments('OBX').map((s) => s.getRaw('7'));
      assert.deepEqual(after, before);
      assert.deepEqual([after[0], after[1], after[18], after[14]], ['11.2~17.2', '3.2~10.2', '150~400', ' 0.5 - 1.2 ']);
    });
  });

  describe('case 24: Mindray BC relayed by the MG', () => {
    const input = text('24-hematology-mindray-bc-relay');

    it('sets OBX-8 of every row: MGS flag first, device repetitions kept, IS rows untouched', () => {
      const { out } = run(input);
      assert.deepEqual(obx8(out), [
        '', '', '', '',                                            // 1-4 IS mode rows
        'H~N', 'H~N', 'N', 'H~N', 'L~N', 'N', 'L~N', 'L~N',        // 5-12
        'N', 'N', 'N', 'N', 'N', 'H~N',                            // 13-18 (PLT 100 vs 100-300: N)
        '',                                                        // 19 H-NR% ****: first repetition emptied
        '',                                                        // 20 IS alarm row
      ]);
      assert.deepEqual(changedFields(input, out), ['OBX#23-8']);
    });

    it('counts 14 numeric results and 1 not evaluable, and no IS row', () => {
      const { entries } = run(input);
      assert.equal(entries.length, 15);
      assert.equal(entries.filter((e) => e.flag !== '').length, 14);
      const notEvaluable = entries.filter((e) => e.flag === '');
      assert.deepEqual(notEvaluable.map((e) => [e.index, e.name, e.value, e.deviceFlag, e.reason, e.overridden]),
        [[19, 'H-NR%', '****', 'N', 'not-reported', true]]);
      assert.deepEqual(entries.map((e) => e.valueType), Array(15).fill('NM'));
      assert.deepEqual(entries.filter((e) => e.overridden).map((e) => e.index), [19]);
      const wbc = entries[0];
      assert.deepEqual([wbc.code, wbc.name, wbc.test, wbc.value, wbc.units, wbc.range, wbc.flag, wbc.deviceFlag],
        ['6690-2', 'WBC', '', '10.42', '10*3/uL', '4.00-10.00', 'H', 'H']);
    });

    it('flags IS rows too when a site lists IS as a result type', () => {
      const { entries } = run(input, [], { resultTypes: ['NM', 'IS'] });
      assert.equal(entries.length, 20);
      assert.deepEqual(entries.filter((e) => e.valueType === 'IS').map((e) => e.reason),
        ['not-numeric', 'not-numeric', 'not-numeric', 'not-numeric', 'not-numeric']);
    });
  });

  describe('case 13: null and empty', () => {
    const input = text('13-null-vs-empty-fields');

    it('gives N only to WBC and records why the others have no flag', () => {
      const { entries, out } = run(input);
      assert.deepEqual(entries.map((e) => [e.test, e.flag, e.reason ?? null]), [
        ['HGB', '', 'null-value'], ['HCT', '', 'no-range'], ['RBC', '', 'no-range'], ['WBC', 'N', null], ['PLT', '', 'no-value'],
      ]);
      assert.deepEqual(obx8(out), ['', '', '', 'N', '']);
      assert.deepEqual(entries.map((e) => e.value), [null, '41.2', '4.61', '7.4', '']);
      assert.deepEqual(entries.map((e) => e.range), ['11.2~17.2', null, '', '3.2~10.2', '150~400']);
    });

    it('keeps "" as "" and trailing empty fields when re-encoding', () => {
      const { out } = run(input);
      assert.deepEqual(changedFields(input, out), ['OBX#5-8', 'OBX#6-8', 'OBX#7-8', 'OBX#8-8', 'OBX#9-8']);
      assert.ok(out.includes('OBX|1|ST|03|HGB|""|g/dl|11.2~17.2||||R||P|\r'));
      assert.ok(out.includes('OBX|2|ST|04|HCT|41.2|%|""||||R||P|\r'));
      assert.ok(out.includes('OBX|4|ST|01|WBC|7.4|*10-6/mm-3|3.2~10.2|N|||R||Q||||||\r'));
    });
  });

  describe('case 11: a text result (FT) beside a numeric one', () => {
    const input = text('11-escape-sequences-decode');

    it('passes the FT row on as a result with its decoded text, no flag, reason text, OBX-8 untouched', () => {
      const { entries, out } = run(input);
      assert.deepEqual(entries.map((e) => [e.index, e.valueType, e.flag, e.reason ?? null, e.overridden]),
        [[1, 'FT', '', 'text', false], [2, 'NM', 'N', null, false]]);
      assert.equal(entries[0].value, caseFile('11-escape-sequences-decode', 'expected_obx1_text.bin').toString('utf8'));
      assert.equal(entries[1].units, 'g^dL');
      assert.deepEqual(changedFields(input, out), ['OBX#5-8']);
    });

    it('keeps a lab\'s OBX-8 on a text row: no range applies, so the gateway has no flag of its own to put there', () => {
      const { entries, out } = run('MSH|^~\\&|LAB|X|||20261102||ORU^R01|T1|P|2.5\rOBX|1|TX|REPORT||see text|||A|||F\r');
      assert.deepEqual(entries.map((e) => [e.flag, e.deviceFlag, e.reason]), [['', 'A', 'text']]);
      assert.deepEqual(obx8(out), ['A']);
    });

    it('passes text rows on even when the result types leave them out', () => {
      const { entries } = run(input, [], { resultTypes: ['NM'] });
      assert.deepEqual(entries.map((e) => e.valueType), ['FT', 'NM']);
    });
  });

  describe('critical limits', () => {
    const table: RangeTable = [{ test: 'K', criticalLow: 2.5, criticalHigh: 6.5 }, { code: '04', criticalHigh: 30 }];

    it('gives LL/HH at or beyond the limits and L/H/N between', () => {
      const rows: Array<[string, string, string]> = [
        ['K', '2.4', '3.5-5.0'], ['K', '2.5', '3.5-5.0'], ['K', '3.0', '3.5-5.0'], ['K', '4.1', '3.5-5.0'],
        ['K', '5.8', '3.5-5.0'], ['K', '6.5', '3.5-5.0'], ['K', '7.9', '3.5-5.0'],
      ];
      const { entries, out } = run(mgResult(rows), table);
      assert.deepEqual(entries.map((e) => e.flag), ['LL', 'LL', 'L', 'N', 'H', 'HH', 'HH']);
      assert.deepEqual(obx8(out), ['LL', 'LL', 'L', 'N', 'H', 'HH', 'HH']);
      assert.deepEqual([entries[0].criticalLow, entries[0].criticalHigh], [2.5, 6.5]);
    });

    it('raises LL/HH even when the message range is missing or unreadable, and matches OBX-3.1 too', () => {
      const { entries } = run(mgResult([['K', '7.0', ''], ['K', '1.9', 'see note'], ['K', '4.0', ''], ['WBC', '35', '4-10']]), table);
      assert.deepEqual(entries.map((e) => [e.flag, e.reason ?? null]), [['HH', null], ['LL', null], ['', 'no-range'], ['HH', null]]);
      assert.equal(entries[3].code, '04');
    });

    it('flagValue follows table 0078', () => {
      const r = { low: 3.5, high: 5.0, criticalLow: 2.5, criticalHigh: 6.5 };
      assert.deepEqual([2, 2.5, 2.6, 3.5, 5, 5.1, 6.5, 7].map((v) => flagValue(v, r)), ['LL', 'LL', 'L', 'N', 'N', 'H', 'HH', 'HH']);
    });
  });

  describe('per-test table: sex- and age-specific ranges', () => {
    const table: RangeTable = parseRangeTable(JSON.stringify([
      { test: 'HGB', code: '718-7', range: '11.2-17.2', criticalLow: 5,
        ranges: [
          { sex: 'M', ageFrom: 18, low: 13.0, high: 17.0 },
          { sex: 'F', ageFrom: 18, low: 12.0, high: 15.5 },
          { ageUnder: 18, low: 11.0, high: 14.0, criticalLow: 6 },
        ] },
    ]));

    it('uses the table only when the message has no range (by default)', () => {
      assert.deepEqual(run(mgResult([['HGB', '12.7', '11.2~17.2']]), table).entries.map((e) => [e.flag, e.rangeSource]), [['N', 'message']]);
      const { entries } = run(mgResult([['HGB', '12.7', '']]), table);
      assert.deepEqual(entries.map((e) => [e.flag, e.rangeSource, e.low, e.high]), [['L', 'table', 13, 17]]);
    });

    it('prefers the table when configured', () => {
      const { entries } = run(mgResult([['HGB', '12.7', '11.2~17.2']]), table, { preferTable: true });
      assert.deepEqual(entries.map((e) => [e.flag, e.rangeSource]), [['L', 'table']]);
    });

    it('picks the band by sex and age read from the MG layout (PID-7 sex, PID-6 age)', () => {
      const flag = (sex: string, age: string, v: string): string => run(mgResult([['HGB', v, '']], sex, age), table).entries[0].flag;
      assert.equal(flag('M', '50', '12.7'), 'L');
      assert.equal(flag('F', '50', '12.7'), 'N');
      assert.equal(flag('F', '50', '15.8'), 'H');
      assert.equal(flag('M', '10', '14.5'), 'H');        // child band
      assert.equal(flag('M', '17', '14.5'), 'H');        // ageUnder is exclusive
      assert.equal(flag('M', '18', '14.5'), 'N');
      assert.equal(flag('M', '10', '5.5'), 'LL');        // the band's own critical limit
      assert.equal(flag('M', '50', '5.5'), 'L');
      assert.equal(flag('', '', '11.0'), 'L');           // unknown patient: the entry's own range
      assert.equal(flag('""', '""', '11.5'), 'N');
    });

    it('reads standard HL7 positions when configured (PID-8 sex, PID-7 birth date, age at OBR-7)', () => {
      const hl7 = [
        'MSH|^~\\&|LAB|H|MGS|W|20260101120000||ORU^R01|C1|P|2.5',
        'PID|1||KR1||TEST^A||20100301|M',
        'OBR|1|||HGB|||20260115080000',
        'OBX|1|NM|718-7^Hemoglobin^LN||14.5|g/dL|||||F',
      ].join('\r');
      const { entries } = run(hl7, table, { demographics: STANDARD_DEMOGRAPHICS });
      assert.deepEqual(entries.map((e) => [e.flag, e.low, e.high]), [['H', 11, 14]]);
      assert.deepEqual(readDemographics(Hl7Message.parse(hl7), STANDARD_DEMOGRAPHICS), { sex: 'M', ageYears: 15 });
      assert.equal(run(hl7, table).entries[0].flag, 'N');   // MG layout would read the birth date as a sex: entry range
    });

    it('reads ages and birth dates', () => {
      assert.equal(parseAge('50'), 50);
      assert.equal(parseAge('6M'), 0.5);
      assert.equal(parseAge('abc'), undefined);
      assert.equal(ageFromBirthDate('19850317', '20260316'), 40);
      assert.equal(ageFromBirthDate('19850317', '20260317'), 41);
      assert.equal(ageFromBirthDate('20000229', '20260228'), 25);
    });

    it('rejects a bad table at deploy with CONFIG_INVALID naming the entry', () => {
      const bad: Array<[string, RegExp]> = [
        ['{', /not JSON/], ['{}', /array/], ['[{"low": 1}]', /entry 1: needs "test"/],
        ['[{"test": "K", "low": "3.5"}]', /entry 1: low must be a number/],
        ['[{"test": "K"}, {"test": "NA", "range": "abc"}]', /entry 2: range "abc" not understood/],
        ['[{"test": "K", "criticalLow": 7, "criticalHigh": 2}]', /criticalLow >= criticalHigh/],
        ['[{"test": "K", "ranges": [{"sex": "X", "low": 1}]}]', /entry 1 range 1: sex/],
        ['[{"test": "K", "hihg": 5}]', /unknown property "hihg"/],
      ];
      for (const [json, detail] of bad) {
        assert.throws(() => parseRangeTable(json), (e: unknown) => isGatewayError(e, 'CONFIG_INVALID') && detail.test(String(e.params.detail)), json);
      }
      assert.deepEqual(parseRangeTable(''), []);
      assert.deepEqual(parseRangeTable('[]'), []);
    });
  });

  describe('flag writing', () => {
    it('lets MGS win over a device flag that differs, keeps further repetitions, leaves other bytes alone', () => {
      const input = [
        'MSH|^~\\&|DEV|LAB|||20260101||ORU^R01|X1|P|2.3.1',
        'OBX|1|NM|K||5.8|mmol/L|3.5-5.0|N~A|||F',
        'OBX|2|NM|NA||140|mmol/L|135-145|H|||F',
        'OBX|3|SN|CRP||<^0.5|mg/L|<5||||F',
        'OBX|4|NM|GLU||110|mg/dL|70-100',
        'OBX|5|TX|NOTE||see \\T\\ report',
      ].join('\r');
      const { entries, out } = run(input);
      assert.deepEqual(entries.map((e) => [e.flag, e.deviceFlag, e.overridden]),
        [['H', 'N', true], ['N', 'H', true], ['N', '', false], ['H', '', false], ['', '', false]]);
      assert.deepEqual(obx8(out), ['H~A', 'N', 'N', 'H', '']);
      assert.equal(out.split('\r')[4], 'OBX|4|NM|GLU||110|mg/dL|70-100|H');
      assert.equal(out.split('\r')[5], 'OBX|5|TX|NOTE||see \\T\\ report');
    });

    it('computes without writing when asked', () => {
      const input = text('17-refrange-formats-flags');
      const m = Hl7Message.parse(input);
      assert.equal(flagObservations(m, [], { write: false }).length, 19);
      assert.equal(m.encode(), input);
    });
  });
});

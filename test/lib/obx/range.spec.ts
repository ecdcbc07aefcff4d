// SPDX-License-Identifier: Apache-2.0
// Reference-range formats (SPEC 2.3, case 17) and value parsing.
import { strict as assert } from 'node:assert';
import { parseRange, parseRangeText, parseValue } from '../../../lib/obx/range';
import { flagParsedValue, flagValue } from '../../../lib/obx/range-check';

/** Flag of a value against a range text, as the gateway would give it ('' + reason when not evaluable). */
function check(value: string, range: string, decimalComma = false): string {
  const v = parseValue(value, { decimalComma });
  const r = parseRangeText(range, { decimalComma });
  if (!v.ok) return `(${v.reason})`;
  if (!r.ok) return `(${r.reason})`;
  const o = flagParsedValue(v, r.range);
  return o.flag || `(${o.reason})`;
}

describe('lib/obx/range', () => {
  describe('parseRange: every form of case 17 and SPEC 2.3', () => {
    const forms: Array<[string, object]> = [
      ['11.2~17.2', { low: 11.2, high: 17.2 }],
      ['11.2-17.2', { low: 11.2, high: 17.2 }],
      [' 0.5 - 1.2 ', { low: 0.5, high: 1.2 }],
      ['<5', { high: 5, highExclusive: true }],
      ['<=0.5', { high: 0.5 }],
      ['>5', { low: 5, lowExclusive: true }],
      ['>=10', { low: 10 }],
      ['0.5-', { low: 0.5 }],
      ['-1.0', { high: 1 }],
      ['-2.0-2.0', { low: -2, high: 2 }],
      ['-5--2', { low: -5, high: -2 }],
      ['3.5-5.0 mmol/L', { low: 3.5, high: 5 }],
      ['4.00-10.00 10*3/uL', { low: 4, high: 10 }],
      ['<5mg/L', { high: 5, highExclusive: true }],
      ['150~400', { low: 150, high: 400 }],
      ['4.00-10.00', { low: 4, high: 10 }],
      ['70 \u2013 100', { low: 70, high: 100 }],
    ];
    for (const [text, range] of forms) {
      it(`reads ${JSON.stringify(text)}`, () => {
        assert.deepEqual(parseRangeText(text), { ok: true, range });
      });
    }

    it('reads the MG low~high from the two repetitions a parser hands over', () => {
      assert.deepEqual(parseRange(['11.2', '17.2'], '11.2~17.2'), { ok: true, range: { low: 11.2, high: 17.2 } });
    });

    it('reads decimal commas only when the site enables them', () => {
      assert.deepEqual(parseRangeText('0,4-4,0'), { ok: false, reason: 'decimal-comma' });
      assert.deepEqual(parseRangeText('0,4-4,0', { decimalComma: true }), { ok: true, range: { low: 0.4, high: 4 } });
      assert.deepEqual(parseRange(['0,4', '4,0'], '0,4~4,0', { decimalComma: true }), { ok: true, range: { low: 0.4, high: 4 } });
      assert.deepEqual(parseRangeText('-1,0', { decimalComma: false }), { ok: false, reason: 'decimal-comma' });
    });

    it('treats the HL7 null and an empty field as no range', () => {
      assert.deepEqual(parseRange([''], '""'), { ok: false, reason: 'no-range' });
      assert.deepEqual(parseRange([], ''), { ok: false, reason: 'no-range' });
      assert.deepEqual(parseRange([], '   '), { ok: false, reason: 'no-range' });
    });

    for (const text of ['5', 'abc', 'N/A', '1-2-3', '10-5', '1~2~3', '5 < 6', 'negative', '1-2 and 3', '3.5-5.0 mmol / L', '~']) {
      it(`answers "not understood" for ${JSON.stringify(text)} instead of guessing`, () => {
        const r = parseRangeText(text);
        assert.equal(r.ok, false);
        assert.equal(!r.ok && r.reason, text === '~' ? 'no-range' : 'bad-range');
      });
    }
  });

  describe('parseValue', () => {
    it('reads numbers, and bounded values like <0.01', () => {
      assert.deepEqual(parseValue('12.7'), { ok: true, value: 12.7 });
      assert.deepEqual(parseValue(' -3.1 '), { ok: true, value: -3.1 });
      assert.deepEqual(parseValue('.5'), { ok: true, value: 0.5 });
      assert.deepEqual(parseValue('<0.01'), { ok: true, value: 0.01, comparator: '<' });
      assert.deepEqual(parseValue('>=500'), { ok: true, value: 500, comparator: '>=' });
    });

    it('gives a reason for everything that is not a number', () => {
      assert.deepEqual(parseValue(null), { ok: false, reason: 'null-value' });
      assert.deepEqual(parseValue(''), { ok: false, reason: 'no-value' });
      assert.deepEqual(parseValue('TEST'), { ok: false, reason: 'not-numeric' });
      assert.deepEqual(parseValue('****'), { ok: false, reason: 'not-reported' });
      assert.deepEqual(parseValue('5.2 mg/dL'), { ok: false, reason: 'not-numeric' });
      assert.deepEqual(parseValue('4,2'), { ok: false, reason: 'decimal-comma' });
      assert.deepEqual(parseValue('4,2', { decimalComma: true }), { ok: true, value: 4.2 });
    });
  });

  describe('case 17: every row of the table', () => {
    const rows: Array<[string, string, string, string]> = [
      ['HGB', '12.7', '11.2~17.2', 'N'],
      ['WBC', '2', '3.2~10.2', 'L'],
      ['K', '5.8', '3.5-5.0', 'H'],
      ['CRP', '3', '<5', 'N'],
      ['CRP2', '7.2', '<5', 'H'],
      ['VITD', '8', '>=10', 'L'],
      ['VITD2', '10', '>=10', 'N'],
      ['GLU', '100', '70-100', 'N'],
      ['GLU2', '70', '70-100', 'N'],
      ['BE', '-3.1', '-2.0-2.0', 'L'],
      ['BE2', '1.5', '-2.0-2.0', 'N'],
      ['ALB', '0.4', '0.5-', 'L'],
      ['TBIL', '1.2', '-1.0', 'H'],
      ['LDL', '1.1', '>5', 'L'],
      ['CREA', '1.3', ' 0.5 - 1.2 ', 'H'],
      ['TROP', '0.6', '<=0.5', 'H'],
      ['K2', '3.4', '3.5-5.0 mmol/L', 'L'],
      ['TSH', '4,2', '0,4-4,0', '(decimal-comma)'],
      ['PLT', '150', '150~400', 'N'],
    ];
    for (const [test, value, range, flag] of rows) {
      it(`${test} ${value} vs ${JSON.stringify(range)} -> ${flag}`, () => {
        assert.equal(check(value, range), flag);
      });
    }
    it('TSH 4,2 vs 0,4-4,0 -> H when the site enables decimal commas', () => {
      assert.equal(check('4,2', '0,4-4,0', true), 'H');
    });
  });

  describe('strict and inclusive bounds', () => {
    it('gives H for 7.2 vs <5, L for 1.1 vs >5, N for 10 vs >=10, and the bounds themselves', () => {
      assert.equal(check('7.2', '<5'), 'H');
      assert.equal(check('5', '<5'), 'H');
      assert.equal(check('4.99', '<5'), 'N');
      assert.equal(check('1.1', '>5'), 'L');
      assert.equal(check('5', '>5'), 'L');
      assert.equal(check('10', '>=10'), 'N');
      assert.equal(check('0.5', '<=0.5'), 'N');
      assert.equal(flagValue(100, { low: 100, high: 300 }), 'N');
      assert.equal(flagValue(300, { low: 100, high: 300 }), 'N');
    });

    it('flags a bounded value only when every value it stands for gets the same flag', () => {
      assert.equal(check('<0.01', '<=0.04'), 'N');
      assert.equal(check('>500', '70-100'), 'H');
      assert.equal(check('>=100', '70-100'), '(ambiguous-value)');
      assert.equal(check('>100', '70-100'), 'H');
      assert.equal(check('<70', '70-100'), 'L');
      assert.equal(check('<5', '3-10'), '(ambiguous-value)');
      assert.equal(check('>10', '>=10'), 'N');
    });
  });
});

// SPDX-License-Identifier: Apache-2.0
// Required-field rules: case 09 frame D, the default rules on the SPEC messages, alternatives, patterns,
// lists, repeated segments, the reply a failure asks for, and the checks made on the rules themselves.
import { strict as assert } from 'node:assert';
import { isGatewayError } from '../../../lib/errors';
import { Hl7Message } from '../../../lib/hl7/message';
import {
  DEFAULT_VALIDATION_RULES, decisiveFailure, defaultValidationRulesJson, parseValidationRules, validateMessage, validationError,
  type RequiredRule,
} from '../../../lib/validate/rules';
import { caseFile, fixture } from '../../helpers/paths';

const C09 = '09-ack-nak-ae-ar-err';
const defaults = parseValidationRules('');
const parse = (s: string | Buffer): Hl7Message => Hl7Message.parse(s.toString());
const failuresOf = (text: string | Buffer, rules: unknown = '') => validateMessage(parse(text), parseValidationRules(rules));

const SPEC_RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');
const msg = (...segs: string[]): string => ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', ...segs].join('\r') + '\r';

/** The CONFIG_BAD_RULES detail for rules that must be refused. */
function refused(rules: unknown): string {
  try {
    parseValidationRules(rules);
  } catch (err) {
    assert.ok(isGatewayError(err, 'CONFIG_BAD_RULES'), String(err));
    return String(err.params.detail);
  }
  assert.fail('rules were accepted');
}

describe('lib/validate/rules', () => {
  describe('default rules (MG barcode results)', () => {
    it('case 09 frame D (PID-3 empty): one failure, AE at PID-3 with code 101', () => {
      assert.deepEqual(failuresOf(caseFile(C09, 'input_d.hl7')), [
        { index: 0, rule: 'Barcode (PID-3.1) or patient number (PID-3.3)', reason: 'missing-field', location: 'PID-3', hl7Code: '101', ackCode: 'AE' },
      ]);
    });

    it('case 09 frame E and the SPEC 2.3 result pass', () => {
      assert.deepEqual(failuresOf(caseFile(C09, 'input_e.hl7')), []);
      assert.deepEqual(failuresOf(SPEC_RESULT), []);
    });

    it('a patient number alone (PID-3.3) is enough, a barcode alone too', () => {
      assert.deepEqual(failuresOf(msg('PID|||^E024^1234', 'OBR|1', 'OBX|1|ST|03|HGB|12.7')), []);
      assert.deepEqual(failuresOf(msg('PID|||107558^E024^', 'OBR|1', 'OBX|1|ST|03|HGB|12.7')), []);
    });

    it('the device code alone (PID-3.2) is not; nor is the HL7 null ""', () => {
      assert.equal(failuresOf(msg('PID|||^E024^', 'OBR|1', 'OBX|1|ST|03|HGB|12.7'))[0].location, 'PID-3');
      assert.equal(failuresOf(msg('PID|||""^E024^""', 'OBR|1', 'OBX|1|ST|03|HGB|12.7'))[0].hl7Code, '101');
    });

    it('no PID, no OBR, no OBX: three failures in rule order, segments with code 100', () => {
      const f = failuresOf(msg('PV1||E'));
      assert.deepEqual(f.map((x) => [x.reason, x.location, x.hl7Code, x.ackCode]), [
        ['missing-field', 'PID-3', '101', 'AE'], ['missing-segment', 'OBR', '100', 'AE'], ['missing-segment', 'OBX', '100', 'AE'],
      ]);
    });

    it('the JSON shown in the editor is the default list', () => {
      assert.deepEqual(JSON.parse(defaultValidationRulesJson()), DEFAULT_VALIDATION_RULES);
      assert.equal(parseValidationRules(undefined).compiled.length, 3);
    });
  });

  describe('rule forms', () => {
    it('one field: its own path is the location; the default code is 101', () => {
      assert.deepEqual(failuresOf(msg('PID|||107558'), [{ field: 'PID-7' }]).map((x) => [x.rule, x.location, x.hl7Code, x.ackCode]),
        [['rule 1', 'PID-7', '101', 'AE']]);
      assert.equal(failuresOf(msg('PID|||107558'), [{ field: 'pid-3.2' }])[0].location, 'PID-3.2');
      assert.equal(failuresOf(msg('PID|||107558'), [{ field: 'PID-3[2].1' }])[0].location, 'PID-3[2].1');
    });

    it('alternatives as a list, with "|" or ","; different fields: the first is the location', () => {
      const rules = [{ field: ['PID-3.1', 'PID-3.3'] }];
      assert.equal(failuresOf(msg('PID|||^E024^'), rules)[0].location, 'PID-3');
      assert.deepEqual(failuresOf(msg('PID|||^E024^9'), [{ field: 'PID-3.1 | PID-3.3' }]), []);
      assert.deepEqual(failuresOf(msg('PID|||^E024^9'), [{ field: 'PID-3.1, PID-3.3' }]), []);
      assert.equal(failuresOf(msg('PID|||^E024^'), [{ field: 'PID-2 or PID-3.1' }])[0].location, 'PID-2');
      assert.deepEqual(failuresOf(msg('ORC|NW'), [{ field: 'OBR or ORC' }]), []);
    });

    it('an explicit location, ackCode AR and hl7Code win', () => {
      const f = failuresOf(msg('PID|||107558'), [{ name: 'sex', field: 'PID-7', ackCode: 'AR', hl7Code: '207', location: 'PID-7' }]);
      assert.deepEqual(f, [{ index: 0, rule: 'sex', reason: 'missing-field', location: 'PID-7', hl7Code: '207', ackCode: 'AR' }]);
      assert.equal(failuresOf(msg('PID|||107558'), [{ field: 'PID-7', hl7Code: 101 }])[0].hl7Code, '101');
    });

    it('pattern: a present value that does not match fails with 102; the value itself is never reported', () => {
      const rules: RequiredRule[] = [{ field: 'PID-3.1', pattern: '^[0-9]{6}$' }];
      assert.deepEqual(failuresOf(msg('PID|||107558'), rules), []);
      const f = failuresOf(msg('PID|||10755X'), rules);
      assert.deepEqual(f, [{ index: 0, rule: 'rule 1', reason: 'pattern', location: 'PID-3.1', hl7Code: '102', ackCode: 'AE' }]);
      assert.ok(!JSON.stringify(validationError(f).params).includes('10755X'));
      assert.deepEqual(failuresOf(msg('PID|||abc'), [{ field: 'PID-3.1', pattern: '^ABC$', flags: 'i' }]), []);
      assert.equal(failuresOf(msg('PID|||'), rules)[0].reason, 'missing-field');
    });

    it('values: not in the list fails with 103; escapes are decoded before comparing', () => {
      const rules: RequiredRule[] = [{ field: 'PID-7', values: ['M', 'F'], required: false }];
      assert.deepEqual(failuresOf(msg('PID|||1||||M'), rules), []);
      assert.deepEqual(failuresOf(msg('PID|||1||||X'), rules).map((x) => [x.reason, x.hl7Code]), [['values', '103']]);
      assert.deepEqual(failuresOf(msg('PID|||1||||'), rules), [], 'required: false lets an empty field pass');
      assert.deepEqual(failuresOf(msg('OBX|1|ST|03|A\\T\\B|1'), [{ field: 'OBX-4', values: ['A&B'] }]), []);
    });

    it('scope all: every OBX is checked, the failing one is named by its index', () => {
      const text = msg('OBR|1', 'OBX|1|ST|03|HGB|12.7', 'OBX|2|ST||HCT|39.1', 'OBX|3|ST||RBC|4.1');
      const f = failuresOf(text, [{ field: 'OBX-3 or OBX-4', scope: 'all' }, { field: 'OBX-3', scope: 'all' }]);
      assert.deepEqual(f.map((x) => [x.index, x.location]), [[1, 'OBX[2]-3'], [1, 'OBX[3]-3']]);
      assert.deepEqual(failuresOf(msg('OBR|1'), [{ field: 'OBX-3', scope: 'all' }]), [], 'no OBX: nothing to check');
      assert.equal(failuresOf(text, [{ field: 'OBX-3' }]).length, 0, 'scope first: only the first OBX');
      assert.equal(failuresOf(text, [{ field: 'OBX[2]-3' }])[0].location, 'OBX[2]-3');
    });

    it('disabled rules are kept but not checked', () => {
      const set = parseValidationRules([{ field: 'ZZZ', enabled: false }, { field: 'PID-3.1' }]);
      assert.equal(set.rules.length, 2);
      assert.equal(set.compiled.length, 1);
      assert.deepEqual(validateMessage(parse(msg('PID|||1')), set), []);
    });

    it('MSH fields can be required too', () => {
      assert.deepEqual(failuresOf(msg(), [{ field: 'MSH-10', values: ['BARCODE', 'IMAGE'] }]), []);
      assert.equal(failuresOf(msg(), [{ field: 'MSH-4', values: ['B0802'] }])[0].reason, 'values');
    });
  });

  describe('the reply a failure asks for', () => {
    it('HL7_MISSING_FIELD with location, hl7Code, ackCode and the other failures in detail', () => {
      const e = validationError(failuresOf(msg('PV1||E')));
      assert.equal(e.code, 'HL7_MISSING_FIELD');
      assert.deepEqual(e.params, {
        location: 'PID-3', hl7Code: '101', ackCode: 'AE', rule: 'Barcode (PID-3.1) or patient number (PID-3.3)', failures: 3,
        detail: 'PID-3 101, OBR 100, OBX 100',
      });
    });

    it('HL7_MISSING_SEGMENT and HL7_INVALID_FIELD', () => {
      const seg = validationError(failuresOf(msg('PID|||1', 'OBX|1|ST|03|HGB|1')));
      assert.equal(seg.code, 'HL7_MISSING_SEGMENT');
      assert.equal(seg.params.location, 'OBR');
      assert.equal(seg.params.hl7Code, '100');
      const inv = validationError(failuresOf(msg('PID|||1||||X'), [{ field: 'PID-7', values: ['M', 'F'] }]));
      assert.equal(inv.code, 'HL7_INVALID_FIELD');
      assert.equal(inv.params.hl7Code, '103');
    });

    it('an AR failure decides over an earlier AE one', () => {
      const f = failuresOf(msg('PID|||'), [{ field: 'PID-3.1' }, { field: 'PID-7', ackCode: 'AR' }, { field: 'PID-8', ackCode: 'AR' }]);
      assert.deepEqual(decisiveFailure(f), f[1]);
      assert.equal(validationError(f).params.ackCode, 'AR');
      assert.equal(validationError(f).params.location, 'PID-7');
      assert.equal(decisiveFailure([]), undefined);
      assert.throws(() => validationError([]), TypeError);
    });
  });

  describe('checking the rules', () => {
    const cases: [string, unknown, RegExp][] = [
      ['not JSON', '[{', /not JSON/],
      ['not a list', '{}', /JSON array/],
      ['a rule that is not an object', [1], /rule 1: not an object/],
      ['an unknown property', [{ field: 'PID-3', colour: 'red' }], /rule 1: unknown property "colour"/],
      ['no field', [{ name: 'x' }], /rule 1: "field" missing/],
      ['an empty field', [{ field: ' ' }], /rule 1: "field" is empty/],
      ['a field that is no HL7 position', [{ field: 'PID3' }], /rule 1: "PID3" is not an HL7 position/],
      ['field 0', [{ field: 'PID-0' }], /field numbers start at 1/],
      ['a bad scope', [{ field: 'OBX-3', scope: 'any' }], /scope "any"/],
      ['scope all over two segments', [{ field: 'OBX-3 or NTE-3', scope: 'all' }], /same segment/],
      ['a pattern on a segment', [{ field: 'OBR', pattern: 'x' }], /need a field/],
      ['a broken pattern', [{ field: 'PID-3', pattern: '(' }], /invalid pattern/],
      ['flags without pattern', [{ field: 'PID-3', flags: 'i' }], /only with "pattern"/],
      ['bad flags', [{ field: 'PID-3', pattern: 'x', flags: 'g' }], /flags/],
      ['an empty values list', [{ field: 'PID-7', values: [] }], /"values" must be/],
      ['ackCode AA', [{ field: 'PID-3', ackCode: 'AA' }], /ackCode "AA" is not AE or AR/],
      ['a 2-digit hl7Code', [{ field: 'PID-3', hl7Code: '10' }], /not a 3-digit/],
      ['a bad location', [{ field: 'PID-3', location: 'somewhere' }], /rule 1 location/],
      ['the second rule at fault', [{ field: 'PID-3' }, { field: 'PID-3', required: 'yes' }], /rule 2: "required"/],
    ];
    for (const [what, rules, detail] of cases) {
      it(`refuses ${what}`, () => assert.match(refused(rules), detail));
    }
  });
});

// SPDX-License-Identifier: Apache-2.0
// Message classification: SPEC 2 examples, shared cases, editable rules and their validation.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isGatewayError } from '../../../lib/errors';
import { Hl7Message } from '../../../lib/hl7/message';
import { DEFAULT_RULES, classify, defaultRulesJson, parseRules, type ClassifyRule } from '../../../lib/classify/rules';
import { caseFile, fixture, repoRoot } from '../../helpers/paths';

const defaults = parseRules('');
const kindOf = (hl7: string, rules = defaults): string => classify(Hl7Message.parse(hl7), rules).kind;

const SPEC_IMAGE = [
  'MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3',
  'PID|||^E031^|||||',
  'PV1||O|',
  'OBR|1||||||20261203101500',
  'OBX|1|ST|01|ECG|E031-000123.jpg||||||R||P|',
].join('\r') + '\r';

describe('lib/classify/rules', () => {
  describe('default rules', () => {
    it('SPEC 2.1 request -> request', () => {
      const r = classify(Hl7Message.parse(fixture('vectors', 'fig8-request.hl7').toString('utf8')), defaults);
      assert.deepEqual(r, { kind: 'request', rule: 'MG barcode request (MSH-10 = BARCODE, no OBX value)', index: 3 });
    });

    it('SPEC 2.2 response shape (OBX rows without values) -> request', () => {
      const response = [
        'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||107558^E024^1234|홍길동||50|M', 'PV1||E|1111^2222',
        'OBR|1||||||20090927151949', 'OBX|1|ST||HGB|||A|||R||P|', 'OBX|2|ST||HCT|||A|||R||P|',
      ].join('\r');
      assert.equal(kindOf(response), 'request');
    });

    it('SPEC 2.3 result -> result', () => {
      assert.equal(kindOf(fixture('vectors', 'fig10-result.hl7').toString('utf8')), 'result');
    });

    it('SPEC 2.4 image -> image (MSH-10 = IMAGE)', () => {
      assert.deepEqual(classify(Hl7Message.parse(SPEC_IMAGE), defaults).index, 0);
      assert.equal(kindOf(SPEC_IMAGE), 'image');
    });

    it('case 01: image with OBX-2 ED -> image, also without MSH-10 = IMAGE', () => {
      const hl7 = caseFile('01-mllp-split-large-ed-image', 'input.hl7').toString('latin1');
      assert.equal(kindOf(hl7), 'image');
      const renamed = hl7.replace('|ORU^R01|IMAGE|', '|ORU^R01|CTRL-77|');
      assert.notEqual(renamed, hl7);
      assert.deepEqual(classify(Hl7Message.parse(renamed), defaults).index, 1);
    });

    it('an image file name in OBX-5 -> image', () => {
      const hl7 = SPEC_IMAGE.replace('|IMAGE|', '|BARCODE|').replace('E031-000123.jpg', 'scan_0042.DCM');
      assert.deepEqual(classify(Hl7Message.parse(hl7), defaults).index, 2);
      assert.equal(kindOf(hl7.replace('scan_0042.DCM', 'report.pdf.txt')), 'result');
    });

    it('case 24 (Mindray relayed by the MG) and case 13 (null values) -> result', () => {
      assert.equal(kindOf(caseFile('24-hematology-mindray-bc-relay', 'input.hl7').toString('utf8')), 'result');
      assert.equal(kindOf(caseFile('13-null-vs-empty-fields', 'input.hl7').toString('utf8')), 'result');
    });

    it('a standard ORU^R01 with a real control id -> result (the visible standard-sender rule)', () => {
      for (const f of ['input_a.hl7', 'input_b.hl7']) {
        const r = classify(Hl7Message.parse(caseFile('19-timestamps-timezone-precision', f).toString('utf8')), defaults);
        assert.deepEqual([r.kind, r.index], ['result', 5]);
      }
      assert.equal(kindOf(caseFile('11-escape-sequences-decode', 'input.hl7').toString('utf8')), 'result');
    });

    it('a request with no OBX at all -> request; BARCODE with only null OBX-5 -> request', () => {
      assert.equal(kindOf('MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||107558^E024^\r'), 'request');
      assert.equal(kindOf('MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rOBX|1|ST||HGB|""||||||R\r'), 'request');
    });

    it('unknown messages -> other', () => {
      assert.equal(kindOf(caseFile('23-forward-ack-correlation', 'resp_ok.hl7').toString('utf8')), 'other');
      assert.equal(kindOf('MSH|^~\\&|ADT|H|||20260101||ADT^A01|A1|P|2.5\rPID|1||123\r'), 'other');
      assert.equal(kindOf('MSH|^~\\&|LAB|H|||20260101||ORU^R01||P|2.5\rOBX|1|NM|K||4.1\r'), 'other');   // no control id
      assert.equal(kindOf('MSH|^~\\&|LAB|H|||20260101||ORU^R01|C9|P|2.5\rOBR|1\r'), 'other');           // no results
      assert.equal(kindOf(caseFile('09-ack-nak-ae-ar-err', 'input_a.hl7').toString('utf8')), 'other');  // MSH-9 missing
    });

    it('the editor offers exactly these defaults', () => {
      const html = fs.readFileSync(path.join(repoRoot, 'nodes', 'hl7-classify', 'hl7-classify.html'), 'utf8');
      const m = /\/\* default-rules \*\/([\s\S]*?)\/\* end default-rules \*\//.exec(html);
      assert.ok(m, 'default-rules markers in hl7-classify.html');
      assert.deepEqual(JSON.parse(m[1]), DEFAULT_RULES);
      assert.deepEqual(JSON.parse(defaultRulesJson()), DEFAULT_RULES);
    });
  });

  describe('editable rules', () => {
    it('tries rules in order, skips disabled ones, and falls back to other', () => {
      const rules: ClassifyRule[] = [
        { kind: 'other', name: 'lab A', enabled: false, conditions: [{ field: 'MSH-3', op: 'eq', value: 'LAB' }] },
        { kind: 'result', name: 'lab B', conditions: [{ field: 'MSH-4', op: 'regex', value: '^h', flags: 'i' }] },
      ];
      const rs = parseRules(JSON.stringify(rules));
      assert.deepEqual(classify(Hl7Message.parse('MSH|^~\\&|LAB|H|||1||ADT^A01|1|P|2.5\r'), rs), { kind: 'result', rule: 'lab B', index: 1 });
      assert.deepEqual(classify(Hl7Message.parse('MSH|^~\\&|LAB|X|||1||ADT^A01|1|P|2.5\r'), rs), { kind: 'other', rule: '', index: -1 });
    });

    it('evaluates scopes first / any / all and every operator', () => {
      const hl7 = 'MSH|^~\\&|A|B|||1||ORU^R01|1|P|2.5\rOBX|1|NM|K||4.1\rOBX|2|ST|C|||\rOBX|3|ST|N||""\r';
      const m = Hl7Message.parse(hl7);
      const is = (c: object): boolean => classify(m, parseRules([{ kind: 'result', conditions: [c] }])).kind === 'result';
      assert.equal(is({ field: 'OBX-5', op: 'notEmpty' }), true);
      assert.equal(is({ field: 'OBX-5', op: 'empty', scope: 'any' }), true);
      assert.equal(is({ field: 'OBX-5', op: 'notEmpty', scope: 'all' }), false);
      assert.equal(is({ field: 'OBX-2', op: 'eq', value: 'ST', scope: 'any' }), true);
      assert.equal(is({ field: 'OBX-2', op: 'neq', value: 'IS', scope: 'all' }), true);
      assert.equal(is({ field: 'OBX-5', op: 'exists', scope: 'all' }), false);
      assert.equal(is({ field: 'OBX-5', op: 'exists', scope: 'any' }), true);
      assert.equal(is({ field: 'OBX-7', op: 'notExists', scope: 'all' }), true);
      assert.equal(is({ field: 'OBX', op: 'exists' }), true);
      assert.equal(is({ field: 'NTE', op: 'notExists' }), true);
      assert.equal(is({ field: 'NTE-3', op: 'notEmpty', scope: 'all' }), true);   // no NTE: 'all' holds
      assert.equal(is({ field: 'NTE-3', op: 'empty', scope: 'any' }), false);
      assert.equal(is({ field: 'MSH-9.2', op: 'regex', value: '^R0[1-4]$' }), true);
    });

    it('takes an empty text as the defaults', () => {
      assert.equal(parseRules('').compiled.length, DEFAULT_RULES.length);
      assert.equal(parseRules('  ').compiled.length, DEFAULT_RULES.length);
      assert.equal(parseRules('[]').compiled.length, 0);
    });

    it('rejects bad rules with CONFIG_BAD_RULES naming the rule', () => {
      const bad: Array<[string, RegExp]> = [
        ['[', /not JSON/],
        ['{"kind":"result"}', /must be a JSON array/],
        ['[{"kind":"results","conditions":[]}]', /rule 1: kind "results"/],
        ['[{"kind":"result"}]', /rule 1: "conditions" must be an array/],
        ['[{"kind":"result","conditions":[]},{"kind":"image","conditions":[{"field":"OBX-2","op":"equals","value":"ED"}]}]', /rule 2 condition 1: operator "equals"/],
        ['[{"kind":"image","conditions":[{"field":"OBX-2","op":"regex","value":"(ED"}]}]', /rule 1 condition 1: invalid regex/],
        ['[{"kind":"image","conditions":[{"field":"OBX-2","op":"eq"}]}]', /needs a text "value"/],
        ['[{"kind":"image","conditions":[{"field":"OBX 2","op":"empty"}]}]', /not an HL7 path/],
        ['[{"kind":"image","conditions":[{"field":"OBX-0","op":"empty"}]}]', /positions start at 1/],
        ['[{"kind":"image","conditions":[{"field":"OBX-2","op":"empty","scope":"every"}]}]', /scope "every"/],
        ['[{"kind":"image","conditions":[{"feild":"OBX-2","op":"empty"}]}]', /unknown property "feild"/],
        ['[{"kind":"image","conditions":[{"field":"OBX","op":"empty"}]}]', /needs a field, not a segment/],
        ['[{"kind":"image","enabled":"no","conditions":[]}]', /"enabled" must be true or false/],
      ];
      for (const [json, detail] of bad) {
        assert.throws(() => parseRules(json),
          (e: unknown) => isGatewayError(e, 'CONFIG_BAD_RULES') && detail.test(String(e.params.detail)), json);
      }
    });
  });
});

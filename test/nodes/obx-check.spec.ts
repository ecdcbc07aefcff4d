// SPDX-License-Identifier: Apache-2.0
// obx-check in a real Node-RED runtime: flagged payload, msg.obx, critical output, warnings, Catch codes.
import { strict as assert } from 'node:assert';
import obxCheck = require('../../nodes/obx-check/obx-check');
import { Hl7Message } from '../../lib/hl7/message';
import { caseFile, fixture } from '../helpers/paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

function next(id: string): Promise<Msg> {
  return new Promise((resolve) => helper.getNode(id).once('input', resolve));
}

/** The next `count` messages a node receives. */
function collect(id: string, count: number): Promise<Msg[]> {
  return new Promise((resolve) => {
    const got: Msg[] = [];
    const node = helper.getNode(id);
    const on = (m: Msg): void => {
      got.push(m);
      if (got.length === count) { node.removeListener('input', on); resolve(got); }
    };
    node.on('input', on);
  });
}

const obx8 = (hl7: string): string[] => Hl7Message.parse(hl7).segments('OBX').map((s) => s.getRaw('8'));

const CRITICAL = [
  'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3',
  'PID|||410200^E024^5300|TEST^K||61|F',
  'OBR|1||||||20260101120000',
  'OBX|1|ST|21|K|7.1|mmol/L|3.5~5.0|A|||R||P|',
  'OBX|2|ST|22|NA|140|mmol/L|135~145|A|||R||P|',
].join('\r') + '\r';

function flow(config: Msg): Msg[] {
  return [
    { id: 'n1', type: 'obx-check', decimalComma: false, table: '[]', preferTable: false, demographics: 'mg',
      sexField: 'PID-7', ageField: 'PID-6', ageKind: 'age', resultTypes: 'NM,SN,ST', ...config, wires: [['all'], ['alert']] },
    { id: 'all', type: 'helper' }, { id: 'alert', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['n1'], wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

describe('obx-check node', () => {
  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(() => helper.unload());

  it('flags case 24 into OBX-8, sets msg.obx, and sends only critical messages to output 2', async () => {
    await helper.load(obxCheck, flow({ table: JSON.stringify([{ test: 'K', criticalLow: 2.5, criticalHigh: 6.5 }]) }));
    const n1 = helper.getNode('n1');
    const all = collect('all', 2);
    const alert = next('alert');
    const input = caseFile('24-hematology-mindray-bc-relay', 'input.hl7').toString('utf8');
    n1.receive({ payload: input, topic: 'ORU^R01' });
    n1.receive({ payload: CRITICAL });
    const [first, second] = await all;

    assert.deepEqual(obx8(first.payload), ['', '', '', '', 'H~N', 'H~N', 'N', 'H~N', 'L~N', 'N', 'L~N', 'L~N',
      'N', 'N', 'N', 'N', 'N', 'H~N', '', '']);
    assert.equal(first.payload, input.replace('|10055^H-NR%^99MRC||****|%||N|||F', '|10055^H-NR%^99MRC||****|%|||||F'));
    assert.equal(first.obx.length, 15);
    assert.equal(first.obx.filter((e: Msg) => e.flag === '').length, 1);
    assert.equal(first.critical, undefined);
    assert.equal(first.topic, 'ORU^R01');

    assert.deepEqual(obx8(second.payload), ['HH', 'N']);
    const a = await alert;            // the first message to reach output 2 is the critical one
    assert.deepEqual(a.critical.map((e: Msg) => [e.test, e.value, e.flag, e.deviceFlag]), [['K', '7.1', 'HH', 'A']]);
    assert.equal(a.payload, second.payload);
    assert.deepEqual(a.obx, second.obx);
    assert.notEqual(a, second);
  });

  it('reads decimal commas when configured (case 17 TSH -> H)', async () => {
    await helper.load(obxCheck, flow({ decimalComma: true }));
    const out = next('all');
    helper.getNode('n1').receive({ payload: caseFile('17-refrange-formats-flags', 'input.hl7').toString('utf8') });
    const msg = await out;
    assert.equal(obx8(msg.payload)[17], 'H');
    assert.deepEqual(msg.obx[17], {
      setId: '18', code: '36', test: 'TSH', name: '', value: '4,2', numeric: 4.2, units: 'mIU/L', range: '0,4-4,0', flag: 'H', deviceFlag: 'A',
      index: 18, valueType: 'ST', low: 0.4, high: 4, rangeSource: 'message', overridden: true,
    });
  });

  it('warns about non-numeric values (SPEC 2.3 RBC TEST) and records the reason', async () => {
    await helper.load(obxCheck, flow({}));
    const n1 = helper.getNode('n1');
    const warned = new Promise<unknown[]>((resolve) => n1.once('call:warn', (call: { args: unknown[] }) => resolve(call.args)));
    const out = next('all');
    n1.receive({ payload: fixture('vectors', 'fig10-result.hl7').toString('utf8') });
    const msg = await out;
    assert.deepEqual(msg.obx.map((e: Msg) => [e.test, e.flag, e.reason ?? null]),
      [['HGB', 'N', null], ['HCT', 'N', null], ['RBC', '', 'not-numeric'], ['WBC', 'L', null]]);
    assert.deepEqual(obx8(msg.payload), ['N', 'N', '', 'L']);
    assert.deepEqual(await warned, ['obx-check.warn.notEvaluable']);
  });

  it('uses sex/age-specific table ranges from standard HL7 fields when configured', async () => {
    const table = JSON.stringify([{ code: '718-7', ranges: [{ sex: 'F', low: 12, high: 15.5 }, { sex: 'M', low: 13, high: 17 }] }]);
    await helper.load(obxCheck, flow({ table, demographics: 'standard' }));
    const out = collect('all', 2);
    const hl7 = (sex: string): string => `MSH|^~\\&|LAB|H|||20260101||ORU^R01|C${sex}|P|2.5\rPID|1||1||T^A||19800101|${sex}\rOBX|1|NM|718-7^Hemoglobin^LN||12.7|g/dL|||||F\r`;
    helper.getNode('n1').receive({ payload: hl7('F') });
    helper.getNode('n1').receive({ payload: hl7('M') });
    const [f, m] = await out;
    assert.deepEqual([f.obx[0].flag, m.obx[0].flag], ['N', 'L']);
  });

  it('gives Catch CONFIG_INVALID at deploy for a bad table, and for each message', async () => {
    let atDeploy!: Promise<Msg>;
    helper._events.once('flows:started', () => { atDeploy = next('caught'); });
    await helper.load(obxCheck, flow({ table: '[{"test": "K", "criticalLow": "low"}]' }));
    const deployed = await atDeploy;
    assert.equal(deployed.error.code, 'CONFIG_INVALID');
    const caught = next('caught');
    helper.getNode('n1').receive({ payload: CRITICAL });
    assert.equal((await caught).error.code, 'CONFIG_INVALID');
  });

  it('gives Catch CONFIG_INVALID for a custom demographic field that is not an HL7 path', async () => {
    let atDeploy!: Promise<Msg>;
    helper._events.once('flows:started', () => { atDeploy = next('caught'); });
    await helper.load(obxCheck, flow({ demographics: 'custom', sexField: 'sex', ageField: 'PID-7', ageKind: 'birthDate' }));
    assert.equal((await atDeploy).error.code, 'CONFIG_INVALID');
  });

  it('gives Catch HL7_MISSING_MSH for a payload that is not HL7', async () => {
    await helper.load(obxCheck, flow({}));
    const caught = next('caught');
    helper.getNode('n1').receive({ payload: 'PID|||1' });
    const msg = await caught;
    assert.equal(msg.error.code, 'HL7_MISSING_MSH');
    assert.equal(msg.payload, 'PID|||1');
  });
});

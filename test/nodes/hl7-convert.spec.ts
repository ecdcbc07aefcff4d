// SPDX-License-Identifier: Apache-2.0
// hl7-convert in a real Node-RED runtime: the ORU^R01 on output 1 with msg.hl7/msg.convert, the spool-derived MSH-10,
// failures to output 2 behind a spool and to Catch without one, configuration errors at deploy.
import { strict as assert } from 'node:assert';
import hl7Convert = require('../../nodes/hl7-convert/hl7-convert');
import { spoolControlId } from '../../lib/hl7/convert';
import { Hl7Message } from '../../lib/hl7/message';
import { flagObservations } from '../../lib/obx/range-check';
import { fixture } from '../helpers/paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

const RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');

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

function flow(config: Msg = {}): Msg[] {
  return [
    { id: 'n1', type: 'hl7-convert', layout: 'mg', sendingApplication: 'MGS', sendingFacility: 'LAB', receivingApplication: 'EMR',
      receivingFacility: 'HOSP', version: '2.5.1', processingId: 'P', charset: 'UNICODE UTF-8', patientIdField: 'PID-3.3',
      barcodeField: 'PID-3.1', deviceField: 'PID-3.2', patientAuthority: 'HOSP', patientIdType: 'MR', barcodeIdType: 'ACSN',
      codeMap: '{"HGB": "718-7^Hemoglobin^LN"}', codingSystem: 'L', resultStatus: 'F', age: 'nte', ...config, wires: [['ok'], ['failed']] },
    { id: 'ok', type: 'helper' }, { id: 'failed', type: 'helper' },
    { id: 'c1', type: 'catch', scope: ['n1'], wires: [['caught']] },
    { id: 'caught', type: 'helper' },
  ];
}

describe('hl7-convert node', () => {
  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(() => helper.unload());

  it('sends the ORU^R01 on output 1 with topic, msg.hl7 (charset of the new MSH-18) and msg.convert', async () => {
    await helper.load(hl7Convert, flow());
    const ok = collect('ok', 1);
    const m0 = Hl7Message.parse(RESULT);
    const obx = flagObservations(m0, []);
    helper.getNode('n1').receive({ payload: m0.encode(), obx, hl7: { type: 'ORU^R01', controlId: 'BARCODE', version: '2.3', charset: 'euc-kr' } });
    const [msg] = await ok;
    const m = Hl7Message.parse(msg.payload);
    assert.equal(msg.topic, 'ORU^R01');
    assert.equal(m.type, 'ORU^R01');
    assert.equal(m.get('MSH-9.3'), 'ORU_R01');
    assert.deepEqual(['MSH-3', 'MSH-4', 'MSH-5', 'MSH-6', 'MSH-12', 'MSH-18'].map((p) => m.get(p)), ['MGS', 'LAB', 'EMR', 'HOSP', '2.5.1', 'UNICODE UTF-8']);
    assert.match(m.controlId, /^MGS[0-9A-Z]{1,17}$/);
    assert.deepEqual(msg.hl7, { type: 'ORU^R01', controlId: m.controlId, version: '2.5.1', charset: 'utf-8' });
    assert.deepEqual(msg.convert, { controlId: m.controlId, originalControlId: 'BARCODE', version: '2.5.1', charset: 'UNICODE UTF-8',
      observations: 4, dropped: [] });
    assert.equal(m.getRaw('PID-3'), '1234^^^HOSP^MR~107558^^^HOSP^ACSN');
    assert.deepEqual(m.segments('OBX').map((s) => [s.getRaw('3'), s.get('8')]),
      [['718-7^Hemoglobin^LN', 'N'], ['HCT^HCT^L', 'N'], ['RBC^RBC^L', ''], ['WBC^WBC^L', 'L']]);
  });

  it('behind a spool: MSH-10 derived from the spool entry, the same on every attempt', async () => {
    await helper.load(hl7Convert, flow());
    const ok = collect('ok', 3);
    const tag = (attempt: number, id = 5): Msg => ({ id, messageId: 40 + id, destination: 'emr-hl7', attempt, key: `v1:${id}` });
    helper.getNode('n1').receive({ payload: RESULT, spool: tag(1) });
    helper.getNode('n1').receive({ payload: RESULT, spool: tag(2) });
    helper.getNode('n1').receive({ payload: RESULT, spool: tag(1, 6) });
    const got = await ok;
    const ids = got.map((m) => Hl7Message.parse(m.payload).controlId);
    assert.equal(ids[0], spoolControlId(tag(1)));
    assert.equal(ids[1], ids[0]);
    assert.notEqual(ids[2], ids[0]);
    assert.deepEqual(got.map((m) => m.spool.attempt), [1, 2, 1]);     // the spool's tag travels on
  });

  it('a failure behind a spool goes to output 2 as msg.error (nothing for Catch)', async () => {
    await helper.load(hl7Convert, flow());
    const failed = collect('failed', 1);
    let caught = 0;
    helper.getNode('caught').on('input', () => { caught++; });
    helper.getNode('n1').receive({ payload: 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||^E024^\rOBR|1\rOBX|1|ST|03|HGB|1',
      spool: { id: 1, messageId: 1, destination: 'emr-hl7', attempt: 1, key: 'k' } });
    const [msg] = await failed;
    assert.equal(msg.error.code, 'HL7_MISSING_FIELD');
    assert.equal(msg.error.params.location, 'PID-3.3');
    assert.equal(typeof msg.error.message, 'string');
    assert.equal(msg.spool.id, 1);
    assert.equal(caught, 0);
  });

  it('without a spool a failure is raised for Catch with a stable code', async () => {
    await helper.load(hl7Convert, flow());
    const caught = collect('caught', 2);
    helper.getNode('n1').receive({ payload: 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||1^E1^2\rOBR|1' });
    helper.getNode('n1').receive({ payload: Buffer.from('MSH') });
    assert.deepEqual((await caught).map((m) => [m.error.code, m.error.cause?.params?.location]),
      [['HL7_MISSING_SEGMENT', 'OBX'], ['HL7_MISSING_MSH', undefined]]);
  });

  it('a Hangul name cannot go out as 8859/1: HL7_BAD_CHARSET', async () => {
    await helper.load(hl7Convert, flow({ charset: '8859/1' }));
    const caught = collect('caught', 1);
    helper.getNode('n1').receive({ payload: RESULT });
    const [msg] = await caught;
    assert.equal(msg.error.code, 'HL7_BAD_CHARSET');
    assert.equal(msg.error.cause.params.charset, 'latin1');
  });

  it('reads ${NAME} in text settings from the environment', async () => {
    process.env.MGS_TEST_CONVERT_RECEIVER = 'RIS^1.2.3^ISO';
    try {
      await helper.load(hl7Convert, flow({ receivingApplication: '${MGS_TEST_CONVERT_RECEIVER}', receivingFacility: '${MGS_TEST_CONVERT_UNSET}' }));
      const ok = collect('ok', 1);
      helper.getNode('n1').receive({ payload: RESULT });
      const m = Hl7Message.parse((await ok)[0].payload);
      assert.equal(m.getRaw('MSH-5'), 'RIS^1.2.3^ISO');
      assert.equal(m.getRaw('MSH-6'), '');
    } finally {
      delete process.env.MGS_TEST_CONVERT_RECEIVER;
    }
  });

  it('a bad setting is a CONFIG_INVALID at deploy, and every message then fails with it', async () => {
    await helper.load(hl7Convert, flow({ codeMap: '{"HGB": 7}' }));
    const caught = await collect('caught', 1);
    assert.equal(caught[0].error.code, 'CONFIG_INVALID');
    const again = collect('caught', 1);
    helper.getNode('n1').receive({ payload: RESULT });
    assert.equal((await again)[0].error.code, 'CONFIG_INVALID');
  });
});

// SPDX-License-Identifier: Apache-2.0
// hl7-classify in a real Node-RED runtime: outputs by kind, msg.kind, and errors seen by a Catch node.
import { strict as assert } from 'node:assert';
import hl7Classify = require('../../nodes/hl7-classify/hl7-classify');
import { caseFile, fixture } from '../helpers/paths';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

type Msg = Record<string, any>;

/** Resolves with the next message the node receives. */
function next(id: string): Promise<Msg> {
  return new Promise((resolve) => helper.getNode(id).once('input', resolve));
}

/** Runs `fn` when the flows have started, before any node reports at start (Catch nodes are in place by then). */
function whenStarted(fn: () => void): void {
  helper._events.once('flows:started', fn);
}

const IMAGE = 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3\rPID|||^E031^|||||\rOBX|1|ST|01|ECG|E031-000123.jpg||||||R||P|\r';
const ACK = 'MSH|^~\\&|EMR|H|HL7|B0801|20260101||ACK|A1|P|2.3\rMSA|AA|BARCODE\r';

describe('hl7-classify node', () => {
  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(() => helper.unload());

  it('sends request, result, image and other to outputs 1-4 with msg.kind', async () => {
    await helper.load(hl7Classify, [
      { id: 'n1', type: 'hl7-classify', rules: '', wires: [['q'], ['r'], ['i'], ['o']] },
      { id: 'q', type: 'helper' }, { id: 'r', type: 'helper' }, { id: 'i', type: 'helper' }, { id: 'o', type: 'helper' },
    ]);
    const n1 = helper.getNode('n1');
    const got = Promise.all([next('q'), next('r'), next('i'), next('o')]);
    const statuses: Msg[] = [];
    n1.on('call:status', (call: { args: Msg[] }) => statuses.push(call.args[0]));
    const request = fixture('vectors', 'fig8-request.hl7').toString('utf8');
    const result = caseFile('24-hematology-mindray-bc-relay', 'input.hl7').toString('utf8');
    n1.receive({ payload: request, _id: 'a' });
    n1.receive({ payload: result, _id: 'b' });
    n1.receive({ payload: IMAGE, _id: 'c' });
    n1.receive({ payload: ACK, _id: 'd' });
    const [q, r, i, o] = await got;   // status is set before send, so its call event came first
    assert.deepEqual([q.kind, r.kind, i.kind, o.kind], ['request', 'result', 'image', 'other']);
    assert.equal(q.payload, request);
    assert.equal(r.payload, result);
    assert.equal(i.payload, IMAGE);
    assert.equal(o.payload, ACK);
    assert.deepEqual(statuses.at(-1), { fill: 'green', shape: 'dot', text: 'hl7-classify.status.counts' });
  });

  it('routes by edited rules', async () => {
    const rules = JSON.stringify([{ kind: 'image', conditions: [{ field: 'MSH-3', op: 'eq', value: 'EMR' }] }]);
    await helper.load(hl7Classify, [
      { id: 'n1', type: 'hl7-classify', rules, wires: [[], [], ['i'], ['o']] },
      { id: 'i', type: 'helper' }, { id: 'o', type: 'helper' },
    ]);
    const i = next('i');
    const o = next('o');
    helper.getNode('n1').receive({ payload: IMAGE });
    helper.getNode('n1').receive({ payload: ACK });
    assert.deepEqual([(await i).payload, (await i).kind], [ACK, 'image']);
    assert.deepEqual([(await o).payload, (await o).kind], [IMAGE, 'other']);
  });

  it('gives Catch CONFIG_BAD_RULES at deploy and for each message', async () => {
    const flow = [
      { id: 'n1', type: 'hl7-classify', rules: '[{"kind":"result","conditions":[{"field":"OBX-5","op":"like"}]}]', wires: [[], [], [], []] },
      { id: 'c1', type: 'catch', scope: ['n1'], wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ];
    let atDeploy!: Promise<Msg>;
    whenStarted(() => { atDeploy = next('h1'); });
    await helper.load(hl7Classify, flow);
    const deployed = await atDeploy;
    assert.equal(deployed.error.code, 'CONFIG_BAD_RULES');
    assert.equal(deployed.error.source.id, 'n1');
    assert.equal(deployed.payload, undefined);

    const onMessage = next('h1');
    helper.getNode('n1').receive({ payload: IMAGE });
    const caught = await onMessage;
    assert.equal(caught.error.code, 'CONFIG_BAD_RULES');
    assert.equal(caught.payload, IMAGE);
  });

  it('gives Catch HL7_MISSING_MSH for a payload that is not HL7', async () => {
    await helper.load(hl7Classify, [
      { id: 'n1', type: 'hl7-classify', rules: '', wires: [['q'], ['q'], ['q'], ['q']] },
      { id: 'q', type: 'helper' },
      { id: 'c1', type: 'catch', scope: ['n1'], wires: [['h1']] },
      { id: 'h1', type: 'helper' },
    ]);
    const caught = next('h1');
    helper.getNode('n1').receive({ payload: 'not hl7' });
    const msg = await caught;
    assert.equal(msg.error.code, 'HL7_MISSING_MSH');
    assert.equal(msg.payload, 'not hl7');
  });
});

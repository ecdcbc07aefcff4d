// SPDX-License-Identifier: Apache-2.0
// hl7-validate in a real Node-RED runtime: valid messages pass, case 09 frame D reaches Catch with what the NAK
// needs, the NAK itself over a real MLLP connection, bad rules at deploy, non-HL7 input, and the editor's defaults.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import hl7Validate = require('../../nodes/hl7-validate/hl7-validate');
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import mllpResponse = require('../../nodes/mllp-response/mllp-response');
import { DEFAULT_VALIDATION_RULES } from '../../lib/validate/rules';
import { freePort } from '../helpers/free-port';
import { field, type TestMllpClient } from '../helpers/mllp-client';
import { caseFile, fixture, repoRoot } from '../helpers/paths';
import { collect, connectWhenListening, helper, record, withHooks, type Msg } from './mllp-support';

const C09 = '09-ack-nak-ae-ar-err';
const FRAME_D = caseFile(C09, 'input_d.hl7').toString('utf8');
const FRAME_E = caseFile(C09, 'input_e.hl7').toString('utf8');
const SPEC_RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');

/** validate -> out; a Catch scoped to it -> caught. */
function flow(config: Msg = {}): Msg[] {
  return [
    { id: 'v', type: 'hl7-validate', name: '', ...config, wires: [['out']] },
    { id: 'c', type: 'catch', scope: ['v'], uncaught: false, wires: [['caught']] },
    { id: 'out', type: 'helper' },
    { id: 'caught', type: 'helper' },
  ];
}

/** Every status the node shows from now on. */
function statusLog(id: string): Msg[] {
  const log: Msg[] = [];
  helper.getNode(id).on('call:status', (call: { args: Msg[] }) => log.push(call.args[0]));
  return log;
}

describe('hl7-validate node', function () {
  this.timeout(20000);
  const clients: TestMllpClient[] = [];

  before((done) => { helper.startServer(done); });
  after((done) => { helper.stopServer(done); });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await helper.unload();
  });

  it('passes valid results on unchanged (SPEC 2.3, case 09 frame E) and counts them', async () => {
    await helper.load(hl7Validate, flow());
    const statuses = statusLog('v');
    const out = collect('out', 2);
    helper.getNode('v').receive({ payload: SPEC_RESULT, topic: 'ORU^R01' });
    helper.getNode('v').receive({ payload: FRAME_E });
    const [a, b] = await out;
    assert.equal(a.payload, SPEC_RESULT);
    assert.equal(a.topic, 'ORU^R01');
    assert.equal(b.payload, FRAME_E);
    assert.equal(a.validation, undefined);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(statuses.at(-1), { fill: 'green', shape: 'dot', text: 'hl7-validate.status.counts' });
  });

  it('case 09 frame D: Catch sees HL7_MISSING_FIELD with location PID-3, hl7Code 101, ackCode AE; nothing goes on', async () => {
    await helper.load(hl7Validate, flow());
    const statuses = statusLog('v');
    const passed = record('out');
    const got = collect('caught', 1);
    helper.getNode('v').receive({ payload: FRAME_D });
    const [caught] = await got;
    assert.equal(caught.error.code, 'HL7_MISSING_FIELD');
    assert.equal(caught.error.source.id, 'v');
    assert.deepEqual(caught.error.cause.params, {
      location: 'PID-3', hl7Code: '101', ackCode: 'AE', rule: 'Barcode (PID-3.1) or patient number (PID-3.3)', failures: 1,
      detail: 'PID-3 101',
    });
    assert.equal(caught.error.message, 'Error: gateway.errors.HL7_MISSING_FIELD');
    assert.equal(caught.payload, FRAME_D);
    assert.deepEqual(caught.validation.failures, [{ index: 0, rule: 'Barcode (PID-3.1) or patient number (PID-3.3)',
      reason: 'missing-field', location: 'PID-3', hl7Code: '101', ackCode: 'AE' }]);
    await new Promise((r) => setImmediate(r));
    assert.equal(passed.length, 0);
    assert.deepEqual(statuses.at(-1), { fill: 'yellow', shape: 'dot', text: 'hl7-validate.status.counts' });
  });

  it('site rules: an AR rule with its own code; a missing segment is HL7_MISSING_SEGMENT', async () => {
    const rules = JSON.stringify([
      { name: 'Sex', field: 'PID-7', values: ['M', 'F'], ackCode: 'AR', hl7Code: '103' },
      { field: 'NTE' },
    ]);
    await helper.load(hl7Validate, flow({ rules }));
    const caught = collect('caught', 2);
    helper.getNode('v').receive({ payload: FRAME_E.replace('|57|M\r', '|57|X\r') });
    helper.getNode('v').receive({ payload: FRAME_E.replace('|57|M\r', '|57|F\r') });
    const [a, b] = await caught;
    assert.equal(a.error.code, 'HL7_INVALID_FIELD');
    assert.deepEqual([a.error.cause.params.location, a.error.cause.params.hl7Code, a.error.cause.params.ackCode, a.error.cause.params.failures],
      ['PID-7', '103', 'AR', 2]);
    assert.equal(b.error.code, 'HL7_MISSING_SEGMENT');
    assert.deepEqual([b.error.cause.params.location, b.error.cause.params.hl7Code, b.error.cause.params.ackCode], ['NTE', '100', 'AE']);
  });

  it('over MLLP: mllp in -> validate -> Catch -> mllp response answers frame D with AE and ERR PID^1^3^101', async () => {
    const port = await freePort();
    await helper.load([withHooks(mllpIn), mllpResponse, hl7Validate], [
      { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, charset: 'utf-8', ackMode: 'flow', wires: [['v']] },
      { id: 'v', type: 'hl7-validate', rules: '', wires: [['reply-aa']] },
      { id: 'reply-aa', type: 'mllp-response', replyWith: 'ack', wires: [] },
      { id: 'c', type: 'catch', scope: ['v'], uncaught: false, wires: [['reply-nak']] },
      { id: 'reply-nak', type: 'mllp-response', replyWith: 'ack', wires: [] },
    ]);
    const client = await connectWhenListening(port);
    clients.push(client);
    const nak = await client.request(FRAME_D);
    assert.equal(field(nak, 'MSA', 1), 'AE');
    assert.equal(field(nak, 'MSA', 2), 'BARCODE');
    assert.equal(field(nak, 'MSA', 3), 'gateway.errors.HL7_MISSING_FIELD');
    assert.equal(field(nak, 'ERR', 1), 'PID^1^3^101&gateway.errors.HL7_MISSING_FIELD&HL70357');
    const ack = await client.request(FRAME_E);
    assert.equal(field(ack, 'MSA', 1), 'AA');
    assert.equal(field(ack, 'ERR', 1), undefined);
    assert.equal(client.closed, false);
  });

  it('bad rules: CONFIG_BAD_RULES once at deploy, and every message fails with it', async () => {
    // the deploy report arrives once the flows have started: listen from then on
    let caught!: Promise<Msg[]>;
    helper._events.once('flows:started', () => { caught = collect('caught', 2); });
    await helper.load(hl7Validate, flow({ rules: '[{"field": "PID3"}]' }));
    helper.getNode('v').receive({ payload: FRAME_E });
    const [atDeploy, perMessage] = await caught;
    assert.equal(atDeploy.payload, undefined);
    assert.equal(atDeploy.error.code, 'CONFIG_BAD_RULES');
    assert.equal(perMessage.error.code, 'CONFIG_BAD_RULES');
    assert.match(String(perMessage.error.cause.params.detail), /rule 1: "PID3" is not an HL7 position/);
    assert.equal(perMessage.payload, FRAME_E);
  });

  it('a payload that is not HL7 fails with HL7_MISSING_MSH', async () => {
    await helper.load(hl7Validate, flow());
    const caught = collect('caught', 1);
    helper.getNode('v').receive({ payload: 'PID|||1' });
    assert.equal((await caught)[0].error.code, 'HL7_MISSING_MSH');
  });

  it('the editor starts from the same default rules as the runtime', () => {
    const html = fs.readFileSync(path.join(repoRoot, 'nodes', 'hl7-validate', 'hl7-validate.html'), 'utf8');
    const m = /\/\* default-rules \*\/([\s\S]*?)\/\* end default-rules \*\//.exec(html);
    assert.ok(m, 'default-rules markers in hl7-validate.html');
    assert.deepEqual(JSON.parse(m[1]), DEFAULT_VALIDATION_RULES);
  });
});

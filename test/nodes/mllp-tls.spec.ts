// SPDX-License-Identifier: Apache-2.0
// mllp-in and mllp-out over TLS in a real Node-RED runtime, configured the way integrators do it: with core
// tls-config nodes (certificate files by path for the listener, uploaded certificates in the sender's credentials).
import { strict as assert } from 'node:assert';
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import mllpOut = require('../../nodes/mllp-out/mllp-out');
import mllpResponse = require('../../nodes/mllp-response/mllp-response');
import { makeCerts, type TestCerts } from '../helpers/certs';
import { freePort } from '../helpers/free-port';
import { collect, delay, helper, record, warnings, withHooks, type Msg } from './mllp-support';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tlsConfig = require('@node-red/nodes/core/network/05-tls.js');

const NODES = [withHooks(mllpIn), mllpResponse, mllpOut, tlsConfig];
const MSG = 'MSH|^~\\&|HL7|B0801|||20261203101500||ORU^R01|TLS0001|P|2.3\rPID|||^E024^\rOBR|1||||||20261203101400\r';

/** Only refusal warnings, at least one (the sender retries, so there may be more). */
function assertRefusals(logged: string[]): void {
  assert.ok(logged.length >= 1);
  assert.deepEqual([...new Set(logged)], ['[MLLP_TLS_REJECTED] mllp-in.warn.connection']);
}

describe('mllp-in / mllp-out nodes over TLS (core tls-config)', function () {
  this.timeout(20000);
  let certs: TestCerts;

  before(function (done) { certs = makeCerts(); helper.startServer(done); });
  after(function (done) { certs?.remove(); helper.stopServer(done); });
  afterEach(async () => { await helper.unload(); });

  /**
   * in (TLS listener, client certificate required) -> response (AA); inject -> out (TLS sender) -> sent.
   * The listener's tls-config names files on disk; the sender's holds uploaded PEM text (credentials).
   */
  async function load(opts: { client?: 'good' | 'rogue' | 'none'; inTls?: Msg; inConfig?: Msg } = {}): Promise<number> {
    const port = await freePort();
    const pair = opts.client === 'rogue' ? certs.rogue : certs.client;
    await helper.load(NODES, [
      { id: 'tls-srv', type: 'tls-config', name: 'listener', cert: certs.server.certFile, key: certs.server.keyFile, ca: certs.caFile,
        verifyservercert: true, ...opts.inTls },
      { id: 'tls-cli', type: 'tls-config', name: 'sender', cert: '', key: '', ca: '', verifyservercert: true },
      { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, charset: 'utf-8', ackMode: 'flow', tls: 'tls-srv', requireClientCert: true,
        ...opts.inConfig, wires: [['resp', 'got']] },
      { id: 'resp', type: 'mllp-response', replyWith: 'ack', wires: [] },
      { id: 'got', type: 'helper' },
      { id: 'out', type: 'mllp-out', host: '127.0.0.1', port, charset: 'auto', ackTimeout: 3000, newControlId: false, tls: 'tls-cli',
        wires: [['sent'], ['failed']] },
      { id: 'sent', type: 'helper' },
      { id: 'failed', type: 'helper' },
      { id: 'c1', type: 'catch', scope: ['in', 'out'], wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ], {
      'tls-cli': opts.client === 'none'
        ? { cadata: certs.ca.toString() }
        : { certdata: pair.cert.toString(), keydata: pair.key.toString(), cadata: certs.ca.toString() },
    });
    return port;
  }

  /**
   * Sends through mllp-out once mllp-in listens (it listens when the flows have started, after mllp-out's first
   * connection attempt). One listener per helper node for the whole test: removing input listeners from inside
   * an input event would make the runtime skip others.
   */
  async function sendWhenListening(): Promise<Msg> {
    const sent = record('sent');
    const caught = record('caught');
    const deadline = Date.now() + 5000;
    for (;;) {
      const before = sent.length + caught.length;
      helper.getNode('out').receive({ payload: MSG });
      while (sent.length + caught.length === before) await delay(5);
      if (sent.length > 0) return sent[0];
      const last = caught[caught.length - 1];
      if (!/ECONNREFUSED/.test(JSON.stringify(last.error)) || Date.now() > deadline) return last;
      await delay(50);
    }
  }

  it('a sender with a certificate from the CA is served; mllp-in tells the flow who it was', async () => {
    await load();
    const got = collect('got', 1);
    const sent = await sendWhenListening();
    assert.equal(sent.mllpOut.ack.code, 'AA');
    assert.equal(sent.mllpOut.ack.controlId, 'TLS0001');
    const [msg] = await got;
    assert.equal(msg.payload, MSG);
    assert.deepEqual(msg.mllp.tls, { protocol: 'TLSv1.3', authorized: true, subject: 'MG B0801' });
    assert.deepEqual(warnings('in'), []);
  });

  it('a sender with a self-signed certificate is refused: its message never reaches the flow, the refusal is logged', async () => {
    await load({ client: 'rogue' });
    const got: Msg[] = [];
    helper.getNode('got').on('input', (m: Msg) => got.push(m));
    const caught = await sendWhenListening();
    assert.equal(caught.error.code, 'MLLP_NOT_CONNECTED');
    await delay(100);
    assert.deepEqual(got, []);
    // The helper's RED._ gives back catalog keys; the text (address, DEPTH_ZERO_SELF_SIGNED_CERT) is checked in lib/mllp/tls.spec.
    assertRefusals(warnings('in'));
  });

  it('a sender without a client certificate is refused', async () => {
    await load({ client: 'none' });
    const caught = await sendWhenListening();
    assert.equal(caught.error.code, 'MLLP_NOT_CONNECTED');
    await delay(100);
    assertRefusals(warnings('in'));
  });

  it('without "require a client certificate" no certificate is asked for: the same sender is served, not authorized', async () => {
    await load({ client: 'rogue', inConfig: { requireClientCert: false } });
    const got = collect('got', 1);
    const sent = await sendWhenListening();
    assert.equal(sent.mllpOut.ack.code, 'AA');
    const [msg] = await got;
    assert.deepEqual(msg.mllp.tls, { protocol: 'TLSv1.3', authorized: false, subject: '' });
  });

  it('a listener whose tls-config has no CA cannot require client certificates: CONFIG_INVALID at deploy', async () => {
    await load({ inTls: { ca: '' } });
    const [m] = await collect('caught', 1);
    assert.equal(m.error.code, 'CONFIG_INVALID');
    assert.equal(m.error.source.id, 'in');
    assert.equal(m.error.cause.params.detail, 'requiring client certificates needs the CA certificate in the TLS configuration');
  });

  it('the sender checks the listener against its CA: a tls-config trusting another CA fails with the TLS reason', async () => {
    const port = await freePort();
    await helper.load(NODES, [
      { id: 'tls-srv', type: 'tls-config', cert: certs.server.certFile, key: certs.server.keyFile, ca: '', verifyservercert: true },
      { id: 'tls-cli', type: 'tls-config', cert: '', key: '', ca: certs.rogue.certFile, verifyservercert: true },
      { id: 'in', type: 'mllp-in', host: '127.0.0.1', port, ackMode: 'immediate', tls: 'tls-srv', wires: [[]] },
      { id: 'out', type: 'mllp-out', host: '127.0.0.1', port, ackTimeout: 3000, tls: 'tls-cli', wires: [['sent'], ['failed']] },
      { id: 'sent', type: 'helper' },
      { id: 'failed', type: 'helper' },
      { id: 'c1', type: 'catch', scope: ['in', 'out'], wires: [['caught']] },
      { id: 'caught', type: 'helper' },
    ]);
    const caught = await sendWhenListening();
    assert.equal(caught.error.code, 'MLLP_NOT_CONNECTED');
    assert.match(caught.error.cause.params.detail, /certificate/);
  });
});

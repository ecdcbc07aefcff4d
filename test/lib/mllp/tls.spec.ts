// SPDX-License-Identifier: Apache-2.0
// MLLP over TLS with real sockets on loopback: lib/mllp/server with a required client certificate, lib/mllp/client
// and raw node:tls / node:net peers. Certificates are made by openssl for each run (test/helpers/certs).
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { GatewayError } from '../../../lib/errors';
import { MllpClient } from '../../../lib/mllp/client';
import { MllpServer, type MllpConnection, type MllpExchange, type MllpServerOptions } from '../../../lib/mllp/server';
import { makeCerts, type TestCerts } from '../../helpers/certs';

const MSG = 'MSH|^~\\&|HL7|B0801|||20261203101500||ORU^R01|TLS0001|P|2.3\rPID|||^E024^\r';
const ackFor = (controlId: string): Buffer =>
  Buffer.from(`MSH|^~\\&|MGS|MGS|HL7|B0801|20261203101501||ACK^R01|A${controlId}|P|2.3\rMSA|AA|${controlId}\r`, 'latin1');

/** Resolves when `cond()` holds (polled on the event loop). */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('lib/mllp over TLS', function () {
  this.timeout(20000);
  let certs: TestCerts;
  let server: MllpServer | undefined;
  const clients: MllpClient[] = [];
  const sockets: net.Socket[] = [];

  before(() => { certs = makeCerts(); });
  after(() => certs?.remove());
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  /** A TLS listener answering AA to every message; `seen` collects the connections messages came on. */
  async function start(extra: Partial<MllpServerOptions> = {}, requireClientCert = true) {
    const seen: MllpConnection[] = [];
    const rejected: GatewayError[] = [];
    server = new MllpServer({
      host: '127.0.0.1', port: 0,
      tls: { key: certs.server.key, cert: certs.server.cert, ca: certs.ca, requestCert: requireClientCert, rejectUnauthorized: requireClientCert },
      ...extra,
    });
    server.on('message', (ex: MllpExchange, data: Buffer) => {
      seen.push(ex.connection);
      ex.reply(ackFor(data.toString('latin1').split('\r')[0].split('|')[9]));
    });
    server.on('tlsRejected', (e: GatewayError) => rejected.push(e));
    const { port } = await server.listen();
    return { port, seen, rejected };
  }

  function client(port: number, tlsOpts: tls.ConnectionOptions): MllpClient {
    const c = new MllpClient({ host: '127.0.0.1', port, tls: tlsOpts, reconnectMinMs: 50, ackTimeoutMs: 3000 });
    clients.push(c);
    return c;
  }

  it('a client with a certificate signed by the CA is accepted; the connection knows who it is', async () => {
    const { port, seen, rejected } = await start();
    const c = client(port, { ca: certs.ca, key: certs.client.key, cert: certs.client.cert });
    const reply = await c.send(MSG);
    assert.equal(reply.code, 'AA');
    assert.equal(reply.controlId, 'TLS0001');
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0].tls, { protocol: 'TLSv1.3', authorized: true, subject: 'MG B0801' });
    assert.deepEqual(rejected, []);
  });

  it('a self-signed (rogue) client certificate is refused before anything is read, and reported', async () => {
    const { port, seen, rejected } = await start();
    const c = client(port, { ca: certs.ca, key: certs.rogue.key, cert: certs.rogue.cert });
    await assert.rejects(c.send(MSG), (e: GatewayError) => e.code === 'MLLP_NOT_CONNECTED');
    await until(() => rejected.length >= 1);
    assert.equal(rejected[0].code, 'MLLP_TLS_REJECTED');
    assert.equal(rejected[0].params.detail, 'DEPTH_ZERO_SELF_SIGNED_CERT (MG B0801)');
    assert.equal(seen.length, 0);
  });

  it('a client without a certificate is refused and reported', async () => {
    const { port, seen, rejected } = await start();
    const c = client(port, { ca: certs.ca });
    await assert.rejects(c.send(MSG), (e: GatewayError) => e.code === 'MLLP_NOT_CONNECTED');
    await until(() => rejected.length >= 1);
    assert.equal(rejected[0].params.detail, 'NO_CLIENT_CERTIFICATE');
    assert.equal(seen.length, 0);
  });

  it('a rogue client that writes at once gets none of its bytes processed', async () => {
    const { port, seen, rejected } = await start();
    const s = tls.connect({ host: '127.0.0.1', port, ca: certs.ca, key: certs.rogue.key, cert: certs.rogue.cert });
    sockets.push(s);
    s.on('error', () => { /* closed by the server */ });
    await once(s, 'secureConnect');
    s.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(MSG, 'latin1'), Buffer.from([0x1c, 0x0d])]));
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    await once(s, 'close');
    assert.equal(Buffer.concat(got).length, 0);
    assert.equal(seen.length, 0);
    assert.equal(rejected.length, 1);
  });

  it('the client refuses a server whose certificate its CA did not sign', async () => {
    const { port, seen, rejected } = await start({}, false);
    const c = client(port, { ca: certs.rogue.cert });
    await assert.rejects(c.send(MSG), (e: GatewayError) =>
      e.code === 'MLLP_NOT_CONNECTED' && /certificate/.test(String(e.params.detail)));
    assert.equal(seen.length, 0);
    await until(() => rejected.length >= 1);
    assert.equal(rejected[0].code, 'MLLP_TLS_REJECTED');
  });

  it('the client checks that the server certificate names the host it connected to', async () => {
    const { port } = await start({}, false);
    const c = client(port, { ca: certs.ca, servername: 'emr.example' });
    await assert.rejects(c.send(MSG), (e: GatewayError) =>
      e.code === 'MLLP_NOT_CONNECTED' && /emr\.example/.test(String(e.params.detail)));
  });

  it('without a client certificate requirement any TLS client is served, marked not authorized', async () => {
    const { port, seen } = await start({}, false);
    const c = client(port, { ca: certs.ca });
    const reply = await c.send(MSG);
    assert.equal(reply.code, 'AA');
    assert.deepEqual(seen[0].tls, { protocol: 'TLSv1.3', authorized: false, subject: '' });
  });

  it('plain MLLP sent to a TLS port is refused as a failed handshake', async () => {
    const { port, seen, rejected } = await start();
    const s = net.connect({ host: '127.0.0.1', port });
    sockets.push(s);
    s.on('error', () => { /* closed by the server */ });
    await once(s, 'connect');
    s.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(MSG, 'latin1'), Buffer.from([0x1c, 0x0d])]));
    await once(s, 'close');
    await until(() => rejected.length >= 1);
    assert.equal(rejected[0].code, 'MLLP_TLS_REJECTED');
    assert.equal(seen.length, 0);
  });

  it('a connection that never starts its handshake is dropped after the handshake time-out, and counted meanwhile', async () => {
    const { port, rejected } = await start({ handshakeTimeoutMs: 300, maxConnections: 1 });
    let overLimit = 0;
    server!.on('rejected', () => { overLimit++; });
    const silent = net.connect({ host: '127.0.0.1', port });
    sockets.push(silent);
    silent.on('error', () => { /* closed by the server */ });
    await once(silent, 'connect');
    const t0 = Date.now();
    const second = net.connect({ host: '127.0.0.1', port });
    sockets.push(second);
    second.on('error', () => { /* closed by the server */ });
    await once(second, 'close');
    assert.equal(overLimit, 1);
    await once(silent, 'close');
    const waited = Date.now() - t0;
    assert.ok(waited >= 250 && waited < 3000, `dropped after ${waited} ms`);
    await until(() => rejected.length >= 1);
    assert.equal(rejected[0].code, 'MLLP_TLS_REJECTED');
    const c = client(port, { ca: certs.ca, key: certs.client.key, cert: certs.client.cert });
    assert.equal((await c.send(MSG)).code, 'AA');
  });

  it('refuses a TLS configuration it cannot use, when it is created', () => {
    assert.throws(() => new MllpServer({ port: 0, tls: { cert: certs.server.cert } }),
      (e: GatewayError) => e.code === 'CONFIG_INVALID' && /private key/.test(String(e.params.detail)));
    assert.throws(() => new MllpServer({ port: 0, tls: { key: certs.server.key, cert: certs.server.cert, requestCert: true } }),
      (e: GatewayError) => e.code === 'CONFIG_INVALID' && /CA/.test(String(e.params.detail)));
    assert.throws(() => new MllpServer({ port: 0, tls: { key: certs.client.key, cert: certs.server.cert } }),
      (e: GatewayError) => e.code === 'CONFIG_INVALID' && /^TLS: /.test(String(e.params.detail)));
    assert.throws(() => new MllpClient({ host: '127.0.0.1', port: 1, tls: { key: certs.client.key, cert: certs.server.cert } }),
      (e: GatewayError) => e.code === 'CONFIG_INVALID' && /^TLS: /.test(String(e.params.detail)));
  });

  it('a client refused at every connection backs off instead of reconnecting in a tight loop', async () => {
    const { port } = await start();
    let accepted = 0;
    const c = new MllpClient({ host: '127.0.0.1', port, tls: { ca: certs.ca, key: certs.rogue.key, cert: certs.rogue.cert },
      reconnectMinMs: 50, reconnectMaxMs: 10000 });
    clients.push(c);
    c.on('state', (s: string) => { if (s === 'connected') accepted++; });
    c.connect();
    await new Promise((r) => setTimeout(r, 1000));
    // 50, 100, 200, 400 ms back-off: at most 5 connections in the first second (a tight loop would make 15 or more).
    assert.ok(accepted >= 2 && accepted <= 5, `${accepted} connections`);
  });
});

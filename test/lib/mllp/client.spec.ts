// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { GatewayError } from '../../../lib/errors';
import { MllpClient, type ClientState } from '../../../lib/mllp/client';
import { setMshField } from '../../../lib/mllp/outbound';
import { freePort } from '../../helpers/free-port';
import { caseFile } from '../../helpers/paths';

const C23 = '23-forward-ack-correlation';
const VT = Buffer.from([0x0b]);
const TRAILER = Buffer.from([0x1c, 0x0d]);
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const template = (name: string): string => caseFile(C23, name).toString('latin1');
const fill = (t: string, ctrl: string, prev: string): string => t.replace('{CTRL}', ctrl).replace('{PREV}', prev);
const framed = (text: string): Buffer => Buffer.concat([VT, Buffer.from(text, 'latin1'), TRAILER]);

/** What the fake downstream does with each message: write to the socket, given MSH-10 now and before. */
type Responder = (socket: net.Socket, ctrl: string, prev: string, n: number) => void | Promise<void>;

/**
 * The fake downstream EMR interface of case 23: an MLLP listener that answers each received frame with
 * a scenario's bytes. It parses frames on its own (no product code) and records what it received.
 */
class FakeDownstream {
  readonly received: string[] = [];
  readonly sockets = new Set<net.Socket>();
  port = 0;
  private server = net.createServer((s) => this.accept(s));

  constructor(public responder: Responder) {}

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => { /* the client may go away */ });
    let buf = Buffer.alloc(0);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const s = buf.indexOf(0x0b);
        const e = buf.indexOf(0x1c, s + 1);
        if (s < 0 || e < 0 || buf.length < e + 2) break;
        const text = buf.subarray(s + 1, e).toString('latin1');
        buf = buf.subarray(e + 2);
        const ctrl = /^MSH\|(?:[^|]*\|){8}([^|\r]*)/.exec(text)?.[1] ?? '';
        const prev = this.received.length ? /^MSH\|(?:[^|]*\|){8}([^|\r]*)/.exec(this.received[this.received.length - 1])?.[1] ?? '' : '';
        this.received.push(text);
        void this.responder(socket, ctrl, prev, this.received.length);
      }
    });
  }

  dropConnections(): void { for (const s of this.sockets) s.destroy(); }

  close(): Promise<void> {
    this.dropConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const ok: Responder = (s, ctrl, prev) => { s.write(framed(fill(template('resp_ok.hl7'), ctrl, prev))); };

/** The MG messages with the distinct control IDs MGS puts in before forwarding. */
const m1 = setMshField(caseFile(C23, 'mg_m1.hl7').toString('latin1'), 10, 'MGS-0001');
const m2 = setMshField(caseFile(C23, 'mg_m2.hl7').toString('latin1'), 10, 'MGS-0002');

describe('lib/mllp/client (case 23 against a fake downstream)', () => {
  let fake: FakeDownstream;
  let client: MllpClient | undefined;

  async function setup(responder: Responder, opts: Partial<ConstructorParameters<typeof MllpClient>[0]> = {}): Promise<MllpClient> {
    fake = new FakeDownstream(responder);
    const port = await fake.listen();
    client = new MllpClient({ host: '127.0.0.1', port, ackTimeoutMs: 3000, reconnectMinMs: 50, reconnectMaxMs: 200, ...opts });
    return client;
  }

  afterEach(async () => {
    await client?.close();
    client = undefined;
    await fake?.close();
  });

  it('fragmented: an ACK written as VT | body | FS CR, 200 ms apart, is read to the trailer', async () => {
    const c = await setup(async (s, ctrl, prev) => {
      s.write(VT);
      await delay(200);
      s.write(fill(template('resp_ok.hl7'), ctrl, prev));
      await delay(200);
      s.write(TRAILER);
    });
    const reply = await c.send(m1);
    assert.equal(reply.code, 'AA');
    assert.equal(reply.controlId, 'MGS-0001');
    assert.equal(fake.received.length, 1);
    assert.equal(fake.received[0], m1);
  });

  it('stale then right: the ACK for the previous message is discarded with a warning, the matching one accepts', async () => {
    const c = await setup(async (s, ctrl, prev, n) => {
      if (n === 1) { ok(s, ctrl, prev, n); return; }
      s.write(framed(fill(template('resp_stale.hl7'), ctrl, prev)));
      await delay(500);
      ok(s, ctrl, prev, n);
    });
    const warnings: GatewayError[] = [];
    c.on('warning', (w: GatewayError) => warnings.push(w));
    assert.equal((await c.send(m1)).controlId, 'MGS-0001');
    const t0 = Date.now();
    const r2 = await c.send(m2);
    assert.equal(r2.code, 'AA');
    assert.equal(r2.controlId, 'MGS-0002');
    assert.ok(Date.now() - t0 >= 450);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].code, 'MLLP_ACK_MISMATCH');
    assert.deepEqual(warnings[0].params, { got: 'MGS-0001', expected: 'MGS-0002' });
  });

  it('stale only: not accepted; MLLP_TIMEOUT after the ACK time-out', async () => {
    const c = await setup((s, ctrl, prev, n) => {
      if (n === 1) ok(s, ctrl, prev, n); else s.write(framed(fill(template('resp_stale.hl7'), ctrl, prev)));
    });
    const warnings: string[] = [];
    c.on('warning', (w: GatewayError) => warnings.push(w.code));
    await c.send(m1);
    const t0 = Date.now();
    await assert.rejects(c.send(m2, { timeoutMs: 800 }), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_TIMEOUT');
      assert.deepEqual(e.params, { ms: 800 });
      return true;
    });
    assert.ok(Date.now() - t0 >= 750);
    assert.deepEqual(warnings, ['MLLP_ACK_MISMATCH']);
  });

  it('garbage: a framed reply that is not HL7 fails with the bytes shown', async () => {
    const c = await setup((s) => { s.write(caseFile(C23, 'resp_garbage.bin')); });
    await assert.rejects(c.send(m1), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_BAD_ACK');
      assert.deepEqual(e.params, { bytes: 'fail' });
      return true;
    });
  });

  it('unframed: an HL7 ACK without MLLP framing fails with the bytes shown, hex-escaped and truncated', async () => {
    const c = await setup((s, ctrl) => { s.write(caseFile(C23, 'resp_unframed.bin').toString('latin1').replace('{CTRL}', ctrl), 'latin1'); });
    await assert.rejects(c.send(m1), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_BAD_FRAME');
      assert.equal(e.params.detail,
        'reply not MLLP-framed: MSH|^~\\x5c&|EMRIF|HOSP|MGS|WARD7|20261102160000||ACK|X|P|2.5\\x0dMSA|AA... (74 bytes)');
      return true;
    });
  });

  it('AE and AR reject with MLLP_NAK carrying MSA-1 and MSA-3', async () => {
    let code = 'ae';
    const c = await setup((s, ctrl, prev) => { s.write(framed(fill(template(`resp_${code}.hl7`), ctrl, prev))); });
    await assert.rejects(c.send(m1), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_NAK');
      assert.deepEqual(e.params, { code: 'AE', text: 'Patient not found in ADT' });
      return true;
    });
    code = 'ar';
    await assert.rejects(c.send(m2), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_NAK');
      assert.deepEqual(e.params, { code: 'AR', text: 'Database unavailable' });
      return true;
    });
  });

  it('CA counts as accepted in enhanced mode only', async () => {
    const ca: Responder = (s, ctrl, prev) => { s.write(framed(fill(template('resp_ca.hl7'), ctrl, prev))); };
    const enhanced = await setup(ca, { enhancedMode: true });
    const r = await enhanced.send(m1);
    assert.equal(r.code, 'CA');
    assert.equal(r.controlId, 'MGS-0001');
    await enhanced.close();
    await fake.close();

    const original = await setup(ca);
    await assert.rejects(original.send(m1), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_NAK');
      assert.equal(e.params.code, 'CA');
      return true;
    });
  });

  it('one message in flight: m2 is written only after m1 is answered, and replies resolve in order', async () => {
    const writes: string[] = [];
    const c = await setup(async (s, ctrl, prev) => {
      writes.push(ctrl);
      await delay(150);
      ok(s, ctrl, prev, 0);
    });
    const p1 = c.send(m1);
    const p2 = c.send(m2);
    assert.equal(c.queued >= 1, true);
    await delay(75);
    assert.deepEqual(writes, ['MGS-0001']);
    const [r1, r2] = await Promise.all([p1, p2]);
    assert.deepEqual([r1.controlId, r2.controlId], ['MGS-0001', 'MGS-0002']);
    assert.deepEqual(writes, ['MGS-0001', 'MGS-0002']);
  });

  it('a late ACK of a timed-out message is never taken for the next message', async () => {
    let slowFirst = true;
    const c = await setup(async (s, ctrl, prev) => {
      if (slowFirst) { slowFirst = false; await delay(600); }
      ok(s, ctrl, prev, 0);
    });
    await assert.rejects(c.send(m1, { timeoutMs: 300 }), (e: GatewayError) => e.code === 'MLLP_TIMEOUT');
    const warnings: GatewayError[] = [];
    c.on('warning', (w: GatewayError) => warnings.push(w));
    const r2 = await c.send(m2);
    assert.equal(r2.controlId, 'MGS-0002');
    // m1's ACK arrives while m2 is in flight, or before it: either way it is discarded, never accepted
    await delay(400);
    assert.ok(warnings.every((w) => w.code === 'MLLP_ACK_MISMATCH' && w.params.got === 'MGS-0001'));
    assert.equal(warnings.length, 1);
  });

  it('connection refused: MLLP_NOT_CONNECTED at once, then reconnects with back-off when the peer is up', async () => {
    const port = await freePort();
    fake = new FakeDownstream(ok);
    client = new MllpClient({ host: '127.0.0.1', port, reconnectMinMs: 50, reconnectMaxMs: 100 });
    const states: ClientState[] = [];
    client.on('state', (s: ClientState) => states.push(s));
    await assert.rejects(client.send(m1), (e: GatewayError) => {
      assert.equal(e.code, 'MLLP_NOT_CONNECTED');
      assert.equal(e.params.port, port);
      return true;
    });
    assert.equal(client.state, 'waiting');
    await assert.rejects(client.send(m1), (e: GatewayError) => e.code === 'MLLP_NOT_CONNECTED');
    await fake.listen(port);
    while ((client.state as ClientState) !== 'connected') await new Promise((r) => client!.once('state', r));
    const r = await client.send(m1);
    assert.equal(r.code, 'AA');
    assert.deepEqual(states.slice(0, 2), ['connecting', 'waiting']);
    assert.equal(states[states.length - 1], 'connected');
  });

  it('a dropped connection fails the message in flight and comes back for the next one', async () => {
    let drop = true;
    const c = await setup((s, ctrl, prev) => {
      if (drop) { drop = false; s.destroy(); return; }
      ok(s, ctrl, prev, 0);
    });
    await assert.rejects(c.send(m1), (e: GatewayError) => e.code === 'MLLP_NOT_CONNECTED');
    while (c.state !== 'connected') await new Promise((r) => c.once('state', r));
    assert.equal((await c.send(m2)).controlId, 'MGS-0002');
  });

  it('a peer that closes after every ACK: the next message reconnects at once', async () => {
    const c = await setup((s, ctrl, prev) => { ok(s, ctrl, prev, 0); s.end(); }, { reconnectMinMs: 5000 });
    assert.equal((await c.send(m1)).controlId, 'MGS-0001');
    while (c.state !== 'waiting') await new Promise((r) => c.once('state', r));
    const t0 = Date.now();
    assert.equal((await c.send(m2)).controlId, 'MGS-0002');
    assert.ok(Date.now() - t0 < 2000);
  });

  it('close() fails what is pending and stops', async () => {
    const c = await setup(() => { /* never answers */ });
    const p = c.send(m1).then(() => undefined, (e: GatewayError) => e);
    while (fake.received.length === 0) await delay(10);
    await c.close();
    const err = await p;
    assert.equal(err?.code, 'MLLP_NOT_CONNECTED');
    assert.equal(err?.params.detail, 'client closed');
    assert.equal(c.state, 'closed');
    await assert.rejects(c.send(m2), (e: GatewayError) => e.code === 'MLLP_NOT_CONNECTED');
  });
});

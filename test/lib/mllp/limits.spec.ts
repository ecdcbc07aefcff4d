// SPDX-License-Identifier: Apache-2.0
// Hostile networks against lib/mllp/server over real loopback sockets: idle connection floods, a slow-loris
// sender, a flood over maxConnections, a sender silent in the middle of a frame, and a sender that does not
// wait for its ACKs. A normal sender on its own connection must keep getting prompt, ordered ACKs throughout.
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as net from 'node:net';
import { GatewayError } from '../../../lib/errors';
import { MllpServer, type MllpExchange, type MllpServerOptions } from '../../../lib/mllp/server';
import { TestMllpClient } from '../../helpers/mllp-client';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await delay(5);
  }
}

const msg = (id: string): string => `MSH|^~\\&|HL7|B0801|||20261203101500||ORU^R01|${id}|P|2.3\rPID|||^E024^\r`;
const framed = (text: string): Buffer => Buffer.concat([Buffer.from([0x0b]), Buffer.from(text, 'latin1'), Buffer.from([0x1c, 0x0d])]);
const controlIdOf = (data: Buffer): string => data.toString('latin1').split('\r')[0].split('|')[9];

/** Sends `n` messages one after another, each after the ACK of the previous one; returns each ACK's latency. */
async function normalSender(c: TestMllpClient, prefix: string, n: number, gapMs: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 1; i <= n; i++) {
    const t0 = process.hrtime.bigint();
    const ack = await c.request(msg(`${prefix}${i}`), 5000);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(ack, `ACK|${prefix}${i}`);
    await delay(gapMs);
  }
  return latencies;
}

describe('lib/mllp/server under hostile traffic', function () {
  this.timeout(30000);
  let server: MllpServer | undefined;
  const sockets: net.Socket[] = [];
  const clients: TestMllpClient[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  /** A listener that ACKs every frame at once with `ACK|<MSH-10>`. */
  async function start(opts: Partial<MllpServerOptions> = {}): Promise<{ server: MllpServer; port: number; received: string[] }> {
    const received: string[] = [];
    server = new MllpServer({ host: '127.0.0.1', port: 0, ...opts });
    server.on('message', (ex: MllpExchange, data: Buffer) => {
      received.push(controlIdOf(data));
      ex.reply(Buffer.from(`ACK|${controlIdOf(data)}`));
    });
    const { port } = await server.listen();
    return { server, port, received };
  }

  async function raw(port: number): Promise<net.Socket> {
    const s = net.connect({ host: '127.0.0.1', port });
    sockets.push(s);
    s.on('error', () => { /* closed by the server in some tests */ });
    await once(s, 'connect');
    return s;
  }

  async function client(port: number): Promise<TestMllpClient> {
    const c = await TestMllpClient.connect(port);
    clients.push(c);
    return c;
  }

  it('200 idle connections and a slow-loris sender do not hold up a normal sender', async () => {
    const { server, port, received } = await start({ maxConnections: 500 });
    const before = await client(port);
    const baseline = await normalSender(before, 'B', 10, 10);

    for (let i = 0; i < 200; i++) await raw(port);
    const loris = await raw(port);
    const lorisReplies: Buffer[] = [];
    loris.on('data', (d: Buffer) => lorisReplies.push(d));
    await until(() => server.connectionCount === 202);

    // The slow-loris frame: one byte every 50 ms, about 3.5 s for the whole frame.
    const slow = framed(msg('LORIS'));
    const dribble = (async () => {
      for (const b of slow) {
        loris.write(Buffer.from([b]));
        await delay(50);
      }
    })();
    const normal = await client(port);
    const latencies = await normalSender(normal, 'N', 60, 40);
    assert.equal(received.includes('LORIS'), false);
    await dribble;

    const worst = Math.max(...latencies);
    const worstBaseline = Math.max(...baseline);
    assert.ok(worst < 250, `slowest ACK under load ${worst.toFixed(1)} ms (without load ${worstBaseline.toFixed(1)} ms)`);
    assert.equal(latencies.length, 60);
    // The slow sender is served too, once its frame is complete, and only then.
    await until(() => Buffer.concat(lorisReplies).toString('latin1').includes('ACK|LORIS'), 3000);
    assert.equal(received.filter((id) => id === 'LORIS').length, 1);
    assert.equal(server.connectionCount, 203);
  });

  it('a flood over maxConnections is refused while the open connections keep working', async () => {
    const { server, port } = await start({ maxConnections: 10 });
    const refused: GatewayError[] = [];
    server.on('rejected', (e: GatewayError) => refused.push(e));
    const normal = await client(port);
    const idle: net.Socket[] = [];
    for (let i = 0; i < 9; i++) idle.push(await raw(port));
    await until(() => server.connectionCount === 10);

    const flood = await Promise.all(Array.from({ length: 100 }, () => new Promise<number>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => s.write(framed(msg('FLOOD'))));
      sockets.push(s);
      let got = 0;
      s.on('data', (d: Buffer) => { got += d.length; });
      s.on('error', () => { /* reset by the server */ });
      s.on('close', () => resolve(got));
    })));
    assert.deepEqual(flood, new Array(100).fill(0));
    assert.equal(refused.length, 100);
    assert.ok(refused.every((e) => e.code === 'MLLP_TOO_MANY_CONNECTIONS' && e.params.max === 10));
    assert.equal(server.connectionCount, 10);
    await normalSender(normal, 'N', 5, 0);

    // A freed slot is available again.
    idle[0].destroy();
    await until(() => server.connectionCount === 9);
    const next = await client(port);
    assert.equal(await next.request(msg('AFTER')), 'ACK|AFTER');
  });

  it('a sender silent in the middle of a frame is closed after the idle time-out, with a warning', async () => {
    const { server, port, received } = await start({ idleTimeoutMs: 300 });
    const warnings: GatewayError[] = [];
    server.on('warning', (w: GatewayError) => warnings.push(w));
    const half = await raw(port);
    const t0 = Date.now();
    half.write(framed(msg('HALF')).subarray(0, 30));
    await once(half, 'close');
    const waited = Date.now() - t0;
    assert.ok(waited >= 250 && waited < 3000, `closed after ${waited} ms`);
    await until(() => warnings.length === 1);
    assert.equal(warnings[0].code, 'MLLP_BAD_FRAME');
    assert.equal(warnings[0].params.detail, 'connection closed inside a frame, 29 bytes dropped');
    assert.deepEqual(received, []);
  });

  it('a sender that does not wait for its ACKs is not read ahead without bound; its ACKs stay in order', async () => {
    const held: MllpExchange[] = [];
    const ids: string[] = [];
    server = new MllpServer({ host: '127.0.0.1', port: 0, maxPendingReplies: 10 });
    server.on('message', (ex: MllpExchange, data: Buffer) => { held.push(ex); ids.push(controlIdOf(data)); });
    const { port } = await server.listen();
    const pusher = await client(port);
    const filler = 'OBX|1|ED|||' + 'A'.repeat(4000) + '\r';
    const all = Buffer.concat(Array.from({ length: 300 }, (_, i) => framed(msg(`P${i + 1}`) + filler)));
    pusher.write(all);

    await until(() => held.length >= 10);
    await delay(300);
    const readAhead = held.length;
    await delay(200);
    assert.equal(held.length, readAhead, 'the server kept reading while 10 or more replies were pending');
    assert.ok(readAhead < 300, `read ${readAhead} frames ahead`);
    // The other side of the flow answers: the connection is read again until all 300 are in, ACKs in arrival order.
    const answer = setInterval(() => {
      for (const ex of held) if (ex.state === 'pending') ex.reply(Buffer.from(`ACK|${ex.seq}`));
    }, 5);
    try {
      const frames = await pusher.waitFrames(300, 10000);
      assert.deepEqual(frames.map(String), Array.from({ length: 300 }, (_, i) => `ACK|${i + 1}`));
    } finally {
      clearInterval(answer);
    }
    assert.deepEqual(ids, Array.from({ length: 300 }, (_, i) => `P${i + 1}`));
  });
});

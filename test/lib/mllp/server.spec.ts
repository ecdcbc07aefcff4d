// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import * as net from 'node:net';
import { GatewayError } from '../../../lib/errors';
import { MllpServer, type MllpConnection, type MllpExchange } from '../../../lib/mllp/server';
import { TestMllpClient } from '../../helpers/mllp-client';
import { caseFile } from '../../helpers/paths';

const C03 = '03-mllp-single-byte-chunks-trailer';
const C05 = '05-mllp-trailing-lf-and-fs-without-cr';

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when `cond()` holds, checking after each event of `emitter`... simply polled on the event loop. */
async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await delay(5);
  }
}

describe('lib/mllp/server', () => {
  let server: MllpServer | undefined;
  const clients: TestMllpClient[] = [];

  async function start(opts: Partial<ConstructorParameters<typeof MllpServer>[0]> = {}): Promise<{ server: MllpServer; port: number }> {
    server = new MllpServer({ host: '127.0.0.1', port: 0, ...opts });
    const addr = await server.listen();
    return { server, port: addr.port };
  }

  async function connect(port: number): Promise<TestMllpClient> {
    const c = await TestMllpClient.connect(port);
    clients.push(c);
    return c;
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server?.close();
    server = undefined;
  });

  it('case 03: a reply only after the CR of each frame, message B starting with MSH|', async () => {
    const { server, port } = await start();
    const received: string[] = [];
    server.on('message', (ex: MllpExchange, data: Buffer) => {
      received.push(data.toString('latin1'));
      ex.reply(Buffer.from(`ACK${received.length}`));
    });
    const c = await connect(port);
    for (let i = 1; i <= 3; i++) {
      c.write(caseFile(C03, `chunk${i}.bin`));
      await delay(100);
      assert.equal(c.frames.length, 0, `reply after chunk ${i}`);
    }
    c.write(caseFile(C03, 'chunk4.bin'));
    await c.waitFrames(1, 1000);
    c.write(caseFile(C03, 'chunk5.bin'));
    await delay(100);
    assert.equal(c.frames.length, 1);
    c.write(caseFile(C03, 'chunk6.bin'));
    const frames = await c.waitFrames(2, 1000);
    assert.deepEqual(frames.map(String), ['ACK1', 'ACK2']);
    assert.deepEqual(received, [caseFile(C03, 'msg_a.hl7').toString('latin1'), caseFile(C03, 'msg_b.hl7').toString('latin1')]);
    assert.ok(received[1].startsWith('MSH|'));
  });

  it('sends replies in arrival order even when the handler answers out of order', async () => {
    const { server, port } = await start();
    const pending: MllpExchange[] = [];
    server.on('message', (ex: MllpExchange) => { pending.push(ex); });
    const c = await connect(port);
    c.write(Buffer.concat(['one', 'two', 'three'].map((s) => Buffer.from(`\x0b${s}\x1c\x0d`, 'latin1'))));
    await until(() => pending.length === 3);
    assert.deepEqual(pending.map((e) => e.seq), [1, 2, 3]);
    pending[2].reply(Buffer.from('R3'));
    pending[1].reply(Buffer.from('R2'));
    await delay(100);
    assert.equal(c.frames.length, 0);
    pending[0].reply(Buffer.from('R1'));
    const frames = await c.waitFrames(3, 1000);
    assert.deepEqual(frames.map(String), ['R1', 'R2', 'R3']);
    assert.equal(pending[0].reply(Buffer.from('again')), false);
  });

  it('a released slot lets later replies go', async () => {
    const { server, port } = await start();
    const pending: MllpExchange[] = [];
    server.on('message', (ex: MllpExchange) => { pending.push(ex); });
    const c = await connect(port);
    c.write(Buffer.from('\x0bA\x1c\x0d\x0bB\x1c\x0d', 'latin1'));
    await until(() => pending.length === 2);
    pending[1].reply(Buffer.from('RB'));
    pending[0].release();
    assert.deepEqual((await c.waitFrames(1, 1000)).map(String), ['RB']);
    assert.equal(pending[0].state, 'released');
  });

  it('case 05 A: the LF between frames is dropped silently, both frames arrive', async () => {
    const { server, port } = await start();
    const warnings: GatewayError[] = [];
    const got: string[] = [];
    server.on('warning', (w: GatewayError) => warnings.push(w));
    server.on('message', (ex: MllpExchange, data: Buffer) => { got.push(data.toString('latin1')); ex.reply(Buffer.from('ok')); });
    const c = await connect(port);
    c.write(caseFile(C05, 'a_chunk1.bin'));
    await delay(50);
    c.write(caseFile(C05, 'a_chunk2.bin'));
    await c.waitFrames(2, 1000);
    assert.deepEqual(got, [caseFile(C05, 'msg_a.hl7').toString('latin1'), caseFile(C05, 'msg_b.hl7').toString('latin1')]);
    assert.deepEqual(warnings, []);
  });

  it('case 05 B: FS without CR before the next VT: both frames, one MLLP_MISSING_CR warning', async () => {
    const { server, port } = await start();
    const warnings: string[] = [];
    const got: Array<[string, boolean]> = [];
    server.on('warning', (w: GatewayError) => warnings.push(w.code));
    server.on('message', (ex: MllpExchange, data: Buffer, info: { missingCr: boolean }) => {
      got.push([data.toString('latin1'), info.missingCr]);
      ex.reply(Buffer.from('ok'));
    });
    const c = await connect(port);
    c.write(caseFile(C05, 'b_input.bin'));
    await c.waitFrames(2, 1000);
    assert.deepEqual(got, [[caseFile(C05, 'msg_a.hl7').toString('latin1'), true], [caseFile(C05, 'msg_b.hl7').toString('latin1'), false]]);
    assert.deepEqual(warnings, ['MLLP_MISSING_CR']);
  });

  it('case 05 C lenient: FS then silence is taken as the end after the wait, processed once', async () => {
    const { server, port } = await start({ missingCrWaitMs: 300 });
    const got: number[] = [];
    const warnings: string[] = [];
    server.on('warning', (w: GatewayError) => warnings.push(w.code));
    server.on('message', (ex: MllpExchange) => { got.push(Date.now()); ex.reply(Buffer.from('ok')); });
    const c = await connect(port);
    const t0 = Date.now();
    c.write(caseFile(C05, 'c_input.bin'));
    await c.waitFrames(1, 2000);
    assert.equal(got.length, 1);
    assert.ok(got[0] - t0 >= 250, `processed after ${got[0] - t0} ms`);
    c.write(Buffer.from([0x0d]));          // the late CR is only padding now
    await delay(100);
    assert.equal(got.length, 1);
    assert.deepEqual(warnings, ['MLLP_MISSING_CR']);
  });

  it('case 05 C strict: FS then silence is reported as unterminated, not processed', async () => {
    const { server, port } = await start({ missingCrWaitMs: 200, strict: true });
    let messages = 0;
    const unterminated: string[] = [];
    server.on('message', () => { messages++; });
    server.on('unterminated', (ex: MllpExchange, data: Buffer) => {
      unterminated.push(data.toString('latin1'));
      ex.reply(Buffer.from('NAK'));
    });
    const c = await connect(port);
    c.write(caseFile(C05, 'c_input.bin'));
    assert.deepEqual((await c.waitFrames(1, 2000)).map(String), ['NAK']);
    assert.deepEqual(unterminated, [caseFile(C05, 'msg_a.hl7').toString('latin1')]);
    assert.equal(messages, 0);
    assert.equal(c.closed, false);
  });

  it('an oversize frame is reported with its head and the connection goes on', async () => {
    const { server, port } = await start({ maxFrameSize: 1000 });
    const events: string[] = [];
    server.on('oversize', (ex: MllpExchange, info: { size: number; max: number; head: Buffer }) => {
      events.push(`oversize ${info.size} ${info.max} ${info.head.subarray(0, 4).toString()}`);
      ex.reply(Buffer.from('too big'));
    });
    server.on('message', (ex: MllpExchange, data: Buffer) => { events.push(`message ${data}`); ex.reply(Buffer.from('ok')); });
    const c = await connect(port);
    c.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from('MSH|' + 'x'.repeat(5000)), Buffer.from([0x1c, 0x0d])]));
    c.send('MSH|small');
    assert.deepEqual((await c.waitFrames(2, 2000)).map(String), ['too big', 'ok']);
    assert.deepEqual(events, ['oversize 5004 1000 MSH|', 'message MSH|small']);
  });

  it('warns about bytes outside frames and cut-off frames, without closing', async () => {
    const { server, port } = await start();
    const warnings: string[] = [];
    server.on('warning', (w: GatewayError) => warnings.push(`${w.code} ${w.params.detail}`));
    server.on('message', (ex: MllpExchange) => ex.reply(Buffer.from('ok')));
    const c = await connect(port);
    c.write(Buffer.from('junk\x0bcut\x0bwhole\x1c\x0d', 'latin1'));
    await c.waitFrames(1, 1000);
    assert.deepEqual(warnings, ['MLLP_BAD_FRAME 4 bytes outside a frame discarded',
      'MLLP_BAD_FRAME frame cut off by a new start block, 3 bytes dropped']);
    assert.equal(c.closed, false);
  });

  it('counts connections and refuses those over the limit', async () => {
    const { server, port } = await start({ maxConnections: 1 });
    const rejected: GatewayError[] = [];
    server.on('rejected', (e: GatewayError) => rejected.push(e));
    const first = await connect(port);
    await until(() => server.connectionCount === 1);
    const second = await connect(port);
    await until(() => second.closed);
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0].code, 'MLLP_TOO_MANY_CONNECTIONS');
    assert.equal(rejected[0].params.max, 1);
    assert.equal(first.closed, false);
    assert.equal(server.connectionCount, 1);
    const disconnected = once(server, 'disconnect');
    await first.close();
    const [conn] = await disconnected as [MllpConnection];
    assert.equal(conn.open, false);
    assert.equal(server.connectionCount, 0);
  });

  it('closes idle connections, but not while a reply is pending', async () => {
    const { server, port } = await start({ idleTimeoutMs: 200 });
    let held: MllpExchange | undefined;
    server.on('message', (ex: MllpExchange) => { held = ex; });
    const c = await connect(port);
    c.send('MSH|hold');
    await until(() => held !== undefined);
    await delay(500);
    assert.equal(c.closed, false);
    held!.reply(Buffer.from('late'));
    await c.waitFrames(1, 1000);
    const t0 = Date.now();
    await until(() => c.closed, 3000);
    assert.ok(Date.now() - t0 >= 150);
  });

  it('a reply for a closed connection is refused', async () => {
    const { server, port } = await start();
    let held: MllpExchange | undefined;
    server.on('message', (ex: MllpExchange) => { held = ex; });
    const c = await connect(port);
    c.send('MSH|x');
    await until(() => held !== undefined);
    const gone = once(server, 'disconnect');
    await c.close();
    await gone;
    assert.equal(held!.connection.open, false);
    assert.equal(held!.reply(Buffer.from('x')), false);
  });

  it('reports EADDRINUSE from listen()', async () => {
    const { port } = await start();
    const other = new MllpServer({ host: '127.0.0.1', port });
    await assert.rejects(other.listen(), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    await other.close();
  });

  it('close() ends open connections', async () => {
    const { server, port } = await start();
    const c = await connect(port);
    await until(() => server.connectionCount === 1);
    await server.close();
    await until(() => c.closed);
    assert.equal(server.connectionCount, 0);
    const probe = net.connect({ port, host: '127.0.0.1' });
    const [err] = await once(probe, 'error') as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  });
});

// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the mllp-* node tests: the runtime helper, message hooks for 'complete' mode, small test
// node types standing in for the rest of a gateway flow, and waiting helpers.
import * as net from 'node:net';
import type { NodeAPI } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { Hl7Message } from '../../lib/hl7/message';
import { reportFailure } from '../../nodes/shared/report';
import { TestMllpClient } from '../helpers/mllp-client';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper');
helper.init(require.resolve('node-red'));

export type Msg = Record<string, any>;

/**
 * The test helper builds its node API without the runtime's message hooks (a real runtime has them as
 * RED.hooks); give the node module the very hooks the runtime's Flow and Node use.
 */
export function withHooks(mod: (RED: NodeAPI) => void): (RED: NodeAPI) => void {
  return (RED: NodeAPI) => {
    const r = RED as unknown as { hooks?: unknown };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (!r.hooks) r.hooks = require('@node-red/util').hooks;
    mod(RED);
  };
}

/**
 * Test node types standing in for the rest of a gateway flow:
 * - 'test-pid3': refuses a message whose PID-3 is empty, as the EMR side would (mode 'ack': sets msg.ack to AE
 *   with an ERR at PID-3; mode 'error': fails it with a GatewayError carrying ackCode/location/hl7Code);
 * - 'test-worker': finishes each message after `delay` ms, with done() or (when `fail`) done(err);
 * - 'test-hold': remembers messages and never calls done() (for ordering tests, released by the test).
 */
export function testNodes(RED: NodeAPI): void {
  function Pid3(this: any, config: any): void {
    RED.nodes.createNode(this, config);
    const node = this;
    node.on('input', (msg: Msg, send: (m: Msg) => void, done: (e?: Error) => void) => {
      const m = Hl7Message.parse(msg.payload);
      if ((m.get('PID-3.1') ?? '') === '' && (m.get('PID-3.3') ?? '') === '') {
        if (config.mode === 'error') {
          reportFailure(RED, node, new GatewayError('EMR_NO_BARCODE', { ackCode: 'AE', location: 'PID-3', hl7Code: '101' }), msg, done);
          return;
        }
        msg.ack = { code: 'AE', errors: [{ location: 'PID-3', code: '101', text: 'PID-3 patient identifier is empty' }] };
      }
      send(msg);
      done();
    });
  }
  function Worker(this: any, config: any): void {
    RED.nodes.createNode(this, config);
    this.on('input', (msg: Msg, send: (m: Msg) => void, done: (e?: Error) => void) => {
      setTimeout(() => {
        if (config.fail) { done(Object.assign(new Error('worker failed'), { code: 'EMR_UNREACHABLE' })); return; }
        send(msg);
        done();
      }, Number(config.delay ?? 0));
    });
  }
  const held: Msg[] = [];
  function Hold(this: any, config: any): void {
    RED.nodes.createNode(this, config);
    this.on('input', (msg: Msg) => { held.push(msg); });
    this.release = (i: number): void => { this.send(held[i]); };
    this.held = held;
  }
  RED.nodes.registerType('test-pid3', Pid3);
  RED.nodes.registerType('test-worker', Worker);
  RED.nodes.registerType('test-hold', Hold);
  held.length = 0;
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Connects once the node listens (it starts listening when the flows have started). */
export async function connectWhenListening(port: number, timeoutMs = 5000): Promise<TestMllpClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await TestMllpClient.connect(port);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await delay(20);
    }
  }
}

/** The next `count` messages a node receives. */
export function collect(id: string, count: number): Promise<Msg[]> {
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

/** Every message a node receives, as a live list. */
export function record(id: string): Msg[] {
  const got: Msg[] = [];
  helper.getNode(id).on('input', (m: Msg) => got.push(m));
  return got;
}

/** Warnings logged so far (node.warn texts), optionally only those of one node. */
export function warnings(nodeId?: string): string[] {
  const log = helper.log();
  return log.args
    .map((a: any[]) => a[0])
    .filter((e: any) => e && e.level === log.WARN && (nodeId === undefined || e.id === nodeId))
    .map((e: any) => String(e.msg));
}

/** A field of an HL7 reply (text), 1-based, MSH-1 = separator. */
export function hl7(text: string, path: string): string {
  return Hl7Message.parse(text).get(path) ?? '';
}

/** A port that nothing listens on, reserved by a plain server (for EADDRINUSE). */
export function occupy(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => resolve({
      port: (s.address() as net.AddressInfo).port,
      close: () => new Promise<void>((r) => s.close(() => r())),
    }));
  });
}

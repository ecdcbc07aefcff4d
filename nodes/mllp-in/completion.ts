// SPDX-License-Identifier: Apache-2.0
/**
 * 'complete' ACK mode: knowing when the flow has finished with a received message.
 *
 * Rule: a message is handled when every node that received it (or a copy sent on with the same
 * msg._session) has finished with it, i.e. called done(). Node-RED's message hooks count it: +1 when a
 * copy is routed to a node (preDeliver) or handed to one directly (onReceive without a preceding
 * preDeliver: Catch, Complete, link in), -1 when a node completes it (onComplete). The count is checked
 * on the next turn of the event loop after it reaches zero, because a failing node's Catch nodes receive
 * the message right after its onComplete. An error seen on the way is remembered: the message then ends
 * in a NAK unless something on the error path (a Catch -> mllp response) replied. A node that never calls
 * done() keeps the message open until the receiver's reply time-out.
 */
import type { Node, NodeAPI } from 'node-red';

interface Entry {
  count: number;
  error?: unknown;
  checking: boolean;
  onDone: (error?: unknown) => void;
}

interface HookMsg { _session?: { type?: string; id?: string } }
interface Hooks {
  add(id: string, fn: (ev: { msg?: HookMsg; error?: unknown }) => void): void;
  remove(id: string): void;
}

/** Tracks the sessions of one mllp-in node through the runtime's message hooks. */
export class CompletionTracker {
  private readonly entries = new Map<string, Entry>();
  private readonly routed = new WeakSet<object>();
  private readonly label: string;
  private readonly hooks: Hooks;

  constructor(RED: NodeAPI, node: Node) {
    const hooks = (RED as unknown as { hooks?: Hooks }).hooks;
    if (!hooks) throw new Error('this Node-RED runtime has no message hooks (RED.hooks)');
    this.hooks = hooks;
    this.label = `mllpin${node.id.replace(/[^A-Za-z0-9]/g, '')}`;
    hooks.add(`preDeliver.${this.label}`, (ev) => {
      const e = this.entry(ev.msg);
      if (!e || !ev.msg) return;
      e.count++;
      this.routed.add(ev.msg);
    });
    hooks.add(`onReceive.${this.label}`, (ev) => {
      const e = this.entry(ev.msg);
      if (!e || !ev.msg) return;
      if (this.routed.has(ev.msg)) this.routed.delete(ev.msg);
      else e.count++;
    });
    hooks.add(`onComplete.${this.label}`, (ev) => {
      const id = ev.msg?._session?.id;
      const e = this.entry(ev.msg);
      if (!e || id === undefined) return;
      e.count--;
      if (ev.error !== undefined && ev.error !== null && e.error === undefined) e.error = ev.error;
      if (e.count <= 0) this.check(id);
    });
  }

  /** Starts tracking a session; `onDone(error?)` runs once, when the flow is done with it. */
  watch(id: string, onDone: (error?: unknown) => void): void {
    this.entries.set(id, { count: 0, checking: false, onDone });
  }

  /** To call right after the message was sent: a message nobody received is done at once. */
  sent(id: string): void {
    const e = this.entries.get(id);
    if (e && e.count <= 0) this.check(id);
  }

  /** Stops tracking a session (replied or closed). */
  forget(id: string): void {
    this.entries.delete(id);
  }

  /** Sessions being tracked. */
  get size(): number { return this.entries.size; }

  close(): void {
    this.hooks.remove(`*.${this.label}`);
    this.entries.clear();
  }

  private entry(msg: HookMsg | undefined): Entry | undefined {
    const s = msg?._session;
    if (!s || s.type !== 'mllp' || typeof s.id !== 'string') return undefined;
    return this.entries.get(s.id);
  }

  private check(id: string): void {
    const e = this.entries.get(id);
    if (!e || e.checking) return;
    e.checking = true;
    setImmediate(() => {
      e.checking = false;
      if (this.entries.get(id) !== e || e.count > 0) return;
      this.entries.delete(id);
      e.onDone(e.error);
    });
  }
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Traffic logging into the message store for the MLLP receiver and its reply nodes: every inbound message
 * (with its raw bytes) and every reply sent on its session (related to it). Logging never waits for the
 * disk and never throws: the store's log writes are not durable on their own (the spool's enqueue is the
 * durable step), and a store that cannot be written only costs the log, never a message.
 *
 * A receiver that logs remembers, per reply session, the row of the message; whichever node replies on
 * that session (mllp-in itself, or an mllp-response in the flow) records its reply through logReply().
 */
import type { Node, NodeAPI } from 'node-red';
import { decodeBytes } from '../../lib/hl7/charset';
import { ackCodeOf } from '../../lib/mllp/replies';
import type { MllpSession } from '../../lib/mllp/sessions';
import type { ErrorInfo, EventEntry, LogEntry, Store } from '../../lib/store';
import { openGatewayStore } from './api';

/** settings.js `mgsMessageLog: false` turns traffic logging off for the whole gateway. */
export function messageLogAllowed(RED: NodeAPI): boolean {
  return (RED.settings as unknown as { mgsMessageLog?: unknown }).mgsMessageLog !== false;
}

/** The reason part of a NAK: its MSA-3 text ('' when there is none). */
export function msaText(reply: string): string {
  const m = /(?:^|[\r\n])MSA(.)([^\r\n]*)/.exec(reply);
  return m ? (m[2].split(m[1])[2] ?? '') : '';
}

/** One node's handle on the gateway's store, for logging only. */
export class MessageLog {
  private store: Store;
  private closed = false;

  private constructor(private readonly RED: NodeAPI, private readonly node: Node, readonly actor: string) {
    this.store = openGatewayStore(RED);
  }

  /** A logger for `node`, or null when logging is off or there is no data directory (said once, at debug level). */
  static open(RED: NodeAPI, node: Node, actor: string): MessageLog | null {
    if (!messageLogAllowed(RED)) return null;
    try {
      return new MessageLog(RED, node, actor);
    } catch (err) {
      node.debug(`message log off: ${(err as Error).message}`);
      return null;
    }
  }

  /** The store, opened again when it was closed under us (closeAllStores at shutdown or in tests). */
  private current(): Store | null {
    if (this.closed) return null;
    if (this.store.isClosed) {
      try { this.store = openGatewayStore(this.RED); } catch { return null; }
    }
    return this.store;
  }

  /**
   * Logs a message; returns its row id (null when the store cannot take it). `entry.raw` must be a copy
   * made for the log: it is moved to the store's writer thread, not copied again.
   */
  log(entry: LogEntry): number | null {
    const store = this.current();
    if (!store) return null;
    try {
      return store.logDetached({ actor: this.actor, ...entry });
    } catch (err) {
      this.node.debug(`message log: ${(err as Error).message}`);
      return null;
    }
  }

  /** Records a status change of a logged message (no waiting; a failure only loses the log line). */
  event(id: number, event: Omit<EventEntry, 'actor'> & { actor?: string }): void {
    const store = this.current();
    if (!store) return;
    try {
      store.eventDetached(id, { actor: this.actor, ...event });
    } catch (err) {
      this.node.debug(`message log: ${(err as Error).message}`);
    }
  }

  /** Logs an inbound message that is answered with a NAK before any flow sees it: failed, with the reason. */
  rejected(entry: Omit<LogEntry, 'direction' | 'status'>, nak: string, error: ErrorInfo): number | null {
    const id = this.log({ ...entry, direction: 'in' });
    if (id === null) return null;
    this.event(id, { status: 'failed', error, detail: `${ackCodeOf(nak) || 'NAK'} ${error.code}: ${error.message}` });
    this.log({ direction: 'out', text: nak, kind: 'ack', peer: entry.peer ?? null, relatedId: id, detail: ackCodeOf(nak) || null });
    return id;
  }

  /** Stops logging (the store is released once its pending writes are flushed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.store.isClosed) this.store.release();
  }
}

interface Logged { log: MessageLog; id: number; peer: string | null }

/** A reply given as bytes, as text (its MSH-18 or the session's charset; latin1 keeps any bytes readable). */
function textOf(bytes: Buffer, charset: string): string {
  try { return decodeBytes(bytes, charset).text; } catch { return bytes.toString('latin1'); }
}
const bySession = new WeakMap<MllpSession, Logged>();

/** Remembers the logged row of a session's message, so its reply is logged against it. */
export function rememberLogged(session: MllpSession, log: MessageLog, id: number, peer: string | null): void {
  bySession.set(session, { log, id, peer });
}

/**
 * Logs a reply just sent on a session (direction out, related to the message) and what it means for the
 * message: an AA/CA or a response marks it acked; AE/AR/CE/CR marks it failed with `error` (or the NAK's
 * own code and MSA-3 text). Does nothing when the session's receiver does not log.
 */
export function logReply(session: MllpSession, reply: string | Buffer, actor: string, error?: ErrorInfo): void {
  const l = bySession.get(session);
  if (!l) return;
  bySession.delete(session);
  const text = typeof reply === 'string' ? reply : textOf(reply, session.charset);
  const code = ackCodeOf(text);
  l.log.log({ direction: 'out', text, raw: typeof reply === 'string' ? null : new Uint8Array(reply), kind: code ? 'ack' : 'response',
    peer: l.peer, relatedId: l.id, actor, detail: code || null });
  if (code === '' || code === 'AA' || code === 'CA') {
    l.log.event(l.id, { acked: true, actor, detail: code || 'response' });
  } else {
    const e = error ?? { code: `NAK_${code}`, message: msaText(text) };
    l.log.event(l.id, { status: 'failed', error: e, actor, detail: `${code} ${e.code}: ${e.message}` });
  }
}

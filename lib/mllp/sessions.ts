// SPDX-License-Identifier: Apache-2.0
/**
 * Reply sessions: one per message handed to a flow by an MLLP receiver, found again by msg._session.id
 * when a reply node answers. A frame may hold several messages (batch); its reply frame leaves once every
 * message of it has been answered, in the charset the frame came in, and in arrival order on its
 * connection (MllpExchange). The registry is a module singleton so that every node of the package
 * (mllp-in, mllp-response) shares it.
 */
import { GatewayError } from '../errors';
import { decodeBytes, encodeText } from '../hl7/charset';
import { composeReply, type InboundFrame } from './inbound';
import type { MshPeek } from '../hl7/peek';
import { enhancedModeReply } from './replies';
import type { MllpExchange } from './server';

/**
 * Who answered a session: the receiver at once ('immediate' ACK mode), a reply node in the flow, the
 * receiver once the flow completed ('complete' mode), or the receiver's reply time-out.
 */
export type ReplyOrigin = 'immediate' | 'flow' | 'complete' | 'timeout';

/** Collects the replies of one frame's messages and sends the frame's reply when all are in. */
export class FrameReply {
  private readonly replies: Array<string | Buffer | null | undefined>;
  private missing: number;

  constructor(readonly exchange: MllpExchange, readonly frame: Pick<InboundFrame, 'envelope' | 'charset'>, count: number) {
    this.replies = new Array(count).fill(undefined);
    this.missing = count;
  }

  /** True once the reply frame was handed to the connection (or the connection is gone). */
  get done(): boolean { return this.missing === 0 || !this.exchange.connection.open; }

  /**
   * Stores the reply of message `index`; sends the frame's reply when it was the last one. Throws (and
   * stores nothing) when the reply cannot be encoded in the frame's charset (GatewayError HL7_BAD_CHARSET).
   */
  set(index: number, reply: string | Buffer | null): void {
    if (this.replies[index] !== undefined) return;
    if (this.missing > 1) {
      this.replies[index] = reply;
      this.missing--;
      return;
    }
    const all = this.replies.slice();
    all[index] = reply;
    const charset = this.frame.charset;
    // null = no reply wanted for that message (enhanced mode, MSH-15 NE/ER/SU).
    const wanted = all.filter((r): r is string | Buffer => r !== null && r !== undefined);
    let bytes: Buffer | undefined;
    if (wanted.length === 0) {
      bytes = undefined;
    } else if (all.length === 1 && Buffer.isBuffer(reply)) {
      bytes = reply;
    } else {
      const texts = wanted.map((r) => (Buffer.isBuffer(r) ? decodeBytes(r, charset).text : r));
      bytes = encodeText(composeReply(this.frame, texts), charset);
    }
    this.replies[index] = reply;
    this.missing = 0;
    if (bytes) this.exchange.reply(bytes); else this.exchange.release();
  }
}

export type SessionState = 'open' | 'replied' | 'closed';

/** One message awaiting its reply. */
export class MllpSession {
  private stateValue: SessionState = 'open';
  private origin: ReplyOrigin | undefined;
  private readonly settled: Array<(origin: ReplyOrigin | undefined) => void> = [];

  constructor(readonly id: string, readonly frame: FrameReply, readonly index: number,
              /** The message as received (its MSH is what an ACK must answer). */
              readonly request: string,
              /** peekMsh(request) when the receiver already read it. */
              private readonly head?: MshPeek | null) {}

  get state(): SessionState {
    if (this.stateValue === 'open' && !this.frame.exchange.connection.open) this.close();
    return this.stateValue;
  }

  /** Who replied, once replied. */
  get repliedBy(): ReplyOrigin | undefined { return this.origin; }

  /** Charset the reply will be encoded with (the one the message came in). */
  get charset(): string { return this.frame.frame.charset; }

  /**
   * Answers the message. Throws GatewayError MLLP_SESSION_CLOSED when the connection is gone, and
   * MLLP_ALREADY_REPLIED when the message was answered before (by the receiver or another reply node).
   */
  reply(reply: string | Buffer, origin: ReplyOrigin): void {
    const state = this.state;
    if (state === 'closed') throw new GatewayError('MLLP_SESSION_CLOSED', { id: this.id });
    if (state === 'replied') throw new GatewayError('MLLP_ALREADY_REPLIED', { id: this.id, by: this.origin ?? '' });
    const sent = typeof reply === 'string' ? enhancedModeReply(this.request, reply, this.head) : reply;
    this.frame.set(this.index, sent);             // may throw (charset): the session stays open then
    this.stateValue = 'replied';
    this.origin = origin;
    retire(this);
    this.fire();
  }

  /** Answers unless already answered or closed; returns whether this call answered. */
  tryReply(reply: string | Buffer, origin: ReplyOrigin): boolean {
    if (this.state !== 'open') return false;
    this.reply(reply, origin);
    return true;
  }

  /** Marks the session closed (its connection went away). */
  close(): void {
    if (this.stateValue !== 'open') return;
    this.stateValue = 'closed';
    retire(this);
    this.fire();
  }

  /** Runs `fn` once the session is replied or closed (to clear timers). */
  onSettled(fn: (origin: ReplyOrigin | undefined) => void): void {
    if (this.stateValue !== 'open') fn(this.origin); else this.settled.push(fn);
  }

  private fire(): void {
    for (const fn of this.settled.splice(0)) fn(this.origin);
  }

  /** What findSession hands out for a session that settled a while ago: its id, state and who replied, nothing else. */
  static settledRecord(id: string, state: SessionState, origin: ReplyOrigin | undefined): MllpSession {
    const s = new MllpSession(id, SETTLED_FRAME, -1, '');
    s.stateValue = state;
    s.origin = origin;
    return s;
  }
}

/** The frame of settled records: never used (a settled session neither replies nor reads its connection). */
const SETTLED_FRAME = new FrameReply({ connection: { open: false } } as unknown as MllpExchange, { charset: 'utf-8' }, 0);

const sessions = new Map<string, MllpSession>();
/**
 * Recently settled sessions, so a late reply learns why it is too late (bounded, oldest dropped first). Only
 * the state and who replied are kept: not the message text, the frame or the connection.
 */
const settled = new Map<string, { state: SessionState; origin: ReplyOrigin | undefined }>();
const SETTLED_KEPT = 10000;

function retire(s: MllpSession): void {
  sessions.delete(s.id);
  settled.set(s.id, { state: s.state, origin: s.repliedBy });
  if (settled.size > SETTLED_KEPT) settled.delete(settled.keys().next().value as string);
}

/** Makes a session findable by its id. */
export function registerSession(s: MllpSession): void {
  sessions.set(s.id, s);
}

/**
 * The session with that id: open, or recently replied/closed (check `state`); undefined when unknown
 * (never existed, long gone, or its receiver was redeployed).
 */
export function findSession(id: string): MllpSession | undefined {
  const s = sessions.get(id);
  if (s) {
    void s.state;               // refreshes 'closed' when the connection went away
    return s;
  }
  const r = settled.get(id);
  return r ? MllpSession.settledRecord(id, r.state, r.origin) : undefined;
}

/** Number of sessions awaiting a reply (all receivers). */
export function openSessionCount(): number {
  return sessions.size;
}

// SPDX-License-Identifier: Apache-2.0
/**
 * MLLP sender with a persistent connection. One message is in flight per connection (the rest wait in
 * order); a send resolves only with the reply whose MSA-2 equals the MSH-10 that was sent. A reply for
 * another control ID (typically the late ACK of a message that already timed out) is discarded with a
 * 'warning' event and the wait goes on, so it can never be taken for the current message's ACK
 * (nextgenhealthcare/connect #1441). Replies that are not MLLP-framed HL7 are errors that show the bytes.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { GatewayError } from '../errors';
import { decodeBytes, encodeText } from '../hl7/charset';
import { Hl7Message } from '../hl7/message';
import { peekMsh } from '../hl7/peek';
import { DEFAULT_MAX_FRAME_SIZE, MllpDecoder, encode, isWhitespace, showBytes, type FramerEvent } from './framer';

export interface MllpClientOptions {
  host: string;
  port: number;
  /** Charset for string messages and for replies without MSH-18 (default 'utf-8'). */
  charset?: string;
  /** Enhanced acknowledgment mode: a commit accept (CA) counts as accepted (default false). */
  enhancedMode?: boolean;
  /** Default reply time-out per message in ms (default 10000). */
  ackTimeoutMs?: number;
  /** Give up a connection attempt after this many ms (default 10000). */
  connectTimeoutMs?: number;
  /** First reconnect delay in ms (default 500); doubles after each failed attempt ... */
  reconnectMinMs?: number;
  /** ... up to this many ms (default 30000). */
  reconnectMaxMs?: number;
  /** Largest accepted reply frame (default 16 MiB). */
  maxFrameSize?: number;
  /**
   * MLLP over TLS: ca (to trust the server), cert + key (a client certificate, when the server asks for one),
   * servername, rejectUnauthorized (default true: the server's certificate must be valid for `host`).
   * undefined = plain TCP.
   */
  tls?: tls.ConnectionOptions;
}

export interface SendOptions {
  /** Reply time-out for this message in ms (default: the client's ackTimeoutMs). */
  timeoutMs?: number;
  /** The MSH-10 to expect in MSA-2 (default: read from the message). */
  controlId?: string;
  /** Charset to encode a string message with (default: the client's charset). */
  charset?: string;
}

/** An accepted reply. */
export interface MllpReply {
  /** MSA-1: 'AA', or 'CA' in enhanced mode. */
  code: string;
  /** MSA-2, equal to the MSH-10 sent. */
  controlId: string;
  /** MSA-3 (or the first ERR text), decoded; '' when absent. */
  text: string;
  /** The whole reply as text. */
  raw: string;
  /** The charset the reply was decoded with. */
  charset: string;
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed';

interface Job {
  bytes: Buffer;
  controlId: string;
  timeoutMs: number;
  resolve: (r: MllpReply) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

const ACCEPT_CODES = new Set(['AA', 'CA']);
const REJECT_CODES = new Set(['AE', 'AR', 'CE', 'CR']);

/**
 * Events: 'state' (ClientState, err?) on every connection change; 'warning' (GatewayError) for discarded
 * replies (MLLP_ACK_MISMATCH: stale or unsolicited ACK; MLLP_BAD_FRAME: stray bytes).
 */
export class MllpClient extends EventEmitter {
  readonly options: Required<Omit<MllpClientOptions, 'tls'>> & { tls?: tls.ConnectionOptions };
  private socket: net.Socket | undefined;
  private decoder: MllpDecoder;
  private stateValue: ClientState = 'idle';
  private readonly queue: Job[] = [];
  private inFlight: Job | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Connections in a row that the peer closed at once without replying (e.g. a TLS server refusing our certificate). */
  private refusals = 0;
  private repliedOnSocket = false;
  private lastError: Error | undefined;

  constructor(opts: MllpClientOptions) {
    super();
    this.options = {
      host: opts.host,
      port: opts.port,
      charset: opts.charset ?? 'utf-8',
      enhancedMode: opts.enhancedMode ?? false,
      ackTimeoutMs: opts.ackTimeoutMs ?? 10000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 10000,
      reconnectMinMs: opts.reconnectMinMs ?? 500,
      reconnectMaxMs: opts.reconnectMaxMs ?? 30000,
      maxFrameSize: opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    if (opts.tls) {
      try {
        tls.createSecureContext(opts.tls);   // a bad key or certificate is a configuration error, found now
      } catch (err) {
        throw new GatewayError('CONFIG_INVALID', { detail: `TLS: ${(err as Error).message}` });
      }
    }
    this.decoder = new MllpDecoder({ maxFrameSize: this.options.maxFrameSize });
  }

  get state(): ClientState { return this.stateValue; }

  /** Messages waiting behind the one in flight. */
  get queued(): number { return this.queue.length; }

  /** Opens the connection now (send() does so on demand); afterwards it is kept up and re-opened with back-off. */
  connect(): void {
    if (this.stateValue === 'idle' || this.stateValue === 'waiting') this.open();
  }

  /**
   * Sends one message and resolves with its accepted reply. Rejects with GatewayError:
   * MLLP_NAK {code, text} for AE/AR/CE/CR (and CA outside enhanced mode), MLLP_TIMEOUT {ms},
   * MLLP_BAD_ACK {bytes} / MLLP_BAD_FRAME {detail} for replies that are not framed HL7 ACKs,
   * MLLP_NOT_CONNECTED {host, port, detail} when the peer cannot be reached or the connection drops.
   */
  send(message: string | Buffer, opts: SendOptions = {}): Promise<MllpReply> {
    return new Promise<MllpReply>((resolve, reject) => {
      if (this.stateValue === 'closed') { reject(this.notConnected('client closed')); return; }
      if (this.stateValue === 'waiting' && this.failures > 0) {
        // The peer is unreachable: fail at once (the caller's spool retries) instead of piling up.
        reject(this.notConnected(this.lastError?.message ?? 'reconnecting'));
        return;
      }
      const bytes = typeof message === 'string' ? encodeText(message, opts.charset ?? this.options.charset) : message;
      const controlId = opts.controlId ?? peekMsh(typeof message === 'string' ? message : message.toString('latin1'))?.controlId ?? '';
      this.queue.push({ bytes, controlId, timeoutMs: opts.timeoutMs ?? this.options.ackTimeoutMs, resolve, reject });
      // Idle, or waiting after the peer merely closed a good connection (some close after every ACK): open now.
      if (this.stateValue === 'idle' || this.stateValue === 'waiting') this.open(); else this.pump();
    });
  }

  /** Stops reconnecting, fails whatever is pending and closes the connection. */
  close(): Promise<void> {
    this.setState('closed');
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = undefined; }
    this.failAll(this.notConnected('client closed'));
    const s = this.socket;
    this.socket = undefined;
    if (!s || s.destroyed) return Promise.resolve();
    return new Promise((resolve) => { s.once('close', () => resolve()); s.destroy(); });
  }

  private notConnected(detail: string): GatewayError {
    return new GatewayError('MLLP_NOT_CONNECTED', { host: this.options.host, port: this.options.port, detail });
  }

  private setState(s: ClientState, err?: Error): void {
    if (this.stateValue === 'closed' && s !== 'closed') return;
    const changed = this.stateValue !== s;
    this.stateValue = s;
    if (changed) this.emit('state', s, err);
  }

  private open(): void {
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = undefined; }
    this.setState('connecting');
    this.decoder = new MllpDecoder({ maxFrameSize: this.options.maxFrameSize });
    const { host, port } = this.options;
    const socket: net.Socket = this.options.tls ? tls.connect({ ...this.options.tls, host, port }) : net.connect({ host, port });
    this.socket = socket;
    let connected = false;
    let connectedAt = 0;
    this.repliedOnSocket = false;
    let error: Error | undefined;
    socket.setNoDelay(true);
    socket.setTimeout(this.options.connectTimeoutMs, () => {
      if (!connected) socket.destroy(new Error(`connect timed out after ${this.options.connectTimeoutMs} ms`));
    });
    socket.once(this.options.tls ? 'secureConnect' : 'connect', () => {
      connected = true;
      connectedAt = Date.now();
      socket.setTimeout(0);
      socket.setKeepAlive(true, 60000);
      this.failures = 0;
      this.lastError = undefined;
      this.setState('connected');
      this.pump();
    });
    socket.on('data', (chunk: Buffer) => this.onData(socket, chunk));
    socket.on('error', (err) => { error = err; });
    socket.on('close', () => {
      if (this.socket !== socket) return;          // replaced or closed on purpose
      this.socket = undefined;
      const reason = error ?? new Error(connected ? 'connection closed by peer' : 'connection failed');
      this.lastError = reason;
      if (this.stateValue === 'closed') return;
      if (this.inFlight) this.finish(this.inFlight, this.notConnected(reason.message));
      if (connected && this.queue.length > 0) {
        this.open();                                 // dropped with work waiting: try again at once
        return;
      }
      if (!connected) {
        this.failures++;
        this.failAll(this.notConnected(reason.message));
      }
      this.setState('waiting', reason);
      // A peer that closes every connection at once, unanswered, is refusing us: back off as after a failure,
      // without failing sends (a server that merely closes idle connections is not refusing).
      this.refusals = connected && !this.repliedOnSocket && Date.now() - connectedAt < 1000 ? this.refusals + 1 : 0;
      const backoff = (n: number): number => Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** (n - 1));
      const delay = connected ? backoff(Math.max(1, this.refusals)) : backoff(this.failures);
      this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.open(); }, delay);
      this.retryTimer.unref?.();
    });
  }

  private pump(): void {
    if (this.inFlight || this.stateValue !== 'connected' || !this.socket) return;
    const job = this.queue.shift();
    if (!job) return;
    this.inFlight = job;
    job.timer = setTimeout(() => {
      this.finish(job, new GatewayError('MLLP_TIMEOUT', { ms: job.timeoutMs }));
    }, job.timeoutMs);
    this.socket.write(encode(job.bytes));
  }

  private finish(job: Job, outcome: MllpReply | Error): void {
    if (job.timer) clearTimeout(job.timer);
    if (this.inFlight === job) this.inFlight = undefined;
    if (outcome instanceof Error) job.reject(outcome); else job.resolve(outcome);
    setImmediate(() => this.pump());
  }

  private failAll(err: Error): void {
    if (this.inFlight) this.finish(this.inFlight, err);
    for (const job of this.queue.splice(0)) job.reject(err);
  }

  private onData(socket: net.Socket, chunk: Buffer): void {
    if (this.socket !== socket) return;
    for (const ev of this.decoder.feed(chunk)) {
      if (this.socket !== socket) return;
      this.onEvent(socket, ev);
    }
  }

  private onEvent(socket: net.Socket, ev: FramerEvent): void {
    const job = this.inFlight;
    switch (ev.type) {
      case 'junk':
      case 'aborted': {
        if (ev.type === 'junk' && isWhitespace(ev.data)) return;
        const err = new GatewayError('MLLP_BAD_FRAME', { detail: `reply not MLLP-framed: ${showBytes(ev.data)}` });
        if (job) this.finish(job, err); else this.emit('warning', err);
        // The stream cannot be trusted any more: start again on a fresh connection (the reason is what the log shows).
        socket.destroy(new Error('closed after a reply that was not MLLP-framed'));
        return;
      }
      case 'oversize': {
        const err = new GatewayError('MLLP_BAD_ACK', { bytes: `${showBytes(ev.head)} (reply over ${ev.max} bytes)` });
        if (job) this.finish(job, err); else this.emit('warning', err);
        return;
      }
      case 'frame':
        this.onFrame(ev.data);
        return;
    }
  }

  private onFrame(data: Buffer): void {
    const job = this.inFlight;
    this.repliedOnSocket = true;
    let reply: { code: string; controlId: string; text: string; raw: string; charset: string };
    try {
      reply = parseReply(data, this.options.charset);
    } catch (err) {
      const bad = err instanceof GatewayError && err.code === 'MLLP_BAD_ACK' ? err
        : new GatewayError('MLLP_BAD_ACK', { bytes: showBytes(data) });
      if (job) this.finish(job, bad); else this.emit('warning', bad);
      return;
    }
    if (!job || reply.controlId !== job.controlId) {
      this.emit('warning', new GatewayError('MLLP_ACK_MISMATCH', { got: reply.controlId, expected: job?.controlId ?? '' }));
      return;
    }
    if (reply.code === 'CA' && !this.options.enhancedMode) {
      this.finish(job, new GatewayError('MLLP_NAK', { code: 'CA', text: reply.text || 'commit accept received, but the destination is not set to enhanced mode' }));
    } else if (ACCEPT_CODES.has(reply.code)) {
      this.finish(job, reply);
    } else if (REJECT_CODES.has(reply.code)) {
      this.finish(job, new GatewayError('MLLP_NAK', { code: reply.code, text: reply.text }));
    } else {
      this.finish(job, new GatewayError('MLLP_BAD_ACK', { bytes: showBytes(data) }));
    }
  }
}

/** Reads MSA-1/2/3 from a reply frame; throws GatewayError MLLP_BAD_ACK (with the bytes) when it is not HL7 with an MSA. */
export function parseReply(data: Buffer, defaultCharset: string): MllpReply {
  const bad = (): GatewayError => new GatewayError('MLLP_BAD_ACK', { bytes: showBytes(data) });
  let text: string;
  let charset: string;
  try {
    ({ text, charset } = decodeBytes(data, defaultCharset));
  } catch {
    throw bad();
  }
  let msg: Hl7Message;
  try {
    msg = Hl7Message.parse(text);
  } catch {
    throw bad();
  }
  const msa = msg.segment('MSA');
  if (!msa) throw bad();
  const code = (msa.get('1') ?? '').trim().toUpperCase();
  const controlId = msa.get('2') ?? '';
  let detail = msa.get('3') ?? '';
  if (!detail) {
    const err = msg.segment('ERR');
    // ERR-8 user message (v2.5+), ERR-3.2 error code text, or v2.3's ERR-1.4.2 (ELD code text).
    detail = err ? err.get('8') || err.get('3.2') || err.get('1.4.2') || '' : '';
  }
  return { code, controlId, text: detail, raw: text, charset };
}

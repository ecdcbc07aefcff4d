// SPDX-License-Identifier: Apache-2.0
/**
 * MLLP listener on top of node:net. Each received frame becomes an MllpExchange: a reply slot on its
 * connection. Replies leave in the order the frames arrived, whatever order the handler answers in, because
 * a sender pairs each reply with its oldest unanswered message. The server never closes a connection
 * because of what it carried (bad frames are reported, the stream goes on); it closes only on idle
 * time-out (when configured), when over the connection limit, on a refused TLS client, and on close().
 *
 * Hostile or broken peers cannot starve the others: the connection limit counts every open socket (TLS
 * handshakes included), a TLS handshake has a time limit, a connection silent for the idle time-out is
 * closed even in the middle of a frame, and a connection stops being read while it has maxPendingReplies
 * unanswered frames or while its peer does not read the replies (back-pressure instead of unbounded memory).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { GatewayError } from '../errors';
import { DEFAULT_MAX_FRAME_SIZE, MllpDecoder, encode, isWhitespace, type FramerEvent } from './framer';

export interface MllpServerOptions {
  /** Interface to listen on; '' or undefined = all interfaces. */
  host?: string;
  /** TCP port; 0 = any free port (see address()). */
  port: number;
  /** Largest accepted frame content in bytes (default 16 MiB). */
  maxFrameSize?: number;
  /** Close a connection after this many ms without traffic and with no reply pending; 0 = never (default). */
  idleTimeoutMs?: number;
  /** Refuse connections beyond this many at once; 0 = no limit (default). */
  maxConnections?: number;
  /** Strict MLLP: an FS followed by silence is reported (`unterminated`) instead of accepted (default false). */
  strict?: boolean;
  /** How long to wait for the CR after an FS before deciding (default 2000 ms). */
  missingCrWaitMs?: number;
  /** Stop reading a connection while this many of its frames are unanswered (default 100). */
  maxPendingReplies?: number;
  /**
   * MLLP over TLS: key, cert (PEM), ca, passphrase... as for tls.createServer. With `requestCert: true` a
   * client must present a certificate that `ca` vouches for; connections without one are closed before any
   * byte is read (and reported as 'tlsRejected'). undefined = plain TCP.
   */
  tls?: tls.TlsOptions;
  /** TLS only: a client that has not finished its handshake within this many ms is dropped (default 10000). */
  handshakeTimeoutMs?: number;
}

/** What the TLS layer knows about a connection's peer. */
export interface MllpTlsInfo {
  protocol: string;
  /** True when the client presented a certificate signed by a trusted CA. */
  authorized: boolean;
  /** The client certificate's subject CN ('' without one). */
  subject: string;
  /** Why the certificate was not accepted (e.g. DEPTH_ZERO_SELF_SIGNED_CERT, NO_CLIENT_CERTIFICATE). */
  authorizationError?: string;
}

export type ExchangeState = 'pending' | 'replied' | 'released';

/** One received frame awaiting its reply on its connection. */
export class MllpExchange {
  readonly id: string;
  readonly receivedAt = new Date();
  private stateValue: ExchangeState = 'pending';
  /** Framed reply bytes, set by reply(). */
  framed: Buffer | undefined;

  constructor(readonly connection: MllpConnection, readonly seq: number) {
    this.id = `${connection.id}:${seq}`;
  }

  get state(): ExchangeState { return this.stateValue; }

  /**
   * Queues the reply content (the server adds the MLLP framing). It goes out once all earlier frames of the
   * connection have been answered. Returns false when the exchange was already answered or released, or
   * the connection is closed (nothing is sent then).
   */
  reply(content: Buffer): boolean {
    if (this.stateValue !== 'pending' || !this.connection.open) return false;
    this.stateValue = 'replied';
    this.framed = encode(content);
    this.connection.flush();
    return true;
  }

  /** Gives up the slot without replying, so later replies are not held back. */
  release(): void {
    if (this.stateValue !== 'pending') return;
    this.stateValue = 'released';
    this.connection.flush();
  }
}

/** One accepted TCP connection. */
export class MllpConnection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localPort: number;
  readonly openedAt = new Date();
  /** Set on TLS connections. */
  tls: MllpTlsInfo | undefined;
  /** Called after replies were written (the server resumes reading a paused connection). */
  onFlushed: (() => void) | undefined;
  private seq = 0;
  private readonly queue: MllpExchange[] = [];
  private closed = false;

  constructor(readonly socket: net.Socket, idPrefix: string, n: number) {
    this.id = `${idPrefix}${n.toString(36)}`;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    this.localPort = socket.localPort ?? 0;
  }

  get open(): boolean { return !this.closed; }

  /** Replies not yet written (pending or queued behind a pending one). */
  get pendingReplies(): number { return this.queue.length; }

  /** Creates the reply slot for the next received frame. */
  nextExchange(): MllpExchange {
    const ex = new MllpExchange(this, ++this.seq);
    this.queue.push(ex);
    return ex;
  }

  /** Writes every answered reply at the head of the queue, in arrival order. */
  flush(): void {
    while (this.queue.length > 0 && this.queue[0].state !== 'pending') {
      const ex = this.queue.shift()!;
      if (ex.framed && !this.closed) this.socket.write(ex.framed);
      ex.framed = undefined;
    }
    this.onFlushed?.();
  }

  markClosed(): void {
    this.closed = true;
    this.queue.length = 0;
  }
}

export interface MessageInfo { missingCr: boolean }
export interface OversizeInfo { size: number; max: number; head: Buffer }

/**
 * Events:
 * - 'message' (exchange, content: Buffer, info: MessageInfo) — a whole frame;
 * - 'oversize' (exchange, info: OversizeInfo) — a frame over maxFrameSize, discarded (NAK it);
 * - 'unterminated' (exchange, content: Buffer) — strict mode: FS then silence; the frame is not processed;
 * - 'connection' (conn), 'disconnect' (conn, err?) — connection count changes;
 * - 'warning' (GatewayError, conn) — missing CR, bytes outside frames, cut-off or unfinished frames;
 * - 'rejected' (GatewayError MLLP_TOO_MANY_CONNECTIONS, remoteAddress) — a connection over the limit was closed;
 * - 'tlsRejected' (GatewayError MLLP_TLS_REJECTED, remoteAddress) — a TLS handshake failed, or the client's
 *   certificate was missing or not trusted; the connection was closed before anything was read;
 * - 'error' (err) — the listening socket failed after listen() resolved.
 * An exchange event without a listener releases its slot, so replies never stall.
 */
export class MllpServer extends EventEmitter {
  readonly options: Required<Omit<MllpServerOptions, 'tls'>> & { tls?: tls.TlsOptions };
  private server: net.Server | undefined;
  /** Decrypts TLS connections handed over by `server`; never listens itself. */
  private readonly secure: tls.Server | undefined;
  /** Every open TCP socket, handshaking or not: what the connection limit counts. */
  private readonly sockets = new Set<net.Socket>();
  private readonly conns = new Set<MllpConnection>();
  private readonly idPrefix = randomBytes(4).toString('hex') + '-';
  private connCounter = 0;

  constructor(opts: MllpServerOptions) {
    super();
    this.options = {
      host: opts.host ?? '',
      port: opts.port,
      maxFrameSize: opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      idleTimeoutMs: opts.idleTimeoutMs ?? 0,
      maxConnections: opts.maxConnections ?? 0,
      strict: opts.strict ?? false,
      missingCrWaitMs: opts.missingCrWaitMs ?? 2000,
      maxPendingReplies: opts.maxPendingReplies ?? 100,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10000,
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
    // Validate now rather than on the first frame or the first handshake.
    new MllpDecoder({ maxFrameSize: this.options.maxFrameSize });
    if (!Number.isInteger(this.options.maxPendingReplies) || this.options.maxPendingReplies < 1) {
      throw new RangeError(`maxPendingReplies must be a positive integer, got ${this.options.maxPendingReplies}`);
    }
    if (opts.tls) this.secure = this.createSecureServer(opts.tls);
  }

  /**
   * The TLS half. The certificate check is done here rather than by OpenSSL (rejectUnauthorized: false)
   * because OpenSSL would drop an untrusted client without any event, and operators need to see who was refused.
   */
  private createSecureServer(opts: tls.TlsOptions): tls.Server {
    if (!opts.key || !opts.cert) {
      throw new GatewayError('CONFIG_INVALID', { detail: 'TLS needs a server certificate and its private key' });
    }
    if (opts.requestCert && !opts.ca) {
      throw new GatewayError('CONFIG_INVALID', { detail: 'TLS client certificates need a CA certificate to check them against' });
    }
    const requireCert = opts.requestCert === true && opts.rejectUnauthorized !== false;
    let secure: tls.Server;
    try {
      secure = tls.createServer({ ...opts, rejectUnauthorized: false, handshakeTimeout: this.options.handshakeTimeoutMs });
    } catch (err) {
      throw new GatewayError('CONFIG_INVALID', { detail: `TLS: ${(err as Error).message}` });
    }
    secure.on('secureConnection', (socket: tls.TLSSocket) => {
      const peer = socket.getPeerCertificate();
      const hasCert = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
      const info: MllpTlsInfo = {
        protocol: socket.getProtocol() ?? '',
        authorized: hasCert && socket.authorized,
        subject: hasCert ? String(peer.subject?.CN ?? '') : '',
      };
      if (!info.authorized && opts.requestCert) {
        info.authorizationError = hasCert ? String(socket.authorizationError ?? 'UNTRUSTED_CERTIFICATE') : 'NO_CLIENT_CERTIFICATE';
      }
      if (requireCert && !info.authorized) {
        const remote = socket.remoteAddress ?? '';
        socket.on('error', () => { /* closing anyway */ });
        socket.destroy();
        this.emit('tlsRejected', new GatewayError('MLLP_TLS_REJECTED',
          { detail: info.subject ? `${info.authorizationError} (${info.subject})` : String(info.authorizationError) }), remote);
        return;
      }
      this.accept(socket, info);
    });
    secure.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      socket.destroy();   // not done by node:tls itself after a handshake time-out
      this.emit('tlsRejected', new GatewayError('MLLP_TLS_REJECTED', { detail: err.message }), socket.remoteAddress ?? '');
    });
    return secure;
  }

  /** Open connections. */
  get connectionCount(): number { return this.conns.size; }

  get connections(): MllpConnection[] { return [...this.conns]; }

  /** Starts listening; rejects with the socket error (e.g. code EADDRINUSE). */
  listen(): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.onSocket(socket));
      this.server = server;
      const onError = (err: Error): void => { this.server = undefined; reject(err); };
      server.once('error', onError);
      const host = this.options.host || undefined;
      server.listen({ port: this.options.port, host }, () => {
        server.removeListener('error', onError);
        server.on('error', (err) => this.emit('error', err));
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  /** The bound address, once listening. */
  address(): net.AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** Stops listening and closes every connection; resolves when all are closed. */
  close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.conns) c.socket.destroy();
    for (const s of this.sockets) s.destroy();
    if (!server || !server.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** A new TCP connection: counted against the limit, then handed to TLS or accepted as plain MLLP. */
  private onSocket(socket: net.Socket): void {
    const { maxConnections } = this.options;
    if (maxConnections > 0 && this.sockets.size >= maxConnections) {
      const remote = socket.remoteAddress ?? '';
      socket.on('error', () => { /* closing anyway */ });
      socket.destroy();
      this.emit('rejected', new GatewayError('MLLP_TOO_MANY_CONNECTIONS', { max: maxConnections }), remote);
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    if (this.secure) {
      socket.on('error', () => { /* reported by the TLS layer */ });
      this.secure.emit('connection', socket);
    } else {
      this.accept(socket);
    }
  }

  private accept(socket: net.Socket, tlsInfo?: MllpTlsInfo): void {
    const conn = new MllpConnection(socket, this.idPrefix, ++this.connCounter);
    conn.tls = tlsInfo;
    const decoder = new MllpDecoder({ maxFrameSize: this.options.maxFrameSize });
    let crTimer: NodeJS.Timeout | undefined;
    let socketError: Error | undefined;
    this.conns.add(conn);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60000);

    const handle = (events: FramerEvent[]): void => {
      for (const ev of events) this.dispatch(conn, ev, false);
    };

    // Back-pressure: a peer that sends faster than the flow answers, or that does not read its replies, is
    // not read further until it catches up; other connections are unaffected.
    const { maxPendingReplies } = this.options;
    let paused = false;
    const throttle = (): void => {
      const busy = conn.pendingReplies >= maxPendingReplies || socket.writableNeedDrain;
      if (busy && !paused) { paused = true; socket.pause(); }
      else if (!busy && paused) { paused = false; socket.resume(); }
    };
    conn.onFlushed = throttle;
    socket.on('drain', throttle);

    socket.on('data', (chunk: Buffer) => {
      if (crTimer) { clearTimeout(crTimer); crTimer = undefined; }
      // replies given while this chunk's frames are handled leave in one write (pipelining senders)
      socket.cork();
      try {
        handle(decoder.feed(chunk));
      } finally {
        socket.uncork();
      }
      throttle();
      if (decoder.awaitingCr) {
        crTimer = setTimeout(() => {
          crTimer = undefined;
          const ev = decoder.flush();
          if (ev) this.dispatch(conn, ev, true);
        }, this.options.missingCrWaitMs);
      }
    });

    let ending = false;
    if (this.options.idleTimeoutMs > 0) {
      socket.setTimeout(this.options.idleTimeoutMs);
      socket.on('timeout', () => {
        // Waiting for the flow's reply is not idleness; a sender silent in the middle of a frame is.
        if (conn.pendingReplies > 0) {
          socket.setTimeout(this.options.idleTimeoutMs);   // busy: look again later
          return;
        }
        if (ending) { socket.destroy(); return; }         // still there a whole period later: not reading
        ending = true;
        socket.end();
        socket.destroySoon();
      });
    }

    socket.on('error', (err) => { socketError = err; });
    socket.on('close', () => {
      if (crTimer) clearTimeout(crTimer);
      const lost = decoder.reset();
      conn.markClosed();
      this.conns.delete(conn);
      if (lost > 0) {
        this.emit('warning', new GatewayError('MLLP_BAD_FRAME',
          { detail: `connection closed inside a frame, ${lost} bytes dropped` }), conn);
      }
      this.emit('disconnect', conn, socketError);
    });
    this.emit('connection', conn);
  }

  /** Turns one decoder event into a server event; `afterWait` = produced by the missing-CR timer. */
  private dispatch(conn: MllpConnection, ev: FramerEvent, afterWait: boolean): void {
    switch (ev.type) {
      case 'junk':
        if (!isWhitespace(ev.data)) {
          this.emit('warning', new GatewayError('MLLP_BAD_FRAME',
            { detail: `${ev.data.length} bytes outside a frame discarded` }), conn);
        }
        return;
      case 'aborted':
        this.emit('warning', new GatewayError('MLLP_BAD_FRAME',
          { detail: `frame cut off by a new start block, ${ev.data.length} bytes dropped` }), conn);
        return;
      case 'oversize': {
        const ex = conn.nextExchange();
        if (!this.emit('oversize', ex, { size: ev.size, max: ev.max, head: ev.head })) ex.release();
        return;
      }
      case 'frame': {
        if (ev.missingCr) {
          this.emit('warning', new GatewayError('MLLP_MISSING_CR', afterWait
            ? { detail: `no CR within ${this.options.missingCrWaitMs} ms after FS` } : {}), conn);
        }
        const ex = conn.nextExchange();
        if (afterWait && this.options.strict) {
          if (!this.emit('unterminated', ex, ev.data)) ex.release();
          return;
        }
        if (!this.emit('message', ex, ev.data, { missingCr: ev.missingCr })) ex.release();
        return;
      }
    }
  }
}

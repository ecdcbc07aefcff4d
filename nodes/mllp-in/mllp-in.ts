// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { buildAck } from '../../lib/hl7/ack';
import { encodeText } from '../../lib/hl7/charset';
import { DEFAULT_MAX_FRAME_SIZE } from '../../lib/mllp/framer';
import { frameNak, nakText, readFrame, type InboundFrame, type InboundMessage, type Nak } from '../../lib/mllp/inbound';
import { ackCodeOf, nakForError, type ErrorLike } from '../../lib/mllp/replies';
import { MllpServer, type MllpConnection, type MllpExchange, type MllpTlsInfo, type OversizeInfo } from '../../lib/mllp/server';
import { FrameReply, MllpSession, registerSession } from '../../lib/mllp/sessions';
import { registerListener } from '../../lib/mllp/listeners';
import type { ErrorInfo } from '../../lib/store';
import { reportConfigFailure } from '../shared/config-failure';
import { MessageLog, logReply, msaText, rememberLogged } from '../shared/message-log';
import { STATUS_FAILED, toCatchable } from '../shared/report';
import { serverTlsOptions } from '../shared/tls';
import { CompletionTracker } from './completion';

type AckMode = 'immediate' | 'flow' | 'complete';
const CHARSETS = ['utf-8', 'euc-kr', 'cp949', 'latin1'] as const;
/** Shortest interval between two updates of the connection count in the node's status. */
const COUNT_STATUS_MS = 500;

/** Editor configuration (property names are what flows/gateway.json carries). */
interface MllpInDef extends NodeDef {
  /** Interface to listen on; '' = all. `${ENV}` allowed. */
  host: string;
  /** TCP port. `${ENV}` allowed. */
  port: string | number;
  /** Charset of messages without MSH-18. */
  charset: string;
  /** Largest accepted frame in bytes. */
  maxFrameSize: string | number;
  /** Close connections idle for this many ms (0 = never). */
  idleTimeout: string | number;
  /** Refuse connections beyond this many (0 = no limit). */
  maxConnections: string | number;
  /** Strict MLLP: FS followed by silence is rejected instead of accepted. */
  strict: boolean;
  /** Wait for the CR after an FS this many ms. */
  missingCrWait: string | number;
  /** Who sends the ACK: see the help. */
  ackMode: AckMode;
  /** 'flow'/'complete': answer AE when nothing replied within this many ms. */
  replyTimeout: string | number;
  /** Log every message and its reply in the message store (default true; settings.mgsMessageLog false turns it off). */
  log?: boolean;
  /** Id of a core tls-config node: MLLP over TLS ('' = plain TCP). */
  tls?: string;
  /** TLS: refuse clients without a certificate signed by the tls-config's CA. */
  requireClientCert?: boolean;
}

interface MllpInOptions {
  host: string; port: number; charset: string; maxFrameSize: number; idleTimeoutMs: number;
  maxConnections: number; strict: boolean; missingCrWaitMs: number; ackMode: AckMode; replyTimeoutMs: number;
}

/** msg of the msg contract, as mllp-in sends it. */
interface MllpInMsg extends NodeMessage {
  payload: string;
  topic: string;
  hl7: { type: string; controlId: string; version: string; charset: string };
  _session: { type: 'mllp'; id: string };
  /** The message's row in the message store (hl7-spool stores the message in that same row). */
  store?: { id: number };
  mllp: { remoteAddress: string; remotePort: number; localPort: number; receivedAt: string; connectionId: string;
    batch?: { index: number; count: number }; tls?: MllpTlsInfo };
}

function bad(detail: string): never {
  throw new GatewayError('CONFIG_INVALID', { detail });
}

/** `${NAME}` left in a value (the runtime substitutes only whole values of variables it knows). */
function substitute(RED: NodeAPI, node: Node, value: unknown): string {
  const s = value === undefined || value === null ? '' : String(value).trim();
  if (!s.includes('${')) return s;
  return String(RED.util.evaluateNodeProperty(s, 'env', node, {}) ?? '');
}

function int(name: string, value: unknown, min: number, max: number, dflt: number): number {
  const s = value === undefined || value === null ? '' : String(value).trim();
  if (s === '') return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) bad(`${name} "${s}" is not a whole number from ${min} to ${max}`);
  return n;
}

/** Validated options; throws GatewayError CONFIG_INVALID. */
function readConfig(RED: NodeAPI, node: Node, c: MllpInDef): MllpInOptions {
  const host = substitute(RED, node, c.host);
  if (host !== '' && !/^[A-Za-z0-9.:_%-]+$/.test(host)) bad(`host "${host}" is not a host name or address`);
  const portText = substitute(RED, node, c.port);
  if (portText === '') bad(`port "${String(c.port ?? '')}" is empty (environment variable not set?)`);
  const port = int('port', portText, 0, 65535, 2575);
  const charset = (c.charset || 'utf-8').toLowerCase();
  if (!(CHARSETS as readonly string[]).includes(charset)) bad(`charset "${c.charset}" is not one of ${CHARSETS.join(', ')}`);
  const ackMode = c.ackMode || 'flow';
  if (!['immediate', 'flow', 'complete'].includes(ackMode)) bad(`ackMode "${String(ackMode)}" is not immediate, flow or complete`);
  return {
    host, port, charset, ackMode,
    maxFrameSize: int('maxFrameSize', c.maxFrameSize, 1024, 1024 * 1024 * 1024, DEFAULT_MAX_FRAME_SIZE),
    idleTimeoutMs: int('idleTimeout', c.idleTimeout, 0, 2147483647, 0),
    maxConnections: int('maxConnections', c.maxConnections, 0, 100000, 64),
    strict: c.strict === true,
    missingCrWaitMs: int('missingCrWait', c.missingCrWait, 10, 600000, 2000),
    replyTimeoutMs: int('replyTimeout', c.replyTimeout, 100, 2147483647, 10000),
  };
}

/**
 * The bytes to log for a message: the frame as received when it holds one message, else the message's
 * text in the frame's charset (the part of the frame it came from).
 */
function bytesOf(frame: InboundFrame, m: InboundMessage, raw: Buffer): Uint8Array | null {
  // a copy: `raw` may be a view into a larger socket buffer, which would all be cloned to the store's writer
  if (frame.messages.length === 1) return new Uint8Array(raw);
  try { return new Uint8Array(encodeText(m.text, frame.charset)); } catch { return null; }
}

/**
 * What the store records as the reason of a NAK sent by the receiver itself: the error code (header
 * problems: HL7_MISSING_MSH, else HL7_BAD_HEADER with the ERR locations and codes) and the NAK's text.
 */
function nakError(nak: Nak): ErrorInfo {
  const text = msaText(nak.text);
  if (/^[A-Z][A-Z0-9_]+$/.test(nak.reason)) return { code: nak.reason, message: text };
  return { code: nak.reason === ':100' ? 'HL7_MISSING_MSH' : 'HL7_BAD_HEADER', message: `${text} (${nak.reason})` };
}

export = function (RED: NodeAPI): void {
  function MllpInNode(this: Node, config: MllpInDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let opts: MllpInOptions;
    let tlsOptions: ReturnType<typeof serverTlsOptions>;
    try {
      opts = readConfig(RED, node, config);
      tlsOptions = serverTlsOptions(RED, config.tls, config.requireClientCert === true);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    let tracker: CompletionTracker | undefined;
    if (opts.ackMode === 'complete') {
      try {
        tracker = new CompletionTracker(RED, node);
      } catch (err) {
        const cancel = reportConfigFailure(RED, node, new GatewayError('CONFIG_INVALID', { detail: (err as Error).message }));
        node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
        return;
      }
    }

    const server = new MllpServer({
      host: opts.host, port: opts.port, maxFrameSize: opts.maxFrameSize, idleTimeoutMs: opts.idleTimeoutMs,
      maxConnections: opts.maxConnections, strict: opts.strict, missingCrWaitMs: opts.missingCrWaitMs,
      ...(tlsOptions ? { tls: tlsOptions } : {}),
    });
    const sessionsByConn = new Map<MllpConnection, Set<MllpSession>>();
    // Logging never waits for the disk: the ACK in 'flow' mode waits only for the spool's durable enqueue.
    const log = config.log === false ? null : MessageLog.open(RED, node, 'mllp-in');
    let closing = false;
    let received = 0;
    const unregister = registerListener({
      id: node.id, name: node.name || '', host: opts.host, tls: tlsOptions !== undefined && tlsOptions !== null,
      port: () => server.address()?.port ?? opts.port, listening: () => server.address() !== undefined,
      connections: () => server.connectionCount, received: () => received,
    });

    // The connection count: shown when it changed, at most every COUNT_STATUS_MS (a trailing update shows the last one).
    let shownCount = -1;
    let countTimer: NodeJS.Timeout | undefined;
    let countAt = 0;
    const showCount = (): void => {
      if (closing || countTimer) return;
      const wait = countAt + COUNT_STATUS_MS - Date.now();
      if (wait > 0) {
        countTimer = setTimeout(() => { countTimer = undefined; showCount(); }, wait);
        return;
      }
      const count = server.connectionCount;
      if (count === shownCount) return;
      countAt = Date.now();
      shownCount = count;
      node.status({ fill: 'green', shape: 'dot', text: RED._('mllp-in.status.connections', { count }) });
    };
    const ref = (hl7: { type: string; controlId: string }): string => `${hl7.type || '?'} #${hl7.controlId}`;
    const logNak = (nak: Nak, hl7: { type: string; controlId: string }): void => {
      node.warn(`[${nak.code}] ${RED._('mllp-in.warn.nak', { code: nak.code, message: ref(hl7), reason: nak.reason })}`);
    };

    /** Replies for a session from the receiver itself; a reply text that cannot be encoded falls back to its code. */
    const replyFromReceiver = (s: MllpSession, ack: string, origin: 'immediate' | 'complete' | 'timeout', fallback?: () => string,
                               error?: ErrorInfo): void => {
      let sent = ack;
      try {
        if (!s.tryReply(ack, origin)) return;
      } catch (err) {
        if (!fallback) throw err;
        sent = fallback();
        if (!s.tryReply(sent, origin)) return;
      }
      logReply(s, sent, 'mllp-in', error);
    };

    const handleFrame = (ex: MllpExchange, frame: InboundFrame, raw: Buffer): void => {
      for (const w of frame.warnings) node.warn(`[${w.code}] ${RED._('mllp-in.warn.frame', { message: toCatchable(RED, w).message })}`);
      const reply = new FrameReply(ex, frame, frame.messages.length);
      const conn = ex.connection;
      const out: MllpInMsg[] = [];
      received += frame.messages.length;
      for (const m of frame.messages) {
        const peer = log ? `${conn.remoteAddress}:${conn.remotePort}` : null;
        if (m.nak) {
          logNak(m.nak, m.hl7);
          log?.rejected({ text: m.text, raw: bytesOf(frame, m, raw), peer }, m.nak.text, nakError(m.nak));
          reply.set(m.index, m.nak.text);
          continue;
        }
        const session = new MllpSession(`${ex.id}.${m.index}`, reply, m.index, m.text, m.peek);
        registerSession(session);
        let set = sessionsByConn.get(conn);
        if (!set) { set = new Set(); sessionsByConn.set(conn, set); }
        set.add(session);
        const open = set;
        session.onSettled(() => { open.delete(session); tracker?.forget(session.id); });
        const msg: MllpInMsg = {
          _msgid: RED.util.generateId(),
          payload: m.text,
          topic: m.hl7.type,
          hl7: { ...m.hl7 },
          _session: { type: 'mllp', id: session.id },
          mllp: {
            remoteAddress: conn.remoteAddress, remotePort: conn.remotePort, localPort: conn.localPort,
            receivedAt: ex.receivedAt.toISOString(), connectionId: conn.id,
            ...(frame.messages.length > 1 ? { batch: { index: m.index, count: frame.messages.length } } : {}),
            ...(conn.tls ? { tls: { ...conn.tls } } : {}),
          },
        };
        if (log) {
          const id = log.log({ direction: 'in', text: m.text, raw: bytesOf(frame, m, raw), peer });
          if (id !== null) {
            msg.store = { id };
            rememberLogged(session, log, id, peer);
          }
        }
        if (opts.ackMode === 'immediate') {
          replyFromReceiver(session, buildAck(m.text, { code: 'AA', peek: m.peek }), 'immediate');
        } else {
          const timer = setTimeout(() => {
            const e = new GatewayError('MLLP_TIMEOUT', { ms: opts.replyTimeoutMs });
            const text = nakText(e);
            if (session.state !== 'open') return;
            replyFromReceiver(session, buildAck(m.text, { code: 'AE', text, errors: [{ code: '207', text }] }), 'timeout',
              undefined, { code: e.code, message: text });
            node.warn(`[AE] ${RED._('mllp-in.warn.nak', { code: 'AE', message: ref(m.hl7), reason: 'MLLP_TIMEOUT' })}`);
          }, opts.replyTimeoutMs);
          session.onSettled(() => clearTimeout(timer));
          if (tracker) {
            tracker.watch(session.id, (error) => {
              if (session.state !== 'open') return;
              if (error === undefined) {
                replyFromReceiver(session, buildAck(m.text, { code: 'AA' }), 'complete');
                return;
              }
              const e = error as ErrorLike;
              const nak = nakForError(m.text, e);
              replyFromReceiver(session, nak, 'complete', () => nakForError(m.text, e, true),
                { code: e.code ?? 'ERROR', message: String(e.message ?? '') });
              const code = ackCodeOf(nak);
              node.warn(`[${code}] ${RED._('mllp-in.warn.nak', { code, message: ref(m.hl7), reason: e.code ?? 'error' })}`);
            });
          }
        }
        out.push(msg);
      }
      for (const msg of out) {
        node.send(msg);
        tracker?.sent(msg._session.id);
      }
    };

    server.on('connection', showCount);
    server.on('disconnect', (conn: MllpConnection, err?: Error) => {
      const set = sessionsByConn.get(conn);
      sessionsByConn.delete(conn);
      for (const s of set ?? []) s.close();
      if (err) node.debug(`${conn.remoteAddress}:${conn.remotePort} ${err.message}`);
      showCount();
    });
    server.on('warning', (w: GatewayError, conn: MllpConnection) => {
      // The code leads the line so operators (and tests) can search for it in any language.
      node.warn(`[${w.code}] ${RED._('mllp-in.warn.connection', { peer: `${conn.remoteAddress}:${conn.remotePort}`, message: toCatchable(RED, w).message })}`);
    });
    server.on('rejected', (w: GatewayError, remote: string) => {
      node.warn(`[${w.code}] ${RED._('mllp-in.warn.rejected', { peer: remote, max: opts.maxConnections })}`);
    });
    server.on('tlsRejected', (w: GatewayError, remote: string) => {
      node.warn(`[${w.code}] ${RED._('mllp-in.warn.connection', { peer: remote, message: toCatchable(RED, w).message })}`);
    });
    server.on('error', (err: Error) => {
      shownCount = -1;
      node.status(STATUS_FAILED);
      node.error(toCatchable(RED, err), {});
    });
    /** Runs a frame handler; an unexpected failure is reported and still answered (AE), never thrown into the socket. */
    const guarded = (ex: MllpExchange, head: Buffer, fn: () => void): void => {
      try {
        fn();
      } catch (err) {
        node.error(toCatchable(RED, err), {});
        if (ex.state !== 'pending') return;
        const ae = buildAck(head.toString('latin1'), { code: 'AE', errors: [{ code: '207' }] });
        try {
          ex.reply(Buffer.from(ae, 'latin1'));
        } catch {
          ex.release();
          return;
        }
        log?.rejected({ text: head.toString('latin1'), raw: new Uint8Array(head),
          peer: `${ex.connection.remoteAddress}:${ex.connection.remotePort}` }, ae, { code: 'ERROR', message: (err as Error).message });
      }
    };
    server.on('message', (ex: MllpExchange, data: Buffer) => {
      guarded(ex, data, () => handleFrame(ex, readFrame(data, opts.charset), data));
    });
    server.on('oversize', (ex: MllpExchange, info: OversizeInfo) => {
      guarded(ex, info.head, () => handleFrame(ex, frameNak(info.head.toString('latin1'), 'latin1',
        new GatewayError('MLLP_FRAME_TOO_LARGE', { max: info.max }), 'AR', [{ code: '207' }]), info.head));
    });
    server.on('unterminated', (ex: MllpExchange, data: Buffer) => {
      guarded(ex, data, () => handleFrame(ex, frameNak(data.toString('latin1'), 'latin1',
        new GatewayError('MLLP_MISSING_CR', {}), 'AR', [{ code: '207' }]), data));
    });

    const listen = (): void => {
      server.listen().then(() => showCount(), (err: NodeJS.ErrnoException) => {
        shownCount = -1;
        node.status({ fill: 'red', shape: 'ring', text: RED._('mllp-in.status.listenFailed') });
        const e = Object.assign(new Error(RED._('mllp-in.errors.listen',
          { host: opts.host || '*', port: opts.port, error: err.message })), { code: err.code ?? 'LISTEN_FAILED' });
        node.error(e, {});
      });
    };
    // Listen once the whole flow is running: Catch nodes then see a listen failure, and no message
    // arrives before the nodes wired to this one exist.
    RED.events.once('flows:started', listen);

    node.on('close', (_removed: boolean, done: () => void) => {
      closing = true;
      if (countTimer) { clearTimeout(countTimer); countTimer = undefined; }
      RED.events.removeListener('flows:started', listen);
      unregister();
      for (const set of sessionsByConn.values()) for (const s of set) s.close();
      sessionsByConn.clear();
      tracker?.close();
      log?.close();
      server.close().then(() => { node.status({}); done(); }, () => done());
    });
  }

  RED.nodes.registerType('mllp-in', MllpInNode);
};

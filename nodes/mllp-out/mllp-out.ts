// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { newControlId } from '../../lib/hl7/ack';
import { encodeText, hl7CharsetName, resolveCharset, setMsh18 } from '../../lib/hl7/charset';
import { peekMsh } from '../../lib/hl7/peek';
import { MllpClient, type ClientState } from '../../lib/mllp/client';
import { setMshField } from '../../lib/mllp/outbound';
import { reportConfigFailure } from '../shared/config-failure';
import { reportFailure, toCatchable } from '../shared/report';
import { clientTlsOptions } from '../shared/tls';

const CHARSETS = ['auto', 'utf-8', 'euc-kr', 'cp949', 'latin1'] as const;
type OutCharset = typeof CHARSETS[number];

/** Editor configuration (property names are what flows/gateway.json carries). */
interface MllpOutDef extends NodeDef {
  /** Destination host. `${ENV}` allowed. */
  host: string;
  /** Destination port. `${ENV}` allowed. */
  port: string | number;
  /** 'auto' = the charset the message came in (msg.hl7.charset, else its MSH-18, else UTF-8); else re-encode. */
  charset: OutCharset;
  /** Reply time-out per message, ms. */
  ackTimeout: string | number;
  /** Enhanced acknowledgment mode: a commit accept (CA) counts as delivered. */
  enhancedMode: boolean;
  /** Replace MSH-10 with a fresh unique control ID before sending (the MG's BARCODE/IMAGE cannot be matched). */
  newControlId: boolean;
  /** Id of a core tls-config node: MLLP over TLS ('' = plain TCP). */
  tls?: string;
}

interface OutMsg extends NodeMessage {
  hl7?: { charset?: string };
  spool?: unknown;
  error?: unknown;
  mllpOut?: {
    controlId: string; originalControlId: string; host: string; port: number; charset?: string;
    ack?: { code: string; controlId: string; text: string };
  };
}

function bad(detail: string): never {
  throw new GatewayError('CONFIG_INVALID', { detail });
}

export = function (RED: NodeAPI): void {
  function MllpOutNode(this: Node, config: MllpOutDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    const sub = (v: unknown): string => {
      const s = v === undefined || v === null ? '' : String(v).trim();
      return s.includes('${') ? String(RED.util.evaluateNodeProperty(s, 'env', node, {}) ?? '') : s;
    };
    let host: string;
    let port: number;
    let ackTimeoutMs: number;
    let charset: OutCharset;
    let tlsOptions: ReturnType<typeof clientTlsOptions>;
    try {
      host = sub(config.host);
      if (!/^[A-Za-z0-9.:_%-]+$/.test(host)) bad(`host "${host}" is not a host name or address`);
      const p = sub(config.port);
      port = Number(p);
      if (p === '' || !Number.isInteger(port) || port < 1 || port > 65535) bad(`port "${p}" is not a TCP port`);
      const t = String(config.ackTimeout ?? '').trim();
      ackTimeoutMs = t === '' ? 10000 : Number(t);
      if (!Number.isInteger(ackTimeoutMs) || ackTimeoutMs < 100) bad(`ackTimeout "${t}" is not a number of ms (at least 100)`);
      charset = (config.charset || 'auto') as OutCharset;
      if (!CHARSETS.includes(charset)) bad(`charset "${charset}" is not one of ${CHARSETS.join(', ')}`);
      tlsOptions = clientTlsOptions(RED, config.tls);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }
    const replaceControlId = config.newControlId !== false;
    const client = new MllpClient({ host, port, ackTimeoutMs, enhancedMode: config.enhancedMode === true,
      ...(tlsOptions ? { tls: tlsOptions } : {}) });

    let downReported = false;
    client.on('state', (state: ClientState, err?: Error) => {
      if (state === 'connected') {
        downReported = false;
        node.status({ fill: 'green', shape: 'dot', text: RED._('mllp-out.status.connected') });
      } else if (state === 'connecting') {
        node.status({ fill: 'yellow', shape: 'ring', text: RED._('mllp-out.status.connecting') });
      } else if (state === 'waiting') {
        node.status({ fill: 'red', shape: 'ring', text: RED._('mllp-out.status.failed') });
        if (!downReported) {
          downReported = true;
          node.warn(`[MLLP_NOT_CONNECTED] ${RED._('mllp-out.warn.down', { peer: `${host}:${port}`, error: err?.message ?? '' })}`);
        }
      }
    });
    client.on('warning', (w: GatewayError) => {
      node.warn(`[${w.code}] ${RED._('mllp-out.warn.discarded', { peer: `${host}:${port}`, message: toCatchable(RED, w).message })}`);
    });
    client.connect();

    /** The bytes to send and the charset used: the message's own unless the node is set to re-encode. */
    const encode = (text: string, msg: OutMsg): { bytes: Buffer; text: string; charset: string } => {
      const declared = peekMsh(text)?.charset ?? '';
      const own = msg.hl7?.charset || declared || 'utf-8';
      if (charset === 'auto') return { bytes: encodeText(text, own), text, charset: own };
      if (resolveCharset(charset) === resolveCharset(own)) return { bytes: encodeText(text, charset), text, charset };
      // Re-encoding: MSH-18 and the bytes change together (case 21).
      const relabelled = setMsh18(text, hl7CharsetName(charset));
      return { bytes: encodeText(relabelled, charset), text: relabelled, charset };
    };

    node.on('input', (msg: OutMsg, send, done) => {
      const text = msg.payload;
      const originalControlId = typeof text === 'string' ? peekMsh(text)?.controlId ?? '' : '';
      const info: NonNullable<OutMsg['mllpOut']> = { controlId: originalControlId, originalControlId, host, port };
      const fail = (err: unknown): void => {
        msg.mllpOut = info;
        if (msg.spool !== undefined && msg.spool !== null) {
          // The spool retries: the failure goes to output 2 as data, not as an error.
          const e = toCatchable(RED, err) as Error & { code?: string; params?: Record<string, unknown> };
          msg.error = { code: e.code ?? 'MLLP_NOT_CONNECTED', message: e.message, ...(e.params ? { params: e.params } : {}) };
          const nak = e.code === 'MLLP_NAK' ? String(e.params?.code ?? '') : '';
          node.status({ fill: 'red', shape: 'ring', text: nak ? RED._('mllp-out.status.nak', { code: nak }) : RED._('mllp-out.status.failed') });
          send([null, msg]);
          done();
        } else {
          reportFailure(RED, node, err, msg, done);
        }
      };
      try {
        if (typeof text !== 'string' || peekMsh(text) === null) throw new GatewayError('HL7_MISSING_MSH');
        let out = text;
        if (replaceControlId) {
          info.controlId = newControlId();
          out = setMshField(out, 10, info.controlId);
        }
        const enc = encode(out, msg);
        info.charset = enc.charset;
        client.send(enc.bytes, { controlId: info.controlId, timeoutMs: ackTimeoutMs }).then((reply) => {
          info.ack = { code: reply.code, controlId: reply.controlId, text: reply.text };
          msg.mllpOut = info;
          node.status({ fill: 'green', shape: 'dot', text: RED._('mllp-out.status.delivered', { code: reply.code }) });
          send([msg, null]);
          done();
        }, fail);
      } catch (err) {
        fail(err);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      client.close().then(() => { node.status({}); done(); }, () => done());
    });
  }

  RED.nodes.registerType('mllp-out', MllpOutNode);
};

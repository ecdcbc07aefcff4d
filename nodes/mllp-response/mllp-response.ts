// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError, isGatewayError } from '../../lib/errors';
import { buildAck } from '../../lib/hl7/ack';
import { peekMsh } from '../../lib/hl7/peek';
import { ackCodeOf, ackFor, nakForError, type AckRequest, type ErrorLike } from '../../lib/mllp/replies';
import { findSession, type MllpSession } from '../../lib/mllp/sessions';
import { reportConfigFailure } from '../shared/config-failure';
import { logReply } from '../shared/message-log';
import { reportFailure } from '../shared/report';

type ReplyWith = 'ack' | 'payload';
type FixedCode = 'auto' | 'AA' | 'AE' | 'AR';

/** Editor configuration (property names are what flows/gateway.json carries). */
interface MllpResponseDef extends NodeDef {
  /** 'ack': an ACK built for the received message; 'payload': msg.payload itself is the reply. */
  replyWith: ReplyWith;
  /** 'ack' mode without msg.ack / msg.error: 'auto' = AA, or always this code. */
  ackCode: FixedCode;
  /** MSA-3 text for a fixed code (optional). */
  ackText: string;
}

interface ResponseMsg extends NodeMessage {
  _session?: { type?: string; id?: string };
  ack?: AckRequest;
  error?: ErrorLike & { source?: { id?: string } };
}

export = function (RED: NodeAPI): void {
  function MllpResponseNode(this: Node, config: MllpResponseDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    const replyWith: ReplyWith = config.replyWith || 'ack';
    const fixed: FixedCode = config.ackCode || 'auto';
    if (!['ack', 'payload'].includes(replyWith) || !['auto', 'AA', 'AE', 'AR'].includes(fixed)) {
      const err = new GatewayError('CONFIG_INVALID', { detail: `replyWith "${String(replyWith)}" / ackCode "${String(fixed)}"` });
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }
    const ackText = (config.ackText ?? '').trim();

    // The status shows the last reply's code: set only when it changes, its text translated once per code.
    const statusTexts = new Map<string, string>();
    let shown = '';
    const showSent = (fill: 'green' | 'yellow', code: string | undefined): void => {
      const key = `${fill} ${code ?? ''}`;
      if (key === shown) return;
      let text = statusTexts.get(key);
      if (text === undefined) {
        text = RED._('mllp-response.status.sent', { code: code ?? RED._('mllp-response.status.payload') });
        statusTexts.set(key, text);
      }
      shown = key;
      node.status({ fill, shape: 'dot', text });
    };

    /** The reply text for the session, and its MSA-1 when it is an ACK. */
    const buildReply = (msg: ResponseMsg, s: MllpSession, codeOnly: boolean): { reply: string | Buffer; code?: string; reason?: string } => {
      if (replyWith === 'payload') {
        const p = msg.payload;
        if (typeof p !== 'string' && !Buffer.isBuffer(p)) throw new GatewayError('HL7_MISSING_MSH', { detail: 'msg.payload is not HL7 text' });
        return { reply: p };
      }
      if (msg.ack !== undefined && msg.ack !== null) {
        const text = ackFor(s.request, msg.ack);
        return { reply: text, code: String(msg.ack.code ?? 'AA'), reason: 'msg.ack' };
      }
      if (msg.error) {
        const text = nakForError(s.request, msg.error, codeOnly);
        return { reply: text, code: ackCodeOf(text), reason: msg.error.code ?? 'error' };
      }
      if (fixed !== 'auto') {
        const nak = fixed !== 'AA';
        const text = buildAck(s.request, {
          code: fixed,
          ...(ackText ? { text: ackText } : {}),
          ...(nak ? { errors: [{ code: '207', ...(ackText ? { text: ackText } : {}) }] } : {}),
        });
        return { reply: text, code: fixed, reason: 'configured' };
      }
      return { reply: buildAck(s.request, { code: 'AA' }), code: 'AA' };
    };

    node.on('input', (msg: ResponseMsg, _send, done) => {
      try {
        const ref = msg._session;
        if (!ref || ref.type !== 'mllp' || typeof ref.id !== 'string' || ref.id === '') {
          throw new GatewayError('MLLP_NO_SESSION');
        }
        const s = findSession(ref.id);
        if (!s || s.state === 'closed') throw new GatewayError('MLLP_SESSION_CLOSED', { id: ref.id });
        if (s.state === 'replied') {
          if (s.repliedBy !== 'immediate') {
            node.warn(`[MLLP_ALREADY_REPLIED] ${RED._('gateway.errors.MLLP_ALREADY_REPLIED', { by: s.repliedBy ?? '' })}`);
          }
          done();
          return;
        }
        let built = buildReply(msg, s, false);
        try {
          s.reply(built.reply, 'flow');
        } catch (err) {
          // A NAK's text (a translated error message) may not fit the reply charset: send the code instead.
          if (!(isGatewayError(err, 'HL7_BAD_CHARSET') && msg.error && !msg.ack && replyWith === 'ack')) throw err;
          built = buildReply(msg, s, true);
          s.reply(built.reply, 'flow');
        }
        // logged against the message when its receiver logs (mllp-in `log`, settings.mgsMessageLog)
        logReply(s, built.reply, 'mllp-response', msg.error && !msg.ack && replyWith === 'ack'
          ? { code: msg.error.code ?? 'ERROR', message: String(msg.error.message ?? '').replace(/^[A-Za-z]*Error: /, '') } : undefined);
        if (built.code && built.code !== 'AA' && built.code !== 'CA') {
          const hl7 = peekMsh(s.request);
          const label = `${hl7?.type || '?'} #${hl7?.controlId ?? ''}`;
          node.warn(`[${built.code}] ${RED._('mllp-response.warn.nak', { code: built.code, message: label, reason: built.reason ?? '' })}`);
          showSent('yellow', built.code);
        } else {
          showSent('green', built.code);
        }
        done();
      } catch (err) {
        shown = '';                 // reportFailure may show the failed status
        if (msg.error?.source?.id === node.id) {
          // Failing again on a message whose error this node raised: reported once already, no loop.
          node.debug(`not reported again: ${(err as Error).message}`);
          done();
          return;
        }
        reportFailure(RED, node, err instanceof TypeError ? new GatewayError('CONFIG_INVALID', { detail: err.message }) : err, msg, done);
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => { shown = ''; node.status({}); done(); });
  }

  RED.nodes.registerType('mllp-response', MllpResponseNode);
};

// SPDX-License-Identifier: Apache-2.0
/**
 * pacs forward: sends an approved image (msg.image from image mapping) to PACS as DICOM, by C-STORE
 * (target dicom://AET@host:port) or DICOMweb STOW-RS (target http(s)://…/dicom-web). An empty target
 * (MGS_PACS unset) disables it: messages pass through output 1 with msg.pacs.status 'disabled'.
 * Outputs: 1 sent (or disabled), 2 failed (msg.pacs.error = { code, message }).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { buildDicom } from '../../lib/dicom/secondary-capture';
import { describeTarget, parsePacsTarget, sendToPacs, type PacsTarget } from '../../lib/dicom/send';
import { contentTypeOf } from '../../lib/images/names';
import { reportConfigFailure } from '../shared/config-failure';
import { recordImageEvent } from '../shared/image-queue';
import { reportFailure, toCatchable } from '../shared/report';

interface PacsForwardDef extends NodeDef {
  target: string;     // dicom://AET@host:port[?calling=MGS] | http(s)://host/dicom-web | '' (disabled); default ${MGS_PACS}
  timeout: number | string;   // seconds
  modality: string;   // DICOM Modality for Secondary Capture (default OT)
}

type Msg = NodeMessage & Record<string, any>;

/** A UID that is the same for the same image and patient, so a resend replaces rather than duplicates. */
function stableUid(...parts: Array<string | number | null | undefined>): string {
  const h = createHash('sha256').update(parts.map((p) => String(p ?? '')).join('|')).digest('hex').slice(0, 32);
  return `2.25.${BigInt('0x' + h).toString(10)}`;
}

export = function (RED: NodeAPI): void {
  function PacsForwardNode(this: Node, config: PacsForwardDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let target: PacsTarget | null;
    const timeoutMs = Math.max(1, Number(config.timeout) || 30) * 1000;
    try {
      const raw = config.target === undefined ? '${MGS_PACS}' : config.target;
      target = parsePacsTarget(/^\$\{MGS_PACS\}$/.test(raw.trim()) ? (process.env.MGS_PACS ?? '') : raw);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    let sent = 0;
    let failed = 0;
    const idle = (): void => node.status(target
      ? { fill: 'grey', shape: 'dot', text: describeTarget(target).replace(/^dicom:\/\//, '').slice(0, 30) }
      : { fill: 'grey', shape: 'ring', text: 'pacs-forward.status.disabled' });
    idle();

    node.on('input', (msg: Msg, send, done) => {
      if (!target) {
        msg.pacs = { status: 'disabled' };
        send([msg, null]);
        done();
        return;
      }
      const t = target;
      (async () => {
        const img = msg.image ?? {};
        const patient = img.patient;
        if (!patient || !patient.id) throw new GatewayError('IMAGE_NO_PATIENT', { id: img.id ?? '' });
        if (!img.path || !fs.existsSync(img.path)) throw new GatewayError('IMAGE_NOT_FOUND', { name: img.name ?? '' });
        const data = await fs.promises.readFile(img.path);
        const contentType = img.contentType || contentTypeOf(data.subarray(0, 512), img.name ?? '');
        const obj = buildDicom({
          data, contentType, patient, observedAt: img.observedAt || undefined, description: img.test || undefined,
          modality: config.modality || undefined,
          studyInstanceUid: stableUid('study', img.id, img.sha256, patient.id),
          seriesInstanceUid: stableUid('series', img.id, img.sha256, patient.id),
          sopInstanceUid: stableUid('instance', img.id, img.sha256, patient.id),
        });
        node.status({ fill: 'yellow', shape: 'ring', text: 'pacs-forward.status.sending' });
        return sendToPacs(obj, t, timeoutMs);
      })().then((r) => {
        sent++;
        msg.pacs = { status: 'sent', target: r.target, sopInstanceUid: r.sopInstanceUid, dimseStatus: r.status };
        node.status({ fill: 'green', shape: 'dot', text: RED._('pacs-forward.status.sent', { sent, failed }) });
        recordImageEvent(RED, msg.image?.id, `pacs ${r.target}`, 'pacs-sent', { sopInstanceUid: r.sopInstanceUid });
        send([msg, null]);
        done();
      }, (err) => {
        failed++;
        const e = toCatchable(RED, err) as Error & { code?: string };
        msg.pacs = { status: 'failed', target: describeTarget(t), error: { code: e.code ?? 'PACS_FAILED', message: e.message } };
        node.status({ fill: 'red', shape: 'ring', text: RED._('pacs-forward.status.sent', { sent, failed }) });
        node.warn(`${e.code ?? 'PACS_FAILED'}: image #${msg.image?.id ?? '?'} not forwarded`);
        recordImageEvent(RED, msg.image?.id, `pacs ${describeTarget(t)}`, 'pacs-failed', { code: e.code ?? 'PACS_FAILED', message: e.message });
        send([null, msg]);
        done();
      });
    });

    node.on('close', (_removed: boolean, done: () => void) => { node.status({}); done(); });
  }

  RED.nodes.registerType('pacs-forward', PacsForwardNode);
};

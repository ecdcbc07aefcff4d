// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import {
  convertToOru, parseCodeMap, resolveConvertOptions, spoolControlId, type AgePlacement, type ConvertOptions, type FlagEntry,
  type InputLayout,
} from '../../lib/hl7/convert';
import { reportConfigFailure } from '../shared/config-failure';
import { STATUS_FAILED, reportFailure, toCatchable } from '../shared/report';

/** Editor configuration (property names are what flow files carry). */
interface Hl7ConvertDef extends NodeDef {
  /** Where the input carries name, age/birth date and sex: 'mg' (PID-4/6/7) or 'standard' (PID-5/7/8). */
  layout: InputLayout;
  /** MSH-3..MSH-6; `^` separates components; `${NAME}` reads an environment variable. */
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-12, MSH-11, MSH-18 ('' = no MSH-18). */
  version: string;
  processingId: string;
  charset: string;
  /** HL7 positions of the patient number, the specimen barcode and the device in the input ('' = none). */
  patientIdField: string;
  barcodeField: string;
  deviceField: string;
  /** PID-3.4 / PID-3.5 of the patient number, PID-3.5 of the barcode repetition ('' = no barcode in PID-3). */
  patientAuthority: string;
  patientIdType: string;
  barcodeIdType: string;
  /** JSON object: test code -> "code^text^system" or {code, text, system}. */
  codeMap: string;
  /** Coding system of unmapped test codes (OBX-3.3 / OBR-4.3). */
  codingSystem: string;
  /** OBX-11 / OBR-25: a status letter or 'keep'. */
  resultStatus: string;
  /** Where an age (no birth date) goes. */
  age: AgePlacement;
}

type ConvertMsg = NodeMessage & {
  obx?: unknown;
  spool?: { id?: unknown; messageId?: unknown; destination?: unknown; key?: unknown } | null;
  hl7?: Record<string, unknown>;
  convert?: unknown;
  error?: unknown;
};

/** msg.obx entries as obx-check writes them: only what the conversion needs. */
function flagsOf(obx: unknown): FlagEntry[] | undefined {
  if (!Array.isArray(obx)) return undefined;
  return obx.filter((e): e is Record<string, unknown> => e !== null && typeof e === 'object').map((e) => ({
    ...(typeof e.index === 'number' ? { index: e.index } : {}),
    ...(typeof e.setId === 'string' ? { setId: e.setId } : {}),
    flag: typeof e.flag === 'string' ? e.flag : '',
  }));
}

export = function (RED: NodeAPI): void {
  function Hl7ConvertNode(this: Node, config: Hl7ConvertDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    /** `${NAME}` anywhere in a text value reads the environment ('' when unset), as in mllp-out. */
    const env = (v: unknown): string | undefined => {
      if (v === undefined || v === null) return undefined;
      const s = String(v);
      return s.includes('${') ? String(RED.util.evaluateNodeProperty(s, 'env', node, {}) ?? '') : s;
    };
    let options: ConvertOptions;
    try {
      options = {
        layout: (config.layout || 'mg') as InputLayout,
        sendingApplication: env(config.sendingApplication), sendingFacility: env(config.sendingFacility),
        receivingApplication: env(config.receivingApplication), receivingFacility: env(config.receivingFacility),
        version: env(config.version), processingId: env(config.processingId), charset: env(config.charset),
        patientIdField: config.patientIdField, barcodeField: config.barcodeField, deviceField: config.deviceField,
        patientAuthority: env(config.patientAuthority), patientIdType: config.patientIdType, barcodeIdType: config.barcodeIdType,
        codeMap: parseCodeMap(config.codeMap), codingSystem: config.codingSystem, resultStatus: config.resultStatus,
        age: (config.age || 'nte') as AgePlacement,
      };
      options = { ...resolveConvertOptions(options) };
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    let converted = 0;
    node.on('input', (msg0, send, done) => {
      const msg = msg0 as ConvertMsg;
      try {
        if (typeof msg.payload !== 'string') throw new GatewayError('HL7_MISSING_MSH');
        // Behind a spool every attempt of one entry gets the same MSH-10, so the EMR can discard a resend.
        const controlId = msg.spool && typeof msg.spool === 'object' ? spoolControlId(msg.spool) : undefined;
        const r = convertToOru(msg.payload, { ...options, flags: flagsOf(msg.obx), ...(controlId ? { controlId } : {}) });
        msg.payload = r.text;
        msg.topic = 'ORU^R01';
        // mllp-out sends in msg.hl7.charset: it must now name the charset of the new MSH-18, not the MG's.
        msg.hl7 = { ...(msg.hl7 ?? {}), type: 'ORU^R01', controlId: r.controlId, version: r.version, charset: r.charset };
        msg.convert = { controlId: r.controlId, originalControlId: r.originalControlId, version: r.version,
          charset: r.charsetName, observations: r.observations, dropped: r.dropped };
        converted++;
        node.status({ fill: 'green', shape: 'dot', text: RED._('hl7-convert.status.converted', { count: converted }) });
        send([msg, null]);
        done();
      } catch (err) {
        if (msg.spool !== undefined && msg.spool !== null) {
          // The spool decides (park, retry): the failure goes back to it on output 2, as data.
          const e = toCatchable(RED, err) as Error & { code?: string; params?: Record<string, unknown> };
          msg.error = { code: e.code ?? 'CONFIG_INVALID', message: e.message, ...(e.params ? { params: e.params } : {}) };
          node.status(STATUS_FAILED);
          send([null, msg]);
          done();
        } else {
          reportFailure(RED, node, err, msg, done);
        }
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => { node.status({}); done(); });
  }

  RED.nodes.registerType('hl7-convert', Hl7ConvertNode);
};

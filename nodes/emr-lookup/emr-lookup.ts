// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { isGatewayError } from '../../lib/errors';
import { Hl7Message } from '../../lib/hl7/message';
import {
  DEFAULT_PATIENT_SQL, DEFAULT_TESTS_SQL, lookupOrder, type LookupOptions, type LookupSource,
} from '../../lib/emr/lookup';
import {
  DEFAULT_LOOKUP_PARAMS, DEFAULT_OBX_TEMPLATE, MG_PATIENT_MAPPING, MG_TEST_MAPPING, parseArgs, parseMapping, parseParams,
} from '../../lib/emr/mapping';
import { isSafeIdentifier } from '../../lib/emr/named-params';
import { withTimeout } from '../../lib/emr/timeout';
import { GatewayError } from '../../lib/errors';
import { reportConfigFailure } from '../shared/config-failure';
import { configNumber, emrConnection } from '../shared/emr';
import { reportFailure } from '../shared/report';
import { statusThrottle } from '../shared/status-throttle';

/** Editor configuration (property names are what flow files carry). */
interface EmrLookupDef extends NodeDef {
  connection: string;
  /** JSON list [{ name, field }]: the named SQL parameters and the HL7 fields they come from. */
  params: string;
  patientMode: 'sql' | 'procedure';
  patientSql: string;
  patientProcedure: string;
  /** Procedure arguments in order, comma separated parameter names. */
  patientArgs: string;
  testsMode: 'sql' | 'procedure';
  testsSql: string;
  testsProcedure: string;
  testsArgs: string;
  /** JSON list [{ column, field, raw?, format?, values? }]: EMR column -> HL7 field. */
  patientMapping: string;
  testMapping: string;
  obxTemplate: string;
  msh: 'echo' | 'standard';
  /** ms until the MG gets a NAK (EMR_TIMEOUT) instead of waiting for a slow EMR. */
  timeout: string | number;
}

type LookupMsg = NodeMessage & { emr?: unknown };

const DEFAULT_LOOKUP_TIMEOUT_MS = 3000;

function source(mode: string, sql: string, procedure: string, args: string, defaultSql: string, what: string): LookupSource {
  if (mode === 'procedure') {
    const name = String(procedure ?? '').trim();
    if (!isSafeIdentifier(name)) throw new GatewayError('EMR_BAD_CONFIG', { detail: `${what}: invalid procedure name ${name}` });
    return { mode: 'procedure', procedure: name, args: parseArgs(args) };
  }
  if (mode !== undefined && mode !== '' && mode !== 'sql') throw new GatewayError('EMR_BAD_CONFIG', { detail: `${what}: mode must be sql or procedure` });
  const text = String(sql ?? '').trim();
  return { mode: 'sql', sql: text === '' ? defaultSql : text };
}

/** Validated options; throws GatewayError EMR_BAD_CONFIG. */
function readConfig(c: EmrLookupDef): LookupOptions & { timeoutMs: number } {
  if (c.msh !== undefined && c.msh !== 'echo' && c.msh !== 'standard') {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: 'MSH must be echo or standard' });
  }
  const o = {
    params: parseParams(c.params, DEFAULT_LOOKUP_PARAMS),
    patient: source(c.patientMode, c.patientSql, c.patientProcedure, c.patientArgs, DEFAULT_PATIENT_SQL, 'patient'),
    tests: source(c.testsMode, c.testsSql, c.testsProcedure, c.testsArgs, DEFAULT_TESTS_SQL, 'tests'),
    patientMapping: parseMapping(c.patientMapping, MG_PATIENT_MAPPING),
    testMapping: parseMapping(c.testMapping, MG_TEST_MAPPING),
    obxTemplate: String(c.obxTemplate ?? '').trim() === '' ? DEFAULT_OBX_TEMPLATE : String(c.obxTemplate).trim(),
    msh: c.msh === 'standard' ? 'standard' as const : 'echo' as const,
    timeoutMs: configNumber(c.timeout, 'time-out', DEFAULT_LOOKUP_TIMEOUT_MS),
  };
  if (!/^OBX\|/.test(o.obxTemplate)) throw new GatewayError('EMR_BAD_CONFIG', { detail: 'the OBX template must start with OBX|' });
  for (const s of [o.patient, o.tests]) {
    for (const a of s.args ?? []) {
      if (!o.params.some((p) => p.name === a)) throw new GatewayError('EMR_BAD_CONFIG', { detail: `procedure argument ${a} is not a parameter` });
    }
  }
  return o;
}

export = function (RED: NodeAPI): void {
  function EmrLookupNode(this: Node, config: EmrLookupDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let options: ReturnType<typeof readConfig>;
    try {
      emrConnection(RED, config.connection);
      options = readConfig(config);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    // the last look-up, shown (and translated) at most every 500 ms
    let lastCount = 0;
    const status = statusThrottle(node, () => ({ fill: 'green', shape: 'dot', text: RED._('emr-lookup.status.found', { count: lastCount }) }));

    node.on('input', (msg: LookupMsg, send, done) => {
      void (async () => {
        try {
          const text = msg.payload;
          if (typeof text !== 'string') Hl7Message.parse(text as unknown as string);   // HL7_MISSING_MSH
          const adapter = emrConnection(RED, config.connection).getAdapter();
          const r = await withTimeout(lookupOrder(adapter, text as string, options), options.timeoutMs);
          msg.payload = r.response;
          msg.emr = { patient: r.patient, tests: r.tests };
          lastCount = r.tests.length;
          status.touch();
          send(msg);
          done();
        } catch (err) {
          reportFailure(RED, node, err, msg, done);
          status.reset();
          if (isGatewayError(err, 'EMR_NOT_FOUND') || isGatewayError(err, 'EMR_NO_BARCODE')) {
            // the EMR answered: not an outage, so no red ring
            node.status({ fill: 'yellow', shape: 'ring', text: `emr-lookup.status.${err.code === 'EMR_NOT_FOUND' ? 'notFound' : 'noBarcode'}` });
          }
        }
      })();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType('emr-lookup', EmrLookupNode);
};

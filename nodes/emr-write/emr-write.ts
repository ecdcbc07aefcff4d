// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { Hl7Message } from '../../lib/hl7/message';
import { parseArgs, parseParams } from '../../lib/emr/mapping';
import { isSafeIdentifier } from '../../lib/emr/named-params';
import { withTimeout } from '../../lib/emr/timeout';
import {
  DEFAULT_WRITE_ARGS, DEFAULT_WRITE_PARAMS, DEFAULT_WRITE_SQL, messageKeyOf, processZone, resultRows, ROW_PARAM_NAMES,
  writeResults, type ObxResult, type WriteTarget,
} from '../../lib/emr/write';
import type { ParamSpec } from '../../lib/emr/mapping';
import { reportConfigFailure } from '../shared/config-failure';
import { configNumber, emrConnection } from '../shared/emr';
import { reportFailure, toCatchable } from '../shared/report';
import { statusThrottle } from '../shared/status-throttle';

/** Editor configuration (property names are what flow files carry). */
interface EmrWriteDef extends NodeDef {
  connection: string;
  mode: 'sql' | 'procedure';
  /** One parameterized statement, run once per result row. */
  sql: string;
  procedure: string;
  /** Procedure arguments in order, comma separated parameter names. */
  args: string;
  /** JSON list [{ name, field }]: message-level parameters and the HL7 fields they come from. */
  params: string;
  /** Zone of OBR-7 values without an offset when MSH-7 has none: '' = the server's, '+09:00', 'Asia/Seoul'. */
  timezone: string;
  /** ms for the whole message (all rows, one transaction). */
  timeout: string | number;
}

type WriteMsg = NodeMessage & {
  obx?: ObxResult[];
  spool?: { key?: unknown } & Record<string, unknown>;
  mllp?: { receivedAt?: unknown };
  emrWrite?: unknown;
  error?: unknown;
};

const DEFAULT_WRITE_TIMEOUT_MS = 10000;

interface Config { target: WriteTarget; params: ParamSpec[]; timezone: string; timeoutMs: number }

/** Validated options; throws GatewayError EMR_BAD_CONFIG. */
function readConfig(c: EmrWriteDef): Config {
  const params = parseParams(c.params, DEFAULT_WRITE_PARAMS);
  const known = new Set<string>([...params.map((p) => p.name), ...ROW_PARAM_NAMES]);
  let target: WriteTarget;
  if (c.mode === 'procedure') {
    const name = String(c.procedure ?? '').trim();
    if (!isSafeIdentifier(name)) throw new GatewayError('EMR_BAD_CONFIG', { detail: `invalid procedure name ${name}` });
    const args = String(c.args ?? '').trim() === '' ? [...DEFAULT_WRITE_ARGS] : parseArgs(c.args);
    for (const a of args) if (!known.has(a)) throw new GatewayError('EMR_BAD_CONFIG', { detail: `procedure argument ${a} is not a parameter` });
    target = { mode: 'procedure', procedure: name, args };
  } else if (c.mode === undefined || (c.mode as string) === '' || c.mode === 'sql') {
    const sql = String(c.sql ?? '').trim();
    target = { mode: 'sql', sql: sql === '' ? DEFAULT_WRITE_SQL : sql };
  } else {
    throw new GatewayError('EMR_BAD_CONFIG', { detail: 'mode must be sql or procedure' });
  }
  const timezone = String(c.timezone ?? '').trim();
  if (timezone !== '' && !/^(?:UTC|GMT)?[+-]\d{1,2}(?::?\d{2})?$/i.test(timezone) && !/^(UTC|GMT|Z)$/i.test(timezone)) {
    try { new Intl.DateTimeFormat('en-US', { timeZone: timezone }); } catch {
      throw new GatewayError('EMR_BAD_CONFIG', { detail: `unknown time zone ${timezone}` });
    }
  }
  return { target, params, timezone, timeoutMs: configNumber(c.timeout, 'time-out', DEFAULT_WRITE_TIMEOUT_MS) };
}

export = function (RED: NodeAPI): void {
  function EmrWriteNode(this: Node, config: EmrWriteDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let cfg: Config;
    try {
      emrConnection(RED, config.connection);
      cfg = readConfig(config);
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg0, send, done) => {
        const msg = msg0 as WriteMsg;
        if (!msg.spool || typeof msg.spool !== 'object') { reportFailure(RED, node, err, msg, done); return; }
        const e = toCatchable(RED, err) as Error & { code?: string };
        msg.error = { code: e.code ?? 'EMR_BAD_CONFIG', message: e.message };
        send([null, msg]);
        done();
      });
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }
    const zone = cfg.timezone || processZone();
    // the last outcome, shown (and translated) at most every 500 ms
    let lastRows = -1;   // -1: the last write failed (retry)
    const status = statusThrottle(node, () => (lastRows >= 0
      ? { fill: 'green', shape: 'dot', text: RED._('emr-write.status.written', { count: lastRows }) }
      : { fill: 'yellow', shape: 'ring', text: 'emr-write.status.retry' }));

    node.on('input', (msg0, send, done) => {
      const msg = msg0 as WriteMsg;
      void (async () => {
        try {
          if (typeof msg.payload !== 'string') Hl7Message.parse(msg.payload as unknown as string);   // HL7_MISSING_MSH
          const payload = msg.payload as string;
          const key = typeof msg.spool?.key === 'string' && msg.spool.key !== '' ? msg.spool.key : messageKeyOf(payload);
          const rows = resultRows({
            payload, obx: Array.isArray(msg.obx) ? msg.obx : undefined, messageKey: key,
            receivedAt: msg.mllp?.receivedAt, timezone: zone, params: cfg.params,
          });
          const adapter = emrConnection(RED, config.connection).getAdapter();
          const outcome = await withTimeout(writeResults(adapter, rows, cfg.target), cfg.timeoutMs);
          msg.emrWrite = { rows: outcome.rows, duplicates: outcome.duplicates, messageKey: key };
          delete msg.error;
          lastRows = outcome.rows;
          status.touch();
          send([msg, null]);
          done();
        } catch (err) {
          if (msg.spool && typeof msg.spool === 'object') {
            // Behind a spool the failure is an outcome, not an error: the spool retries (or dead-letters) it.
            const e = toCatchable(RED, err) as Error & { code?: string };
            msg.error = { code: e.code ?? 'EMR_QUERY_FAILED', message: e.message };
            lastRows = -1;
            status.touch();
            send([null, msg]);
            done();
          } else {
            reportFailure(RED, node, err, msg, done);
            status.reset();
          }
        }
      })();
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType('emr-write', EmrWriteNode);
};

// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';
import { Hl7Message, parsePath } from '../../lib/hl7/message';
import {
  DEFAULT_RESULT_TYPES, MG_DEMOGRAPHICS, STANDARD_DEMOGRAPHICS, flagObservations, isCritical, parseRangeTable,
  type DemographicFields, type FlagOptions, type NotEvaluableReason, type ObxEntry, type RangeTable,
} from '../../lib/obx/range-check';
import { reportConfigFailure } from '../shared/config-failure';
import { reportFailure } from '../shared/report';
import { statusThrottle } from '../shared/status-throttle';

/** Editor configuration (property names are what flows/gateway.json carries). */
interface ObxCheckDef extends NodeDef {
  /** Accept `,` as decimal separator in OBX-5 and OBX-7. */
  decimalComma: boolean;
  /** Per-test table (JSON array) of critical limits and sex/age-specific ranges. */
  table: string;
  /** Use the table's range even when the message carries one. */
  preferTable: boolean;
  /** Where sex and age are read: the MG's layout, standard HL7, or the fields below. */
  demographics: 'mg' | 'standard' | 'custom';
  sexField: string;
  ageField: string;
  ageKind: 'age' | 'birthDate';
  /** OBX-2 value types that are results, comma separated. */
  resultTypes: string;
}

type CheckedMsg = NodeMessage & { obx?: ObxEntry[]; critical?: ObxEntry[] };

/** Reasons worth an operator's attention (absent values and ranges are normal and only recorded). */
const WARN_REASONS: ReadonlySet<NotEvaluableReason> = new Set<NotEvaluableReason>(
  ['not-numeric', 'not-reported', 'decimal-comma', 'bad-range', 'ambiguous-value']);

function badConfig(detail: string): never {
  throw new GatewayError('CONFIG_INVALID', { detail });
}

/** Validated options; throws GatewayError CONFIG_INVALID. */
function readConfig(config: ObxCheckDef): { table: RangeTable; options: FlagOptions } {
  const table = parseRangeTable(config.table);
  let demographics: DemographicFields;
  const mode = config.demographics || 'mg';
  if (mode === 'mg') demographics = MG_DEMOGRAPHICS;
  else if (mode === 'standard') demographics = STANDARD_DEMOGRAPHICS;
  else if (mode === 'custom') {
    for (const [name, value] of [['sexField', config.sexField], ['ageField', config.ageField]] as const) {
      try { parsePath(String(value ?? '')); } catch { badConfig(`${name} "${String(value ?? '')}" is not an HL7 path like PID-8`); }
    }
    if (config.ageKind !== 'age' && config.ageKind !== 'birthDate') badConfig('ageKind must be age or birthDate');
    demographics = { sexField: config.sexField, ageField: config.ageField, ageKind: config.ageKind };
  } else {
    badConfig(`demographics "${String(mode)}" is not mg, standard or custom`);
  }
  const types = (config.resultTypes ?? '').trim() === ''
    ? DEFAULT_RESULT_TYPES
    : config.resultTypes.split(/[\s,]+/).filter((t) => t !== '');
  for (const t of types) if (!/^[A-Za-z]{2,3}$/.test(t)) badConfig(`result type "${t}" is not an HL7 value type like NM`);
  return {
    table,
    options: {
      decimalComma: config.decimalComma === true, preferTable: config.preferTable === true,
      demographics, resultTypes: types,
    },
  };
}

/** How a row is named in operator texts: test code and position, never a value or a patient datum. */
function rowLabel(e: ObxEntry): string {
  return `OBX-${e.setId || e.index} ${e.test || e.name || e.code}`.trim();
}

/** Stand-ins translated once into a template, replaced per message (no i18next call on the hot path). */
const MESSAGE_MARK = '\u0001message\u0001';
const ROWS_MARK = '\u0001rows\u0001';

export = function (RED: NodeAPI): void {
  const templates = new Map<string, string>();
  function text(key: string, message: string, rows: string): string {
    let t = templates.get(key);
    if (t === undefined) templates.set(key, t = RED._(key, { message: MESSAGE_MARK, rows: ROWS_MARK }));
    return t.replace(MESSAGE_MARK, () => message).replace(ROWS_MARK, () => rows);
  }

  function ObxCheckNode(this: Node, config: ObxCheckDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let table: RangeTable;
    let options: FlagOptions;
    try {
      ({ table, options } = readConfig(config));
    } catch (err) {
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    // the last message's counts, shown (and translated) at most every 500 ms
    let shownCritical = 0;
    let shownAbnormal = 0;
    let shownTotal = 0;
    const status = statusThrottle(node, () => {
      if (shownCritical) return { fill: 'red', shape: 'dot', text: RED._('obx-check.status.critical', { count: shownAbnormal, critical: shownCritical }) };
      if (shownAbnormal) return { fill: 'yellow', shape: 'dot', text: RED._('obx-check.status.abnormal', { count: shownAbnormal }) };
      return { fill: 'green', shape: 'dot', text: RED._('obx-check.status.normal', { count: shownTotal }) };
    });

    node.on('input', (msg: CheckedMsg, send, done) => {
      try {
        const m = Hl7Message.parse(msg.payload as string);
        const entries = flagObservations(m, table, options);
        msg.payload = m.encode();
        msg.obx = entries;
        const ref = `${m.type} #${m.controlId}`;

        const unflagged = entries.filter((e) => e.reason !== undefined && WARN_REASONS.has(e.reason));
        if (unflagged.length) {
          node.warn(text('obx-check.warn.notEvaluable', ref, unflagged.map((e) => `${rowLabel(e)} (${e.reason})`).join(', ')));
        }
        // routine for the MG (it sends 'A' on every row): a debug trace, not an operator's log line
        const replaced = entries.filter((e) => e.overridden);
        if (replaced.length) {
          node.debug(text('obx-check.log.replaced', ref, replaced.map((e) => `${rowLabel(e)} ${e.deviceFlag}->${e.flag || '-'}`).join(', ')));
        }

        const critical = entries.filter((e) => isCritical(e.flag));
        const abnormal = entries.filter((e) => e.flag !== '' && e.flag !== 'N').length;
        shownCritical = critical.length;
        shownAbnormal = abnormal;
        shownTotal = entries.length;
        status.touch();

        let alert: CheckedMsg | null = null;
        if (critical.length) {
          alert = RED.util.cloneMessage(msg);
          alert.critical = critical;
        }
        send([msg, alert]);
        done();
      } catch (err) {
        reportFailure(RED, node, err, msg, done);
        status.reset();
      }
    });

    node.on('close', (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType('obx-check', ObxCheckNode);
};

// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { Hl7Message } from '../../lib/hl7/message';
import {
  parseValidationRules, validateMessage, validationError, type ValidationFailure, type ValidationRuleSet,
} from '../../lib/validate/rules';
import { reportConfigFailure } from '../shared/config-failure';
import { reportFailure, toCatchable } from '../shared/report';
import { statusThrottle } from '../shared/status-throttle';

/** Editor configuration: the rules as JSON text ('' = the built-in defaults). */
interface Hl7ValidateDef extends NodeDef {
  rules: string;
}

type ValidatedMsg = NodeMessage & { validation?: { failures: ValidationFailure[] } };

export = function (RED: NodeAPI): void {
  function Hl7ValidateNode(this: Node, config: Hl7ValidateDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let rules: ValidationRuleSet;
    try {
      rules = parseValidationRules(config.rules);
    } catch (err) {
      // Bad rules: reported once at deploy, and every message fails with the same code (NAKed), so
      // nothing reaches the EMR unchecked.
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    let passed = 0;
    let rejected = 0;
    // counted per message, shown (and translated) at most every 500 ms
    const status = statusThrottle(node, () => ({ fill: rejected > 0 ? 'yellow' : 'green', shape: 'dot',
      text: RED._('hl7-validate.status.counts', { passed, rejected }) }));
    const showCounts = (): void => status.touch();

    node.on('input', (msg: ValidatedMsg, send, done) => {
      try {
        const failures = validateMessage(Hl7Message.parse(msg.payload as string), rules);
        if (failures.length === 0) {
          passed++;
          showCounts();
          send(msg);
          done();
          return;
        }
        rejected++;
        showCounts();
        msg.validation = { failures };
        // A rejected message is the flow's answer, not a failure of this node: the status keeps its counts.
        done(toCatchable(RED, validationError(failures)));
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

  RED.nodes.registerType('hl7-validate', Hl7ValidateNode);
};

// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeDef, NodeMessage } from 'node-red';
import { classify, parseRules, MESSAGE_KINDS, type MessageKind, type RuleSet } from '../../lib/classify/rules';
import { Hl7Message } from '../../lib/hl7/message';
import { reportConfigFailure } from '../shared/config-failure';
import { reportFailure } from '../shared/report';
import { statusThrottle } from '../shared/status-throttle';

/** Editor configuration: the rules as JSON text ('' = the built-in defaults). */
interface Hl7ClassifyDef extends NodeDef {
  rules: string;
}

type ClassifiedMsg = NodeMessage & { kind?: MessageKind };

export = function (RED: NodeAPI): void {
  function Hl7ClassifyNode(this: Node, config: Hl7ClassifyDef): void {
    RED.nodes.createNode(this, config);
    const node = this;

    let rules: RuleSet;
    try {
      rules = parseRules(config.rules);
    } catch (err) {
      // Bad rules: reported once at deploy, and every message is failed with the same code
      // (catchable), so nothing is routed by rules nobody meant.
      const cancel = reportConfigFailure(RED, node, err);
      node.on('input', (msg, _send, done) => reportFailure(RED, node, err, msg, done));
      node.on('close', (_removed: boolean, done: () => void) => { cancel(); done(); });
      return;
    }

    const counts: Record<MessageKind, number> = { request: 0, result: 0, image: 0, other: 0 };
    // counted per message, shown (and translated) at most every 500 ms
    const status = statusThrottle(node, () => ({ fill: 'green', shape: 'dot', text: RED._('hl7-classify.status.counts', { ...counts }) }));

    node.on('input', (msg: ClassifiedMsg, send, done) => {
      try {
        const m = Hl7Message.parse(msg.payload as string);
        const { kind } = classify(m, rules);
        msg.kind = kind;
        counts[kind]++;
        status.touch();
        send(MESSAGE_KINDS.map((k) => (k === kind ? msg : null)));
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

  RED.nodes.registerType('hl7-classify', Hl7ClassifyNode);
};

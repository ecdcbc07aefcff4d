// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI } from 'node-red';
import { STATUS_FAILED, reportFailure } from './report';

/**
 * Report a configuration error found at deploy so that Catch nodes see it. Catch nodes are only
 * registered once every node of the flow exists, so a node.error() from a constructor would reach
 * nobody: the report waits for 'flows:started'. Returns a function for the node's close handler.
 */
export function reportConfigFailure(RED: NodeAPI, node: Node, err: unknown): () => void {
  node.status(STATUS_FAILED);
  const report = (): void => reportFailure(RED, node, err, {});
  RED.events.once('flows:started', report);
  return () => { RED.events.removeListener('flows:started', report); };
}

// SPDX-License-Identifier: Apache-2.0
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { GatewayError } from '../../lib/errors';

/** Status dots used by every node; texts are catalog keys, translated by the editor. */
export const STATUS_FAILED = { fill: 'red', shape: 'ring', text: 'gateway.status.failed' } as const;

/**
 * Turns a domain error into an Error whose own `code` property Catch nodes see as msg.error.code. The runtime
 * copies only message, source, code, stack and cause into msg.error, so the parameters (location, hl7Code,
 * ackCode: what `mllp response` builds its NAK from) travel as msg.error.cause.params.
 */
export function toCatchable(RED: NodeAPI, err: unknown): Error {
  if (err instanceof GatewayError) {
    const cause = { code: err.code, params: err.params };
    return Object.assign(new Error(RED._(`gateway.errors.${err.code}`, err.params)), { code: err.code, params: err.params, cause });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Translate a domain error, show it on the node, and hand it to Catch nodes. */
export function reportFailure(RED: NodeAPI, node: Node, err: unknown, msg: object,
                              done?: (e?: Error) => void): void {
  const e = toCatchable(RED, err);
  node.status(STATUS_FAILED);
  if (done) done(e); else node.error(e, msg as NodeMessage);
}

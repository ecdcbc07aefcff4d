// SPDX-License-Identifier: Apache-2.0
/** What emr-lookup and emr-write need from their emr-connection config node. */
import type { Node, NodeAPI } from 'node-red';
import { GatewayError } from '../../lib/errors';
import type { EmrAdapter } from '../../lib/emr/adapter';

export interface EmrConnectionNode extends Node {
  /** The adapter shared by every user of this connection (created on first use). */
  getAdapter(): EmrAdapter;
  /** Where it points, without password ('postgres://mgs@db:5432/emr'). */
  describe(): string;
}

/** The emr-connection config node `id`; throws CONFIG_MISSING_EMR when there is none. */
export function emrConnection(RED: NodeAPI, id: string | undefined): EmrConnectionNode {
  const conn = id ? (RED.nodes.getNode(id) as EmrConnectionNode | null) : null;
  if (!conn || typeof conn.getAdapter !== 'function') throw new GatewayError('CONFIG_MISSING_EMR');
  return conn;
}

/** A number from the dialog ('' = fallback); throws EMR_BAD_CONFIG naming the setting. */
export function configNumber(v: unknown, name: string, fallback: number, min = 1): number {
  if (v === undefined || v === null || String(v).trim() === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new GatewayError('EMR_BAD_CONFIG', { detail: `${name} must be a number of at least ${min}` });
  return n;
}

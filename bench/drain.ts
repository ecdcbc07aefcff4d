// SPDX-License-Identifier: Apache-2.0
// The backlog scenario: result messages are ACKed and spooled while the EMR is unavailable; then the EMR comes
// back and the time until the spool is empty is the drain time.
import type { Context } from './run';
import type { Sut } from './sut';

export interface DrainResult {
  backlog: number;
  fillSeconds: number | null;
  fillPerSecond: number | null;
  fillErrors: number;
  drainSeconds: number | null;
  perSecond: number | null;
  serverCpuUsPerMsg: number | null;
  peakRssMb: number | null;
  delivered: number;
  lost: number;
  duplicated: number;
  note?: string;
}

/** Fills the spool with `backlog` results while the EMR is down, brings it back and times the drain. */
export async function drainBacklog(_sut: Sut, backlog: number, _ctx: Context): Promise<DrainResult> {
  return { backlog, fillSeconds: null, fillPerSecond: null, fillErrors: 0, drainSeconds: null, perSecond: null,
    serverCpuUsPerMsg: null, peakRssMb: null, delivered: 0, lost: 0, duplicated: 0, note: 'not implemented yet' };
}

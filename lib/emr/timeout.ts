// SPDX-License-Identifier: Apache-2.0
import { GatewayError } from '../errors';

/**
 * Settle with `work`, or reject with EMR_TIMEOUT after `ms` (the MG must get its NAK before its own
 * time-out, whatever the database does). The work itself is not cancelled: the driver's own
 * statement time-out ends it.
 */
export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  if (!(ms > 0) || !Number.isFinite(ms)) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new GatewayError('EMR_TIMEOUT', { ms, detail: `no answer within ${ms} ms`, hl7Code: '207', ackCode: 'AE' }));
    }, ms);
    work.then((v) => { clearTimeout(timer); resolve(v); }, (e) => { clearTimeout(timer); reject(e); });
  });
}

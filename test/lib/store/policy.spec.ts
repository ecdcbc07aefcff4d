// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import {
  DEFAULT_RETRY_POLICY, DEFAULT_TRANSIENT_CODES, decideFailure, parseCodeList, retryDelay, type RetryPolicy,
} from '../../../lib/store/policy';

const p: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseMs: 1000, capMs: 60_000, jitter: 0.2, maxAttempts: 3 };

describe('store/policy: retry schedule', () => {
  it('doubles from the base up to the cap without jitter (random = 0)', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelay(n, p, () => 0));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  });

  it('jitter shortens a delay by at most its fraction', () => {
    assert.equal(retryDelay(3, p, () => 1), 3200);       // 4000 * (1 - 0.2)
    assert.equal(retryDelay(3, p, () => 0.5), 3600);     // 4000 * (1 - 0.1)
    assert.equal(retryDelay(20, p, () => 1), 48000);     // the cap, 20% shorter
  });

  it('stays finite for huge attempt counts', () => {
    assert.equal(retryDelay(10_000, p, () => 0), 60000);
  });
});

describe('store/policy: failing messages', () => {
  it('dead-letter: parks after maxAttempts failures that blame the message', () => {
    assert.deepEqual(decideFailure(1, 0, 'EMR_QUERY_FAILED', p, () => 0), { action: 'retry', delayMs: 1000, failures: 1 });
    assert.deepEqual(decideFailure(2, 1, 'EMR_QUERY_FAILED', p, () => 0), { action: 'retry', delayMs: 2000, failures: 2 });
    assert.deepEqual(decideFailure(3, 2, 'EMR_QUERY_FAILED', p, () => 0), { action: 'dead', failures: 3 });
  });

  it('outage codes never park a message and do not count', () => {
    for (const code of DEFAULT_TRANSIENT_CODES) {
      assert.deepEqual(decideFailure(50, 2, code, p, () => 0), { action: 'retry', delayMs: 60000, failures: 2 });
    }
  });

  it('a failure without a code blames the message', () => {
    assert.deepEqual(decideFailure(3, 2, undefined, p, () => 0), { action: 'dead', failures: 3 });
  });

  it('block: retries for ever', () => {
    const block: RetryPolicy = { ...p, policy: 'block' };
    assert.deepEqual(decideFailure(100, 99, 'EMR_QUERY_FAILED', block, () => 0), { action: 'retry', delayMs: 60000, failures: 100 });
  });

  it('park codes hold a message for staff at once, under both policies (MLLP_NAK:AE by default, not AR)', () => {
    assert.deepEqual(decideFailure(1, 0, 'MLLP_NAK', p, () => 0, 'AE'), { action: 'dead', failures: 1 });
    assert.deepEqual(decideFailure(1, 0, 'MLLP_NAK', { ...p, policy: 'block' }, () => 0, 'AE'), { action: 'dead', failures: 1 });
    assert.deepEqual(decideFailure(1, 0, 'MLLP_NAK', p, () => 0, 'AR'), { action: 'retry', delayMs: 1000, failures: 1 });
    const custom: RetryPolicy = { ...p, parkCodes: new Set(['EMR_BAD_CONFIG']) };
    assert.deepEqual(decideFailure(1, 0, 'EMR_BAD_CONFIG', custom, () => 0), { action: 'dead', failures: 1 });
    assert.deepEqual(decideFailure(1, 0, 'MLLP_NAK', custom, () => 0, 'AE'), { action: 'retry', delayMs: 1000, failures: 1 });
  });

  it('parses code lists from the editor', () => {
    assert.deepEqual([...parseCodeList(' A, B;C  D,,')], ['A', 'B', 'C', 'D']);
    assert.deepEqual([...parseCodeList('')], []);
  });
});

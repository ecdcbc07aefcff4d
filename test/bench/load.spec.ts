// SPDX-License-Identifier: Apache-2.0
// Smoke test of the bench's load generator against the hand-written bare reference (no timing assertions).
import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import { runLoad } from '../../bench/load';
import { startBare } from '../../bench/ref-bare';
import { fixture } from '../helpers/paths';

describe('bench load generator', () => {
  let server: net.Server;
  let port: number;

  before(async () => {
    server = await startBare('127.0.0.1', 0);
    port = (server.address() as net.AddressInfo).port;
  });
  after((done) => { server.close(() => done()); });

  it('sends 200 lock-step messages over 4 connections and pairs every ACK by MSA-2', async () => {
    const r = await runLoad({ port, conns: 4, count: 200, warmup: 20, timeoutMs: 5000 });
    assert.equal(r.sent, 200);
    assert.equal(r.ok, 200);
    assert.equal(r.errors, 0);
    assert.equal(r.warmupErrors, 0);
    assert.equal(r.mismatches, 0);
  });

  it('keeps 10 messages in flight per connection and pairs replies in order', async () => {
    const template = fixture('vectors', 'fig10-result.hl7').toString('utf8');
    const r = await runLoad({ port, conns: 2, pipeline: 10, count: 200, timeoutMs: 5000, template, match: 'order' });
    assert.equal(r.sent, 200);
    assert.equal(r.ok, 200);
    assert.equal(r.errors, 0);
  });

  it('reports connections the server closes at once, and counts their messages as lost', async () => {
    const limited = await startBare('127.0.0.1', 0);
    limited.maxConnections = 1;
    try {
      const r = await runLoad({ port: (limited.address() as net.AddressInfo).port, conns: 2, count: 200, timeoutMs: 5000 });
      assert.ok(r.refused >= 1, `refused ${r.refused}`);
      assert.equal(r.errors, r.dropped + r.connectFailures);
      assert.equal(r.ok + r.dropped, r.sent);
      assert.ok(r.reasons.includes('connection closed by the server before any reply (connection limit?)'));
    } finally {
      await new Promise<void>((resolve) => limited.close(() => resolve()));
    }
  });

  it('counts every rejected reply as an error', async () => {
    const r = await runLoad({ port, conns: 1, count: 50, timeoutMs: 5000, check: () => 'rejected on purpose' });
    assert.equal(r.sent, 50);
    assert.equal(r.ok, 0);
    assert.equal(r.naks, 50);
    assert.equal(r.errors, 50);
    assert.deepEqual(r.reasons, ['rejected on purpose']);
  });
});

// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import pg = require('pg');
import { createAdapter } from '../../../lib/emr/adapter';
import { isGatewayError } from '../../../lib/errors';
import { freePort } from '../../helpers/free-port';
import { emrSuite } from './emr-suite';
import { createPgEmr, PG_URL, pgUnavailable, type TestEmr } from './servers';

describe('emr adapter: PostgreSQL (examples/emr-postgres/emr.sql)', function () {
  this.timeout(60000);
  emrSuite(createPgEmr, pgUnavailable);
});

describe('emr adapter: PostgreSQL outages', function () {
  this.timeout(60000);
  let emr: TestEmr;

  before(async function () {
    const why = await pgUnavailable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });
  beforeEach(async () => { emr = await createPgEmr(); });
  afterEach(async () => { await emr?.drop(); });

  it('reports a session killed by the server as EMR_UNREACHABLE, then reconnects', async () => {
    const app = `mgs-test-${Date.now()}`;
    const a = emr.open({ applicationName: app });
    await a.ping();
    // the expectation is attached at once, so the rejection is never unhandled
    const sleeping = assert.rejects(a.query('SELECT pg_sleep(10)'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE') && e.params.hl7Code === '207' && e.params.ackCode === 'AE');
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      // wait until the statement runs, then end that backend as an administrator (or a crash) would
      for (let killed = 0; killed === 0;) {
        const r = await admin.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'SELECT pg_sleep%'", [app]);
        killed = r.rowCount ?? 0;
        if (killed === 0) await new Promise((res) => setTimeout(res, 20));
      }
    } finally {
      await admin.end();
    }
    await sleeping;
    assert.deepEqual(await a.query('SELECT 1 AS ok'), [{ ok: 1 }]);
  });

  it('reports a port with nothing listening as EMR_UNREACHABLE', async () => {
    const port = await freePort();
    const a = createAdapter({ dialect: 'postgres', host: '127.0.0.1', port, user: 'postgres', database: 'x', connectTimeoutMs: 2000 });
    await assert.rejects(a.query('SELECT 1'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE') && /ECONNREFUSED/.test(String(e.params.detail)));
    await a.close();
  });

  it('cancels a statement after the query time-out with EMR_TIMEOUT', async () => {
    const a = emr.open({ queryTimeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(a.query('SELECT pg_sleep(5)'), (e: unknown) => isGatewayError(e, 'EMR_TIMEOUT') && e.params.ms === 200);
    assert.ok(Date.now() - started < 3000);
  });

  it('rejects a login the server refuses with EMR_UNREACHABLE', async () => {
    const u = new URL(emr.url);
    u.username = 'no_such_user_mgs';
    const a = createAdapter({ url: u.toString() });
    await assert.rejects(a.ping(), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE'));
    await a.close();
  });
});

// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import mysql = require('mysql2/promise');
import { createAdapter } from '../../../lib/emr/adapter';
import { isGatewayError } from '../../../lib/errors';
import { freePort } from '../../helpers/free-port';
import { emrSuite } from './emr-suite';
import { createMysqlEmr, MYSQL_URL, mysqlUnavailable, type TestEmr } from './servers';

describe('emr adapter: MariaDB/MySQL (examples/emr-mariadb/emr.sql)', function () {
  this.timeout(60000);
  emrSuite(createMysqlEmr, mysqlUnavailable);
});

describe('emr adapter: MariaDB/MySQL outages', function () {
  this.timeout(60000);
  let emr: TestEmr;

  before(async function () {
    const why = await mysqlUnavailable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });
  beforeEach(async () => { emr = await createMysqlEmr(); });
  afterEach(async () => { await emr?.drop(); });

  it('reports a session killed by the server as EMR_UNREACHABLE, then reconnects', async () => {
    const a = emr.open();
    await a.ping();
    // the expectation is attached at once, so the rejection is never unhandled
    const sleeping = assert.rejects(a.query('SELECT SLEEP(10) AS s'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE') && e.params.hl7Code === '207' && e.params.ackCode === 'AE');
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      for (let killed = false; !killed;) {
        const [rows] = await admin.query("SELECT id FROM information_schema.processlist WHERE db = ? AND info LIKE 'SELECT SLEEP%'", [emr.name]);
        const list = rows as Array<{ id: number }>;
        if (list.length) {
          await admin.query(`KILL CONNECTION ${Number(list[0].id)}`);
          killed = true;
        } else {
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    } finally {
      await admin.end();
    }
    await sleeping;
    assert.deepEqual(await a.query('SELECT 1 AS ok'), [{ ok: 1 }]);
  });

  it('reports a port with nothing listening as EMR_UNREACHABLE', async () => {
    const port = await freePort();
    const a = createAdapter({ dialect: 'mysql', host: '127.0.0.1', port, user: 'root', database: 'x', connectTimeoutMs: 2000 });
    await assert.rejects(a.query('SELECT 1'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE') && /ECONNREFUSED/.test(String(e.params.detail)));
    await a.close();
  });

  it('gives up on a statement after the query time-out with EMR_TIMEOUT', async () => {
    const a = emr.open({ queryTimeoutMs: 200 });
    const started = Date.now();
    await assert.rejects(a.query('SELECT SLEEP(5) AS s'), (e: unknown) => isGatewayError(e, 'EMR_TIMEOUT') && e.params.ms === 200);
    assert.ok(Date.now() - started < 3000);
    assert.deepEqual(await a.query('SELECT 2 AS ok'), [{ ok: 2 }]);
  });

  it('rejects a login the server refuses with EMR_UNREACHABLE', async () => {
    const u = new URL(emr.url);
    u.username = 'no_such_user_mgs';
    const a = createAdapter({ url: u.toString() });
    await assert.rejects(a.ping(), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE'));
    await a.close();
  });
});

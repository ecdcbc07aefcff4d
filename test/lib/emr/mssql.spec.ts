// SPDX-License-Identifier: Apache-2.0
// SQL Server cannot run in the development container: these tests run when MGS_TEST_MSSQL holds the
// URL of a SQL Server login that may create databases (mssql://sa:secret@127.0.0.1:1433/master?trustServerCertificate=true&encrypt=true),
// and otherwise skip, saying so.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { createAdapter, type EmrAdapter } from '../../../lib/emr/adapter';
import { lookupOrder } from '../../../lib/emr/lookup';
import { resultRows, writeResults } from '../../../lib/emr/write';
import { isGatewayError } from '../../../lib/errors';
import { freePort } from '../../helpers/free-port';
import { REQUEST, RESPONSE, RESULT, SPEC_OBX, request } from './emr-suite';

const URL_ = process.env.MGS_TEST_MSSQL;

// One statement per batch: CREATE PROCEDURE must start its batch.
const SCHEMA = [
  `CREATE TABLE mg_patient (barcode NVARCHAR(64) PRIMARY KEY, patient_no NVARCHAR(32), name NVARCHAR(200), family_name NVARCHAR(100),
     given_name NVARCHAR(100), birth_date DATE, age INT, sex NCHAR(1), patient_class NVARCHAR(8), ward NVARCHAR(32), room NVARCHAR(32))`,
  `CREATE TABLE mg_ordered_tests (barcode NVARCHAR(64), device NVARCHAR(32), seq INT, test_code NVARCHAR(32), channel_code NVARCHAR(32),
     units NVARCHAR(64), ref_range NVARCHAR(64), ref_low DECIMAL(12,4), obx13 NVARCHAR(8))`,
  `CREATE TABLE results (id BIGINT IDENTITY PRIMARY KEY, barcode NVARCHAR(64), patient_no NVARCHAR(32), device NVARCHAR(32),
     test_code NVARCHAR(64), channel_code NVARCHAR(64), value NVARCHAR(MAX), numeric_value FLOAT, units NVARCHAR(200),
     ref_range NVARCHAR(200), flag NVARCHAR(8), reason NVARCHAR(200), observed_at DATETIMEOFFSET(3), received_at DATETIMEOFFSET(3),
     control_id NVARCHAR(200), message_key NVARCHAR(128) NOT NULL, set_id INT NOT NULL, written_at DATETIME2(3) NOT NULL DEFAULT SYSUTCDATETIME())`,
  'CREATE UNIQUE INDEX results_message_row ON results (message_key, set_id)',
  `INSERT INTO mg_patient VALUES (N'107558', N'1234', N'홍길동', N'홍', N'길동', '1959-03-15', 50, N'M', N'E', N'1111', N'2222')`,
  `INSERT INTO mg_ordered_tests VALUES
     (N'107558', N'E024', 1, N'HGB', N'03', N'g/dl', N'11.2~17.2', 11.2, N'P'),
     (N'107558', N'E024', 2, N'HCT', N'04', N'%', N'33.6~51.5', 33.6, N'P'),
     (N'107558', N'E024', 3, N'RBC', N'02', N'*10-6/mm-3', N'3.8~5.6', 3.8, N'Q'),
     (N'107558', N'E024', 4, N'WBC', N'01', N'*10-6/mm-3', N'3.2~10.2', 3.2, N'Q')`,
  'CREATE PROCEDURE mg_lookup_patient @barcode NVARCHAR(64) AS SELECT * FROM mg_patient WHERE barcode = @barcode',
  'CREATE PROCEDURE mg_lookup_tests @barcode NVARCHAR(64), @device NVARCHAR(32) AS SELECT * FROM mg_ordered_tests WHERE barcode = @barcode AND device = @device ORDER BY seq',
];

describe('emr adapter: SQL Server', function () {
  this.timeout(60000);
  let admin: EmrAdapter;
  let a: EmrAdapter;
  let name: string;

  before(function () {
    if (!URL_) {
      console.log('      skipped: MGS_TEST_MSSQL is not set (the URL of a SQL Server that may create a database; none runs here)');
      this.skip();
    }
  });
  beforeEach(async () => {
    name = `mgs_test_${randomBytes(5).toString('hex')}`;
    admin = createAdapter({ url: URL_ });
    await admin.execute(`CREATE DATABASE ${name}`);
    a = createAdapter({ url: URL_, database: name });
    for (const stmt of SCHEMA) await a.execute(stmt);
  });
  afterEach(async () => {
    await a?.close();
    if (admin) {
      await admin.execute(`ALTER DATABASE ${name} SET SINGLE_USER WITH ROLLBACK IMMEDIATE`).catch(() => undefined);
      await admin.execute(`DROP DATABASE ${name}`);
      await admin.close();
    }
  });

  it('answers SPEC 2.1 with SPEC 2.2 through SQL and through procedures bound by name', async () => {
    assert.equal((await lookupOrder(a, REQUEST)).response, RESPONSE);
    const viaProcs = await lookupOrder(a, REQUEST, {
      patient: { mode: 'procedure', procedure: 'mg_lookup_patient', args: ['barcode'] },
      tests: { mode: 'procedure', procedure: 'mg_lookup_tests', args: ['barcode', 'device'] },
    });
    assert.equal(viaProcs.response, RESPONSE);
    await assert.rejects(lookupOrder(a, request('999999', 'E024')), (e: unknown) => isGatewayError(e, 'EMR_NOT_FOUND'));
  });

  it('writes four rows once, keeps hostile text and Hangul as data', async () => {
    const rows = resultRows({ payload: RESULT, obx: SPEC_OBX, timezone: '+09:00' });
    assert.deepEqual(await writeResults(a, rows, { mode: 'sql' }), { rows: 4, duplicates: 0 });
    assert.deepEqual(await writeResults(a, rows, { mode: 'sql' }), { rows: 0, duplicates: 4 });
    const got = await a.query('SELECT test_code, value, flag, observed_at FROM results ORDER BY set_id');
    assert.deepEqual(got.map((r) => [r.test_code, r.value, r.flag]), [['HGB', '12.7', 'N'], ['HCT', '39.1', 'N'], ['RBC', 'TEST', ''], ['WBC', '2', 'L']]);
    assert.equal(got[0].observed_at, '2009-09-27T06:19:49.000Z');
    const hostile = ["'; DROP TABLE results; --", '홍길동 ±', 'x'.repeat(10000)];
    await writeResults(a, resultRows({ payload: RESULT, messageKey: 'h', obx: hostile.map((v, i) => ({ test: 'T', value: v, index: i + 1 })) }), { mode: 'sql' });
    assert.deepEqual((await a.query("SELECT value FROM results WHERE message_key = :k ORDER BY set_id", { k: 'h' })).map((r) => r.value), hostile);
  });

  it('returns DATE as YYYY-MM-DD and DECIMAL as text unless numbers are asked for', async () => {
    assert.deepEqual(await a.query('SELECT birth_date, age FROM mg_patient'), [{ birth_date: '1959-03-15', age: 50 }]);
    assert.deepEqual((await a.query("SELECT ref_low FROM mg_ordered_tests WHERE test_code = 'HGB'"))[0], { ref_low: '11.2' });
    const n = createAdapter({ url: URL_, database: name, decimals: 'number' });
    try {
      assert.deepEqual((await n.query("SELECT ref_low FROM mg_ordered_tests WHERE test_code = 'HGB'"))[0], { ref_low: 11.2 });
    } finally {
      await n.close();
    }
  });

  it('maps outages: nothing listening -> EMR_UNREACHABLE, a slow statement -> EMR_TIMEOUT', async () => {
    const port = await freePort();
    const down = createAdapter({ dialect: 'mssql', host: '127.0.0.1', port, user: 'sa', password: 'x', database: 'master', connectTimeoutMs: 2000 });
    await assert.rejects(down.ping(), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE'));
    await down.close();
    const slow = createAdapter({ url: URL_, database: name, queryTimeoutMs: 300 });
    try {
      await assert.rejects(slow.query("WAITFOR DELAY '00:00:05'; SELECT 1 AS ok"), (e: unknown) => isGatewayError(e, 'EMR_TIMEOUT'));
    } finally {
      await slow.close();
    }
  });
});

describe('emr adapter: SQL Server driver without a server', function () {
  this.timeout(20000);

  it('reports a port with nothing listening as EMR_UNREACHABLE', async () => {
    const port = await freePort();
    const a = createAdapter({ url: `mssql://sa@127.0.0.1:${port}/master`, password: 'x', connectTimeoutMs: 3000 });
    await assert.rejects(a.query('SELECT 1 AS ok'), (e: unknown) => isGatewayError(e, 'EMR_UNREACHABLE')
      && e.params.hl7Code === '207' && e.params.ackCode === 'AE');
    await a.close();
  });

  it('reports a server that never answers the login as EMR_TIMEOUT after the connect time-out', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as net.AddressInfo).port;
    const a = createAdapter({ dialect: 'mssql', host: '127.0.0.1', port, user: 'sa', password: 'x', database: 'master', connectTimeoutMs: 500 });
    try {
      const started = Date.now();
      await assert.rejects(a.ping(), (e: unknown) => isGatewayError(e, 'EMR_TIMEOUT'));
      assert.ok(Date.now() - started < 5000);
    } finally {
      await a.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

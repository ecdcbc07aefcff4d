// SPDX-License-Identifier: Apache-2.0
// The per-site example flows (examples/emr-postgres/flow.json, examples/emr-mariadb/flow.json) run as the
// real gateway against a fresh database loaded from their emr.sql: SPEC request -> SPEC response,
// SPEC result -> four flagged rows written through the EMR's stored procedure.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { createAdapter } from '../../lib/emr/adapter';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { repoRoot } from '../helpers/paths';
import { REQUEST, RESPONSE, RESULT, request } from '../lib/emr/emr-suite';
import { createMysqlEmr, createPgEmr, mysqlUnavailable, pgUnavailable, type TestEmr } from '../lib/emr/servers';

for (const site of [
  { dir: 'emr-postgres', create: createPgEmr, unavailable: pgUnavailable },
  { dir: 'emr-mariadb', create: createMysqlEmr, unavailable: mysqlUnavailable },
]) {
  describe(`examples/${site.dir}/flow.json on the real gateway`, function () {
    this.timeout(90000);
    let emr: TestEmr | undefined;
    let gw: Gateway | undefined;
    let client: TestMllpClient | undefined;

    before(async function () {
      const why = await site.unavailable();
      if (why) {
        console.log(`      skipped: ${why}`);
        this.skip();
      }
      emr = await site.create();
      gw = await startGateway({ flowFile: path.join(repoRoot, 'examples', site.dir, 'flow.json'), env: { MGS_EMR_URL: emr.url } });
      client = await TestMllpClient.connect(gw.mllpPort);
    });
    after(async () => {
      await client?.close();
      await gw?.stop();
      await emr?.drop();
    });

    it('answers the SPEC request with the SPEC response from the stored procedures', async () => {
      assert.equal(await client!.request(REQUEST), RESPONSE);
    });

    it('NAKs an unknown barcode with AE and ERR 204 at PID-3', async () => {
      const nak = await client!.request(request('999999', 'E024'));
      assert.equal(field(nak, 'MSA', 1), 'AE');
      assert.equal(field(nak, 'MSA', 2), 'BARCODE');
      assert.match(nak, /\rERR\|PID\^1\^3\^204&/);          // v2.3 ERR-1: segment^sequence^field^code
    });

    it('ACKs the SPEC result and writes four rows flagged N, N, (none), L through mg_write_result', async () => {
      const ack = await client!.request(RESULT);
      assert.equal(field(ack, 'MSA', 1), 'AA');
      const a = createAdapter({ url: emr!.url });
      try {
        let rows: Array<Record<string, unknown>> = [];
        for (const deadline = Date.now() + 20000; Date.now() < deadline;) {
          rows = await a.query('SELECT test_code, value, flag, reason FROM results ORDER BY set_id');
          if (rows.length >= 4) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepEqual(rows, [
          { test_code: 'HGB', value: '12.7', flag: 'N', reason: null },
          { test_code: 'HCT', value: '39.1', flag: 'N', reason: null },
          { test_code: 'RBC', value: 'TEST', flag: '', reason: 'not-numeric' },
          { test_code: 'WBC', value: '2', flag: 'L', reason: null },
        ]);
      } finally {
        await a.close();
      }
    });
  });
}

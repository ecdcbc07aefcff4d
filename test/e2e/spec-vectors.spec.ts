// SPDX-License-Identifier: Apache-2.0
// The first end-to-end test of SPEC section 5: the real gateway (npm start's settings and default flow) on free
// ports, SPEC's request and result over a real MLLP connection, and the demo EMR read back from its SQLite file.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { fixture } from '../helpers/paths';

const REQUEST = fixture('vectors', 'fig8-request.hl7').toString('utf8');
const RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');

// SPEC 2.2 with the units and reference ranges the demo EMR knows filled in (OBX-6, OBX-7).
const RESPONSE = [
  'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3',
  'PID|||107558^E024^1234|홍길동||50|M',
  'PV1||E|1111^2222',
  'OBR|1||||||20090927151949',
  'OBX|1|ST||HGB||g/dl|11.2~17.2|A|||R||P|',
  'OBX|2|ST||HCT||%|33.6~51.5|A|||R||P|',
  'OBX|3|ST||RBC||*10-6/mm-3|3.8~5.6|A|||R||Q|',
  'OBX|4|ST||WBC||*10-6/mm-3|3.2~10.2|A|||R||Q|',
].join('\r') + '\r';

describe('e2e: SPEC request -> response, result -> flagged results in the demo EMR', function () {
  this.timeout(60000);
  let gw: Gateway;
  let client: TestMllpClient;

  before(async () => {
    gw = await startGateway();
    client = await TestMllpClient.connect(gw.mllpPort);
  });
  after(async () => {
    await client?.close();
    await gw?.stop();
  });

  it('answers SPEC 2.1 with the response of SPEC 2.2, units and ranges filled', async () => {
    const reply = await client.request(REQUEST);
    assert.equal(reply, RESPONSE);
  });

  it('ACKs SPEC 2.3 with MSA|AA|BARCODE and stores four results flagged N, N, (none), L', async () => {
    const ack = await client.request(RESULT);
    assert.equal(field(ack, 'MSA', 1), 'AA');
    assert.equal(field(ack, 'MSA', 2), 'BARCODE');
    const rows = await waitForRows(path.join(gw.dataDir, 'demo-emr.sqlite'), '107558', 4);
    assert.deepEqual(rows.map((r) => [r.test_code, r.value, r.flag ?? '']),
      [['HGB', '12.7', 'N'], ['HCT', '39.1', 'N'], ['RBC', 'TEST', ''], ['WBC', '2', 'L']]);
    assert.equal(rows[2].reason, 'not-numeric');
    assert.deepEqual(rows.map((r) => r.patient_no), ['1234', '1234', '1234', '1234']);
  });
});

/** Polls the demo EMR until `n` result rows for the barcode are there (delivery runs behind the spool). */
async function waitForRows(file: string, barcode: string, n: number, timeoutMs = 15000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT * FROM results WHERE barcode = ? ORDER BY set_id').all(barcode) as any[];
      if (rows.length >= n || Date.now() > deadline) return rows;
    } finally { db.close(); }
    await new Promise((r) => setTimeout(r, 100));
  }
}

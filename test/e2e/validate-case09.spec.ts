// SPDX-License-Identifier: Apache-2.0
// Case 09 through the real gateway: the default flow with `hl7 validate` between classify's result output and
// obx check (test/fixtures/flows/gateway-validate.json), all five frames of input.bin on one connection. One
// reply per frame, in order, with the case's MSA and ERR; A-D kept in the message store as failed, none in the
// EMR; E in the demo EMR with HGB flagged N; the socket stays open.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { caseFile, fixturePath } from '../helpers/paths';

const C09 = '09-ack-nak-ae-ar-err';

/** ERR of a NAK as {location, code, text}, read from the v2.5 form (ERR-2/ERR-3/ERR-8) or the v2.3 ERR-1 form. */
function errOf(nak: string): { location: string; code: string; text: string } | undefined {
  const err = nak.split('\r').find((s) => s.startsWith('ERR|'));
  if (!err) return undefined;
  const f = err.split('|');
  if (f[1]) {
    const [seg, , fld, code] = f[1].split('^');
    const [c, text] = code.split('&');
    return { location: seg ? `${seg}-${fld}` : '', code: c, text };
  }
  const [seg, , fld] = (f[2] ?? '').split('^');
  return { location: seg ? `${seg}-${fld}` : '', code: f[3].split('^')[0], text: f[8] ?? '' };
}

type Row = Record<string, any>;

describe('e2e: case 09 through the default flow with hl7 validate', function () {
  this.timeout(90000);
  let gw: Gateway;
  let client: TestMllpClient;
  let replies: string[];

  before(async () => {
    gw = await startGateway({ flowFile: fixturePath('flows', 'gateway-validate.json') });
    client = await TestMllpClient.connect(gw.mllpPort);
    client.write(caseFile(C09, 'input.bin'));
    replies = (await client.waitFrames(5, 20000)).map((f) => f.toString('utf8'));
  });
  after(async () => {
    await client?.close();
    await gw?.stop();
  });

  /** GET on the management API of the gateway. */
  async function api(p: string): Promise<any> {
    const res = await fetch(`http://127.0.0.1:${gw.httpPort}${p}`);
    assert.equal(res.status, 200, `${p}: HTTP ${res.status}`);
    return res.json();
  }

  it('answers the five frames in order with the case table', () => {
    assert.equal(replies.length, 5);
    const table = replies.map((r) => [field(r, 'MSA', 1), field(r, 'MSA', 2), errOf(r)?.location, errOf(r)?.code]);
    assert.deepEqual(table, [
      ['AR', 'CTRL-0091', 'MSH-9', '101'],
      ['AR', 'CTRL-0092', 'MSH-12', '203'],
      ['AR', '', '', '100'],
      ['AE', 'BARCODE', 'PID-3', '101'],
      ['AA', 'BARCODE', undefined, undefined],
    ]);
  });

  it('every NAK says why in a human-readable text; D in the v2.3 ERR-1 form', () => {
    for (const r of replies.slice(0, 4)) {
      assert.ok((field(r, 'MSA', 3) ?? '').length > 10, `MSA-3 of ${r}`);
      assert.ok(errOf(r)!.text.length > 10, `ERR text of ${r}`);
    }
    const d = replies[3];
    assert.equal(field(d, 'MSH', 12), '2.3');
    assert.equal(field(d, 'MSA', 3), 'Required field PID-3 is missing');
    assert.equal(field(d, 'ERR', 1), 'PID^1^3^101&Required field PID-3 is missing&HL70357');
    assert.equal(field(replies[0], 'ERR', 1), 'MSH^1^9^101&MSH-9 message type is empty&HL70357');
  });

  it('E reaches the demo EMR with HGB 14.6 flagged N; nothing of A-D does', async () => {
    const file = path.join(gw.dataDir, 'demo-emr.sqlite');
    const deadline = Date.now() + 15000;
    let rows: Row[] = [];
    for (;;) {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try { rows = db.prepare('SELECT * FROM results ORDER BY id').all() as Row[]; } finally { db.close(); }
      if (rows.length > 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(rows.map((r) => [r.barcode, r.patient_no, r.test_code, r.value, r.flag]), [['410042', '5142', 'HGB', '14.6', 'N']]);
  });

  it('A-D are kept in the message store as failed with their bytes and reasons, every reply related to its message', async () => {
    let inbound: Row[] = [];
    const deadline = Date.now() + 15000;
    for (;;) {
      inbound = (await api('/mgs/api/messages?direction=in')).items.reverse();
      if ((inbound.length === 5 && inbound[4].status === 'delivered') || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(inbound.map((m) => [m.controlId, m.status, m.lastError?.code ?? null]), [
      ['CTRL-0091', 'failed', 'HL7_BAD_HEADER'],
      ['CTRL-0092', 'failed', 'HL7_BAD_HEADER'],
      [null, 'failed', 'HL7_MISSING_MSH'],
      ['BARCODE', 'failed', 'HL7_MISSING_FIELD'],
      ['BARCODE', 'delivered', null],
    ]);
    assert.deepEqual(inbound.map((m) => m.destination), [null, null, null, null, 'emr'], 'only E went to the spool');
    const frames = ['a', 'b', 'c', 'd', 'e'].map((x) => caseFile(C09, `input_${x}.hl7`));
    for (let i = 0; i < 5; i++) {
      const one = await api(`/mgs/api/messages/${inbound[i].id}`);
      assert.deepEqual(Buffer.from(one.raw, 'base64'), frames[i], `raw bytes of frame ${'ABCDE'[i]}`);
    }
    const out = (await api('/mgs/api/messages?direction=out')).items.reverse();
    assert.deepEqual(out.map((m: Row) => m.relatedId), inbound.map((m) => m.id));
    assert.deepEqual(out.map((m: Row) => m.kind), ['ack', 'ack', 'ack', 'ack', 'ack']);
    const failed = (await api('/mgs/api/messages?status=failed')).items;
    assert.equal(failed.length, 4);
  });

  it('the connection stays open through the sequence and carries the next message', async () => {
    assert.equal(client.closed, false);
    const again = await client.request(caseFile(C09, 'input_d.hl7'));
    assert.equal(field(again, 'MSA', 1), 'AE');
    assert.equal(client.closed, false);
  });
});

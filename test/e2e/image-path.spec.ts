// SPDX-License-Identifier: Apache-2.0
// SPEC 3.2 through the real gateway and the default flow: the image-type message over MLLP (ACKed once
// queued), the file over HTTP, approval on the management API, then the image in the image store and its
// record in the demo EMR (the storage request); a rejected image is recorded nowhere.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';

const imageMessage = (file: string, barcode = ''): string => [
  'MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3',
  `PID|||${barcode}^E031^|||||`,
  'PV1||O|',
  'OBR|1||||||20261203101500',
  `OBX|1|ST|01|ECG|${file}||||||R||P|`,
].join('\r') + '\r';

async function http(gw: Gateway, method: string, route: string, body?: Buffer | object, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const isBuf = Buffer.isBuffer(body);
  const res = await fetch(`http://127.0.0.1:${gw.httpPort}${route}`, {
    method,
    headers: { ...(body && !isBuf ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : isBuf ? new Uint8Array(body) : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = text;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json };
}

async function emrRows(gw: Gateway, value: string, n: number, timeoutMs = 15000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const db = new Database(path.join(gw.dataDir, 'demo-emr.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT * FROM results WHERE value = ?').all(value) as any[];
      if (rows.length >= n || Date.now() > deadline) return rows;
    } finally { db.close(); }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('e2e: the image path of SPEC 3.2 in the default flow', function () {
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

  it('message and upload matched, approved for patient 1234: image stored, EMR record written once', async () => {
    const ack = await client.request(imageMessage('E031-000123.jpg'));
    assert.equal(field(ack, 'MSA', 1), 'AA');
    assert.equal(field(ack, 'MSA', 2), 'IMAGE');
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), crypto.randomBytes(5000), Buffer.from([0xff, 0xd9])]);
    const sha = crypto.createHash('sha256').update(jpeg).digest('hex');
    const up = await http(gw, 'POST', '/mgs/images/E031-000123.jpg', jpeg, { 'X-Content-SHA256': sha, 'content-type': 'application/octet-stream' });
    assert.equal(up.status, 201);
    assert.equal(up.json.state, 'pending');

    const approved = await http(gw, 'POST', `/mgs/image-queue/${up.json.id}/approve`,
      { patientId: '1234', patient: { id: '1234', name: '홍길동', age: '50', sex: 'M' } });
    assert.equal(approved.status, 200);

    const rows = await emrRows(gw, 'E031-000123.jpg', 1);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].patient_no, '1234');
    assert.equal(rows[0].device, 'E031');
    assert.equal(rows[0].test_code, 'ECG');
    const stored = path.join(gw.dataDir, 'images', 'store', '1234', '20261203', 'E031-000123.jpg');
    assert.ok(fs.readFileSync(stored).equals(jpeg));
    const entry = await http(gw, 'GET', `/mgs/image-queue/${up.json.id}`);
    assert.equal(entry.json.state ?? entry.json.entry?.state, 'approved');
  });

  it('a rejected image is not recorded in the EMR and not stored for a patient', async () => {
    const ack = await client.request(imageMessage('E031-000124.jpg'));
    assert.equal(field(ack, 'MSA', 1), 'AA');
    const up = await http(gw, 'POST', '/mgs/images/E031-000124.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]),
      { 'content-type': 'application/octet-stream' });
    assert.equal(up.status, 201);
    const rejected = await http(gw, 'POST', `/mgs/image-queue/${up.json.id}/reject`, { reason: 'wrong patient' });
    assert.equal(rejected.status, 200);
    // the approved image of the test before is recorded by now; this one must never be
    await emrRows(gw, 'E031-000123.jpg', 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await emrRows(gw, 'E031-000124.jpg', 0, 0)).length, 0);
    assert.equal(fs.existsSync(path.join(gw.dataDir, 'images', 'store', '1234', '20261203', 'E031-000124.jpg')), false);
  });
});

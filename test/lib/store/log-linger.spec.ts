// SPDX-License-Identifier: Apache-2.0
// Log writes (mllp-in logs every message on receipt) must not put a commit of their own in front of the spool's
// durable enqueue that the ACK waits for: they join the next commit, or start one after LOG_LINGER_MS.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LOG_LINGER_MS, acquireStore, closeAllStores, storeFile, type Store } from '../../../lib/store';

const RESULT = ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3', 'PID|||107558^E024^1234|홍길동||50|M',
  'OBR|1||||||20090927151949', 'OBX|1|ST|03|HGB|12.7|g/dl|11.2~17.2|A|||R||P|'].join('\r') + '\r';

describe('store: log writes linger for the next commit', () => {
  let dir: string;
  let store: Store;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-linger-'));
    store = acquireStore(storeFile(dir), { lingerMs: 0 });
    await store.enqueue({ destination: 'warm-up', text: RESULT, key: null });   // the writer is running
  });
  afterEach(async () => {
    await closeAllStores();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a log on receipt and the enqueue a flow hop later share one commit; the row is spooled', async () => {
    const before = store.stats().commits;
    const logged = store.log({ direction: 'in', text: RESULT, raw: new Uint8Array(Buffer.from(RESULT)), peer: '10.0.0.5:4000' });
    await new Promise((r) => setImmediate(r));
    const r = await store.enqueue({ destination: 'emr', text: RESULT, key: 'auto', messageId: logged.id });
    await logged.durable;
    assert.equal(store.stats().commits - before, 1);
    assert.equal(r.messageId, logged.id);
    const m = store.getMessage(logged.id!)!;
    assert.equal(m.status, 'spooled');
    assert.deepEqual(m.raw, Buffer.from(RESULT));
    assert.deepEqual(m.history.map((h) => h.status), ['received', 'spooled']);
  });

  it('a lone log (and event) is committed after LOG_LINGER_MS, several in one commit', async () => {
    const before = store.stats().commits;
    const t0 = Date.now();
    const a = store.log({ direction: 'in', text: RESULT });
    const b = store.log({ direction: 'out', text: 'MSH|^~\\&|||HL7|B0801|1||ACK^R01|A1|P|2.3\rMSA|AA|BARCODE\r', relatedId: a.id });
    const e = store.event(a.id!, { acked: true, actor: 'test', detail: 'AA' });
    await Promise.all([a.durable, b.durable, e]);
    assert.ok(Date.now() - t0 >= LOG_LINGER_MS - 1, `committed after ${Date.now() - t0} ms`);
    assert.equal(store.stats().commits - before, 1);
    assert.equal(store.getMessage(a.id!)!.status, 'acked');
  });

  it('close() commits lingering log writes at once', async () => {
    const a = store.log({ direction: 'in', text: RESULT });
    await store.close();
    await a.durable;
    const again = acquireStore(storeFile(dir), { lingerMs: 0 });
    assert.equal(again.getMessage(a.id!)!.status, 'received');
    again.release();
  });
});

// SPDX-License-Identifier: Apache-2.0
// The management page in real headless Chromium (Debian's chromium driven by playwright-core): map and
// approve an image and see it arrive at dcmtk's storescp; reject one and see nothing forwarded; search
// the message log. Screenshots go to test-artifacts/.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import imageMapping = require('../../nodes/image-mapping/image-mapping');
import pacsForward = require('../../nodes/pacs-forward/pacs-forward');
import emrConnection = require('../../nodes/emr-connection/emr-connection');
import hl7Spool = require('../../nodes/hl7-spool/hl7-spool');
import mllpIn = require('../../nodes/mllp-in/mllp-in');
import { acquireStore, closeAllStores, storeFile } from '../../lib/store';
import { freePort } from '../helpers/free-port';
import { repoRoot } from '../helpers/paths';
import { connectWhenListening } from '../nodes/mllp-support';
import { dcmdump, haveTool, makeJpeg, makePng, rgbPattern, startStorescp, tag, type StoreScp } from '../lib/dicom/tools';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const helper = require('node-red-node-test-helper');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const request = require('supertest');

const CHROMIUM = process.env.MGS_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(repoRoot, 'test-artifacts');

function imageMessage(name: string, barcode: string, device = 'E031', test = 'ECG'): string {
  return ['MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3', `PID|||${barcode}^${device}^|||||`, 'PV1||O|',
    'OBR|1||||||20261203101500', `OBX|1|ST|01|${test}|${name}||||||R||P|`].join('\r') + '\r';
}

describe('management page (Chromium)', function () {
  this.timeout(90000);
  let browser: any;
  let page: any;
  let scp: StoreScp;
  let dataDir: string;
  let httpNode: any;
  let server: http.Server;
  let base = '';
  let mllpPort = 0;
  const mod = (RED: any): void => { httpNode = RED.httpNode; (imageMapping as any)(RED); };
  const shot = async (name: string): Promise<void> => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `page-${name}.png`), fullPage: true });
  };
  const next = (id: string): Promise<any> => new Promise((resolve) => helper.getNode(id).once('input', resolve));

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) { console.log(`    skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`); this.skip(); }
    if (!haveTool('storescp') || !haveTool('dcmdump')) { console.log('    skipped: dcmtk (storescp, dcmdump) not installed'); this.skip(); }
    if (spawnSync(CHROMIUM, ['--version']).status !== 0) { console.log(`    skipped: ${CHROMIUM} does not run`); this.skip(); }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu',
      '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'] });
    helper.init(require.resolve('node-red'));
    await new Promise<void>((r) => helper.startServer(r));
    // One real HTTP server for the page: the admin app (page, queue routes, /mgs/api) then the node app (uploads).
    server = http.createServer((req, res) => {
      const admin = helper._httpAdmin;
      admin(req, res, () => (httpNode ? httpNode(req, res) : (res.statusCode = 404, res.end())));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    if (!browser) return;
    await browser.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => helper.stopServer(r));
  });

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-page-'));
    helper.settings({ mgsDataDir: dataDir });
    scp = await startStorescp();
    mllpPort = await freePort();
    await helper.load([mod, pacsForward, emrConnection, hl7Spool, mllpIn] as any, [
      { id: 'gw-in', type: 'mllp-in', name: 'gateway in', host: '127.0.0.1', port: mllpPort, charset: 'utf-8', ackMode: 'immediate', wires: [[]] },
      { id: 'emr', type: 'emr-connection', dialect: 'sqlite', url: '' },
      { id: 'im', type: 'image-mapping', emr: 'emr', searchSql: '', maxSize: 5, layout: 'mg', replyForm: 'echo', receiptAck: true,
        wires: [['pacs'], ['reply'], ['rejected']] },
      { id: 'pacs', type: 'pacs-forward', target: `dicom://${scp.aet}@127.0.0.1:${scp.port}`, timeout: 10, modality: 'OT', wires: [['sent'], ['failed']] },
      { id: 'reply', type: 'helper' }, { id: 'rejected', type: 'helper' }, { id: 'sent', type: 'helper' }, { id: 'failed', type: 'helper' },
    ]);
    page = await browser.newPage({ viewport: { width: 1366, height: 900 }, locale: 'ko-KR' });
  });
  afterEach(async () => {
    if (page) await page.close();
    await helper.unload();
    await closeAllStores();
    await scp.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function queueImage(name: string, barcode: string, data: Buffer): Promise<number> {
    const r = next('reply');
    helper.getNode('im').receive({ payload: imageMessage(name, barcode) });
    const id = (await r).image.ids[0];
    const up = await request(httpNode).post(`/mgs/images/${name}`).send(data);
    assert.equal(up.status, 201);
    assert.equal(up.body.state, 'pending');
    return id;
  }

  it('maps and approves an image: it is stored and arrives at the DICOM receiver with the patient', async () => {
    const rgb = rgbPattern(64, 48);
    const id = await queueImage('E031-000123.jpg', '107558', await makeJpeg(64, 48, rgb));
    await page.goto(`${base}/mgs/`);
    const item = page.locator('#image-list .item', { hasText: 'E031-000123.jpg' });
    await item.waitFor();
    await page.locator('#image-list .item img').first().waitFor();
    await shot('01-queue');
    await item.click();
    await page.locator('#patient-q').waitFor();
    assert.equal(await page.inputValue('#patient-q'), '107558');
    assert.equal(await page.isDisabled('#approve'), true);
    await page.click('.mapping button[type=submit]');
    const choice = page.getByLabel(/홍길동 \(1234\)/);
    await choice.waitFor();
    await shot('02-search');
    await choice.check();
    assert.match(await page.textContent('#approve'), /홍길동 \(1234\)/);
    const sent = next('sent');
    await page.click('#approve');
    const msg = await sent;
    assert.equal(msg.pacs.status, 'sent');
    await page.locator('#notice').waitFor({ state: 'visible' });
    assert.match(await page.textContent('#notice'), /E031-000123\.jpg/);
    await page.locator('#image-detail .badge.approved').waitFor();
    await shot('03-approved');

    const stored = path.join(dataDir, 'images', 'store', '1234', '20261203', 'E031-000123.jpg');
    assert.ok(fs.existsSync(stored));
    const files = scp.files();
    assert.equal(files.length, 1);
    const dump = dcmdump(files[0]);
    assert.equal(tag(dump, '0010,0020'), '1234');
    assert.equal(tag(dump, '0010,0010'), '홍길동');
    assert.equal(tag(dump, '0010,0040'), 'M');
    assert.equal(tag(dump, '0008,0016'), '1.2.840.10008.5.1.4.1.1.7');
    const detail = await helper.request().get(`/mgs/image-queue/${id}`).expect(200);
    assert.deepEqual(detail.body.events.map((e: any) => e.action), ['message', 'file', 'matched', 'mapped', 'approved', 'stored', 'pacs-sent']);
    assert.equal(detail.body.events[6].actor, `pacs dicom://${scp.aet}@127.0.0.1:${scp.port}`);
  });

  it('rejects an image with a reason: nothing is forwarded, the file is kept', async () => {
    const id = await queueImage('E031-000124.png', '', makePng(32, 32, rgbPattern(32, 32)));
    let forwarded = 0;
    helper.getNode('sent').on('input', () => { forwarded++; });
    await page.goto(`${base}/mgs/`);
    await page.locator('#image-list .item', { hasText: 'E031-000124.png' }).click();
    await page.locator('#reject').click();
    await page.fill('.reject-form input[name=reason]', '다른 환자 검사');
    const rejected = next('rejected');
    await page.click('.reject-form button[type=submit]');
    const msg = await rejected;
    assert.equal(msg.image.id, id);
    assert.equal(msg.image.reason, '다른 환자 검사');
    await page.locator('#image-detail .badge.rejected').waitFor();
    await shot('04-rejected');
    assert.equal(forwarded, 0);
    assert.deepEqual(scp.files(), []);
    assert.ok(fs.existsSync(msg.image.path));
    // the queue shows it under "done", not "to map"
    await page.click('.filter[data-filter=pending]');
    await page.locator('#image-list .empty').waitFor();
  });

  it('searches the message log (direction, Korean status, time range, raw bytes), shows the listeners, and switches to English', async () => {
    // an incoming barcode request through the gateway's mllp in (logged by it, answered at once)
    const client = await connectWhenListening(mllpPort);
    const ack = await client.request(imageMessage('x.jpg', '107558').replace('IMAGE', 'BARCODE'));
    assert.match(ack, /MSA\|AA\|BARCODE/);
    const store = acquireStore(storeFile(dataDir));
    const b = store.log({ direction: 'in', text: imageMessage('y.jpg', '999999').replace('IMAGE', 'OTHER'), peer: '127.0.0.1:5000', actor: 'mllp-in' });
    const c = store.log({ direction: 'out', text: imageMessage('x.jpg', '107558').replace('IMAGE', 'RESULT'), peer: '127.0.0.1:6000', actor: 'mllp-out' });
    await b.durable; await c.durable;
    store.release();
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.goto(`${base}/mgs/#messages`);
    await page.selectOption('#msg-field', 'barcode');
    await page.fill('#msg-q', '107558');
    await page.click('#msg-search button[type=submit]');
    const rows = page.locator('#msg-table tbody tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const cells = async (i: number): Promise<string[]> => rows.nth(i).locator('td').allTextContents();
    const byId: Record<string, string[]> = {};
    for (const i of [0, 1]) { const r = await cells(i); byId[r[4]] = r; }
    const incoming = byId.BARCODE;
    const outgoing = byId.RESULT;
    assert.deepEqual([incoming[1], incoming[2], incoming[3], incoming[5], incoming[7]], ['← 수신', 'ORU^R01', 'ORU^R01', '107558', '응답함']);
    assert.deepEqual([outgoing[1], outgoing[7], outgoing[9]], ['→ 송신', '전달됨', '127.0.0.1:6000']);
    assert.match(incoming[0], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    // the incoming message: reprocess offered, text and raw bytes shown
    await page.locator('#msg-table tbody tr', { hasText: 'BARCODE' }).click();
    await page.locator('#msg-detail pre.hl7').waitFor();
    assert.match(await page.textContent('#msg-detail pre.hl7'), /PID\|\|\|107558\^E031\^/);
    assert.equal(await page.locator('#reprocess').count(), 1);
    await page.click('#msg-detail details.raw summary');
    const hex = await page.textContent('#msg-detail pre.hex');
    assert.match(hex, /^00000000  4d 53 48 7c 5e 7e 5c 26  7c 48 4c 37 7c 42 30 38  MSH\|\^~\\&\|HL7\|B08$/m);
    await shot('05-messages');
    // the outgoing one: no reprocess
    await page.locator('#msg-table tbody tr', { hasText: 'RESULT' }).click();
    await page.locator('#msg-detail h2', { hasText: 'RESULT' }).waitFor();
    assert.equal(await page.locator('#reprocess').count(), 0);
    // every status can be filtered on
    assert.deepEqual(await page.locator('#msg-status option').evaluateAll((o: any[]) => o.map((x) => x.value)),
      ['', 'failed,dead', 'received', 'acked', 'spooled', 'delivered', 'failed', 'dead', 'duplicate']);
    await page.selectOption('#msg-status', 'delivered');
    await page.click('#msg-search button[type=submit]');
    await page.locator('#msg-total', { hasText: '1건' }).waitFor();
    assert.equal(await rows.count(), 1);
    await page.selectOption('#msg-status', '');
    // time range: ending before today finds nothing; from an hour ago finds both
    await page.fill('#msg-to', '2020-01-01');
    await page.click('#msg-search button[type=submit]');
    await page.locator('#msg-total', { hasText: '0건' }).waitFor();
    assert.equal(await rows.count(), 0);
    await page.fill('#msg-to', '');
    const hourAgo = new Date(Date.now() - 3600_000);
    const p2 = (n: number): string => String(n).padStart(2, '0');
    await page.fill('#msg-from', `${hourAgo.getFullYear()}-${p2(hourAgo.getMonth() + 1)}-${p2(hourAgo.getDate())} ${p2(hourAgo.getHours())}:${p2(hourAgo.getMinutes())}`);
    await page.click('#msg-search button[type=submit]');
    await page.locator('#msg-total', { hasText: '2건' }).waitFor();
    assert.equal(await rows.count(), 2);
    // all messages, full width, in English
    await page.fill('#msg-q', '');
    await page.fill('#msg-from', '');
    await page.click('#lang');
    assert.equal(await page.textContent('#tab-messages'), 'Message log');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await page.click('#msg-search button[type=submit]');
    await page.locator('#msg-total', { hasText: /^\d+ messages$/ }).waitFor();
    await page.locator('#msg-table tbody tr', { hasText: 'BARCODE' }).click();
    await page.locator('#msg-detail h2', { hasText: 'BARCODE' }).waitFor();
    await shot('05-messages-en');
    // the status tab lists the running mllp in with its port and its open connection
    await page.click('#tab-status');
    await page.locator('#status-time').filter({ hasText: /\d{2}:\d{2}:\d{2}/ }).waitFor();
    const listener = await page.locator('#listener-table tbody tr').allTextContents();
    assert.equal(listener.length, 1);
    assert.deepEqual(await page.locator('#listener-table tbody tr td').allTextContents(),
      ['gateway in', `127.0.0.1:${mllpPort}`, '1', '1', 'off']);
    await shot('06-status-en');
    await page.click('#lang');
    await page.locator('#listener-table tbody td', { hasText: '꺼짐' }).waitFor();
    await shot('06-status-ko');
    await client.close();
  });
});

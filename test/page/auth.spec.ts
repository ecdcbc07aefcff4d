// SPDX-License-Identifier: Apache-2.0
// The management page behind the editor's login (adminAuth), in a real Node-RED process and real Chromium:
// the shell loads, the queue API answers 401 without a token, staff log in on the page, and their decision
// is recorded under their user name.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../helpers/free-port';
import { repoRoot } from '../helpers/paths';

const CHROMIUM = process.env.MGS_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(repoRoot, 'test-artifacts');
const OUT = path.resolve(__dirname, '..', '..');   // the build folder this test was compiled into

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

describe('management page with adminAuth (Node-RED process + Chromium)', function () {
  this.timeout(90000);
  let child: ChildProcess | undefined;
  let exited: Promise<void>;
  let dir: string;
  let base: string;
  let browser: any;
  let log = '';

  before(async function () {
    if (!fs.existsSync(CHROMIUM) || spawnSync(CHROMIUM, ['--version']).status !== 0) {
      console.log(`    skipped: no working Chromium at ${CHROMIUM} (apt-get install chromium)`);
      this.skip();
    }
    if (!fs.existsSync(path.join(OUT, 'nodes', 'image-mapping', 'image-mapping.html'))) {
      console.log('    skipped: editor assets not copied into the build (node scripts/copy-assets.js <outDir>)');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-auth-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const hash = require('bcryptjs').hashSync('s3cret!', 8);
    fs.writeFileSync(path.join(dir, 'settings.js'), `module.exports = ${JSON.stringify({
      uiHost: '127.0.0.1', uiPort: port, userDir: dir, flowFile: 'flows.json', mgsDataDir: dir,
      nodesDir: [path.join(OUT, 'nodes', 'image-mapping')],
      adminAuth: { type: 'credentials', users: [{ username: 'nurse', password: hash, permissions: '*' }] },
      logging: { console: { level: 'info' } }, credentialSecret: 'mgs-test', editorTheme: { tours: false }, diagnostics: { enabled: false },
      externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
    })};\n`);
    fs.writeFileSync(path.join(dir, 'flows.json'), JSON.stringify([
      { id: 't1', type: 'tab', label: 'images' },
      { id: 'im', type: 'image-mapping', z: 't1', name: '', emr: '', searchSql: '', maxSize: 5, watchDir: '', storeDir: '',
        layout: 'mg', replyForm: 'echo', receiptAck: true, x: 200, y: 100, wires: [[], [], []] },
    ]));
    child = spawn(process.execPath, [require.resolve('node-red/red.js'), '--settings', path.join(dir, 'settings.js'), '--userDir', dir],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => { log += d; });
    child.stderr!.on('data', (d) => { log += d; });
    exited = new Promise<void>((r) => child!.once('exit', () => r()));
    const deadline = Date.now() + 30000;
    while (!(/Started flows/.test(log) && await canConnect(port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Node-RED did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu',
      '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'] });
  });

  after(async () => {
    if (browser) await browser.close();
    if (child && child.exitCode === null) { child.kill('SIGTERM'); await exited; }
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the queue behind the login and records the logged-in user as the one who decided', async () => {
    const shell = await fetch(`${base}/mgs/`);
    assert.equal(shell.status, 200);
    assert.equal((await fetch(`${base}/mgs/image-queue`)).status, 401);
    const up = await fetch(`${base}/mgs/images/E031-000999.jpg`, { method: 'POST', body: Buffer.from([0xff, 0xd8, 0xff, 0xd9]) });
    assert.equal(up.status, 201);
    const id = ((await up.json()) as { id: number }).id;

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'en-GB' });
    try {
      await page.goto(`${base}/mgs/`);
      await page.locator('#login-user').waitFor();
      await page.fill('#login-user', 'nurse');
      await page.fill('#login-password', 'wrong');
      await page.click('#login-form button[type=submit]');
      await page.locator('#login-error').filter({ hasText: /./ }).waitFor();
      await page.fill('#login-password', 's3cret!');
      await page.click('#login-form button[type=submit]');
      await page.click('.filter[data-filter=waiting]');
      const item = page.locator('#image-list .item', { hasText: 'E031-000999.jpg' });
      await item.waitFor();
      await page.locator('#user', { hasText: 'nurse' }).waitFor();
      assert.equal(await page.isVisible('#operator'), false);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'page-07-login-waiting.png'), fullPage: true });
      await item.click();
      await page.locator('#reject').click();
      await page.fill('.reject-form input[name=reason]', 'sent by mistake');
      await page.click('.reject-form button[type=submit]');
      await page.locator('#image-detail .badge.rejected').waitFor();
      const tokens = JSON.parse(await page.evaluate(() => localStorage.getItem('auth-tokens') as string));
      const detail = await fetch(`${base}/mgs/image-queue/${id}`, { headers: { Authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(detail.status, 200);
      const body = (await detail.json()) as { state: string; decidedBy: string; events: Array<{ actor: string; action: string }> };
      assert.equal(body.state, 'rejected');
      assert.equal(body.decidedBy, 'nurse');
      assert.deepEqual(body.events.map((e) => `${e.actor}|${e.action}`).slice(-1), ['nurse|rejected']);
    } finally {
      await page.close();
    }
  });
});

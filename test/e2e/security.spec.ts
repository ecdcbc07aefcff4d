// SPDX-License-Identifier: Apache-2.0
// The real gateway (settings.js, default flow) and its exposure rules: it refuses to listen beyond loopback
// without a login; exposed with a login, HTTPS and an upload token, the editor, the admin API, /mgs/api and the
// image upload all need credentials; and at the default log level no patient data reaches its log.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import bcrypt from 'bcryptjs';
import Database from 'better-sqlite3';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { caseFile, fixture } from '../helpers/paths';

/** Variables that must not leak in from the environment the tests run in. */
const CLEAN = {
  MGS_ADMIN_USER: '', MGS_ADMIN_PASSWORD_HASH: '', MGS_ALLOW_INSECURE: '', MGS_UPLOAD_TOKEN: '', MGS_UPLOAD_USER: '',
  MGS_UPLOAD_PASSWORD_HASH: '', MGS_HTTPS_KEY: '', MGS_HTTPS_CERT: '', MGS_LOG_LEVEL: '',
};

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTPS request to the gateway, trusting the test CA. */
function request(port: number, ca: Buffer, method: string, urlPath: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path: urlPath, ca, headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('e2e: security of the running gateway', function () {
  this.timeout(60000);

  describe('exposure rules at start-up', () => {
    it('refuses to listen on 0.0.0.0 without a login, saying how to set one', async () => {
      await assert.rejects(startGateway({ env: { ...CLEAN, MGS_HOST: '0.0.0.0' } }), (err: Error) => {
        assert.match(err.message, /^gateway exited during start-up:/);
        assert.match(err.message, /Refusing to listen on 0\.0\.0\.0 without a login: set MGS_ADMIN_USER and MGS_ADMIN_PASSWORD_HASH \(or MGS_ALLOW_INSECURE=1 to accept the risk\)\./);
        return true;
      });
    });

    it('refuses a password that is not a bcrypt hash', async () => {
      await assert.rejects(startGateway({ env: { ...CLEAN, MGS_HOST: '0.0.0.0', MGS_ADMIN_USER: 'admin', MGS_ADMIN_PASSWORD_HASH: 'secret' } }),
        (err: Error) => /MGS_ADMIN_PASSWORD_HASH is not a bcrypt hash/.test(err.message));
    });

    it('exposed with a login but no upload credentials: starts, warns, and refuses every upload', async () => {
      const gw = await startGateway({ env: { ...CLEAN, MGS_HOST: '0.0.0.0', MGS_ADMIN_USER: 'admin', MGS_ADMIN_PASSWORD_HASH: bcrypt.hashSync('pw', 4) } });
      try {
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.request({ host: '127.0.0.1', port: gw.httpPort, method: 'POST', path: '/mgs/images/E031-000001.jpg' },
            (res) => { res.resume(); resolve(res.statusCode ?? 0); });
          req.on('error', reject);
          req.end(Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
        });
        assert.equal(status, 401);
        assert.match(gw.log(), /MGS: listening on 0\.0\.0\.0 without MGS_UPLOAD_TOKEN or MGS_UPLOAD_USER: image uploads \(POST \/mgs\/images\/<name>\) are refused with 401 until one is set\./);
        assert.match(gw.log(), /MGS: listening on 0\.0\.0\.0 over plain HTTP/);
      } finally {
        await gw.stop();
      }
    });
  });

  describe('exposed on 0.0.0.0 with a login, HTTPS and an upload token', () => {
    const PASSWORD = 'correct horse battery staple';
    const TOKEN = 'mg-upload-token-5f1c9e2a7b';
    const MG_PASSWORD = 'mg-upload-password';
    const basic = (user: string, password: string): Record<string, string> =>
      ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    let certs: TestCerts;
    let gw: Gateway;
    let token = '';
    const get = (p: string, headers: Record<string, string> = {}): Promise<Reply> => request(gw.httpPort, certs.ca, 'GET', p, { headers });
    const bearer = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });

    before(async () => {
      certs = makeCerts();
      gw = await startGateway({
        env: {
          ...CLEAN, MGS_HOST: '0.0.0.0', MGS_ADMIN_USER: 'admin', MGS_ADMIN_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 8),
          MGS_UPLOAD_TOKEN: TOKEN, MGS_UPLOAD_USER: 'mg', MGS_UPLOAD_PASSWORD_HASH: bcrypt.hashSync(MG_PASSWORD, 8), MGS_HTTPS_KEY: certs.server.keyFile, MGS_HTTPS_CERT: certs.server.certFile,
          MGS_CREDENTIAL_SECRET: 'a credential secret for the test run',
        },
      });
    });
    after(async () => {
      await gw?.stop();
      certs?.remove();
    });

    it('serves over HTTPS only: the editor page loads, the admin API says 401 without a token', async () => {
      const page = await get('/');
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.deepEqual([page.headers['x-frame-options'], page.headers['x-content-type-options'], page.headers['referrer-policy'],
        page.headers['strict-transport-security']], ['DENY', 'nosniff', 'no-referrer', 'max-age=31536000']);
      for (const p of ['/flows', '/nodes', '/settings/user', '/mgs/api/messages', '/mgs/api/spool', '/mgs/api/stats', '/mgs/image-queue']) {
        assert.equal((await get(p)).status, 401, p);
      }
      assert.equal((await get('/flows', bearer('not-a-token'))).status, 401);
    });

    it('gives a token for the right password only', async () => {
      const form = (password: string): string => new URLSearchParams({
        client_id: 'node-red-editor', grant_type: 'password', scope: '*', username: 'admin', password,
      }).toString();
      const post = (body: string): Promise<Reply> => request(gw.httpPort, certs.ca, 'POST', '/auth/token',
        { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });
      assert.equal((await post(form('wrong password'))).status, 403);
      const ok = await post(form(PASSWORD));
      assert.equal(ok.status, 200);
      token = JSON.parse(ok.body).access_token as string;
      assert.match(token, /^[A-Za-z0-9+/=_-]{20,}$/);
      // The audit trail records both attempts.
      assert.match(gw.log(), /\[audit\] \{"event":"auth\.login\.fail\.credentials","username":"admin"/);
      assert.match(gw.log(), /\[audit\] \{"event":"auth\.login","user":\{"username":"admin"/);
    });

    it('with the token the editor API and /mgs/api answer', async () => {
      const flows = await get('/flows', { ...bearer(token), 'Node-RED-API-Version': 'v1' });
      assert.equal(flows.status, 200);
      assert.ok((JSON.parse(flows.body) as Array<{ type: string }>).some((n) => n.type === 'mllp-in'));
      const messages = await get('/mgs/api/messages', bearer(token));
      assert.equal(messages.status, 200);
      assert.equal(typeof JSON.parse(messages.body).total, 'number');
    });

    it('the image upload needs the upload token or the upload credentials (not the editor login); refused uploads are not stored', async () => {
      const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(200, 7), Buffer.from([0xff, 0xd9])]);
      const upload = (headers: Record<string, string>, name = 'E031-000777.jpg'): Promise<Reply> => request(gw.httpPort, certs.ca, 'POST', `/mgs/images/${name}`,
        { headers: { 'Content-Type': 'image/jpeg', ...headers }, body: jpeg });
      const none = await upload({});
      assert.equal(none.status, 401);
      assert.equal(none.headers['www-authenticate'], 'Basic realm="MGS"');
      assert.equal((await upload(bearer('mg-upload-token-wrong00000'))).status, 401);
      assert.equal((await upload(bearer(token))).status, 401);
      assert.equal((await upload(basic('admin', PASSWORD))).status, 401);
      assert.equal((await upload(basic('mg', 'wrong'))).status, 401);
      let queue = JSON.parse((await get('/mgs/image-queue', bearer(token))).body) as { items: Array<{ name: string }> };
      assert.deepEqual(queue.items.map((i) => i.name), []);
      const ok = await upload(bearer(TOKEN));
      assert.equal(ok.status, 201);
      assert.equal(JSON.parse(ok.body).name, 'E031-000777.jpg');
      assert.equal((await upload(basic('mg', MG_PASSWORD), 'E031-000778.jpg')).status, 201);
      queue = JSON.parse((await get('/mgs/image-queue', bearer(token))).body);
      assert.deepEqual(queue.items.map((i) => i.name).sort(), ['E031-000777.jpg', 'E031-000778.jpg']);
    });
  });

  describe('no patient data in the log at the default level', () => {
    let gw: Gateway;
    let client: TestMllpClient;
    before(async () => {
      gw = await startGateway({ env: { ...CLEAN } });
      client = await TestMllpClient.connect(gw.mllpPort);
    });
    after(async () => {
      await client?.close();
      await gw?.stop();
    });

    it('SPEC request and result, an unknown barcode and the case 09 NAKs leave no name, barcode or patient number in the log', async () => {
      const response = await client.request(fixture('vectors', 'fig8-request.hl7').toString('utf8'));
      assert.equal(field(response, 'PID', 4), '홍길동');
      const ack = await client.request(fixture('vectors', 'fig10-result.hl7').toString('utf8'));
      assert.deepEqual([field(ack, 'MSA', 1), field(ack, 'MSA', 2)], ['AA', 'BARCODE']);
      const unknown = await client.request('MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||990417^E024^|||||\rPV1||E|\rOBR|1||||||20090927151949\r');
      assert.equal(field(unknown, 'MSA', 1), 'AE');
      const before = client.frames.length;
      client.write(caseFile('09-ack-nak-ae-ar-err', 'input.bin'));
      const frames = await client.waitFrames(before + 5, 15000);
      // A-C are header NAKs and E is accepted; D's answer (PID-3 empty) is the business of test/e2e/cases.
      const codes = frames.slice(before).map((f) => field(f.toString('utf8'), 'MSA', 1));
      assert.deepEqual([...codes.slice(0, 3), codes[4]], ['AR', 'AR', 'AR', 'AA']);
      await waitForRows(path.join(gw.dataDir, 'demo-emr.sqlite'), '107558', 4);
      await client.close();
      await gw.stop();

      const log = gw.log();
      // The log did record what happened (so an empty log cannot pass) ...
      assert.match(log, /\[AR\] /);
      assert.match(log, /Started flows/);
      // ... but none of the patients: SPEC's (name, barcode, patient number), the unknown barcode, case 09's E.
      for (const secret of ['홍길동', '107558', '990417', '410042', '5142', 'TESTS^EUN', 'TESTS']) {
        assert.equal(new RegExp(`(?<![0-9A-Za-z])${secret.replace(/[\^]/g, '\\^')}(?![0-9A-Za-z])`).test(log), false, `${secret} in the log:\n${log}`);
      }
      assert.equal(/(?<![0-9A-Za-z.:-])1234(?![0-9A-Za-z])/.test(log), false, `patient number 1234 in the log:\n${log}`);
    });
  });
});

/** Polls the demo EMR until `n` result rows for the barcode are there (delivery runs behind the spool). */
async function waitForRows(file: string, barcode: string, n: number, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT COUNT(*) AS n FROM results WHERE barcode = ?').get(barcode) as { n: number };
      if (rows.n >= n) return;
      if (Date.now() > deadline) throw new Error(`only ${rows.n} of ${n} results for ${barcode} reached the EMR`);
    } finally { db.close(); }
    await new Promise((r) => setTimeout(r, 100));
  }
}

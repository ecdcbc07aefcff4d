// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { DEMO_EMR_FILE, demoEmrPath, demoSeedSql, ensureDemoEmr } from '../../../lib/emr/demo';
import { repoRoot } from '../../helpers/paths';

describe('emr demo EMR', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-demo-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is created and seeded on first use at <data dir>/demo-emr.sqlite, and left alone afterwards', () => {
    const sub = path.join(dir, 'data');
    const file = ensureDemoEmr(sub);
    assert.equal(file, path.join(sub, DEMO_EMR_FILE));
    assert.equal(demoEmrPath(sub), file);
    const db = new Database(file);
    db.prepare("INSERT INTO results (message_key, set_id, value) VALUES ('k', 1, 'kept')").run();
    db.close();
    assert.equal(ensureDemoEmr(sub), file);
    const again = new Database(file, { readonly: true });
    assert.equal((again.prepare('SELECT value FROM results').get() as { value: string }).value, 'kept');
    again.close();
    assert.deepEqual(fs.readdirSync(sub).filter((f) => f.endsWith('.tmp')), []);
  });

  it('holds the SPEC section 5 patient and orders exactly', () => {
    const db = new Database(ensureDemoEmr(dir), { readonly: true });
    try {
      assert.deepEqual(db.prepare("SELECT * FROM mg_patient WHERE barcode = '107558'").all(), [{
        barcode: '107558', patient_no: '1234', name: '홍길동', family_name: '홍', given_name: '길동', birth_date: '1959-03-15',
        age: 50, sex: 'M', patient_class: 'E', ward: '1111', room: '2222',
      }]);
      assert.deepEqual(db.prepare("SELECT test_code, channel_code, units, ref_range, obx13 FROM mg_ordered_tests WHERE barcode = '107558' AND device = 'E024' ORDER BY seq").all(), [
        { test_code: 'HGB', channel_code: '03', units: 'g/dl', ref_range: '11.2~17.2', obx13: 'P' },
        { test_code: 'HCT', channel_code: '04', units: '%', ref_range: '33.6~51.5', obx13: 'P' },
        { test_code: 'RBC', channel_code: '02', units: '*10-6/mm-3', ref_range: '3.8~5.6', obx13: 'Q' },
        { test_code: 'WBC', channel_code: '01', units: '*10-6/mm-3', ref_range: '3.2~10.2', obx13: 'Q' },
      ]);
    } finally {
      db.close();
    }
  });

  it('knows every barcode and device the shared cases send, plus chemistry, urinalysis and critical limits', () => {
    const db = new Database(ensureDemoEmr(dir), { readonly: true });
    try {
      const pairs: Array<[string, string]> = [];
      for (const c of fs.readdirSync(path.join(repoRoot, 'test', 'fixtures', 'cases'))) {
        for (const f of fs.readdirSync(path.join(repoRoot, 'test', 'fixtures', 'cases', c)).filter((x) => x.endsWith('.hl7'))) {
          const text = fs.readFileSync(path.join(repoRoot, 'test', 'fixtures', 'cases', c, f), 'latin1');
          const hit = /\rPID\|\|\|(\d{6})\^(E\d{3})\^/.exec(text) ?? /^PID\|\|\|(\d{6})\^(E\d{3})\^/m.exec(text);
          if (hit) pairs.push([hit[1], hit[2]]);
        }
      }
      assert.ok(pairs.length >= 15);
      const known = db.prepare('SELECT COUNT(*) AS n FROM mg_patient WHERE barcode = ?');
      const device = db.prepare('SELECT COUNT(*) AS n FROM devices WHERE device_code = ?');
      for (const [barcode, dev] of pairs) {
        if (barcode === '410099') continue;                      // case 09: a result without MSH, never looked up
        assert.equal((known.get(barcode) as { n: number }).n, 1, `barcode ${barcode}`);
        assert.equal((device.get(dev) as { n: number }).n, 1, `device ${dev}`);
      }
      const cats = db.prepare('SELECT DISTINCT category FROM tests ORDER BY category').all().map((r) => (r as { category: string }).category);
      assert.deepEqual(cats, ['chemistry', 'hematology', 'image', 'urinalysis']);
      const critical = db.prepare('SELECT COUNT(*) AS n FROM mg_test_ranges WHERE critical_low IS NOT NULL OR critical_high IS NOT NULL').get() as { n: number };
      assert.ok(critical.n >= 10);
      const bySex = db.prepare("SELECT COUNT(*) AS n FROM mg_test_ranges WHERE sex IS NOT NULL").get() as { n: number };
      const byAge = db.prepare("SELECT COUNT(*) AS n FROM mg_test_ranges WHERE age_min IS NOT NULL OR age_max IS NOT NULL").get() as { n: number };
      assert.ok(bySex.n >= 6 && byAge.n >= 3);
    } finally {
      db.close();
    }
  });

  it('keeps one seed per dialect with the same patients and orders', () => {
    const count = (sql: string, re: RegExp): number => (sql.match(re) ?? []).length;
    const seeds = [demoSeedSql(),
      fs.readFileSync(path.join(repoRoot, 'examples', 'emr-postgres', 'emr.sql'), 'utf8'),
      fs.readFileSync(path.join(repoRoot, 'examples', 'emr-mariadb', 'emr.sql'), 'utf8')];
    const data = seeds.map((s) => s.slice(s.indexOf('-- Demo data')).replace(/\\\\/g, '\\').replace(/\nCOMMIT;\n$/, ''));
    assert.equal(data[1], data[0]);
    assert.equal(data[2], data[0]);
    for (const s of seeds) {
      for (const name of ['mg_patient', 'mg_ordered_tests', 'mg_test_ranges']) assert.equal(count(s, new RegExp(`CREATE VIEW ${name} `, 'g')), 1);
      assert.equal(count(s, /CREATE UNIQUE INDEX results_message_row ON results \(message_key, set_id\)/g), 1);
    }
  });
});

// SPDX-License-Identifier: Apache-2.0
// Every node's Korean catalog has every English key with the same placeholders, and help exists in both.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../helpers/paths';

type Catalog = { [k: string]: string | Catalog };

function flatten(c: Catalog, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  for (const [k, v] of Object.entries(c)) {
    if (typeof v === 'string') out[prefix + k] = v; else flatten(v, `${prefix}${k}.`, out);
  }
  return out;
}

const placeholders = (s: string): string[] => (s.match(/__[A-Za-z0-9_]+__/g) ?? []).sort();

function compare(en: Record<string, string>, ko: Record<string, string>, where: string): void {
  for (const key of Object.keys(en)) {
    assert.ok(key in ko, `${where}: ko lacks ${key}`);
    assert.deepEqual(placeholders(ko[key]), placeholders(en[key]), `${where}: placeholders differ for ${key}`);
    assert.ok(ko[key].trim().length > 0, `${where}: empty ko text for ${key}`);
  }
  for (const key of Object.keys(ko)) assert.ok(key in en, `${where}: ko has ${key}, en-US does not`);
}

const read = (f: string): Catalog => JSON.parse(fs.readFileSync(f, 'utf8'));

describe('catalogs: English and Korean', () => {
  it('the shared gateway catalog has the same keys and placeholders', () => {
    const dir = path.join(repoRoot, 'nodes', 'shared', 'locales');
    compare(flatten(read(path.join(dir, 'en-US', 'gateway.json'))), flatten(read(path.join(dir, 'ko', 'gateway.json'))), 'gateway.json');
  });

  it('every GatewayError code has a text in both languages', () => {
    const src = fs.readFileSync(path.join(repoRoot, 'lib', 'errors.ts'), 'utf8');
    const union = src.slice(src.indexOf('GatewayErrorCode ='), src.indexOf(';', src.indexOf('GatewayErrorCode =')));
    const codes = union.match(/'([A-Z0-9_]+)'/g)!.map((s) => s.slice(1, -1));
    assert.ok(codes.length > 10);
    for (const lang of ['en-US', 'ko']) {
      const c = flatten(read(path.join(repoRoot, 'nodes', 'shared', 'locales', lang, 'gateway.json')));
      for (const code of codes) assert.ok(`gateway.errors.${code}` in c, `${lang} lacks gateway.errors.${code}`);
    }
  });

  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
  for (const type of Object.keys(pkg['node-red'].nodes)) {
    it(`${type}: catalog parity and help in both languages`, () => {
      const dir = path.join(repoRoot, 'nodes', type);
      assert.ok(fs.existsSync(path.join(dir, `${type}.ts`)), `${type}.ts missing`);
      assert.ok(fs.existsSync(path.join(dir, `${type}.html`)), `${type}.html missing`);
      const en = flatten(read(path.join(dir, 'locales', 'en-US', `${type}.json`)));
      const ko = flatten(read(path.join(dir, 'locales', 'ko', `${type}.json`)));
      compare(en, ko, type);
      for (const lang of ['en-US', 'ko']) {
        const help = fs.readFileSync(path.join(dir, 'locales', lang, `${type}.html`), 'utf8');
        assert.match(help, new RegExp(`data-help-name="${type}"`), `${lang} help for ${type}`);
        assert.match(help, /<p>/, `${lang} help for ${type} has no paragraph`);
      }
    });
  }
});

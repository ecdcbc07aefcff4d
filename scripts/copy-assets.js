// SPDX-License-Identifier: Apache-2.0
// Copies each node's editor .html, locales/ and icons/ next to its compiled .js, and merges the
// shared catalog (nodes/shared/locales/<lang>/gateway.json) into every node's catalog.
// Usage: node scripts/copy-assets.js [outDir]   (default: dist)
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.resolve(root, process.argv[2] || 'dist');
const nodesSrc = path.join(root, 'nodes');
const shared = path.join(nodesSrc, 'shared', 'locales');

function copyDir(src, dst) {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name), d = path.join(dst, e.name);
    if (e.isDirectory()) copyDir(s, d); else fs.copyFileSync(s, d);
  }
}

function sharedCatalog(lang) {
  const f = path.join(shared, lang, 'gateway.json');
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : {};
}

// SQL seed files (the demo EMR) are read at run time from beside the compiled lib/emr/demo.js.
copyDir(path.join(root, 'lib', 'emr', 'sql'), path.join(outDir, 'lib', 'emr', 'sql'));

for (const type of fs.readdirSync(nodesSrc)) {
  const dir = path.join(nodesSrc, type);
  if (type === 'shared' || !fs.statSync(dir).isDirectory()) continue;
  const dst = path.join(outDir, 'nodes', type);
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(dir)) {
    if (f.endsWith('.html')) fs.copyFileSync(path.join(dir, f), path.join(dst, f));
  }
  if (fs.existsSync(path.join(dir, 'icons'))) copyDir(path.join(dir, 'icons'), path.join(dst, 'icons'));
  const locales = path.join(dir, 'locales');
  if (!fs.existsSync(locales)) continue;
  for (const lang of fs.readdirSync(locales)) {
    const ldst = path.join(dst, 'locales', lang);
    fs.mkdirSync(ldst, { recursive: true });
    for (const f of fs.readdirSync(path.join(locales, lang))) {
      const src = path.join(locales, lang, f);
      if (f === `${type}.json`) {
        const own = JSON.parse(fs.readFileSync(src, 'utf8'));
        const merged = Object.assign({}, sharedCatalog(lang), own);
        fs.writeFileSync(path.join(ldst, f), JSON.stringify(merged, null, 2));
      } else {
        fs.copyFileSync(src, path.join(ldst, f));
      }
    }
  }
}

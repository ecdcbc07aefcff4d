// SPDX-License-Identifier: Apache-2.0
// Every node type used in flows/ and examples/ is either a Node-RED core node or listed in package.json,
// and every wire points at a node of the same flow.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../helpers/paths';

const CORE = new Set(['tab', 'comment', 'catch', 'status', 'complete', 'debug', 'inject', 'function', 'switch',
  'change', 'link in', 'link out', 'link call', 'junction', 'group', 'delay', 'trigger', 'template', 'json',
  'http in', 'http response', 'http request', 'split', 'join', 'rbe', 'file', 'file in', 'exec', 'subflow']);

function flowFiles(): string[] {
  const out = [path.join(repoRoot, 'flows', 'gateway.json')];
  const walk = (d: string): void => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) out.push(p);
    }
  };
  walk(path.join(repoRoot, 'examples'));
  walk(path.join(repoRoot, 'bench', 'flows'));
  return out;
}

/**
 * Property names of a node type's editor `defaults` (nodes/<type>/<type>.html). A property missing from a
 * shipped flow is shown by the editor as its unset form (an unchecked box), and pressing Done writes that:
 * e.g. a missing `log` on mllp in turned the message log off.
 */
function editorDefaults(type: string): string[] {
  const html = fs.readFileSync(path.join(repoRoot, 'nodes', type, `${type}.html`), 'utf8');
  const start = html.indexOf('{', html.indexOf('defaults:'));
  const keys: string[] = [];
  let depth = 0;
  for (let k = start; k < html.length; k++) {
    const c = html[k];
    if (c === '{') {
      depth++;
      if (depth === 2) {
        const m = /(\w+)\s*:\s*$/.exec(html.slice(Math.max(start, k - 80), k));
        if (m) keys.push(m[1]);
      }
    } else if (c === '}' && --depth === 0) break;
  }
  return keys;
}

describe('flows and examples', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
  const ours = new Set(Object.keys(pkg['node-red'].nodes));
  for (const file of flowFiles()) {
    it(`${path.relative(repoRoot, file)} uses only known node types and valid wires`, () => {
      const flow = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<Record<string, any>>;
      assert.ok(Array.isArray(flow) && flow.length > 0);
      const ids = new Set(flow.map((n) => n.id));
      for (const n of flow) {
        const known = CORE.has(n.type) || ours.has(n.type) || n.type.startsWith('subflow:');
        assert.ok(known, `${n.id}: unknown node type ${n.type}`);
        for (const port of n.wires ?? []) for (const target of port) assert.ok(ids.has(target), `${n.id} wires to missing ${target}`);
        if (n.z) assert.ok(ids.has(n.z), `${n.id} sits on missing tab ${n.z}`);
      }
    });

    it(`${path.relative(repoRoot, file)} sets every editor property of our nodes`, () => {
      const flow = JSON.parse(fs.readFileSync(file, 'utf8')) as Array<Record<string, any>>;
      let checked = 0;
      for (const n of flow.filter((x) => ours.has(x.type))) {
        const keys = editorDefaults(n.type);
        assert.ok(keys.includes('name'), `${n.type}: editor defaults not found`);
        const missing = keys.filter((k) => !(k in n));
        assert.deepEqual(missing, [], `${n.id} (${n.type}) lacks ${missing.join(', ')}`);
        checked++;
      }
      assert.ok(checked > 0);
    });
  }
});

#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// `npm start`: builds if dist/ is missing, then runs Node-RED with settings.js.
'use strict';
const { spawnSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
if (!fs.existsSync(path.join(root, 'dist', 'nodes'))) {
  const b = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
  const a = spawnSync(process.execPath, [path.join(root, 'scripts', 'copy-assets.js')], { stdio: 'inherit' });
  if (b.status !== 0 || a.status !== 0) process.exit(1);
}
const red = require.resolve('node-red/red.js');
const child = spawn(process.execPath, [red, '--settings', path.join(root, 'settings.js'), ...process.argv.slice(2)],
  { stdio: 'inherit', cwd: root });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

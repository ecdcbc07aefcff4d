#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// mgs-send: sends HL7 v2 files over MLLP, one message per file, and prints each reply.
'use strict';
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');

const USAGE = `Usage: mgs-send [--host H] [--port P] [--timeout MS] [--charset C] FILE...
Sends each FILE (one HL7 v2 message; LF or CRLF segment ends are sent as CR) over MLLP and prints the reply.
  --host     MLLP host (default $MGS_HOST or 127.0.0.1)
  --port     MLLP port (default $MGS_MLLP_PORT or 2575)
  --timeout  milliseconds to wait for each reply (default 10000)
  --charset  charset of the files and replies when MSH-18 is absent (default utf-8; e.g. euc-kr)
Exit status: 0 when every message was answered and none was rejected (AE/AR/CE/CR), 1 otherwise, 2 on usage errors.`;

function args(argv) {
  const o = { host: process.env.MGS_HOST || '127.0.0.1', port: Number(process.env.MGS_MLLP_PORT || 2575),
    timeout: 10000, charset: 'utf-8', files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    if (['--host', '--port', '--timeout', '--charset'].includes(a)) {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      o[a.slice(2)] = a === '--port' || a === '--timeout' ? Number(v) : v;
    } else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.files.push(a);
  }
  if (!o.files.length) throw new Error('no file given');
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new Error('bad --port');
  return o;
}

function load(dist) {
  try { return require(path.join(__dirname, '..', 'dist', dist)); }
  catch { console.error('mgs-send: the project is not built; run `npm install` (or `npm run build`) first'); process.exit(2); }
}

async function main() {
  let o;
  try { o = args(process.argv.slice(2)); } catch (e) { console.error(`mgs-send: ${e.message}\n\n${USAGE}`); process.exit(2); }
  const { MllpDecoder, encode } = load('lib/mllp/framer.js');
  const { decodeBytes } = load('lib/hl7/charset.js');

  const socket = net.connect({ host: o.host, port: o.port });
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); })
    .catch((e) => { console.error(`mgs-send: cannot connect to ${o.host}:${o.port}: ${e.message}`); process.exit(1); });

  const decoder = new MllpDecoder();
  const replies = [];
  let wake = () => {};
  socket.on('data', (chunk) => {
    for (const ev of decoder.feed(chunk)) if (ev.type === 'frame') replies.push(ev.data);
    wake();
  });
  socket.on('close', () => wake());
  socket.on('error', (e) => { console.error(`mgs-send: ${e.message}`); wake(); });

  let ok = true;
  for (const file of o.files) {
    // Normalise segment ends on the bytes, so a file in any charset is sent unchanged otherwise.
    const raw = fs.readFileSync(file);
    const body = Buffer.from(raw.toString('latin1').replace(/\r\n|\n/g, '\r').replace(/\r+$/, '') + '\r', 'latin1');
    const before = replies.length;
    socket.write(encode(body));
    const deadline = Date.now() + o.timeout;
    while (replies.length === before && !socket.destroyed && Date.now() < deadline) {
      await new Promise((r) => { wake = r; setTimeout(r, Math.max(1, deadline - Date.now())); });
    }
    console.log(`--> ${file}`);
    if (replies.length === before) { console.log('<-- (no reply)'); ok = false; continue; }
    const bytes = replies[before];
    let text;
    try { text = decodeBytes(bytes, o.charset).text; } catch { text = bytes.toString('latin1'); }
    console.log('<--');
    console.log(text.split(/\r\n|\r|\n/).filter((s) => s.length).join('\n'));
    const msa = text.split(/\r\n|\r|\n/).find((s) => s.startsWith('MSA'));
    if (msa && /^(AE|AR|CE|CR)$/.test(msa.split(msa[3])[1] || '')) ok = false;
  }
  socket.end();
  process.exit(ok ? 0 : 1);
}

main();

// SPDX-License-Identifier: Apache-2.0
// Reference: the durable limit. The bare server plus an append-only journal: every message is written and
// fdatasync'ed before its ACK goes out, with adaptive group commit (while one fdatasync runs, arriving messages
// wait; the next write + fdatasync starts as soon as the last one ends and takes all of them at once).
//   node dist/bench/ref-journal.js --dir <directory> [--host 127.0.0.1] [--port 0]
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import { ackFor, announce, args, listen } from './ref-mllp';

interface Pending { sock: net.Socket; acks: Buffer }

/** Starts the journalled reference server; the journal is `<dir>/journal.log` (4-byte length + frame, per message). */
export async function startJournal(host: string, port: number, dir: string): Promise<{ server: net.Server; close(): void }> {
  fs.mkdirSync(dir, { recursive: true });
  const fd = fs.openSync(path.join(dir, 'journal.log'), 'a');
  let records: Buffer[] = [];
  let waiting: Pending[] = [];
  let syncing = false;

  const commit = (): void => {
    syncing = true;
    const data = Buffer.concat(records);
    const batch = waiting;
    records = [];
    waiting = [];
    fs.write(fd, data, 0, data.length, null, (werr) => {
      if (werr) throw werr;               // a journal that cannot be written must not ACK anything
      fs.fdatasync(fd, (serr) => {
        if (serr) throw serr;
        for (const p of batch) if (!p.sock.destroyed) p.sock.write(p.acks);
        syncing = false;
        if (records.length) commit();
      });
    });
  };

  const server = await listen(host, port, (sock, frames) => {
    for (const f of frames) {
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(f.length);
      records.push(len, f);
    }
    waiting.push({ sock, acks: frames.length === 1 ? ackFor(frames[0]) : Buffer.concat(frames.map(ackFor)) });
    if (!syncing) commit();
  });
  return { server, close: () => fs.closeSync(fd) };
}

if (require.main === module) {
  const a = args(process.argv.slice(2));
  const dir = a.get('dir');
  if (!dir) { console.error('--dir is required'); process.exit(2); }
  startJournal(a.get('host') ?? '127.0.0.1', Number(a.get('port') ?? 0), dir)
    .then((j) => announce(j.server, j.close), (e: unknown) => { console.error(e); process.exit(1); });
}

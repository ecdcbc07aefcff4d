// SPDX-License-Identifier: Apache-2.0
// Reference: the bare limit. A hand-written MLLP server that reads MSH-10 and ACKs at once, nothing stored.
//   node dist/bench/ref-bare.js [--host 127.0.0.1] [--port 0]
import type * as net from 'node:net';
import { ackFor, announce, args, listen } from './ref-mllp';

/** Starts the bare reference server. */
export function startBare(host: string, port: number): Promise<net.Server> {
  return listen(host, port, (sock, frames) => {
    // one write per chunk read: pipelined messages get their ACKs in one segment
    sock.write(frames.length === 1 ? ackFor(frames[0]) : Buffer.concat(frames.map(ackFor)));
  });
}

if (require.main === module) {
  const a = args(process.argv.slice(2));
  startBare(a.get('host') ?? '127.0.0.1', Number(a.get('port') ?? 0)).then((s) => announce(s), (e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}

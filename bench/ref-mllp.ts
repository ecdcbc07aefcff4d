// SPDX-License-Identifier: Apache-2.0
// What the hand-written reference servers share: an MLLP listener on loopback and an ACK built from the MSH alone.
// Deliberately independent of lib/mllp and lib/hl7: the references measure the floor of Node.js + TCP, not our code.
import * as net from 'node:net';

const VT = 0x0b, FS = 0x1c, CR = 0x0d;

let ackSeq = 0;
let stampSecond = 0;
let stamp = '';

/** HL7 DTM of the current second (cached: the clock is read once per message, formatted once per second). */
function now(): string {
  const ms = Date.now();
  const s = Math.floor(ms / 1000);
  if (s !== stampSecond) {
    stampSecond = s;
    stamp = new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
  }
  return stamp;
}

/** An AA acknowledgement for one received frame (the bytes between 0x0B and 0x1C): MSA-2 = MSH-10, sender and receiver swapped. */
export function ackFor(frame: Buffer): Buffer {
  let end = frame.indexOf(CR);
  if (end < 0) end = frame.length;
  const msh = frame.toString('latin1', 0, end);
  const sep = msh[3] ?? '|';
  const f = msh.split(sep);           // f[0] = 'MSH', f[1] = MSH-2, f[n - 1] = MSH-n
  const field = (n: number): string => f[n - 1] ?? '';
  const trigger = field(9).split(field(2)[0] ?? '^')[1] ?? '';
  const text = `\x0bMSH${sep}${field(2)}${sep}${field(5)}${sep}${field(6)}${sep}${field(3)}${sep}${field(4)}${sep}${now()}${sep}` +
    `${sep}ACK^${trigger}^ACK${sep}ACK${++ackSeq}${sep}P${sep}${field(12)}\rMSA${sep}AA${sep}${field(10)}\r\x1c\r`;
  return Buffer.from(text, 'latin1');
}

/** Splits frames out of one connection's byte stream. */
export class FrameReader {
  private rest: Buffer | null = null;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const b = this.rest ? Buffer.concat([this.rest, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const s = b.indexOf(VT, pos);
      if (s < 0) { this.rest = null; break; }
      const e = b.indexOf(FS, s + 1);
      if (e < 0) { this.rest = Buffer.from(b.subarray(s)); break; }
      out.push(b.subarray(s + 1, e));
      pos = e + 1;
    }
    return out;
  }
}

/** Starts an MLLP listener; `onFrames` gets every frame of each chunk read from a connection, in order. */
export function listen(host: string, port: number, onFrames: (sock: net.Socket, frames: Buffer[]) => void): Promise<net.Server> {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (frames.length) onFrames(sock, frames);
    });
    sock.on('error', () => sock.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** Reads `--name value` pairs of a reference server's command line. */
export function args(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < argv.length; i += 2) m.set(argv[i].replace(/^--/, ''), argv[i + 1]);
  return m;
}

/** Tells the parent where the server listens (one JSON line on stdout) and exits cleanly on SIGTERM/SIGINT. */
export function announce(server: net.Server, onStop: () => void = () => undefined): void {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ listening: a.port, pid: process.pid }) + '\n');
  const stop = (): void => { server.close(); onStop(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// SPDX-License-Identifier: Apache-2.0
// A raw MLLP test client: writes bytes as told and collects reply frames. Deliberately independent of
// lib/mllp, so the product's framer is checked by something that does not share its code.
import * as net from 'node:net';

const VT = 0x0b, FS = 0x1c, CR = 0x0d;

/** Frames HL7 text (or bytes) as 0x0B ... 0x1C 0x0D; LF/CRLF segment ends become CR. */
export function frame(message: string | Buffer): Buffer {
  const body = typeof message === 'string' ? Buffer.from(message.replace(/\r\n|\n/g, '\r'), 'utf8') : message;
  return Buffer.concat([Buffer.from([VT]), body, Buffer.from([FS, CR])]);
}

export class TestMllpClient {
  readonly frames: Buffer[] = [];
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const start = this.buf.indexOf(VT);
        const end = this.buf.indexOf(FS, start + 1);
        if (start < 0 || end < 0) break;
        this.frames.push(this.buf.subarray(start + 1, end));
        this.buf = this.buf.subarray(this.buf[end + 1] === CR ? end + 2 : end + 1);
      }
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => { /* seen as close */ });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<TestMllpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => resolve(new TestMllpClient(s)));
      s.once('error', reject);
    });
  }

  private wake(): void { const w = this.waiters; this.waiters = []; w.forEach((f) => f()); }

  write(bytes: Buffer | string): void { this.socket.write(bytes); }

  send(message: string | Buffer): void { this.socket.write(frame(message)); }

  /** Waits until at least `n` reply frames have arrived in all; rejects after `timeoutMs`. */
  async waitFrames(n: number, timeoutMs = 10000): Promise<Buffer[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.frames.length} of ${n} replies`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.frames.length} of ${n} replies`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.frames.slice(0, n);
  }

  /** Sends one message and returns the next reply as text. */
  async request(message: string | Buffer, timeoutMs = 10000): Promise<string> {
    const n = this.frames.length + 1;
    this.send(message);
    const frames = await this.waitFrames(n, timeoutMs);
    return frames[n - 1].toString('utf8');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => { this.socket.destroy(); }, 500).unref();
    });
  }
}

/** Reads a field from HL7 text by segment name and 1-based field number (MSH-1 is the separator). */
export function field(text: string, segment: string, n: number, occurrence = 1): string | undefined {
  const segs = text.split(/\r\n|\r|\n/).filter((s) => s.startsWith(segment + '|'));
  const seg = segs[occurrence - 1];
  if (!seg) return undefined;
  const parts = seg.split('|');
  if (segment === 'MSH') return n === 1 ? '|' : parts[n - 1];
  return parts[n];
}

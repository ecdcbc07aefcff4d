// SPDX-License-Identifier: Apache-2.0
/**
 * MLLP framing (HL7 v2 minimal lower layer protocol): 0x0B <content> 0x1C 0x0D.
 *
 * The decoder is a byte-level state machine that is correct for any TCP chunking: a frame may be split
 * anywhere, several frames may arrive in one read, and each of 0x0B / 0x1C / 0x0D may come alone. It yields
 * Buffers (text decoding happens later, once the charset is known from MSH-18). Incoming chunks are kept as
 * a list and joined once per frame, so a 300 KB frame arriving in 1460-byte pieces costs O(n), not O(n^2).
 *
 * Peers get things wrong, so the decoder is lenient where it can be without guessing:
 * - bytes between frames (typically a LF after FS CR) are reported as `junk` and never joined to a frame;
 * - FS directly followed by a new VT (the CR is missing) ends the frame, flagged `missingCr`;
 * - FS followed by silence cannot be decided by the decoder: `awaitingCr` tells the owner of the socket to
 *   start a timer, after which it calls `flush()` and either accepts the frame (lenient) or reports it (strict);
 * - a VT inside a frame means the previous frame was cut off: its bytes are reported as `aborted`;
 * - a frame larger than `maxFrameSize` is discarded (only its first bytes are kept, for a NAK's MSA-2) and
 *   reported as `oversize` once its end is seen; the stream stays usable.
 */

export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

/** Default largest accepted frame content: 16 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** How many leading bytes of an oversize frame are kept (enough for its MSH, for a NAK). */
export const OVERSIZE_HEAD_BYTES = 4096;

export interface FramerOptions {
  /** Largest frame content in bytes (without VT/FS/CR); default 16 MiB. */
  maxFrameSize?: number;
}

/** A complete frame's content (without VT, FS, CR). */
export interface FrameEvent { type: 'frame'; data: Buffer; missingCr: boolean }
/** Bytes outside any frame (between frames, or before the first VT). */
export interface JunkEvent { type: 'junk'; data: Buffer }
/** A frame cut off by a new VT before its FS: its partial content. */
export interface AbortedEvent { type: 'aborted'; data: Buffer }
/** A frame whose content exceeded maxFrameSize; its bytes were discarded. */
export interface OversizeEvent { type: 'oversize'; size: number; max: number; head: Buffer; missingCr: boolean }

export type FramerEvent = FrameEvent | JunkEvent | AbortedEvent | OversizeEvent;

const enum State { Idle, InFrame, AfterFs }

/** Incremental MLLP decoder: feed() TCP chunks, get whole frames (and diagnostics) back. */
export class MllpDecoder {
  readonly maxFrameSize: number;
  private state = State.Idle;
  private parts: Buffer[] = [];
  private size = 0;             // content bytes of the current frame (including discarded ones when oversize)
  private oversize = false;
  private head: Buffer | undefined;

  constructor(opts: FramerOptions = {}) {
    const max = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxFrameSize must be a positive integer, got ${max}`);
    this.maxFrameSize = max;
  }

  /** True after an FS whose CR has not arrived yet: the caller should wait a little, then flush() or abandon(). */
  get awaitingCr(): boolean { return this.state === State.AfterFs; }

  /** True while a frame has started and not ended (including awaitingCr). */
  get inFrame(): boolean { return this.state !== State.Idle; }

  /** Content bytes received for the current, unfinished frame. */
  get pendingBytes(): number { return this.state === State.Idle ? 0 : this.size; }

  /** Feeds one chunk; returns the events it completes, in stream order. Never throws on any input. */
  feed(chunk: Buffer): FramerEvent[] {
    const out: FramerEvent[] = [];
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      switch (this.state) {
        case State.Idle: {
          const vt = chunk.indexOf(VT, pos);
          const end = vt < 0 ? len : vt;
          if (end > pos) out.push({ type: 'junk', data: chunk.subarray(pos, end) });
          if (vt < 0) return out;
          this.startFrame();
          pos = vt + 1;
          break;
        }
        case State.InFrame: {
          const fs = chunk.indexOf(FS, pos);
          const end = fs < 0 ? len : fs;
          const vt = end > pos ? chunk.subarray(pos, end).indexOf(VT) : -1;
          if (vt >= 0) {
            // A new start block before this frame's end: the frame was cut off.
            this.append(chunk.subarray(pos, pos + vt));
            out.push(this.abortFrame());
            this.startFrame();
            pos = pos + vt + 1;
            break;
          }
          this.append(chunk.subarray(pos, end));
          if (fs < 0) return out;
          this.state = State.AfterFs;
          pos = fs + 1;
          break;
        }
        case State.AfterFs: {
          const b = chunk[pos];
          if (b === CR) {
            out.push(this.endFrame(false));
            pos += 1;
          } else {
            // FS without CR: FS cannot occur inside HL7 text, so the frame ends here; what follows
            // (a new VT, or stray bytes) is handled from the idle state.
            out.push(this.endFrame(true));
          }
          break;
        }
      }
    }
    return out;
  }

  /**
   * Ends a frame whose FS arrived without its CR, after the caller's wait. The caller decides what the
   * frame is worth: lenient mode processes it, strict mode reports and drops it (a CR arriving later is
   * then plain junk between frames). Returns undefined when no FS is pending.
   */
  flush(): FrameEvent | OversizeEvent | undefined {
    if (this.state !== State.AfterFs) return undefined;
    return this.endFrame(true);
  }

  /** Drops any partial frame (connection closed); returns how many content bytes were lost. */
  reset(): number {
    const lost = this.state === State.Idle ? 0 : this.size;
    this.state = State.Idle;
    this.parts = [];
    this.size = 0;
    this.oversize = false;
    this.head = undefined;
    return lost;
  }

  private startFrame(): void {
    this.state = State.InFrame;
    this.parts = [];
    this.size = 0;
    this.oversize = false;
    this.head = undefined;
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.size += bytes.length;
    if (this.oversize) {
      const head = this.head as Buffer;
      if (head.length < OVERSIZE_HEAD_BYTES) {
        this.head = Buffer.concat([head, bytes.subarray(0, OVERSIZE_HEAD_BYTES - head.length)]);
      }
      return;
    }
    this.parts.push(bytes);
    if (this.size > this.maxFrameSize) {
      // Keep only the head (for the NAK's MSA-2) and stop buffering.
      const all = Buffer.concat(this.parts);
      this.head = Buffer.from(all.subarray(0, Math.min(OVERSIZE_HEAD_BYTES, all.length)));
      this.parts = [];
      this.oversize = true;
    }
  }

  private takeContent(): Buffer {
    const data = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.size);
    return data;
  }

  private endFrame(missingCr: boolean): FrameEvent | OversizeEvent {
    const ev: FrameEvent | OversizeEvent = this.oversize
      ? { type: 'oversize', size: this.size, max: this.maxFrameSize, head: this.head ?? Buffer.alloc(0), missingCr }
      : { type: 'frame', data: this.takeContent(), missingCr };
    this.reset();
    return ev;
  }

  private abortFrame(): AbortedEvent {
    const data = this.oversize ? (this.head ?? Buffer.alloc(0)) : this.takeContent();
    this.reset();
    return { type: 'aborted', data };
  }
}

/** Wraps content in an MLLP frame: 0x0B content 0x1C 0x0D (strings are encoded as UTF-8; pass a Buffer for other charsets). */
export function encode(content: Buffer | string): Buffer {
  const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}

/** True when the bytes are only CR/LF/space/tab (harmless padding between frames). */
export function isWhitespace(bytes: Buffer): boolean {
  for (const b of bytes) {
    if (b !== 0x0a && b !== 0x0d && b !== 0x20 && b !== 0x09) return false;
  }
  return true;
}

/**
 * Shows bytes for a log line: printable ASCII as is, everything else as \xNN, cut after `max` bytes.
 * Used for replies that are not HL7, so an operator sees what the peer actually sent.
 */
export function showBytes(bytes: Buffer, max = 64): string {
  let s = '';
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    s += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  if (bytes.length > max) s += `... (${bytes.length} bytes)`;
  return s;
}

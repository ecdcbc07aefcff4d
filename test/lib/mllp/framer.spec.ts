// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MllpDecoder, encode, isWhitespace, showBytes, type FramerEvent } from '../../../lib/mllp/framer';
import { caseFile } from '../../helpers/paths';

const C01 = '01-mllp-split-large-ed-image';
const C03 = '03-mllp-single-byte-chunks-trailer';
const C05 = '05-mllp-trailing-lf-and-fs-without-cr';

/** Feeds the chunks in order and returns every event. */
function run(chunks: Buffer[], opts = {}): { events: FramerEvent[]; decoder: MllpDecoder } {
  const decoder = new MllpDecoder(opts);
  const events: FramerEvent[] = [];
  for (const c of chunks) events.push(...decoder.feed(c));
  return { events, decoder };
}

/** Cuts a buffer at the given positions. */
function cut(buf: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.filter((p) => p > 0 && p < buf.length))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) { out.push(buf.subarray(prev, p)); prev = p; }
  out.push(buf.subarray(prev));
  return out;
}

function pieces(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

const frames = (events: FramerEvent[]): string[] =>
  events.filter((e) => e.type === 'frame').map((e) => (e as { data: Buffer }).data.toString('latin1'));

/** Events with junk runs merged, as comparable values (chunking may split one junk run in several). */
function normalized(events: FramerEvent[]): Array<[string, string, boolean?]> {
  const out: Array<[string, string, boolean?]> = [];
  for (const e of events) {
    if (e.type === 'junk') {
      const last = out[out.length - 1];
      if (last && last[0] === 'junk') last[1] += e.data.toString('latin1');
      else out.push(['junk', e.data.toString('latin1')]);
    } else if (e.type === 'oversize') {
      out.push(['oversize', `${e.size}:${e.head.toString('latin1')}`, e.missingCr]);
    } else if (e.type === 'frame') {
      out.push(['frame', e.data.toString('latin1'), e.missingCr]);
    } else {
      out.push(['aborted', e.data.toString('latin1')]);
    }
  }
  return out;
}

describe('lib/mllp/framer', () => {
  describe('encode', () => {
    it('wraps content in VT ... FS CR', () => {
      assert.deepEqual([...encode('MSH|x')], [0x0b, 0x4d, 0x53, 0x48, 0x7c, 0x78, 0x1c, 0x0d]);
      assert.deepEqual([...encode(Buffer.from([0xb0, 0xad]))], [0x0b, 0xb0, 0xad, 0x1c, 0x0d]);
      assert.deepEqual([...encode('')], [0x0b, 0x1c, 0x0d]);
    });

    it('round-trips through the decoder', () => {
      const { events } = run([encode('A\rB\r'), encode('C')]);
      assert.deepEqual(frames(events), ['A\rB\r', 'C']);
    });
  });

  describe('case 01: a 300 KB frame split across reads', () => {
    const input = caseFile(C01, 'input.bin');
    const hl7 = caseFile(C01, 'input.hl7');
    const expectOne = (chunks: Buffer[]): void => {
      const { events, decoder } = run(chunks);
      assert.equal(events.length, 1);
      const ev = events[0];
      assert.equal(ev.type, 'frame');
      assert.equal((ev as { data: Buffer }).data.length, 306929);
      assert.ok((ev as { data: Buffer }).data.equals(hl7));
      assert.equal(decoder.inFrame, false);
    };

    it('three chunks give exactly one frame, byte-identical to input.hl7', () => {
      const chunks = ['chunk1.bin', 'chunk2.bin', 'chunk3.bin'].map((f) => caseFile(C01, f));
      assert.ok(Buffer.concat(chunks).equals(input));
      const d = new MllpDecoder();
      assert.deepEqual(d.feed(chunks[0]), []);
      assert.deepEqual(d.feed(chunks[1]), []);
      assert.equal(d.pendingBytes, 65536 + 65536 - 1);
      const last = d.feed(chunks[2]);
      assert.equal(last.length, 1);
      assert.ok((last[0] as { data: Buffer }).data.equals(hl7));
    });

    it('one write gives the same frame', () => expectOne([input]));

    it('1460-byte pieces give the same frame', () => expectOne(pieces(input, 1460)));

    it('single bytes give the same frame', () => expectOne(pieces(input, 1)));

    it('joins pieces in linear time (300 KB in 1-byte pieces)', () => {
      const t0 = process.hrtime.bigint();
      const { events } = run(pieces(input, 1));
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(createHash('sha256').update((events[0] as { data: Buffer }).data).digest('hex'),
        createHash('sha256').update(hl7).digest('hex'));
      assert.ok(ms < 5000, `took ${ms} ms`);   // quadratic joining would take minutes here
    });
  });

  describe('case 03: start and trailer bytes in their own reads', () => {
    const a = caseFile(C03, 'msg_a.hl7').toString('latin1');
    const b = caseFile(C03, 'msg_b.hl7').toString('latin1');
    const input = caseFile(C03, 'input.bin');

    it('the six writes give frame A after chunk 4 and frame B after chunk 6, nothing else', () => {
      const d = new MllpDecoder();
      const got = [1, 2, 3, 4, 5, 6].map((i) => normalized(d.feed(caseFile(C03, `chunk${i}.bin`))));
      assert.deepEqual(got, [[], [], [], [['frame', a, false]], [], [['frame', b, false]]]);
      assert.equal(d.awaitingCr, false);
    });

    it('a lone FS leaves the decoder waiting for CR', () => {
      const d = new MllpDecoder();
      d.feed(caseFile(C03, 'chunk1.bin'));
      d.feed(caseFile(C03, 'chunk2.bin'));
      assert.deepEqual(d.feed(caseFile(C03, 'chunk3.bin')), []);
      assert.equal(d.awaitingCr, true);
    });

    it('every single cut and every pair of cuts give frames A and B (B starts with MSH|)', () => {
      const expected = [['frame', a, false], ['frame', b, false]];
      for (let i = 1; i < input.length; i++) {
        assert.deepEqual(normalized(run(cut(input, [i])).events), expected, `cut at ${i}`);
        for (let j = i + 1; j < input.length; j += 7) {
          assert.deepEqual(normalized(run(cut(input, [i, j])).events), expected, `cuts at ${i},${j}`);
        }
      }
      assert.ok(b.startsWith('MSH|'));
    });
  });

  describe('case 05: trailer variants', () => {
    const a = caseFile(C05, 'msg_a.hl7').toString('latin1');
    const b = caseFile(C05, 'msg_b.hl7').toString('latin1');

    it('A: FS CR LF, then a pipelined frame: two frames, the LF is junk', () => {
      const chunks = [caseFile(C05, 'a_chunk1.bin'), caseFile(C05, 'a_chunk2.bin')];
      const expected = [['frame', a, false], ['junk', '\n'], ['frame', b, false]];
      assert.deepEqual(normalized(run(chunks).events), expected);
      const whole = caseFile(C05, 'a_input.bin');
      for (let i = 1; i < whole.length; i++) assert.deepEqual(normalized(run(cut(whole, [i])).events), expected, `cut at ${i}`);
      assert.equal(isWhitespace(Buffer.from('\n')), true);
    });

    it('B: FS without CR then VT: two frames, the first flagged missingCr, never merged', () => {
      const whole = caseFile(C05, 'b_input.bin');
      const expected = [['frame', a, true], ['frame', b, false]];
      for (let i = 1; i < whole.length; i++) assert.deepEqual(normalized(run(cut(whole, [i])).events), expected, `cut at ${i}`);
      assert.deepEqual(normalized(run([whole]).events), expected);
    });

    it('C: FS then silence: awaitingCr; flush() ends the frame once, a late CR is junk', () => {
      const d = new MllpDecoder();
      assert.deepEqual(d.feed(caseFile(C05, 'c_input.bin')), []);
      assert.equal(d.awaitingCr, true);
      const ev = d.flush();
      assert.deepEqual(normalized(ev ? [ev] : []), [['frame', a, true]]);
      assert.equal(d.flush(), undefined);
      assert.equal(d.awaitingCr, false);
      assert.deepEqual(normalized(d.feed(Buffer.from([0x0d]))), [['junk', '\r']]);
    });
  });

  describe('bad streams', () => {
    it('an oversize frame is reported once with its head, its bytes dropped, and the next frame survives', () => {
      const big = 'MSH|^~\\&|' + 'x'.repeat(200);
      const stream = Buffer.concat([encode(big), encode('MSH|ok')]);
      const expected = [['oversize', `${big.length}:${big.slice(0, 4096)}`, false], ['frame', 'MSH|ok', false]];
      for (let i = 1; i < stream.length; i += 3) {
        assert.deepEqual(normalized(run(cut(stream, [i]), { maxFrameSize: 100 }).events), expected, `cut at ${i}`);
      }
    });

    it('the head of an oversize frame is capped at 4096 bytes', () => {
      const { events } = run(pieces(encode(Buffer.alloc(10000, 0x41)), 1000), { maxFrameSize: 5000 });
      assert.equal(events.length, 1);
      const ev = events[0];
      assert.equal(ev.type, 'oversize');
      if (ev.type === 'oversize') {
        assert.equal(ev.size, 10000);
        assert.equal(ev.max, 5000);
        assert.equal(ev.head.length, 4096);
      }
    });

    it('a frame of exactly maxFrameSize is accepted', () => {
      assert.deepEqual(normalized(run([encode('12345')], { maxFrameSize: 5 }).events), [['frame', '12345', false]]);
    });

    it('a VT inside a frame aborts it and starts a new one', () => {
      const stream = Buffer.from('\x0bMSH|cut\x0bMSH|whole\x1c\x0d', 'latin1');
      assert.deepEqual(normalized(run([stream]).events), [['aborted', 'MSH|cut'], ['frame', 'MSH|whole', false]]);
    });

    it('bytes before the first VT are junk; FS followed by other bytes ends the frame', () => {
      const stream = Buffer.from('noise\x0bA\x1cX\x0bB\x1c\x0d', 'latin1');
      assert.deepEqual(normalized(run([stream]).events),
        [['junk', 'noise'], ['frame', 'A', true], ['junk', 'X'], ['frame', 'B', false]]);
    });

    it('reset() drops a partial frame and says how much', () => {
      const d = new MllpDecoder();
      d.feed(Buffer.from('\x0bMSH|12345', 'latin1'));
      assert.equal(d.reset(), 9);
      assert.equal(d.inFrame, false);
      assert.deepEqual(normalized(d.feed(encode('B'))), [['frame', 'B', false]]);
    });

    it('rejects a nonsensical maxFrameSize', () => {
      assert.throws(() => new MllpDecoder({ maxFrameSize: 0 }), RangeError);
    });
  });

  describe('showBytes', () => {
    it('escapes control bytes and backslashes, and truncates', () => {
      assert.equal(showBytes(Buffer.from('\x0bfail\x1c\x0d', 'latin1')), '\\x0bfail\\x1c\\x0d');
      assert.equal(showBytes(Buffer.from('a\\b')), 'a\\x5cb');
      assert.equal(showBytes(Buffer.from('abcdef'), 3), 'abc... (6 bytes)');
    });
  });

  describe('properties', () => {
    const body = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a.filter((b) => b !== 0x0b && b !== 0x1c)));
    const gap = fc.constantFrom('', '\n', '\r\n', '\r');

    it('valid frame streams cut at random points give the same frames', () => {
      fc.assert(fc.property(
        fc.array(fc.tuple(body, gap), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (items, cutsRaw) => {
          const stream = Buffer.concat(items.flatMap(([b, g]) => [encode(b), Buffer.from(g, 'latin1')]));
          const cuts = cutsRaw.map((n) => n % (stream.length + 1));
          const { events, decoder } = run(cut(stream, cuts));
          assert.deepEqual(events.filter((e) => e.type === 'frame').map((e) => (e as { data: Buffer }).data.toString('hex')),
            items.map(([b]) => b.toString('hex')));
          assert.ok(events.every((e) => e.type === 'frame' ? !e.missingCr : e.type === 'junk' && isWhitespace(e.data)));
          assert.equal(decoder.inFrame, false);
        }), { numRuns: 300 });
    });

    it('random bytes never throw, and the events do not depend on how the bytes were cut', () => {
      const byte = fc.oneof(fc.constantFrom(0x0b, 0x1c, 0x0d, 0x0a), fc.integer({ min: 0, max: 255 }));
      fc.assert(fc.property(
        fc.array(byte, { maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 64 }),
        (bytes, cutsRaw, max) => {
          const stream = Buffer.from(bytes);
          const whole = run([stream], { maxFrameSize: max });
          const parts = run(cut(stream, cutsRaw.map((n) => n % (stream.length + 1))), { maxFrameSize: max });
          assert.deepEqual(normalized(parts.events), normalized(whole.events));
          const single = run(pieces(stream, 1), { maxFrameSize: max });
          assert.deepEqual(normalized(single.events), normalized(whole.events));
        }), { numRuns: 500 });
    });
  });
});

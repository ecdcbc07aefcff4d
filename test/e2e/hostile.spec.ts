// SPDX-License-Identifier: Apache-2.0
// The real gateway under hostile input: a stream of random and mangled frames on one connection gets
// exactly one reply frame per frame, in order, the connection stays open, the process stays up, and a
// valid result sent afterwards is still acknowledged.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { startGateway, type Gateway } from '../helpers/gateway';
import { TestMllpClient, field } from '../helpers/mllp-client';
import { fixture } from '../helpers/paths';

const RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');
const REQUEST = fixture('vectors', 'fig8-request.hl7').toString('utf8');
const SPECIALS = ['|', '^', '~', '\\', '&', '\r', '\n', '""', 'MSH|^~\\&|', 'FHS|^~\\&|', 'BHS|^~\\&|', 'BTS|9', '\\X0D\\', '홍', '\u00ff'];

/** Frames that are bad in many ways: random bytes (without MLLP control bytes) and edited SPEC messages. */
function hostileFrames(count: number, seed: number): Buffer[] {
  const noControl = fc.uint8Array({ minLength: 1, maxLength: 400 })
    .map((a) => Buffer.from(a.map((b) => (b === 0x0b || b === 0x1c ? 0x20 : b))));
  const edit = fc.tuple(fc.nat({ max: RESULT.length }), fc.nat({ max: 6 }),
    fc.oneof(fc.constantFrom(...SPECIALS), fc.string({ maxLength: 3 })));
  const mangled = fc.tuple(fc.constantFrom(RESULT, REQUEST), fc.array(edit, { minLength: 1, maxLength: 5 }))
    .map(([base, edits]) => {
      let t = base;
      for (const [at, del, ins] of edits) t = t.slice(0, at) + ins + t.slice(at + del);
      return Buffer.from(t.replace(/[\x0b\x1c]/g, ' '), 'utf8');
    });
  return fc.sample(fc.oneof(noControl, mangled), { numRuns: count, seed });
}

describe('e2e: hostile frames against the default flow', function () {
  this.timeout(120000);
  let gw: Gateway;

  before(async () => { gw = await startGateway(); });
  after(async () => { await gw?.stop(); });

  it('answers each of 150 random or mangled frames exactly once, in order, and stays up', async () => {
    const frames = hostileFrames(150, 20261203);
    const client = await TestMllpClient.connect(gw.mllpPort);
    try {
      for (const f of frames) client.send(f);
      const replies = await client.waitFrames(frames.length, 90000);
      assert.equal(replies.length, frames.length);
      for (const r of replies) {
        const text = r.toString('latin1');
        assert.ok(/^(MSH|FHS|BHS)/.test(text), `every reply is an HL7 message: ${JSON.stringify(text.slice(0, 120))}`);
        const msa = field(text, 'MSA', 1);
        // A reply is an ACK/NAK, or (for a request that still reads as one) the filled response.
        assert.ok(msa === undefined ? field(text, 'MSH', 10) === 'BARCODE' : /^(AA|AE|AR)$/.test(msa), text.slice(0, 200));
      }
      assert.equal(client.closed, false);
      const ack = await client.request(RESULT.replace('20090927151949', '20261203120000'));
      assert.equal(field(ack, 'MSA', 1), 'AA');
      assert.equal(gw.child.exitCode, null);
    } finally {
      await client.close();
    }
  });
});

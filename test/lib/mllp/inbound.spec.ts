// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import type * as net from 'node:net';
import { GatewayError } from '../../../lib/errors';
import { Hl7Message } from '../../../lib/hl7/message';
import { composeReply, frameNak, readFrame } from '../../../lib/mllp/inbound';
import { getMshField, setMshField } from '../../../lib/mllp/outbound';
import { ackCodeOf, ackFor, nakForError } from '../../../lib/mllp/replies';
import { MllpConnection } from '../../../lib/mllp/server';
import { FrameReply, MllpSession, findSession, registerSession } from '../../../lib/mllp/sessions';
import { caseFile } from '../../helpers/paths';

const C09 = '09-ack-nak-ae-ar-err';
const C15 = '15-batch-fhs-bhs';
const C21 = '21-charset-euckr-latin1';

const body = (c: string, f: string): Buffer => caseFile(c, f);
const seg = (text: string, name: string, occurrence = 1): string[] => {
  const s = text.split('\r').filter((l) => l.startsWith(name + '|'))[occurrence - 1];
  return s === undefined ? [] : s.split('|');
};

/** A connection over a fake socket that records what is written. */
function fakeConnection(): { conn: MllpConnection; written: Buffer[] } {
  const written: Buffer[] = [];
  const socket = { remoteAddress: '127.0.0.1', remotePort: 5000, localPort: 2575, write: (b: Buffer) => { written.push(b); return true; } };
  return { conn: new MllpConnection(socket as unknown as net.Socket, 'test-', 1), written };
}

describe('lib/mllp/inbound', () => {
  describe('case 09: header validation decides the AR before any flow', () => {
    const cases: Array<[string, string, string, string | undefined, string]> = [
      ['input_a.hl7', 'AR', 'CTRL-0091', 'MSH-9', '101'],
      ['input_b.hl7', 'AR', 'CTRL-0092', 'MSH-12', '203'],
      ['input_c.hl7', 'AR', '', undefined, '100'],
    ];
    for (const [file, code, msa2, location, hl7Code] of cases) {
      it(`${file}: ${code} with MSA-2 '${msa2}' and ERR ${location ?? '-'} ${hl7Code}`, () => {
        const frame = readFrame(body(C09, file), 'utf-8');
        assert.equal(frame.messages.length, 1);
        const nak = frame.messages[0].nak!;
        assert.equal(nak.code, code);
        const ack = Hl7Message.parse(nak.text);
        assert.equal(ack.get('MSA-1'), code);
        assert.equal(ack.get('MSA-2'), msa2);
        assert.ok((ack.get('MSA-3') ?? '').length > 0);
        const err = ack.segment('ERR')!;
        // v2.5-style ERR-2/ERR-3, or the v2.3 ERR-1 equivalent, depending on the message's version
        const errCode = err.get('3.1') || err.get('1.4.1');
        assert.equal(errCode, hl7Code);
        if (location) {
          const [segName, field] = location.split('-');
          assert.equal(err.get('2.1') || err.get('1.1'), segName);
          assert.equal(err.get('2.3') || err.get('1.3'), field);
        }
      });
    }

    it('D and E pass (D is for the flow to refuse: AE at PID-3)', () => {
      for (const f of ['input_d.hl7', 'input_e.hl7']) {
        const frame = readFrame(body(C09, f), 'utf-8');
        assert.equal(frame.messages.length, 1);
        assert.equal(frame.messages[0].nak, undefined);
        assert.deepEqual(frame.messages[0].hl7, { type: 'ORU^R01', controlId: 'BARCODE', version: '2.3', charset: 'utf-8' });
        assert.equal(frame.messages[0].text, body(C09, f).toString('utf8'));
      }
    });
  });

  describe('case 21: charsets', () => {
    it('a: EUC-KR declared in MSH-18 is decoded whatever the default', () => {
      const frame = readFrame(body(C21, 'input_a_euckr_msh18.hl7'), 'utf-8');
      assert.equal(frame.charset, 'euc-kr');
      const m = Hl7Message.parse(frame.messages[0].text);
      assert.equal(m.get('PID-4'), '이하늘');
      assert.equal(m.get('NTE-3'), '검체 용혈 있음');
    });

    it('b: no MSH-18, site default euc-kr: decoded', () => {
      const frame = readFrame(body(C21, 'input_b_euckr_no_msh18.hl7'), 'euc-kr');
      assert.equal(frame.charset, 'euc-kr');
      assert.equal(frame.messages[0].nak, undefined);
      assert.equal(Hl7Message.parse(frame.messages[0].text).get('PID-4'), '강바다');
    });

    it('b: no MSH-18, default utf-8: AE naming the charset, nothing to hand on', () => {
      const frame = readFrame(body(C21, 'input_b_euckr_no_msh18.hl7'), 'utf-8');
      assert.equal(frame.messages.length, 1);
      const nak = frame.messages[0].nak!;
      assert.equal(nak.code, 'AE');
      assert.equal(nak.reason, 'HL7_BAD_CHARSET');
      const ack = Hl7Message.parse(nak.text);
      assert.equal(ack.get('MSA-1'), 'AE');
      assert.equal(ack.get('MSA-2'), 'BARCODE');
      assert.match(ack.get('MSA-3') ?? '', /utf-8/i);
      assert.doesNotMatch(nak.text, /\uFFFD/);
    });

    it('c and d: ISO 8859-1 by MSH-18 (8859/1, ISO IR100)', () => {
      for (const f of ['input_c_latin1_8859.hl7', 'input_d_latin1_isoir100.hl7']) {
        const frame = readFrame(body(C21, f), 'utf-8');
        assert.equal(frame.charset, 'latin1');
        const m = Hl7Message.parse(frame.messages[0].text);
        assert.equal(m.get('PID-5.1'), 'SØNDERGÅRD');
        assert.equal(m.get('PID-5.2'), 'ÆSA');
      }
    });
  });

  describe('case 15: batches', () => {
    it('a: FHS/BHS batch -> two messages and one batch acknowledgment', () => {
      const frame = readFrame(body(C15, 'input_a_batch.hl7'), 'utf-8');
      assert.deepEqual(frame.messages.map((m) => m.hl7.controlId), ['M260001', 'M260002']);
      assert.ok(frame.messages.every((m) => m.nak === undefined && m.text.startsWith('MSH|')));
      assert.deepEqual(frame.warnings, []);
      assert.ok(frame.envelope?.fhs?.startsWith('FHS|') && frame.envelope?.bhs?.startsWith('BHS|'));
      const acks = frame.messages.map((m) => `MSH|^~\\&|MGS|WARD7|LABSYS|CITYLAB|20261102130000||ACK^R01|X${m.index}|P|2.3\rMSA|AA|${m.hl7.controlId}\r`);
      const reply = composeReply(frame, acks);
      const lines = reply.split('\r');
      assert.deepEqual(lines.map((l) => l.slice(0, 3)), ['FHS', 'BHS', 'MSH', 'MSA', 'MSH', 'MSA', 'BTS', 'FTS', '']);
      assert.equal(seg(reply, 'BHS')[11], 'B260001');              // BHS-12 = received BHS-11
      assert.equal(seg(reply, 'FHS')[11], 'F260001');
      assert.deepEqual([seg(reply, 'FHS')[2], seg(reply, 'FHS')[3], seg(reply, 'FHS')[4], seg(reply, 'FHS')[5]],
        ['MGS', 'WARD7', 'LABSYS', 'CITYLAB']);
      assert.deepEqual(seg(reply, 'MSA', 1).slice(1, 3), ['AA', 'M260001']);
      assert.deepEqual(seg(reply, 'MSA', 2).slice(1, 3), ['AA', 'M260002']);
      assert.equal(seg(reply, 'BTS')[1], '2');
      assert.equal(seg(reply, 'FTS')[1], '1');
    });

    it('a BTS count that does not match is a warning, still processed', () => {
      const text = body(C15, 'input_a_batch.hl7').toString('latin1').replace('BTS|2', 'BTS|3');
      const frame = readFrame(Buffer.from(text, 'latin1'), 'utf-8');
      assert.equal(frame.messages.length, 2);
      assert.deepEqual(frame.warnings.map((w) => w.code), ['HL7_BAD_BATCH']);
    });

    it('b: two MSH in one frame -> two messages, their ACKs back to back in one reply', () => {
      const frame = readFrame(body(C15, 'input_b_two_msh_one_frame.hl7'), 'utf-8');
      assert.equal(frame.messages.length, 2);
      assert.equal(frame.envelope, undefined);
      assert.ok(frame.messages.every((m) => (m.text.match(/(^|\r)MSH\|/g) ?? []).length === 1));
      assert.equal(composeReply(frame, ['MSH|a\rMSA|AA|BARCODE', 'MSH|b\rMSA|AA|BARCODE\r']),
        'MSH|a\rMSA|AA|BARCODE\rMSH|b\rMSA|AA|BARCODE\r');
    });
  });

  it('frameNak answers an oversize frame from its head', () => {
    const head = 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|IMAGE|P|2.3\rPID|||';
    const frame = frameNak(head, 'latin1', new GatewayError('MLLP_FRAME_TOO_LARGE', { max: 1000 }), 'AR', [{ code: '207' }]);
    const ack = Hl7Message.parse(frame.messages[0].nak!.text);
    assert.equal(ack.get('MSA-1'), 'AR');
    assert.equal(ack.get('MSA-2'), 'IMAGE');
    assert.equal(ack.get('MSA-3'), 'Message larger than 1000 bytes');
  });
});

describe('lib/mllp/outbound', () => {
  it('setMshField replaces MSH-10 and keeps every other byte', () => {
    const text = caseFile('23-forward-ack-correlation', 'mg_m1.hl7').toString('latin1');
    const out = setMshField(text, 10, 'MGS123');
    assert.equal(out, text.replace('|BARCODE|', '|MGS123|'));
    assert.equal(getMshField(out, 10), 'MGS123');
    assert.equal(getMshField(out, 9), 'ORU^R01');
  });

  it('setMshField pads a short MSH', () => {
    assert.equal(setMshField('MSH|^~\\&|A\rPID|1\r', 5, 'X'), 'MSH|^~\\&|A||X\rPID|1\r');
    assert.throws(() => setMshField('PID|1', 10, 'x'), (e: GatewayError) => e.code === 'HL7_MISSING_MSH');
  });
});

describe('lib/mllp/sessions', () => {
  it('a frame with two messages replies once both are in, in the frame charset', () => {
    const { conn, written } = fakeConnection();
    const ex = conn.nextExchange();
    const fr = new FrameReply(ex, { charset: 'euc-kr' }, 2);
    const s1 = new MllpSession('t:1.0', fr, 0, 'MSH|^~\\&|x');
    const s2 = new MllpSession('t:1.1', fr, 1, 'MSH|^~\\&|y');
    registerSession(s1);
    registerSession(s2);
    s2.reply('MSH|b\rMSA|AA|강\r', 'flow');
    assert.equal(written.length, 0);
    s1.reply('MSH|a\rMSA|AA|1\r', 'flow');
    assert.equal(written.length, 1);
    const expected = Buffer.concat([Buffer.from('\x0bMSH|a\rMSA|AA|1\rMSH|b\rMSA|AA|', 'latin1'), Buffer.from([0xb0, 0xad]), Buffer.from('\r\x1c\x0d', 'latin1')]);
    assert.ok(written[0].equals(expected));
    assert.equal(findSession('t:1.0')?.state, 'replied');
    assert.equal(findSession('t:1.0')?.repliedBy, 'flow');
  });

  it('a second reply is refused with MLLP_ALREADY_REPLIED, a closed connection with MLLP_SESSION_CLOSED', () => {
    const { conn } = fakeConnection();
    const s = new MllpSession('t:2.0', new FrameReply(conn.nextExchange(), { charset: 'utf-8' }, 1), 0, 'MSH|^~\\&|x');
    registerSession(s);
    let settled: string | undefined;
    s.onSettled((o) => { settled = o; });
    s.reply('ACK', 'timeout');
    assert.equal(settled, 'timeout');
    assert.throws(() => s.reply('ACK', 'flow'), (e: GatewayError) => e.code === 'MLLP_ALREADY_REPLIED' && e.params.by === 'timeout');
    assert.equal(s.tryReply('ACK', 'flow'), false);

    const other = fakeConnection();
    const s2 = new MllpSession('t:3.0', new FrameReply(other.conn.nextExchange(), { charset: 'utf-8' }, 1), 0, 'MSH|^~\\&|x');
    registerSession(s2);
    other.conn.markClosed();
    assert.equal(findSession('t:3.0')?.state, 'closed');
    assert.throws(() => s2.reply('ACK', 'flow'), (e: GatewayError) => e.code === 'MLLP_SESSION_CLOSED');
    assert.equal(findSession('never'), undefined);
  });

  it('a reply that cannot be encoded in the frame charset throws and leaves the session open', () => {
    const { conn, written } = fakeConnection();
    const s = new MllpSession('t:4.0', new FrameReply(conn.nextExchange(), { charset: 'latin1' }, 1), 0, 'MSH|^~\\&|x');
    registerSession(s);
    assert.throws(() => s.reply('MSA|AA|홍길동', 'flow'), (e: GatewayError) => e.code === 'HL7_BAD_CHARSET');
    assert.equal(s.state, 'open');
    s.reply('MSA|AE|x', 'timeout');
    assert.equal(written.length, 1);
  });
});

describe('lib/mllp/replies', () => {
  const request = caseFile('07-ack-original-mode-fields', 'input_a.hl7').toString('utf8');

  it('ackFor: AA by default, msg.ack code/text/errors otherwise, unknown codes refused', () => {
    assert.equal(ackCodeOf(ackFor(request)), 'AA');
    const nak = ackFor(request, { code: 'AE', text: 'held', errors: [{ location: 'PID-3', code: '101' }] });
    assert.deepEqual([hl7of(nak, 'MSA-1'), hl7of(nak, 'MSA-2'), hl7of(nak, 'MSA-3')], ['AE', 'LAB20261102-00017', 'held']);
    assert.throws(() => ackFor(request, { code: 'OK' }), TypeError);
  });

  it('nakForError: ackCode/location/hl7Code from params, "Error: " dropped, AE and 207 by default', () => {
    const a = nakForError(request, { message: 'Error: lookup failed', code: 'EMR_QUERY_FAILED', params: { ackCode: 'AR', location: 'PID-3', hl7Code: '204' } });
    const m = Hl7Message.parse(a);
    assert.deepEqual([m.get('MSA-1'), m.get('MSA-3'), m.get('ERR-2.1'), m.get('ERR-2.3'), m.get('ERR-3.1')], ['AR', 'lookup failed', 'PID', '3', '204']);
    const b = Hl7Message.parse(nakForError(request, { message: 'TypeError: x is undefined' }));
    assert.deepEqual([b.get('MSA-1'), b.get('MSA-3'), b.get('ERR-3.1')], ['AE', 'x is undefined', '207']);
    const c = Hl7Message.parse(nakForError(request, { message: 'Error: 한글', code: 'EMR_UNREACHABLE', params: { ackCode: 'AA' } }, true));
    assert.deepEqual([c.get('MSA-1'), c.get('MSA-3')], ['AE', 'EMR_UNREACHABLE']);
  });

  it('ackCodeOf reads MSA-1', () => {
    assert.equal(ackCodeOf('MSH|^~\\&|a\rMSA|CR|x\r'), 'CR');
    assert.equal(ackCodeOf('MSH|^~\\&|a\r'), '');
  });
});

function hl7of(text: string, path: string): string {
  return Hl7Message.parse(text).get(path) ?? '';
}

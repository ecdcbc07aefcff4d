// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { GatewayError } from '../../../lib/errors';
import { formatDtm, mshOffsetMinutes, parseDtm, readDtm, zoneOffsetMinutes } from '../../../lib/hl7/datetime';
import { Hl7Message } from '../../../lib/hl7/message';
import { caseFile, fixturePath } from '../../helpers/paths';

const C19 = '19-timestamps-timezone-precision';

/** Case 19's table: [input, field, iso, precision, fraction digits]. */
const TABLE: Array<[string, string, string, string, number]> = [
  ['input_a.hl7', 'MSH-7', '2026-11-01T23:30:15Z', 'second', 0],
  ['input_a.hl7', 'OBR-7', '2026-11-01T23:15:00Z', 'minute', 0],
  ['input_a.hl7', 'OBR-14', '2026-11-01T23:17:00Z', 'second', 0],
  ['input_a.hl7', 'OBR-22', '2026-11-02T00:30:00.1234Z', 'second', 4],
  ['input_a.hl7', 'OBX-14', '2026-11-01T23:30:15Z', 'second', 0],
  ['input_a.hl7', 'OBX-19', '2026-11-01T23:00:00Z', 'hour', 0],
  ['input_a.hl7', 'PID-7', '1985-03-17', 'day', 0],
  ['input_b.hl7', 'MSH-7', '2026-03-08T06:30:00Z', 'second', 0],
  ['input_b.hl7', 'OBR-7', '2026-03-08T06:25:00Z', 'second', 0],
  ['input_b.hl7', 'OBX-14', '2026-03-08T07:10:00Z', 'second', 0],
  ['input_b.hl7', 'PID-7', '2000-02-29', 'day', 0],
];

/** Runs in this process and, as a script, in child processes with another TZ. */
function evaluate(lib: { parse: typeof Hl7Message.parse; readDtm: typeof readDtm }, dir: string): unknown[] {
  const fs = require('node:fs') as typeof import('node:fs');
  return TABLE.map(([file, field]) => {
    const m = lib.parse(fs.readFileSync(`${dir}/${file}`, 'latin1'));
    const v = lib.readDtm(m, field);
    return v && { iso: v.iso, date: v.date, precision: v.precision, fractionDigits: v.fractionDigits,
      instant: v.instant ? v.instant.getTime() : null, text: v.text };
  });
}

function inZone(tz: string): { offset: number; rows: unknown[] } {
  const compiled = path.join(__dirname, '..', '..', '..', 'lib', 'hl7');
  const script = `
    const { Hl7Message } = require(${JSON.stringify(path.join(compiled, 'message'))});
    const { readDtm } = require(${JSON.stringify(path.join(compiled, 'datetime'))});
    const TABLE = ${JSON.stringify(TABLE)};
    const evaluate = ${evaluate.toString()};
    const rows = evaluate({ parse: (t) => Hl7Message.parse(t), readDtm }, ${JSON.stringify(fixturePath('cases', C19))});
    process.stdout.write(JSON.stringify({ offset: new Date(Date.UTC(2026, 10, 2)).getTimezoneOffset(), rows }));`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' }));
}

describe('lib/hl7 datetime (case 19)', () => {
  it('gives every row of the table in this process', () => {
    const rows = evaluate({ parse: (t) => Hl7Message.parse(t), readDtm }, fixturePath('cases', C19));
    TABLE.forEach(([file, field, iso, precision, digits], i) => {
      const r = rows[i] as { iso: string; precision: string; fractionDigits: number };
      assert.equal(r.iso, iso, `${file} ${field}`);
      assert.equal(r.precision, precision, `${file} ${field}`);
      assert.equal(r.fractionDigits, digits, `${file} ${field}`);
    });
    const a = Hl7Message.parse(caseFile(C19, 'input_a.hl7').toString('latin1'));
    const pid7 = readDtm(a, 'PID-7');
    assert.equal(pid7?.date, '1985-03-17');
    assert.equal(pid7?.instant, null, 'a date is a calendar date, not an instant');
    const obr22 = readDtm(a, 'OBR-22');
    assert.equal(obr22?.instant?.toISOString(), '2026-11-02T00:30:00.123Z', 'at least .123 kept in the Date');
    assert.equal(obr22?.text, '20261102093000.1234+0900', 'original text kept for forwarding');
    assert.equal(readDtm(a, 'OBR-7')?.appliedOffsetMinutes, 540, 'MSH-7 offset inherited');
    assert.equal(readDtm(a, 'OBR-7')?.offsetMinutes, null);
    assert.equal(readDtm(a, 'OBX-14')?.instant?.getTime(), readDtm(a, 'MSH-7')?.instant?.getTime());
    assert.equal(mshOffsetMinutes(a), 540);
    const b = Hl7Message.parse(caseFile(C19, 'input_b.hl7').toString('latin1'));
    assert.equal(mshOffsetMinutes(b), -300);
    assert.equal(readDtm(b, 'OBX-14')?.offsetMinutes, -240);
  });

  it('gives identical results under TZ=Asia/Seoul and TZ=America/Los_Angeles', function () {
    this.timeout(20000);
    const here = evaluate({ parse: (t) => Hl7Message.parse(t), readDtm }, fixturePath('cases', C19));
    const seoul = inZone('Asia/Seoul');
    const la = inZone('America/Los_Angeles');
    assert.equal(seoul.offset, -540, 'the child really ran in Seoul time');
    assert.equal(la.offset, 480, 'the child really ran in Los Angeles time (PST on 2026-11-02)');
    assert.deepEqual(seoul.rows, here);
    assert.deepEqual(la.rows, here);
  });

  it('parses every DTM precision and the TS precision component', () => {
    const cases: Array<[string, string, string]> = [
      ['2026', '2026-01-01', 'year'], ['202611', '2026-11-01', 'month'], ['20261102', '2026-11-02', 'day'],
      ['2026110208+0900', '2026-11-01T23:00:00Z', 'hour'], ['202611020815+0900', '2026-11-01T23:15:00Z', 'minute'],
      ['20261102081530+0900', '2026-11-01T23:15:30Z', 'second'], ['20261102081530.5+0900', '2026-11-01T23:15:30.5Z', 'second'],
      ['20261102081700^S', '2026-11-02T08:17:00', 'second'], ['20261102^D', '2026-11-02', 'day'],
      ['20261102081700^D', '2026-11-02T08:17:00', 'day'], ['19981004010159+0100', '1998-10-04T00:01:59Z', 'second'],
      ['20250204141403.403+0100', '2025-02-04T13:14:03.403Z', 'second'], ['00500101', '0050-01-01', 'day'],
    ];
    for (const [text, iso, precision] of cases) {
      const v = parseDtm(text);
      assert.equal(v?.iso, iso, text);
      assert.equal(v?.precision, precision, text);
    }
    assert.equal(parseDtm('20261102081700')?.instant, null, 'no offset and no default: no instant');
    assert.equal(parseDtm('20261102081700', 0)?.iso, '2026-11-02T08:17:00Z');
  });

  it('applies an IANA site zone with its daylight-saving offset', () => {
    assert.equal(parseDtm('20260308013000', 'America/New_York')?.iso, '2026-03-08T06:30:00Z');
    assert.equal(parseDtm('20260308031000', 'America/New_York')?.iso, '2026-03-08T07:10:00Z');
    assert.equal(parseDtm('20261102083015', 'Asia/Seoul')?.iso, '2026-11-01T23:30:15Z');
    assert.equal(zoneOffsetMinutes('Asia/Seoul', new Date('2026-01-01T00:00:00Z')), 540);
    const m = Hl7Message.parse('MSH|^~\\&|A||||20260101||ORU^R01|1|P|2.3\rOBR|1||||||20260102030405\r');
    assert.equal(readDtm(m, 'OBR-7', 'Asia/Seoul')?.iso, '2026-01-01T18:04:05Z', 'site zone when MSH-7 has no offset');
  });

  it('returns null for empty and HL7 null, and rejects invalid values with HL7_BAD_TIMESTAMP', () => {
    assert.equal(parseDtm(''), null);
    assert.equal(parseDtm('""'), null);
    assert.equal(parseDtm(null), null);
    const m = Hl7Message.parse(caseFile('13-null-vs-empty-fields', 'input.hl7').toString('latin1'));
    assert.equal(readDtm(m, 'OBR-8'), null, 'case 13: OBR-8 "" is not an invalid date');
    for (const bad of ['2026133', '20261332', '20260230', '2026110225', '202611022360', '20261102235960', 'abc',
      '2026.5', '20261102+2500', '20261102081700^Q', '1']) {
      assert.throws(() => parseDtm(bad), (e: unknown) => e instanceof GatewayError && e.code === 'HL7_BAD_TIMESTAMP'
        && e.params.value === bad, bad);
    }
  });

  it('formats an instant as a DTM with offset', () => {
    const at = new Date('2026-11-01T23:30:15Z');
    assert.equal(formatDtm(at, 540), '20261102083015+0900');
    assert.equal(formatDtm(at, -300), '20261101183015-0500');
    assert.equal(formatDtm(at, 0), '20261101233015+0000');
    assert.equal(parseDtm(formatDtm(at))?.instant?.getTime(), at.getTime());
  });
});

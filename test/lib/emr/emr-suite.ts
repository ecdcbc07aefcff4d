// SPDX-License-Identifier: Apache-2.0
// The look-up and write behaviour every EMR dialect must show, run against a real database of each
// kind (SQLite demo EMR, PostgreSQL and MariaDB loaded from examples/emr-*/emr.sql).
import { strict as assert } from 'node:assert';
import type { EmrAdapter } from '../../../lib/emr/adapter';
import { formatDtm } from '../../../lib/hl7/datetime';
import { lookupOrder, type LookupOptions } from '../../../lib/emr/lookup';
import { MG_TEST_MAPPING, STANDARD_PATIENT_MAPPING } from '../../../lib/emr/mapping';
import { DEFAULT_WRITE_SQL, messageKeyOf, resultRows, writeResults, type ObxResult } from '../../../lib/emr/write';
import { isGatewayError } from '../../../lib/errors';
import { caseFile, fixture } from '../../helpers/paths';
import type { TestEmr } from './servers';

export const REQUEST = fixture('vectors', 'fig8-request.hl7').toString('utf8');
export const RESULT = fixture('vectors', 'fig10-result.hl7').toString('utf8');

/** SPEC 2.2 with the units and ranges the demo EMR knows in OBX-6/OBX-7 (SPEC 2.2 text; OBX-8 A, OBX-11 R, OBX-13 P/Q). */
export const RESPONSE = [
  'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3',
  'PID|||107558^E024^1234|홍길동||50|M',
  'PV1||E|1111^2222',
  'OBR|1||||||20090927151949',
  'OBX|1|ST||HGB||g/dl|11.2~17.2|A|||R||P|',
  'OBX|2|ST||HCT||%|33.6~51.5|A|||R||P|',
  'OBX|3|ST||RBC||*10-6/mm-3|3.8~5.6|A|||R||Q|',
  'OBX|4|ST||WBC||*10-6/mm-3|3.2~10.2|A|||R||Q|',
].join('\r') + '\r';

/** SPEC 2.2's example exactly as printed (its OBX has one field fewer than the result's). */
export const SPEC_22_LITERAL = [
  'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3',
  'PID|||107558^E024^1234|홍길동||50|M',
  'PV1||E|1111^2222',
  'OBR|1||||||20090927151949',
  'OBX|1|ST||HGB|||A|||R||P|',
  'OBX|2|ST||HCT|||A|||R||P|',
  'OBX|3|ST||RBC|||A|||R||Q|',
  'OBX|4|ST||WBC|||A|||R||Q|',
].join('\r') + '\r';

/** msg.obx as obx-check gives it for SPEC 2.3 (SPEC's flags: N, N, not evaluable, L). */
export const SPEC_OBX: ObxResult[] = [
  { setId: '1', code: '03', test: 'HGB', value: '12.7', units: 'g/dl', range: '11.2~17.2', flag: 'N', deviceFlag: 'A', index: 1 },
  { setId: '2', code: '04', test: 'HCT', value: '39.1', units: '%', range: '33.6~51.5', flag: 'N', deviceFlag: 'A', index: 2 },
  { setId: '3', code: '02', test: 'RBC', value: 'TEST', units: '*10-6/mm-3', range: '3.8~5.6', flag: '', deviceFlag: 'A', reason: 'not-numeric', index: 3 },
  { setId: '4', code: '01', test: 'WBC', value: '2', units: '*10-6/mm-3', range: '3.2~10.2', flag: 'L', deviceFlag: 'A', index: 4 },
];

/** A request for another barcode/device, in the SPEC 2.1 shape. */
export function request(barcode: string, device: string, version = '2.3'): string {
  return `MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|${version}\rPID|||${barcode}^${device}^|||||\rPV1||O|\rOBR|1||||||20261103081500\r`;
}

function code(c: string) {
  return (e: unknown): boolean => isGatewayError(e) && e.code === c;
}

type Row = Record<string, unknown>;

async function results(a: EmrAdapter, key?: string): Promise<Row[]> {
  return key === undefined
    ? a.query('SELECT * FROM results ORDER BY message_key, set_id')
    : a.query('SELECT * FROM results WHERE message_key = :key ORDER BY set_id', { key });
}

/** The shared suite; `create` makes a fresh EMR database per test, `unavailable` says why a server cannot be used. */
export function emrSuite(create: () => Promise<TestEmr>, unavailable: () => Promise<string | undefined>): void {
  let emr: TestEmr;
  let a: EmrAdapter;

  before(async function () {
    const why = await unavailable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });
  beforeEach(async () => {
    emr = await create();
    a = emr.open();
  });
  afterEach(async () => {
    await emr?.drop();
  });

  describe('look-up', () => {
    it('answers SPEC 2.1 with the SPEC 2.2 response, byte for byte', async () => {
      const r = await lookupOrder(a, REQUEST);
      assert.equal(r.response, RESPONSE);
      assert.equal(r.patient.patient_no, '1234');
      assert.equal(r.patient.birth_date, '1959-03-15');
      assert.deepEqual(r.tests.map((t) => [t.test_code, t.channel_code, t.obx13]),
        [['HGB', '03', 'P'], ['HCT', '04', 'P'], ['RBC', '02', 'Q'], ['WBC', '01', 'Q']]);
      assert.deepEqual(r.params, { barcode: '107558', device: 'E024', patientNo: '', observedAt: '20090927151949', controlId: 'BARCODE' });
    });

    it("produces SPEC 2.2's example exactly as printed with that site's OBX template and mapping", async () => {
      const r = await lookupOrder(a, REQUEST, {
        obxTemplate: 'OBX||ST|||||A|||R|||',
        testMapping: [{ column: 'test_code', field: 'OBX-4' }, { column: 'obx13', field: 'OBX-12' }],
      });
      assert.equal(r.response, SPEC_22_LITERAL);
    });

    it('maps the channel code into OBX-3 when a site asks for it', async () => {
      const r = await lookupOrder(a, REQUEST, { testMapping: [...MG_TEST_MAPPING, { column: 'channel_code', field: 'OBX-3' }] });
      assert.equal(r.response.split('\r')[4], 'OBX|1|ST|03|HGB||g/dl|11.2~17.2|A|||R||P|');
    });

    it('fills the standard layout (PID-5 name, PID-7 birth date, PID-8 sex) by configuration only', async () => {
      const r = await lookupOrder(a, REQUEST, { patientMapping: STANDARD_PATIENT_MAPPING });
      assert.equal(r.response.split('\r')[1], 'PID|||107558^E024^1234||홍^길동||19590315|M');
    });

    it('answers with a standard-conformant MSH when asked', async () => {
      const now = new Date(Date.UTC(2026, 10, 3, 0, 0, 0));
      const r = await lookupOrder(a, REQUEST, { msh: 'standard', now: () => now, newControlId: () => 'MGS0001' });
      assert.equal(r.response.split('\r')[0], `MSH|^~\\&|||HL7|B0801|${formatDtm(now)}||ORU^R01|MGS0001|P|2.3`);
      assert.equal(r.response.split('\r').slice(1).join('\r'), RESPONSE.split('\r').slice(1).join('\r'));
    });

    it('fails with EMR_NOT_FOUND for an unknown barcode and EMR_NO_BARCODE for none', async () => {
      await assert.rejects(lookupOrder(a, request('999999', 'E024')), (e: unknown) => code('EMR_NOT_FOUND')(e)
        && isGatewayError(e) && e.params.barcode === undefined && e.params.location === 'PID-3'
        && e.params.hl7Code === '204' && e.params.ackCode === 'AE');
      await assert.rejects(lookupOrder(a, request('', 'E024')), (e: unknown) => code('EMR_NO_BARCODE')(e)
        && isGatewayError(e) && e.params.location === 'PID-3' && e.params.hl7Code === '101' && e.params.ackCode === 'AE');
    });

    it('answers a known patient with no tests on that device with no OBX', async () => {
      const r = await lookupOrder(a, request('107558', 'E070'));
      assert.equal(r.tests.length, 0);
      assert.equal(r.response.split('\r').filter((s) => s.startsWith('OBX')).length, 0);
    });

    it('gives ranges by device, sex and age, with critical limits, chemistry and urinalysis', async () => {
      const tests = async (barcode: string, device: string): Promise<Row[]> => (await lookupOrder(a, request(barcode, device))).tests;
      const f67 = await tests('500102', 'E060');
      assert.deepEqual(f67.map((t) => [t.test_code, t.ref_range]),
        [['GLU', '70~100'], ['NA', '135~145'], ['K', '3.5~5.1'], ['CREA', '0.5~1.1'], ['TBIL', '0.2~1.2']]);
      assert.equal(Number(f67[2].critical_low), 2.8);
      assert.equal(Number(f67[2].critical_high), 6.2);
      const m8 = await tests('500101', 'E060');
      assert.deepEqual(m8.map((t) => [t.test_code, t.ref_range]), [['ALP', '100~390'], ['CREA', '0.7~1.3']]);
      const cbcF = await tests('410101', 'E052');
      assert.equal(cbcF.length, 15);
      assert.deepEqual(cbcF.filter((t) => t.test_code === 'HGB').map((t) => [t.channel_code, t.units, t.ref_range]), [['718-7', 'g/dL', '11.0~15.0']]);
      const cbcM = await tests('500104', 'E052');
      assert.deepEqual(cbcM.filter((t) => t.test_code === 'HGB').map((t) => t.ref_range), ['12.0~16.0']);
      const ua = await tests('500103', 'E070');
      assert.deepEqual(ua.map((t) => t.ref_range), ['5.0~8.0', '1.005~1.030', 'Negative', 'Negative', 'Negative', 'Negative']);
      const formats = await tests('410061', 'E077');
      assert.deepEqual(formats.slice(2, 6).map((t) => t.ref_range), ['3.5-5.0', '<5', '<5', '>=10']);
    });

    it('escapes EMR values holding HL7 delimiters and keeps Unicode', async () => {
      const r = await lookupOrder(a, request('500106', 'E024'));
      assert.equal(r.response.split('\r')[1], "PID|||500106^E024^6106|O'Neil\\F\\Kim\\S\\Park\\T\\Lee\\R\\Choi\\E\\Jung||51|U");
      const dk = await lookupOrder(a, request('DK77001', 'E060', '2.5'), { patientMapping: STANDARD_PATIENT_MAPPING });
      assert.equal(dk.response.split('\r')[1], 'PID|||DK77001^E060^DK77001||SØNDERGÅRD^ÆSA||19640912|F');
    });

    it('runs the look-up through stored procedures where the database has them', async () => {
      const o: LookupOptions = {
        patient: { mode: 'procedure', procedure: 'mg_lookup_patient', args: ['barcode'] },
        tests: { mode: 'procedure', procedure: 'mg_lookup_tests', args: ['barcode', 'device'] },
      };
      if (emr.dialect === 'sqlite') {
        await assert.rejects(lookupOrder(a, REQUEST, o), code('EMR_BAD_CONFIG'));
        return;
      }
      assert.equal((await lookupOrder(a, REQUEST, o)).response, RESPONSE);
      await assert.rejects(lookupOrder(a, request('999999', 'E024'), o), code('EMR_NOT_FOUND'));
    });
  });

  describe('write', () => {
    it('writes SPEC 2.3 as four rows flagged N, N, (none), L, and a second delivery adds nothing', async () => {
      const rows = resultRows({ payload: RESULT, obx: SPEC_OBX, timezone: '+09:00', receivedAt: '2009-09-27T06:20:00.000Z' });
      assert.deepEqual(await writeResults(a, rows, { mode: 'sql' }), { rows: 4, duplicates: 0 });
      const got = await results(a);
      assert.deepEqual(got.map((r) => [r.barcode, r.patient_no, r.device, r.test_code, r.channel_code, r.value, r.numeric_value,
        r.units, r.ref_range, r.flag, r.reason, r.set_id, r.control_id]), [
        ['107558', '1234', 'E024', 'HGB', '03', '12.7', 12.7, 'g/dl', '11.2~17.2', 'N', null, 1, 'BARCODE'],
        ['107558', '1234', 'E024', 'HCT', '04', '39.1', 39.1, '%', '33.6~51.5', 'N', null, 2, 'BARCODE'],
        ['107558', '1234', 'E024', 'RBC', '02', 'TEST', null, '*10-6/mm-3', '3.8~5.6', '', 'not-numeric', 3, 'BARCODE'],
        ['107558', '1234', 'E024', 'WBC', '01', '2', 2, '*10-6/mm-3', '3.2~10.2', 'L', null, 4, 'BARCODE'],
      ]);
      assert.deepEqual(got.map((r) => r.observed_at), Array(4).fill('2009-09-27T06:19:49.000Z'));
      assert.deepEqual(got.map((r) => r.received_at), Array(4).fill('2009-09-27T06:20:00.000Z'));
      assert.deepEqual(got.map((r) => r.message_key), Array(4).fill(messageKeyOf(RESULT)));

      assert.deepEqual(await writeResults(a, rows, { mode: 'sql' }), { rows: 0, duplicates: 4 });
      assert.equal((await results(a)).length, 4);
    });

    it('reads OBX-8 from the message when there is no msg.obx', async () => {
      const flagged = RESULT.replace('|12.7|g/dl|11.2~17.2|A|', '|12.7|g/dl|11.2~17.2|N|').replace('|2|*10-6/mm-3|3.2~10.2|A|', '|2|*10-6/mm-3|3.2~10.2|L~A|');
      await writeResults(a, resultRows({ payload: flagged, messageKey: 'k1' }), { mode: 'sql' });
      assert.deepEqual((await results(a, 'k1')).map((r) => [r.test_code, r.flag]), [['HGB', 'N'], ['HCT', 'A'], ['RBC', 'A'], ['WBC', 'L']]);
    });

    it('stores hostile values as data', async () => {
      const hostile = ["'; DROP TABLE results; --", 'O\'Brien "quoted" \\ back`tick`', 'x'.repeat(10000), '홍길동 검체 용혈 ±Å', "1' OR '1'='1"];
      const obx: ObxResult[] = hostile.map((v, i) => ({ setId: String(i + 1), code: `c${i}`, test: v.slice(0, 20), value: v,
        units: '', range: '', flag: '', index: i + 1 }));
      const out = await writeResults(a, resultRows({ payload: RESULT, obx, messageKey: "key'; DROP TABLE results; --" }), { mode: 'sql' });
      assert.deepEqual(out, { rows: 5, duplicates: 0 });
      const got = await results(a, "key'; DROP TABLE results; --");
      assert.deepEqual(got.map((r) => r.value), hostile);
      assert.deepEqual(got.map((r) => r.test_code), hostile.map((v) => v.slice(0, 20)));
      assert.equal((await a.query('SELECT COUNT(*) AS n FROM results'))[0].n, 5);
      // the same text as a look-up parameter is just an unknown barcode
      await assert.rejects(lookupOrder(a, request("107558' OR '1'='1", 'E024')), code('EMR_NOT_FOUND'));
    });

    it('stores decoded text: escapes resolved (case 11), HL7 null as NULL, Hangul as Unicode', async () => {
      const c11 = caseFile('11-escape-sequences-decode', 'input.hl7').toString('latin1');
      const expected = caseFile('11-escape-sequences-decode', 'expected_obx1_text.bin').toString('utf8');
      await writeResults(a, resultRows({ payload: c11, messageKey: 'c11' }), { mode: 'sql' });
      const got = await results(a, 'c11');
      assert.equal(got[0].value, expected);
      assert.equal(got[1].units, 'g^dL');
      const c13 = caseFile('13-null-vs-empty-fields', 'input.hl7').toString('utf8');
      await writeResults(a, resultRows({ payload: c13, messageKey: 'c13' }), { mode: 'sql' });
      const g13 = await results(a, 'c13');
      assert.deepEqual(g13.map((r) => [r.test_code, r.value, r.ref_range]),
        [['HGB', null, '11.2~17.2'], ['HCT', '41.2', null], ['RBC', '4.61', ''], ['WBC', '7.4', '3.2~10.2'], ['PLT', '', '150~400']]);
      const hangul = 'MSH|^~\\&|HL7|B0801|||1||ORU^R01|BARCODE|P|2.3\rPID|||410072^E024^5172|이하늘||52|M\rOBR|1||||||20261102141000\rOBX|1|ST|03|HGB|검체 용혈 있음|g/dl|13.5~17.5|A|||R||P|\r';
      await writeResults(a, resultRows({ payload: hangul, messageKey: 'kr' }), { mode: 'sql' });
      assert.equal((await results(a, 'kr'))[0].value, '검체 용혈 있음');
    });

    it('writes a message all or nothing: one failing row rolls back the others', async () => {
      const failing = DEFAULT_WRITE_SQL.replace(':messageKey,', 'CASE WHEN :setId = 3 THEN NULL ELSE :messageKey END,');
      const rows = resultRows({ payload: RESULT, obx: SPEC_OBX, messageKey: 'atomic' });
      await assert.rejects(writeResults(a, rows, { mode: 'sql', sql: failing }), code('EMR_QUERY_FAILED'));
      assert.equal((await results(a, 'atomic')).length, 0);
      assert.deepEqual(await writeResults(a, rows, { mode: 'sql' }), { rows: 4, duplicates: 0 });
    });

    it('writes through the stored procedure where the database has one, once per message', async () => {
      const rows = resultRows({ payload: RESULT, obx: SPEC_OBX, messageKey: 'proc' });
      if (emr.dialect === 'sqlite') {
        await assert.rejects(writeResults(a, rows, { mode: 'procedure', procedure: 'mg_write_result' }), code('EMR_BAD_CONFIG'));
        assert.equal((await results(a, 'proc')).length, 0);
        return;
      }
      assert.equal((await writeResults(a, rows, { mode: 'procedure', procedure: 'mg_write_result' })).rows, 4);
      await writeResults(a, rows, { mode: 'procedure', procedure: 'mg_write_result' });
      assert.deepEqual((await results(a, 'proc')).map((r) => r.flag), ['N', 'N', '', 'L']);
    });
  });

  describe('values', () => {
    it('returns DATE as YYYY-MM-DD and DECIMAL as text, or as numbers when configured', async () => {
      const q = "SELECT ref_low, ref_high, critical_low FROM mg_ordered_tests WHERE barcode = '107558' AND device = 'E024' AND test_code = 'HGB'";
      const asText = (await a.query(q))[0];
      const asNumber = (await emr.open({ decimals: 'number' }).query(q))[0];
      assert.deepEqual(asNumber, { ref_low: 11.2, ref_high: 17.2, critical_low: 5 });
      if (emr.dialect === 'postgres') assert.deepEqual(asText, { ref_low: '11.2', ref_high: '17.2', critical_low: '5.0' });
      if (emr.dialect === 'mysql') assert.deepEqual(asText, { ref_low: '11.2000', ref_high: '17.2000', critical_low: '5.0000' });
      if (emr.dialect === 'sqlite') assert.deepEqual(asText, asNumber);       // SQLite stores numbers, not decimals
      const p = await a.query('SELECT birth_date, age FROM mg_patient WHERE barcode = :b', { b: '107558' });
      assert.deepEqual(p, [{ birth_date: '1959-03-15', age: 50 }]);
      assert.deepEqual(await a.query('SELECT name FROM mg_patient WHERE barcode = :b', { b: '999999' }), []);
    });

    it('binds null, numbers, booleans and Dates', async () => {
      await a.execute(DEFAULT_WRITE_SQL, {
        barcode: null, patientNo: undefined, device: 'E024', testCode: 'T', channelCode: '', value: null, numericValue: -3.25,
        units: '', range: null, flag: '', reason: null, observedAt: new Date(Date.UTC(2026, 2, 8, 6, 25)), receivedAt: null,
        controlId: 'C', messageKey: 'bind', setId: 7,
      });
      const [r] = await results(a, 'bind');
      assert.equal(r.barcode, null);
      assert.equal(r.patient_no, null);
      assert.equal(r.numeric_value, -3.25);
      assert.equal(r.observed_at, '2026-03-08T06:25:00.000Z');
      assert.equal(r.received_at, null);
      assert.equal(r.set_id, 7);
      assert.equal((await a.execute("DELETE FROM results WHERE message_key = :k", { k: 'bind' })).rowsAffected, 1);
    });
  });
}

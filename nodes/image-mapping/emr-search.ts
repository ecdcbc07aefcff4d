// SPDX-License-Identifier: Apache-2.0
// Patient search for the management page, through the EMR connection's SQL adapter (lib/emr/adapter.ts).
import type { MappedPatient } from '../../lib/images/hl7-images';

/**
 * Default search for the demo EMR schema (lib/emr/sql/demo-sqlite.sql): by patient number, by specimen
 * barcode, or by part of the name. `:q` is the text typed, `:like` the same wrapped in %…%.
 * A site's query returns the columns id (or patient_no), name, sex, birth_date, age, barcode, location.
 */
export const DEFAULT_SEARCH_SQL = `SELECT p.patient_no AS id, p.name, p.sex, p.birth_date, p.age, MAX(s.barcode) AS barcode,
       p.ward AS location
  FROM patients p LEFT JOIN specimens s ON s.patient_no = p.patient_no
 WHERE p.patient_no = :q OR s.barcode = :q OR p.name LIKE :like
 GROUP BY p.patient_no, p.name, p.sex, p.birth_date, p.age, p.ward
 ORDER BY p.name`;

interface QuerySession { query(sql: string, params?: Record<string, unknown>): Promise<Array<Record<string, unknown>>> }

/** The SQL session of an emr-connection config node, whatever shape it offers it in. */
async function sessionOf(emrNode: any): Promise<QuerySession | undefined> {
  if (!emrNode) return undefined;
  for (const c of [emrNode.adapter, emrNode.session]) if (c && typeof c.query === 'function') return c;
  for (const f of ['getAdapter', 'adapterAsync', 'connect']) {
    if (typeof emrNode[f] === 'function') {
      const a = await emrNode[f]();
      if (a && typeof a.query === 'function') return a;
    }
  }
  if (typeof emrNode.query === 'function') return emrNode;
  return undefined;
}

const text = (v: unknown): string | undefined => (v === null || v === undefined || v === '' ? undefined : String(v));

/** Maps one result row to a patient (birth dates become YYYYMMDD). */
export function rowToPatient(r: Record<string, unknown>): MappedPatient {
  const birth = text(r.birth_date ?? r.birthDate)?.replace(/-/g, '').slice(0, 8);
  const p: Record<string, string | undefined> = {
    id: text(r.id ?? r.patient_no ?? r.patientId) ?? '', name: text(r.name), sex: text(r.sex), birthDate: birth,
    age: text(r.age), barcode: text(r.barcode), location: text(r.location),
  };
  for (const k of Object.keys(p)) if (p[k] === undefined) delete p[k];
  return p as unknown as MappedPatient;
}

/** Searches the EMR; `available` is false when no EMR connection is configured (staff then type the patient in). */
export async function searchPatients(emrNode: unknown, sql: string | undefined, q: string): Promise<{ available: boolean; patients: MappedPatient[] }> {
  const session = await sessionOf(emrNode);
  if (!session) return { available: false, patients: [] };
  if (!q) return { available: true, patients: [] };
  const rows = await session.query(sql && sql.trim() ? sql : DEFAULT_SEARCH_SQL, { q, like: `%${q}%` });
  return { available: true, patients: rows.slice(0, 50).map(rowToPatient).filter((p) => p.id) };
}

// SPDX-License-Identifier: Apache-2.0
/**
 * Named SQL parameters (`:barcode`) translated to each driver's placeholder syntax.
 *
 * Integrators write one SQL text with named parameters; the adapter rewrites it for the dialect
 * (`?` for SQLite and MySQL/MariaDB, `$1` for PostgreSQL, `@barcode` for SQL Server) and binds the
 * values separately. Values are never spliced into the SQL text. The scanner skips string
 * literals, quoted identifiers, comments and PostgreSQL dollar-quoted bodies, and leaves `::type`
 * casts and `:=` assignments alone, so a colon inside those is never taken for a parameter.
 */
import { GatewayError } from '../errors';

/** Database dialects the EMR adapter speaks; `mysql` also covers MariaDB. */
export type Dialect = 'sqlite' | 'postgres' | 'mysql' | 'mssql';

export const DIALECTS: readonly Dialect[] = ['sqlite', 'postgres', 'mysql', 'mssql'];

/** SQL rewritten for one dialect, with the parameter names in binding order. */
export interface TranslatedSql {
  sql: string;
  /**
   * Names to bind, in order: one entry per placeholder for `?` dialects (a name used twice
   * appears twice), one entry per distinct name for `$n` (PostgreSQL) and `@name` (SQL Server).
   */
  names: string[];
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;

function badSql(detail: string): never {
  throw new GatewayError('EMR_BAD_CONFIG', { detail });
}

/** Rewrite `:name` parameters in `sql` for `dialect`; throws EMR_BAD_CONFIG on a bare `?` placeholder. */
export function translateNamedParams(sql: string, dialect: Dialect): TranslatedSql {
  const names: string[] = [];
  const pgIndex = new Map<string, number>();
  let out = '';
  let i = 0;
  const n = sql.length;

  const copyUntil = (end: number): void => {
    out += sql.slice(i, end);
    i = end;
  };

  while (i < n) {
    const c = sql[i];
    const next = sql[i + 1];

    // String literal '...' ('' doubles a quote; MySQL and PostgreSQL E'' strings also know backslash escapes).
    if (c === "'") {
      const backslash = dialect === 'mysql' || (dialect === 'postgres' && /[Ee]/.test(sql[i - 1] ?? '')
        && !IDENT_PART.test(sql[i - 2] ?? ''));
      let j = i + 1;
      while (j < n) {
        if (backslash && sql[j] === '\\') { j += 2; continue; }
        if (sql[j] === "'") {
          if (sql[j + 1] === "'") { j += 2; continue; }
          break;
        }
        j++;
      }
      copyUntil(Math.min(j + 1, n));
      continue;
    }
    // Quoted identifiers: "..." everywhere, `...` in MySQL, [...] in SQL Server.
    if (c === '"' || (c === '`' && dialect === 'mysql') || (c === '[' && dialect === 'mssql')) {
      const close = c === '[' ? ']' : c;
      let j = i + 1;
      while (j < n) {
        if (sql[j] === close) {
          if (sql[j + 1] === close) { j += 2; continue; }
          break;
        }
        j++;
      }
      copyUntil(Math.min(j + 1, n));
      continue;
    }
    // Comments: -- and # (MySQL) to the end of the line, /* ... */ blocks.
    if ((c === '-' && next === '-') || (c === '#' && dialect === 'mysql')) {
      let j = i;
      while (j < n && sql[j] !== '\n' && sql[j] !== '\r') j++;
      copyUntil(j);
      continue;
    }
    if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      copyUntil(end < 0 ? n : end + 2);
      continue;
    }
    // PostgreSQL dollar quoting: $$ ... $$ or $tag$ ... $tag$.
    if (c === '$' && dialect === 'postgres') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length);
        copyUntil(end < 0 ? n : end + m[0].length);
        continue;
      }
      if (next !== undefined && /[0-9]/.test(next)) badSql('use named parameters (:name), not $1');
    }
    if (c === '?' && (dialect === 'sqlite' || dialect === 'mysql')) {
      badSql('use named parameters (:name), not ?');
    }
    if (c === ':') {
      if (next === ':' ) { copyUntil(i + 2); continue; }            // PostgreSQL cast ::type
      if (next === '=' || next === undefined || !IDENT_START.test(next)
          || sql[i - 1] === ':' || IDENT_PART.test(sql[i - 1] ?? '')) {
        copyUntil(i + 1);                                           // :=, a lone colon, a:b
        continue;
      }
      let j = i + 1;
      while (j < n && IDENT_PART.test(sql[j])) j++;
      const name = sql.slice(i + 1, j);
      i = j;
      switch (dialect) {
        case 'sqlite':
        case 'mysql':
          names.push(name);
          out += '?';
          break;
        case 'postgres': {
          let k = pgIndex.get(name);
          if (k === undefined) {
            names.push(name);
            k = names.length;
            pgIndex.set(name, k);
          }
          out += `$${k}`;
          break;
        }
        case 'mssql':
          if (!names.includes(name)) names.push(name);
          out += `@${name}`;
          break;
      }
      continue;
    }
    out += c;
    i++;
  }
  return { sql: out, names };
}

/** Values for `names` taken from `params`; a name with no entry is a configuration error (EMR_BAD_CONFIG). */
export function bindValues(names: readonly string[], params: Record<string, unknown>): unknown[] {
  return names.map((name) => {
    if (!Object.prototype.hasOwnProperty.call(params, name)) {
      throw new GatewayError('EMR_BAD_CONFIG', { detail: `unknown parameter :${name}` });
    }
    const v = params[name];
    return v === undefined ? null : v;
  });
}

/** Names of the parameters a SQL text uses, each once, in order of first use. */
export function parameterNames(sql: string, dialect: Dialect = 'postgres'): string[] {
  return translateNamedParams(sql, dialect === 'mssql' ? 'mssql' : 'postgres').names;
}

const IDENT_PATH = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$/;

/** True when `name` is a plain (optionally schema-qualified) identifier, safe to put in SQL text. */
export function isSafeIdentifier(name: string): boolean {
  return IDENT_PATH.test(name);
}

// SPDX-License-Identifier: Apache-2.0
import { strict as assert } from 'node:assert';
import { bindValues, isSafeIdentifier, parameterNames, translateNamedParams } from '../../../lib/emr/named-params';
import { parseEmrUrl, resolveOptions } from '../../../lib/emr/adapter';
import { isGatewayError } from '../../../lib/errors';

describe('emr named parameters', () => {
  const sql = 'SELECT * FROM t WHERE a = :barcode AND b = :device OR c = :barcode';

  it('translates :name to ? for SQLite and MySQL, one value per placeholder', () => {
    for (const d of ['sqlite', 'mysql'] as const) {
      const t = translateNamedParams(sql, d);
      assert.equal(t.sql, 'SELECT * FROM t WHERE a = ? AND b = ? OR c = ?');
      assert.deepEqual(t.names, ['barcode', 'device', 'barcode']);
      assert.deepEqual(bindValues(t.names, { barcode: '107558', device: 'E024' }), ['107558', 'E024', '107558']);
    }
  });

  it('translates :name to $n for PostgreSQL, reusing the number of a repeated name', () => {
    const t = translateNamedParams(sql, 'postgres');
    assert.equal(t.sql, 'SELECT * FROM t WHERE a = $1 AND b = $2 OR c = $1');
    assert.deepEqual(t.names, ['barcode', 'device']);
  });

  it('translates :name to @name for SQL Server', () => {
    const t = translateNamedParams(sql, 'mssql');
    assert.equal(t.sql, 'SELECT * FROM t WHERE a = @barcode AND b = @device OR c = @barcode');
    assert.deepEqual(t.names, ['barcode', 'device']);
  });

  it('leaves string literals, quoted identifiers, comments, casts and := alone', () => {
    const text = "SELECT ':no', \"col:x\", x::text, '10:30', 'it''s :no' -- :no\n/* :no */ FROM t WHERE y = :yes AND z := 1";
    assert.equal(translateNamedParams(text, 'postgres').sql,
      "SELECT ':no', \"col:x\", x::text, '10:30', 'it''s :no' -- :no\n/* :no */ FROM t WHERE y = $1 AND z := 1");
    assert.deepEqual(translateNamedParams(text, 'postgres').names, ['yes']);
    assert.equal(translateNamedParams("SELECT `a:b`, 'x\\':no' # :no\nFROM t WHERE k = :k", 'mysql').sql,
      "SELECT `a:b`, 'x\\':no' # :no\nFROM t WHERE k = ?");
    assert.equal(translateNamedParams('SELECT [a:b] FROM t WHERE k = :k', 'mssql').sql, 'SELECT [a:b] FROM t WHERE k = @k');
    assert.equal(translateNamedParams('SELECT $$ :no $$, $f$ :no $f$ WHERE k = :k', 'postgres').sql,
      'SELECT $$ :no $$, $f$ :no $f$ WHERE k = $1');
    assert.equal(translateNamedParams("SELECT E'\\':no' WHERE k = :k", 'postgres').sql, "SELECT E'\\':no' WHERE k = $1");
  });

  it('rejects positional placeholders (values must be named) and unknown parameters', () => {
    for (const [text, d] of [['SELECT ?', 'sqlite'], ['SELECT ?', 'mysql'], ['SELECT $1', 'postgres']] as const) {
      assert.throws(() => translateNamedParams(text, d), (e: unknown) => isGatewayError(e, 'EMR_BAD_CONFIG'));
    }
    assert.throws(() => bindValues(['nope'], { barcode: 'x' }),
      (e: unknown) => isGatewayError(e, 'EMR_BAD_CONFIG') && e.params.detail === 'unknown parameter :nope');
  });

  it('binds undefined as NULL and lists names once', () => {
    assert.deepEqual(bindValues(['a', 'b'], { a: undefined, b: null }), [null, null]);
    assert.deepEqual(parameterNames(sql), ['barcode', 'device']);
  });

  it('accepts only plain identifiers as procedure names', () => {
    assert.equal(isSafeIdentifier('mg_lookup_patient'), true);
    assert.equal(isSafeIdentifier('dbo.mg_lookup'), true);
    assert.equal(isSafeIdentifier('x; DROP TABLE results'), false);
    assert.equal(isSafeIdentifier("x'"), false);
  });
});

describe('emr connection URLs', () => {
  it('reads every dialect from its URL', () => {
    assert.deepEqual(parseEmrUrl('postgres://mgs:s%40cret@db.example:5433/emr?sslmode=require'),
      { dialect: 'postgres', host: 'db.example', port: 5433, user: 'mgs', password: 's@cret', database: 'emr', tls: { rejectUnauthorized: false } });
    assert.deepEqual(parseEmrUrl('mariadb://root@127.0.0.1/test'), { dialect: 'mysql', host: '127.0.0.1', user: 'root', database: 'test' });
    assert.deepEqual(parseEmrUrl('mssql://sa@sql1/lab?instance=LAB&encrypt=true&trustServerCertificate=true&poolSize=3'),
      { dialect: 'mssql', host: 'sql1', user: 'sa', database: 'lab', instance: 'LAB', tls: { rejectUnauthorized: false }, poolSize: 3 });
    assert.deepEqual(parseEmrUrl('sqlite:/var/lib/mgs/emr.sqlite'), { dialect: 'sqlite', filename: '/var/lib/mgs/emr.sqlite' });
    assert.deepEqual(parseEmrUrl('sqlite:///var/lib/mgs/emr.sqlite'), { dialect: 'sqlite', filename: '/var/lib/mgs/emr.sqlite' });
    assert.deepEqual(parseEmrUrl('/data/emr.sqlite'), { dialect: 'sqlite', filename: '/data/emr.sqlite' });
    assert.deepEqual(parseEmrUrl('C:\\data\\emr.sqlite'), { dialect: 'sqlite', filename: 'C:\\data\\emr.sqlite' });
  });

  it('fills defaults, lets fields override the URL, and refuses what cannot work', () => {
    const o = resolveOptions({ url: 'postgres://u@h/db', port: 6000, password: 'pw' });
    assert.equal(o.dialect, 'postgres');
    assert.equal(o.port, 6000);
    assert.equal(o.password, 'pw');
    assert.equal(o.poolSize, 5);
    assert.equal(o.connectTimeoutMs, 5000);
    assert.equal(o.queryTimeoutMs, 10000);
    assert.equal(o.decimals, 'string');
    assert.equal(resolveOptions({ dialect: 'mysql', host: 'h' }).port, 3306);
    assert.equal(resolveOptions({ dialect: 'mssql', host: 'h' }).port, 1433);
    const bad = (o2: object): void => assert.throws(() => resolveOptions(o2), (e: unknown) => isGatewayError(e, 'EMR_BAD_CONFIG'));
    bad({ dialect: 'oracle', host: 'h' });
    bad({ dialect: 'postgres' });
    bad({ dialect: 'sqlite' });
    bad({ dialect: 'mysql', url: 'postgres://h/db' });
    bad({ url: 'ftp://h/x' });
    bad({ dialect: 'postgres', host: 'h', poolSize: 0 });
  });
});

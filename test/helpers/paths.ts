// SPDX-License-Identifier: Apache-2.0
import * as path from 'node:path';
import * as fs from 'node:fs';

/** The repository root: tests run from it (npm test), whatever outDir the build used. */
export const repoRoot = process.cwd();

/** Absolute path of a file under test/fixtures/. */
export function fixturePath(...parts: string[]): string {
  return path.join(repoRoot, 'test', 'fixtures', ...parts);
}

/** Bytes of a file under test/fixtures/. */
export function fixture(...parts: string[]): Buffer {
  return fs.readFileSync(fixturePath(...parts));
}

/** Bytes of a file of a shared case, copied under test/fixtures/cases/<case>/. */
export function caseFile(caseDir: string, name: string): Buffer {
  return fixture('cases', caseDir, name);
}

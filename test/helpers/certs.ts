// SPDX-License-Identifier: Apache-2.0
// Test certificates made with the openssl command line in a temporary folder: a CA, a server certificate
// for 127.0.0.1/localhost and a client certificate signed by that CA, and a self-signed "rogue" client
// certificate. EC P-256 keys keep it to a fraction of a second.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface KeyPair { key: Buffer; cert: Buffer; keyFile: string; certFile: string }

export interface TestCerts {
  dir: string;
  ca: Buffer;
  caFile: string;
  server: KeyPair;
  client: KeyPair;
  rogue: KeyPair;
  /** Removes the folder. */
  remove(): void;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes the certificates; throws when openssl is missing. */
export function makeCerts(): TestCerts {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mgs-certs-'));
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=MGS Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const signed = (name: string, cn: string, ext: string): void => {
    openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  };
  signed('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', 'MG B0801', 'extendedKeyUsage=clientAuth\n');
  openssl(dir, ['req', '-x509', ...EC, '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '2', '-subj', '/CN=MG B0801']);
  const pair = (name: string): KeyPair => {
    const keyFile = path.join(dir, `${name}.key`);
    const certFile = path.join(dir, `${name}.crt`);
    return { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile), keyFile, certFile };
  };
  const caFile = path.join(dir, 'ca.crt');
  return {
    dir, ca: fs.readFileSync(caFile), caFile,
    server: pair('server'), client: pair('client'), rogue: pair('rogue'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

// Test certificates made with the openssl CLI at test time: a CA, a server and a client certificate it signs, and a self-signed server certificate.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';

const run = promisify(execFile);

export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface TestCerts {
  dir: string;
  caFile: string;
  ca: Buffer;
  /** Signed by the CA, valid for DNS:localhost and IP:127.0.0.1. */
  server: CertFiles;
  /** Signed by the CA, for clientAuth. */
  client: CertFiles;
  /** Valid for localhost and 127.0.0.1 but signed by itself. */
  selfSigned: CertFiles;
  cleanup(): Promise<void>;
}

// A config of our own, so the system openssl.cnf (and its default extensions) play no part.
const OPENSSL_CNF = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = kaudit-test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
`;

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Creates the certificates in a fresh temporary directory; `cleanup` removes it. */
export async function makeTestCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), 'kaudit-tls-'));
  const cnf = join(dir, 'openssl.cnf');
  await writeFile(cnf, OPENSSL_CNF);
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir });

  await openssl('req', '-x509', '-config', cnf, '-extensions', 'ca_ext', ...NEW_KEY,
    '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '2', '-subj', '/CN=kaudit test CA');

  async function signed(name: string, cn: string, ext: string, serial: number): Promise<CertFiles> {
    await openssl('req', '-new', '-config', cnf, ...NEW_KEY, '-keyout', at(`${name}.key`), '-out', at(`${name}.csr`), '-subj', `/CN=${cn}`);
    await openssl('x509', '-req', '-in', at(`${name}.csr`), '-CA', at('ca.crt'), '-CAkey', at('ca.key'),
      '-set_serial', String(serial), '-days', '2', '-extfile', cnf, '-extensions', ext, '-out', at(`${name}.crt`));
    return load(name);
  }

  async function load(name: string): Promise<CertFiles> {
    const certFile = at(`${name}.crt`);
    const keyFile = at(`${name}.key`);
    return { certFile, keyFile, cert: await readFile(certFile), key: await readFile(keyFile) };
  }

  const server = await signed('server', 'localhost', 'server_ext', 2);
  const client = await signed('client', 'kaudit-client', 'client_ext', 3);
  await openssl('req', '-x509', '-config', cnf, '-extensions', 'server_ext', ...NEW_KEY,
    '-keyout', at('self.key'), '-out', at('self.crt'), '-days', '2', '-subj', '/CN=localhost');
  const selfSigned = await load('self');

  return {
    dir,
    caFile: at('ca.crt'),
    ca: await readFile(at('ca.crt')),
    server,
    client,
    selfSigned,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * The certificates of one test file: made before its first test, removed after its last. The object is filled in
 * then, so its fields are read inside tests and hooks only.
 */
export function certsForTestFile(): TestCerts {
  const certs = {} as TestCerts;
  beforeAll(async () => {
    Object.assign(certs, await makeTestCerts());
  });
  afterAll(async () => certs.cleanup?.());
  return certs;
}

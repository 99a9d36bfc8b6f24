// A self-signed certificate for 127.0.0.1, made for one test run with the
// openssl CLI: Entra's libraries (MSAL) and the Key Vault client insist on
// https, so their local stand-ins serve TLS with it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

export interface TestCert {
  readonly dir: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: string;
  readonly key: string;
  /** certificate and private key in one PEM file (what ClientCertificateCredential reads) */
  readonly bundlePath: string;
  remove(): void;
}

export function makeTestCert(cn = '127.0.0.1'): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'aoaigw-cert-'));
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(certPath, 'utf8');
  const key = readFileSync(keyPath, 'utf8');
  const bundlePath = join(dir, 'bundle.pem');
  execFileSync('sh', ['-c', `cat "${certPath}" "${keyPath}" > "${bundlePath}"`]);
  return { dir, certPath, keyPath, cert, key, bundlePath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Trusts `cert` in this process, as NODE_EXTRA_CA_CERTS would in a child process. */
export function trustInThisProcess(cert: string): void {
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), cert]);
}

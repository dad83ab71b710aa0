/**
 * TLS for the e2e tests: a throwaway PKI made with the `openssl` command in
 * a temp dir (a CA, and leaf certificates it signs for 127.0.0.1/localhost),
 * the etcdctl flags that present it, and a raw TLS handshake probe that says
 * whether a port accepts a given client identity.
 *
 * Keys are EC P-256 (fast to generate, understood by Node and by Go's
 * etcdctl). A "server" leaf carries both serverAuth and clientAuth, because a
 * member uses the same certificate to serve and to dial its peers (as etcd's
 * peer certificates do); a "client" leaf carries clientAuth only.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';

export const OPENSSL_BIN = process.env.OPENSSL_BIN ?? 'openssl';
const VALID_DAYS = 2;
const SAN = 'IP:127.0.0.1,DNS:localhost';
/**
 * How long a handshake must stay up for the probe to call it accepted. With
 * TLS 1.3 the client finishes its handshake before the server has checked
 * the client's certificate; a refusal arrives as an alert just after.
 */
const PROBE_SETTLE_MS = 500;
const PROBE_TIMEOUT_MS = 5_000;

export interface CertPair {
  cert: string;
  key: string;
}

export interface CertAuthority extends CertPair {
  name: string;
}

/** Why openssl cannot be used here, or null when it can. */
export function opensslMissingReason(): string | null {
  const r = spawnSync(OPENSSL_BIN, ['version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `${OPENSSL_BIN} not runnable (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); apt-get install -y openssl`;
  if (r.status !== 0) return `${OPENSSL_BIN} version failed: ${r.stderr}`;
  return null;
}

function openssl(args: string[]): void {
  const r = spawnSync(OPENSSL_BIN, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

/** A temp dir of certificates; remove() deletes it with every key in it. */
export class TestPki {
  readonly dir: string;

  constructor(label: string) {
    this.dir = mkdtempSync(join(tmpdir(), `skiff-e2e-pki-${label}-`));
  }

  /** A self-signed CA named `name` (files DIR/<name>-ca.{crt,key}). */
  ca(name: string): CertAuthority {
    const cert = join(this.dir, `${name}-ca.crt`);
    const key = join(this.dir, `${name}-ca.key`);
    openssl([
      'req', '-x509', '-new', '-nodes',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', key, '-out', cert, '-days', String(VALID_DAYS),
      '-subj', `/O=skiff-e2e/CN=${name} test CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return { name, cert, key };
  }

  /** A leaf signed by `ca` for 127.0.0.1 and localhost (files DIR/<ca>-<name>.{crt,key}). */
  leaf(ca: CertAuthority, name: string, usage: 'server' | 'client'): CertPair {
    const base = join(this.dir, `${ca.name}-${name}`);
    const ext = `${base}.ext`;
    writeFileSync(
      ext,
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${usage === 'server' ? 'serverAuth,clientAuth' : 'clientAuth'}`,
        `subjectAltName=${SAN}`,
        '',
      ].join('\n'),
    );
    openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/O=skiff-e2e/CN=${name}`]);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${base}.crt`, '-days', String(VALID_DAYS), '-extfile', ext]);
    return { cert: `${base}.crt`, key: `${base}.key` };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** etcdctl's global flags presenting `ca` as the trusted CA and, if given, `client` as the client identity. */
export function etcdctlTlsFlags(ca: CertPair, client?: CertPair): string[] {
  return ['--cacert', ca.cert, ...(client ? ['--cert', client.cert, '--key', client.key] : [])];
}

export interface ProbeResult {
  accepted: boolean;
  /** Why not: the TLS error (code and message), or how the connection ended. */
  reason: string;
}

/**
 * A TLS handshake to 127.0.0.1:`port` (ALPN h2, SNI localhost) trusting
 * `ca`, presenting `client` if given. Accepted means the connection is still
 * up PROBE_SETTLE_MS after the handshake, so a refusal sent as a TLS 1.3
 * post-handshake alert counts as refused.
 */
export function tlsProbe(port: number, ca: CertPair, client?: CertPair): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ALPNProtocols: ['h2'],
      ca: readFileSync(ca.cert),
      ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
    });
    let settled = false;
    const finish = (r: ProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      s.destroy();
      resolve(r);
    };
    const timeout = setTimeout(() => finish({ accepted: false, reason: `no handshake within ${PROBE_TIMEOUT_MS} ms` }), PROBE_TIMEOUT_MS);
    s.on('secureConnect', () => {
      setTimeout(() => finish({ accepted: true, reason: `handshake done, still connected after ${PROBE_SETTLE_MS} ms` }), PROBE_SETTLE_MS);
    });
    s.on('error', (e: NodeJS.ErrnoException) => finish({ accepted: false, reason: `${e.code ?? 'error'}: ${e.message.trim()}` }));
    s.on('close', () => finish({ accepted: false, reason: 'closed by the server' }));
  });
}

/**
 * A plain-text HTTP/2 client preface to 127.0.0.1:`port`: what the server
 * sends back before it closes (a gRPC server in plain text answers with a
 * SETTINGS frame; a TLS server answers nothing, or a TLS alert, and closes).
 */
export function plaintextProbe(port: number): Promise<{ closed: boolean; reply: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = netConnect(port, '127.0.0.1', () => s.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
    let settled = false;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      s.destroy();
      resolve({ closed, reply: Buffer.concat(chunks) });
    };
    const timeout = setTimeout(() => finish(false), PROBE_TIMEOUT_MS);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
  });
}

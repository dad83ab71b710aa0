/**
 * The cluster CA on disk. Every master calls loadOrCreateClusterPki at start:
 * the first to find the directory empty makes the CA, everyone else (later,
 * or racing it in the same directory) reuses it, and a CA copied in by an
 * operator is reused as is. A master never silently replaces a CA: clients
 * and kubeconfigs already trust it.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CertKeyPair, DEFAULT_CA_VALIDITY_DAYS, createCA, loadCa } from './certificates.js';
import { PkiError } from './errors.js';
import { createFileExclusive } from './files.js';
import type { KeyType } from './keys.js';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const DEFAULT_CLUSTER_CA_COMMON_NAME = 'skiff-ca';
/** The key is secret; the certificate is public, as kubeadm writes them. */
export const CA_KEY_MODE = 0o600;
export const CA_CERT_MODE = 0o644;
const PKI_DIR_MODE = 0o700;
/** How long to wait for a master that has claimed ca.key to write ca.crt. */
export const DEFAULT_CA_WAIT_FOR_PEER_MS = 10_000;
const CA_POLL_MS = 50;

export interface ClusterPkiOptions {
  commonName?: string;
  validityDays?: number;
  keyType?: KeyType;
  waitForPeerMs?: number;
  now?: Date;
}

export interface ClusterPki {
  dir: string;
  caCertPath: string;
  caKeyPath: string;
  ca: CertKeyPair;
  /** True when this call generated the CA; false when it reused one. */
  created: boolean;
}

/**
 * Loads DIR/ca.crt and DIR/ca.key, or creates them when both are absent.
 * Creation claims ca.key first (exclusive link), then publishes ca.crt, so
 * "ca.key without ca.crt" means a peer is mid-creation: we wait for it. A
 * loaded CA is checked (a CA, key matching, not expired) before use.
 */
export async function loadOrCreateClusterPki(dir: string, opts: ClusterPkiOptions = {}): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true, mode: PKI_DIR_MODE });
  const caCertPath = join(dir, CA_CERT_FILE);
  const caKeyPath = join(dir, CA_KEY_FILE);
  const result = (ca: CertKeyPair, created: boolean): ClusterPki => ({ dir, caCertPath, caKeyPath, ca, created });
  const found = await readPair(caCertPath, caKeyPath);
  if (found.certPem !== undefined && found.keyPem !== undefined) return result(checked(found as CertKeyPair, opts), false);
  if (found.certPem !== undefined) throw new PkiError('PKI_ERR_CA_INCOMPLETE', `${caCertPath} exists without ${CA_KEY_FILE}; copy the CA key too`);
  if (found.keyPem === undefined) {
    const ca = createCA({
      commonName: opts.commonName ?? DEFAULT_CLUSTER_CA_COMMON_NAME,
      validityDays: opts.validityDays ?? DEFAULT_CA_VALIDITY_DAYS,
      ...(opts.keyType ? { keyType: opts.keyType } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
    if (await createFileExclusive(caKeyPath, ca.keyPem, CA_KEY_MODE)) {
      if (!(await createFileExclusive(caCertPath, ca.certPem, CA_CERT_MODE))) {
        throw new PkiError('PKI_ERR_CA_INCOMPLETE', `${caCertPath} appeared while ${CA_KEY_FILE} was being created`);
      }
      return result(ca, true);
    }
  }
  return result(checked(await waitForPeer(caCertPath, caKeyPath, opts.waitForPeerMs ?? DEFAULT_CA_WAIT_FOR_PEER_MS), opts), false);
}

function checked(pair: CertKeyPair, opts: ClusterPkiOptions): CertKeyPair {
  loadCa(pair, opts.now ?? new Date());
  return pair;
}

async function readPair(certPath: string, keyPath: string): Promise<Partial<CertKeyPair>> {
  const read = (p: string) =>
    readFile(p, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
  const [certPem, keyPem] = await Promise.all([read(certPath), read(keyPath)]);
  return { ...(certPem !== undefined ? { certPem } : {}), ...(keyPem !== undefined ? { keyPem } : {}) };
}

async function waitForPeer(certPath: string, keyPath: string, waitMs: number): Promise<CertKeyPair> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const found = await readPair(certPath, keyPath);
    if (found.certPem !== undefined && found.keyPem !== undefined) return found as CertKeyPair;
    if (Date.now() >= deadline) {
      throw new PkiError('PKI_ERR_CA_INCOMPLETE', `${keyPath} exists but ${CA_CERT_FILE} did not appear within ${waitMs} ms; remove ${CA_KEY_FILE} or supply ${CA_CERT_FILE}`);
    }
    await sleep(CA_POLL_MS);
  }
}

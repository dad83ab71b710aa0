/**
 * createCA and issueCertificate: the inputs checked, a fresh key generated,
 * the certificate built (x509.ts) and signed. Randomness is the serial and
 * the key; the clock is `now`, injectable so tests can cross 2050.
 */
import { type KeyObject, X509Certificate, randomBytes } from 'node:crypto';
import { AssertionError, assert } from '../../util/assert.js';
import { PkiError } from './errors.js';
import {
  DEFAULT_KEY_TYPE,
  type KeyType,
  type SignatureAlgorithm,
  derToPem,
  generatePrivateKey,
  parsePrivateKeyPem,
  privateKeyToPem,
  publicKeyInfoDer,
  signBytes,
  signatureAlgorithmFor,
} from './keys.js';
import { MAX_COMMON_NAME_CHARS, MAX_ORGANIZATION_CHARS, checkAttribute, checkDnsName, ipAddressBytes, unique } from './names.js';
import * as x509 from './x509.js';

export interface CertKeyPair {
  certPem: string;
  keyPem: string;
}

/** kubeadm's defaults: a ten-year CA, one-year leaves. */
export const DEFAULT_CA_VALIDITY_DAYS = 3650;
export const DEFAULT_LEAF_VALIDITY_DAYS = 365;
export const MAX_VALIDITY_DAYS = 36_500;
export const MAX_ORGANIZATIONS = 16;
export const MAX_SUBJECT_ALT_NAMES = 256;
/** notBefore lies this far in the past so a peer whose clock lags still accepts a new certificate. */
export const BACKDATE_MS = 60_000;
/** 16 random octets with the top bit cleared: positive, under RFC 5280's 20-octet cap, 127 bits of entropy. */
const SERIAL_BYTES = 16;
const MS_PER_DAY = 86_400_000;

export interface CreateCaOptions {
  commonName: string;
  organizations?: readonly string[];
  validityDays?: number;
  keyType?: KeyType;
  /** RFC 5280 4.2.1.9 pathLenConstraint; 0 (default) forbids intermediate CAs, null leaves it out. */
  pathLen?: number | null;
  now?: Date;
}

export interface IssueCertificateOptions {
  ca: CertKeyPair;
  commonName: string;
  /** Subject O values; Kubernetes reads them as the user's groups (e.g. system:masters). */
  organizations?: readonly string[];
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  usages: readonly x509.CertUsage[];
  /** Clipped to the CA's own notAfter: a leaf cannot outlive its issuer usefully. */
  validityDays?: number;
  keyType?: KeyType;
  now?: Date;
}

export function createCA(opts: CreateCaOptions): CertKeyPair {
  const subject = checkSubject(opts.commonName, opts.organizations ?? []);
  const days = checkValidityDays(opts.validityDays ?? DEFAULT_CA_VALIDITY_DAYS);
  const pathLen = opts.pathLen === undefined ? 0 : opts.pathLen;
  if (pathLen !== null && !(Number.isSafeInteger(pathLen) && pathLen >= 0)) throw new PkiError('PKI_ERR_INVALID_PATH_LEN', String(pathLen));
  const key = generatePrivateKey(opts.keyType ?? DEFAULT_KEY_TYPE);
  const spki = publicKeyInfoDer(key);
  const { notBefore, notAfter } = validityWindow(opts.now ?? new Date(), days);
  const name = x509.encodeName(subject);
  // A self-signed CA may omit authorityKeyIdentifier (RFC 5280 4.2.1.1).
  const extensions = [
    x509.basicConstraints(true, pathLen),
    x509.keyUsage([x509.KEY_USAGE.digitalSignature, x509.KEY_USAGE.keyCertSign, x509.KEY_USAGE.cRLSign]),
    x509.subjectKeyIdentifier(x509.keyIdentifier(spki)),
  ];
  const alg = signatureAlgorithmFor(key);
  const tbs = x509.encodeTbs({ serial: newSerial(), signatureAlgorithm: alg, issuer: name, subject: name, notBefore, notAfter, subjectPublicKeyInfo: spki, extensions });
  return { certPem: sign(tbs, alg, key), keyPem: privateKeyToPem(key) };
}

export function issueCertificate(opts: IssueCertificateOptions): CertKeyPair {
  const subject = checkSubject(opts.commonName, opts.organizations ?? []);
  const dnsNames = unique(opts.dnsNames ?? []).map(checkDnsName);
  const ips = unique(opts.ipAddresses ?? []).map(ipAddressBytes);
  if (dnsNames.length + ips.length > MAX_SUBJECT_ALT_NAMES) throw new PkiError('PKI_ERR_TOO_MANY_NAMES', `more than ${MAX_SUBJECT_ALT_NAMES} DNS names and IPs`);
  const usages = unique(opts.usages ?? []);
  if (usages.length === 0) throw new PkiError('PKI_ERR_NO_USAGES');
  if (!usages.every((u) => u === 'server' || u === 'client')) throw new PkiError('PKI_ERR_INVALID_USAGE', `unknown usage in ${JSON.stringify(usages)}`);
  const days = checkValidityDays(opts.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS);
  const now = opts.now ?? new Date();
  const ca = loadCa(opts.ca, now);
  const key = generatePrivateKey(opts.keyType ?? DEFAULT_KEY_TYPE);
  const spki = publicKeyInfoDer(key);
  const window = validityWindow(now, days);
  const notAfter = new Date(Math.min(window.notAfter.getTime(), ca.info.notAfter.getTime()));
  const extensions = [
    x509.basicConstraints(false, null),
    x509.keyUsage(leafKeyUsage(key)),
    x509.extKeyUsage(usages),
    ...(dnsNames.length + ips.length > 0 ? [x509.subjectAltName(dnsNames, ips)] : []),
    x509.subjectKeyIdentifier(x509.keyIdentifier(spki)),
    x509.authorityKeyIdentifier(ca.info.keyId),
  ];
  const tbs = x509.encodeTbs({
    serial: newSerial(),
    signatureAlgorithm: ca.algorithm,
    issuer: ca.info.subject,
    subject: x509.encodeName(subject),
    notBefore: window.notBefore,
    notAfter,
    subjectPublicKeyInfo: spki,
    extensions,
  });
  return { certPem: sign(tbs, ca.algorithm, ca.key), keyPem: privateKeyToPem(key) };
}

/**
 * ECDSA keys only sign; RSA keys also encrypt the premaster secret in
 * RSA key exchange, hence keyEncipherment (RFC 5280 4.2.1.3).
 */
function leafKeyUsage(key: KeyObject): number[] {
  const bits: number[] = [x509.KEY_USAGE.digitalSignature];
  if (key.asymmetricKeyType === 'rsa') bits.push(x509.KEY_USAGE.keyEncipherment);
  return bits;
}

export interface LoadedCa {
  cert: X509Certificate;
  key: KeyObject;
  algorithm: SignatureAlgorithm;
  info: x509.IssuerInfo;
}

/** Parses a CA pair and checks it can sign now: a CA, key and cert matching, not expired. */
export function loadCa(pair: CertKeyPair, now: Date): LoadedCa {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.certPem);
  } catch (e) {
    throw new PkiError('PKI_ERR_INVALID_PEM', `CA certificate: ${(e as Error).message}`);
  }
  if (!cert.ca) throw new PkiError('PKI_ERR_NOT_A_CA', cert.subject.replace(/\n/g, ', '));
  const key = parsePrivateKeyPem(pair.keyPem, 'CA key');
  if (!cert.checkPrivateKey(key)) throw new PkiError('PKI_ERR_CA_KEY_MISMATCH');
  const algorithm = signatureAlgorithmFor(key);
  const info = x509.readIssuerInfo(cert.raw);
  if (now.getTime() >= info.notAfter.getTime()) throw new PkiError('PKI_ERR_CA_EXPIRED', `expired ${info.notAfter.toISOString()}`);
  return { cert, key, algorithm, info };
}

function checkSubject(commonName: string, organizations: readonly string[]): x509.DistinguishedName {
  if (organizations.length > MAX_ORGANIZATIONS) throw new PkiError('PKI_ERR_TOO_MANY_NAMES', `more than ${MAX_ORGANIZATIONS} organizations`);
  return {
    commonName: checkAttribute(commonName, 'commonName', MAX_COMMON_NAME_CHARS),
    organizations: unique(organizations).map((o) => checkAttribute(o, 'organization', MAX_ORGANIZATION_CHARS)),
  };
}

function checkValidityDays(days: number): number {
  if (!Number.isInteger(days) || days <= 0 || days > MAX_VALIDITY_DAYS) throw new PkiError('PKI_ERR_INVALID_VALIDITY', String(days));
  return days;
}

/** Whole seconds, since certificate times carry no fractions (RFC 5280 4.1.2.5). */
function validityWindow(now: Date, days: number): { notBefore: Date; notAfter: Date } {
  const nowSec = Math.floor(now.getTime() / 1000) * 1000;
  assert(Number.isFinite(nowSec), 'now must be a valid date');
  return { notBefore: new Date(nowSec - BACKDATE_MS), notAfter: new Date(nowSec + days * MS_PER_DAY) };
}

/** An all-zero draw (probability 2^-127) is redrawn: RFC 5280 4.1.2.2 wants a positive serial. */
const SERIAL_DRAWS_MAX = 4;

function newSerial(): Buffer {
  for (let draw = 0; draw < SERIAL_DRAWS_MAX; draw++) {
    const serial = randomBytes(SERIAL_BYTES);
    serial[0]! &= 0x7f;
    if (serial.some((b) => b !== 0)) return serial;
  }
  throw new AssertionError('randomBytes returned zeros repeatedly');
}

function sign(tbs: Buffer, alg: SignatureAlgorithm, key: KeyObject): string {
  const der = x509.encodeCertificate(tbs, alg, signBytes(alg, key, tbs));
  return derToPem(der, 'CERTIFICATE');
}

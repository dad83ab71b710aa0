/**
 * The PKI module: the DER encoder byte for byte, then certificates read back
 * by three independent parsers (Node's X509Certificate, the openssl command,
 * and Go's crypto/x509 inside kubectl), a mutual-TLS round trip over
 * node:https, the on-disk cluster CA and the kubeconfig.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type Server, createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import * as der from '../src/control/pki/der.js';
import { ipAddressBytes } from '../src/control/pki/names.js';
import {
  type CertKeyPair,
  type CreateCaOptions,
  type IssueCertificateOptions,
  PkiError,
  type PkiErrorCode,
  createCA,
  issueCertificate,
  loadOrCreateClusterPki,
  renderKubeconfig,
  writeKubeconfig,
} from '../src/control/pki/index.js';

const execFileAsync = promisify(execFile);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function tempDir(t: ExecutionContext, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `skiff-pki-${label}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** Runs openssl; returns its exit status and output (never throws on failure). */
function openssl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function opensslText(t: ExecutionContext, pem: string): string {
  const dir = tempDir(t, 'text');
  writeFiles(dir, { 'c.crt': pem });
  const r = openssl(['x509', '-noout', '-text', '-in', join(dir, 'c.crt')]);
  t.is(r.status, 0, r.out);
  return r.out;
}

function opensslVerify(t: ExecutionContext, ca: string, leaf: string, extra: string[] = []): { status: number | null; out: string } {
  const dir = tempDir(t, 'verify');
  writeFiles(dir, { 'ca.crt': ca, 'leaf.crt': leaf });
  return openssl(['verify', ...extra, '-CAfile', join(dir, 'ca.crt'), join(dir, 'leaf.crt')]);
}

const kubectlAvailable = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8', timeout: 30_000 }).status === 0;

/** The key identifier lines openssl prints under the named extension. */
function extensionValue(text: string, name: string): string {
  const m = new RegExp(`${name}: ?(?:critical)?\\n\\s*(.+)`).exec(text);
  return (m?.[1] ?? '').trim().replace(/^keyid:/, '');
}

const serverOpts = (ca: CertKeyPair, extra: Partial<IssueCertificateOptions> = {}): IssueCertificateOptions => ({
  ca,
  commonName: 'kube-apiserver',
  dnsNames: ['localhost', 'kubernetes.default.svc'],
  ipAddresses: ['127.0.0.1', '::1'],
  usages: ['server'],
  ...extra,
});

// ---------------------------------------------------------------------------
// DER

test('der: INTEGERs are minimal two\'s complement', (t) => {
  const cases: [number[], string][] = [
    [[], '020100'],
    [[0], '020100'],
    [[0, 0, 1], '020101'],
    [[0x7f], '02017f'],
    [[0x80], '02020080'],
    [[0, 0x80], '02020080'],
    [[0, 0, 0x80, 0], '0203008000'],
    [[1, 0], '02020100'],
  ];
  for (const [magnitude, want] of cases) t.is(hex(der.unsignedInteger(Buffer.from(magnitude))), want, JSON.stringify(magnitude));
  t.is(hex(der.smallInteger(2)), '020102');
  t.is(hex(der.smallInteger(256)), '02020100');
});

test('der: OIDs, long lengths, BOOLEAN, NULL, named bits, SET OF order', (t) => {
  const cases: [Buffer, string][] = [
    [der.oid('1.2.840.113549.1.1.11'), '06092a864886f70d01010b'],
    [der.oid('1.2.840.10045.4.3.2'), '06082a8648ce3d040302'],
    [der.oid('2.5.29.19'), '0603551d13'],
    [der.oid('2.999.3'), '0603883703'],
    [der.boolean(true), '0101ff'],
    [der.nullValue(), '0500'],
    [der.namedBits([0]), '03020780'], // digitalSignature
    [der.namedBits([0, 2]), '030205a0'], // + keyEncipherment
    [der.namedBits([0, 5, 6]), '03020186'], // + keyCertSign, cRLSign
    [der.namedBits([8]), '0303070080'],
    [der.setOf([der.utf8String('b'), der.utf8String('a')]), '31060c01610c0162'],
    [der.explicit(0, der.smallInteger(2)), 'a003020102'],
  ];
  for (const [got, want] of cases) t.is(hex(got), want);
  t.is(hex(der.octetString(Buffer.alloc(200)).subarray(0, 3)), '0481c8');
  t.is(hex(der.octetString(Buffer.alloc(300)).subarray(0, 4)), '0482012c');
  const long = der.octetString(Buffer.alloc(300, 7));
  const node = der.readNode(long, 0);
  t.deepEqual([node.tag, node.contentStart, node.end], [0x04, 4, 304]);
});

test('der: certificate times are UTCTime for 1950-2049 and GeneralizedTime otherwise (RFC 5280 4.1.2.5)', (t) => {
  const cases: [string, number, string][] = [
    ['2049-12-31T23:59:59Z', der.TAG.UTC_TIME, '491231235959Z'],
    ['2050-01-01T00:00:00Z', der.TAG.GENERALIZED_TIME, '20500101000000Z'],
    ['1950-01-01T00:00:00Z', der.TAG.UTC_TIME, '500101000000Z'],
    ['1949-12-31T23:59:59Z', der.TAG.GENERALIZED_TIME, '19491231235959Z'],
    ['2026-03-04T05:06:07.890Z', der.TAG.UTC_TIME, '260304050607Z'],
  ];
  for (const [iso, tag, text] of cases) {
    const enc = der.certificateTime(new Date(iso));
    const node = der.readNode(enc, 0);
    t.is(node.tag, tag, iso);
    t.is(der.contentBytes(enc, node).toString('ascii'), text, iso);
    t.is(der.readCertificateTime(enc, node).toISOString(), new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString(), iso);
  }
});

test('names: IP addresses become 4 or 16 octets; anything else is PKI_ERR_INVALID_IP', (t) => {
  const cases: [string, string][] = [
    ['127.0.0.1', '7f000001'],
    ['10.96.0.1', '0a600001'],
    ['::', '0'.repeat(32)],
    ['::1', `${'0'.repeat(30)}01`],
    ['1::', `0001${'0'.repeat(28)}`],
    ['fe80::1:2', `fe80${'0'.repeat(20)}00010002`],
    ['::ffff:10.0.0.1', `${'0'.repeat(20)}ffff0a000001`],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['2001:DB8::8:800:200C:417A', '20010db80000000000080800200c417a'],
  ];
  for (const [ip, want] of cases) t.is(hex(ipAddressBytes(ip)), want, ip);
  for (const bad of ['', '1.2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4.5', 'fe80::1%eth0', '[::1]', 'localhost', ':::', '1::2::3']) {
    t.throws(() => ipAddressBytes(bad), { instanceOf: PkiError, code: 'PKI_ERR_INVALID_IP' }, bad);
  }
});

// ---------------------------------------------------------------------------
// Certificates through Node's and OpenSSL's parsers

test('createCA: a self-signed v3 CA with a fresh positive 16-octet serial and a PKCS#8 key', (t) => {
  const now = new Date('2030-05-06T07:08:09.500Z');
  const ca = createCA({ commonName: 'skiff-test-ca', validityDays: 30, now });
  const cert = new X509Certificate(ca.certPem);
  t.is(cert.subject, 'CN=skiff-test-ca');
  t.is(cert.issuer, 'CN=skiff-test-ca');
  t.true(cert.ca);
  t.true(cert.checkIssued(cert));
  t.true(cert.verify(cert.publicKey));
  t.is(Date.parse(cert.validFrom), Date.parse('2030-05-06T07:07:09Z'));
  t.is(Date.parse(cert.validTo), Date.parse('2030-06-05T07:08:09Z'));
  t.is(cert.publicKey.asymmetricKeyType, 'ec');
  t.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  // The serial: at most 32 hex digits with the sign bit clear, and fresh each time.
  t.true(cert.serialNumber.length <= 32 && cert.serialNumber.length >= 24, cert.serialNumber);
  t.true(cert.serialNumber.length < 32 || parseInt(cert.serialNumber[0]!, 16) < 8, cert.serialNumber);
  t.not(new X509Certificate(createCA({ commonName: 'skiff-test-ca' }).certPem).serialNumber, cert.serialNumber);
  t.regex(ca.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  t.true(cert.checkPrivateKey(createPrivateKey(ca.keyPem)));
  t.regex(ca.certPem, /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/);
});

test('openssl reads the CA: critical CA:TRUE with pathlen, keyCertSign and cRLSign, a subject key id', (t) => {
  const cases: [Partial<CreateCaOptions>, string][] = [
    [{}, 'CA:TRUE, pathlen:0'],
    [{ pathLen: 2 }, 'CA:TRUE, pathlen:2'],
    [{ pathLen: null }, 'CA:TRUE\n'],
  ];
  for (const [extra, constraint] of cases) {
    const text = opensslText(t, createCA({ commonName: 'skiff-ca', organizations: ['skiff'], ...extra }).certPem);
    t.regex(text, /Version: 3 \(0x2\)/);
    t.regex(text, /Signature Algorithm: ecdsa-with-SHA256/);
    t.regex(text, /Subject: O = skiff, CN = skiff-ca/);
    t.regex(text, /X509v3 Basic Constraints: critical/);
    t.true(text.includes(constraint), constraint);
    t.regex(text, /X509v3 Key Usage: critical\n\s*Digital Signature, Certificate Sign, CRL Sign\n/);
    t.regex(extensionValue(text, 'X509v3 Subject Key Identifier'), /^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    // Self-signed: the authority key identifier is optional and left out (RFC 5280 4.2.1.1).
    t.notRegex(text, /Authority Key Identifier/);
    t.notRegex(text, /Extended Key Usage/);
  }
});

test('issueCertificate: a server certificate with DNS and IP SANs that chains to the CA', (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const other = createCA({ commonName: 'skiff-ca' });
  const leaf = issueCertificate(serverOpts(ca, { ipAddresses: ['127.0.0.1', '::1', '10.0.0.1', '127.0.0.1'] }));
  const cert = new X509Certificate(leaf.certPem);
  const caCert = new X509Certificate(ca.certPem);
  t.is(cert.subject, 'CN=kube-apiserver');
  t.is(cert.issuer, 'CN=skiff-ca');
  t.false(cert.ca);
  t.is(cert.subjectAltName, 'DNS:localhost, DNS:kubernetes.default.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.1');
  t.true(cert.checkIssued(caCert));
  t.true(cert.verify(caCert.publicKey));
  t.is(cert.checkHost('localhost'), 'localhost');
  t.is(cert.checkIP('::1'), '::1');
  t.is(cert.checkIP('10.0.0.2'), undefined);
  t.true(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
  // A CA with the same name but another key did not issue it.
  t.false(cert.verify(new X509Certificate(other.certPem).publicKey));
  t.false(cert.checkIssued(new X509Certificate(other.certPem)));
});

test('openssl verifies issued certificates and shows the intended usages', (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const caSki = extensionValue(opensslText(t, ca.certPem), 'X509v3 Subject Key Identifier');
  const cases: { usages: ('server' | 'client')[]; eku: string; server: boolean; client: boolean }[] = [
    { usages: ['server'], eku: 'TLS Web Server Authentication\n', server: true, client: false },
    { usages: ['client'], eku: 'TLS Web Client Authentication\n', server: false, client: true },
    { usages: ['server', 'client'], eku: 'TLS Web Server Authentication, TLS Web Client Authentication\n', server: true, client: true },
  ];
  for (const c of cases) {
    const leaf = issueCertificate(serverOpts(ca, { usages: c.usages }));
    const text = opensslText(t, leaf.certPem);
    t.true(text.includes(`X509v3 Extended Key Usage: \n                ${c.eku}`), `${c.usages}: ${text}`);
    t.regex(text, /X509v3 Basic Constraints: critical\n\s*CA:FALSE\n/);
    t.regex(text, /X509v3 Key Usage: critical\n\s*Digital Signature\n/);
    t.regex(text, /DNS:localhost, DNS:kubernetes.default.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
    t.is(extensionValue(text, 'X509v3 Authority Key Identifier'), caSki);
    const plain = opensslVerify(t, ca.certPem, leaf.certPem);
    t.is(plain.status, 0, plain.out);
    t.regex(plain.out, /leaf.crt: OK/);
    t.is(opensslVerify(t, ca.certPem, leaf.certPem, ['-purpose', 'sslserver']).status === 0, c.server, `${c.usages} as server`);
    t.is(opensslVerify(t, ca.certPem, leaf.certPem, ['-purpose', 'sslclient']).status === 0, c.client, `${c.usages} as client`);
  }
  const stranger = opensslVerify(t, createCA({ commonName: 'skiff-ca' }).certPem, issueCertificate(serverOpts(ca)).certPem);
  t.not(stranger.status, 0);
});

test('client certificates: every organization is its own O attribute (Kubernetes groups)', (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const leaf = issueCertificate({ ca, commonName: 'alice', organizations: ['system:masters', 'devs', 'devs'], usages: ['client'] });
  const cert = new X509Certificate(leaf.certPem);
  t.is(cert.subject, 'O=system:masters\nO=devs\nCN=alice');
  t.is(cert.subjectAltName, undefined);
  const dir = tempDir(t, 'subject');
  writeFiles(dir, { 'c.crt': leaf.certPem });
  const r = openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253', '-in', join(dir, 'c.crt')]);
  t.is(r.out.trim(), 'subject=CN=alice,O=devs,O=system:masters');
  // Non-ASCII names are UTF8String and survive.
  const intl = new X509Certificate(issueCertificate({ ca, commonName: 'zoë-☃', organizations: ['équipe'], usages: ['client'] }).certPem);
  t.is(intl.subject, 'O=équipe\nCN=zoë-☃');
});

test('RSA 2048: sha256WithRSAEncryption, keyEncipherment, and mixed EC/RSA chains verify', (t) => {
  const rsaCa = createCA({ commonName: 'rsa-ca', keyType: 'rsa-2048' });
  const ecCa = createCA({ commonName: 'ec-ca' });
  const cases: [CertKeyPair, 'ecdsa-p256' | 'rsa-2048', string, string][] = [
    [rsaCa, 'rsa-2048', 'sha256WithRSAEncryption', 'Digital Signature, Key Encipherment'],
    [rsaCa, 'ecdsa-p256', 'sha256WithRSAEncryption', 'Digital Signature'],
    [ecCa, 'rsa-2048', 'ecdsa-with-SHA256', 'Digital Signature, Key Encipherment'],
  ];
  t.regex(opensslText(t, rsaCa.certPem), /Public-Key: \(2048 bit\)[\s\S]*Signature Algorithm: sha256WithRSAEncryption/);
  for (const [ca, keyType, sigAlg, usage] of cases) {
    const leaf = issueCertificate(serverOpts(ca, { keyType }));
    const text = opensslText(t, leaf.certPem);
    t.true(text.includes(`Signature Algorithm: ${sigAlg}`), sigAlg);
    t.true(text.includes(`X509v3 Key Usage: critical\n                ${usage}\n`), usage);
    t.is(opensslVerify(t, ca.certPem, leaf.certPem).status, 0);
    t.true(new X509Certificate(leaf.certPem).verify(new X509Certificate(ca.certPem).publicKey));
    t.is(createPrivateKey(leaf.keyPem).asymmetricKeyType, keyType === 'rsa-2048' ? 'rsa' : 'ec');
  }
});

test('validity: notBefore a minute back, notAfter validityDays ahead, never past the CA', (t) => {
  const now = new Date('2031-01-01T00:00:00Z');
  const ca = createCA({ commonName: 'short-ca', validityDays: 30, now });
  const leaf = new X509Certificate(issueCertificate(serverOpts(ca, { validityDays: 7, now })).certPem);
  t.is(Date.parse(leaf.validFrom), Date.parse('2030-12-31T23:59:00Z'));
  t.is(Date.parse(leaf.validTo), Date.parse('2031-01-08T00:00:00Z'));
  const clipped = new X509Certificate(issueCertificate(serverOpts(ca, { validityDays: 365, now })).certPem);
  t.is(clipped.validTo, new X509Certificate(ca.certPem).validTo);
  const later = new Date('2031-02-01T00:00:00Z');
  t.throws(() => issueCertificate(serverOpts(ca, { now: later })), { instanceOf: PkiError, code: 'PKI_ERR_CA_EXPIRED' });
  // Default lifetimes: ten years for the CA, one for a leaf.
  const d = createCA({ commonName: 'd', now });
  t.is(Date.parse(new X509Certificate(d.certPem).validTo), now.getTime() + 3650 * 86_400_000);
  t.is(Date.parse(new X509Certificate(issueCertificate(serverOpts(d, { now })).certPem).validTo), now.getTime() + 365 * 86_400_000);
});

test('validity across 2050: GeneralizedTime parses in Node and openssl, and verifies in the window', (t) => {
  const now = new Date('2049-06-01T12:00:00Z');
  const ca = createCA({ commonName: 'y2050-ca', validityDays: 3650, now });
  const leaf = issueCertificate(serverOpts(ca, { validityDays: 365, now }));
  const dir = tempDir(t, 'y2050');
  writeFiles(dir, { 'leaf.crt': leaf.certPem });
  const asn1 = openssl(['asn1parse', '-in', join(dir, 'leaf.crt')]).out;
  t.regex(asn1, /UTCTIME\s+:490601115900Z/);
  t.regex(asn1, /GENERALIZEDTIME\s+:20500601120000Z/);
  t.is(Date.parse(new X509Certificate(leaf.certPem).validTo), Date.parse('2050-06-01T12:00:00Z'));
  t.regex(opensslText(t, leaf.certPem), /Not After : Jun {2}1 12:00:00 2050 GMT/);
  const inside = String(Date.parse('2050-01-15T00:00:00Z') / 1000);
  const after = String(Date.parse('2050-07-01T00:00:00Z') / 1000);
  t.is(opensslVerify(t, ca.certPem, leaf.certPem, ['-attime', inside]).status, 0);
  t.regex(opensslVerify(t, ca.certPem, leaf.certPem, ['-attime', after]).out, /certificate has expired/);
});

test('typed errors for bad inputs', (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const other = createCA({ commonName: 'skiff-ca' });
  const leaf = issueCertificate(serverOpts(ca));
  const caCases: [Partial<CreateCaOptions>, PkiErrorCode][] = [
    [{ commonName: '' }, 'PKI_ERR_EMPTY_NAME'],
    [{ commonName: 'x'.repeat(65) }, 'PKI_ERR_NAME_TOO_LONG'],
    [{ commonName: 'a\nb' }, 'PKI_ERR_INVALID_NAME'],
    [{ organizations: [''] }, 'PKI_ERR_EMPTY_NAME'],
    [{ validityDays: 0 }, 'PKI_ERR_INVALID_VALIDITY'],
    [{ validityDays: -1 }, 'PKI_ERR_INVALID_VALIDITY'],
    [{ validityDays: 1.5 }, 'PKI_ERR_INVALID_VALIDITY'],
    [{ validityDays: Number.NaN }, 'PKI_ERR_INVALID_VALIDITY'],
    [{ validityDays: 36_501 }, 'PKI_ERR_INVALID_VALIDITY'],
    [{ pathLen: -1 }, 'PKI_ERR_INVALID_PATH_LEN'],
    [{ keyType: 'dsa' as 'rsa-2048' }, 'PKI_ERR_UNSUPPORTED_KEY'],
  ];
  for (const [extra, code] of caCases) {
    t.throws(() => createCA({ commonName: 'ok', ...extra }), { instanceOf: PkiError, code }, JSON.stringify(extra));
  }
  const issueCases: [Partial<IssueCertificateOptions>, PkiErrorCode][] = [
    [{ commonName: '' }, 'PKI_ERR_EMPTY_NAME'],
    [{ ipAddresses: ['300.1.1.1'] }, 'PKI_ERR_INVALID_IP'],
    [{ ipAddresses: ['localhost'] }, 'PKI_ERR_INVALID_IP'],
    [{ dnsNames: ['bad name'] }, 'PKI_ERR_INVALID_DNS_NAME'],
    [{ dnsNames: ['-x.example'] }, 'PKI_ERR_INVALID_DNS_NAME'],
    [{ dnsNames: ['a..b'] }, 'PKI_ERR_INVALID_DNS_NAME'],
    [{ dnsNames: [`${'a'.repeat(64)}.example`] }, 'PKI_ERR_INVALID_DNS_NAME'],
    [{ dnsNames: Array.from({ length: 257 }, (_, i) => `n${i}.example`) }, 'PKI_ERR_TOO_MANY_NAMES'],
    [{ organizations: Array.from({ length: 17 }, (_, i) => `o${i}`) }, 'PKI_ERR_TOO_MANY_NAMES'],
    [{ usages: [] }, 'PKI_ERR_NO_USAGES'],
    [{ usages: ['peer' as 'server'] }, 'PKI_ERR_INVALID_USAGE'],
    [{ validityDays: 0 }, 'PKI_ERR_INVALID_VALIDITY'],
    [{ ca: leaf }, 'PKI_ERR_NOT_A_CA'],
    [{ ca: { certPem: ca.certPem, keyPem: other.keyPem } }, 'PKI_ERR_CA_KEY_MISMATCH'],
    [{ ca: { certPem: 'not a certificate', keyPem: ca.keyPem } }, 'PKI_ERR_INVALID_PEM'],
    [{ ca: { certPem: ca.certPem, keyPem: 'not a key' } }, 'PKI_ERR_INVALID_PEM'],
  ];
  for (const [extra, code] of issueCases) {
    const err = t.throws(() => issueCertificate(serverOpts(ca, extra)), { instanceOf: PkiError, code }, code);
    t.is(err?.name, 'PkiError');
  }
  t.notThrows(() => issueCertificate(serverOpts(ca, { dnsNames: ['*.apps.example', 'svc_name.local', 'x'.repeat(63)] })));
});

test('an openssl-made CA (SEC1 EC key, then PKCS#1 RSA key) can issue certificates that verify', (t) => {
  const dir = tempDir(t, 'ossl-ca');
  const cases: [string, string[]][] = [
    ['ec', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'ec.key')]],
    ['rsa', ['genrsa', '-traditional', '-out', join(dir, 'rsa.key'), '2048']],
  ];
  for (const [name, keygen] of cases) {
    t.is(openssl(keygen).status, 0);
    const key = join(dir, `${name}.key`);
    const crt = join(dir, `${name}.crt`);
    const r = openssl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name}-ossl-ca`, '-days', '30', '-out', crt, '-addext', 'basicConstraints=critical,CA:TRUE']);
    t.is(r.status, 0, r.out);
    const ca = { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
    t.regex(ca.keyPem, name === 'ec' ? /BEGIN EC PRIVATE KEY/ : /BEGIN RSA PRIVATE KEY/);
    const leaf = issueCertificate(serverOpts(ca));
    t.is(opensslVerify(t, ca.certPem, leaf.certPem, ['-purpose', 'sslserver']).status, 0);
    const caSki = extensionValue(opensslText(t, ca.certPem), 'X509v3 Subject Key Identifier');
    t.is(extensionValue(opensslText(t, leaf.certPem), 'X509v3 Authority Key Identifier'), caSki);
  }
});

// ---------------------------------------------------------------------------
// TLS end to end

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** An https server that requires a client certificate and answers with the client's CN and O. */
async function whoamiServer(t: ExecutionContext, ca: CertKeyPair): Promise<{ port: number; hits: () => number }> {
  const serving = issueCertificate(serverOpts(ca));
  let hits = 0;
  const server = createServer({ cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    hits++;
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ cn: peer.subject.CN, o: peer.subject.O, path: req.url }));
  });
  const port = await listen(server);
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port, hits: () => hits };
}

function get(port: number, tls: { ca: string; cert?: string; key?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/whoami', agent: false, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('https: mutual TLS with issued certificates; the server sees the client CN and groups', async (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const { port } = await whoamiServer(t, ca);
  const client = issueCertificate({ ca, commonName: 'kubernetes-admin', organizations: ['system:masters', 'ops'], usages: ['client'] });
  const r = await get(port, { ca: ca.certPem, cert: client.certPem, key: client.keyPem });
  t.is(r.status, 200);
  t.deepEqual(JSON.parse(r.body), { cn: 'kubernetes-admin', o: ['system:masters', 'ops'], path: '/whoami' });
  // The same exchange with RSA keys on both sides.
  const rsaCa = createCA({ commonName: 'rsa-ca', keyType: 'rsa-2048' });
  const rsa = await whoamiServer(t, rsaCa);
  const rsaClient = issueCertificate({ ca: rsaCa, commonName: 'bob', organizations: ['devs'], usages: ['client'], keyType: 'rsa-2048' });
  t.deepEqual(JSON.parse((await get(rsa.port, { ca: rsaCa.certPem, cert: rsaClient.certPem, key: rsaClient.keyPem })).body).o, 'devs');
});

test('https: a client certificate from another CA, or none, is refused; so is a server the client does not trust', async (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const { port, hits } = await whoamiServer(t, ca);
  const stranger = createCA({ commonName: 'skiff-ca' });
  const foreign = issueCertificate({ ca: stranger, commonName: 'mallory', organizations: ['system:masters'], usages: ['client'] });
  await t.throwsAsync(get(port, { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem }));
  await t.throwsAsync(get(port, { ca: ca.certPem }));
  const good = issueCertificate({ ca, commonName: 'alice', usages: ['client'] });
  // The stranger CA has the very same name; only the signature tells them apart.
  const untrusted = await get(port, { ca: stranger.certPem, cert: good.certPem, key: good.keyPem }).catch((e: NodeJS.ErrnoException) => e);
  t.true(untrusted instanceof Error && /CERT|VERIFY/.test(String((untrusted as NodeJS.ErrnoException).code)), String(untrusted));
  // A server-only certificate cannot authenticate a client (extendedKeyUsage).
  const serverOnly = issueCertificate({ ca, commonName: 'eve', usages: ['server'] });
  await t.throwsAsync(get(port, { ca: ca.certPem, cert: serverOnly.certPem, key: serverOnly.keyPem }));
  t.is(hits(), 0);
});

// ---------------------------------------------------------------------------
// The cluster CA on disk

test('loadOrCreateClusterPki creates ca.crt and ca.key (0600) once, then reuses them', async (t) => {
  const dir = join(tempDir(t, 'cluster'), 'nested', 'pki');
  const first = await loadOrCreateClusterPki(dir, { commonName: 'my-cluster-ca' });
  t.true(first.created);
  t.is(first.caCertPath, join(dir, 'ca.crt'));
  t.is(statSync(first.caKeyPath).mode & 0o777, 0o600);
  t.is(statSync(first.caCertPath).mode & 0o777, 0o644);
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(readFileSync(first.caCertPath, 'utf8'), first.ca.certPem);
  t.is(new X509Certificate(first.ca.certPem).subject, 'CN=my-cluster-ca');
  const second = await loadOrCreateClusterPki(dir, { commonName: 'ignored-when-reusing' });
  t.false(second.created);
  t.deepEqual(second.ca, first.ca);
  const leaf = issueCertificate(serverOpts(second.ca));
  t.is(opensslVerify(t, readFileSync(first.caCertPath, 'utf8'), leaf.certPem).status, 0);
});

test('loadOrCreateClusterPki: masters racing on one directory all end up with the same CA', async (t) => {
  const dir = tempDir(t, 'race');
  const results = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateClusterPki(dir)));
  t.is(results.filter((r) => r.created).length, 1);
  for (const r of results) t.deepEqual(r.ca, results[0]!.ca);
  t.is(readFileSync(join(dir, 'ca.key'), 'utf8'), results[0]!.ca.keyPem);
  t.is(new X509Certificate(results[0]!.ca.certPem).subject, 'CN=skiff-ca');
});

test('loadOrCreateClusterPki: separate master processes racing on one directory share one CA', async (t) => {
  const dir = tempDir(t, 'race-proc');
  const pkiDir = join(dir, 'pki');
  const script = join(dir, 'master.mts');
  const moduleUrl = new URL('../src/control/pki/index.ts', import.meta.url).href;
  writeFileSync(
    script,
    `import { loadOrCreateClusterPki } from ${JSON.stringify(moduleUrl)};\n` +
      `const r = await loadOrCreateClusterPki(${JSON.stringify(pkiDir)});\n` +
      `process.stdout.write(JSON.stringify({ created: r.created, cert: r.ca.certPem }));\n`,
  );
  const runs = await Promise.all(Array.from({ length: 4 }, () => execFileAsync(process.execPath, ['--import', 'tsx', script], { timeout: 60_000 })));
  const results = runs.map((r) => JSON.parse(r.stdout) as { created: boolean; cert: string });
  t.is(results.filter((r) => r.created).length, 1);
  t.is(new Set(results.map((r) => r.cert)).size, 1);
  t.is(readFileSync(join(pkiDir, 'ca.crt'), 'utf8'), results[0]!.cert);
});

test('loadOrCreateClusterPki reuses a CA copied in and refuses half a CA or a bad one', async (t) => {
  const copied = createCA({ commonName: 'copied-ca', keyType: 'rsa-2048' });
  const dirA = tempDir(t, 'copied');
  writeFiles(dirA, { 'ca.crt': copied.certPem, 'ca.key': copied.keyPem });
  const a = await loadOrCreateClusterPki(dirA);
  t.false(a.created);
  t.deepEqual(a.ca, copied);
  const cases: [Record<string, string>, PkiErrorCode][] = [
    [{ 'ca.crt': copied.certPem }, 'PKI_ERR_CA_INCOMPLETE'],
    [{ 'ca.key': copied.keyPem }, 'PKI_ERR_CA_INCOMPLETE'],
    [{ 'ca.crt': 'garbage', 'ca.key': copied.keyPem }, 'PKI_ERR_INVALID_PEM'],
    [{ 'ca.crt': copied.certPem, 'ca.key': createCA({ commonName: 'x' }).keyPem }, 'PKI_ERR_CA_KEY_MISMATCH'],
    [{ 'ca.crt': issueCertificate(serverOpts(copied)).certPem, 'ca.key': copied.keyPem }, 'PKI_ERR_NOT_A_CA'],
  ];
  for (const [files, code] of cases) {
    const dir = tempDir(t, 'bad');
    writeFiles(dir, files);
    await t.throwsAsync(loadOrCreateClusterPki(dir, { waitForPeerMs: 100 }), { instanceOf: PkiError, code }, code);
  }
  const expired = await loadOrCreateClusterPki(dirA, { now: new Date(Date.now() + 3651 * 86_400_000) }).catch((e: unknown) => e);
  t.true(expired instanceof PkiError && expired.code === 'PKI_ERR_CA_EXPIRED');
});

// ---------------------------------------------------------------------------
// kubeconfig

test('writeKubeconfig: mode 0600 even over an older file, base64 data, token variant', async (t) => {
  const dir = tempDir(t, 'kubeconfig');
  const ca = createCA({ commonName: 'skiff-ca' });
  const admin = issueCertificate({ ca, commonName: 'kubernetes-admin', organizations: ['system:masters'], usages: ['client'] });
  const path = join(dir, 'sub', 'admin.conf');
  await writeKubeconfig(path, { clusterName: 'skiff', server: 'https://127.0.0.1:6443', caPem: ca.certPem, user: 'admin', clientCertPem: admin.certPem, clientKeyPem: admin.keyPem });
  t.is(statSync(path).mode & 0o777, 0o600);
  const text = readFileSync(path, 'utf8');
  t.true(text.includes(`certificate-authority-data: "${Buffer.from(ca.certPem).toString('base64')}"`));
  t.true(text.includes(`client-certificate-data: "${Buffer.from(admin.certPem).toString('base64')}"`));
  t.true(text.includes(`client-key-data: "${Buffer.from(admin.keyPem).toString('base64')}"`));
  t.true(text.includes('current-context: "admin@skiff"'));
  const loose = join(dir, 'loose.conf');
  writeFileSync(loose, 'old', { mode: 0o644 });
  await writeKubeconfig(loose, { clusterName: 'skiff', server: 'https://[::1]:6443', caPem: ca.certPem, user: 'robot', token: 'abc.DEF-123_x' });
  t.is(statSync(loose).mode & 0o777, 0o600);
  t.regex(readFileSync(loose, 'utf8'), /\n {4}token: "abc\.DEF-123_x"\n$/);
});

test('renderKubeconfig: quoting and typed errors', (t) => {
  const ca = createCA({ commonName: 'skiff-ca' });
  const base = { clusterName: 'c', server: 'https://127.0.0.1:6443', caPem: ca.certPem, user: 'u', token: 't' };
  const text = renderKubeconfig({ ...base, clusterName: 'we"ird: #name\\ é 🚀', namespace: 'kube-system' });
  t.true(text.includes('- name: "we\\"ird: #name\\\\ \\xe9 \\U0001f680"\n'), text);
  t.true(text.includes('    namespace: "kube-system"\n'));
  const cases: [Record<string, unknown>, PkiErrorCode][] = [
    [{ server: 'ftp://x' }, 'PKI_ERR_INVALID_KUBECONFIG'],
    [{ server: 'not a url' }, 'PKI_ERR_INVALID_KUBECONFIG'],
    [{ user: '' }, 'PKI_ERR_INVALID_KUBECONFIG'],
    [{ clusterName: 'a\nb' }, 'PKI_ERR_INVALID_KUBECONFIG'],
    [{ token: 'has space' }, 'PKI_ERR_INVALID_KUBECONFIG'],
    [{ token: '' }, 'PKI_ERR_INVALID_KUBECONFIG'],
    [{ caPem: 'nope' }, 'PKI_ERR_INVALID_PEM'],
    [{ caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }, 'PKI_ERR_INVALID_PEM'],
  ];
  for (const [extra, code] of cases) {
    t.throws(() => renderKubeconfig({ ...base, ...extra } as Parameters<typeof renderKubeconfig>[0]), { instanceOf: PkiError, code }, JSON.stringify(extra));
  }
  const { token: _token, ...noToken } = base;
  t.throws(() => renderKubeconfig({ ...noToken, clientCertPem: 'x', clientKeyPem: 'y' }), { instanceOf: PkiError, code: 'PKI_ERR_INVALID_PEM' });
});

const kubectlTest = kubectlAvailable ? test : test.skip;

kubectlTest('kubectl parses the kubeconfig, odd names included', async (t) => {
  const dir = tempDir(t, 'kubectl-view');
  const ca = createCA({ commonName: 'skiff-ca' });
  const admin = issueCertificate({ ca, commonName: 'kubernetes-admin', organizations: ['system:masters'], usages: ['client'] });
  const path = join(dir, 'admin.conf');
  const clusterName = 'prod: "eu" #1 é';
  await writeKubeconfig(path, { clusterName, server: 'https://10.0.0.1:6443', caPem: ca.certPem, user: 'admin', clientCertPem: admin.certPem, clientKeyPem: admin.keyPem });
  const { stdout } = await execFileAsync('kubectl', ['config', 'view', '--kubeconfig', path, '--raw', '-o', 'json'], { timeout: 30_000 });
  const cfg = JSON.parse(stdout) as {
    clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
    users: { name: string; user: Record<string, string> }[];
    'current-context': string;
  };
  t.is(cfg.clusters[0]!.name, clusterName);
  t.is(cfg.clusters[0]!.cluster.server, 'https://10.0.0.1:6443');
  t.is(Buffer.from(cfg.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString(), ca.certPem);
  t.is(Buffer.from(cfg.users[0]!.user['client-key-data']!, 'base64').toString(), admin.keyPem);
  t.is(cfg['current-context'], `admin@${clusterName}`);
  const server = await execFileAsync('kubectl', ['config', 'view', '--kubeconfig', path, '-o', 'jsonpath={.clusters[0].cluster.server}'], { timeout: 30_000 });
  t.is(server.stdout, 'https://10.0.0.1:6443');
});

kubectlTest('kubectl (Go crypto/x509 and TLS) trusts the server and authenticates with the client certificate', async (t) => {
  const dir = tempDir(t, 'kubectl-tls');
  const cases: ['ecdsa-p256' | 'rsa-2048', string][] = [
    ['ecdsa-p256', 'ec'],
    ['rsa-2048', 'rsa'],
  ];
  for (const [keyType, label] of cases) {
    const ca = createCA({ commonName: `${label}-ca`, keyType });
    const { port, hits } = await whoamiServer(t, ca);
    const admin = issueCertificate({ ca, commonName: 'kubernetes-admin', organizations: ['system:masters'], usages: ['client'], keyType });
    const path = join(dir, `${label}.conf`);
    await writeKubeconfig(path, { clusterName: 'skiff', server: `https://127.0.0.1:${port}`, caPem: ca.certPem, user: 'admin', clientCertPem: admin.certPem, clientKeyPem: admin.keyPem });
    const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', path, '--cache-dir', join(dir, 'cache'), 'get', '--raw', '/version'], { timeout: 30_000 });
    t.deepEqual(JSON.parse(stdout), { cn: 'kubernetes-admin', o: 'system:masters', path: '/version' }, label);
    // gcloud's kubectl dispatcher probes /version itself first, so there may be two requests.
    t.true(hits() >= 1);
  }
});

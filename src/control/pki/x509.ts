/**
 * X.509 v3 certificate structures (RFC 5280 section 4), encoded and, for a
 * CA we sign with, read back. Pure: the serial, the times, the keys and the
 * signature are all passed in, so the same input gives the same bytes.
 */
import { createHash } from 'node:crypto';
import { assert } from '../../util/assert.js';
import * as der from './der.js';
import type { SignatureAlgorithm } from './keys.js';

const OID = Object.freeze({
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
});

/** Certificate version field value for v3 (RFC 5280 4.1.2.1: v3 is 2). */
const VERSION_V3 = 2;
/** Key identifiers are 160 bits, as RFC 5280 4.2.1.2 suggests. */
const KEY_ID_BYTES = 20;

export interface DistinguishedName {
  commonName: string;
  organizations: readonly string[];
}

/**
 * A Name as an RDNSequence: one single-valued RDN per O (so Go and Node
 * list every O as a group), then CN last, the order Go and openssl write.
 * UTF8String, as RFC 5280 4.1.2.6 requires of new certificates.
 */
export function encodeName(name: DistinguishedName): Buffer {
  const rdn = (type: string, value: string) => der.setOf([der.sequence([der.oid(type), der.utf8String(value)])]);
  return der.sequence([...name.organizations.map((o) => rdn(OID.organizationName, o)), rdn(OID.commonName, name.commonName)]);
}

/** ECDSA omits the parameters (RFC 5758 3.2); RSA carries NULL (RFC 4055 5). */
export function algorithmIdentifier(alg: SignatureAlgorithm): Buffer {
  return alg === 'ecdsa-with-SHA256' ? der.sequence([der.oid(OID.ecdsaWithSha256)]) : der.sequence([der.oid(OID.sha256WithRsa), der.nullValue()]);
}

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE (omitted when false), extnValue OCTET STRING }. */
function extension(id: string, critical: boolean, value: Uint8Array): Buffer {
  return der.sequence([der.oid(id), ...(critical ? [der.boolean(true)] : []), der.octetString(value)]);
}

/** RFC 5280 4.2.1.9; critical. A leaf carries the empty SEQUENCE (cA defaults to FALSE). */
export function basicConstraints(isCa: boolean, pathLen: number | null): Buffer {
  assert(isCa || pathLen === null, 'pathLen only on a CA');
  const fields = isCa ? [der.boolean(true), ...(pathLen === null ? [] : [der.smallInteger(pathLen)])] : [];
  return extension(OID.basicConstraints, true, der.sequence(fields));
}

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
export const KEY_USAGE = Object.freeze({ digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 });

/** RFC 5280 4.2.1.3: conforming CAs mark keyUsage critical. */
export function keyUsage(bits: readonly number[]): Buffer {
  assert(bits.length > 0, 'keyUsage needs a bit');
  return extension(OID.keyUsage, true, der.namedBits(bits));
}

export type CertUsage = 'server' | 'client';

/** RFC 5280 4.2.1.12; non-critical, as Go and openssl write it. */
export function extKeyUsage(usages: readonly CertUsage[]): Buffer {
  assert(usages.length > 0, 'extKeyUsage needs a usage');
  const ids = usages.map((u) => (u === 'server' ? OID.serverAuth : OID.clientAuth));
  return extension(OID.extKeyUsage, false, der.sequence(ids.map((id) => der.oid(id))));
}

/**
 * RFC 5280 4.2.1.6: dNSName is [2] IA5String, iPAddress is [7] OCTET STRING.
 * Non-critical because the subject always has a CN here.
 */
export function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly Uint8Array[]): Buffer {
  assert(dnsNames.length + ipAddresses.length > 0, 'SAN needs a name');
  const names = [...dnsNames.map((d) => der.implicitPrimitive(2, Buffer.from(d, 'ascii'))), ...ipAddresses.map((ip) => der.implicitPrimitive(7, ip))];
  return extension(OID.subjectAltName, false, der.sequence(names));
}

/** RFC 5280 4.2.1.2: SubjectKeyIdentifier ::= KeyIdentifier (an OCTET STRING). */
export function subjectKeyIdentifier(keyId: Uint8Array): Buffer {
  return extension(OID.subjectKeyIdentifier, false, der.octetString(keyId));
}

/** RFC 5280 4.2.1.1: only keyIdentifier [0] IMPLICIT, which path building needs. */
export function authorityKeyIdentifier(keyId: Uint8Array): Buffer {
  return extension(OID.authorityKeyIdentifier, false, der.sequence([der.implicitPrimitive(0, keyId)]));
}

/**
 * The key identifier of a SubjectPublicKeyInfo: the leftmost 160 bits of
 * the SHA-256 of the subjectPublicKey bits (RFC 7093 section 2, method 1),
 * which avoids SHA-1 where FIPS builds refuse it.
 */
export function keyIdentifier(spkiDer: Uint8Array): Buffer {
  const spki = der.expectTag(der.readNode(spkiDer, 0), der.TAG.SEQUENCE, 'SubjectPublicKeyInfo');
  const bits = der.expectTag(der.children(spkiDer, spki)[1], der.TAG.BIT_STRING, 'subjectPublicKey');
  const key = spkiDer.subarray(bits.contentStart + 1, bits.end);
  return createHash('sha256').update(key).digest().subarray(0, KEY_ID_BYTES);
}

export interface TbsFields {
  /** Big-endian magnitude; positive and at most 20 octets (RFC 5280 4.1.2.2). */
  serial: Uint8Array;
  signatureAlgorithm: SignatureAlgorithm;
  /** DER Name, copied byte for byte from the issuer's subject (Go matches raw bytes). */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  subjectPublicKeyInfo: Uint8Array;
  extensions: readonly Uint8Array[];
}

/** TBSCertificate (RFC 5280 4.1): version, serial, signature, issuer, validity, subject, SPKI, [3] extensions. */
export function encodeTbs(f: TbsFields): Buffer {
  assert(f.serial.length > 0 && f.serial.length <= 20 && f.serial.some((b) => b !== 0), 'serial must be positive and at most 20 octets');
  assert(f.notBefore.getTime() < f.notAfter.getTime(), 'notBefore must precede notAfter');
  assert(f.extensions.length > 0, 'a v3 certificate here always has extensions');
  return der.sequence([
    der.explicit(0, der.smallInteger(VERSION_V3)),
    der.unsignedInteger(f.serial),
    algorithmIdentifier(f.signatureAlgorithm),
    Buffer.from(f.issuer),
    der.sequence([der.certificateTime(f.notBefore), der.certificateTime(f.notAfter)]),
    Buffer.from(f.subject),
    Buffer.from(f.subjectPublicKeyInfo),
    der.explicit(3, der.sequence(f.extensions)),
  ]);
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
export function encodeCertificate(tbs: Uint8Array, alg: SignatureAlgorithm, signature: Uint8Array): Buffer {
  return der.sequence([Buffer.from(tbs), algorithmIdentifier(alg), der.bitString(signature)]);
}

/** What issuing under a CA needs from the CA's certificate. */
export interface IssuerInfo {
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** The CA's subjectKeyIdentifier, or one derived from its key when absent. */
  keyId: Buffer;
}

/** Reads the issuer fields out of a CA certificate's DER. */
export function readIssuerInfo(certDer: Uint8Array): IssuerInfo {
  const cert = der.expectTag(der.readNode(certDer, 0), der.TAG.SEQUENCE, 'Certificate');
  const tbs = der.expectTag(der.children(certDer, cert)[0], der.TAG.SEQUENCE, 'TBSCertificate');
  const fields = der.children(certDer, tbs);
  // The version is [0] EXPLICIT and absent for v1 certificates.
  const f = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
  const validity = der.children(certDer, der.expectTag(f[3], der.TAG.SEQUENCE, 'Validity'));
  const subject = der.expectTag(f[4], der.TAG.SEQUENCE, 'subject');
  const spki = der.rawBytes(certDer, der.expectTag(f[5], der.TAG.SEQUENCE, 'SubjectPublicKeyInfo'));
  const extensions = f.find((n) => n.tag === 0xa3);
  return {
    subject: der.rawBytes(certDer, subject),
    notBefore: der.readCertificateTime(certDer, validity[0]),
    notAfter: der.readCertificateTime(certDer, validity[1]),
    keyId: (extensions && findSubjectKeyId(certDer, extensions)) ?? keyIdentifier(spki),
  };
}

function findSubjectKeyId(buf: Uint8Array, extensionsWrapper: der.DerNode): Buffer | undefined {
  const list = der.expectTag(der.children(buf, extensionsWrapper)[0], der.TAG.SEQUENCE, 'Extensions');
  const skiOid = der.oid(OID.subjectKeyIdentifier);
  for (const ext of der.children(buf, list)) {
    const parts = der.children(buf, ext);
    if (!parts[0] || !der.rawBytes(buf, parts[0]).equals(skiOid)) continue;
    const value = der.expectTag(parts[parts.length - 1], der.TAG.OCTET_STRING, 'extnValue');
    const inner = der.expectTag(der.readNode(buf, value.contentStart, value.end), der.TAG.OCTET_STRING, 'KeyIdentifier');
    return der.contentBytes(buf, inner);
  }
  return undefined;
}

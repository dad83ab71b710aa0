/**
 * Key pairs, the signature algorithm each key implies, and PEM armour.
 *
 * Private keys leave as unencrypted PKCS#8 ("BEGIN PRIVATE KEY"): Go's
 * tls.X509KeyPair (kubectl, client-go), Node's tls and OpenSSL all read it
 * for both EC and RSA. Any PEM form node:crypto reads (SEC1, PKCS#1) is
 * accepted on input, so a CA made by kubeadm or openssl can be reused.
 */
import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { unreachable } from '../../util/assert.js';
import { PkiError } from './errors.js';

export type KeyType = 'ecdsa-p256' | 'rsa-2048';
export const DEFAULT_KEY_TYPE: KeyType = 'ecdsa-p256';

/** The two signature algorithms we sign with; the issuer's key decides which. */
export type SignatureAlgorithm = 'ecdsa-with-SHA256' | 'sha256WithRSAEncryption';

const RSA_MODULUS_BITS = 2048;
/** The smallest RSA key we accept from elsewhere (a reused CA). */
const MIN_RSA_MODULUS_BITS = 2048;
const RSA_PUBLIC_EXPONENT = 0x10001;
const P256_NAMES: ReadonlySet<string> = new Set(['prime256v1', 'P-256', 'secp256r1']);

export function generatePrivateKey(type: KeyType): KeyObject {
  switch (type) {
    case 'ecdsa-p256':
      return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    case 'rsa-2048':
      return generateKeyPairSync('rsa', { modulusLength: RSA_MODULUS_BITS, publicExponent: RSA_PUBLIC_EXPONENT }).privateKey;
    default:
      throw new PkiError('PKI_ERR_UNSUPPORTED_KEY', `key type ${JSON.stringify(type)}`);
  }
}

/** The algorithm a key signs with, or PKI_ERR_UNSUPPORTED_KEY. */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec' && P256_NAMES.has(details.namedCurve ?? '')) return 'ecdsa-with-SHA256';
  if (key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= MIN_RSA_MODULUS_BITS) return 'sha256WithRSAEncryption';
  throw new PkiError('PKI_ERR_UNSUPPORTED_KEY', `${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? details.modulusLength ?? ''}`.trim());
}

/**
 * Signs with SHA-256. ECDSA signatures come out as the DER
 * Ecdsa-Sig-Value SEQUENCE X.509 expects (RFC 5758 3.2), not raw r||s;
 * RSA uses PKCS #1 v1.5 padding (RFC 4055 5).
 */
export function signBytes(algorithm: SignatureAlgorithm, key: KeyObject, data: Uint8Array): Buffer {
  switch (algorithm) {
    case 'ecdsa-with-SHA256':
      return sign('sha256', data, { key, dsaEncoding: 'der' });
    case 'sha256WithRSAEncryption':
      return sign('sha256', data, key);
    default:
      return unreachable(algorithm, 'signature algorithm');
  }
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The SubjectPublicKeyInfo DER of a private key's public half. */
export function publicKeyInfoDer(key: KeyObject): Buffer {
  return Buffer.from(createPublicKey(key).export({ type: 'spki', format: 'der' }));
}

export function parsePrivateKeyPem(pem: string, what: string): KeyObject {
  try {
    return createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new PkiError('PKI_ERR_INVALID_PEM', `${what}: ${(e as Error).message}`);
  }
}

const PEM_LINE_CHARS = 64;

/** PEM armour with 64-character lines (RFC 7468 section 2). */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(new RegExp(`.{1,${PEM_LINE_CHARS}}`, 'g')) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

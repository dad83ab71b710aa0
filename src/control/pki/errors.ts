/**
 * Every error the PKI module raises for a caller's mistake (a bad name, an
 * address that is not an IP, a CA that cannot sign), each with a stable code.
 * Bugs in the module itself are assertions (src/util/assert.ts), not these.
 */
export const PKI_ERRORS = {
  PKI_ERR_EMPTY_NAME: 'a name must not be empty',
  PKI_ERR_NAME_TOO_LONG: 'a name is longer than RFC 5280 allows',
  PKI_ERR_INVALID_NAME: 'a name contains characters a certificate or kubeconfig cannot carry',
  PKI_ERR_INVALID_IP: 'not an IPv4 or IPv6 address',
  PKI_ERR_INVALID_DNS_NAME: 'not a valid DNS name',
  PKI_ERR_TOO_MANY_NAMES: 'too many names in one certificate',
  PKI_ERR_INVALID_VALIDITY: 'validity must be a positive whole number of days within the limit',
  PKI_ERR_INVALID_PATH_LEN: 'pathLen must be a non-negative integer or null',
  PKI_ERR_NO_USAGES: 'a certificate needs at least one usage (server or client)',
  PKI_ERR_INVALID_USAGE: "a usage must be 'server' or 'client'",
  PKI_ERR_UNSUPPORTED_KEY: 'only ECDSA P-256 and RSA (2048 bits or more) keys are supported',
  PKI_ERR_INVALID_PEM: 'not a readable PEM certificate or private key',
  PKI_ERR_MALFORMED_CERT: 'the certificate is not the DER structure RFC 5280 defines',
  PKI_ERR_NOT_A_CA: 'the certificate is not a CA certificate',
  PKI_ERR_CA_KEY_MISMATCH: 'the CA private key does not belong to the CA certificate',
  PKI_ERR_CA_EXPIRED: 'the CA certificate is expired or not yet valid',
  PKI_ERR_CA_INCOMPLETE: 'the CA directory holds only one of ca.crt and ca.key',
  PKI_ERR_INVALID_KUBECONFIG: 'invalid kubeconfig input',
} as const satisfies Record<string, string>;

export type PkiErrorCode = keyof typeof PKI_ERRORS;

export class PkiError extends Error {
  override readonly name = 'PkiError';

  constructor(
    readonly code: PkiErrorCode,
    /** What exactly was wrong (the offending value, the file). */
    readonly detail?: string,
  ) {
    super(detail === undefined ? PKI_ERRORS[code] : `${PKI_ERRORS[code]}: ${detail}`);
  }
}

export function isPkiError(e: unknown, code?: PkiErrorCode): e is PkiError {
  return e instanceof PkiError && (code === undefined || e.code === code);
}

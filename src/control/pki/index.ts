/**
 * skiff's PKI: a cluster CA shared by the masters, certificates for the
 * API servers and clients it signs, and admin kubeconfigs. Certificates are
 * X.509 v3 built with our own DER encoder (node:crypto can parse but not
 * build them); keys are ECDSA P-256 by default, RSA 2048 on request.
 */
export {
  type CertKeyPair,
  type CreateCaOptions,
  type IssueCertificateOptions,
  createCA,
  issueCertificate,
  BACKDATE_MS,
  DEFAULT_CA_VALIDITY_DAYS,
  DEFAULT_LEAF_VALIDITY_DAYS,
  MAX_ORGANIZATIONS,
  MAX_SUBJECT_ALT_NAMES,
  MAX_VALIDITY_DAYS,
} from './certificates.js';
export {
  type ClusterPki,
  type ClusterPkiOptions,
  loadOrCreateClusterPki,
  CA_CERT_FILE,
  CA_KEY_FILE,
  CA_CERT_MODE,
  CA_KEY_MODE,
  DEFAULT_CA_WAIT_FOR_PEER_MS,
  DEFAULT_CLUSTER_CA_COMMON_NAME,
} from './cluster.js';
export { PKI_ERRORS, PkiError, type PkiErrorCode, isPkiError } from './errors.js';
export { type KeyType, DEFAULT_KEY_TYPE } from './keys.js';
export { type KubeconfigOptions, KUBECONFIG_MODE, renderKubeconfig, writeKubeconfig } from './kubeconfig.js';
export { MAX_COMMON_NAME_CHARS, MAX_ORGANIZATION_CHARS } from './names.js';
export type { CertUsage } from './x509.js';

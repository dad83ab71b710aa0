/**
 * A kubeconfig (clientcmd v1 Config) with one cluster, one user and one
 * context, rendered as YAML by hand. Every string is a double-quoted scalar
 * escaped to printable ASCII, so no name, URL or token can change the
 * document's structure, whatever YAML 1.1 or 1.2 parser reads it.
 */
import { X509Certificate } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { assert } from '../../util/assert.js';
import { PkiError } from './errors.js';
import { writeFileAtomic } from './files.js';

export const KUBECONFIG_MODE = 0o600;
const KUBECONFIG_DIR_MODE = 0o700;
/** Generous bounds on what a caller may put in; past them, a typed error. */
const MAX_KUBECONFIG_NAME_CHARS = 253;
const MAX_SERVER_URL_CHARS = 2048;
const MAX_TOKEN_CHARS = 16_384;

interface KubeconfigCommon {
  clusterName: string;
  /** The API server URL, e.g. https://10.0.0.1:6443. */
  server: string;
  /** The CA that signed the server's certificate. */
  caPem: string;
  user: string;
  /** Defaults to `${user}@${clusterName}`. */
  contextName?: string;
  namespace?: string;
}

export type KubeconfigOptions = KubeconfigCommon & ({ clientCertPem: string; clientKeyPem: string } | { token: string });

function bad(detail: string): PkiError {
  return new PkiError('PKI_ERR_INVALID_KUBECONFIG', detail);
}

/** Printable ASCII (minus the escapes) verbatim; everything else as YAML \x, \u or \U escapes. */
export function yamlQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    assert(cp < 0xd800 || cp > 0xdfff, 'lone surrogates are rejected before quoting');
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp <= 0xff) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp <= 0xffff) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw bad(`${what} must be a non-empty string`);
  if (value.length > MAX_KUBECONFIG_NAME_CHARS) throw bad(`${what} is longer than ${MAX_KUBECONFIG_NAME_CHARS} characters`);
  if (/[\u0000-\u001f\u007f-\u009f]|\p{Cs}/u.test(value)) throw bad(`${what} contains control characters`);
  return value;
}

function checkServer(server: unknown): string {
  if (typeof server !== 'string' || server.length > MAX_SERVER_URL_CHARS || !URL.canParse(server)) throw bad(`server ${JSON.stringify(server)} is not a URL`);
  const url = new URL(server);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad(`server ${JSON.stringify(server)} must be http or https`);
  return server;
}

function checkPem(pem: unknown, label: RegExp, what: string): string {
  if (typeof pem !== 'string' || !label.test(pem)) throw new PkiError('PKI_ERR_INVALID_PEM', what);
  return pem;
}

function checkToken(token: unknown): string {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(token)) {
    throw bad('token must be 1 to 16384 printable ASCII characters without spaces');
  }
  return token;
}

/** The user's credential lines (already indented under `user:`). */
function userLines(opts: KubeconfigOptions): string[] {
  const b64 = (s: string) => yamlQuote(Buffer.from(s, 'utf8').toString('base64'));
  if ('token' in opts) return [`    token: ${yamlQuote(checkToken(opts.token))}`];
  const cert = checkPem(opts.clientCertPem, /-----BEGIN CERTIFICATE-----/, 'client certificate');
  const key = checkPem(opts.clientKeyPem, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'client key');
  return [`    client-certificate-data: ${b64(cert)}`, `    client-key-data: ${b64(key)}`];
}

/** The kubeconfig text; throws PkiError for input kubectl could not use. */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  const cluster = yamlQuote(checkName(opts.clusterName, 'clusterName'));
  const user = yamlQuote(checkName(opts.user, 'user'));
  const context = yamlQuote(checkName(opts.contextName ?? `${opts.user}@${opts.clusterName}`, 'contextName'));
  const caPem = checkPem(opts.caPem, /-----BEGIN CERTIFICATE-----/, 'CA certificate');
  try {
    new X509Certificate(caPem);
  } catch (e) {
    throw new PkiError('PKI_ERR_INVALID_PEM', `CA certificate: ${(e as Error).message}`);
  }
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${cluster}`,
    '  cluster:',
    `    server: ${yamlQuote(checkServer(opts.server))}`,
    `    certificate-authority-data: ${yamlQuote(Buffer.from(caPem, 'utf8').toString('base64'))}`,
    'contexts:',
    `- name: ${context}`,
    '  context:',
    `    cluster: ${cluster}`,
    `    user: ${user}`,
    ...(opts.namespace === undefined ? [] : [`    namespace: ${yamlQuote(checkName(opts.namespace, 'namespace'))}`]),
    `current-context: ${context}`,
    'preferences: {}',
    'users:',
    `- name: ${user}`,
    '  user:',
    ...userLines(opts),
  ];
  return `${lines.join('\n')}\n`;
}

/** Writes the kubeconfig atomically with mode 0600 (it holds a private key or a token). */
export async function writeKubeconfig(path: string, opts: KubeconfigOptions): Promise<void> {
  const text = renderKubeconfig(opts);
  await mkdir(dirname(path), { recursive: true, mode: KUBECONFIG_DIR_MODE });
  await writeFileAtomic(path, text, KUBECONFIG_MODE);
}

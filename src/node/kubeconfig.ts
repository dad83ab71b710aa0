/**
 * The node's credential: a kubeconfig (its current context's cluster and
 * user: the CA, a client certificate and key or a bearer token, inline or
 * in files), as kubelet's --kubeconfig.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export interface NodeCredentials {
  servers: string[];
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
}

export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
  readonly code = 'NODE_ERR_KUBECONFIG';
}

const KUBECONFIG_BYTES_MAX = 1 << 20;

export function loadKubeconfig(path: string): NodeCredentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KubeconfigError(`cannot read kubeconfig ${path}: ${(e as Error).message}`);
  }
  if (text.length > KUBECONFIG_BYTES_MAX) throw new KubeconfigError(`kubeconfig ${path} is larger than ${KUBECONFIG_BYTES_MAX} bytes`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let k: any;
  try {
    k = parseYaml(text);
  } catch (e) {
    throw new KubeconfigError(`kubeconfig ${path} is not YAML: ${(e as Error).message}`);
  }
  const base = dirname(path);
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : resolve(base, p), 'utf8');
  const ctxName = k?.['current-context'] ?? k?.contexts?.[0]?.name;
  const ctx = (k?.contexts ?? []).find((c: { name: string }) => c.name === ctxName)?.context ?? {};
  const cluster = ((k?.clusters ?? []).find((c: { name: string }) => c.name === ctx.cluster) ?? k?.clusters?.[0])?.cluster;
  const user = ((k?.users ?? []).find((u: { name: string }) => u.name === ctx.user) ?? k?.users?.[0])?.user ?? {};
  if (!cluster?.server) throw new KubeconfigError(`kubeconfig ${path} names no cluster server`);
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  const out: NodeCredentials = { servers: [String(cluster.server)] };
  if (cluster['certificate-authority-data']) out.caPem = b64(cluster['certificate-authority-data']);
  else if (cluster['certificate-authority']) out.caPem = file(cluster['certificate-authority']);
  if (user['client-certificate-data']) out.certPem = b64(user['client-certificate-data']);
  else if (user['client-certificate']) out.certPem = file(user['client-certificate']);
  if (user['client-key-data']) out.keyPem = b64(user['client-key-data']);
  else if (user['client-key']) out.keyPem = file(user['client-key']);
  if (user.token) out.token = String(user.token);
  else if (user.tokenFile) out.token = file(user.tokenFile).trim();
  if (!!out.certPem !== !!out.keyPem) throw new KubeconfigError(`kubeconfig ${path}: a client certificate needs its key`);
  return out;
}

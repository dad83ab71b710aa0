/**
 * pods/log: `kubectl logs` through the API server, as upstream does it — the
 * API server finds the pod's node, asks that node's kubelet for the
 * container's log (`/containerLogs/<ns>/<pod>/<container>` on the node's
 * kubelet port, HTTPS with the API server's kubelet-client certificate) and
 * streams the answer back as text/plain. Errors are Kubernetes Status
 * objects: a pod not yet scheduled or a container name missing is a 400, an
 * unreachable node a 503-ish error, as upstream.
 */
import http from 'node:http';
import https from 'node:https';
import type { ServerResponse } from 'node:http';
import { ApiError, badRequest } from './errors.js';
import type { KubeObject } from './object-store.js';

/** Query parameters passed on to the kubelet, checked here first (upstream's PodLogOptions). */
const INT_PARAMS = ['tailLines', 'limitBytes', 'sinceSeconds'] as const;
const BOOL_PARAMS = ['follow', 'previous', 'timestamps'] as const;
const CONNECT_TIMEOUT_MS = 10_000;

export interface KubeletClient {
  certPem: string;
  keyPem: string;
}

/** The container a pods/log or pods/exec request names, defaulted to the only app container (upstream's rule). */
function containerOf(pod: KubeObject, q: URLSearchParams): string {
  const app: string[] = (pod.spec?.containers ?? []).map((c: { name: string }) => c.name);
  const all: string[] = [...app, ...(pod.spec?.initContainers ?? []).map((c: { name: string }) => c.name)];
  let container = q.get('container') ?? '';
  if (!container) {
    if (app.length !== 1) throw badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${app.join(' ')}]`);
    container = app[0]!;
  }
  if (!all.includes(container)) throw badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
  return container;
}

/** Which container, and the kubelet's query string; a Status error for bad input. */
export function logRequest(pod: KubeObject, q: URLSearchParams): { container: string; query: string } {
  const container = containerOf(pod, q);
  const out = new URLSearchParams();
  for (const k of INT_PARAMS) {
    const v = q.get(k);
    if (v === null || v === '') continue;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`invalid value for ${k}: ${JSON.stringify(v)}: must be a non-negative integer`);
    out.set(k, String(n));
  }
  for (const k of BOOL_PARAMS) {
    const v = q.get(k);
    if (v === null || v === '') continue;
    if (v !== 'true' && v !== 'false') throw badRequest(`invalid value for ${k}: ${JSON.stringify(v)}`);
    out.set(k, v);
  }
  if (q.get('sinceTime')) throw badRequest('sinceTime is not supported; use sinceSeconds');
  return { container, query: out.toString() };
}

/** pods/exec: the container (defaulted as for logs) and the kubelet's query (the command and which streams). */
export function execRequest(pod: KubeObject, q: URLSearchParams): { container: string; query: string } {
  const container = containerOf(pod, q);
  const command = q.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least one command for the container');
  const out = new URLSearchParams();
  for (const c of command) out.append('command', c);
  for (const k of ['stdin', 'stdout', 'stderr', 'tty']) {
    const v = q.get(k);
    if (v === 'true' || v === '1') out.set(k, 'true');
  }
  if (!['stdin', 'stdout', 'stderr'].some((k) => out.has(k))) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  return { container, query: out.toString() };
}

/** The node's address and kubelet port, from its status. */
export function kubeletAddress(node: KubeObject): { host: string; port: number } {
  const addrs: { type: string; address: string }[] = node.status?.addresses ?? [];
  const host = addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'Hostname')?.address;
  const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port;
  if (!host || typeof port !== 'number' || port <= 0) throw new ApiError('ServiceUnavailable', `node ${node.metadata.name} publishes no kubelet address`);
  return { host, port };
}

/** Streams the kubelet's answer into `res`; resolves when done (or the client went away). */
export function proxyLog(res: ServerResponse, target: { host: string; port: number; path: string }, client: KubeletClient | null, closed: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const opts = { host: target.host, port: target.port, path: target.path, method: 'GET', timeout: CONNECT_TIMEOUT_MS, agent: false as const };
    const onResponse = (up: http.IncomingMessage) => {
      const code = up.statusCode ?? 502;
      if (code !== 200) {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
        up.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8').trim();
          reject(code === 404 ? new ApiError('NotFound', text || 'not found on the node') : code === 400 ? badRequest(text) : new ApiError('InternalError', `the kubelet answered ${code}: ${text}`));
        });
        return;
      }
      req.setTimeout(0);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
      res.flushHeaders();
      up.pipe(res);
      up.on('end', () => resolve());
      up.on('error', () => resolve());
    };
    const req = client ? https.request({ ...opts, cert: client.certPem, key: client.keyPem, rejectUnauthorized: false }, onResponse) : http.request(opts, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer from the kubelet at ${target.host}:${target.port} within ${CONNECT_TIMEOUT_MS} ms`)));
    req.on('error', (e) => {
      if (res.headersSent) return resolve();
      reject(new ApiError('ServiceUnavailable', `cannot reach the kubelet at ${target.host}:${target.port}: ${e.message}`));
    });
    closed.addEventListener('abort', () => req.destroy(), { once: true });
    req.end();
  });
}

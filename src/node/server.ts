/**
 * The node's HTTP endpoints.
 *
 * - The read-only port (10255, plain HTTP, no authentication, as upstream's
 *   --read-only-port): `/healthz`, `/pods` (the PodList bound here), `/spec`
 *   (the machine), `/metrics` (Prometheus: per-container CPU, memory,
 *   writable-layer usage and per-pod network from CRI stats — the cAdvisor
 *   role — and the node daemon's own counters).
 * - The kubelet port (10250): `/containerLogs/<ns>/<pod>/<container>` for the
 *   API server's pods/log proxy, and `/healthz`. HTTPS with a client
 *   certificate signed by the cluster CA when the node has the CA (the API
 *   server presents one); plain HTTP only when the node itself runs without
 *   TLS (tests with --insecure-http masters).
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { proxyUpgrade, refuseUpgrade } from '../util/upgrade-proxy.js';
import type { CriClient, ContainerStats, PodSandboxStats } from './cri/index.js';
import type { Json } from './api/index.js';
import { type LogOptions, streamLogs } from './kubelet/logs.js';
import { podLogDirectory } from './kubelet/container-config.js';
import { LABEL_POD_UID, LABEL_MANAGED } from './kubelet/labels.js';
import { hostInfo } from './kubelet/host.js';
import { isKubeletError } from './kubelet/errors.js';

export interface NodeServerOptions {
  host: string;
  readOnlyPort: number;
  kubeletPort: number;
  /** TLS for the kubelet port: our serving pair and the CA whose client certificates are accepted. */
  tls: { certPem: string; keyPem: string; caPem: string } | null;
  cri: CriClient;
  podLogDir: string;
  pods(): Json[];
  /** Extra metrics text (the proxy's, DNS's, the daemon's). */
  metrics(): string;
  healthy(): string | null;
  logger: { warn(o: object, m: string): void };
}

const LOG_STREAMS_MAX = 64;

export class NodeServer {
  private readOnly: http.Server | null = null;
  private kubelet: http.Server | https.Server | null = null;
  private logStreams = 0;

  constructor(private readonly o: NodeServerOptions) {}

  get readOnlyPort(): number {
    return (this.readOnly?.address() as AddressInfo | null)?.port ?? 0;
  }

  get kubeletPort(): number {
    return (this.kubelet?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    if (this.o.readOnlyPort >= 0) {
      this.readOnly = http.createServer((req, res) => void this.handleReadOnly(req, res));
      await listen(this.readOnly, this.o.host, this.o.readOnlyPort);
    }
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handleKubelet(req, res);
    this.kubelet = this.o.tls ? https.createServer({ cert: this.o.tls.certPem, key: this.o.tls.keyPem, ca: this.o.tls.caPem, requestCert: true, rejectUnauthorized: true }, handler) : http.createServer(handler);
    this.kubelet.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void this.handleUpgrade(req, socket, head));
    await listen(this.kubelet, this.o.host, this.o.kubeletPort);
  }

  async close(): Promise<void> {
    for (const s of [this.readOnly, this.kubelet]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  private async handleReadOnly(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://node');
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'method not allowed\n');
      switch (url.pathname) {
        case '/healthz': {
          const why = this.o.healthy();
          return text(res, why ? 500 : 200, why ? `${why}\n` : 'ok');
        }
        case '/pods':
          return json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: this.o.pods() });
        case '/spec': {
          const h = hostInfo();
          return json(res, 200, { num_cores: h.cpus, memory_capacity: h.memoryBytes, machine_id: h.machineID, system_uuid: h.systemUUID, boot_id: h.bootID, kernel_version: h.kernelVersion, os_image: h.osImage, architecture: h.architecture });
        }
        case '/metrics':
        case '/metrics/cadvisor':
          return text(res, 200, (await this.containerMetrics()) + this.o.metrics(), 'text/plain; version=0.0.4');
        default:
          return text(res, 404, '404 page not found\n');
      }
    } catch (e) {
      text(res, 500, `${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  /** cAdvisor-named series from CRI stats (labels: namespace, pod, container). */
  private async containerMetrics(): Promise<string> {
    const [ctrs, pods] = await Promise.all([
      this.o.cri.listContainerStats({ labelSelector: { [LABEL_MANAGED]: 'true' } }).catch(() => [] as ContainerStats[]),
      this.o.cri.listPodSandboxStats({ labelSelector: { [LABEL_MANAGED]: 'true' } }).catch(() => [] as PodSandboxStats[]),
    ]);
    const lines: string[] = [];
    const family = (name: string, type: string, help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const lbl = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`).join(',')}}`;
    const of = (c: ContainerStats) => ({ namespace: c.labels['io.kubernetes.pod.namespace'] ?? '', pod: c.labels['io.kubernetes.pod.name'] ?? '', container: c.metadata.name });
    family('container_cpu_usage_seconds_total', 'counter', 'Cumulative CPU time consumed, in seconds.');
    for (const c of ctrs) if (c.cpu?.usageCoreNanoSeconds != null) lines.push(`container_cpu_usage_seconds_total${lbl(of(c))} ${c.cpu.usageCoreNanoSeconds / 1e9}`);
    family('container_memory_working_set_bytes', 'gauge', 'Current working set, in bytes.');
    for (const c of ctrs) if (c.memory?.workingSetBytes != null) lines.push(`container_memory_working_set_bytes${lbl(of(c))} ${c.memory.workingSetBytes}`);
    family('container_memory_rss', 'gauge', 'Size of RSS, in bytes.');
    for (const c of ctrs) if (c.memory?.rssBytes != null) lines.push(`container_memory_rss${lbl(of(c))} ${c.memory.rssBytes}`);
    family('container_fs_usage_bytes', 'gauge', 'Bytes used by the container on its writable layer.');
    for (const c of ctrs) if (c.writableLayer?.usedBytes != null) lines.push(`container_fs_usage_bytes${lbl(of(c))} ${c.writableLayer.usedBytes}`);
    family('container_network_receive_bytes_total', 'counter', 'Cumulative bytes received by the pod.');
    const podLbl = (p: PodSandboxStats, iface: string) => lbl({ namespace: p.metadata.namespace, pod: p.metadata.name, interface: iface });
    for (const p of pods) for (const i of p.network?.interfaces ?? []) if (i.rxBytes != null) lines.push(`container_network_receive_bytes_total${podLbl(p, i.name)} ${i.rxBytes}`);
    family('container_network_transmit_bytes_total', 'counter', 'Cumulative bytes transmitted by the pod.');
    for (const p of pods) for (const i of p.network?.interfaces ?? []) if (i.txBytes != null) lines.push(`container_network_transmit_bytes_total${podLbl(p, i.name)} ${i.txBytes}`);
    return `${lines.join('\n')}\n`;
  }

  private async handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const fail = (code: number, reason: string, msg: string) => refuseUpgrade(socket, code, reason, `${msg}\n`, 'text/plain; charset=utf-8');
    if (this.o.tls && !(socket as TLSSocket).authorized) return fail(401, 'Unauthorized', 'Unauthorized');
    const x = parseExecPath(new URL(req.url ?? '/', 'http://node'));
    if (!x) return fail(404, 'Not Found', '404 page not found');
    if (x.cmd.length === 0) return fail(400, 'Bad Request', 'you must specify at least one command for the container');
    const pod = this.o.pods().find((p) => p.metadata.namespace === x.ns && p.metadata.name === x.name);
    if (!pod) return fail(404, 'Not Found', `pod ${x.ns}/${x.name} is not on this node`);
    try {
      const ctr = (await this.o.cri.listContainers({ labelSelector: { [LABEL_POD_UID]: pod.metadata.uid } })).find((c) => c.metadata.name === x.container && c.state === 'CONTAINER_RUNNING');
      if (!ctr) return fail(400, 'Bad Request', `container ${x.container} is not running in pod ${x.name}`);
      const url = new URL(await this.o.cri.exec(ctr.id, x.cmd, { ...x.streams, stderr: x.streams.stderr && !x.streams.tty }));
      proxyUpgrade(req, socket, head, { host: url.hostname, port: Number(url.port || 80), path: `${url.pathname}${url.search}` }, (e) => fail(502, 'Bad Gateway', `the runtime's streaming server: ${e.message}`));
    } catch (e) {
      fail(500, 'Internal Server Error', e instanceof Error ? e.message : String(e));
    }
  }

  private async handleKubelet(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.o.tls && !(req.socket as TLSSocket).authorized) return text(res, 401, 'Unauthorized\n');
    const url = new URL(req.url ?? '/', 'http://node');
    if (url.pathname === '/healthz') return text(res, 200, 'ok');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m || req.method !== 'GET') return text(res, 404, '404 page not found\n');
    const [ns, name, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    const pod = this.o.pods().find((p) => p.metadata.namespace === ns && p.metadata.name === name);
    if (!pod) return text(res, 404, `pod ${ns}/${name} is not on this node\n`);
    if (![...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some((c: Json) => c.name === container)) return text(res, 400, `container ${container} is not valid for pod ${name}\n`);
    const q = url.searchParams;
    const num = (k: string): number | null => {
      const v = q.get(k);
      if (v === null || v === '') return null;
      const n = Number(v);
      return Number.isSafeInteger(n) && n >= 0 ? n : Number.NaN;
    };
    const o: LogOptions = { follow: q.get('follow') === 'true', previous: q.get('previous') === 'true', timestamps: q.get('timestamps') === 'true', tailLines: num('tailLines'), limitBytes: num('limitBytes'), sinceSeconds: num('sinceSeconds') };
    if ([o.tailLines, o.limitBytes, o.sinceSeconds].some((v) => Number.isNaN(v))) return text(res, 400, 'tailLines, limitBytes and sinceSeconds must be non-negative integers\n');
    if (this.logStreams >= LOG_STREAMS_MAX) return text(res, 429, 'too many log streams\n');
    this.logStreams++;
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const uid: string = pod.metadata.uid;
    const running = async () => (await this.o.cri.listContainers({ labelSelector: { [LABEL_POD_UID]: uid } })).some((c) => c.metadata.name === container && c.state === 'CONTAINER_RUNNING');
    try {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Transfer-Encoding': 'chunked' });
      res.flushHeaders();
      await streamLogs(podLogDirectory(this.o.podLogDir, pod), container, o, (s) => res.write(s), running, abort.signal);
      res.end();
    } catch (e) {
      if (!res.headersSent) text(res, isKubeletError(e, 'KUBELET_ERR_BAD_REQUEST') ? 400 : 500, `${e instanceof Error ? e.message : String(e)}\n`);
      else res.destroy();
    } finally {
      this.logStreams--;
    }
  }
}

/** `/exec/<ns>/<pod>/<container>?command=…&stdin=…&stdout=…&stderr=…&tty=…` from the API server: a CRI Exec, then the upgraded connection joined to the runtime's streaming server. */
export function parseExecPath(url: URL): { ns: string; name: string; container: string; cmd: string[]; streams: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean } } | null {
  const m = /^\/exec\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (!m) return null;
  const [ns, name, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
  const flag = (k: string) => ['true', '1'].includes(url.searchParams.get(k) ?? '');
  return { ns, name, container, cmd: url.searchParams.getAll('command'), streams: { stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr'), tty: flag('tty') } };
}

function listen(s: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      resolve();
    });
  });
}

function text(res: http.ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function json(res: http.ServerResponse, code: number, body: unknown): void {
  text(res, code, JSON.stringify(body), 'application/json');
}

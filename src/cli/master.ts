/**
 * `skiff master`: one member of the replicated store, with etcd's flags
 * (names and meanings as etcd's, so operators can carry their habits over),
 * and, with --listen-api-url, the Kubernetes API server over that member.
 */
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { API_SERVER_DEFAULTS, ApiServer, loadTokenFile } from '../control/apiserver/index.js';
import { ControllerManager, defaultControllers } from '../control/controllers/index.js';
import { issueCertificate, loadOrCreateClusterPki } from '../control/pki/index.js';
import type { InitialMember } from '../store/server.js';
import { Master, type MasterOptions, splitHostPort } from '../store/master.js';
import { STORE_SERVER_DEFAULTS } from '../store/server.js';
import { UsageError } from './sim.js';

export const MASTER_USAGE = `usage: skiff master --name NAME --data-dir DIR --initial-cluster NAME=URL,... [options]

  --name                         this member's name (default: default)
  --data-dir                     where the log and the store live (default: NAME.skiff)
  --listen-peer-urls             URL to listen on for other members (default: http://127.0.0.1:2380)
  --listen-client-urls           URL to serve the etcd API on (default: http://127.0.0.1:2379)
  --initial-advertise-peer-urls  this member's peer URLs as others reach them (default: the listen URL)
  --advertise-client-urls        this member's client URLs as clients reach them (default: the listen URL)
  --listen-metrics-urls          URL for /metrics and /healthz (default: none)
  --initial-cluster              the founding members: NAME=PEER_URL,...
  --initial-cluster-state        new | existing (existing: joining after \`member add\`)
  --initial-cluster-token        distinguishes clusters built from the same member list
  --heartbeat-interval           milliseconds (default: 100)
  --election-timeout             milliseconds (default: 1000)
  --snapshot-count               applied entries between log snapshots (default: 10000)
  --quota-backend-bytes          the store's space quota (default: 2 GiB)
  --max-request-bytes            largest request (default: 1.5 MiB)
  --cert-file, --key-file, --trusted-ca-file, --client-cert-auth          TLS for clients
  --peer-cert-file, --peer-key-file, --peer-trusted-ca-file              mTLS between members
  --log-level                    debug | info | warn | error (default: info)

Kubernetes API (served only with --listen-api-url):
  --listen-api-url               https://HOST:PORT for the Kubernetes API (http:// only with --insecure-http)
  --pki-dir                      the cluster CA (ca.crt, ca.key; created if missing): a serving certificate
                                 for this master is issued from it, and client certificates it signed are accepted
  --tls-cert-file, --tls-private-key-file   the API's serving certificate instead (PEM)
  --client-ca-file               CA whose client certificates are accepted (CN = user, O = groups)
  --token-auth-file              bearer tokens: CSV lines token,user,uid,"group1,group2"
  --kubelet-client-certificate, --kubelet-client-key   how this API server proves itself to kubelets (pods/log);
                                 with --pki-dir one is issued from the cluster CA
  --advertise-address            the IP other hosts and Pods reach this API at (default: the listen IP,
                                 or this host's first non-loopback IPv4 when listening on all of them)
  --event-ttl                    how long Events live after their last write: 1h, 30m, 90s (default 1h)
  --node-monitor-grace-period    how long a node may miss heartbeats before it is NotReady and its pods
                                 are evicted (default 40s)
  --insecure-http                serve plain HTTP and let anonymous requests in: for tests only`;

const str = { type: 'string' } as const;

export function parseMasterArgs(argv: string[]): Omit<MasterOptions, 'logger'> & { logLevel: string; api: ApiFlags | null } {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      name: { type: 'string', default: 'default' },
      'data-dir': str,
      'listen-peer-urls': { type: 'string', default: 'http://127.0.0.1:2380' },
      'listen-client-urls': { type: 'string', default: 'http://127.0.0.1:2379' },
      'initial-advertise-peer-urls': str,
      'advertise-client-urls': str,
      'listen-metrics-urls': { type: 'string', default: '' },
      'initial-cluster': str,
      'initial-cluster-state': { type: 'string', default: 'new' },
      'initial-cluster-token': { type: 'string', default: 'skiff-cluster' },
      'heartbeat-interval': { type: 'string', default: String(STORE_SERVER_DEFAULTS.heartbeatMs) },
      'election-timeout': { type: 'string', default: String(STORE_SERVER_DEFAULTS.electionTimeoutMs) },
      'snapshot-count': { type: 'string', default: String(STORE_SERVER_DEFAULTS.snapshotCount) },
      'quota-backend-bytes': { type: 'string', default: String(STORE_SERVER_DEFAULTS.quotaBytes) },
      'max-request-bytes': { type: 'string', default: String(STORE_SERVER_DEFAULTS.maxRequestBytes) },
      'cert-file': str,
      'key-file': str,
      'trusted-ca-file': str,
      'client-cert-auth': { type: 'boolean', default: false },
      'peer-cert-file': str,
      'peer-key-file': str,
      'peer-trusted-ca-file': str,
      'log-level': { type: 'string', default: 'info' },
      'listen-api-url': { type: 'string', default: '' },
      'pki-dir': str,
      'tls-cert-file': str,
      'tls-private-key-file': str,
      'client-ca-file': str,
      'token-auth-file': str,
      'kubelet-client-certificate': str,
      'kubelet-client-key': str,
      'insecure-http': { type: 'boolean', default: false },
      'event-ttl': { type: 'string', default: '1h' },
      'node-monitor-grace-period': { type: 'string', default: '40s' },
      'advertise-address': str,
    },
  });
  const api = parseApiFlags(v);
  const name = v.name!;
  const int = (flag: string, min: number): number => {
    const raw = (v as unknown as Record<string, string | undefined>)[flag]!;
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const urls = (flag: string, raw: string): string[] => {
    const list = raw.split(',').map((u) => u.trim()).filter(Boolean);
    for (const u of list) if (!/^https?:\/\/[^/]+:\d+\/?$/.test(u)) throw new UsageError(`--${flag}: not a URL with a port: ${u}`);
    return list;
  };
  const listenPeer = urls('listen-peer-urls', v['listen-peer-urls']!);
  const listenClient = urls('listen-client-urls', v['listen-client-urls']!);
  const advertisePeer = urls('initial-advertise-peer-urls', v['initial-advertise-peer-urls'] ?? listenPeer.join(','));
  const advertiseClient = urls('advertise-client-urls', v['advertise-client-urls'] ?? listenClient.join(','));
  const initialCluster = parseInitialCluster(v['initial-cluster'] ?? `${name}=${advertisePeer.join(',')}`);
  if (!initialCluster.some((m) => m.name === name)) throw new UsageError(`--initial-cluster has no member named ${name}`);
  const state = v['initial-cluster-state'];
  if (state !== 'new' && state !== 'existing') throw new UsageError(`--initial-cluster-state must be new or existing, got ${state}`);
  const heartbeatMs = int('heartbeat-interval', 1);
  const electionTimeoutMs = int('election-timeout', 1);
  if (electionTimeoutMs < 5 * heartbeatMs) throw new UsageError('--election-timeout must be at least 5 times --heartbeat-interval');
  const tlsTriple = (cert?: string, key?: string, ca?: string) => (cert && key ? { certFile: cert, keyFile: key, ...(ca ? { caFile: ca } : {}) } : undefined);
  // The trusted CA also verifies the leader when this member forwards to it,
  // so it is kept even when clients need no certificate.
  const clientTriple = tlsTriple(v['cert-file'], v['key-file'], v['trusted-ca-file']);
  if (v['client-cert-auth'] && !clientTriple?.caFile) throw new UsageError('--client-cert-auth needs --cert-file, --key-file and --trusted-ca-file');
  const clientTls = clientTriple ? { ...clientTriple, clientCertAuth: v['client-cert-auth'] } : undefined;
  const peer = tlsTriple(v['peer-cert-file'], v['peer-key-file'], v['peer-trusted-ca-file']);
  if (peer && !peer.caFile) throw new UsageError('peer TLS needs --peer-trusted-ca-file (members authenticate each other)');
  return {
    name,
    dataDir: v['data-dir'] ?? `${name}.skiff`,
    initialCluster,
    initialClusterState: state,
    clusterToken: v['initial-cluster-token']!,
    listenPeer: new URL(listenPeer[0]!).host,
    listenClient: new URL(listenClient[0]!).host,
    listenMetrics: v['listen-metrics-urls'] ? new URL(urls('listen-metrics-urls', v['listen-metrics-urls'])[0]!).host : '',
    advertisePeerURLs: advertisePeer,
    advertiseClientURLs: advertiseClient,
    heartbeatMs,
    electionTimeoutMs,
    snapshotCount: int('snapshot-count', 1),
    snapshotCatchUpEntries: Math.min(STORE_SERVER_DEFAULTS.snapshotCatchUpEntries, int('snapshot-count', 1)),
    quotaBytes: int('quota-backend-bytes', 1),
    maxRequestBytes: int('max-request-bytes', 1),
    maxTxnOps: STORE_SERVER_DEFAULTS.maxTxnOps,
    maxPendingRequests: STORE_SERVER_DEFAULTS.maxPendingRequests,
    requestTimeoutMs: STORE_SERVER_DEFAULTS.requestTimeoutMs,
    ...(clientTls ? { clientTls } : {}),
    ...(peer ? { peerTls: { certFile: peer.certFile, keyFile: peer.keyFile, caFile: peer.caFile! } } : {}),
    logLevel: v['log-level']!,
    api,
  };
}

/** What the Kubernetes API flags ask for; files are read when the master starts. */
export interface ApiFlags {
  listen: string;
  insecureHttp: boolean;
  pkiDir?: string;
  certFile?: string;
  keyFile?: string;
  clientCaFile?: string;
  tokenFile?: string;
  eventTtlSeconds: number;
  /** How long a node may go without a heartbeat before it is NotReady (upstream's --node-monitor-grace-period). */
  nodeMonitorGraceSeconds: number;
  advertiseAddress?: string;
  kubeletClientCertFile?: string;
  kubeletClientKeyFile?: string;
}

/** A Go-style duration of hours, minutes and seconds ("1h", "1h30m", "90s") in whole seconds. */
export function parseDurationSeconds(flag: string, raw: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(raw);
  const total = m && raw !== '' ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  if (!Number.isSafeInteger(total) || total <= 0) throw new UsageError(`--${flag}: a duration such as 1h, 30m or 90s, got ${JSON.stringify(raw)}`);
  return total;
}

function parseApiFlags(v: Record<string, string | boolean | undefined>): ApiFlags | null {
  const url = (v['listen-api-url'] as string) ?? '';
  const insecureHttp = v['insecure-http'] === true;
  if (!url) {
    for (const f of ['pki-dir', 'tls-cert-file', 'tls-private-key-file', 'client-ca-file', 'token-auth-file', 'kubelet-client-certificate', 'kubelet-client-key']) if (v[f] !== undefined) throw new UsageError(`--${f} needs --listen-api-url`);
    return null;
  }
  const m = /^(https?):\/\/([^/]+):(\d+)\/?$/.exec(url);
  if (!m) throw new UsageError(`--listen-api-url: not a URL with a port: ${url}`);
  if (m[1] === 'http' && !insecureHttp) throw new UsageError('--listen-api-url is http://: plain HTTP needs --insecure-http (tests only)');
  if (m[1] === 'https' && insecureHttp) throw new UsageError('--insecure-http needs an http:// --listen-api-url');
  const certFile = v['tls-cert-file'] as string | undefined;
  const keyFile = v['tls-private-key-file'] as string | undefined;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new UsageError('--tls-cert-file and --tls-private-key-file go together');
  if (m[1] === 'https' && !certFile && !v['pki-dir']) throw new UsageError('an https:// --listen-api-url needs --pki-dir or --tls-cert-file and --tls-private-key-file');
  const out: ApiFlags = {
    listen: `${m[2]}:${m[3]}`,
    insecureHttp,
    eventTtlSeconds: parseDurationSeconds('event-ttl', (v['event-ttl'] as string) ?? '1h'),
    nodeMonitorGraceSeconds: parseDurationSeconds('node-monitor-grace-period', (v['node-monitor-grace-period'] as string) ?? '40s'),
  };
  if (v['pki-dir']) out.pkiDir = v['pki-dir'] as string;
  if (certFile) out.certFile = certFile;
  if (keyFile) out.keyFile = keyFile;
  if (v['client-ca-file']) out.clientCaFile = v['client-ca-file'] as string;
  if (v['token-auth-file']) out.tokenFile = v['token-auth-file'] as string;
  const kcc = v['kubelet-client-certificate'] as string | undefined;
  const kck = v['kubelet-client-key'] as string | undefined;
  if (Boolean(kcc) !== Boolean(kck)) throw new UsageError('--kubelet-client-certificate and --kubelet-client-key go together');
  if (kcc) out.kubeletClientCertFile = kcc;
  if (kck) out.kubeletClientKeyFile = kck;
  if (v['advertise-address']) {
    const ip = v['advertise-address'] as string;
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new UsageError(`--advertise-address: an IPv4 address, got ${JSON.stringify(ip)}`);
    out.advertiseAddress = ip;
  }
  return out;
}

export function parseInitialCluster(raw: string): InitialMember[] {
  const byName = new Map<string, string[]>();
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`--initial-cluster: expected NAME=URL, got ${part}`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    if (!/^https?:\/\/[^/]+:\d+\/?$/.test(url)) throw new UsageError(`--initial-cluster: not a URL with a port: ${url}`);
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  return [...byName].map(([name, peerURLs]) => ({ name, peerURLs }));
}

/** Runs a member until SIGTERM or SIGINT, then shuts it down cleanly. */
export async function masterCommand(argv: string[]): Promise<number> {
  const o = parseMasterArgs(argv);
  const logger = pino({ level: o.logLevel, base: { component: 'master', member: o.name } });
  const t0 = Date.now();
  const master = await Master.start({ ...o, logger });
  let api: ApiServer | null = null;
  let controllers: ControllerManager | null = null;
  try {
    if (o.api) {
      api = await startApi(o.api, master, logger.child({ component: 'apiserver' }));
      // The control loops run wherever the Raft leadership is; every master with the API is ready to.
      controllers = new ControllerManager(master.store, defaultControllers({ nodeLifecycle: { gracePeriodMs: o.api.nodeMonitorGraceSeconds * 1000 } }), logger.child({ component: 'controllers' }));
      controllers.start();
    }
  } catch (e) {
    await master.close();
    throw e;
  }
  logger.info(
    { memberId: master.store.memberId.toString(16), clusterId: master.store.clusterId.toString(16), client: o.advertiseClientURLs, peer: o.advertisePeerURLs, metrics: o.listenMetrics || null, api: api ? `${api.scheme}://${o.api!.listen}` : null, startMs: Date.now() - t0 },
    'skiff master serving',
  );
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      logger.info({ signal: sig }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Like etcd: a member removed from the cluster shuts itself down.
    master.store.onRemoved(() => stop('removed from the cluster'));
  });
  await controllers?.close();
  await api?.close();
  await master.close();
  logger.info({}, 'stopped');
  return 0;
}

/** The Kubernetes API server of this master, over its store member. */
async function startApi(f: ApiFlags, master: Master, logger: pino.Logger): Promise<ApiServer> {
  const [host, port] = splitHostPort(f.listen);
  let tls: { certPem: string; keyPem: string; caPem: string } | null = null;
  let kubeletClient: { certPem: string; keyPem: string } | null = null;
  if (f.kubeletClientCertFile && f.kubeletClientKeyFile) kubeletClient = { certPem: readFileSync(f.kubeletClientCertFile, 'utf8'), keyPem: readFileSync(f.kubeletClientKeyFile, 'utf8') };
  if (!f.insecureHttp) {
    let caPem = f.clientCaFile ? readFileSync(f.clientCaFile, 'utf8') : '';
    let certPem: string;
    let keyPem: string;
    if (f.certFile && f.keyFile) {
      certPem = readFileSync(f.certFile, 'utf8');
      keyPem = readFileSync(f.keyFile, 'utf8');
    } else {
      const pki = await loadOrCreateClusterPki(f.pkiDir!);
      const ips = new Set(['127.0.0.1', '::1']);
      const dns = new Set(['localhost', hostname()]);
      if (/^[\d.]+$/.test(host) || host.includes(':')) ips.add(host.replace(/^\[|\]$/g, ''));
      else dns.add(host);
      if (host === '0.0.0.0' || host === '::') for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) ips.add(a.address.split('%')[0]!);
      ips.delete('0.0.0.0');
      ips.delete('::');
      ({ certPem, keyPem } = issueCertificate({ ca: pki.ca, commonName: `skiff-apiserver-${master.store.name}`, dnsNames: [...dns].filter((d) => /^[a-z0-9.-]+$/i.test(d)), ipAddresses: [...ips], usages: ['server'] }));
      if (!caPem) caPem = pki.ca.certPem;
      // How this API server proves itself to kubelets (pods/log), as upstream's apiserver-kubelet-client.
      kubeletClient ??= issueCertificate({ ca: pki.ca, commonName: 'skiff-apiserver-kubelet-client', organizations: ['system:masters'], usages: ['client'] });
    }
    tls = { certPem, keyPem, caPem };
  }
  const api = new ApiServer({
    ...API_SERVER_DEFAULTS,
    kv: master.store,
    host,
    port,
    tls,
    tokens: f.tokenFile ? loadTokenFile(f.tokenFile) : new Map(),
    allowAnonymous: f.insecureHttp,
    notReady: () => (master.store.leaderId === 0 ? 'the store has no leader' : null),
    logger,
    metrics: master.metrics,
    eventTtlSeconds: f.eventTtlSeconds,
    advertise: { ip: f.advertiseAddress ?? advertisedIp(host), port },
    kubeletClient,
  });
  await api.start();
  return api;
}

/** The listen IP, or this host's first non-loopback IPv4 when it listens on all of them. */
function advertisedIp(host: string): string {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host) && host !== '0.0.0.0') return host;
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

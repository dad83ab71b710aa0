/**
 * `skiff master`: one member of the replicated store, with etcd's flags
 * (names and meanings as etcd's, so operators can carry their habits over).
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { InitialMember } from '../store/server.js';
import { Master, type MasterOptions } from '../store/master.js';
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
  --log-level                    debug | info | warn | error (default: info)`;

const str = { type: 'string' } as const;

export function parseMasterArgs(argv: string[]): Omit<MasterOptions, 'logger'> & { logLevel: string } {
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
    },
  });
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
  };
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
  logger.info(
    { memberId: master.store.memberId.toString(16), clusterId: master.store.clusterId.toString(16), client: o.advertiseClientURLs, peer: o.advertisePeerURLs, metrics: o.listenMetrics || null, startMs: Date.now() - t0 },
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
  await master.close();
  logger.info({}, 'stopped');
  return 0;
}

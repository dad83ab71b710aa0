/**
 * A whole store member as one object: the StoreServer, the etcd API on the
 * client port, and an HTTP port with /metrics (Prometheus text), /healthz
 * and /health. `skiff master` is this plus flag parsing; tests and embedders
 * call startMaster() directly.
 */
import { type Server, createServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { StateType } from '../raft/index.js';
import { Gauge, Histogram, Registry } from '../util/metrics.js';
import { type ClientTls, EtcdApiServer, EtcdLeaderForwarder } from './api/etcd-server.js';
import { STORE_SERVER_DEFAULTS, StoreServer, type StoreServerOptions } from './server.js';

export interface MasterOptions extends Omit<StoreServerOptions, 'forwardToLeader' | 'onProposal'> {
  /** host:port for the etcd API. */
  listenClient: string;
  /** host:port for /metrics and /healthz (empty: none). */
  listenMetrics: string;
  clientTls?: ClientTls;
}

export class Master {
  readonly metrics = new Registry();

  private http: Server | null = null;

  private constructor(
    readonly store: StoreServer,
    readonly api: EtcdApiServer,
    private readonly forwarder: EtcdLeaderForwarder,
  ) {}

  /** Opens the data dir, joins or forms the cluster, and starts serving. */
  static async start(o: Partial<MasterOptions> & Pick<MasterOptions, 'name' | 'dataDir' | 'initialCluster' | 'listenPeer' | 'advertisePeerURLs' | 'advertiseClientURLs' | 'listenClient' | 'logger'>): Promise<Master> {
    const opts = { ...STORE_SERVER_DEFAULTS, listenMetrics: '', ...o } as MasterOptions;
    const proposal = new Histogram('skiff_store_proposal_duration_seconds', 'Time from proposing a write to applying it on this member.');
    const fsync = new Histogram('skiff_raft_fsync_duration_seconds', 'Duration of synced writes to the Raft log.');
    const store = await StoreServer.open({ ...opts, onProposal: (s) => proposal.observe(s) });
    store.storage.onSync = (s) => fsync.observe(s);
    const forwarder = new EtcdLeaderForwarder(() => clientCredentials(opts.clientTls));
    store.setForwarder(forwarder);
    const api = new EtcdApiServer(store, { listen: opts.listenClient, maxRequestBytes: opts.maxRequestBytes, tls: opts.clientTls, logger: opts.logger });
    const master = new Master(store, api, forwarder);
    master.registerMetrics(proposal, fsync);
    try {
      await store.start();
      await api.start();
      if (opts.listenMetrics) master.http = await listenHttp(opts.listenMetrics, (path) => master.serve(path));
    } catch (e) {
      await master.close().catch(() => undefined);
      throw e;
    }
    return master;
  }

  /** The port the etcd API is bound to. */
  get clientPort(): number {
    return this.api.port;
  }

  get metricsPort(): number {
    const a = this.http?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  async close(): Promise<void> {
    await this.api.close();
    this.forwarder.close();
    await this.store.close();
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
  }

  private registerMetrics(proposal: Histogram, fsync: Histogram): void {
    const s = this.store;
    const r = () => s.raft.rn.raft;
    const m = this.metrics;
    m.register(new Gauge('skiff_raft_term', 'Current Raft term.', () => r().term));
    m.register(new Gauge('skiff_raft_commit_index', 'Highest Raft index known committed.', () => r().log.committed));
    m.register(new Gauge('skiff_raft_applied_index', 'Highest Raft index applied to the store.', () => s.raft.appliedIndex));
    m.register(new Gauge('skiff_raft_apply_lag', 'Committed but not yet applied entries.', () => Math.max(0, r().log.committed - s.raft.appliedIndex)));
    m.register(new Gauge('skiff_raft_is_leader', '1 if this member leads.', () => (r().state === StateType.Leader ? 1 : 0)));
    m.register(new Gauge('skiff_raft_has_leader', '1 if a leader is known.', () => (r().lead !== 0 ? 1 : 0)));
    m.register(new Gauge('skiff_raft_dropped_messages_total', 'Peer messages dropped because a queue was full or the peer unknown.', () => s.transport.stats.droppedMessages));
    m.register(fsync);
    m.register(proposal);
    m.register(new Gauge('skiff_store_watchers', 'Watchers on this member.', () => s.watchers()));
    m.register(new Gauge('skiff_store_revision', 'Current store revision.', () => s.revision));
    m.register(new Gauge('skiff_store_db_size_bytes', 'Logical size of the store (what the quota applies to).', () => s.status().dbSize));
  }

  private serve(path: string): { status: number; type: string; body: string } {
    if (path === '/metrics') return { status: 200, type: 'text/plain; version=0.0.4', body: this.metrics.render() };
    const healthy = this.store.leaderId !== 0 && this.store.raft.error === null;
    if (path === '/healthz' || path === '/livez' || path === '/readyz') return { status: healthy ? 200 : 503, type: 'text/plain', body: healthy ? 'ok\n' : 'no leader\n' };
    if (path === '/health') return { status: healthy ? 200 : 503, type: 'application/json', body: JSON.stringify({ health: String(healthy) }) };
    return { status: 404, type: 'text/plain', body: 'not found\n' };
  }
}

function clientCredentials(tls?: ClientTls): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.caFile ? readFileSync(tls.caFile) : null, readFileSync(tls.keyFile), readFileSync(tls.certFile));
}

function listenHttp(hostPort: string, handle: (path: string) => { status: number; type: string; body: string }): Promise<Server> {
  const [host, port] = splitHostPort(hostPort);
  const server = createServer((req, res) => {
    const r = handle(new URL(req.url ?? '/', 'http://x').pathname);
    res.writeHead(r.status, { 'content-type': r.type });
    res.end(r.body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export function splitHostPort(hostPort: string): [string, number] {
  const i = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(hostPort.slice(i + 1));
  return [host, port];
}

/**
 * `skiff node`: one worker host. It composes
 * - the kubelet (Node, Lease, Pods through containerd's CRI),
 * - pod networking (the CNI conflist for this node's pod CIDR once the
 *   control plane assigned one, host-gw routes to the other nodes' pod
 *   CIDRs, masquerade of pod traffic leaving the cluster),
 * - the Service proxy (iptables nat rules from Services and EndpointSlices),
 * - cluster DNS, node-local: the kube-dns Service IP is added to `lo` and the
 *   DNS server answers there for this node's Pods (the proxy leaves that
 *   Service alone),
 * - the node's HTTP endpoints (read-only port, logs for the API server).
 * All of it talks to the masters only through the API (HTTPS, the node's
 * credential), failing over between them.
 */
import type { Logger } from 'pino';
import type { KubeObject } from '../control/apiserver/index.js';
import { issueCertificate, createCA } from '../control/pki/index.js';
import { ApiClient, Informer, type Json } from './api/index.js';
import { CriClient } from './cri/index.js';
import { DnsServer, Zone } from './dns/index.js';
import { Kubelet, KUBELET_DEFAULTS, KUBELET_PORT } from './kubelet/index.js';
import { RouteManager, cleanupMasquerade, ensureMasquerade, runOnHost, writeCniConfig } from './network/index.js';
import { type Exec, Proxier, type ProxyMode, cleanupProxyRules } from './proxy/index.js';
import { NodeServer } from './server.js';
import type { NodeCredentials } from './kubeconfig.js';

/** Services the proxies leave alone (served on every node by the daemon itself). */
export const NODE_LOCAL_ANNOTATION = 'skiff.io/node-local';
export const READ_ONLY_PORT = 10255;
export const DEFAULT_BRIDGE = 'skiff0';

export interface NodeDaemonOptions {
  credentials: NodeCredentials;
  nodeName: string;
  nodeIP: string;
  containerdSocket: string;
  rootDir: string;
  podLogDir: string;
  cniConfDir: string;
  bridge: string;
  clusterCidr: string;
  clusterDNS: string;
  clusterDomain: string;
  resolvConf: string;
  maxPods: number;
  /** Parent of the pods' cgroups (default /kubepods); several daemons on one machine (tests) each want their own. */
  cgroupRoot?: string;
  labels?: Record<string, string>;
  /** Address the node's HTTP endpoints listen on. */
  listenHost: string;
  readOnlyPort: number;
  kubeletPort: number;
  proxy: boolean;
  /** How Services are programmed: iptables (kube-proxy's chain shape, the default) or nftables (verdict maps). */
  proxyMode?: ProxyMode;
  dns: boolean;
  /** DNS port (53; tests may pick another). */
  dnsPort: number;
  /** Runs `ip`/`iptables` (default: on this host). */
  exec?: Exec;
  backoffBaseMs?: number;
  leaseRenewSeconds?: number;
  logger: Logger;
}


/** The daemon cannot start: what is missing on this host, said plainly. */
export class NodeStartError extends Error {
  override readonly name = 'NodeStartError';
  readonly code = 'NODE_ERR_START';
}

export class NodeDaemon {
  readonly api: ApiClient;
  readonly cri: CriClient;
  kubelet: Kubelet | null = null;
  private proxier: Proxier | null = null;
  private dnsServer: DnsServer | null = null;
  private zone: Zone | null = null;
  private server: NodeServer | null = null;
  private routes: RouteManager;
  private readonly informers: Informer[] = [];
  private podCidr = '';
  private networkReady = false;
  private networking: Promise<void> = Promise.resolve();

  constructor(private readonly o: NodeDaemonOptions) {
    const c = o.credentials;
    this.api = new ApiClient({ baseUrl: c.servers, caPem: c.caPem, certPem: c.certPem, keyPem: c.keyPem, token: c.token });
    this.cri = new CriClient({ socket: o.containerdSocket });
    this.routes = new RouteManager({ nodeName: o.nodeName, clusterCidr: o.clusterCidr, exec: o.exec, logger: o.logger });
  }

  get readOnlyPort(): number {
    return this.server?.readOnlyPort ?? 0;
  }

  get kubeletPort(): number {
    return this.server?.kubeletPort ?? 0;
  }

  get dnsPort(): number {
    return this.dnsServer?.port ?? 0;
  }

  async start(): Promise<void> {
    const o = this.o;
    try {
      await this.cri.version();
    } catch (e) {
      throw new NodeStartError(`containerd does not answer on ${o.containerdSocket}: ${e instanceof Error ? e.message : String(e)} (is containerd running with its CRI plugin enabled?)`);
    }
    // Nodes: routes to the others' pod CIDRs, and our own CIDR once assigned.
    const nodes = new Informer(this.api, { path: '/api/v1/nodes', logger: o.logger });
    nodes.onChange((type, node) => {
      this.routes.onNode(type, node);
      if (node.metadata?.name === o.nodeName && type !== 'DELETED') this.learnPodCidr(node);
    });
    this.informers.push(nodes);

    if (o.dns) {
      this.zone = new Zone({ domain: o.clusterDomain, dnsServiceIp: o.clusterDNS });
      await runOnHost(o.exec, ['ip', 'addr', 'replace', `${o.clusterDNS}/32`, 'dev', 'lo']);
      this.dnsServer = await DnsServer.start({ zone: this.zone, listenAddresses: [o.clusterDNS], port: o.dnsPort, logger: o.logger });
    }
    if (o.proxy) {
      this.proxier = new Proxier({ node: { clusterCIDR: o.clusterCidr }, mode: o.proxyMode ?? 'iptables', exec: o.exec, logger: o.logger });
    }
    // Services: the proxy, DNS and the kubelet's service links share one informer.
    const services = new Informer(this.api, { path: '/api/v1/services', logger: o.logger });
    this.informers.push(services);
    if (o.proxy || o.dns) {
      services.onChange((type, svc, old) => {
        this.safe(() => this.zone?.onService(type, svc as KubeObject));
        const local = (s: Json | undefined) => s?.metadata?.annotations?.[NODE_LOCAL_ANNOTATION] === 'true';
        if (!local(svc)) this.safe(() => this.proxier?.onService(type, svc as KubeObject, old as KubeObject));
        else if (old && !local(old)) this.safe(() => this.proxier?.onService('DELETED', old as KubeObject));
      });
      const slices = new Informer(this.api, { path: '/apis/discovery.k8s.io/v1/endpointslices', logger: o.logger });
      slices.onChange((type, slice, old) => {
        this.safe(() => this.zone?.onEndpointSlice(type, slice as KubeObject));
        this.safe(() => this.proxier?.onEndpointSlice(type, slice as KubeObject, old as KubeObject));
      });
      this.informers.push(slices);
    }
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.synced));
    this.proxier?.start();

    this.server = new NodeServer({
      host: o.listenHost,
      readOnlyPort: o.readOnlyPort,
      kubeletPort: o.kubeletPort,
      tls: this.kubeletTls(),
      cri: this.cri,
      podLogDir: o.podLogDir,
      pods: () => this.kubelet?.podList() ?? [],
      metrics: () => this.metricsText(),
      healthy: () => null,
      logger: o.logger,
    });
    await this.server.start();
    this.kubelet = new Kubelet({
      api: this.api,
      cri: this.cri,
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      rootDir: o.rootDir,
      podLogDir: o.podLogDir,
      clusterDNS: o.dns ? [o.clusterDNS] : [],
      clusterDomain: o.clusterDomain,
      resolvConf: o.resolvConf,
      maxPods: o.maxPods,
      cgroupRoot: o.cgroupRoot,
      labels: o.labels,
      networkReady: () => this.networkReady,
      backoffBaseMs: o.backoffBaseMs,
      leaseRenewSeconds: o.leaseRenewSeconds,
      kubeletPort: this.server.kubeletPort,
      services,
      logger: o.logger,
    });

    await this.kubelet.start();
    // Registration may have carried the CIDR already.
    if (this.kubelet.nodeStatus.node) this.learnPodCidr(this.kubelet.nodeStatus.node);
    o.logger.info({ node: o.nodeName, podCIDR: this.podCidr || null, proxy: o.proxy, dns: o.dns }, 'node daemon started');
  }

  /** The daemon's own series: the proxy's syncs, the kubelet's pods, DNS requests. */
  private metricsText(): string {
    const lines: string[] = [];
    const m = (name: string, type: 'counter' | 'gauge', help: string, v: number) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${v}`);
    const p = this.proxier?.stats;
    if (p) {
      m('skiff_proxy_syncs_total', 'counter', 'Rule syncs (full and partial).', p.syncs);
      m('skiff_proxy_full_syncs_total', 'counter', 'Full rule syncs.', p.fullSyncs);
      m('skiff_proxy_failed_syncs_total', 'counter', 'Rule syncs that failed (retried as full).', p.failedSyncs);
      m('skiff_proxy_last_sync_seconds', 'gauge', 'Duration of the last sync (generation and iptables-restore).', p.lastSyncMs / 1000);
      m('skiff_proxy_services', 'gauge', 'Services programmed.', p.services);
      m('skiff_proxy_conntrack_deleted_total', 'counter', 'Stale UDP conntrack entries deleted.', p.conntrackDeleted);
    }
    if (this.kubelet) {
      m('skiff_kubelet_pods', 'gauge', 'Pods bound to this node that the kubelet works on.', this.kubelet.workerCount);
      m('skiff_kubelet_relists_total', 'counter', 'Runtime relists (PLEG).', this.kubelet.stats.relists);
      m('skiff_kubelet_orphans_removed_total', 'counter', 'Sandboxes of vanished pods removed.', this.kubelet.stats.orphansRemoved);
      m('skiff_kubelet_events_dropped_total', 'counter', 'Events dropped because the queue was full.', this.kubelet.events.stats.dropped);
    }
    return `${lines.join('\n')}\n${this.dnsServer?.registry.render() ?? ''}`;
  }

  /** A self-signed serving certificate for the kubelet port, trusting the cluster CA's client certificates. */
  private kubeletTls(): { certPem: string; keyPem: string; caPem: string } | null {
    const ca = this.o.credentials.caPem;
    if (!ca) return null;
    const own = createCA({ commonName: `${this.o.nodeName}-ca@skiff` });
    const pair = issueCertificate({ ca: own, commonName: this.o.nodeName, dnsNames: [this.o.nodeName].filter((n) => /^[a-z0-9.-]+$/i.test(n)), ipAddresses: [this.o.nodeIP], usages: ['server'] });
    return { certPem: pair.certPem, keyPem: pair.keyPem, caPem: ca };
  }

  private safe(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'ignoring an object the node cannot use');
    }
  }

  private learnPodCidr(node: Json): void {
    const cidr = node.spec?.podCIDR;
    if (typeof cidr !== 'string' || !cidr || cidr === this.podCidr) return;
    this.podCidr = cidr;
    this.networking = this.networking.then(async () => {
      try {
        await writeCniConfig(this.o.cniConfDir, { podCidr: cidr, bridge: this.o.bridge, dataDir: `${this.o.rootDir}/cni`, ipMasq: false });
        await ensureMasquerade(this.o.clusterCidr, cidr, this.o.exec);
        this.networkReady = true;
        this.o.logger.info({ podCIDR: cidr }, 'pod network configured');
        await this.kubelet?.nodeStatus.reportStatus(true);
      } catch (e) {
        this.o.logger.error({ err: e instanceof Error ? e.message : String(e), podCIDR: cidr }, 'cannot configure the pod network');
      }
    });
  }

  /** Stops the daemon; Pods keep running (a restarted daemon takes them over), rules and routes stay. */
  async stop(): Promise<void> {
    for (const i of this.informers) i.stop();
    await this.kubelet?.stop();
    await this.proxier?.stop();
    await this.dnsServer?.close();
    await this.server?.close();
    await this.networking;
    this.api.close();
    this.cri.close();
  }
}

/** `skiff node --cleanup`: removes the Service rules, the masquerade, the pod routes, the DNS address and the pod bridge. */
export async function cleanupNode(o: { clusterDNS: string; clusterCidr: string; bridge?: string; exec?: Exec }): Promise<{ chains: number; jumps: number }> {
  const run = (argv: string[]) => runOnHost(o.exec, argv).catch(() => undefined);
  // Whichever mode ran: both are looked for (nft may be missing on a host that only ever used iptables).
  const r = await cleanupProxyRules({ exec: o.exec, mode: 'all' });
  await cleanupMasquerade(o.exec);
  await run(['ip', 'route', 'flush', 'proto', 'static', 'root', o.clusterCidr]);
  await run(['ip', 'addr', 'del', `${o.clusterDNS}/32`, 'dev', 'lo']);
  // The pod bridge the CNI plugin made (its pods are gone by now).
  await run(['ip', 'link', 'del', o.bridge ?? DEFAULT_BRIDGE]);
  return r;
}

export { KUBELET_DEFAULTS, KUBELET_PORT };

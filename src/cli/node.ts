/**
 * `skiff node`: turns this host into a worker (kubelet over containerd's CRI,
 * pod networking, the Service proxy, node-local cluster DNS). `--cleanup`
 * removes what it installed on the host (iptables chains, routes, the DNS
 * address) and exits.
 */
import { hostname, networkInterfaces } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { NodeDaemon, READ_ONLY_PORT, DEFAULT_BRIDGE, cleanupNode, KUBELET_DEFAULTS, KUBELET_PORT } from '../node/daemon.js';
import { type NodeCredentials, loadKubeconfig } from '../node/kubeconfig.js';
import { UsageError } from './sim.js';

export const NODE_USAGE = `usage: skiff node --kubeconfig FILE [options]

  --kubeconfig          the node's credential and the API server (a client certificate signed by the
                        cluster CA, CN system:node:NAME, or a token) — \`skiff up\` writes one per node
  --api                 API URLs to use (and fail over between), comma-separated (default: the kubeconfig's)
  --node-name           this node's name (default: the host name)
  --node-ip             the IP other nodes and the masters reach this node at (default: first non-loopback IPv4)
  --containerd-socket   containerd's socket, CRI plugin enabled (default: /run/containerd/containerd.sock)
  --root-dir            pod volumes and state (default: ${KUBELET_DEFAULTS.rootDir})
  --pod-log-dir         container logs (default: ${KUBELET_DEFAULTS.podLogDir})
  --cgroup-root         parent of the pods' cgroups, <root>/pod<uid> (default: ${KUBELET_DEFAULTS.cgroupRoot})
  --cni-conf-dir        where the pod network's conflist goes, as containerd's CRI cni.conf_dir (default: /etc/cni/net.d)
  --bridge              the pod bridge's name (default: ${DEFAULT_BRIDGE})
  --cluster-cidr        the cluster's pod range (default: 10.244.0.0/16)
  --cluster-dns         the cluster DNS Service IP, served on this node (default: 10.96.0.10)
  --cluster-domain      (default: cluster.local)
  --resolv-conf         the host resolver's file for dnsPolicy Default ('' for none; default /etc/resolv.conf)
  --max-pods            (default: ${KUBELET_DEFAULTS.maxPods})
  --node-labels         extra labels: k=v,k2=v2
  --address             where the node's HTTP endpoints listen (default: 0.0.0.0)
  --read-only-port      /healthz /pods /spec /metrics, no auth (default: ${READ_ONLY_PORT}; 0 picks one, -1 disables)
  --port                the kubelet port (logs for the API server; default: ${KUBELET_PORT})
  --proxy-mode          iptables (kube-proxy's chain shape; default) or nftables (verdict maps: faster syncs
                        for many Services; needs nft)
  --no-proxy            do not program Service rules
  --no-dns              do not serve cluster DNS
  --dns-port            (default: 53)
  --cleanup             remove the rules, routes, addresses and the pod bridge a node daemon installed, then exit
  --log-level           debug | info | warn | error (default: info)`;

function firstIPv4(): string {
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

function int(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name}: expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return n;
}

export async function nodeCommand(argv: string[]): Promise<number> {
  const str = { type: 'string' } as const;
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      kubeconfig: str,
      api: str,
      'node-name': { type: 'string', default: hostname().toLowerCase() },
      'node-ip': { type: 'string', default: firstIPv4() },
      'containerd-socket': { type: 'string', default: '/run/containerd/containerd.sock' },
      'root-dir': { type: 'string', default: KUBELET_DEFAULTS.rootDir },
      'pod-log-dir': { type: 'string', default: KUBELET_DEFAULTS.podLogDir },
      'cgroup-root': { type: 'string', default: KUBELET_DEFAULTS.cgroupRoot },
      'cni-conf-dir': { type: 'string', default: '/etc/cni/net.d' },
      bridge: { type: 'string', default: DEFAULT_BRIDGE },
      'cluster-cidr': { type: 'string', default: '10.244.0.0/16' },
      'cluster-dns': { type: 'string', default: '10.96.0.10' },
      'cluster-domain': { type: 'string', default: 'cluster.local' },
      'resolv-conf': { type: 'string', default: '/etc/resolv.conf' },
      'max-pods': { type: 'string', default: String(KUBELET_DEFAULTS.maxPods) },
      'node-labels': { type: 'string', default: '' },
      address: { type: 'string', default: '0.0.0.0' },
      'read-only-port': { type: 'string', default: String(READ_ONLY_PORT) },
      port: { type: 'string', default: String(KUBELET_PORT) },
      'proxy-mode': { type: 'string', default: 'iptables' },
      'no-proxy': { type: 'boolean', default: false },
      'no-dns': { type: 'boolean', default: false },
      'dns-port': { type: 'string', default: '53' },
      cleanup: { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'info' },
    },
  });
  const logger = pino({ level: v['log-level'], base: { component: 'node', node: v['node-name'] } });
  if (v.cleanup) {
    const r = await cleanupNode({ clusterDNS: v['cluster-dns']!, clusterCidr: v['cluster-cidr']!, bridge: v.bridge! });
    logger.info(r, 'removed the node daemon rules, routes and addresses');
    return 0;
  }
  let creds: NodeCredentials;
  if (v.kubeconfig) creds = loadKubeconfig(v.kubeconfig);
  else if (v.api) creds = { servers: [] };
  else throw new UsageError('--kubeconfig is required (or --api for a cluster without TLS)');
  if (v.api) creds.servers = v.api.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of creds.servers) if (!/^https?:\/\/[^/]+$/.test(s.replace(/\/$/, ''))) throw new UsageError(`--api: not an http(s) URL: ${s}`);
  const proxyMode = v['proxy-mode']!;
  if (proxyMode !== 'iptables' && proxyMode !== 'nftables') throw new UsageError(`--proxy-mode: iptables or nftables, got ${JSON.stringify(proxyMode)}`);
  if (!v['cgroup-root']!.startsWith('/')) throw new UsageError(`--cgroup-root: an absolute cgroup path, got ${JSON.stringify(v['cgroup-root'])}`);
  const labels: Record<string, string> = {};
  for (const kv of v['node-labels']!.split(',').filter(Boolean)) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--node-labels: expected k=v, got ${kv}`);
    labels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const daemon = new NodeDaemon({
    credentials: creds,
    nodeName: v['node-name']!,
    nodeIP: v['node-ip']!,
    containerdSocket: v['containerd-socket']!,
    rootDir: v['root-dir']!,
    podLogDir: v['pod-log-dir']!,
    cgroupRoot: v['cgroup-root']!,
    cniConfDir: v['cni-conf-dir']!,
    bridge: v.bridge!,
    clusterCidr: v['cluster-cidr']!,
    clusterDNS: v['cluster-dns']!,
    clusterDomain: v['cluster-domain']!,
    resolvConf: v['resolv-conf']!,
    maxPods: int('max-pods', v['max-pods']!, 1, 10_000),
    labels,
    listenHost: v.address!,
    readOnlyPort: int('read-only-port', v['read-only-port']!, -1, 65535),
    kubeletPort: int('port', v.port!, 0, 65535),
    proxy: !v['no-proxy'],
    proxyMode,
    dns: !v['no-dns'],
    dnsPort: int('dns-port', v['dns-port']!, 0, 65535),
    logger,
  });
  await daemon.start();
  process.stdout.write(`READY ${JSON.stringify({ node: v['node-name'], readOnlyPort: daemon.readOnlyPort, kubeletPort: daemon.kubeletPort, dnsPort: daemon.dnsPort })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
  });
  logger.info({}, 'shutting down (pods keep running)');
  await daemon.stop();
  return 0;
}

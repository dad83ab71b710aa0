/**
 * The DNS settings a Pod's containers get (its resolv.conf), as upstream
 * kubelet forms them (pkg/kubelet/network/dns):
 *
 * - ClusterFirst (the default; ClusterFirstWithHostNet also for hostNetwork
 *   Pods): the cluster DNS IPs are the only nameservers; search is
 *   `<ns>.svc.<domain> svc.<domain> <domain>` then the host's searches;
 *   options are `ndots:5`. A hostNetwork Pod with ClusterFirst, or a node
 *   without cluster DNS IPs, falls back to Default.
 * - Default: the host's resolv.conf (nameservers, last search line, last
 *   options line); with no host resolv.conf, the node's loopback and search ".".
 * - None: nothing but the Pod's dnsConfig.
 *
 * The Pod's `dnsConfig` is then appended: nameservers and searches after the
 * policy's, duplicates dropped; options merged by name, the Pod's winning.
 * Finally the limits: at most 3 nameservers, 32 search paths, none longer
 * than 253 characters, 2048 characters in the search line; the excess is cut
 * as kubelet does. The Pod's own dnsConfig is validated like the apiserver
 * does and gets DNS_ERR_RESOLV_INVALID when wrong.
 *
 * The result has CRI's `DNSConfig` shape (`servers`, `searches`, `options`),
 * which RunPodSandbox takes; `formatResolvConf` renders the file itself.
 */
import { isIP } from 'node:net';
import type { KubeObject } from '../../control/apiserver/index.js';
import { DnsError } from './errors.js';

export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

/** runtime.v1 DNSConfig. */
export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface NodeDnsSettings {
  /** The cluster DNS Service IPs (kubelet --cluster-dns), e.g. ['10.96.0.10']. Empty: no cluster DNS. */
  clusterDNS: string[];
  /** kubelet --cluster-domain, e.g. 'cluster.local'. Empty: no cluster searches. */
  clusterDomain: string;
  /** The text of the host's resolv.conf (kubelet --resolv-conf), or null when there is none. */
  hostResolvConf: string | null;
  /** The node's IPs: which loopback stands in when there is no host resolv.conf. */
  nodeIPs: string[];
}

export const MAX_DNS_NAMESERVERS = 3;
export const MAX_DNS_SEARCH_PATHS = 32;
export const MAX_DNS_SEARCH_LIST_CHARS = 2048;
export const MAX_DNS_NAME_CHARS = 253;
export const MAX_DNS_OPTIONS = 32;
export const MAX_RESOLV_CONF_BYTES = 1 << 20;
const CLUSTER_DNS_OPTIONS = ['ndots:5'];
const POLICIES: readonly DnsPolicy[] = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function invalid(detail: string): never {
  throw new DnsError('DNS_ERR_RESOLV_INVALID', detail);
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

/** Parses resolv.conf text like kubelet: nameservers accumulate; the last search and options lines win. */
export function parseResolvConf(text: string): DnsConfig {
  if (text.length > MAX_RESOLV_CONF_BYTES) invalid(`resolv.conf of ${text.length} bytes, at most ${MAX_RESOLV_CONF_BYTES}`);
  const out: DnsConfig = { servers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('#') || t.startsWith(';')) continue;
    const f = t.split(/\s+/).filter((x) => x !== '');
    if (f[0] === 'nameserver') {
      if (f.length < 2) invalid('resolv.conf: nameserver line without an address');
      out.servers.push(f[1]!);
    } else if (f[0] === 'search') {
      out.searches = f.slice(1).map((s) => (s.length > 1 && s.endsWith('.') ? s.slice(0, -1) : s));
    } else if (f[0] === 'options') {
      out.options = f.slice(1);
    }
  }
  return out;
}

/** The pod's DNS settings for its sandbox. Throws DNS_ERR_RESOLV_INVALID for an invalid policy or dnsConfig. */
export function podDnsConfig(pod: KubeObject, node: NodeDnsSettings): DnsConfig {
  const spec = pod.spec ?? {};
  const namespace = pod.metadata.namespace ?? 'default';
  const policy: unknown = spec.dnsPolicy ?? 'ClusterFirst';
  if (!POLICIES.includes(policy as DnsPolicy)) invalid(`dnsPolicy ${JSON.stringify(policy)}`);
  const podConfig = validatePodDnsConfig(spec.dnsConfig, policy as DnsPolicy);
  for (const ip of node.clusterDNS) if (isIP(ip) === 0) invalid(`cluster DNS address ${JSON.stringify(ip)}`);
  const hostNetwork = spec.hostNetwork === true;
  const useCluster = (policy === 'ClusterFirst' && !hostNetwork) || policy === 'ClusterFirstWithHostNet';
  const host = node.hostResolvConf === null ? null : parseResolvConf(node.hostResolvConf);
  let cfg: DnsConfig;
  if (policy === 'None') {
    cfg = { servers: [], searches: [], options: [] };
  } else if (useCluster && node.clusterDNS.length > 0) {
    const d = node.clusterDomain.replace(/\.$/, '');
    const cluster = d === '' ? [] : [`${namespace}.svc.${d}`, `svc.${d}`, d];
    cfg = { servers: [...node.clusterDNS], searches: dedupe([...cluster, ...(host?.searches ?? [])]), options: [...CLUSTER_DNS_OPTIONS] };
  } else if (host) {
    cfg = host;
  } else {
    // kubelet with --resolv-conf="": the node's own resolver, no searches.
    const loops = node.nodeIPs.map((ip) => (isIP(ip) === 6 ? '::1' : '127.0.0.1'));
    cfg = { servers: loops.length > 0 ? loops : ['127.0.0.1'], searches: ['.'], options: [] };
  }
  if (podConfig) {
    cfg = {
      servers: dedupe([...cfg.servers, ...podConfig.nameservers]),
      searches: dedupe([...cfg.searches, ...podConfig.searches]),
      options: mergeOptions(cfg.options, podConfig.options),
    };
  }
  return { servers: cfg.servers.slice(0, MAX_DNS_NAMESERVERS), searches: fitSearches(cfg.searches), options: cfg.options };
}

/** resolv.conf text for a DnsConfig (what the runtime writes into the sandbox). */
export function formatResolvConf(cfg: DnsConfig): string {
  let out = '';
  if (cfg.searches.length > 0) out += `search ${cfg.searches.join(' ')}\n`;
  for (const s of cfg.servers) out += `nameserver ${s}\n`;
  if (cfg.options.length > 0) out += `options ${cfg.options.join(' ')}\n`;
  return out;
}

interface PodDnsConfig {
  nameservers: string[];
  searches: string[];
  options: { name: string; value: string | null }[];
}

/** The apiserver's checks of spec.dnsConfig (pkg/apis/core/validation validatePodDNSConfig). */
function validatePodDnsConfig(raw: unknown, policy: DnsPolicy): PodDnsConfig | null {
  if (raw === undefined || raw === null) {
    if (policy === 'None') invalid('dnsPolicy None needs a dnsConfig');
    return null;
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) invalid('dnsConfig is not an object');
  const c = raw as Record<string, unknown>;
  const list = (v: unknown, what: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) invalid(`dnsConfig.${what} is not a list`);
    return v;
  };
  const nameservers = list(c.nameservers, 'nameservers').map((ns) => {
    if (typeof ns !== 'string' || isIP(ns) === 0) invalid(`dnsConfig nameserver ${JSON.stringify(ns)} is not an IP address`);
    return ns;
  });
  if (nameservers.length > MAX_DNS_NAMESERVERS) invalid(`dnsConfig has ${nameservers.length} nameservers, at most ${MAX_DNS_NAMESERVERS}`);
  if (policy === 'None' && nameservers.length === 0) invalid('dnsPolicy None needs at least one dnsConfig nameserver');
  const searches = list(c.searches, 'searches').map((s) => {
    if (typeof s !== 'string') invalid(`dnsConfig search ${JSON.stringify(s)}`);
    const t = s.length > 1 && s.endsWith('.') ? s.slice(0, -1) : s;
    if (t !== '.' && (t.length > MAX_DNS_NAME_CHARS || !SUBDOMAIN.test(t) || t.split('.').some((l) => l.length > 63))) invalid(`dnsConfig search ${JSON.stringify(s)} is not a DNS subdomain`);
    return t;
  });
  if (searches.length > MAX_DNS_SEARCH_PATHS) invalid(`dnsConfig has ${searches.length} searches, at most ${MAX_DNS_SEARCH_PATHS}`);
  if (searches.join(' ').length > MAX_DNS_SEARCH_LIST_CHARS) invalid(`dnsConfig search line longer than ${MAX_DNS_SEARCH_LIST_CHARS} characters`);
  const rawOptions = list(c.options, 'options');
  if (rawOptions.length > MAX_DNS_OPTIONS) invalid(`dnsConfig has ${rawOptions.length} options, at most ${MAX_DNS_OPTIONS}`);
  const options = rawOptions.map((o) => {
    const name = (o as { name?: unknown } | null)?.name;
    const value = (o as { value?: unknown } | null)?.value;
    if (typeof name !== 'string' || name === '' || /[\s:]/.test(name)) invalid(`dnsConfig option name ${JSON.stringify(name)}`);
    if (value !== undefined && value !== null && (typeof value !== 'string' || /\s/.test(value))) invalid(`dnsConfig option ${name} value ${JSON.stringify(value)}`);
    return { name, value: typeof value === 'string' ? value : null };
  });
  return { nameservers, searches, options };
}

/** Options by name, the Pod's overriding; order kept (existing first, new ones after) so output is stable. */
function mergeOptions(existing: string[], pods: { name: string; value: string | null }[]): string[] {
  const m = new Map<string, string | null>();
  for (const op of existing) {
    const i = op.indexOf(':');
    m.set(i < 0 ? op : op.slice(0, i), i < 0 ? null : op.slice(i + 1));
  }
  for (const op of pods) m.set(op.name, op.value);
  return [...m].map(([k, v]) => (v === null || v === '' ? k : `${k}:${v}`));
}

/** kubelet's formDNSSearchFitsLimits: at most 32 paths, none over 253 characters, a line of at most 2048. */
function fitSearches(searches: string[]): string[] {
  let out = searches.slice(0, MAX_DNS_SEARCH_PATHS).filter((s) => s.length <= MAX_DNS_NAME_CHARS);
  let line = out.join(' ').length;
  while (line > MAX_DNS_SEARCH_LIST_CHARS && out.length > 0) {
    line -= out[out.length - 1]!.length + (out.length > 1 ? 1 : 0);
    out = out.slice(0, -1);
  }
  return out;
}

/**
 * The pure core of the proxy: Services and EndpointSlices (plain upstream
 * JSON) in, iptables-restore text out, in kube-proxy's chain shape.
 *
 * nat table:
 *   PREROUTING, OUTPUT → KUBE-SERVICES → KUBE-SVC-<h> (one per service port, random spread)
 *                                       → KUBE-SEP-<h> (one per endpoint, DNAT)
 *   KUBE-SERVICES (last rule) → KUBE-NODEPORTS → KUBE-EXT-<h> (mark for masquerade) → KUBE-SVC-<h>
 *   POSTROUTING → KUBE-POSTROUTING: MASQUERADE what KUBE-MARK-MASQ marked.
 * filter table (a REJECT is not allowed in nat):
 *   OUTPUT, FORWARD → KUBE-SERVICES: REJECT for ClusterIPs without endpoints;
 *   INPUT, FORWARD → KUBE-EXTERNAL-SERVICES: REJECT for NodePorts without endpoints;
 *   FORWARD → KUBE-FORWARD: accept marked and established service traffic.
 *
 * Chain names are upstream's: "KUBE-SVC-" + the first 16 base32 characters of
 * sha256(servicePortName + protocol), KUBE-SEP with the endpoint "ip:port"
 * appended, KUBE-EXT with the service port's hash. The same cluster state
 * therefore gives the same chains as kube-proxy.
 *
 * Nothing here does I/O, reads clocks or draws random numbers.
 */
import * as crypto from 'node:crypto';
import type { KubeObject } from '../../control/apiserver/index.js';
import { ProxyError } from './errors.js';

export type Protocol = 'TCP' | 'UDP';

/** The node-level facts the rules depend on. */
export interface ProxyNodeConfig {
  /** Pod range of the cluster: traffic to a ClusterIP from outside it is masqueraded. */
  readonly clusterCIDR: string;
  /** Which bit of the packet mark means "masquerade me" (upstream: 14, i.e. 0x4000). */
  readonly masqueradeBit: number;
  /** Addresses (CIDRs or IPs) NodePorts answer on; empty = every local address (addrtype LOCAL). */
  readonly nodePortAddresses: readonly string[];
}

export const DEFAULT_NODE_CONFIG: ProxyNodeConfig = { clusterCIDR: '10.244.0.0/16', masqueradeBit: 14, nodePortAddresses: [] };

/** Upstream's default stickiness for sessionAffinity ClientIP (3 hours). */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10800;

/** One port of one Service: the unit kube-proxy programs. */
export interface ServicePortInfo {
  /** "ns/name:port" (or "ns/name" when the port has no name): upstream's ServicePortName. */
  readonly name: string;
  /** "ns/name" of the Service. */
  readonly service: string;
  readonly portName: string;
  readonly protocol: Protocol;
  readonly clusterIP: string;
  readonly port: number;
  /** 0 when the Service has no NodePort for this port. */
  readonly nodePort: number;
  /** 0 when sessionAffinity is not ClientIP. */
  readonly affinitySeconds: number;
}

/** One address of an EndpointSlice with the slice port resolved. */
export interface EndpointInfo {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
}

/** What an EndpointSlice contributes: endpoints per (port name, protocol). */
export interface SliceInfo {
  /** "ns/name" of the Service it belongs to (label kubernetes.io/service-name). */
  readonly service: string;
  /** Keyed by `${portName}/${protocol}`. */
  readonly byPort: ReadonlyMap<string, readonly EndpointInfo[]>;
}

/**
 * Everything generated for one service port; the unit of a partial sync.
 * Rules in the shared chains are complete iptables-restore lines
 * ("-A CHAIN ..."); the port's own chains are written on demand by
 * writeOwnChains, so a big cluster's state does not hold its whole rule text.
 */
export interface ServicePortRules {
  /** Unique per service port: the KUBE-SVC chain name (a hash of name and protocol). */
  readonly key: string;
  readonly info: ServicePortInfo;
  /** The endpoints used, "ip:port", sorted. */
  readonly endpoints: readonly string[];
  /** Lines in nat KUBE-SERVICES. */
  readonly natServices: readonly string[];
  /** Lines in nat KUBE-NODEPORTS. */
  readonly natNodePorts: readonly string[];
  /** This port's own nat chains: KUBE-SVC, then one KUBE-SEP per endpoint (same order), then KUBE-EXT if any. Empty without endpoints. */
  readonly chainNames: readonly string[];
  /** Lines in filter KUBE-SERVICES. */
  readonly filterServices: readonly string[];
  /** Lines in filter KUBE-EXTERNAL-SERVICES. */
  readonly filterExternal: readonly string[];
}

export const CHAIN = {
  services: 'KUBE-SERVICES',
  nodePorts: 'KUBE-NODEPORTS',
  postrouting: 'KUBE-POSTROUTING',
  markMasq: 'KUBE-MARK-MASQ',
  externalServices: 'KUBE-EXTERNAL-SERVICES',
  forward: 'KUBE-FORWARD',
} as const;

/** Chains this proxy owns per table (besides the per-service ones, recognised by prefix). */
export const FIXED_CHAINS = {
  nat: [CHAIN.services, CHAIN.nodePorts, CHAIN.postrouting, CHAIN.markMasq],
  filter: [CHAIN.services, CHAIN.externalServices, CHAIN.forward],
} as const;

/** Per-service chain prefixes: any chain starting with one of these in nat is ours. */
export const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SEP-', 'KUBE-EXT-'] as const;

export type Table = 'nat' | 'filter';

/** A rule in a built-in chain that sends traffic to ours; installed idempotently, removed by cleanup. */
export interface JumpRule {
  readonly table: Table;
  readonly chain: string;
  readonly spec: readonly string[];
}

/** The jump rules, as argv words (for iptables -C/-I/-D). */
export const JUMP_RULES: readonly JumpRule[] = [
  { table: 'nat', chain: 'PREROUTING', spec: ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', CHAIN.services] },
  { table: 'nat', chain: 'OUTPUT', spec: ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', CHAIN.services] },
  { table: 'nat', chain: 'POSTROUTING', spec: ['-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', CHAIN.postrouting] },
  { table: 'filter', chain: 'OUTPUT', spec: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', CHAIN.services] },
  { table: 'filter', chain: 'FORWARD', spec: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', CHAIN.services] },
  { table: 'filter', chain: 'INPUT', spec: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals', '-j', CHAIN.externalServices] },
  { table: 'filter', chain: 'FORWARD', spec: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals', '-j', CHAIN.externalServices] },
  { table: 'filter', chain: 'FORWARD', spec: ['-m', 'comment', '--comment', 'kubernetes forwarding rules', '-j', CHAIN.forward] },
];

// ---------------------------------------------------------------------------
// Validation helpers

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: unknown): s is string {
  return typeof s === 'string' && IPV4.test(s);
}

export function isIPv4CIDR(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const [ip, bits, extra] = s.split('/');
  return extra === undefined && isIPv4(ip) && (bits === undefined || (/^\d{1,2}$/.test(bits) && Number(bits) <= 32));
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

export function validateNodeConfig(cfg: ProxyNodeConfig): void {
  if (!isIPv4CIDR(cfg.clusterCIDR)) throw new ProxyError('PROXY_ERR_INVALID_CONFIG', `clusterCIDR ${JSON.stringify(cfg.clusterCIDR)} is not an IPv4 CIDR`);
  if (!Number.isInteger(cfg.masqueradeBit) || cfg.masqueradeBit < 0 || cfg.masqueradeBit > 31) {
    throw new ProxyError('PROXY_ERR_INVALID_CONFIG', `masqueradeBit ${cfg.masqueradeBit} is not within 0..31`);
  }
  for (const a of cfg.nodePortAddresses) {
    if (!isIPv4CIDR(a)) throw new ProxyError('PROXY_ERR_INVALID_CONFIG', `nodePortAddresses entry ${JSON.stringify(a)} is not an IPv4 address or CIDR`);
  }
}

export function masqueradeMark(bit: number): string {
  return `0x${(2 ** bit).toString(16)}`;
}

// ---------------------------------------------------------------------------
// Chain names (upstream's hashes)

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** crypto.hash (Node >= 20.12) skips the Hash object; a full sync hashes one name per endpoint. */
const sha256: (s: string) => Buffer = typeof (crypto as { hash?: unknown }).hash === 'function'
  ? (s) => crypto.hash('sha256', s, 'buffer')
  : (s) => crypto.createHash('sha256').update(s).digest();

/** The first 16 characters of base32(sha256(s)): 80 bits, i.e. the first 10 bytes. */
export function hash16(s: string): string {
  const d = sha256(s);
  let out = '';
  for (let i = 0; i < 10; i += 5) {
    // 5 bytes = 40 bits = 8 characters; split in two 20-bit halves to stay within 32-bit ints.
    const hi = (d[i]! << 12) | (d[i + 1]! << 4) | (d[i + 2]! >> 4);
    const lo = ((d[i + 2]! & 0x0f) << 16) | (d[i + 3]! << 8) | d[i + 4]!;
    for (const v of [hi, lo]) out += BASE32[(v >> 15) & 31]! + BASE32[(v >> 10) & 31]! + BASE32[(v >> 5) & 31]! + BASE32[v & 31]!;
  }
  return out;
}

export function serviceChainName(servicePortName: string, protocol: Protocol): string {
  return `KUBE-SVC-${hash16(servicePortName + protocol.toLowerCase())}`;
}

export function externalChainName(servicePortName: string, protocol: Protocol): string {
  return `KUBE-EXT-${hash16(servicePortName + protocol.toLowerCase())}`;
}

export function endpointChainName(servicePortName: string, protocol: Protocol, endpoint: string): string {
  return `KUBE-SEP-${hash16(servicePortName + protocol.toLowerCase() + endpoint)}`;
}

// ---------------------------------------------------------------------------
// Objects → infos

function nsName(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}`;
}

/**
 * The service ports kube-proxy programs for a Service: none for headless,
 * ExternalName or non-IPv4 Services; ports with other protocols (SCTP) are
 * skipped. Malformed fields are a typed error.
 */
export function servicePortsOf(svc: KubeObject): ServicePortInfo[] {
  const spec = (svc.spec ?? {}) as Record<string, any>;
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return [];
  const clusterIP = spec.clusterIP;
  if (clusterIP === undefined || clusterIP === '' || clusterIP === 'None') return [];
  if (typeof clusterIP !== 'string') throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `service ${nsName(svc)}: spec.clusterIP is not a string`);
  if (!isIPv4(clusterIP)) {
    if ((clusterIP as string).includes(':')) return []; // IPv6 single-stack: not programmed by this IPv4 proxy
    throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `service ${nsName(svc)}: spec.clusterIP ${JSON.stringify(clusterIP)} is not an IP address`);
  }
  const ports = spec.ports ?? [];
  if (!Array.isArray(ports)) throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `service ${nsName(svc)}: spec.ports is not a list`);
  const affinity = spec.sessionAffinity === 'ClientIP'
    ? Number(spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS)
    : 0;
  if (!Number.isInteger(affinity) || affinity < 0 || affinity > 86400) {
    throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `service ${nsName(svc)}: sessionAffinityConfig.clientIP.timeoutSeconds ${affinity} is not within 1..86400`);
  }
  const service = nsName(svc);
  const out: ServicePortInfo[] = [];
  for (const p of ports) {
    const protocol = p?.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP') continue;
    if (!isPort(p.port)) throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `service ${service}: port ${JSON.stringify(p.port)} is not within 1..65535`);
    const withNodePort = type === 'NodePort' || type === 'LoadBalancer';
    const nodePort = withNodePort && p.nodePort !== undefined && p.nodePort !== 0 ? p.nodePort : 0;
    if (nodePort !== 0 && !isPort(nodePort)) throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `service ${service}: nodePort ${JSON.stringify(nodePort)} is not within 1..65535`);
    const portName = typeof p.name === 'string' ? p.name : '';
    out.push({
      name: portName ? `${service}:${portName}` : service,
      service,
      portName,
      protocol,
      clusterIP,
      port: p.port,
      nodePort,
      affinitySeconds: affinity,
    });
  }
  return out;
}

/** The Service an EndpointSlice belongs to, or null when it has no service-name label. */
export function sliceServiceOf(slice: KubeObject): string | null {
  const svc = slice.metadata.labels?.['kubernetes.io/service-name'];
  return typeof svc === 'string' && svc !== '' ? `${slice.metadata.namespace ?? 'default'}/${svc}` : null;
}

/** The endpoints of an IPv4 EndpointSlice by port; other address types give an empty map. */
export function sliceInfoOf(slice: KubeObject, maxEndpoints: number): SliceInfo | null {
  const service = sliceServiceOf(slice);
  if (service === null) return null;
  const byPort = new Map<string, EndpointInfo[]>();
  if (slice.addressType !== 'IPv4') return { service, byPort };
  const ports = slice.ports ?? [];
  const endpoints = slice.endpoints ?? [];
  if (!Array.isArray(ports) || !Array.isArray(endpoints)) {
    throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `endpointslice ${nsName(slice)}: ports and endpoints must be lists`);
  }
  if (endpoints.length > maxEndpoints) {
    throw new ProxyError('PROXY_ERR_TOO_MANY_RULES', `endpointslice ${nsName(slice)} has ${endpoints.length} endpoints (limit ${maxEndpoints})`);
  }
  for (const p of ports) {
    const protocol = p?.protocol ?? 'TCP';
    if (protocol !== 'TCP' && protocol !== 'UDP') continue;
    if (!isPort(p.port)) continue; // a slice port without a number matches nothing upstream either
    const list: EndpointInfo[] = [];
    for (const ep of endpoints) {
      const c = ep?.conditions ?? {};
      // Upstream: a nil condition means "unknown", which counts as ready/serving; terminating defaults to false.
      const ready = c.ready !== false;
      const serving = c.serving === undefined ? ready : c.serving !== false;
      const terminating = c.terminating === true;
      for (const ip of ep?.addresses ?? []) {
        if (!isIPv4(ip)) throw new ProxyError('PROXY_ERR_INVALID_OBJECT', `endpointslice ${nsName(slice)}: address ${JSON.stringify(ip)} is not an IPv4 address`);
        list.push({ ip, port: p.port, ready, serving, terminating });
      }
    }
    const key = `${typeof p.name === 'string' ? p.name : ''}/${protocol}`;
    byPort.set(key, (byPort.get(key) ?? []).concat(list));
  }
  return { service, byPort };
}

/**
 * The endpoints a service port sends to, "ip:port" sorted: the ready ones;
 * when none is ready, the serving-and-terminating ones (upstream's fallback
 * that lets connections drain during a rollout).
 */
export function usableEndpoints(sp: ServicePortInfo, slices: Iterable<SliceInfo>): string[] {
  const ready = new Set<string>();
  const terminating = new Set<string>();
  const key = `${sp.portName}/${sp.protocol}`;
  for (const s of slices) {
    for (const ep of s.byPort.get(key) ?? []) {
      const addr = `${ep.ip}:${ep.port}`;
      if (ep.ready) ready.add(addr);
      else if (ep.serving && ep.terminating) terminating.add(addr);
    }
  }
  return [...(ready.size > 0 ? ready : terminating)].sort();
}

// ---------------------------------------------------------------------------
// Rules for one service port

/** Upstream's probability for the i-th of n endpoints: 1/(n-i), printed with 10 decimals. */
export function probability(i: number, n: number): string {
  return (1 / (n - i)).toFixed(10);
}

function comment(text: string): string {
  return text.includes(' ') ? `-m comment --comment "${text}"` : `-m comment --comment ${text}`;
}

/** Builds everything one service port needs, given its usable endpoints. */
export function servicePortRules(sp: ServicePortInfo, endpoints: readonly string[]): ServicePortRules {
  const proto = sp.protocol.toLowerCase();
  const svcChain = serviceChainName(sp.name, sp.protocol);
  const match = `-m ${proto} -p ${proto}`;
  const base = { key: svcChain, info: sp, endpoints };
  if (endpoints.length === 0) {
    const c = comment(`${sp.name} has no endpoints`);
    return {
      ...base,
      natServices: [],
      natNodePorts: [],
      chainNames: [],
      filterServices: [`-A ${CHAIN.services} ${c} ${match} -d ${sp.clusterIP} --dport ${sp.port} -j REJECT`],
      filterExternal: sp.nodePort ? [`-A ${CHAIN.externalServices} ${c} -m addrtype --dst-type LOCAL ${match} --dport ${sp.nodePort} -j REJECT`] : [],
    };
  }
  const names = [svcChain];
  for (const ep of endpoints) names.push(endpointChainName(sp.name, sp.protocol, ep));
  const natNodePorts: string[] = [];
  if (sp.nodePort) {
    const ext = externalChainName(sp.name, sp.protocol);
    names.push(ext);
    natNodePorts.push(`-A ${CHAIN.nodePorts} ${comment(sp.name)} ${match} --dport ${sp.nodePort} -j ${ext}`);
  }
  return {
    ...base,
    natServices: [`-A ${CHAIN.services} ${comment(`${sp.name} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${sp.port} -j ${svcChain}`],
    natNodePorts,
    chainNames: names,
    filterServices: [],
    filterExternal: [],
  };
}

/**
 * The port's own chains as iptables-restore text: one ":CHAIN - [0:0]" line
 * per chain (which also flushes it under --noflush), then their rules; every
 * line newline-terminated. Empty when the port has no endpoints.
 */
export function writeOwnChains(r: ServicePortRules, cfg: ProxyNodeConfig): { decl: string; rules: string } {
  if (r.chainNames.length === 0) return { decl: '', rules: '' };
  const sp = r.info;
  const eps = r.endpoints;
  const names = r.chainNames;
  const svcChain = names[0]!;
  const proto = sp.protocol.toLowerCase();
  const match = `-m ${proto} -p ${proto}`;
  const epComment = comment(sp.name);
  let decl = '';
  for (const c of names) decl += `:${c} - [0:0]\n`;
  let rules = `-A ${svcChain} ${comment(`${sp.name} cluster IP`)} ${match} -d ${sp.clusterIP} --dport ${sp.port} ! -s ${cfg.clusterCIDR} -j ${CHAIN.markMasq}\n`;
  if (sp.affinitySeconds > 0) {
    for (let i = 0; i < eps.length; i++) {
      rules += `-A ${svcChain} ${comment(`${sp.name} -> ${eps[i]}`)} -m recent --name ${names[i + 1]} --rcheck --seconds ${sp.affinitySeconds} --reap -j ${names[i + 1]}\n`;
    }
  }
  for (let i = 0; i < eps.length; i++) {
    const spread = i < eps.length - 1 ? ` -m statistic --mode random --probability ${probability(i, eps.length)}` : '';
    rules += `-A ${svcChain} ${comment(`${sp.name} -> ${eps[i]}`)}${spread} -j ${names[i + 1]}\n`;
  }
  for (let i = 0; i < eps.length; i++) {
    const ep = eps[i]!;
    const sep = names[i + 1]!;
    const recent = sp.affinitySeconds > 0 ? ` -m recent --name ${sep} --set` : '';
    // Hairpin: a pod reaching itself through the Service must see the reply come from the Service.
    rules += `-A ${sep} ${epComment} -s ${ep.slice(0, ep.lastIndexOf(':'))} -j ${CHAIN.markMasq}\n`;
    rules += `-A ${sep} ${epComment}${recent} ${match} -j DNAT --to-destination ${ep}\n`;
  }
  if (sp.nodePort) {
    const ext = names[names.length - 1]!;
    rules += `-A ${ext} ${comment(`masquerade traffic for ${sp.name} external destinations`)} -j ${CHAIN.markMasq}\n`;
    rules += `-A ${ext} -j ${svcChain}\n`;
  }
  return { decl, rules };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when two generations of a service port program exactly the same rules. */
export function sameRules(a: ServicePortRules, b: ServicePortRules): boolean {
  // The own chains' text is a function of info and endpoints (and the node config, fixed per proxier).
  const x = a.info;
  const y = b.info;
  const sameInfo = x.name === y.name && x.protocol === y.protocol && x.clusterIP === y.clusterIP && x.port === y.port
    && x.nodePort === y.nodePort && x.affinitySeconds === y.affinitySeconds;
  return sameInfo && sameList(a.endpoints, b.endpoints) && sameList(a.chainNames, b.chainNames)
    && sameList(a.natServices, b.natServices) && sameList(a.natNodePorts, b.natNodePorts)
    && sameList(a.filterServices, b.filterServices) && sameList(a.filterExternal, b.filterExternal);
}

// ---------------------------------------------------------------------------
// Whole rule sets

/** The fixed chains' rules (nat KUBE-POSTROUTING, KUBE-MARK-MASQ). */
function fixedNatRules(cfg: ProxyNodeConfig): string[] {
  const mark = masqueradeMark(cfg.masqueradeBit);
  return [
    `-A ${CHAIN.postrouting} -m mark ! --mark ${mark}/${mark} -j RETURN`,
    // Clear the bit so a packet that is re-injected (e.g. through a tunnel) is not masqueraded twice.
    `-A ${CHAIN.postrouting} -j MARK --xor-mark ${mark}`,
    `-A ${CHAIN.postrouting} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
    `-A ${CHAIN.markMasq} -j MARK --or-mark ${mark}`,
  ];
}

function nodePortJumps(cfg: ProxyNodeConfig): string[] {
  const text = 'kubernetes service nodeports; NOTE: this must be the last rule in this chain';
  if (cfg.nodePortAddresses.length === 0) return [`-A ${CHAIN.services} ${comment(text)} -m addrtype --dst-type LOCAL -j ${CHAIN.nodePorts}`];
  return cfg.nodePortAddresses.map((a) => `-A ${CHAIN.services} ${comment(text)} -d ${a} -j ${CHAIN.nodePorts}`);
}

function declare(chains: Iterable<string>): string[] {
  const out: string[] = [];
  for (const c of chains) out.push(`:${c} - [0:0]`);
  return out;
}

export interface FullSyncInput {
  readonly rules: Iterable<ServicePortRules>;
  /** Per-service nat chains present in the kernel now that the new rules do not have: flushed and deleted. */
  readonly staleNatChains: Iterable<string>;
  /**
   * How many service ports go into one iptables-restore transaction before
   * the final one. iptables-nft's restore time grows faster than linearly
   * with the size of one transaction, so a full sync is cut into slices;
   * every slice leaves a consistent table (per-service chains first, the
   * KUBE-SERVICES chain that points at them last).
   */
  readonly chunkServicePorts: number;
}

/**
 * A full sync as a sequence of iptables-restore inputs (for `--noflush`) to
 * be applied in order: the per-service chains in slices, then one transaction
 * that rewrites KUBE-SERVICES, KUBE-NODEPORTS, the fixed chains and the
 * filter chains, and deletes stale chains. A generator, so the caller can
 * build slice k+1 while iptables-restore applies slice k.
 */
export function* fullSyncTransactions(input: FullSyncInput, cfg: ProxyNodeConfig): Generator<string, void, undefined> {
  if (!Number.isInteger(input.chunkServicePorts) || input.chunkServicePorts < 1) {
    throw new ProxyError('PROXY_ERR_INVALID_CONFIG', `chunkServicePorts ${input.chunkServicePorts} must be a positive integer`);
  }
  // The fixed chains go first: per-service chains jump to KUBE-MARK-MASQ.
  let decl: string[] = ['*nat\n', ...declare([CHAIN.postrouting, CHAIN.markMasq]).map((l) => `${l}\n`)];
  let body: string[] = fixedNatRules(cfg).map((l) => `${l}\n`);
  const services: string[] = [];
  const nodePorts: string[] = [];
  const filterServices: string[] = [];
  const filterExternal: string[] = [];
  let inChunk = 0;
  for (const r of input.rules) {
    for (const l of r.natServices) services.push(l);
    for (const l of r.natNodePorts) nodePorts.push(l);
    for (const l of r.filterServices) filterServices.push(l);
    for (const l of r.filterExternal) filterExternal.push(l);
    if (r.chainNames.length === 0) continue;
    const own = writeOwnChains(r, cfg);
    decl.push(own.decl);
    body.push(own.rules);
    if (++inChunk >= input.chunkServicePorts) {
      yield decl.join('') + body.join('') + 'COMMIT\n';
      decl = ['*nat\n'];
      body = [];
      inChunk = 0;
    }
  }
  const mark = masqueradeMark(cfg.masqueradeBit);
  const stale = [...input.staleNatChains];
  const final = [
    // The last partial slice, if any, shares the final transaction.
    decl.join('') + body.join('') + declare([CHAIN.services, CHAIN.nodePorts]).join('\n'),
    ...declare(stale), // flushed first so they no longer reference each other
    ...services,
    ...nodePortJumps(cfg),
    ...nodePorts,
    ...stale.map((c) => `-X ${c}`),
    'COMMIT',
    '*filter',
    ...declare(FIXED_CHAINS.filter),
    `-A ${CHAIN.forward} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    `-A ${CHAIN.forward} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
    ...filterServices,
    ...filterExternal,
    'COMMIT',
    '',
  ];
  yield final.join('\n');
}

/**
 * A partial sync as one iptables-restore input: only the service ports whose
 * rules changed (`before` → `after`, either may be absent for an added or
 * removed port). Their chains are rewritten, their rules in the shared chains
 * deleted by spec (`-D`) and re-added (`-I ... 1` in KUBE-SERVICES keeps the
 * NodePort jump last); chains no longer used are deleted. A `-D` for a rule
 * that is not there (drift) makes the whole transaction fail, which the
 * caller answers with a full sync. Returns null when nothing changed.
 */
export function partialSyncTransaction(
  changes: Iterable<readonly [before: ServicePortRules | undefined, after: ServicePortRules | undefined]>,
  cfg: ProxyNodeConfig,
): string | null {
  const declared: string[] = [];
  const natDel: string[] = [];
  const natAdd: string[] = [];
  const chainRules: string[] = [];
  const deleted: string[] = [];
  const filterDel: string[] = [];
  const filterAdd: string[] = [];
  let any = false;
  for (const [before, after] of changes) {
    if (before && after && sameRules(before, after)) continue;
    any = true;
    diffLines(before?.natServices, after?.natServices, natDel, natAdd, (l) => l.replace(/^-A (\S+)/, '-I $1 1'));
    diffLines(before?.natNodePorts, after?.natNodePorts, natDel, natAdd, (l) => l);
    diffLines(before?.filterServices, after?.filterServices, filterDel, filterAdd, (l) => l);
    diffLines(before?.filterExternal, after?.filterExternal, filterDel, filterAdd, (l) => l);
    if (after && after.chainNames.length) {
      const own = writeOwnChains(after, cfg);
      declared.push(own.decl.slice(0, -1));
      chainRules.push(own.rules.slice(0, -1));
    }
    const keep = new Set(after?.chainNames);
    for (const c of before?.chainNames ?? []) {
      if (keep.has(c)) continue;
      declared.push(`:${c} - [0:0]`);
      deleted.push(`-X ${c}`);
    }
  }
  if (!any) return null;
  const out: string[] = [];
  if (declared.length || natDel.length || natAdd.length) {
    // Deletions from the shared chains come before the -X of the chains they point at.
    out.push('*nat', ...declared, ...natDel, ...chainRules, ...natAdd, ...deleted, 'COMMIT');
  }
  if (filterDel.length || filterAdd.length) out.push('*filter', ...filterDel, ...filterAdd, 'COMMIT');
  out.push('');
  return out.join('\n');
}

function diffLines(before: readonly string[] | undefined, after: readonly string[] | undefined, del: string[], add: string[], toAdd: (l: string) => string): void {
  const b = new Set(before);
  const a = new Set(after);
  for (const l of b) if (!a.has(l)) del.push(`-D${l.slice(2)}`);
  for (const l of a) if (!b.has(l)) add.push(toAdd(l));
}

// ---------------------------------------------------------------------------
// iptables-save parsing

export interface SavedTable {
  /** Chains in declaration order, with their policy ("-" for user chains). */
  readonly chains: Map<string, string>;
  /** Rule lines ("-A CHAIN ...") per chain, in order. */
  readonly rules: Map<string, string[]>;
}

/** Parses `iptables-save` output into tables; unknown lines are ignored. */
export function parseIptablesSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let cur: SavedTable | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      cur = { chains: new Map(), rules: new Map() };
      tables.set(line.slice(1).trim(), cur);
    } else if (cur === null || line.startsWith('#') || line === '') {
      continue;
    } else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ');
      cur.chains.set(name!, policy ?? '-');
    } else if (line.startsWith('-A ')) {
      const chain = line.slice(3, line.indexOf(' ', 3) === -1 ? undefined : line.indexOf(' ', 3));
      const list = cur.rules.get(chain) ?? [];
      list.push(line);
      cur.rules.set(chain, list);
    } else if (line === 'COMMIT') {
      cur = null;
    }
  }
  return tables;
}

/** True for a chain name this proxy creates in the given table. */
export function isOwnChain(table: Table, chain: string): boolean {
  if ((FIXED_CHAINS[table] as readonly string[]).includes(chain)) return true;
  return table === 'nat' && SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

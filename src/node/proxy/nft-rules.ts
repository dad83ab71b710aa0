/**
 * The nftables mode's pure core: the same service ports (ServicePortRules,
 * built by rules.ts from Services and EndpointSlices) written as `nft -f`
 * scripts in kube-proxy's nftables shape (KEP 3866), in our own tables:
 *
 *   table ip skiff-proxy-<k> (one of NFT_SHARDS; a port's shard is picked by its name's hash)
 *     nat-prerouting, nat-output (nat hooks, dstnat) → services:
 *       ip daddr . meta l4proto . th dport vmap @service-ips      → goto service-<h>-ns/name/proto/port
 *       <local address> meta l4proto . th dport vmap @service-nodeports → goto external-<h>-…
 *     service-…: mark-for-masquerade unless from the cluster CIDR; then per
 *       endpoint i of N, in order: `numgen random mod (N-i) 0 … dnat to ip:port`
 *       (the last one unconditional: each endpoint gets 1/N, as iptables'
 *       statistic cascade). ClientIP affinity: first `ip saddr @affinity-<endpoint>
 *       … dnat` per endpoint, and every DNAT rule refreshes `update @affinity-… { ip saddr }`.
 *     external-…: mark-for-masquerade, goto service-…
 *   table ip skiff-proxy
 *     nat-postrouting → masquerading: hairpin (a DNATed packet whose source is
 *       its new destination: `ip saddr . ip daddr @hairpin-endpoints`, one
 *       "ip . ip" element per endpoint address) is marked; masquerade what is
 *       marked, clear the bit.
 *     filter-forward/-input/-output (filter hooks, priority -110, before DNAT):
 *       @no-endpoint-services / @no-endpoint-nodeports → goto reject-chain (reject)
 *
 * Why shards: the kernel re-validates every chain reachable in a table that
 * a transaction adds a DNAT or jump to, so a partial sync pays for one
 * shard, not for all Services (10,000 × 5 in one table: ~57 ms of kernel
 * time per commit, measured with strace).
 * NAT chains of several tables on one hook are run in priority order until
 * one of them has set up the translation, so only the port's own shard can DNAT.
 *
 * The shared chains never change with the Services; a Service's change is a
 * few map elements plus its own chains, so a partial sync is a small
 * transaction. Names: upstream's "<8 base32 chars of sha256>-<ns>/<name>/<proto>/<port>"
 * (affinity sets: "…__<ip>/<port>"), characters outside nft's identifier set replaced.
 *
 * Unlike upstream there are no per-endpoint chains and no anonymous verdict
 * maps, measured on this kernel with nft 1.0.6 at 10,000 Services × 5
 * endpoints: every `nft` run dumps all chains of the host first (cost ∝
 * chains), and a one-transaction load of 10,000 rules with anonymous
 * `numgen … map { … }` took 49 s of kernel time against 2 s for the cascade
 * of plain rules. One chain per service port keeps both small.
 *
 * Nothing here does I/O, reads clocks or draws random numbers.
 */
import { hash16, masqueradeMark, type ProxyNodeConfig, type ServicePortInfo, type ServicePortRules } from './rules.js';
import { ProxyError } from './errors.js';

/** Our main table; the shards are `${NFT_TABLE}-<k>`. Nothing outside these is ever touched. */
export const NFT_TABLE = 'skiff-proxy';
/** How many shard tables hold the service ports (a divisor of 32: the first base32 character of the hash picks one). */
export const NFT_SHARDS = 16;
const T = `ip ${NFT_TABLE}`;

/** "ip skiff-proxy-<k>". */
export function nftShardTable(k: number): string {
  return `ip ${NFT_TABLE}-${k}`;
}

/** True for the name of our main table or one of its shards (any shard count, so a cleanup finds those of another version). */
export function isOwnNftTable(name: string): boolean {
  return name === NFT_TABLE || new RegExp(`^${NFT_TABLE}-\\d+$`).test(name);
}

export const NFT_CHAIN = {
  natPrerouting: 'nat-prerouting',
  natOutput: 'nat-output',
  natPostrouting: 'nat-postrouting',
  filterForward: 'filter-forward',
  filterInput: 'filter-input',
  filterOutput: 'filter-output',
  markMasq: 'mark-for-masquerade',
  masquerading: 'masquerading',
  services: 'services',
  serviceEndpointsCheck: 'service-endpoints-check',
  nodePortEndpointsCheck: 'nodeport-endpoints-check',
  reject: 'reject-chain',
} as const;

/** The set of "ip . ip" per endpoint address, for hairpin detection after DNAT. */
export const NFT_HAIRPIN_SET = 'hairpin-endpoints';

export const NFT_MAP = {
  serviceIPs: 'service-ips',
  serviceNodePorts: 'service-nodeports',
  noEndpointServices: 'no-endpoint-services',
  noEndpointNodePorts: 'no-endpoint-nodeports',
} as const;

/** A shard's base chains. Priorities as upstream (dstnat = -100). */
const SHARD_BASE_CHAINS: readonly [string, string][] = [
  [NFT_CHAIN.natPrerouting, 'type nat hook prerouting priority dstnat ;'],
  [NFT_CHAIN.natOutput, 'type nat hook output priority -100 ;'],
];

/** A shard's other chains. */
const SHARD_CHAINS: readonly string[] = [NFT_CHAIN.services, NFT_CHAIN.markMasq];

/** The main table's base chains (srcnat = 100; filters at -110, before DNAT). */
const BASE_CHAINS: readonly [string, string][] = [
  [NFT_CHAIN.natPostrouting, 'type nat hook postrouting priority srcnat ;'],
  [NFT_CHAIN.filterForward, 'type filter hook forward priority -110 ;'],
  [NFT_CHAIN.filterInput, 'type filter hook input priority -110 ;'],
  [NFT_CHAIN.filterOutput, 'type filter hook output priority -110 ;'],
];

/** The main table's chains. */
const MAIN_CHAINS: readonly string[] = [
  ...BASE_CHAINS.map(([c]) => c),
  NFT_CHAIN.markMasq, NFT_CHAIN.masquerading, NFT_CHAIN.serviceEndpointsCheck, NFT_CHAIN.nodePortEndpointsCheck, NFT_CHAIN.reject,
];

const SHARD_MAP_TYPES: readonly [string, string][] = [
  [NFT_MAP.serviceIPs, 'ipv4_addr . inet_proto . inet_service : verdict'],
  [NFT_MAP.serviceNodePorts, 'inet_proto . inet_service : verdict'],
];

const MAP_TYPES: readonly [string, string][] = [
  [NFT_MAP.noEndpointServices, 'ipv4_addr . inet_proto . inet_service : verdict'],
  [NFT_MAP.noEndpointNodePorts, 'inet_proto . inet_service : verdict'],
];

/** nft limits chain and set names to 255 bytes; upstream truncates the readable part at 200. */
const NAME_BASE_MAX = 200;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function nameBase(readable: string): string {
  const safe = readable.replace(/[^A-Za-z0-9_./-]/g, '_');
  const name = `${hash16(readable).slice(0, 8)}-${safe}`;
  return name.length > NAME_BASE_MAX ? `${name.slice(0, NAME_BASE_MAX - 3)}...` : name;
}

/** The per-port object names of one service port in nftables mode. */
export interface NftPortNames {
  /** "ip skiff-proxy-<k>": the shard table that holds the port's chains and sets. */
  readonly table: string;
  readonly service: string;
  readonly external: string | null;
  /** Affinity sets, one per endpoint in the order of ServicePortRules.endpoints; empty without ClientIP affinity. */
  readonly affinitySets: readonly string[];
}

/** Names are asked for several times per sync (stale detection, generation); a port's rules object is immutable. */
const namesCache = new WeakMap<ServicePortRules, NftPortNames>();

export function nftPortNames(r: ServicePortRules): NftPortNames {
  let n = namesCache.get(r);
  if (!n) namesCache.set(r, (n = computePortNames(r)));
  return n;
}

/**
 * A service port's rules for nftables mode: the info and endpoints the nft
 * generator needs, without the iptables text (and its five hashes per port)
 * that servicePortRules builds. `key` only has to be unique per service port.
 */
export function nftServicePortRules(sp: ServicePortInfo, endpoints: readonly string[]): ServicePortRules {
  return { key: `${sp.name}/${sp.protocol}`, info: sp, endpoints, natServices: [], natNodePorts: [], chainNames: [], filterServices: [], filterExternal: [] };
}

function computePortNames(r: ServicePortRules): NftPortNames {
  const sp = r.info;
  const [ns, name] = sp.service.split('/') as [string, string];
  const base = `${ns}/${name}/${sp.protocol.toLowerCase()}/${sp.portName}`;
  const svcBase = nameBase(base);
  const table = nftShardTable(BASE32.indexOf(svcBase[0]!) % NFT_SHARDS);
  const affinitySets = sp.affinitySeconds > 0
    ? r.endpoints.map((ep) => {
      const i = ep.lastIndexOf(':');
      return `affinity-${nameBase(`${base}__${ep.slice(0, i)}/${ep.slice(i + 1)}`)}`;
    })
    : [];
  return { table, service: `service-${svcBase}`, external: sp.nodePort ? `external-${svcBase}` : null, affinitySets };
}

/** The chains a port owns (service, external), qualified ("ip <table> <chain>"); none without endpoints. */
export function nftPortChains(r: ServicePortRules, n = nftPortNames(r)): string[] {
  if (r.endpoints.length === 0) return [];
  return n.external ? [`${n.table} ${n.service}`, `${n.table} ${n.external}`] : [`${n.table} ${n.service}`];
}

/** The affinity sets a port owns, qualified ("ip <table> <set>"); none without endpoints. */
export function nftPortSets(r: ServicePortRules, n = nftPortNames(r)): string[] {
  if (r.endpoints.length === 0) return [];
  return n.affinitySets.map((s) => `${n.table} ${s}`);
}

/** The object name of a qualified "ip <table> <name>". */
export function nftObjectName(qualified: string): string {
  return qualified.slice(qualified.lastIndexOf(' ') + 1);
}

/** Map elements of one port: qualified map ("ip <table> <map>") → "key : verdict". */
export function nftPortElements(r: ServicePortRules, n = nftPortNames(r)): [map: string, key: string, verdict: string][] {
  const sp = r.info;
  const proto = sp.protocol.toLowerCase();
  const out: [string, string, string][] = [];
  const ipKey = `${sp.clusterIP} . ${proto} . ${sp.port}`;
  const npKey = `${proto} . ${sp.nodePort}`;
  if (r.endpoints.length === 0) {
    out.push([`${T} ${NFT_MAP.noEndpointServices}`, ipKey, `goto ${NFT_CHAIN.reject}`]);
    if (sp.nodePort) out.push([`${T} ${NFT_MAP.noEndpointNodePorts}`, npKey, `goto ${NFT_CHAIN.reject}`]);
  } else {
    out.push([`${n.table} ${NFT_MAP.serviceIPs}`, ipKey, `goto ${n.service}`]);
    if (n.external) out.push([`${n.table} ${NFT_MAP.serviceNodePorts}`, npKey, `goto ${n.external}`]);
  }
  return out;
}

/** `qualified`: "ip <table> <set>". */
function setDecl(qualified: string, seconds: number): string {
  return `add set ${qualified} { type ipv4_addr ; flags dynamic,timeout ; timeout ${seconds}s ; }`;
}

/** `add rule` lines of the port's own chains (they must exist). */
export function nftPortRules(r: ServicePortRules, cfg: ProxyNodeConfig, n = nftPortNames(r)): string[] {
  if (r.endpoints.length === 0) return [];
  const sp = r.info;
  const proto = sp.protocol.toLowerCase();
  const out: string[] = [];
  const add = (chain: string, rule: string): void => {
    out.push(`add rule ${n.table} ${chain} ${rule}`);
  };
  const eps = r.endpoints;
  // Reached only through this port's service-ips element (or its external chain, which marks anyway), so
  // unlike iptables' shared KUBE-SVC match there is no need to match address and port again.
  add(n.service, `ip saddr != ${cfg.clusterCIDR} jump ${NFT_CHAIN.markMasq}`);
  const dnat = (i: number, pre: string): void => {
    const update = n.affinitySets.length ? `update @${n.affinitySets[i]} { ip saddr } ` : '';
    add(n.service, `${pre}meta l4proto ${proto} ${update}dnat to ${eps[i]}`);
  };
  for (let i = 0; i < n.affinitySets.length; i++) dnat(i, `ip saddr @${n.affinitySets[i]} `);
  for (let i = 0; i < eps.length; i++) dnat(i, i < eps.length - 1 ? `numgen random mod ${eps.length - i} 0 ` : '');
  if (n.external) {
    add(n.external, `jump ${NFT_CHAIN.markMasq}`);
    add(n.external, `goto ${n.service}`);
  }
  return out;
}

function nodePortMatch(cfg: ProxyNodeConfig): string {
  // As upstream's nftables mode: NodePorts answer on local addresses but not on 127.0.0.0/8.
  if (cfg.nodePortAddresses.length === 0) return 'fib daddr type local ip daddr != 127.0.0.0/8';
  return `ip daddr { ${cfg.nodePortAddresses.join(', ')} }`;
}

/** The tables, base and shared chains, maps and sets, declared idempotently (no flush: the current rules keep working). */
export function nftDeclareBase(): string[] {
  const out = [`add table ${T}`];
  for (const [c, body] of BASE_CHAINS) out.push(`add chain ${T} ${c} { ${body} }`);
  for (const c of MAIN_CHAINS) if (!BASE_CHAINS.some(([b]) => b === c)) out.push(`add chain ${T} ${c}`);
  for (const [m, type] of MAP_TYPES) out.push(`add map ${T} ${m} { type ${type} ; }`);
  out.push(`add set ${T} ${NFT_HAIRPIN_SET} { type ipv4_addr . ipv4_addr ; }`);
  for (let k = 0; k < NFT_SHARDS; k++) {
    const S = nftShardTable(k);
    out.push(`add table ${S}`);
    for (const [c, body] of SHARD_BASE_CHAINS) out.push(`add chain ${S} ${c} { ${body} }`);
    for (const c of SHARD_CHAINS) out.push(`add chain ${S} ${c}`);
    for (const [m, type] of SHARD_MAP_TYPES) out.push(`add map ${S} ${m} { type ${type} ; }`);
  }
  return out;
}

/** Every map of the main table and the shards, qualified. */
function allMaps(): string[] {
  const out = MAP_TYPES.map(([m]) => `${T} ${m}`);
  for (let k = 0; k < NFT_SHARDS; k++) for (const [m] of SHARD_MAP_TYPES) out.push(`${nftShardTable(k)} ${m}`);
  return out;
}

/** The shared chains' rules, each chain flushed first. */
export function nftBaseRules(cfg: ProxyNodeConfig): string[] {
  const mark = masqueradeMark(cfg.masqueradeBit);
  const np = nodePortMatch(cfg);
  const shard: [string, string][] = [
    [NFT_CHAIN.natPrerouting, `jump ${NFT_CHAIN.services}`],
    [NFT_CHAIN.natOutput, `jump ${NFT_CHAIN.services}`],
    [NFT_CHAIN.markMasq, `mark set mark or ${mark}`],
    [NFT_CHAIN.services, `ip daddr . meta l4proto . th dport vmap @${NFT_MAP.serviceIPs}`],
    [NFT_CHAIN.services, `${np} meta l4proto . th dport vmap @${NFT_MAP.serviceNodePorts}`],
  ];
  const rules: [string, string][] = [
    [NFT_CHAIN.natPostrouting, `jump ${NFT_CHAIN.masquerading}`],
    [NFT_CHAIN.filterForward, `ct state new jump ${NFT_CHAIN.serviceEndpointsCheck}`],
    [NFT_CHAIN.filterInput, `ct state new jump ${NFT_CHAIN.nodePortEndpointsCheck}`],
    [NFT_CHAIN.filterInput, `ct state new jump ${NFT_CHAIN.serviceEndpointsCheck}`],
    [NFT_CHAIN.filterOutput, `ct state new jump ${NFT_CHAIN.serviceEndpointsCheck}`],
    [NFT_CHAIN.markMasq, `mark set mark or ${mark}`],
    // Hairpin: a pod reaching itself through a Service must see the reply come from the Service.
    [NFT_CHAIN.masquerading, `ct status dnat ip saddr . ip daddr @${NFT_HAIRPIN_SET} jump ${NFT_CHAIN.markMasq}`],
    [NFT_CHAIN.masquerading, `mark and ${mark} == 0 return`],
    // Clear the bit so a packet that is re-injected (e.g. through a tunnel) is not masqueraded twice.
    [NFT_CHAIN.masquerading, `mark set mark xor ${mark}`],
    [NFT_CHAIN.masquerading, 'masquerade fully-random'],
    [NFT_CHAIN.serviceEndpointsCheck, `ip daddr . meta l4proto . th dport vmap @${NFT_MAP.noEndpointServices}`],
    [NFT_CHAIN.nodePortEndpointsCheck, `${np} meta l4proto . th dport vmap @${NFT_MAP.noEndpointNodePorts}`],
    [NFT_CHAIN.reject, 'reject'],
  ];
  const out = [...MAIN_CHAINS.map((c) => `flush chain ${T} ${c}`), ...rules.map(([c, r]) => `add rule ${T} ${c} ${r}`)];
  for (let k = 0; k < NFT_SHARDS; k++) {
    const S = nftShardTable(k);
    for (const [c] of SHARD_BASE_CHAINS) out.push(`flush chain ${S} ${c}`);
    for (const c of SHARD_CHAINS) out.push(`flush chain ${S} ${c}`);
    for (const [c, r] of shard) out.push(`add rule ${S} ${c} ${r}`);
  }
  return out;
}

/** Elements per `add element` statement (one statement parses much faster than many). */
const ELEMENTS_PER_STATEMENT = 1000;

function elementStatements(verb: 'add' | 'delete', byMap: Map<string, string[]>): string[] {
  const out: string[] = [];
  for (const [map, elems] of byMap) {
    for (let i = 0; i < elems.length; i += ELEMENTS_PER_STATEMENT) {
      out.push(`${verb} element ${map} { ${elems.slice(i, i + ELEMENTS_PER_STATEMENT).join(', ')} }`);
    }
  }
  return out;
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

export interface NftFullSyncInput {
  readonly rules: Iterable<ServicePortRules>;
  /** Per-port chains (qualified) in the kernel now that the new rules do not have: flushed and deleted at the end. */
  readonly staleChains: Iterable<string>;
  /** Affinity sets (qualified) in the kernel now that the new rules do not have: deleted at the end. */
  readonly staleSets: Iterable<string>;
  /** Sets (qualified) that exist with a definition that may differ (another timeout, or unknown): deleted and re-added. */
  readonly recreateSets: ReadonlySet<string>;
  /** Service ports per transaction before the final one (as in fullSyncTransactions). */
  readonly chunkServicePorts: number;
  /** Every endpoint address in use (any order, duplicates allowed): the hairpin set's content. */
  readonly hairpinIPs: Iterable<string>;
}

/**
 * A full sync as `nft -f` scripts applied in order. Every script leaves a
 * working table: the first declares the table and shared objects without
 * flushing them; the port slices rewrite the ports' own chains (add + flush +
 * rules); the final one rewrites the shared chains, refills the four maps
 * and deletes stale chains and sets. Idempotent: it also repairs any drift
 * inside our table (a deleted chain, a flushed map).
 */
export function* nftFullSyncTransactions(input: NftFullSyncInput, cfg: ProxyNodeConfig): Generator<string, void, undefined> {
  let out: string[] = [];
  for (const piece of nftFullSyncPieces(input, cfg)) {
    if (piece === NFT_COMMIT) {
      yield out.join('');
      out = [];
    } else {
      out.push(piece);
    }
  }
}

/** Ends a transaction in the stream of nftFullSyncPieces. */
export const NFT_COMMIT: unique symbol = Symbol('nft commit');

/**
 * nftFullSyncTransactions as a stream of newline-terminated pieces (about
 * one service port each), every transaction ended by NFT_COMMIT: the caller
 * can write a piece to `nft -f -` while generating the next, so nft parses
 * while the text is being built.
 */
export function* nftFullSyncPieces(input: NftFullSyncInput, cfg: ProxyNodeConfig): Generator<string | typeof NFT_COMMIT, void, undefined> {
  if (!Number.isInteger(input.chunkServicePorts) || input.chunkServicePorts < 1) {
    throw new ProxyError('PROXY_ERR_INVALID_CONFIG', `chunkServicePorts ${input.chunkServicePorts} must be a positive integer`);
  }
  const lines = (l: string[]): string => (l.length ? `${l.join('\n')}\n` : '');
  let first = true;
  const elements = new Map<string, string[]>();
  let inChunk = 0;
  yield lines(nftDeclareBase());
  for (const r of input.rules) {
    const n = nftPortNames(r);
    for (const [map, key, verdict] of nftPortElements(r, n)) push(elements, map, `${key} : ${verdict}`);
    const chains = nftPortChains(r, n);
    if (chains.length === 0) continue;
    if (!first) {
      yield lines(nftDeclareBase());
      first = true;
    }
    const out: string[] = [];
    for (const c of chains) out.push(`add chain ${c}`, `flush chain ${c}`);
    for (const s of nftPortSets(r, n)) {
      const decl = setDecl(s, r.info.affinitySeconds);
      // Its users were just flushed, so it can go; add first so that a set missing (drift) is no error.
      if (input.recreateSets.has(s)) out.push(decl, `delete set ${s}`);
      out.push(decl);
    }
    for (const l of nftPortRules(r, cfg, n)) out.push(l);
    yield lines(out);
    if (++inChunk >= input.chunkServicePorts) {
      yield NFT_COMMIT;
      first = false;
      inChunk = 0;
    }
  }
  if (!first) yield lines(nftDeclareBase());
  const out: string[] = [];
  out.push(...nftBaseRules(cfg));
  for (const m of allMaps()) out.push(`flush map ${m}`);
  out.push(...elementStatements('add', elements));
  out.push(`flush set ${T} ${NFT_HAIRPIN_SET}`);
  const hairpin = new Set(input.hairpinIPs);
  if (hairpin.size) out.push(...elementStatements('add', new Map([[`${T} ${NFT_HAIRPIN_SET}`, [...hairpin].map((ip) => `${ip} . ${ip}`)]])));
  const stale = [...input.staleChains];
  for (const c of stale) out.push(`add chain ${c}`, `flush chain ${c}`);
  for (const c of stale) out.push(`delete chain ${c}`);
  for (const s of input.staleSets) out.push(`delete set ${s}`);
  yield lines(out);
  yield NFT_COMMIT;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function samePort(a: ServicePortRules, b: ServicePortRules): boolean {
  const x = a.info;
  const y = b.info;
  return x.name === y.name && x.protocol === y.protocol && x.clusterIP === y.clusterIP && x.port === y.port
    && x.nodePort === y.nodePort && x.affinitySeconds === y.affinitySeconds && sameStrings(a.endpoints, b.endpoints);
}

/**
 * A partial sync as one `nft -f` script: for the service ports whose rules
 * changed, their map elements are replaced, their chains rewritten (chains
 * no longer used deleted), their affinity sets added or deleted. A deletion
 * of something that is not there (drift) fails the whole transaction, which
 * the caller answers with a full sync. Null when nothing changed.
 */
export function nftPartialSyncTransaction(
  changes: Iterable<readonly [before: ServicePortRules | undefined, after: ServicePortRules | undefined]>,
  cfg: ProxyNodeConfig,
  /** Endpoint addresses that start or stop being used by any service port (the caller counts references). */
  hairpin: { readonly add: readonly string[]; readonly del: readonly string[] } = { add: [], del: [] },
): string | null {
  const delElems = new Map<string, string[]>();
  const addElems = new Map<string, string[]>();
  const flush: string[] = [];
  const delSets: string[] = [];
  const addSets: string[] = [];
  const addChains: string[] = [];
  const rules: string[] = [];
  const delChains: string[] = [];
  let any = false;
  for (const [before, after] of changes) {
    if (before && after && samePort(before, after)) continue;
    any = true;
    const nb = before ? nftPortNames(before) : null;
    const na = after ? nftPortNames(after) : null;
    const eb = before ? nftPortElements(before, nb!) : [];
    const ea = after ? nftPortElements(after, na!) : [];
    const id = (e: [string, string, string]): string => `${e[0]}\0${e[1]}\0${e[2]}`;
    const keepA = new Set(ea.map(id));
    const keepB = new Set(eb.map(id));
    for (const e of eb) if (!keepA.has(id(e))) push(delElems, e[0], e[1]);
    for (const e of ea) if (!keepB.has(id(e))) push(addElems, e[0], `${e[1]} : ${e[2]}`);
    const cb = before ? nftPortChains(before, nb!) : [];
    const ca = after ? nftPortChains(after, na!) : [];
    const inA = new Set(ca);
    const inB = new Set(cb);
    for (const c of cb) flush.push(`flush chain ${c}`);
    for (const c of ca) if (!inB.has(c)) addChains.push(`add chain ${c}`);
    for (const c of cb) if (!inA.has(c)) delChains.push(`delete chain ${c}`);
    if (after) rules.push(...nftPortRules(after, cfg, na!));
    // A set whose timeout changed is deleted and re-added (its users are flushed before).
    const sb = new Map((before ? nftPortSets(before, nb!) : []).map((s) => [s, before!.info.affinitySeconds]));
    const sa = new Map((after ? nftPortSets(after, na!) : []).map((s) => [s, after!.info.affinitySeconds]));
    for (const [s, secs] of sb) if (sa.get(s) !== secs) delSets.push(`delete set ${s}`);
    for (const [s, secs] of sa) if (sb.get(s) !== secs) addSets.push(setDecl(s, secs));
  }
  if (!any && hairpin.add.length === 0 && hairpin.del.length === 0) return null;
  if (hairpin.del.length) delElems.set(`${T} ${NFT_HAIRPIN_SET}`, hairpin.del.map((ip) => `${ip} . ${ip}`));
  if (hairpin.add.length) addElems.set(`${T} ${NFT_HAIRPIN_SET}`, hairpin.add.map((ip) => `${ip} . ${ip}`));
  return [
    ...elementStatements('delete', delElems),
    ...flush,
    ...delSets,
    ...addSets,
    ...addChains,
    ...rules,
    ...elementStatements('add', addElems),
    ...delChains,
    '',
  ].join('\n');
}

/** Chains or sets of our tables in `nft list chains ip` / `nft list sets ip` output, qualified ("ip <table> <name>"). */
export function parseNftList(text: string, kind: 'chain' | 'set'): string[] {
  const out: string[] = [];
  let table: string | null = null;
  for (const line of text.split('\n')) {
    const t = /^table (\S+) (\S+) \{/.exec(line);
    if (t) {
      table = t[1] === 'ip' && isOwnNftTable(t[2]!) ? `ip ${t[2]}` : null;
      continue;
    }
    if (line === '}') {
      table = null;
      continue;
    }
    if (table === null) continue;
    const m = /^\t(chain|set|map) (\S+) \{/.exec(line);
    if (m && m[1] === kind) out.push(`${table} ${m[2]}`);
  }
  return out;
}

/** Our tables in `nft list chains ip` output ("ip <table>"). */
export function parseNftTables(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const t = /^table ip (\S+) \{/.exec(line);
    if (t && isOwnNftTable(t[1]!)) out.push(`ip ${t[1]}`);
  }
  return out;
}

/** True for a per-endpoint affinity set of ours (as opposed to the shared hairpin set). */
export function isNftAffinitySet(name: string): boolean {
  return /^affinity-[A-Z2-7]{8}-/.test(name);
}

/** True for a per-port chain of ours (as opposed to the shared ones). */
export function isNftPortChain(name: string): boolean {
  return /^(service|external)-[A-Z2-7]{8}-/.test(name);
}

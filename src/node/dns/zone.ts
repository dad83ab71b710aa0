/**
 * The cluster zone (`<domain>`, by default cluster.local) built from Services
 * and EndpointSlices, per the Kubernetes DNS-Based Service Discovery
 * specification (kubernetes/dns docs/specification.md):
 *
 * - ClusterIP Service: `<svc>.<ns>.svc.<domain>` A/AAAA → its ClusterIPs;
 *   `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV per named port → the
 *   service name; PTR of each ClusterIP → the service name.
 * - Headless Service (clusterIP None): one A/AAAA per ready endpoint address
 *   (no ready endpoint: the name does not exist, NXDOMAIN);
 *   `<hostname>.<svc>.<ns>.svc.<domain>` per ready endpoint, where hostname
 *   is the endpoint's `hostname` or else its address with dashes (the
 *   "system-assigned identifier" the spec leaves open, as CoreDNS does); SRV
 *   per named EndpointSlice port and ready endpoint → that hostname; PTR of
 *   each endpoint address → that hostname.
 * - ExternalName Service: CNAME to the external name (not chased).
 * - `dns-version.<domain>` TXT, `<a>-<b>-<c>-<d>.<ns>.pod.<domain>` A
 *   (deprecated but still required), the apex's SOA and NS.
 *
 * A name in the zone that has no record of the asked type but exists (or has
 * names below it: an empty non-terminal, RFC 8020) is NODATA, NOERROR with
 * the SOA in authority; any other name in the zone is NXDOMAIN. Names outside
 * the zone (and reverse names we hold no PTR for) are `outside`: the server
 * forwards or refuses them.
 *
 * Pure and synchronous: the node daemon feeds it watch events and the server
 * asks it. Each event rebuilds the records of one Service only; lookups are
 * one or two map reads. Sizes are bounded (`ZoneLimits`).
 */
import { isIP } from 'node:net';
import type { KubeObject } from '../../control/apiserver/index.js';
import { DnsError } from './errors.js';
import { CLASS_IN, RCode, RRType, canonicalName, ipv6ToBytes, type ResourceRecord, type SoaData } from './wire.js';
import { assert } from '../../util/assert.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** The schema version of the spec this zone implements (its `dns-version` TXT record). */
export const DNS_SCHEMA_VERSION = '1.0.1';

export interface ZoneOptions {
  /** The cluster domain, without a trailing dot. */
  domain: string;
  /** TTL of every record and of negative answers (the SOA minimum). */
  ttlSeconds: number;
  /** The cluster DNS Service IP: the address of the apex's NS name, when known. */
  dnsServiceIp: string | null;
  maxServices: number;
  maxEndpointSlices: number;
  /** Per EndpointSlice (upstream validation allows at most 1000). */
  maxEndpointsPerSlice: number;
  /** Records of one type in one answer (a large headless Service is cut here, about 16 KiB of A records). */
  maxAnswerRecords: number;
}

export const ZONE_DEFAULTS: ZoneOptions = {
  domain: 'cluster.local',
  ttlSeconds: 5,
  dnsServiceIp: null,
  maxServices: 50_000,
  maxEndpointSlices: 100_000,
  maxEndpointsPerSlice: 1000,
  maxAnswerRecords: 1000,
};

export type LookupResult =
  | { kind: 'outside' }
  | { kind: 'answer'; rcode: RCode.NOERROR | RCode.NXDOMAIN; answers: ResourceRecord[]; authority: ResourceRecord[]; additional: ResourceRecord[] };

interface Srv {
  port: number;
  target: string;
}

/** The records one Service puts at one name. */
interface NameData {
  a: string[];
  aaaa: string[];
  srv: Srv[];
  cname: string | null;
  ptr: string[];
}

interface ServiceInfo {
  kind: 'clusterIP' | 'headless' | 'externalName' | 'pending';
  clusterIPs: string[];
  externalName: string | null;
  ports: { name: string; port: number; protocol: string }[];
  publishNotReady: boolean;
}

interface SliceInfo {
  service: string;
  ports: { name: string; port: number; protocol: string }[];
  endpoints: { addresses: string[]; hostname: string | null; ready: boolean }[];
}

interface ServiceState {
  svc: ServiceInfo | null;
  slices: Map<string, SliceInfo>;
  /** Names this Service's records live at (canonical), to undo them on the next rebuild. */
  owned: string[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const REVERSE_SUFFIXES = ['.in-addr.arpa', '.ip6.arpa'];

function emptyData(): NameData {
  return { a: [], aaaa: [], srv: [], cname: null, ptr: [] };
}

/** `10.0.0.1` → `1.0.0.10.in-addr.arpa`; IPv6 → nibbles under ip6.arpa. */
export function reverseName(ip: string): string {
  if (isIP(ip) === 4) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${ipv6ToBytes(ip).toString('hex').split('').reverse().join('.')}.ip6.arpa`;
}

function dashed(ip: string): string {
  return ip.replace(/[.:]/g, '-');
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

export class Zone {
  readonly options: ZoneOptions;
  private readonly domain: string;
  private readonly services = new Map<string, ServiceState>();
  /** namespace/slice name → the service key it was filed under. */
  private readonly sliceOwner = new Map<string, string>();
  private serviceCount = 0;
  /** canonical name → owner (service key) → records. */
  private readonly names = new Map<string, Map<string, NameData>>();
  /** canonical name → how many owned names lie strictly below it (empty non-terminals). */
  private readonly below = new Map<string, number>();
  private serial = 1;

  constructor(options: Partial<ZoneOptions> = {}) {
    this.options = { ...ZONE_DEFAULTS, ...options };
    this.domain = canonicalName(this.options.domain);
    if (this.domain === '' || !this.domain.split('.').every((l) => DNS_LABEL.test(l))) throw new DnsError('DNS_ERR_BAD_OPTIONS', `domain ${JSON.stringify(options.domain)}`);
    if (this.options.dnsServiceIp !== null && isIP(this.options.dnsServiceIp) === 0) throw new DnsError('DNS_ERR_BAD_OPTIONS', `dnsServiceIp ${this.options.dnsServiceIp}`);
  }

  /** A Service watch event. Throws DNS_ERR_INVALID_OBJECT or DNS_ERR_ZONE_FULL (the object is then not indexed). */
  onService(type: WatchEventType, obj: KubeObject): void {
    const { key, name } = objectKey(obj);
    let st = this.services.get(key);
    if (type === 'DELETED') {
      if (!st?.svc) return;
      st.svc = null;
      this.serviceCount--;
    } else {
      const info = parseService(name, obj);
      if (!st) st = this.stateFor(key);
      if (!st.svc) {
        if (this.serviceCount >= this.options.maxServices) throw new DnsError('DNS_ERR_ZONE_FULL', `${this.options.maxServices} services`);
        this.serviceCount++;
      }
      st.svc = info;
    }
    this.rebuild(key, st);
  }

  /** An EndpointSlice watch event (discovery.k8s.io/v1). Same errors as onService. */
  onEndpointSlice(type: WatchEventType, obj: KubeObject): void {
    const { key: sliceKey, ns, name: sliceName } = objectKey(obj);
    const prevOwner = this.sliceOwner.get(sliceKey);
    const info = type === 'DELETED' ? null : parseSlice(sliceName, obj, this.options.maxEndpointsPerSlice);
    const owner = info ? `${ns}/${info.service}` : null;
    if (info && prevOwner === undefined && this.sliceOwner.size >= this.options.maxEndpointSlices) throw new DnsError('DNS_ERR_ZONE_FULL', `${this.options.maxEndpointSlices} endpoint slices`);
    if (prevOwner !== undefined && prevOwner !== owner) {
      const st = this.services.get(prevOwner);
      assert(st !== undefined, 'a filed slice has a service state');
      st.slices.delete(sliceName);
      this.sliceOwner.delete(sliceKey);
      this.rebuild(prevOwner, st);
    }
    if (info && owner) {
      const st = this.services.get(owner) ?? this.stateFor(owner);
      st.slices.set(sliceName, info);
      this.sliceOwner.set(sliceKey, owner);
      this.rebuild(owner, st);
    }
  }

  /** Counts, for metrics and tests. */
  stats(): { services: number; endpointSlices: number; names: number; serial: number } {
    return { services: this.serviceCount, endpointSlices: this.sliceOwner.size, names: this.names.size, serial: this.serial };
  }

  /** Answers one question. `qname` is echoed as the owner name of the answers. */
  lookup(qname: string, qtype: number): LookupResult {
    const name = canonicalName(qname);
    const owner = qname.endsWith('.') ? qname.slice(0, -1) : qname;
    if (REVERSE_SUFFIXES.some((s) => name.endsWith(s))) {
      const data = this.names.get(name);
      if (!data) return { kind: 'outside' };
      return this.answerAt(owner, qtype, merge(data.values()));
    }
    if (name !== this.domain && !name.endsWith(`.${this.domain}`)) return { kind: 'outside' };
    if (name === this.domain) return this.apex(owner, qtype);
    if (name === `dns-version.${this.domain}`) {
      const txt: ResourceRecord = { name: owner, type: RRType.TXT, class: CLASS_IN, ttl: this.options.ttlSeconds, data: { kind: 'TXT', texts: [DNS_SCHEMA_VERSION] } };
      return qtype === RRType.TXT || qtype === RRType.ANY ? this.ok([txt]) : this.nodata();
    }
    if (name === `ns.dns.${this.domain}` && this.options.dnsServiceIp !== null) {
      const ip = this.options.dnsServiceIp;
      const d = emptyData();
      (isIP(ip) === 4 ? d.a : d.aaaa).push(ip);
      return this.answerAt(owner, qtype, d);
    }
    const pod = this.podRecord(name);
    if (pod) return this.answerAt(owner, qtype, pod);
    const data = this.names.get(name);
    if (data) return this.answerAt(owner, qtype, merge(data.values()));
    if (this.below.has(name) || name === `svc.${this.domain}` || name === `pod.${this.domain}`) return this.nodata();
    return this.negative(RCode.NXDOMAIN);
  }

  // ------------------------------------------------------------ answers

  private ttl(): number {
    return this.options.ttlSeconds;
  }

  private soa(): ResourceRecord {
    const soa: SoaData = { mname: `ns.dns.${this.domain}`, rname: `hostmaster.${this.domain}`, serial: this.serial, refresh: 7200, retry: 1800, expire: 86400, minimum: this.ttl() };
    return { name: this.domain, type: RRType.SOA, class: CLASS_IN, ttl: this.ttl(), data: { kind: 'SOA', soa } };
  }

  private ok(answers: ResourceRecord[], additional: ResourceRecord[] = []): LookupResult {
    return { kind: 'answer', rcode: RCode.NOERROR, answers, authority: [], additional };
  }

  private negative(rcode: RCode.NOERROR | RCode.NXDOMAIN): LookupResult {
    return { kind: 'answer', rcode, answers: [], authority: [this.soa()], additional: [] };
  }

  private nodata(): LookupResult {
    return this.negative(RCode.NOERROR);
  }

  private apex(owner: string, qtype: number): LookupResult {
    const out: ResourceRecord[] = [];
    if (qtype === RRType.SOA || qtype === RRType.ANY) out.push({ ...this.soa(), name: owner });
    if (qtype === RRType.NS || qtype === RRType.ANY) out.push({ name: owner, type: RRType.NS, class: CLASS_IN, ttl: this.ttl(), data: { kind: 'NAME', target: `ns.dns.${this.domain}` } });
    return out.length > 0 ? this.ok(out) : this.nodata();
  }

  /** `a-b-c-d.<ns>.pod.<domain>` → A a.b.c.d (any namespace, as kube-dns' "insecure" pod records). */
  private podRecord(name: string): NameData | null {
    const labels = name.slice(0, -(this.domain.length + 1)).split('.');
    if (labels.length !== 3 || labels[2] !== 'pod' || !DNS_LABEL.test(labels[1]!)) return null;
    const ip = labels[0]!.replace(/-/g, '.');
    if (isIP(ip) !== 4) return null;
    const d = emptyData();
    d.a.push(ip);
    return d;
  }

  private answerAt(owner: string, qtype: number, d: NameData): LookupResult {
    const ttl = this.ttl();
    const cap = this.options.maxAnswerRecords;
    if (d.cname !== null) {
      // A CNAME owns the name alone (RFC 1034 §3.6.2): every type gets it; the client chases the target.
      return this.ok([{ name: owner, type: RRType.CNAME, class: CLASS_IN, ttl, data: { kind: 'NAME', target: d.cname } }]);
    }
    const any = qtype === RRType.ANY;
    const out: ResourceRecord[] = [];
    const additional: ResourceRecord[] = [];
    if (any || qtype === RRType.A) for (const ip of d.a.slice(0, cap)) out.push({ name: owner, type: RRType.A, class: CLASS_IN, ttl, data: { kind: 'A', address: ip } });
    if (any || qtype === RRType.AAAA) for (const ip of d.aaaa.slice(0, cap)) out.push({ name: owner, type: RRType.AAAA, class: CLASS_IN, ttl, data: { kind: 'AAAA', address: ip } });
    if (any || qtype === RRType.PTR) for (const t of d.ptr.slice(0, cap)) out.push({ name: owner, type: RRType.PTR, class: CLASS_IN, ttl, data: { kind: 'NAME', target: t } });
    if (any || qtype === RRType.SRV) {
      const seen = new Set<string>();
      for (const s of d.srv.slice(0, cap)) {
        out.push({ name: owner, type: RRType.SRV, class: CLASS_IN, ttl, data: { kind: 'SRV', priority: 0, weight: 100, port: s.port, target: s.target } });
        if (seen.has(s.target)) continue;
        seen.add(s.target);
        // The spec allows the targets' addresses in the additional section; the server drops them first if too big.
        const t = this.names.get(canonicalName(s.target));
        if (!t) continue;
        const td = merge(t.values());
        for (const ip of td.a.slice(0, cap)) additional.push({ name: s.target, type: RRType.A, class: CLASS_IN, ttl, data: { kind: 'A', address: ip } });
        for (const ip of td.aaaa.slice(0, cap)) additional.push({ name: s.target, type: RRType.AAAA, class: CLASS_IN, ttl, data: { kind: 'AAAA', address: ip } });
      }
    }
    return out.length > 0 ? this.ok(out, additional.slice(0, cap)) : this.nodata();
  }

  // ------------------------------------------------------------ index

  private stateFor(key: string): ServiceState {
    const st: ServiceState = { svc: null, slices: new Map(), owned: [] };
    this.services.set(key, st);
    return st;
  }

  /** Replaces the records of one Service: undo what it owned, compute, file again. */
  private rebuild(key: string, st: ServiceState): void {
    for (const n of st.owned) this.unfile(n, key);
    const [ns, name] = key.split('/') as [string, string];
    const records = st.svc ? this.recordsOf(ns, name, st) : new Map<string, NameData>();
    st.owned = [...records.keys()];
    for (const [n, d] of records) this.file(n, key, d);
    if (!st.svc && st.slices.size === 0) this.services.delete(key);
    this.serial = (this.serial % 0xffffffff) + 1;
  }

  private recordsOf(ns: string, name: string, st: ServiceState): Map<string, NameData> {
    const svc = st.svc;
    assert(svc !== null, 'records of a known service');
    const out = new Map<string, NameData>();
    const at = (n: string) => {
      let d = out.get(n);
      if (!d) out.set(n, (d = emptyData()));
      return d;
    };
    const base = `${name}.${ns}.svc.${this.domain}`;
    // One set of everything added keeps a headless Service with thousands of endpoints linear.
    const seen = new Set<string>();
    const once = (...parts: (string | number)[]) => {
      const k = parts.join('\u0000');
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    };
    const addIp = (n: string, ip: string) => {
      if (once(n, ip)) (isIP(ip) === 4 ? at(n).a : at(n).aaaa).push(ip);
    };
    switch (svc.kind) {
      case 'pending':
        break;
      case 'externalName':
        at(base).cname = svc.externalName;
        break;
      case 'clusterIP':
        for (const ip of svc.clusterIPs) {
          addIp(base, ip);
          at(reverseName(ip)).ptr.push(base);
        }
        for (const p of svc.ports) if (p.name) at(`_${p.name}._${p.protocol}.${base}`).srv.push({ port: p.port, target: base });
        break;
      case 'headless':
        for (const slice of [...st.slices.keys()].sort().map((k) => st.slices.get(k)!)) {
          for (const ep of slice.endpoints) {
            if (!ep.ready && !svc.publishNotReady) continue;
            for (const ip of ep.addresses) {
              const host = `${ep.hostname ?? dashed(ip)}.${base}`;
              addIp(base, ip);
              addIp(host, ip);
              const rev = reverseName(ip);
              if (once(rev, host)) at(rev).ptr.push(host);
              for (const p of slice.ports) {
                const srvName = `_${p.name}._${p.protocol}.${base}`;
                if (once(srvName, p.port, host)) at(srvName).srv.push({ port: p.port, target: host });
              }
            }
          }
        }
        break;
    }
    return out;
  }

  private file(n: string, owner: string, d: NameData): void {
    let m = this.names.get(n);
    if (!m) {
      this.names.set(n, (m = new Map()));
      this.walkUp(n, +1);
    }
    m.set(owner, d);
  }

  private unfile(n: string, owner: string): void {
    const m = this.names.get(n);
    assert(m !== undefined && m.has(owner), `owned name ${n} is filed`);
    m.delete(owner);
    if (m.size > 0) return;
    this.names.delete(n);
    this.walkUp(n, -1);
  }

  /** Counts a name in every ancestor strictly between it and the zone apex. */
  private walkUp(n: string, delta: number): void {
    if (!n.endsWith(`.${this.domain}`)) return; // reverse names: no empty non-terminals kept
    for (let i = n.indexOf('.'); i >= 0; i = n.indexOf('.', i + 1)) {
      const anc = n.slice(i + 1);
      if (anc === this.domain) break;
      const c = (this.below.get(anc) ?? 0) + delta;
      assert(c >= 0, 'empty non-terminal count stays non-negative');
      if (c === 0) this.below.delete(anc);
      else this.below.set(anc, c);
    }
  }
}

function merge(ds: Iterable<NameData>): NameData {
  const list = [...ds];
  if (list.length === 1) return list[0]!;
  const out = emptyData();
  for (const d of list) {
    out.a.push(...d.a.filter((x) => !out.a.includes(x)));
    out.aaaa.push(...d.aaaa.filter((x) => !out.aaaa.includes(x)));
    out.srv.push(...d.srv);
    out.ptr.push(...d.ptr.filter((x) => !out.ptr.includes(x)));
    out.cname ??= d.cname;
  }
  return out;
}

function objectKey(obj: KubeObject): { key: string; ns: string; name: string } {
  const ns = str(obj?.metadata?.namespace);
  const name = str(obj?.metadata?.name);
  if (!ns || !name || !DNS_LABEL.test(ns)) throw new DnsError('DNS_ERR_INVALID_OBJECT', `metadata ${JSON.stringify({ namespace: obj?.metadata?.namespace, name: obj?.metadata?.name })}`);
  return { key: `${ns}/${name}`, ns, name };
}

function parsePorts(ports: unknown): { name: string; port: number; protocol: string }[] {
  if (!Array.isArray(ports)) return [];
  const out: { name: string; port: number; protocol: string }[] = [];
  for (const p of ports) {
    const name = str(p?.name);
    const port = p?.port;
    const protocol = (str(p?.protocol) ?? 'TCP').toLowerCase();
    // Unnamed ports have no SRV record; names and protocols must make valid labels.
    if (!name || !DNS_LABEL.test(name) || !DNS_LABEL.test(protocol) || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    out.push({ name, port, protocol });
  }
  return out;
}

function parseService(name: string, obj: KubeObject): ServiceInfo {
  if (!DNS_LABEL.test(name)) throw new DnsError('DNS_ERR_INVALID_OBJECT', `service name ${JSON.stringify(name)}`);
  const spec = obj.spec ?? {};
  const ports = parsePorts(spec.ports);
  const publishNotReady = spec.publishNotReadyAddresses === true || obj.metadata.annotations?.['service.alpha.kubernetes.io/tolerate-unready-endpoints'] === 'true';
  if (spec.type === 'ExternalName') {
    const ext = str(spec.externalName)?.replace(/\.$/, '') ?? null;
    if (!ext) throw new DnsError('DNS_ERR_INVALID_OBJECT', `ExternalName service ${name} without externalName`);
    return { kind: 'externalName', clusterIPs: [], externalName: ext, ports, publishNotReady };
  }
  const first = str(spec.clusterIP);
  if (first === 'None') return { kind: 'headless', clusterIPs: [], externalName: null, ports, publishNotReady };
  const ips = (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0 ? spec.clusterIPs : first ? [first] : []).filter((ip: unknown) => typeof ip === 'string' && isIP(ip) !== 0);
  return { kind: ips.length > 0 ? 'clusterIP' : 'pending', clusterIPs: ips, externalName: null, ports, publishNotReady };
}

function parseSlice(sliceName: string, obj: KubeObject, maxEndpoints: number): SliceInfo {
  const service = str(obj.metadata.labels?.['kubernetes.io/service-name']);
  if (!service || !DNS_LABEL.test(service)) throw new DnsError('DNS_ERR_INVALID_OBJECT', `EndpointSlice ${sliceName} without a kubernetes.io/service-name label`);
  const eps: unknown = obj.endpoints ?? [];
  if (!Array.isArray(eps)) throw new DnsError('DNS_ERR_INVALID_OBJECT', `EndpointSlice ${sliceName}: endpoints is not a list`);
  if (eps.length > maxEndpoints) throw new DnsError('DNS_ERR_INVALID_OBJECT', `EndpointSlice ${sliceName}: ${eps.length} endpoints, at most ${maxEndpoints}`);
  const addressType = str(obj.addressType) ?? 'IPv4';
  const family = addressType === 'IPv4' ? 4 : addressType === 'IPv6' ? 6 : 0; // FQDN slices give no records
  const endpoints = family === 0 ? [] : eps.map((e: any) => ({
    addresses: (Array.isArray(e?.addresses) ? e.addresses : []).filter((a: unknown) => typeof a === 'string' && isIP(a) === family).slice(0, 100) as string[],
    hostname: typeof e?.hostname === 'string' && DNS_LABEL.test(e.hostname) ? (e.hostname as string) : null,
    // discovery/v1: a nil ready condition means unknown, to be read as ready.
    ready: e?.conditions?.ready !== false,
  }));
  return { service, ports: parsePorts(obj.ports), endpoints };
}

/**
 * Service IP and node port allocation, and the `kubernetes` Service.
 *
 * Upstream allocates cluster IPs and node ports in the API server's REST
 * layer (and refuses a taken value with 422). skiff's API stores a Service
 * without them and this controller, on the Raft leader, fills them in
 * asynchronously:
 * - type ClusterIP/NodePort/LoadBalancer without `spec.clusterIP` (and not
 *   headless, `None`) gets a free address of the service CIDR; never the
 *   network or broadcast address, never the 1st usable one (the `kubernetes`
 *   Service's) nor the 10th (cluster DNS's, by upstream's convention);
 * - NodePort/LoadBalancer ports without `nodePort` get a free port of the
 *   range (and `healthCheckNodePort` when LoadBalancer + Local needs one).
 *
 * Persistence, and no double allocation across leader changes: there is no
 * allocation table. The stored Services are the source of truth; the taken
 * set is derived from the informer of all Services. A new leader, before it
 * allocates anything, reads the store's revision with a quorum and waits
 * until its informer has reached it: every allocation an earlier leader
 * committed is then in the taken set, and none can commit later, because
 * every controller write is fenced to the writer's term (refused once a
 * newer term began). Each allocation is written with the resourceVersion the
 * decision was made from (a compare-guarded write): if the Service changed
 * meanwhile, nothing is written and it is decided again. Within one leader,
 * a value chosen but not yet seen back through the informer is held as
 * pending, so concurrent workers cannot pick it twice.
 *
 * Values chosen by users are honoured. When one collides with another
 * Service's (possible here, because the API does not allocate), both keep it:
 * rewriting a user's explicit choice would be worse, and the API has no way
 * to refuse it after the fact. The later Service (by creation time) is
 * logged as a duplicate, and the value stays taken until both let go of it.
 * The remaining race — a user choosing the very value this controller hands
 * out at the same moment — needs allocation at the API (upstream's way).
 *
 * The `kubernetes` Service in `default` is created when missing (ClusterIP =
 * the 1st usable address, port 443 `https` → 6443). Its Endpoints are the
 * masters' API addresses, which this controller does not know; they are
 * left to whoever knows the masters (a later step).
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError, objectKey } from '../apiserver/index.js';
import type { ResourceCache } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import { assert } from '../../util/assert.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';
import { WorkQueue, runWorkers } from './workqueue.js';

export interface ServiceIpOptions {
  /** IPv4 CIDR cluster IPs come from. */
  serviceCidr: string;
  /** Inclusive range node ports come from. */
  nodePortRange: readonly [number, number];
}

export const SERVICE_IP_DEFAULTS: ServiceIpOptions = { serviceCidr: '10.96.0.0/12', nodePortRange: [30000, 32767] };
export const KUBERNETES_SERVICE = { namespace: 'default', name: 'kubernetes', port: 443, targetPort: 6443 } as const;
/**
 * Cluster DNS: every node daemon serves it node-locally on this Service's IP
 * (the tenth of the range, upstream's convention), so the Service has no
 * selector and the proxies leave it alone (the annotation says so).
 */
export const KUBE_DNS_SERVICE = { namespace: 'kube-system', name: 'kube-dns' } as const;
export const NODE_LOCAL_ANNOTATION = 'skiff.io/node-local';
/** Offsets in the service CIDR that dynamic allocation never hands out. */
export const KUBERNETES_IP_OFFSET = 1;
export const DNS_IP_OFFSET = 10;
/** How long a new leader waits for its informer to reach the quorum revision before trying again. */
export const SERVICE_IP_SYNC_WAIT_MS = 3_000;
const WORKERS = 2;
const CLUSTER_IP_NONE = 'None';

const SERVICES = RESOURCES.find((r) => r.resource === 'services')!;

export type ServiceIpErrorCode = 'SERVICE_IP_ERR_BAD_CIDR' | 'SERVICE_IP_ERR_BAD_RANGE' | 'SERVICE_IP_ERR_RANGE_FULL';

export class ServiceIpError extends Error {
  override readonly name = 'ServiceIpError';
  constructor(
    readonly code: ServiceIpErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- addresses

export function parseIPv4(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** An IPv4 CIDR as its network address and size. */
export function parseCidr(cidr: string): { base: number; size: number } {
  const [ip, bits] = cidr.split('/');
  const base = parseIPv4(ip ?? '');
  const prefix = Number(bits);
  if (base === null || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
    throw new ServiceIpError('SERVICE_IP_ERR_BAD_CIDR', `service CIDR ${cidr} must be an IPv4 CIDR with a prefix of /8 to /30`);
  }
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) throw new ServiceIpError('SERVICE_IP_ERR_BAD_CIDR', `service CIDR ${cidr} is not a network address`);
  return { base, size };
}

// ---------------------------------------------------------------- the pure allocator

/**
 * Which values of a range are taken, by whom. A value may be claimed by
 * several owners at once (a user's duplicate): it is free only when nobody
 * claims it. `pending` holds values chosen but not yet seen in the store.
 */
export class RangeAllocator {
  private readonly claims = new Map<number, Set<string>>();
  private readonly pending = new Map<number, string>();
  private cursor: number;

  /**
   * Values are [first, last]; `reserved` are never handed out dynamically;
   * dynamic allocation starts above the lower `staticBand` values (left
   * for users' choices, as upstream's static/dynamic split) and wraps.
   */
  constructor(
    readonly first: number,
    readonly last: number,
    private readonly reserved: ReadonlySet<number> = new Set(),
    staticBand = 0,
  ) {
    assert(first <= last, 'an empty allocation range');
    this.cursor = Math.min(last, first + staticBand);
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  contains(v: number): boolean {
    return v >= this.first && v <= this.last;
  }

  claim(v: number, owner: string): void {
    let s = this.claims.get(v);
    if (!s) this.claims.set(v, (s = new Set()));
    s.add(owner);
    if (this.pending.get(v) === owner) this.pending.delete(v);
  }

  release(v: number, owner: string): void {
    const s = this.claims.get(v);
    if (!s) return;
    s.delete(owner);
    if (s.size === 0) this.claims.delete(v);
  }

  /** Owners of `v` other than `owner`. */
  others(v: number, owner: string): string[] {
    return [...(this.claims.get(v) ?? [])].filter((o) => o !== owner);
  }

  isFree(v: number): boolean {
    return !this.claims.has(v) && !this.pending.has(v);
  }

  /** The next free value (held as pending for `owner`), or a RANGE_FULL error. */
  allocate(owner: string): number {
    for (let i = 0; i < this.size; i++) {
      const v = this.cursor;
      this.cursor = v >= this.last ? this.first : v + 1;
      if (this.reserved.has(v) || !this.isFree(v)) continue;
      this.pending.set(v, owner);
      return v;
    }
    throw new ServiceIpError('SERVICE_IP_ERR_RANGE_FULL', `no free value left in ${this.first}-${this.last}`);
  }

  /** Gives back a pending value that was not written. */
  abandon(v: number, owner: string): void {
    if (this.pending.get(v) === owner) this.pending.delete(v);
  }
}

/** Upstream's static band: 1/16 of the range, at least 16 and at most 256. */
function staticBandOf(size: number): number {
  return Math.min(256, Math.max(16, Math.floor(size / 16)));
}

// ---------------------------------------------------------------- what a Service holds and needs

type Json = Record<string, unknown>;

export interface ServiceNeeds {
  clusterIP: boolean;
  /** Indices of ports that need a node port. */
  nodePorts: number[];
  healthCheckNodePort: boolean;
}

function specOf(svc: KubeObject): Json {
  return svc.spec && typeof svc.spec === 'object' ? (svc.spec as Json) : {};
}

function portsOf(spec: Json): Json[] {
  return Array.isArray(spec.ports) ? spec.ports.filter((p): p is Json => !!p && typeof p === 'object') : [];
}

function typeOf(spec: Json): string {
  return typeof spec.type === 'string' && spec.type !== '' ? spec.type : 'ClusterIP';
}

function wantsNodePorts(spec: Json): boolean {
  const type = typeOf(spec);
  return type === 'NodePort' || (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
}

/** What `svc` still lacks (pure). */
export function serviceNeeds(svc: KubeObject): ServiceNeeds {
  const spec = specOf(svc);
  const type = typeOf(spec);
  const ipTyped = type === 'ClusterIP' || type === 'NodePort' || type === 'LoadBalancer';
  const clusterIP = typeof spec.clusterIP === 'string' ? spec.clusterIP : '';
  const nodePorts = wantsNodePorts(spec) ? portsOf(spec).flatMap((p, i) => (typeof p.nodePort === 'number' && p.nodePort !== 0 ? [] : [i])) : [];
  const healthCheckNodePort = type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local' && !(typeof spec.healthCheckNodePort === 'number' && spec.healthCheckNodePort !== 0);
  return { clusterIP: ipTyped && clusterIP === '', nodePorts, healthCheckNodePort };
}

/** The cluster IP (as a number, in-range or not) and node ports `svc` holds. */
export function serviceHolds(svc: KubeObject): { ip: number | null; ports: number[] } {
  const spec = specOf(svc);
  const clusterIP = typeof spec.clusterIP === 'string' && spec.clusterIP !== CLUSTER_IP_NONE ? spec.clusterIP : '';
  const ports = portsOf(spec).flatMap((p) => (typeof p.nodePort === 'number' && p.nodePort !== 0 ? [p.nodePort] : []));
  if (typeof spec.healthCheckNodePort === 'number' && spec.healthCheckNodePort !== 0) ports.push(spec.healthCheckNodePort);
  return { ip: typeOf(spec) === 'ExternalName' || clusterIP === '' ? null : parseIPv4(clusterIP), ports };
}

function isNeeded(n: ServiceNeeds): boolean {
  return n.clusterIP || n.nodePorts.length > 0 || n.healthCheckNodePort;
}

function keyOf(svc: KubeObject): string {
  return `${svc.metadata.namespace ?? ''}/${svc.metadata.name ?? ''}`;
}

// ---------------------------------------------------------------- the controller

export class ServiceIpController implements Controller {
  readonly name = 'service-ip';
  private readonly cidr: { base: number; size: number };
  private readonly o: ServiceIpOptions;
  private ips!: RangeAllocator;
  private ports!: RangeAllocator;

  constructor(o: Partial<ServiceIpOptions> = {}) {
    this.o = { ...SERVICE_IP_DEFAULTS, ...o };
    this.cidr = parseCidr(this.o.serviceCidr);
    const [lo, hi] = this.o.nodePortRange;
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo > 0 && lo <= hi && hi <= 65535)) {
      throw new ServiceIpError('SERVICE_IP_ERR_BAD_RANGE', `node port range ${lo}-${hi} is not a range of ports`);
    }
    assert(this.cidr.size > DNS_IP_OFFSET + 1, 'the service CIDR is too small for the reserved addresses');
  }

  /** The address of the `kubernetes` Service (first usable). */
  get kubernetesIP(): string {
    return formatIPv4(this.cidr.base + KUBERNETES_IP_OFFSET);
  }

  /** The address upstream's convention gives cluster DNS (tenth usable). */
  get dnsIP(): string {
    return formatIPv4(this.cidr.base + DNS_IP_OFFSET);
  }

  async run(ctx: ControllerContext): Promise<void> {
    const { base, size } = this.cidr;
    // Usable: not the network address (base) nor the broadcast one (base + size - 1).
    this.ips = new RangeAllocator(base + 1, base + size - 2, new Set([base + KUBERNETES_IP_OFFSET, base + DNS_IP_OFFSET]), staticBandOf(size - 2));
    const [lo, hi] = this.o.nodePortRange;
    this.ports = new RangeAllocator(lo, hi, new Set(), staticBandOf(hi - lo + 1));
    const queue = new WorkQueue();
    const informer = ctx.informer(SERVICES);
    informer.onChange((type, svc, old) => {
      if (old) this.forget(old);
      if (type !== 'DELETED') this.remember(svc);
      queue.add(keyOf(svc));
    });
    onStop(ctx.stopped, () => queue.shutDown());
    if (!(await this.catchUp(ctx, informer))) return;
    queue.add(`${KUBERNETES_SERVICE.namespace}/${KUBERNETES_SERVICE.name}`);
    queue.add(`${KUBE_DNS_SERVICE.namespace}/${KUBE_DNS_SERVICE.name}`);
    await Promise.all([
      runWorkers(queue, WORKERS, (key) => this.reconcile(ctx, informer, key), (key, e) => {
        // The system Services come before their namespaces at a cluster's first start: retried quietly.
        const early = isApiError(e) && e.reason === 'NotFound' && (key === `${KUBE_DNS_SERVICE.namespace}/${KUBE_DNS_SERVICE.name}` || key === `${KUBERNETES_SERVICE.namespace}/${KUBERNETES_SERVICE.name}`);
        if (early) ctx.logger.debug({ service: key }, 'its namespace does not exist yet; retrying');
        else ctx.logger.warn({ err: e, service: key }, 'service IP allocation failed; retrying');
      }),
      aborted(ctx.stopped),
    ]);
  }

  /**
   * Waits until the informer reflects everything committed before this
   * leadership (a quorum revision read after the term began). False when
   * the leadership ended first.
   */
  private async catchUp(ctx: ControllerContext, informer: ResourceCache): Promise<boolean> {
    while (!ctx.stopped.aborted) {
      try {
        const rev = await ctx.rest.store.currentRevision();
        if (await informer.waitFor(rev, SERVICE_IP_SYNC_WAIT_MS)) return true;
      } catch (e) {
        ctx.logger.warn({ err: e }, 'service IP allocation: cannot read the store revision yet');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  private remember(svc: KubeObject): void {
    const key = keyOf(svc);
    const h = serviceHolds(svc);
    if (h.ip !== null && this.ips.contains(h.ip)) this.ips.claim(h.ip, key);
    for (const p of h.ports) if (this.ports.contains(p)) this.ports.claim(p, key);
  }

  private forget(svc: KubeObject): void {
    const key = keyOf(svc);
    const h = serviceHolds(svc);
    if (h.ip !== null) this.ips.release(h.ip, key);
    for (const p of h.ports) this.ports.release(p, key);
  }

  private async reconcile(ctx: ControllerContext, informer: ResourceCache, key: string): Promise<void> {
    const [namespace, name] = key.split('/') as [string, string];
    const svc = informer.get(objectKey(SERVICES, namespace, name));
    if (!svc) {
      if (namespace === KUBERNETES_SERVICE.namespace && name === KUBERNETES_SERVICE.name) await this.createKubernetesService(ctx);
      if (namespace === KUBE_DNS_SERVICE.namespace && name === KUBE_DNS_SERVICE.name) await this.createDnsService(ctx);
      return;
    }
    if (svc.metadata.deletionTimestamp) return;
    this.reportDuplicates(ctx, informer, svc);
    const needs = serviceNeeds(svc);
    if (!isNeeded(needs)) return;
    await this.allocate(ctx, svc, needs);
  }

  /** Logs a user-chosen value that an earlier Service holds too (see the file comment). */
  private reportDuplicates(ctx: ControllerContext, informer: ResourceCache, svc: KubeObject): void {
    const key = keyOf(svc);
    const h = serviceHolds(svc);
    const earlier = (other: string): boolean => {
      const [ns, n] = other.split('/') as [string, string];
      const o = informer.get(objectKey(SERVICES, ns, n));
      if (!o) return false;
      const a = `${o.metadata.creationTimestamp ?? ''}|${other}`;
      return a < `${svc.metadata.creationTimestamp ?? ''}|${key}`;
    };
    if (h.ip !== null && this.ips.contains(h.ip)) {
      const with_ = this.ips.others(h.ip, key).filter(earlier);
      if (with_.length > 0) ctx.logger.warn({ service: key, clusterIP: formatIPv4(h.ip), heldBy: with_ }, 'cluster IP already allocated to another service; left as the user chose it');
    }
    for (const p of h.ports) {
      const with_ = this.ports.contains(p) ? this.ports.others(p, key).filter(earlier) : [];
      if (with_.length > 0) ctx.logger.warn({ service: key, nodePort: p, heldBy: with_ }, 'node port already allocated to another service; left as the user chose it');
    }
  }

  /** Chooses the missing values and writes them at the resourceVersion they were chosen from. */
  private async allocate(ctx: ControllerContext, svc: KubeObject, needs: ServiceNeeds): Promise<void> {
    const key = keyOf(svc);
    const ip = needs.clusterIP ? this.ips.allocate(key) : null;
    const chosen: number[] = [];
    try {
      for (let i = 0; i < needs.nodePorts.length + (needs.healthCheckNodePort ? 1 : 0); i++) chosen.push(this.ports.allocate(key));
    } catch (e) {
      this.giveBack(key, ip, chosen);
      throw e;
    }
    const change = (cur: KubeObject): KubeObject => applyAllocation(cur, needs, ip === null ? null : formatIPv4(ip), chosen);
    try {
      const t = { r: SERVICES, namespace: svc.metadata.namespace ?? '', name: svc.metadata.name ?? '', subresource: '' as const };
      await ctx.rest.modify(t, { dryRun: false }, change, svc.metadata.resourceVersion ?? '');
      ctx.logger.info({ service: key, clusterIP: ip === null ? undefined : formatIPv4(ip), nodePorts: chosen.length > 0 ? chosen : undefined }, 'service allocated');
      // The values stay pending until the informer brings the write back (claim() clears them).
    } catch (e) {
      this.giveBack(key, ip, chosen);
      // Changed or gone meanwhile: the informer brings the new state, which is decided again.
      if (isApiError(e) && (e.reason === 'Conflict' || e.reason === 'NotFound')) return;
      throw e;
    }
  }

  private giveBack(key: string, ip: number | null, ports: number[]): void {
    if (ip !== null) this.ips.abandon(ip, key);
    for (const p of ports) this.ports.abandon(p, key);
  }

  private async createDnsService(ctx: ControllerContext): Promise<void> {
    const ip = this.dnsIP;
    const svc: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: KUBE_DNS_SERVICE.name, labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' }, annotations: { [NODE_LOCAL_ANNOTATION]: 'true' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: ip,
        clusterIPs: [ip],
        ports: [
          { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
          { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
        ],
        sessionAffinity: 'None',
      },
    };
    try {
      await ctx.rest.create({ r: SERVICES, namespace: KUBE_DNS_SERVICE.namespace }, svc, { dryRun: false });
      ctx.logger.info({ clusterIP: ip }, 'created the kube-dns service (served on every node)');
    } catch (e) {
      if (isApiError(e) && e.reason === 'AlreadyExists') return;
      throw e;
    }
  }

  private async createKubernetesService(ctx: ControllerContext): Promise<void> {
    const ip = this.kubernetesIP;
    const svc: KubeObject = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: KUBERNETES_SERVICE.name, labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: ip,
        clusterIPs: [ip],
        ports: [{ name: 'https', protocol: 'TCP', port: KUBERNETES_SERVICE.port, targetPort: KUBERNETES_SERVICE.targetPort }],
        sessionAffinity: 'None',
      },
    };
    try {
      await ctx.rest.create({ r: SERVICES, namespace: KUBERNETES_SERVICE.namespace }, svc, { dryRun: false });
      ctx.logger.info({ clusterIP: ip }, 'created the kubernetes service');
    } catch (e) {
      if (isApiError(e) && e.reason === 'AlreadyExists') return;
      throw e; // e.g. the default namespace does not exist yet: retried with backoff
    }
  }
}

/** `cur` with the chosen values filled in where they are still missing (pure). */
export function applyAllocation(cur: KubeObject, needs: ServiceNeeds, ip: string | null, ports: readonly number[]): KubeObject {
  const next = structuredClone(cur);
  const spec = specOf(next);
  next.spec = spec;
  if (ip !== null) {
    spec.clusterIP = ip;
    spec.clusterIPs = [ip];
  }
  const list = portsOf(spec);
  let k = 0;
  for (const i of needs.nodePorts) {
    const p = list[i];
    assert(p !== undefined, 'a port to allocate for vanished at the same resourceVersion');
    p.nodePort = ports[k++];
  }
  if (needs.healthCheckNodePort) spec.healthCheckNodePort = ports[k++];
  return next;
}

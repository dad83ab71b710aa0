/**
 * A hollow node, like kubemark's hollow kubelet: a TEST AND BENCHMARK TOOL,
 * never the real node daemon. It runs no containers. Over the API (HTTP,
 * like a real node) it
 * - registers a Node with capacity, Ready=True conditions, an InternalIP
 *   and kubeletVersion `v1.32.0-hollow`;
 * - renews its Lease in `kube-node-lease` every heartbeat (and refreshes the
 *   Node's condition heartbeat times every few heartbeats);
 * - watches the Pods bound to it (`fieldSelector=spec.nodeName=<name>`) and
 *   reports each as Running and Ready through pods/status, with an IP from
 *   its pod CIDR and running container statuses;
 * - "stops" a Pod that is being deleted and deletes it with
 *   gracePeriodSeconds=0, as the kubelet does once containers are gone.
 * `stop()` makes it go silent (no heartbeats, no pod handling) so that node
 * failure can be tested; `close()` also releases what it holds.
 */
import { createHash } from 'node:crypto';
import { assert } from '../../util/assert.js';
import { type ApiClient, type Json, type WatchEvent, isKubeApiError, microTime, timestamp } from '../../node/api/index.js';

export const HOLLOW_KUBELET_VERSION = 'v1.32.0-hollow';
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const NODE_LEASE_DURATION_SECONDS = 40;
/** The Node's condition heartbeat times are refreshed every this many lease renewals. */
export const STATUS_EVERY_HEARTBEATS_DEFAULT = 4;
/** Server-side timeout asked of each pod watch; it is then resumed from the last resourceVersion. */
export const POD_WATCH_TIMEOUT_SECONDS = 300;
const RETRY_MS = 500;

export interface HollowLogger {
  warn(obj: object, msg: string): void;
}

export interface HollowNodeOptions {
  name: string;
  /** Quantities as the API writes them: cpu '4', memory '16Gi'. */
  cpu: string;
  memory: string;
  pods: number;
  labels?: Record<string, string>;
  /** IPv4 CIDR pod IPs come from (default: a /24 in 10.64.0.0/11 from a hash of the name); the Node's spec.podCIDR wins once set. */
  podCidr?: string;
  /** Default: an address in 10.0.0.0/10 from a hash of the name. */
  internalIP?: string;
  heartbeatSeconds: number;
  statusEveryHeartbeats?: number;
  logger?: HollowLogger;
}

export interface HollowNodeStats {
  heartbeats: number;
  podsRunning: number;
  podsStarted: number;
  podsDeleted: number;
  errors: number;
}

function hash32(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0);
}

export { microTime, timestamp };

export function defaultPodCidr(name: string): string {
  const h = hash32(`pod-cidr/${name}`);
  return `10.${64 + ((h >>> 8) % 32)}.${h & 255}.0/24`;
}

export function defaultInternalIP(name: string): string {
  const h = hash32(`node-ip/${name}`);
  return `10.${(h >>> 16) & 63}.${(h >>> 8) & 255}.${1 + (h % 254)}`;
}

/** The host addresses of an IPv4 CIDR a node gives pods: not the network, the gateway (.1) nor broadcast. */
export class PodIpPool {
  private readonly base: number;
  private readonly size: number;
  private readonly byPod = new Map<string, number>();
  private readonly taken = new Set<number>();
  private cursor = 2;

  constructor(readonly cidr: string) {
    const [ip, bits] = cidr.split('/');
    const parts = (ip ?? '').split('.').map(Number);
    const prefix = Number(bits);
    assert(parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p <= 255) && prefix >= 8 && prefix <= 29, `bad pod CIDR ${cidr}`);
    this.size = 2 ** (32 - prefix);
    this.base = ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
    this.base -= this.base % this.size;
  }

  private fmt(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
  }

  /** The pod's address (the same one on every call), or null when the CIDR is full. */
  allocate(podUid: string): string | null {
    const had = this.byPod.get(podUid);
    if (had !== undefined) return this.fmt(this.base + had);
    for (let i = 0; i < this.size - 3; i++) {
      const off = this.cursor;
      this.cursor = off + 1 >= this.size - 1 ? 2 : off + 1;
      if (this.taken.has(off)) continue;
      this.taken.add(off);
      this.byPod.set(podUid, off);
      return this.fmt(this.base + off);
    }
    return null;
  }

  /** Takes note of an address a pod already has (after a restart of the hollow node). */
  adopt(podUid: string, ip: string): void {
    const p = ip.split('.').map(Number);
    const off = (((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!) - this.base;
    if (off < 2 || off >= this.size - 1 || this.byPod.has(podUid)) return;
    this.taken.add(off);
    this.byPod.set(podUid, off);
  }

  release(podUid: string): void {
    const off = this.byPod.get(podUid);
    if (off === undefined) return;
    this.byPod.delete(podUid);
    this.taken.delete(off);
  }

  has(podUid: string): boolean {
    return this.byPod.has(podUid);
  }

  /** Pod uids holding an address. */
  holders(): string[] {
    return [...this.byPod.keys()];
  }
}

export class HollowNode {
  readonly name: string;
  readonly internalIP: string;
  readonly stats: HollowNodeStats = { heartbeats: 0, podsRunning: 0, podsStarted: 0, podsDeleted: 0, errors: 0 };
  private pool: PodIpPool;
  private nodeUid = '';
  private lease: Json | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private readonly abort = new AbortController();
  private watching: Promise<void> | null = null;
  /** Per pod (uid): the chain of its handlings, so one pod's events are handled in order. */
  private readonly chains = new Map<string, Promise<void>>();
  private beats = 0;

  constructor(
    private readonly client: ApiClient,
    private readonly o: HollowNodeOptions,
  ) {
    assert(o.heartbeatSeconds > 0 && o.pods > 0, 'a hollow node needs a heartbeat and room for pods');
    this.name = o.name;
    this.internalIP = o.internalIP ?? defaultInternalIP(o.name);
    this.pool = new PodIpPool(o.podCidr ?? defaultPodCidr(o.name));
  }

  get podCidr(): string {
    return this.pool.cidr;
  }

  /** Registers the Node and its Lease, lists its pods, then heartbeats and watches until stopped. */
  async start(): Promise<void> {
    await this.register();
    await this.renewLease();
    this.scheduleHeartbeat();
    let listed!: () => void;
    const firstList = new Promise<void>((resolve) => (listed = resolve));
    this.watching = this.watchPods(listed);
    await Promise.race([firstList, this.watching]);
  }

  /** Goes silent: no more heartbeats, no more pod handling (the Node and Lease stay as they are). */
  stop(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.abort.abort();
  }

  async close(): Promise<void> {
    this.stop();
    await this.watching;
    await Promise.allSettled([...this.chains.values()]);
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  // ------------------------------------------------------------ node and lease

  private nodeConditions(now: Date, transition: string): Json[] {
    const hb = timestamp(now);
    const c = (type: string, status: string, reason: string, message: string) => ({ type, status, lastHeartbeatTime: hb, lastTransitionTime: transition, reason, message });
    return [
      c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      c('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status (hollow)'),
    ];
  }

  private readonly startedAt = timestamp(new Date());

  private nodeStatus(): Json {
    const capacity = { cpu: this.o.cpu, memory: this.o.memory, pods: String(this.o.pods) };
    const id = createHash('sha256').update(`machine/${this.name}`).digest('hex').slice(0, 32);
    return {
      capacity,
      allocatable: { ...capacity },
      conditions: this.nodeConditions(new Date(), this.startedAt),
      addresses: [
        { type: 'InternalIP', address: this.internalIP },
        { type: 'Hostname', address: this.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: id,
        systemUUID: id,
        bootID: id,
        kernelVersion: 'hollow',
        osImage: 'skiff hollow node',
        containerRuntimeVersion: 'hollow://1.0.0',
        kubeletVersion: HOLLOW_KUBELET_VERSION,
        kubeProxyVersion: HOLLOW_KUBELET_VERSION,
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    };
  }

  private async register(): Promise<void> {
    const labels = { 'kubernetes.io/hostname': this.name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', 'node.kubernetes.io/instance-type': 'hollow', ...(this.o.labels ?? {}) };
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: this.name, labels, annotations: { 'skiff.io/hollow-node': 'true' } }, spec: {}, status: this.nodeStatus() };
    let out: Json;
    try {
      out = await this.client.post('/api/v1/nodes', node);
    } catch (e) {
      if (!isKubeApiError(e, 409)) throw e;
      // Registered before (a restarted hollow node): take over its status.
      out = await this.client.mergePatch(`/api/v1/nodes/${this.name}/status`, { status: this.nodeStatus() });
    }
    this.learnNode(out);
  }

  /** The node's uid (for the Lease's owner) and, once a controller assigned one, its pod CIDR. */
  private learnNode(node: Json): void {
    this.nodeUid = node.metadata?.uid ?? this.nodeUid;
    const cidr = node.spec?.podCIDR;
    if (typeof cidr === 'string' && cidr !== '' && cidr !== this.pool.cidr && this.pool.holders().length === 0) this.pool = new PodIpPool(cidr);
  }

  private leasePath(name = ''): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases${name ? `/${name}` : ''}`;
  }

  /** Renews (or first creates) the Lease, from the last copy; a conflict reads it again once. */
  private async renewLease(): Promise<void> {
    const spec = { holderIdentity: this.name, leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS, renewTime: microTime(new Date()) };
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        if (!this.lease) {
          const owner = this.nodeUid ? [{ apiVersion: 'v1', kind: 'Node', name: this.name, uid: this.nodeUid }] : undefined;
          this.lease = await this.client.post(this.leasePath(), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.name, ownerReferences: owner }, spec });
        } else {
          this.lease = await this.client.put(this.leasePath(this.name), { ...this.lease, spec: { ...this.lease.spec, ...spec } });
        }
        this.stats.heartbeats++;
        return;
      } catch (e) {
        if (isKubeApiError(e, 409)) this.lease = await this.getLease();
        else if (isKubeApiError(e, 404)) this.lease = null;
        else throw e;
      }
    }
    throw new Error(`the lease of ${this.name} kept changing`);
  }

  private async getLease(): Promise<Json | null> {
    try {
      return await this.client.get(this.leasePath(this.name));
    } catch (e) {
      if (isKubeApiError(e, 404)) return null;
      throw e;
    }
  }

  private scheduleHeartbeat(): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), this.o.heartbeatSeconds * 1000);
    this.heartbeatTimer.unref();
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.renewLease();
      if (++this.beats % (this.o.statusEveryHeartbeats ?? STATUS_EVERY_HEARTBEATS_DEFAULT) === 0) {
        this.learnNode(await this.client.mergePatch(`/api/v1/nodes/${this.name}/status`, { status: { conditions: this.nodeConditions(new Date(), this.startedAt) } }));
      }
    } catch (e) {
      this.failed(e, 'hollow node heartbeat failed');
    }
    this.scheduleHeartbeat();
  }

  private failed(e: unknown, msg: string): void {
    if (this.stopped) return;
    this.stats.errors++;
    this.o.logger?.warn({ err: e, node: this.name }, msg);
  }

  // ------------------------------------------------------------ pods

  private podsQuery(): string {
    return `fieldSelector=${encodeURIComponent(`spec.nodeName=${this.name}`)}`;
  }

  /** List, then watch from the list's revision; resumes after a server timeout; lists again after 410 or an error. */
  private async watchPods(listed: () => void): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        const list = await this.client.get(`/api/v1/pods?${this.podsQuery()}`);
        let rv: string = list.metadata?.resourceVersion ?? '';
        const present = new Set<string>((list.items ?? []).map((p: Json) => p.metadata?.uid));
        for (const uid of this.pool.holders()) if (!present.has(uid)) this.pool.release(uid);
        for (const pod of list.items ?? []) this.handle(pod);
        listed();
        let gone = false;
        while (!signal.aborted && !gone) {
          const path = `/api/v1/pods?watch=true&allowWatchBookmarks=true&timeoutSeconds=${POD_WATCH_TIMEOUT_SECONDS}&resourceVersion=${rv}&${this.podsQuery()}`;
          await this.client.watch(path, (ev: WatchEvent) => {
            if (ev.type === 'ERROR') {
              gone = true;
              return;
            }
            rv = ev.object.metadata?.resourceVersion ?? rv;
            if (ev.type === 'BOOKMARK') return;
            if (ev.type === 'DELETED') this.forget(ev.object);
            else this.handle(ev.object);
          }, signal);
        }
      } catch (e) {
        this.failed(e, 'hollow node pod watch failed; listing again');
        await new Promise((r) => setTimeout(r, RETRY_MS).unref());
      }
    }
  }

  /** Queues the pod's handling behind its earlier ones. */
  private handle(pod: Json): void {
    const uid: string = pod.metadata?.uid ?? '';
    const prev = this.chains.get(uid) ?? Promise.resolve();
    const next = prev.then(() => this.syncPod(pod)).catch((e: unknown) => this.failed(e, 'hollow node pod sync failed'));
    this.chains.set(uid, next);
    void next.then(() => {
      if (this.chains.get(uid) === next) this.chains.delete(uid);
    });
  }

  private forget(pod: Json): void {
    this.pool.release(pod.metadata?.uid ?? '');
    this.stats.podsRunning = this.pool.holders().length;
  }

  private podPath(pod: Json, sub = ''): string {
    return `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}${sub}`;
  }

  private async syncPod(pod: Json): Promise<void> {
    if (this.stopped) return;
    if (pod.metadata?.deletionTimestamp) return this.stopPod(pod);
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const uid: string = pod.metadata.uid;
    const known = typeof pod.status?.podIP === 'string' && pod.status.podIP !== '' && pod.status?.hostIP === this.internalIP;
    if (known) this.pool.adopt(uid, pod.status.podIP);
    this.stats.podsRunning = this.pool.holders().length;
    if (known && phase === 'Running') return;
    const ip = this.pool.allocate(uid);
    if (ip === null) throw new Error(`pod CIDR ${this.pool.cidr} of ${this.name} is full`);
    this.stats.podsRunning = this.pool.holders().length;
    await this.client.mergePatch(this.podPath(pod, '/status'), { status: runningStatus(pod, ip, this.internalIP, new Date()) });
    this.stats.podsStarted++;
  }

  /** "Stops" the containers (there are none) and removes the pod for good. */
  private async stopPod(pod: Json): Promise<void> {
    const uid: string = pod.metadata.uid;
    try {
      await this.client.delete(this.podPath(pod), { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } });
      this.stats.podsDeleted++;
    } catch (e) {
      if (!isKubeApiError(e, 404) && !isKubeApiError(e, 409)) throw e;
    }
    this.forget(pod);
  }
}

/** The status a kubelet reports for a pod whose containers all run and are ready (pure). */
export function runningStatus(pod: Json, podIP: string, hostIP: string, now: Date): Json {
  const t = timestamp(now);
  const started: string = pod.status?.startTime ?? t;
  const cond = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: t });
  const uid: string = pod.metadata?.uid ?? '';
  const containerStatus = (c: Json, running: boolean) => ({
    name: c.name,
    state: running ? { running: { startedAt: started } } : { terminated: { exitCode: 0, reason: 'Completed', startedAt: started, finishedAt: started, containerID: `hollow://${uid}/${c.name}` } },
    lastState: {},
    ready: running,
    started: running,
    restartCount: 0,
    image: c.image,
    imageID: `hollow://image@sha256:${createHash('sha256').update(String(c.image)).digest('hex')}`,
    containerID: `hollow://${uid}/${c.name}`,
  });
  const status: Json = {
    phase: 'Running',
    conditions: [cond('PodReadyToStartContainers'), cond('Initialized'), cond('Ready'), cond('ContainersReady'), cond('PodScheduled')],
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: started,
    containerStatuses: (pod.spec?.containers ?? []).map((c: Json) => containerStatus(c, true)),
  };
  const inits: Json[] = pod.spec?.initContainers ?? [];
  if (inits.length > 0) status.initContainerStatuses = inits.map((c) => containerStatus(c, false));
  return status;
}

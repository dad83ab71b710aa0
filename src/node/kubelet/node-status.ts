/**
 * The kubelet's Node: registration, the Lease heartbeat in kube-node-lease,
 * and the Node's status (capacity, allocatable, conditions, addresses, node
 * info). As upstream: the Lease is renewed every `leaseRenewSeconds` (the
 * control plane's liveness signal); the status is written when a condition
 * changes and otherwise every `statusReportSeconds`, so an idle cluster
 * does not churn Node objects.
 */
import { type ApiClient, type Json, isKubeApiError, microTime, timestamp } from '../api/index.js';
import { type HostInfo, type HostSample, type Pressure, EVICTION_HARD, hostInfo, kibQuantity, pressureOf, sampleHost } from './host.js';

export const NODE_LEASE_NAMESPACE = 'kube-node-lease';
export const NODE_LEASE_DURATION_SECONDS = 40;
export const KUBELET_VERSION = 'v1.32.0-skiff';
export const KUBELET_PORT = 10250;

export interface NodeStatusOptions {
  nodeName: string;
  nodeIP: string;
  maxPods: number;
  /** The kubelet's root dir (its filesystem is the node's ephemeral storage). */
  rootDir: string;
  labels?: Record<string, string>;
  /** Taints to register with (e.g. from --register-with-taints). */
  taints?: Json[];
  leaseRenewSeconds: number;
  statusReportSeconds: number;
  /** The port the kubelet endpoints (logs) listen on, published in the Node's status (default KUBELET_PORT). */
  kubeletPort?: number;
  /** What the runtime says (containerd's version); asked at each status. */
  runtime: () => Promise<{ version: string; ready: boolean; message: string }>;
  /** Whether pod networking is set up on this node (CNI config and routes). */
  networkReady: () => boolean;
  logger?: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** Injected in tests. */
  sample?: () => HostSample;
  info?: () => HostInfo;
}

interface ConditionState {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  since: string;
}

export class NodeStatusManager {
  private nodeUid = '';
  private lease: Json | null = null;
  private readonly conditions = new Map<string, ConditionState>();
  private lastReport = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly info: HostInfo;
  /** The Node as last read or written (its spec carries the pod CIDR). */
  node: Json | null = null;
  private readonly podCidrListeners: ((cidr: string) => void)[] = [];
  readonly stats = { leaseRenewals: 0, statusWrites: 0, errors: 0 };

  constructor(
    private readonly client: ApiClient,
    private readonly o: NodeStatusOptions,
  ) {
    this.info = (o.info ?? hostInfo)();
  }

  /** Called with the node's pod CIDR once the control plane assigned one (and when it changes). */
  onPodCidr(f: (cidr: string) => void): void {
    this.podCidrListeners.push(f);
    const cidr = this.podCidr;
    if (cidr) f(cidr);
  }

  get podCidr(): string {
    const c = this.node?.spec?.podCIDR;
    return typeof c === 'string' ? c : '';
  }

  /** Registers the Node (or takes over an existing one) and its Lease, then keeps both fresh until `stop`. */
  async start(): Promise<void> {
    await this.register();
    await this.renewLease();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.o.leaseRenewSeconds * 1000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      await this.renewLease();
      await this.reportStatus(false);
    } catch (e) {
      this.stats.errors++;
      if (!this.stopped) this.o.logger?.warn({ err: e instanceof Error ? e.message : String(e) }, 'node heartbeat failed');
    }
    this.schedule();
  }

  // ------------------------------------------------------------ status

  private capacity(s: HostSample): { capacity: Json; allocatable: Json } {
    const capacity: Json = { cpu: String(this.info.cpus), memory: kibQuantity(this.info.memoryBytes), pods: String(this.o.maxPods) };
    if (s.diskTotalBytes > 0) capacity['ephemeral-storage'] = kibQuantity(s.diskTotalBytes);
    // Allocatable: capacity less the hard eviction thresholds (no system reservations by default).
    const allocatable: Json = { ...capacity, memory: kibQuantity(this.info.memoryBytes - EVICTION_HARD.memoryAvailableBytes) };
    if (s.diskTotalBytes > 0) allocatable['ephemeral-storage'] = kibQuantity(s.diskTotalBytes * (1 - EVICTION_HARD.diskAvailableFraction));
    return { capacity, allocatable };
  }

  /** Sets a condition; true when its status changed (a transition is reported at once). */
  private setCondition(type: string, status: ConditionState['status'], reason: string, message: string, now: string): boolean {
    const c = this.conditions.get(type);
    if (c && c.status === status) {
      c.reason = reason;
      c.message = message;
      return false;
    }
    this.conditions.set(type, { status, reason, message, since: now });
    return true;
  }

  /** The host's figures now; the conditions and the capacity of one report come from the same sample. */
  private sample(): HostSample {
    return this.o.sample ? this.o.sample() : sampleHost(this.o.rootDir);
  }

  private async computeConditions(now: string, s: HostSample): Promise<boolean> {
    const p: Pressure = pressureOf(s);
    let changed = false;
    changed = this.setCondition('MemoryPressure', p.memory ? 'True' : 'False', p.memory ? 'KubeletHasInsufficientMemory' : 'KubeletHasSufficientMemory', p.memory ? 'kubelet has insufficient memory available' : 'kubelet has sufficient memory available', now) || changed;
    changed = this.setCondition('DiskPressure', p.disk ? 'True' : 'False', p.disk ? 'KubeletHasDiskPressure' : 'KubeletHasNoDiskPressure', p.disk ? 'kubelet has disk pressure' : 'kubelet has no disk pressure', now) || changed;
    changed = this.setCondition('PIDPressure', p.pid ? 'True' : 'False', p.pid ? 'KubeletHasInsufficientPID' : 'KubeletHasSufficientPID', p.pid ? 'kubelet has insufficient PID available' : 'kubelet has sufficient PID available', now) || changed;
    const net = this.o.networkReady();
    changed = this.setCondition('NetworkUnavailable', net ? 'False' : 'True', net ? 'RouteCreated' : 'NoRouteCreated', net ? 'pod network is configured on this node' : 'waiting for the pod CIDR and the CNI configuration', now) || changed;
    let rt: { version: string; ready: boolean; message: string };
    try {
      rt = await this.o.runtime();
    } catch (e) {
      rt = { version: '', ready: false, message: `container runtime is down: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (rt.version) this.runtimeVersion = rt.version;
    const ready = rt.ready && net;
    const why = !rt.ready ? rt.message : !net ? 'network plugin is not ready: waiting for the pod CIDR' : '';
    changed = this.setCondition('Ready', ready ? 'True' : 'False', ready ? 'KubeletReady' : 'KubeletNotReady', ready ? 'kubelet is posting ready status' : why, now) || changed;
    return changed;
  }

  private runtimeVersion = '';

  private status(now: string, s: HostSample): Json {
    const conditions = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'NetworkUnavailable', 'Ready'].map((type) => {
      const c = this.conditions.get(type)!;
      return { type, status: c.status, lastHeartbeatTime: now, lastTransitionTime: c.since, reason: c.reason, message: c.message };
    });
    return {
      ...this.capacity(s),
      conditions,
      addresses: [
        { type: 'InternalIP', address: this.o.nodeIP },
        { type: 'Hostname', address: this.o.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.o.kubeletPort ?? KUBELET_PORT } },
      nodeInfo: {
        machineID: this.info.machineID,
        systemUUID: this.info.systemUUID,
        bootID: this.info.bootID,
        kernelVersion: this.info.kernelVersion,
        osImage: this.info.osImage,
        containerRuntimeVersion: this.runtimeVersion ? `containerd://${this.runtimeVersion}` : '',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: KUBELET_VERSION,
        operatingSystem: 'linux',
        architecture: this.info.architecture,
      },
    };
  }

  /** Writes the status when a condition changed, when `force`, or when the last report is older than statusReportSeconds. */
  async reportStatus(force: boolean): Promise<void> {
    const now = timestamp(new Date());
    const sample = this.sample();
    const changed = await this.computeConditions(now, sample);
    if (!force && !changed && Date.now() - this.lastReport < this.o.statusReportSeconds * 1000) return;
    this.learn(await this.client.mergePatch(`/api/v1/nodes/${this.o.nodeName}/status`, { status: this.status(now, sample) }));
    this.lastReport = Date.now();
    this.stats.statusWrites++;
  }

  private learn(node: Json): void {
    const before = this.podCidr;
    this.node = node;
    this.nodeUid = node.metadata?.uid ?? this.nodeUid;
    const after = this.podCidr;
    if (after && after !== before) for (const f of this.podCidrListeners) f(after);
  }

  /** Re-reads the Node (the pod CIDR is assigned after registration). */
  async refresh(): Promise<void> {
    this.learn(await this.client.get(`/api/v1/nodes/${this.o.nodeName}`));
  }

  private async register(): Promise<void> {
    const now = timestamp(new Date());
    const sample = this.sample();
    await this.computeConditions(now, sample);
    const labels = {
      'kubernetes.io/hostname': this.o.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': this.info.architecture,
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': this.info.architecture,
      ...(this.o.labels ?? {}),
    };
    const spec: Json = this.o.taints?.length ? { taints: this.o.taints } : {};
    const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: this.o.nodeName, labels }, spec, status: this.status(now, sample) };
    try {
      this.learn(await this.client.post('/api/v1/nodes', node));
    } catch (e) {
      if (!isKubeApiError(e, 409)) throw e;
      // Registered before (a restarted daemon, or a re-installed host of the same name): take it over.
      this.learn(await this.client.mergePatch(`/api/v1/nodes/${this.o.nodeName}`, { metadata: { labels } }));
      this.learn(await this.client.mergePatch(`/api/v1/nodes/${this.o.nodeName}/status`, { status: this.status(now, sample) }));
    }
    this.lastReport = Date.now();
    this.stats.statusWrites++;
    this.o.logger?.info({ node: this.o.nodeName, podCIDR: this.podCidr || null }, 'node registered');
  }

  // ------------------------------------------------------------ lease

  private leasePath(name = ''): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases${name ? `/${name}` : ''}`;
  }

  /** Renews (or first creates) the Lease from the last copy; a conflict reads it again once. */
  async renewLease(): Promise<void> {
    const spec = { holderIdentity: this.o.nodeName, leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS, renewTime: microTime(new Date()) };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (!this.lease) {
          const owner = this.nodeUid ? [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid: this.nodeUid }] : undefined;
          this.lease = await this.client.post(this.leasePath(), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.o.nodeName, ownerReferences: owner }, spec });
        } else {
          this.lease = await this.client.put(this.leasePath(this.o.nodeName), { ...this.lease, spec: { ...this.lease.spec, ...spec } });
        }
        this.stats.leaseRenewals++;
        return;
      } catch (e) {
        if (isKubeApiError(e, 409)) this.lease = await this.getLease();
        else if (isKubeApiError(e, 404)) this.lease = null;
        else throw e;
      }
    }
    throw new Error(`the lease of ${this.o.nodeName} kept changing`);
  }

  private async getLease(): Promise<Json | null> {
    try {
      return await this.client.get(this.leasePath(this.o.nodeName));
    } catch (e) {
      if (isKubeApiError(e, 404)) return null;
      throw e;
    }
  }
}

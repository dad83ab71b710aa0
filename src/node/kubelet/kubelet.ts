/**
 * The kubelet part of `skiff node`: registers the Node and heartbeats it,
 * watches the Pods bound here (through any master), and keeps one worker per
 * Pod converging it through CRI. A relist of the runtime every second (the
 * "PLEG") wakes the worker of a pod whose containers changed state (an exit,
 * a crash); probes wake it when a result changes. After a restart of the
 * daemon the workers find the running sandboxes and containers by their
 * labels and keep them; sandboxes of pods that no longer exist are removed.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { CriClient } from '../cri/index.js';
import { type ApiClient, Informer, type Json, Limiter, isKubeApiError } from '../api/index.js';
import type { NodeDnsSettings } from '../dns/index.js';
import { LABEL_MANAGED, LABEL_POD_UID } from './labels.js';
import { NodeEventRecorder } from './events.js';
import { NodeStatusManager } from './node-status.js';
import { PodWorker } from './pod-worker.js';
import { ProbeManager } from './probes.js';
import { serviceEnv } from './service-env.js';
import { hostInfo } from './host.js';
import { removePodDir } from './volumes.js';
import { removePodCgroups } from './cgroups.js';

export interface KubeletOptions {
  api: ApiClient;
  cri: CriClient;
  nodeName: string;
  nodeIP: string;
  /** Where pod volumes live (`<rootDir>/pods/<uid>`); default /var/lib/skiff/kubelet. */
  rootDir: string;
  /** Where container logs go (`<podLogDir>/<ns>_<name>_<uid>/<container>/<n>.log`); default /var/log/pods. */
  podLogDir: string;
  /** Parent of the pods' cgroups (`<cgroupRoot>/pod<uid>`); default /kubepods. */
  cgroupRoot?: string;
  clusterDNS: string[];
  clusterDomain: string;
  /** The host's resolv.conf path ('' for none). */
  resolvConf: string;
  maxPods: number;
  labels?: Record<string, string>;
  /** The port of the node's kubelet endpoints (logs), as published in the Node's status. */
  kubeletPort?: number;
  leaseRenewSeconds?: number;
  statusReportSeconds?: number;
  relistMs?: number;
  /** First restart back-off (upstream: 10 s) and its cap (5 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Pod syncs running at once. */
  parallelSyncs?: number;
  /** A Services informer to share (the daemon's, which the proxy and DNS use); one of its own when absent. */
  services?: Informer;
  /** Whether pod networking is ready (the CNI config is written); default: always. */
  networkReady?: () => boolean;
  logger: { warn(o: object, m: string): void; info(o: object, m: string): void; debug(o: object, m: string): void; error(o: object, m: string): void };
}

export const KUBELET_DEFAULTS = {
  rootDir: '/var/lib/skiff/kubelet',
  podLogDir: '/var/log/pods',
  cgroupRoot: '/kubepods',
  clusterDNS: ['10.96.0.10'],
  clusterDomain: 'cluster.local',
  resolvConf: '/etc/resolv.conf',
  maxPods: 110,
  leaseRenewSeconds: 10,
  statusReportSeconds: 60,
  relistMs: 1000,
  backoffBaseMs: 10_000,
  backoffMaxMs: 300_000,
  parallelSyncs: 16,
} as const;

const ORPHAN_SWEEP_MS = 30_000;
/** Pod cgroups still busy when their pod ended, retried at each relist (bounded set, bounded tries). */
const CGROUP_RETRY_PODS_MAX = 4096;
const CGROUP_RETRY_TRIES_MAX = 60;

export class Kubelet {
  readonly nodeStatus: NodeStatusManager;
  readonly events: NodeEventRecorder;
  private readonly pods: Informer;
  private readonly services: Informer;
  /** Whether the Services informer is this kubelet's (started and stopped here). */
  private readonly ownServices: boolean;
  private readonly workers = new Map<string, PodWorker>();
  private readonly probes: ProbeManager;
  private readonly limiter: Limiter;
  /** Container id → pod uid and state, from the last relist. */
  private containers = new Map<string, { uid: string; state: string }>();
  private relistTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly dns: NodeDnsSettings;
  /** Pod uid → removal attempts left for its cgroups. */
  private readonly cgroupsLeft = new Map<string, number>();
  readonly stats = { relists: 0, orphansRemoved: 0, cgroupsAbandoned: 0 };

  constructor(private readonly o: KubeletOptions) {
    this.events = new NodeEventRecorder(o.api, o.nodeName);
    this.nodeStatus = new NodeStatusManager(o.api, {
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      maxPods: o.maxPods,
      rootDir: o.rootDir,
      labels: o.labels,
      kubeletPort: o.kubeletPort,
      leaseRenewSeconds: o.leaseRenewSeconds ?? KUBELET_DEFAULTS.leaseRenewSeconds,
      statusReportSeconds: o.statusReportSeconds ?? KUBELET_DEFAULTS.statusReportSeconds,
      runtime: async () => {
        const v = await o.cri.version();
        const st = await o.cri.status();
        const down = st.conditions.filter((c) => !c.status && c.type === 'RuntimeReady');
        return { version: v.runtimeVersion, ready: down.length === 0, message: down.map((c) => `${c.type}: ${c.reason} ${c.message}`).join('; ') };
      },
      networkReady: o.networkReady ?? (() => true),
      logger: o.logger,
    });
    this.pods = new Informer(o.api, { path: '/api/v1/pods', fieldSelector: `spec.nodeName=${o.nodeName}`, logger: o.logger });
    this.ownServices = !o.services;
    this.services = o.services ?? new Informer(o.api, { path: '/api/v1/services', logger: o.logger });
    this.probes = new ProbeManager(o.cri, (containerId, kind, result, message) => this.onProbe(containerId, kind, result, message));
    this.limiter = new Limiter(o.parallelSyncs ?? KUBELET_DEFAULTS.parallelSyncs);
    let hostResolv: string | null = null;
    if (o.resolvConf) {
      try {
        hostResolv = readFileSync(o.resolvConf, 'utf8');
      } catch {
        hostResolv = null;
      }
    }
    this.dns = { clusterDNS: o.clusterDNS, clusterDomain: o.clusterDomain, hostResolvConf: hostResolv, nodeIPs: [o.nodeIP] };
  }

  async start(): Promise<void> {
    mkdirSync(this.o.rootDir, { recursive: true });
    mkdirSync(this.o.podLogDir, { recursive: true });
    await this.nodeStatus.start();
    if (this.ownServices) this.services.start();
    this.pods.onChange((type, pod) => this.onPod(type, pod));
    this.pods.start();
    await Promise.all([this.pods.synced, this.services.synced]);
    await this.relist();
    await this.sweepOrphans();
    this.scheduleRelist();
    this.sweepTimer = setInterval(() => void this.sweepOrphans().catch((e) => this.o.logger.warn({ err: String(e) }, 'orphan sweep failed')), ORPHAN_SWEEP_MS);
    this.sweepTimer.unref();
    this.o.logger.info({ node: this.o.nodeName, pods: this.pods.size }, 'kubelet started');
  }

  /** Stops watching and syncing; containers keep running (a restarted daemon takes them over). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.relistTimer) clearTimeout(this.relistTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.nodeStatus.stop();
    this.pods.stop();
    if (this.ownServices) this.services.stop();
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    this.probes.close();
    this.events.close();
  }

  /** The pods bound here, as last seen (the read-only port's /pods). */
  podList(): Json[] {
    return this.pods.list();
  }

  get workerCount(): number {
    return this.workers.size;
  }

  private onPod(type: string, pod: Json): void {
    const uid: string = pod.metadata?.uid;
    if (!uid || this.stopped) return;
    let w = this.workers.get(uid);
    if (type === 'DELETED') {
      w?.podGone();
      return;
    }
    if (!w) {
      w = new PodWorker(uid, pod, this.workerEnv());
      this.workers.set(uid, w);
      w.kick();
      return;
    }
    w.update(pod);
  }

  private workerEnvCache: ConstructorParameters<typeof PodWorker>[2] | null = null;

  private workerEnv(): ConstructorParameters<typeof PodWorker>[2] {
    if (this.workerEnvCache) return this.workerEnvCache;
    const o = this.o;
    this.workerEnvCache = {
      cri: o.cri,
      api: o.api,
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      rootDir: o.rootDir,
      podLogDir: o.podLogDir,
      cgroupRoot: o.cgroupRoot ?? KUBELET_DEFAULTS.cgroupRoot,
      dns: this.dns,
      nodeMemoryBytes: hostInfo().memoryBytes,
      probes: this.probes,
      events: this.events,
      backoffBaseMs: o.backoffBaseMs ?? KUBELET_DEFAULTS.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs ?? KUBELET_DEFAULTS.backoffMaxMs,
      serviceEnv: (ns) => serviceEnv(this.services.list(), ns),
      configMap: (ns, name) => this.getOrNull(`/api/v1/namespaces/${ns}/configmaps/${name}`),
      secret: (ns, name) => this.getOrNull(`/api/v1/namespaces/${ns}/secrets/${name}`),
      logger: o.logger,
      finished: (uid) => {
        this.workers.delete(uid);
        this.retryCgroups(uid);
      },
      limit: (f) => this.limiter.run(f),
    };
    return this.workerEnvCache;
  }

  private async getOrNull(path: string): Promise<Json | null> {
    try {
      return await this.o.api.get(path);
    } catch (e) {
      if (isKubeApiError(e, 404)) return null;
      throw e;
    }
  }

  private onProbe(containerId: string, kind: string, result: string, message: string): void {
    const c = this.containers.get(containerId);
    const w = c ? this.workers.get(c.uid) : undefined;
    if (!w) return;
    const pod = w.currentPod;
    if (result === 'failure' && pod) this.events.pod(pod, 'Warning', 'Unhealthy', `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed: ${message}`);
    if (kind === 'liveness' && result === 'failure') w.livenessFailure(containerId);
    else w.kick();
  }

  // ------------------------------------------------------------ PLEG and orphans

  private scheduleRelist(): void {
    if (this.stopped) return;
    this.relistTimer = setTimeout(() => {
      this.relist()
        .catch((e) => this.o.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'runtime relist failed'))
        .finally(() => this.scheduleRelist());
    }, this.o.relistMs ?? KUBELET_DEFAULTS.relistMs);
    this.relistTimer.unref();
  }

  /** Lists the runtime's containers; wakes the worker of every pod whose containers changed. */
  private async relist(): Promise<void> {
    const list = await this.o.cri.listContainers({ labelSelector: { [LABEL_MANAGED]: 'true' } });
    const next = new Map<string, { uid: string; state: string }>();
    const changed = new Set<string>();
    for (const c of list) {
      const uid = c.labels[LABEL_POD_UID];
      if (!uid) continue;
      next.set(c.id, { uid, state: c.state });
      const before = this.containers.get(c.id);
      if (!before || before.state !== c.state) changed.add(uid);
    }
    for (const [id, c] of this.containers) if (!next.has(id)) changed.add(c.uid);
    this.containers = next;
    this.probes.retain(new Set([...next].filter(([, c]) => c.state === 'CONTAINER_RUNNING').map(([id]) => id)));
    for (const uid of changed) this.workers.get(uid)?.kick();
    this.removeLeftCgroups();
    this.stats.relists++;
  }

  /** Queues the pod's cgroups for removal at the next relists if any of them is left. */
  private retryCgroups(uid: string): void {
    if (removePodCgroups(this.o.cgroupRoot ?? KUBELET_DEFAULTS.cgroupRoot, uid)) return;
    if (this.cgroupsLeft.size >= CGROUP_RETRY_PODS_MAX) {
      this.stats.cgroupsAbandoned++;
      return;
    }
    this.cgroupsLeft.set(uid, CGROUP_RETRY_TRIES_MAX);
  }

  private removeLeftCgroups(): void {
    for (const [uid, tries] of this.cgroupsLeft) {
      if (this.workers.has(uid) || removePodCgroups(this.o.cgroupRoot ?? KUBELET_DEFAULTS.cgroupRoot, uid)) this.cgroupsLeft.delete(uid);
      else if (tries <= 1) {
        this.cgroupsLeft.delete(uid);
        this.stats.cgroupsAbandoned++;
        this.o.logger.warn({ uid }, 'pod cgroup still busy; left in place');
      } else this.cgroupsLeft.set(uid, tries - 1);
    }
  }

  /** Stops and removes sandboxes (and their containers) of pods this node no longer has. */
  private async sweepOrphans(): Promise<void> {
    if (!this.pods.hasSynced || this.stopped) return;
    const known = new Set(this.pods.list().map((p) => p.metadata.uid as string));
    for (const uid of this.workers.keys()) known.add(uid);
    const sandboxes = await this.o.cri.listPodSandbox({ labelSelector: { [LABEL_MANAGED]: 'true' } });
    for (const s of sandboxes) {
      const uid = s.labels[LABEL_POD_UID];
      if (!uid || known.has(uid)) continue;
      const ctrs = await this.o.cri.listContainers({ podSandboxId: s.id });
      for (const c of ctrs) {
        if (c.state === 'CONTAINER_RUNNING') await this.o.cri.stopContainer(c.id, 0).catch(() => undefined);
        await this.o.cri.removeContainer(c.id).catch(() => undefined);
      }
      await this.o.cri.stopPodSandbox(s.id).catch(() => undefined);
      await this.o.cri.removePodSandbox(s.id).catch(() => undefined);
      removePodDir(this.o.rootDir, uid);
      this.retryCgroups(uid);
      this.stats.orphansRemoved++;
      this.o.logger.info({ sandbox: s.id, pod: `${s.metadata.namespace}/${s.metadata.name}`, uid }, 'removed an orphaned sandbox');
    }
  }
}

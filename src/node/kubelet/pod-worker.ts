/**
 * One Pod's worker: converges what the runtime runs to what the Pod asks,
 * one sync at a time (a kick during a sync queues exactly one more).
 *
 * A sync: read the pod's sandboxes and containers from the runtime (by the
 * pod-uid label, so a restarted daemon finds and keeps what runs); if the
 * pod is being deleted, stop everything (SIGTERM, the grace period, then
 * kill), write the final status and delete the Pod object; otherwise make
 * sure a ready sandbox exists (volumes first), run the init containers in
 * order to completion, start or restart the app containers per the restart
 * policy with upstream's back-off (immediate, then 10 s doubling to 5 min),
 * kill containers whose liveness probe failed, and write the status when it
 * changed.
 */
import { mkdirSync } from 'node:fs';
import type { Container, ContainerStatus, CriClient, PodSandbox, PodSandboxConfig } from '../cri/index.js';
import { isCriError } from '../cri/index.js';
import { type ApiClient, type Json, isKubeApiError } from '../api/index.js';
import type { NodeDnsSettings } from '../dns/index.js';
import { containerConfig, containerEnv, isHostNetwork, podLogDirectory, sandboxConfig, containerHash } from './container-config.js';
import { ANNOTATION_CONTAINER_HASH, ANNOTATION_INIT, LABEL_POD_UID } from './labels.js';
import { type ContainerFacts, type PodFacts, podStatus, sameStatus } from './status.js';
import { type PreparedVolumes, containerMounts, prepareVolumes, removePodDir } from './volumes.js';
import type { ProbeManager } from './probes.js';
import type { NodeEventRecorder } from './events.js';
import { isKubeletError } from './errors.js';
import { podCgroupParent } from './cgroups.js';

export interface WorkerEnv {
  cri: CriClient;
  api: ApiClient;
  nodeName: string;
  nodeIP: string;
  rootDir: string;
  podLogDir: string;
  cgroupRoot: string;
  dns: NodeDnsSettings;
  nodeMemoryBytes: number;
  probes: ProbeManager;
  events: NodeEventRecorder;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Service environment variables for a namespace. */
  serviceEnv(namespace: string): Record<string, string>;
  configMap(namespace: string, name: string): Promise<Json | null>;
  secret(namespace: string, name: string): Promise<Json | null>;
  logger: { warn(o: object, m: string): void; info(o: object, m: string): void; debug(o: object, m: string): void };
  /** The worker is done with its pod (deleted and cleaned up, but for its cgroups: the kubelet removes them). */
  finished(uid: string): void;
  /** Bounds the syncs running at once across pods. */
  limit<T>(f: () => Promise<T>): Promise<T>;
}

interface Backoff {
  until: number;
  delayMs: number;
}

const RESET_BACKOFF_AFTER_MS = 10 * 60_000;

export class PodWorker {
  private pod: Json | null;
  /** The pod object is gone from the API (force-deleted): clean up without a final status. */
  private gone = false;
  private running = false;
  private again = false;
  private closed = false;
  private readonly waiting = new Map<string, { reason: string; message: string }>();
  private readonly backoff = new Map<string, Backoff>();
  private readonly livenessFailed = new Set<string>();
  private volumes: PreparedVolumes | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private lastWritten: Json | undefined;
  private deleted = false;
  /** Resolves when the current sync loop ends (for tests and shutdown). */
  private idle: Promise<void> = Promise.resolve();

  constructor(
    readonly uid: string,
    pod: Json,
    private readonly env: WorkerEnv,
  ) {
    this.pod = pod;
  }

  /** The pod as last seen (null once it is gone from the API). */
  get currentPod(): Json | null {
    return this.gone ? null : this.pod;
  }

  update(pod: Json): void {
    this.pod = pod;
    this.kick();
  }

  /** The pod object was deleted from the API (force or finished): stop what runs and forget it. */
  podGone(): void {
    this.gone = true;
    this.kick();
  }

  livenessFailure(containerId: string): void {
    this.livenessFailed.add(containerId);
    this.kick();
  }

  kick(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = this.loop();
  }

  /** Stops kicking (daemon shutdown): running containers are left as they are. */
  close(): Promise<void> {
    this.closed = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    return this.idle;
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        try {
          await this.env.limit(() => this.sync());
        } catch (e) {
          this.env.logger.warn({ pod: this.name(), err: e instanceof Error ? e.message : String(e) }, 'pod sync failed; retrying');
          this.wakeIn(1000);
        }
      } while (this.again && !this.closed);
    } finally {
      this.running = false;
    }
  }

  private wakeIn(ms: number): void {
    if (this.closed) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.kick();
    }, ms);
    this.wakeTimer.unref();
  }

  private name(): string {
    const m = this.pod?.metadata;
    return m ? `${m.namespace}/${m.name}` : this.uid;
  }

  // ------------------------------------------------------------ the sync

  private async sync(): Promise<void> {
    const pod = this.pod!;
    const { cri } = this.env;
    const sandboxes = (await cri.listPodSandbox({ labelSelector: { [LABEL_POD_UID]: this.uid } })).sort((a, b) => b.createdAtMs - a.createdAtMs);
    const containers = await cri.listContainers({ labelSelector: { [LABEL_POD_UID]: this.uid } });
    if (this.gone || pod.metadata.deletionTimestamp) {
      await this.terminate(pod, sandboxes, containers);
      return;
    }
    const phase = pod.status?.phase;
    if (this.lastWritten && (this.lastWritten.phase === 'Succeeded' || this.lastWritten.phase === 'Failed')) {
      // Finished: nothing runs again; the sandbox is stopped to give back its IP.
      await this.stopAll(sandboxes, containers, 0, false);
      return;
    }
    if ((phase === 'Succeeded' || phase === 'Failed') && sandboxes.length === 0) return;

    let sandbox: PodSandbox | undefined = sandboxes[0];
    let podIP = '';
    const sbCtx = { attempt: sandboxes.length, logDirectory: podLogDirectory(this.env.podLogDir, pod), dns: this.env.dns, cgroupParent: podCgroupParent(this.env.cgroupRoot, this.uid) };
    let sbConfig: PodSandboxConfig;
    try {
      sbConfig = sandboxConfig(pod, sbCtx);
    } catch (e) {
      return this.failSandbox(pod, 'FailedCreatePodSandBox', e);
    }
    if (!sandbox || sandbox.state !== 'SANDBOX_READY') {
      const everRan = containers.length > 0;
      if (sandbox && everRan && pod.spec?.restartPolicy === 'Never') {
        // The sandbox died under containers that must not restart: the pod is over.
        await this.writeStatus(pod, await this.facts(pod, false, '', containers, true));
        return;
      }
      await this.stopAll(sandboxes, containers, 0, false);
      this.volumes = null;
      if (!(await this.ensureVolumes(pod))) {
        await this.writeStatus(pod, await this.facts(pod, false, '', containers, false));
        return;
      }
      mkdirSync(sbCtx.logDirectory, { recursive: true, mode: 0o755 });
      let id: string;
      try {
        id = await cri.runPodSandbox(sbConfig);
      } catch (e) {
        return this.failSandbox(pod, 'FailedCreatePodSandBox', e);
      }
      sandbox = (await cri.listPodSandbox({ id }))[0];
      if (!sandbox) throw new Error(`sandbox ${id} vanished after creation`);
    }
    // A restarted daemon finds the sandbox running: its volumes are prepared again (idempotent) before any container starts.
    if (!(await this.ensureVolumes(pod))) return;
    if (!isHostNetwork(pod)) podIP = (await cri.podSandboxStatus(sandbox.id)).ip;
    else podIP = this.env.nodeIP;

    const mine = containers.filter((c) => c.podSandboxId === sandbox!.id);
    await this.convergeContainers(pod, sandbox, sbConfig, podIP, mine, containers);
    const all = await cri.listContainers({ labelSelector: { [LABEL_POD_UID]: this.uid } });
    await this.writeStatus(pod, await this.facts(pod, true, podIP, all, false));
  }

  /** Prepares the pod's volumes once per sandbox; false (a FailedMount event, a retry soon) when one cannot be made. */
  private async ensureVolumes(pod: Json): Promise<boolean> {
    if (this.volumes) return true;
    try {
      this.volumes = await prepareVolumes(this.env.rootDir, pod, this.env.nodeName, { configMap: this.env.configMap, secret: this.env.secret });
      return true;
    } catch (e) {
      this.env.events.pod(pod, 'Warning', 'FailedMount', e instanceof Error ? e.message : String(e));
      this.wakeIn(2000);
      return false;
    }
  }

  private async failSandbox(pod: Json, reason: string, e: unknown): Promise<void> {
    const msg = e instanceof Error ? e.message : String(e);
    this.env.events.pod(pod, 'Warning', reason, `Failed to create pod sandbox: ${msg}`);
    this.env.logger.warn({ pod: this.name(), err: msg }, 'sandbox creation failed');
    this.wakeIn(this.nextBackoff('#sandbox'));
  }

  /** Starts init containers in order, then the app containers; restarts per policy; kills failed-liveness ones. */
  private async convergeContainers(pod: Json, sandbox: PodSandbox, sbConfig: PodSandboxConfig, podIP: string, mine: Container[], all: Container[]): Promise<void> {
    const policy: string = pod.spec?.restartPolicy ?? 'Always';
    const latestOf = (name: string, set: Container[]) => set.filter((c) => c.metadata.name === name).sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAtMs - a.createdAtMs)[0];
    // Init containers: one at a time, each to success.
    for (const ctr of (pod.spec?.initContainers ?? []) as Json[]) {
      const cur = latestOf(ctr.name, mine);
      if (!cur) {
        await this.startContainer(pod, ctr, true, sandbox, sbConfig, podIP, latestOf(ctr.name, all));
        return;
      }
      if (cur.state === 'CONTAINER_RUNNING') return;
      if (cur.state === 'CONTAINER_CREATED') {
        await this.env.cri.startContainer(cur.id);
        return;
      }
      const st = await this.env.cri.containerStatus(cur.id);
      if (st.exitCode === 0) continue;
      if (policy === 'Never') return;
      await this.startContainer(pod, ctr, true, sandbox, sbConfig, podIP, cur);
      return;
    }
    for (const ctr of (pod.spec?.containers ?? []) as Json[]) {
      const cur = latestOf(ctr.name, mine);
      if (cur && cur.state === 'CONTAINER_RUNNING') {
        const hash = cur.annotations[ANNOTATION_CONTAINER_HASH];
        if (this.livenessFailed.has(cur.id)) {
          this.livenessFailed.delete(cur.id);
          this.env.events.pod(pod, 'Normal', 'Killing', `Container ${ctr.name} failed liveness probe, will be restarted`, `spec.containers{${ctr.name}}`);
          await this.stopContainer(cur.id, this.graceSeconds(pod));
          this.again = true;
        } else if (hash && hash !== containerHash(ctr)) {
          this.env.events.pod(pod, 'Normal', 'Killing', `Container ${ctr.name} definition changed, will be restarted`, `spec.containers{${ctr.name}}`);
          await this.stopContainer(cur.id, this.graceSeconds(pod));
          this.again = true;
        } else {
          this.env.probes.ensure({ podIP, containerId: cur.id, ctr });
        }
        continue;
      }
      if (cur && cur.state === 'CONTAINER_CREATED') {
        await this.env.cri.startContainer(cur.id);
        continue;
      }
      if (cur && cur.state === 'CONTAINER_EXITED') {
        const st = await this.env.cri.containerStatus(cur.id);
        const restart = policy === 'Always' || (policy === 'OnFailure' && st.exitCode !== 0);
        if (!restart) continue;
        await this.startContainer(pod, ctr, false, sandbox, sbConfig, podIP, cur, st);
        continue;
      }
      await this.startContainer(pod, ctr, false, sandbox, sbConfig, podIP, latestOf(ctr.name, all));
    }
  }

  private graceSeconds(pod: Json): number {
    const g = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds;
    return typeof g === 'number' && g >= 0 ? g : 30;
  }

  private nextBackoff(key: string): number {
    const b = this.backoff.get(key);
    const delay = b ? Math.min(this.env.backoffMaxMs, b.delayMs * 2) : this.env.backoffBaseMs;
    this.backoff.set(key, { until: Date.now() + delay, delayMs: delay });
    return delay;
  }

  /**
   * Creates and starts one container (the first, or a restart of `prev`):
   * back-off first (a restart within it waits, as CrashLoopBackOff), then
   * the image, environment, mounts, create, start.
   */
  private async startContainer(pod: Json, ctr: Json, init: boolean, sandbox: PodSandbox, sbConfig: PodSandboxConfig, podIP: string, prev?: Container, prevStatus?: ContainerStatus): Promise<void> {
    const { cri, events } = this.env;
    const field = `spec.${init ? 'initContainers' : 'containers'}{${ctr.name}}`;
    if (prev && prev.state === 'CONTAINER_EXITED') {
      const st = prevStatus ?? (await cri.containerStatus(prev.id));
      const b = this.backoff.get(ctr.name);
      const ranLong = st.finishedAtMs - st.startedAtMs > RESET_BACKOFF_AFTER_MS;
      if (ranLong) this.backoff.delete(ctr.name);
      else if (b && Date.now() < b.until) {
        this.waiting.set(ctr.name, { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(b.delayMs / 1000)}s restarting failed container=${ctr.name} pod=${pod.metadata.name}_${pod.metadata.namespace}(${pod.metadata.uid})` });
        events.pod(pod, 'Warning', 'BackOff', 'Back-off restarting failed container', field);
        this.wakeIn(b.until - Date.now() + 10);
        return;
      }
      // Restart now (the first at once, as upstream); the next one waits longer.
      this.nextBackoff(ctr.name);
    }
    const restartCount = prev ? prev.metadata.attempt + 1 : 0;
    let image: string;
    try {
      image = await this.ensureImage(pod, ctr, field);
    } catch (e) {
      this.waiting.set(ctr.name, { reason: 'ErrImagePull', message: e instanceof Error ? e.message : String(e) });
      this.wakeIn(this.nextBackoff(`#image/${ctr.name}`));
      return;
    }
    let id: string;
    try {
      const refs = await this.refsOf(pod, ctr);
      const env = containerEnv(pod, ctr, { podIP, hostIP: this.env.nodeIP, nodeName: this.env.nodeName, configMap: (n) => refs.configMaps.get(n) ?? null, secret: (n) => refs.secrets.get(n) ?? null, serviceEnv: this.env.serviceEnv(pod.metadata.namespace) });
      const mounts = containerMounts(ctr, this.volumes!);
      const cfg = containerConfig(pod, ctr, { restartCount, init, env, mounts, nodeMemoryBytes: this.env.nodeMemoryBytes, image });
      id = await cri.createContainer(sandbox.id, cfg, sbConfig);
    } catch (e) {
      const config = isKubeletError(e);
      const msg = e instanceof Error ? e.message : String(e);
      this.waiting.set(ctr.name, { reason: config ? 'CreateContainerConfigError' : 'CreateContainerError', message: msg });
      events.pod(pod, 'Warning', 'Failed', `Error: ${msg}`, field);
      this.wakeIn(this.nextBackoff(`#create/${ctr.name}`));
      return;
    }
    events.pod(pod, 'Normal', 'Created', `Created container ${ctr.name}`, field);
    try {
      await cri.startContainer(id);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      this.waiting.set(ctr.name, { reason: 'RunContainerError', message: msg });
      events.pod(pod, 'Warning', 'Failed', `Error: ${msg}`, field);
      this.wakeIn(this.nextBackoff(ctr.name));
      return;
    }
    this.waiting.delete(ctr.name);
    events.pod(pod, 'Normal', 'Started', `Started container ${ctr.name}`, field);
    if (!init) this.env.probes.ensure({ podIP, containerId: id, ctr });
    // Older instances beyond the one before are removed (their logs with them).
    if (prev) await this.prune(ctr.name, prev.id);
  }

  private async prune(name: string, keepId: string): Promise<void> {
    const olds = (await this.env.cri.listContainers({ labelSelector: { [LABEL_POD_UID]: this.uid } })).filter((c) => c.metadata.name === name && c.state === 'CONTAINER_EXITED' && c.id !== keepId);
    for (const c of olds) await this.env.cri.removeContainer(c.id).catch(() => undefined);
  }

  /** The ConfigMaps and Secrets the container's environment names, fetched now. */
  private async refsOf(pod: Json, ctr: Json): Promise<{ configMaps: Map<string, Json>; secrets: Map<string, Json> }> {
    const ns: string = pod.metadata.namespace;
    const cms = new Set<string>();
    const secs = new Set<string>();
    for (const f of ctr.envFrom ?? []) {
      if (f.configMapRef?.name) cms.add(f.configMapRef.name);
      if (f.secretRef?.name) secs.add(f.secretRef.name);
    }
    for (const v of ctr.env ?? []) {
      if (v.valueFrom?.configMapKeyRef?.name) cms.add(v.valueFrom.configMapKeyRef.name);
      if (v.valueFrom?.secretKeyRef?.name) secs.add(v.valueFrom.secretKeyRef.name);
    }
    const configMaps = new Map<string, Json>();
    const secrets = new Map<string, Json>();
    for (const n of cms) {
      const o = await this.env.configMap(ns, n);
      if (o) configMaps.set(n, o);
    }
    for (const n of secs) {
      const o = await this.env.secret(ns, n);
      if (o) secrets.set(n, o);
    }
    return { configMaps, secrets };
  }

  /** The image's reference on the node, pulled per the container's imagePullPolicy. */
  private async ensureImage(pod: Json, ctr: Json, field: string): Promise<string> {
    const { cri, events } = this.env;
    const image: string = ctr.image;
    const tagged = /:[^/]+$/.test(image.split('@')[0]!) || image.includes('@');
    const latest = !tagged || image.endsWith(':latest');
    const policy: string = ctr.imagePullPolicy ?? (latest ? 'Always' : 'IfNotPresent');
    const present = policy === 'Always' ? null : await cri.imageStatus(image);
    if (present) return image;
    if (policy === 'Never') throw new Error(`Container image "${image}" is not present with pull policy of Never`);
    events.pod(pod, 'Normal', 'Pulling', `Pulling image "${image}"`, field);
    const t0 = Date.now();
    try {
      await cri.pullImage(image);
    } catch (e) {
      // An offline node may still have it (a locally imported image with policy Always).
      if (policy === 'Always' && (await cri.imageStatus(image))) return image;
      events.pod(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${e instanceof Error ? e.message : String(e)}`, field);
      throw e;
    }
    events.pod(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${Date.now() - t0}ms`, field);
    return image;
  }

  // ------------------------------------------------------------ stopping

  private async stopContainer(id: string, graceSeconds: number): Promise<void> {
    this.env.probes.stopContainer(id);
    try {
      await this.env.cri.stopContainer(id, graceSeconds);
    } catch (e) {
      if (!isCriError(e, 'CRI_ERR_NOT_FOUND')) throw e;
    }
  }

  /** Stops every container (with the grace period) and sandbox of the pod; removes them when `remove`. */
  private async stopAll(sandboxes: PodSandbox[], containers: Container[], graceSeconds: number, remove: boolean): Promise<void> {
    await Promise.all(containers.filter((c) => c.state === 'CONTAINER_RUNNING' || c.state === 'CONTAINER_CREATED').map((c) => this.stopContainer(c.id, graceSeconds)));
    for (const s of sandboxes) {
      if (s.state === 'SANDBOX_READY' || remove) {
        try {
          await this.env.cri.stopPodSandbox(s.id);
        } catch (e) {
          if (!isCriError(e, 'CRI_ERR_NOT_FOUND')) throw e;
        }
      }
    }
    if (!remove) return;
    for (const c of containers) await this.env.cri.removeContainer(c.id).catch((e: unknown) => (isCriError(e, 'CRI_ERR_NOT_FOUND') ? undefined : Promise.reject(e)));
    for (const s of sandboxes) await this.env.cri.removePodSandbox(s.id).catch((e: unknown) => (isCriError(e, 'CRI_ERR_NOT_FOUND') ? undefined : Promise.reject(e)));
  }

  /** Graceful deletion: stop, report, delete the Pod object, clean up. */
  private async terminate(pod: Json, sandboxes: PodSandbox[], containers: Container[]): Promise<void> {
    const running = containers.filter((c) => c.state === 'CONTAINER_RUNNING');
    if (running.length > 0) {
      for (const c of running) this.env.events.pod(pod, 'Normal', 'Killing', `Stopping container ${c.metadata.name}`, `spec.containers{${c.metadata.name}}`);
    }
    await this.stopAll(sandboxes, containers, this.gone ? 0 : this.graceSeconds(pod), false);
    if (!this.gone && !this.deleted) {
      const all = await this.env.cri.listContainers({ labelSelector: { [LABEL_POD_UID]: this.uid } });
      await this.writeStatus(pod, await this.facts(pod, false, '', all, true)).catch(() => undefined);
      try {
        await this.env.api.delete(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: this.uid } });
      } catch (e) {
        // Gone already, or a new pod of the same name (uid precondition): ours is done either way.
        if (!isKubeApiError(e, 404) && !isKubeApiError(e, 409)) throw e;
      }
      this.deleted = true;
    }
    await this.stopAll(sandboxes, await this.env.cri.listContainers({ labelSelector: { [LABEL_POD_UID]: this.uid } }), 0, true);
    removePodDir(this.env.rootDir, this.uid);
    // The pod cgroups go in finished(): the kubelet retries them while the runtime still holds one.
    this.closed = true;
    this.env.finished(this.uid);
  }

  // ------------------------------------------------------------ status

  private async facts(pod: Json, sandboxReady: boolean, podIP: string, all: Container[], terminating: boolean): Promise<PodFacts> {
    const policy: string = pod.spec?.restartPolicy ?? 'Always';
    const statuses = new Map<string, ContainerStatus>();
    const byName = new Map<string, Container[]>();
    for (const c of all) {
      const list = byName.get(c.metadata.name) ?? [];
      list.push(c);
      byName.set(c.metadata.name, list);
    }
    const statusOf = async (c: Container | undefined): Promise<ContainerStatus | null> => {
      if (!c) return null;
      let s = statuses.get(c.id);
      if (!s) {
        try {
          s = await this.env.cri.containerStatus(c.id);
        } catch (e) {
          if (isCriError(e, 'CRI_ERR_NOT_FOUND')) return null;
          throw e;
        }
        statuses.set(c.id, s);
      }
      return s;
    };
    const one = async (ctr: Json, init: boolean): Promise<ContainerFacts> => {
      const list = (byName.get(ctr.name) ?? []).filter((c) => !!c.annotations[ANNOTATION_INIT] === init).sort((a, b) => b.metadata.attempt - a.metadata.attempt || b.createdAtMs - a.createdAtMs);
      const latest = await statusOf(list[0]);
      const previous = await statusOf(list[1]);
      const running = latest?.state === 'CONTAINER_RUNNING';
      const exited = latest?.state === 'CONTAINER_EXITED';
      let willRestart = !terminating;
      if (exited && !terminating) {
        if (init) willRestart = latest!.exitCode !== 0 && policy !== 'Never';
        else willRestart = policy === 'Always' || (policy === 'OnFailure' && latest!.exitCode !== 0);
      }
      const startup = running ? this.env.probes.result(latest!.id, 'startup') : undefined;
      const readiness = running ? this.env.probes.result(latest!.id, 'readiness') : undefined;
      const started = running && (startup === undefined || startup === 'success');
      const ready = !init && running && started && (readiness === undefined || readiness === 'success');
      const waiting = !running ? (this.waiting.get(ctr.name) ?? null) : null;
      return { latest, previous, waiting, ready, started, willRestart };
    };
    const init = new Map<string, ContainerFacts>();
    let initialized = true;
    for (const c of (pod.spec?.initContainers ?? []) as Json[]) {
      const f = await one(c, true);
      init.set(c.name, f);
      if (!(f.latest?.state === 'CONTAINER_EXITED' && f.latest.exitCode === 0)) initialized = false;
    }
    const app = new Map<string, ContainerFacts>();
    for (const c of (pod.spec?.containers ?? []) as Json[]) app.set(c.name, await one(c, false));
    return { sandboxReady, podIP, hostIP: this.env.nodeIP, init, app, initialized, terminating };
  }

  /** Writes the status when it differs from the pod's; a conflict re-reads the pod once. */
  private async writeStatus(pod: Json, facts: PodFacts): Promise<void> {
    const status = podStatus(pod, facts, new Date());
    if (sameStatus(pod.status, status) || (this.lastWritten && sameStatus(this.lastWritten, status) && sameStatus(pod.status, this.lastWritten))) {
      this.lastWritten = status;
      return;
    }
    const path = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`;
    let base = pod;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const out = await this.env.api.put(path, { ...base, status });
        this.lastWritten = status;
        if (this.pod && this.pod.metadata.uid === out.metadata?.uid && Number(out.metadata.resourceVersion) > Number(this.pod.metadata.resourceVersion)) this.pod = out;
        return;
      } catch (e) {
        if (isKubeApiError(e, 404)) {
          this.gone = true;
          this.again = true;
          return;
        }
        if (!isKubeApiError(e, 409)) throw e;
        base = await this.env.api.get(`/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`);
        if (base.metadata?.uid !== this.uid) {
          this.gone = true;
          this.again = true;
          return;
        }
      }
    }
  }
}

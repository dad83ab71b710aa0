/**
 * A Pod's status from what the runtime has: phase, conditions, pod and host
 * IPs, and a status per container (state, last state, ready, started,
 * restart count, image, container id), as upstream's kubelet computes them.
 * Pure: the worker gathers the facts, this turns them into the API's shape.
 */
import type { ContainerStatus } from '../cri/index.js';
import { type Json, timestamp } from '../api/index.js';
import { qosClass } from './container-config.js';

/** What the worker knows of one container of the spec. */
export interface ContainerFacts {
  /** The newest instance (in any sandbox of the pod), with its status. */
  latest: ContainerStatus | null;
  /** The instance before it, if it ended. */
  previous: ContainerStatus | null;
  /** Why it is not running, when the kubelet knows (CrashLoopBackOff, ErrImagePull, CreateContainerConfigError…). */
  waiting: { reason: string; message: string } | null;
  ready: boolean;
  started: boolean;
  /** Whether it will be started again (restart policy, init order); false for a finished container that stays so. */
  willRestart: boolean;
}

export interface PodFacts {
  sandboxReady: boolean;
  podIP: string;
  hostIP: string;
  init: Map<string, ContainerFacts>;
  app: Map<string, ContainerFacts>;
  /** All init containers completed. */
  initialized: boolean;
  /** The pod is being killed (deleted, or its sandbox was lost with restartPolicy Never). */
  terminating: boolean;
}

export const CONTAINER_ID_PREFIX = 'containerd://';

function iso(ms: number): string | null {
  return ms > 0 ? timestamp(new Date(ms)) : null;
}

function terminatedState(s: ContainerStatus): Json {
  return {
    terminated: {
      exitCode: s.exitCode,
      reason: s.reason || (s.exitCode === 0 ? 'Completed' : 'Error'),
      ...(s.message ? { message: s.message } : {}),
      startedAt: iso(s.startedAtMs),
      finishedAt: iso(s.finishedAtMs),
      containerID: CONTAINER_ID_PREFIX + s.id,
    },
  };
}

function stateOf(f: ContainerFacts): Json {
  const s = f.latest;
  if (f.waiting && (!s || s.state !== 'CONTAINER_RUNNING')) return { waiting: { reason: f.waiting.reason, ...(f.waiting.message ? { message: f.waiting.message } : {}) } };
  if (!s) return { waiting: { reason: 'ContainerCreating' } };
  if (s.state === 'CONTAINER_RUNNING') return { running: { startedAt: iso(s.startedAtMs) } };
  if (s.state === 'CONTAINER_EXITED') return terminatedState(s);
  return { waiting: { reason: 'ContainerCreating' } };
}

function containerStatus(ctr: Json, f: ContainerFacts): Json {
  const s = f.latest;
  const out: Json = {
    name: ctr.name,
    state: stateOf(f),
    lastState: f.previous && f.previous.state === 'CONTAINER_EXITED' ? terminatedState(f.previous) : {},
    ready: f.ready,
    restartCount: s ? s.metadata.attempt : 0,
    image: ctr.image,
    imageID: s?.imageRef ?? '',
    started: f.started,
  };
  // A waiting container shows its last instance's id only when it has one.
  if (s) out.containerID = CONTAINER_ID_PREFIX + s.id;
  // kubectl reads a running container that was restarted from lastState; an exited latest with a
  // restart pending is shown as its terminated state (CrashLoopBackOff shows through `waiting`).
  return out;
}

function condition(type: string, ok: boolean, old: Json[] | undefined, now: string, reason?: string, message?: string): Json {
  const status = ok ? 'True' : 'False';
  const prior = old?.find((c) => c.type === type);
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: prior && prior.status === status ? prior.lastTransitionTime : now,
    ...(reason && !ok ? { reason } : {}),
    ...(message && !ok ? { message } : {}),
  };
}

/** The phase from the containers: upstream's getPhase. */
export function podPhase(f: PodFacts): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  const initFailed = [...f.init.values()].some((c) => c.latest?.state === 'CONTAINER_EXITED' && c.latest.exitCode !== 0 && !c.willRestart);
  if (initFailed) return 'Failed';
  if (!f.initialized) return 'Pending';
  let running = 0;
  let waiting = 0;
  let succeeded = 0;
  let failed = 0;
  let restarting = 0;
  for (const c of f.app.values()) {
    const s = c.latest;
    if (s?.state === 'CONTAINER_RUNNING') running++;
    else if (s?.state === 'CONTAINER_EXITED') {
      if (c.willRestart) restarting++;
      else if (s.exitCode === 0) succeeded++;
      else failed++;
    } else waiting++;
  }
  const n = f.app.size;
  if (waiting > 0) return running + restarting > 0 && waiting < n ? 'Running' : 'Pending';
  if (running > 0 || restarting > 0) return 'Running';
  if (succeeded + failed === n && n > 0) {
    if (failed > 0) return 'Failed';
    return 'Succeeded';
  }
  return 'Pending';
}

/** The status to write; `old` is the pod's current status (its conditions' transition times and startTime are kept). */
export function podStatus(pod: Json, f: PodFacts, now: Date): Json {
  const spec = pod.spec ?? {};
  const old: Json = pod.status ?? {};
  const ts = timestamp(now);
  const phase = podPhase(f);
  const init = (spec.initContainers ?? []).map((c: Json) => containerStatus(c, f.init.get(c.name) ?? emptyFacts()));
  const app = (spec.containers ?? []).map((c: Json) => containerStatus(c, f.app.get(c.name) ?? emptyFacts()));
  const notReady = app.filter((c: Json) => !c.ready).map((c: Json) => c.name);
  const containersReady = notReady.length === 0 && phase === 'Running';
  const unreadyMsg = `containers with unready status: [${notReady.join(' ')}]`;
  const uninit = (spec.initContainers ?? []).filter((c: Json) => !(f.init.get(c.name)?.latest?.state === 'CONTAINER_EXITED' && f.init.get(c.name)!.latest!.exitCode === 0)).map((c: Json) => c.name);
  const conditions: Json[] = [
    condition('PodReadyToStartContainers', f.sandboxReady, old.conditions, ts),
    condition('Initialized', f.initialized, old.conditions, ts, 'ContainersNotInitialized', `containers with incomplete status: [${uninit.join(' ')}]`),
    condition('Ready', containersReady, old.conditions, ts, phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady', unreadyMsg),
    condition('ContainersReady', containersReady, old.conditions, ts, phase === 'Succeeded' || phase === 'Failed' ? 'PodCompleted' : 'ContainersNotReady', unreadyMsg),
  ];
  const scheduled = (old.conditions ?? []).find((c: Json) => c.type === 'PodScheduled');
  conditions.push(scheduled ?? { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: ts });
  const out: Json = {
    phase,
    conditions,
    hostIP: f.hostIP,
    hostIPs: f.hostIP ? [{ ip: f.hostIP }] : [],
    startTime: old.startTime ?? ts,
    containerStatuses: app,
    qosClass: qosClass(pod),
  };
  if (f.podIP) {
    out.podIP = f.podIP;
    out.podIPs = [{ ip: f.podIP }];
  } else if (old.podIP && phase !== 'Pending') {
    // A finished pod keeps the IP it had (upstream keeps it too).
    out.podIP = old.podIP;
    out.podIPs = old.podIPs;
  }
  if (init.length > 0) out.initContainerStatuses = init;
  return out;
}

function emptyFacts(): ContainerFacts {
  return { latest: null, previous: null, waiting: null, ready: false, started: false, willRestart: true };
}

/** Status equality for "is a write needed" (lastProbeTime and heartbeat-like fields do not exist here). */
export function sameStatus(a: Json | undefined, b: Json): boolean {
  return JSON.stringify(normalize(a ?? {})) === JSON.stringify(normalize(b));
}

function normalize(s: Json): Json {
  const keys = ['phase', 'conditions', 'hostIP', 'podIP', 'startTime', 'containerStatuses', 'initContainerStatuses', 'qosClass', 'reason', 'message'];
  const out: Json = {};
  for (const k of keys) if (s[k] !== undefined) out[k] = k === 'conditions' ? [...s[k]].sort((x: Json, y: Json) => (x.type < y.type ? -1 : 1)).map((c: Json) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime: c.lastTransitionTime })) : s[k];
  return out;
}

/**
 * From a Pod's spec to the CRI's configs: the sandbox (metadata, hostname,
 * DNS, port mappings, network mode, log directory) and each container
 * (image, command and args, environment, mounts, resources as cgroup limits,
 * security context, log path), as upstream's kuberuntime does.
 */
import { join } from 'node:path';
import type { ContainerConfig, Mount, PodSandboxConfig, PortMapping } from '../cri/index.js';
import type { Json } from '../api/index.js';
import { intValue, milliValue } from '../../util/quantity.js';
import { type NodeDnsSettings, podDnsConfig } from '../dns/index.js';
import { ANNOTATION_CONTAINER_HASH, ANNOTATION_GRACE_PERIOD, ANNOTATION_INIT, ANNOTATION_RESTART_COUNT, containerLabels, sandboxLabels, stringMap } from './labels.js';
import { KubeletError } from './errors.js';

export const CPU_PERIOD_US = 100_000;
const MIN_SHARES = 2;
const SHARES_PER_CPU = 1024;

export interface SandboxContext {
  /** The sandbox's attempt: how many sandboxes this pod had before. */
  attempt: number;
  logDirectory: string;
  dns: NodeDnsSettings;
  /** The pod's cgroup parent (see cgroups.ts). */
  cgroupParent: string;
}

/** The directory a pod's container logs go to (upstream's layout: /var/log/pods/<ns>_<name>_<uid>). */
export function podLogDirectory(root: string, pod: Json): string {
  return join(root, `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`);
}

export function isHostNetwork(pod: Json): boolean {
  return pod.spec?.hostNetwork === true;
}

export function sandboxConfig(pod: Json, c: SandboxContext): PodSandboxConfig {
  const spec = pod.spec ?? {};
  const ports: PortMapping[] = [];
  for (const ctr of [...(spec.containers ?? [])]) {
    for (const p of ctr.ports ?? []) {
      if (!p.hostPort) continue;
      ports.push({ protocol: (p.protocol ?? 'TCP') as PortMapping['protocol'], containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIP ?? '' });
    }
  }
  const hostname = typeof spec.hostname === 'string' && spec.hostname ? spec.hostname : pod.metadata.name.slice(0, 63);
  const grace = typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30;
  return {
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace, uid: pod.metadata.uid, attempt: c.attempt },
    hostname: isHostNetwork(pod) ? undefined : hostname,
    logDirectory: c.logDirectory,
    dnsConfig: podDnsConfig(pod as never, c.dns),
    portMappings: ports,
    labels: sandboxLabels(pod),
    annotations: { ...stringMap(pod.metadata.annotations), [ANNOTATION_GRACE_PERIOD]: String(grace) },
    linux: {
      cgroupParent: c.cgroupParent,
      securityContext: {
        namespaceOptions: { network: isHostNetwork(pod) ? 'NODE' : 'POD', pid: spec.hostPID ? 'NODE' : 'CONTAINER', ipc: spec.hostIPC ? 'NODE' : 'POD' },
        runAsUser: spec.securityContext?.runAsUser,
        runAsGroup: spec.securityContext?.runAsGroup,
        supplementalGroups: spec.securityContext?.supplementalGroups,
      },
    },
  };
}

/** What a container's environment may refer to. */
export interface EnvContext {
  podIP: string;
  hostIP: string;
  nodeName: string;
  /** ConfigMaps and Secrets of the pod's namespace, by name (null: absent). */
  configMap(name: string): Json | null;
  secret(name: string): Json | null;
  /** Service environment variables (enableServiceLinks), already in upstream's form. */
  serviceEnv: Record<string, string>;
}

function fieldRef(pod: Json, path: string, e: EnvContext): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m) return String(pod.metadata?.[m[1]!]?.[m[2]!] ?? '');
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name;
    case 'metadata.namespace':
      return pod.metadata.namespace;
    case 'metadata.uid':
      return pod.metadata.uid;
    case 'spec.nodeName':
      return e.nodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
      return e.podIP;
    case 'status.podIPs':
      return e.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return e.hostIP;
    default:
      throw new KubeletError('KUBELET_ERR_CONFIG', `unsupported fieldRef fieldPath ${JSON.stringify(path)}`);
  }
}

function resourceRef(ctr: Json, ref: Json): string {
  const [kind, name] = String(ref.resource ?? '').split('.') as [string, string];
  const q = ctr.resources?.[kind === 'limits' ? 'limits' : 'requests']?.[name];
  const divisor = ref.divisor ?? '1';
  if (name === 'cpu') {
    const v = Math.ceil(milliValue(q ?? (kind === 'limits' ? '0' : '0')) / Math.max(1, milliValue(divisor)));
    return String(v);
  }
  return String(Math.ceil(intValue(q ?? '0') / Math.max(1, intValue(divisor))));
}

function keyOf(obj: Json | null, key: string, secret: boolean): string | undefined {
  if (!obj) return undefined;
  if (secret) {
    const b64 = obj.data?.[key];
    if (typeof b64 === 'string') return Buffer.from(b64, 'base64').toString('utf8');
    const s = obj.stringData?.[key];
    return typeof s === 'string' ? s : undefined;
  }
  const v = obj.data?.[key];
  if (typeof v === 'string') return v;
  const b = obj.binaryData?.[key];
  return typeof b === 'string' ? Buffer.from(b, 'base64').toString('utf8') : undefined;
}

/**
 * The container's environment in upstream's order: service links first,
 * then envFrom sources, then env (later entries win, and `$(VAR)` refers to
 * earlier ones). A missing non-optional ConfigMap, Secret or key is an error
 * (the container waits with CreateContainerConfigError).
 */
export function containerEnv(pod: Json, ctr: Json, e: EnvContext): { key: string; value: string }[] {
  const env = new Map<string, string>();
  if (pod.spec?.enableServiceLinks !== false) for (const [k, v] of Object.entries(e.serviceEnv)) env.set(k, v);
  else for (const [k, v] of Object.entries(e.serviceEnv)) if (k.startsWith('KUBERNETES_')) env.set(k, v);
  for (const from of ctr.envFrom ?? []) {
    const secret = !!from.secretRef;
    const ref = from.secretRef ?? from.configMapRef;
    if (!ref) continue;
    const obj = secret ? e.secret(ref.name) : e.configMap(ref.name);
    if (!obj) {
      if (ref.optional) continue;
      throw new KubeletError('KUBELET_ERR_CONFIG', `${secret ? 'secret' : 'configmap'} "${ref.name}" not found`);
    }
    const keys = new Set([...Object.keys(obj.data ?? {}), ...Object.keys(secret ? (obj.stringData ?? {}) : (obj.binaryData ?? {}))]);
    for (const k of keys) {
      const name = `${from.prefix ?? ''}${k}`;
      if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name)) continue;
      env.set(name, keyOf(obj, k, secret) ?? '');
    }
  }
  for (const v of ctr.env ?? []) {
    if (typeof v.name !== 'string') continue;
    if (v.valueFrom) {
      const vf = v.valueFrom;
      if (vf.fieldRef) env.set(v.name, fieldRef(pod, vf.fieldRef.fieldPath, e));
      else if (vf.resourceFieldRef) env.set(v.name, resourceRef(ctr, vf.resourceFieldRef));
      else if (vf.configMapKeyRef || vf.secretKeyRef) {
        const secret = !!vf.secretKeyRef;
        const ref = vf.secretKeyRef ?? vf.configMapKeyRef;
        const obj = secret ? e.secret(ref.name) : e.configMap(ref.name);
        const value = keyOf(obj, ref.key, secret);
        if (value === undefined) {
          if (ref.optional) continue;
          throw new KubeletError('KUBELET_ERR_CONFIG', obj ? `couldn't find key ${ref.key} in ${secret ? 'Secret' : 'ConfigMap'} ${pod.metadata.namespace}/${ref.name}` : `${secret ? 'secret' : 'configmap'} "${ref.name}" not found`);
        }
        env.set(v.name, value);
      }
      continue;
    }
    env.set(v.name, expand(String(v.value ?? ''), env));
  }
  return [...env].map(([key, value]) => ({ key, value }));
}

/** `$(VAR)` → the variable's value when defined; `$$` → `$`; anything else stays as written (upstream's expansion). */
export function expand(s: string, vars: ReadonlyMap<string, string>): string {
  return s.replace(/\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$';
    return vars.has(name!) ? vars.get(name!)! : all;
  });
}

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

/** The pod's QoS class from its containers' requests and limits (upstream's rules). */
export function qosClass(pod: Json): QosClass {
  const ctrs: Json[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of ctrs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      const l = lim[r];
      const q = req[r] ?? l;
      if (l === undefined || q === undefined) guaranteed = false;
      else if (r === 'cpu' ? milliValue(q) !== milliValue(l) : intValue(q) !== intValue(l)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

/**
 * The OOM score of a container: BestEffort first to go (1000), Burstable by
 * how much of the node's memory it asks for (2..999). Guaranteed would be
 * -997 upstream; skiff never asks for a negative score (hosts whose root
 * lacks CAP_SYS_RESOURCE refuse it), so Guaranteed gets 0 — still the last.
 */
export function oomScoreAdj(pod: Json, ctr: Json, nodeMemoryBytes: number): number {
  const q = qosClass(pod);
  if (q === 'Guaranteed') return 0;
  if (q === 'BestEffort') return 1000;
  const req = intValue(ctr.resources?.requests?.memory ?? '0');
  const adj = 1000 - Math.floor((1000 * req) / Math.max(1, nodeMemoryBytes));
  return Math.min(999, Math.max(2, adj));
}

export interface ContainerContext {
  restartCount: number;
  init: boolean;
  env: { key: string; value: string }[];
  mounts: Mount[];
  nodeMemoryBytes: number;
  /** The resolved image reference (after ImageStatus/PullImage). */
  image: string;
}

/** A stable hash of the container's spec: a changed spec means a new container (upstream restarts on a hash change). */
export function containerHash(ctr: Json): string {
  const s = JSON.stringify(ctr, Object.keys(ctr).sort());
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}

export function containerConfig(pod: Json, ctr: Json, c: ContainerContext): ContainerConfig {
  const limits = ctr.resources?.limits ?? {};
  const requests = ctr.resources?.requests ?? {};
  const cpuLimitMilli = limits.cpu !== undefined ? milliValue(limits.cpu) : 0;
  const cpuRequestMilli = requests.cpu !== undefined ? milliValue(requests.cpu) : cpuLimitMilli;
  const memLimit = limits.memory !== undefined ? intValue(limits.memory) : 0;
  const vars = new Map(c.env.map((x) => [x.key, x.value] as const));
  const sc = ctr.securityContext ?? {};
  const psc = pod.spec?.securityContext ?? {};
  return {
    metadata: { name: ctr.name, attempt: c.restartCount },
    image: c.image,
    command: (ctr.command ?? []).map((s: string) => expand(String(s), vars)),
    args: (ctr.args ?? []).map((s: string) => expand(String(s), vars)),
    workingDir: ctr.workingDir ?? '',
    envs: c.env,
    mounts: c.mounts,
    labels: containerLabels(pod, ctr.name),
    annotations: {
      [ANNOTATION_RESTART_COUNT]: String(c.restartCount),
      [ANNOTATION_CONTAINER_HASH]: containerHash(ctr),
      ...(c.init ? { [ANNOTATION_INIT]: 'true' } : {}),
    },
    logPath: `${ctr.name}/${c.restartCount}.log`,
    linux: {
      resources: {
        cpuPeriod: cpuLimitMilli > 0 ? CPU_PERIOD_US : 0,
        cpuQuota: cpuLimitMilli > 0 ? Math.max(1000, Math.floor((cpuLimitMilli * CPU_PERIOD_US) / 1000)) : 0,
        cpuShares: Math.max(MIN_SHARES, Math.floor((cpuRequestMilli * SHARES_PER_CPU) / 1000)),
        memoryLimitInBytes: memLimit,
        oomScoreAdj: oomScoreAdj(pod, ctr, c.nodeMemoryBytes),
      },
      securityContext: {
        privileged: sc.privileged === true,
        runAsUser: sc.runAsUser ?? psc.runAsUser,
        runAsGroup: sc.runAsGroup ?? psc.runAsGroup,
        readonlyRootfs: sc.readOnlyRootFilesystem === true,
        supplementalGroups: psc.supplementalGroups,
        noNewPrivs: sc.allowPrivilegeEscalation === false,
        capabilities: sc.capabilities ? { addCapabilities: sc.capabilities.add ?? [], dropCapabilities: sc.capabilities.drop ?? [] } : undefined,
        namespaceOptions: { network: isHostNetwork(pod) ? 'NODE' : 'POD', pid: pod.spec?.hostPID ? 'NODE' : 'CONTAINER', ipc: pod.spec?.hostIPC ? 'NODE' : 'POD' },
      },
    },
  };
}

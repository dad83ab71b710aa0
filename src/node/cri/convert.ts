/**
 * Wire objects (as @grpc/proto-loader decodes them with the options in
 * client.ts: camelCase names, 64-bit integers as decimal strings, enums as
 * their names, defaults filled in) → the public types of types.ts, and the
 * checks on requests before they leave. Pure functions.
 */
import { CriError } from './errors.js';
import type * as T from './types.js';

/** A decoded message: fields are read through the typed accessors below. */
export type Wire = { readonly [field: string]: unknown };

const NS_PER_MS = 1_000_000n;

function field(w: Wire | null, name: string): unknown {
  return w === null ? undefined : w[name];
}

export function str(w: Wire | null, name: string): string {
  const v = field(w, name);
  return typeof v === 'string' ? v : '';
}

export function bool(w: Wire | null, name: string): boolean {
  return field(w, name) === true;
}

/** An int32/int64/uint64 field as a number (64-bit ones arrive as decimal strings). */
export function int(w: Wire | null, name: string): number {
  const v = field(w, name);
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

/** A nanosecond timestamp field as whole milliseconds (exact: the division is done on the integer). */
export function ms(w: Wire | null, name: string): number {
  const v = field(w, name);
  if (typeof v === 'string' && v !== '' && v !== '0') return Number(BigInt(v) / NS_PER_MS);
  if (typeof v === 'number') return Math.floor(v / 1e6);
  return 0;
}

export function obj(w: Wire | null, name: string): Wire | null {
  const v = field(w, name);
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) ? (v as Wire) : null;
}

export function list(w: Wire | null, name: string): Wire[] {
  const v = field(w, name);
  return Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as Wire[]) : [];
}

export function strings(w: Wire | null, name: string): string[] {
  const v = field(w, name);
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

export function map(w: Wire | null, name: string): T.StringMap {
  const out: T.StringMap = {};
  const v = obj(w, name);
  if (v) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function bytes(w: Wire | null, name: string): Buffer {
  const v = field(w, name);
  return Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v) : Buffer.alloc(0);
}

/** A UInt64Value/Int64Value wrapper: null when the runtime left it out. */
export function wrapped(w: Wire | null, name: string): number | null {
  const v = obj(w, name);
  return v === null ? null : int(v, 'value');
}

// ------------------------------------------------------------ responses

export function toSandboxMetadata(w: Wire | null): T.PodSandboxMetadata {
  return { name: str(w, 'name'), uid: str(w, 'uid'), namespace: str(w, 'namespace'), attempt: int(w, 'attempt') };
}

function toContainerMetadata(w: Wire | null): { name: string; attempt: number } {
  return { name: str(w, 'name'), attempt: int(w, 'attempt') };
}

export function toPodSandbox(w: Wire): T.PodSandbox {
  return {
    id: str(w, 'id'),
    metadata: toSandboxMetadata(obj(w, 'metadata')),
    state: str(w, 'state') as T.PodSandboxState,
    createdAtMs: ms(w, 'createdAt'),
    labels: map(w, 'labels'),
    annotations: map(w, 'annotations'),
    runtimeHandler: str(w, 'runtimeHandler'),
  };
}

export function toPodSandboxStatus(w: Wire, info: T.StringMap): T.PodSandboxStatus {
  const net = obj(w, 'network');
  const opts = obj(obj(obj(w, 'linux'), 'namespaces'), 'options');
  return {
    ...toPodSandbox(w),
    ip: str(net, 'ip'),
    additionalIps: list(net, 'additionalIps').map((p) => str(p, 'ip')),
    namespaceOptions: opts
      ? {
          network: str(opts, 'network') as T.NamespaceMode,
          pid: str(opts, 'pid') as T.NamespaceMode,
          ipc: str(opts, 'ipc') as T.NamespaceMode,
          targetId: str(opts, 'targetId'),
        }
      : null,
    info,
  };
}

export function toContainer(w: Wire): T.Container {
  return {
    id: str(w, 'id'),
    podSandboxId: str(w, 'podSandboxId'),
    metadata: toContainerMetadata(obj(w, 'metadata')),
    image: str(obj(w, 'image'), 'image'),
    imageRef: str(w, 'imageRef'),
    state: str(w, 'state') as T.ContainerState,
    createdAtMs: ms(w, 'createdAt'),
    labels: map(w, 'labels'),
    annotations: map(w, 'annotations'),
  };
}

function toMount(w: Wire): T.Mount {
  return {
    containerPath: str(w, 'containerPath'),
    hostPath: str(w, 'hostPath'),
    readonly: bool(w, 'readonly'),
    propagation: str(w, 'propagation') as T.MountPropagation,
  };
}

export function toContainerStatus(w: Wire, info: T.StringMap): T.ContainerStatus {
  return {
    id: str(w, 'id'),
    metadata: toContainerMetadata(obj(w, 'metadata')),
    state: str(w, 'state') as T.ContainerState,
    createdAtMs: ms(w, 'createdAt'),
    startedAtMs: ms(w, 'startedAt'),
    finishedAtMs: ms(w, 'finishedAt'),
    exitCode: int(w, 'exitCode'),
    image: str(obj(w, 'image'), 'image'),
    imageRef: str(w, 'imageRef'),
    reason: str(w, 'reason'),
    message: str(w, 'message'),
    labels: map(w, 'labels'),
    annotations: map(w, 'annotations'),
    mounts: list(w, 'mounts').map(toMount),
    logPath: str(w, 'logPath'),
    info,
  };
}

function toCpu(w: Wire | null): T.CpuUsage | null {
  if (w === null) return null;
  return { timestampMs: ms(w, 'timestamp'), usageCoreNanoSeconds: wrapped(w, 'usageCoreNanoSeconds'), usageNanoCores: wrapped(w, 'usageNanoCores') };
}

function toMemory(w: Wire | null): T.MemoryUsage | null {
  if (w === null) return null;
  return {
    timestampMs: ms(w, 'timestamp'),
    workingSetBytes: wrapped(w, 'workingSetBytes'),
    availableBytes: wrapped(w, 'availableBytes'),
    usageBytes: wrapped(w, 'usageBytes'),
    rssBytes: wrapped(w, 'rssBytes'),
    pageFaults: wrapped(w, 'pageFaults'),
    majorPageFaults: wrapped(w, 'majorPageFaults'),
  };
}

export function toFilesystemUsage(w: Wire | null): T.FilesystemUsage | null {
  if (w === null) return null;
  return {
    timestampMs: ms(w, 'timestamp'),
    mountpoint: str(obj(w, 'fsId'), 'mountpoint'),
    usedBytes: wrapped(w, 'usedBytes'),
    inodesUsed: wrapped(w, 'inodesUsed'),
  };
}

export function toContainerStats(w: Wire): T.ContainerStats {
  const a = obj(w, 'attributes');
  return {
    id: str(a, 'id'),
    metadata: toContainerMetadata(obj(a, 'metadata')),
    labels: map(a, 'labels'),
    annotations: map(a, 'annotations'),
    cpu: toCpu(obj(w, 'cpu')),
    memory: toMemory(obj(w, 'memory')),
    writableLayer: toFilesystemUsage(obj(w, 'writableLayer')),
  };
}

function toInterface(w: Wire): T.NetworkInterfaceUsage {
  return {
    name: str(w, 'name'),
    rxBytes: wrapped(w, 'rxBytes'),
    rxErrors: wrapped(w, 'rxErrors'),
    txBytes: wrapped(w, 'txBytes'),
    txErrors: wrapped(w, 'txErrors'),
  };
}

export function toPodSandboxStats(w: Wire): T.PodSandboxStats {
  const a = obj(w, 'attributes');
  const l = obj(w, 'linux');
  const net = obj(l, 'network');
  const proc = obj(l, 'process');
  const dflt = obj(net, 'defaultInterface');
  return {
    id: str(a, 'id'),
    metadata: toSandboxMetadata(obj(a, 'metadata')),
    labels: map(a, 'labels'),
    annotations: map(a, 'annotations'),
    cpu: toCpu(obj(l, 'cpu')),
    memory: toMemory(obj(l, 'memory')),
    network: net ? { timestampMs: ms(net, 'timestamp'), defaultInterface: dflt ? toInterface(dflt) : null, interfaces: list(net, 'interfaces').map(toInterface) } : null,
    process: proc ? { timestampMs: ms(proc, 'timestamp'), processCount: wrapped(proc, 'processCount') } : null,
    containers: list(l, 'containers').map(toContainerStats),
  };
}

export function toImage(w: Wire): T.Image {
  return {
    id: str(w, 'id'),
    repoTags: strings(w, 'repoTags'),
    repoDigests: strings(w, 'repoDigests'),
    sizeBytes: int(w, 'size'),
    uid: wrapped(w, 'uid'),
    username: str(w, 'username'),
    pinned: bool(w, 'pinned'),
  };
}

// ------------------------------------------------------------ request checks

/** Limits on what skiff sends; past them the call is refused before it leaves. */
export const OOM_SCORE_ADJ_MAX = 1000;
export const EXEC_TIMEOUT_SECONDS_MAX = 24 * 3600;
export const STOP_TIMEOUT_SECONDS_MAX = 24 * 3600;

function bad(detail: string): CriError {
  return new CriError('CRI_ERR_BAD_REQUEST', detail);
}

export function checkId(what: string, id: string): void {
  if (typeof id !== 'string' || id === '') throw bad(`${what} is empty`);
}

function checkCount(what: string, v: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return;
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw bad(`${what} must be an integer in 0..${max}, got ${v}`);
}

export function checkSandboxConfig(c: T.PodSandboxConfig): void {
  if (!c?.metadata?.name) throw bad('sandbox metadata.name is empty');
  if (!c.metadata.namespace) throw bad('sandbox metadata.namespace is empty');
  if (!c.metadata.uid) throw bad('sandbox metadata.uid is empty');
  checkCount('sandbox metadata.attempt', c.metadata.attempt, 0xffffffff);
  if (c.logDirectory !== undefined && c.logDirectory !== '' && !c.logDirectory.startsWith('/')) {
    throw bad(`logDirectory must be absolute, got ${c.logDirectory}`);
  }
  for (const p of c.portMappings ?? []) {
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) throw bad(`containerPort ${p.containerPort} out of 1..65535`);
    checkCount('hostPort', p.hostPort, 65535);
  }
}

export function checkResources(r: T.LinuxContainerResources | undefined): void {
  if (!r) return;
  checkCount('cpuPeriod', r.cpuPeriod);
  checkCount('cpuQuota', r.cpuQuota);
  checkCount('cpuShares', r.cpuShares);
  checkCount('memoryLimitInBytes', r.memoryLimitInBytes);
  // Never negative: see LinuxContainerResources.oomScoreAdj.
  checkCount('oomScoreAdj', r.oomScoreAdj, OOM_SCORE_ADJ_MAX);
}

export function checkContainerConfig(c: T.ContainerConfig): void {
  if (!c?.metadata?.name) throw bad('container metadata.name is empty');
  checkCount('container metadata.attempt', c.metadata.attempt, 0xffffffff);
  if (!c.image) throw bad('container image is empty');
  if (c.logPath?.startsWith('/')) throw bad(`logPath must be relative to the sandbox's logDirectory, got ${c.logPath}`);
  for (const m of c.mounts ?? []) {
    if (!m.containerPath.startsWith('/') || !m.hostPath.startsWith('/')) throw bad(`mount paths must be absolute: ${m.hostPath} → ${m.containerPath}`);
  }
  for (const e of c.envs ?? []) if (!e.key) throw bad('an environment variable has an empty name');
  checkResources(c.linux?.resources);
}

export function checkTimeout(what: string, seconds: number, max: number): void {
  checkCount(what, seconds, max);
}

// ------------------------------------------------------------ requests

/** Int64Value wrappers and enum-free optional fields as the wire wants them. */
function int64Value(v: number | undefined): { value: number } | undefined {
  return v === undefined ? undefined : { value: v };
}

/**
 * The sandbox config as sent. A hostNetwork (network NODE) sandbox shares the
 * host's UTS namespace, where runc refuses to set a hostname ("unable to set
 * hostname without a private UTS namespace") and containerd 1.6 forwards it
 * anyway: the hostname is left out for such sandboxes.
 */
export function sandboxConfigToWire(c: T.PodSandboxConfig): Wire {
  const sc = c.linux?.securityContext;
  const hostNetwork = sc?.namespaceOptions?.network === 'NODE';
  return {
    ...c,
    hostname: hostNetwork ? '' : c.hostname,
    linux: c.linux
      ? {
          ...c.linux,
          securityContext: sc ? { ...sc, runAsUser: int64Value(sc.runAsUser), runAsGroup: int64Value(sc.runAsGroup) } : undefined,
        }
      : undefined,
  };
}

export function containerConfigToWire(c: T.ContainerConfig): Wire {
  const sc = c.linux?.securityContext;
  return {
    ...c,
    image: { image: c.image },
    stdin: false,
    stdinOnce: false,
    tty: false,
    linux: c.linux
      ? {
          resources: c.linux.resources,
          securityContext: sc ? { ...sc, runAsUser: int64Value(sc.runAsUser), runAsGroup: int64Value(sc.runAsGroup) } : undefined,
        }
      : undefined,
  };
}

export function stateFilter<S extends string>(state: S | undefined): { state: S } | undefined {
  return state === undefined ? undefined : { state };
}

/**
 * The CRI as skiff's node daemon sees it: camelCase TypeScript shapes of the
 * runtime.v1 messages in proto/runtime/v1/api.proto.
 *
 * Numbers. Every int64/uint64 of the wire is a JavaScript `number` here:
 * - timestamps (nanoseconds on the wire) become whole **milliseconds** since
 *   the epoch, in fields ending in `Ms` (`startedAtMs`); 0 means "not set",
 *   exactly as the wire's 0 does. Nanosecond timestamps do not fit a double;
 *   milliseconds do, exactly.
 * - sizes, counts and cumulative CPU nanoseconds stay in their wire unit
 *   (named in the field: `usedBytes`, `usageCoreNanoSeconds`); they are exact
 *   below 2^53 (8 PiB, or 104 days of CPU time) and rounded to the nearest
 *   double above it, which no consumer of these figures can notice.
 * - a UInt64Value/Int64Value wrapper the runtime left out (figure not
 *   available) is `null`, distinct from a measured 0.
 * Enums are their upstream names as string literals. Inputs (…Config, filters)
 * have optional fields where the wire default is fine; outputs are complete.
 */

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export type MountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
export type PodSandboxState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export type StringMap = Record<string, string>;

// ------------------------------------------------------------ inputs

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  /** How many sandboxes this pod had before this one (0 for the first). */
  attempt: number;
}

export interface DnsConfig {
  servers?: string[];
  searches?: string[];
  options?: string[];
}

export interface PortMapping {
  protocol?: Protocol;
  containerPort: number;
  /** 0 or absent: no hostPort. */
  hostPort?: number;
  hostIp?: string;
}

export interface NamespaceOption {
  /** NODE for a hostNetwork pod; POD (the default) gives it its own network namespace through CNI. */
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export interface LinuxSandboxSecurityContext {
  namespaceOptions?: NamespaceOption;
  runAsUser?: number;
  runAsGroup?: number;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  privileged?: boolean;
}

export interface LinuxPodSandboxConfig {
  cgroupParent?: string;
  securityContext?: LinuxSandboxSecurityContext;
  sysctls?: StringMap;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  /** Absolute directory; each container's logPath is relative to it. */
  logDirectory?: string;
  dnsConfig?: DnsConfig;
  portMappings?: PortMapping[];
  labels?: StringMap;
  annotations?: StringMap;
  linux?: LinuxPodSandboxConfig;
}

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  propagation?: MountPropagation;
}

export interface LinuxContainerResources {
  /** CFS period in microseconds (0: the runtime's default). */
  cpuPeriod?: number;
  /** CFS quota in microseconds per period (0: no limit). */
  cpuQuota?: number;
  /** Relative CPU weight (cgroup v1 cpu.shares; 2 is the minimum the kernel takes). */
  cpuShares?: number;
  /** 0: no limit. */
  memoryLimitInBytes?: number;
  /**
   * 0..1000. Never negative: hosts whose root lacks CAP_SYS_RESOURCE refuse a
   * negative value (see RECIPES.md), and the client refuses to send one.
   */
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
}

export interface LinuxContainerSecurityContext {
  capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] };
  privileged?: boolean;
  namespaceOptions?: NamespaceOption;
  runAsUser?: number;
  runAsGroup?: number;
  runAsUsername?: string;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  noNewPrivs?: boolean;
}

export interface ContainerConfig {
  metadata: { name: string; attempt: number };
  /** An image reference (`skiff.local/busybox:1.35`) or an image id. */
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: string }[];
  mounts?: Mount[];
  labels?: StringMap;
  annotations?: StringMap;
  /** Relative to the sandbox's logDirectory (e.g. `web/0.log`). */
  logPath?: string;
  linux?: { resources?: LinuxContainerResources; securityContext?: LinuxContainerSecurityContext };
}

export interface PodSandboxFilter {
  id?: string;
  state?: PodSandboxState;
  labelSelector?: StringMap;
}

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  podSandboxId?: string;
  labelSelector?: StringMap;
}

export interface StatsFilter {
  id?: string;
  podSandboxId?: string;
  labelSelector?: StringMap;
}

export interface AuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  serverAddress?: string;
  identityToken?: string;
  registryToken?: string;
}

// ------------------------------------------------------------ outputs

export interface VersionInfo {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface RuntimeCondition {
  /** RuntimeReady, NetworkReady. */
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface RuntimeStatus {
  conditions: RuntimeCondition[];
  /** Only with verbose: runtime-specific JSON strings. */
  info: StringMap;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  createdAtMs: number;
  labels: StringMap;
  annotations: StringMap;
  runtimeHandler: string;
}

export interface PodSandboxStatus extends PodSandbox {
  /** The pod's IP from CNI; '' for a hostNetwork sandbox or a sandbox without network. */
  ip: string;
  additionalIps: string[];
  /** The namespace modes the sandbox runs with (null when the runtime does not say). */
  namespaceOptions: Required<NamespaceOption> | null;
  /** Only with verbose: runtime-specific JSON strings. */
  info: StringMap;
}

export interface Container {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  image: string;
  imageRef: string;
  state: ContainerState;
  createdAtMs: number;
  labels: StringMap;
  annotations: StringMap;
}

export interface ContainerStatus {
  id: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  createdAtMs: number;
  /** 0 until started. */
  startedAtMs: number;
  /** 0 until exited. */
  finishedAtMs: number;
  /** Meaningful only when state is CONTAINER_EXITED. */
  exitCode: number;
  image: string;
  imageRef: string;
  /** Why it is in this state (e.g. `Completed`, `Error`, `OOMKilled`). */
  reason: string;
  message: string;
  labels: StringMap;
  annotations: StringMap;
  mounts: Mount[];
  /** Absolute path of the container's CRI-format log file. */
  logPath: string;
  info: StringMap;
}

export interface ExecSyncResult {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

export interface CpuUsage {
  timestampMs: number;
  /** Cumulative CPU time over all cores. */
  usageCoreNanoSeconds: number | null;
  /** Average usage since the runtime's previous sample, in nanocores (1e9 = one core). */
  usageNanoCores: number | null;
}

export interface MemoryUsage {
  timestampMs: number;
  workingSetBytes: number | null;
  availableBytes: number | null;
  usageBytes: number | null;
  rssBytes: number | null;
  pageFaults: number | null;
  majorPageFaults: number | null;
}

export interface FilesystemUsage {
  timestampMs: number;
  mountpoint: string;
  usedBytes: number | null;
  inodesUsed: number | null;
}

export interface ContainerStats {
  id: string;
  metadata: { name: string; attempt: number };
  labels: StringMap;
  annotations: StringMap;
  cpu: CpuUsage | null;
  memory: MemoryUsage | null;
  writableLayer: FilesystemUsage | null;
}

export interface NetworkInterfaceUsage {
  name: string;
  rxBytes: number | null;
  rxErrors: number | null;
  txBytes: number | null;
  txErrors: number | null;
}

export interface PodSandboxStats {
  id: string;
  metadata: PodSandboxMetadata;
  labels: StringMap;
  annotations: StringMap;
  cpu: CpuUsage | null;
  memory: MemoryUsage | null;
  network: { timestampMs: number; defaultInterface: NetworkInterfaceUsage | null; interfaces: NetworkInterfaceUsage[] } | null;
  process: { timestampMs: number; processCount: number | null } | null;
  containers: ContainerStats[];
}

export interface Image {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  sizeBytes: number;
  /** The image's numeric user, when its config names one. */
  uid: number | null;
  username: string;
  pinned: boolean;
}

export interface ImageFsInfo {
  imageFilesystems: FilesystemUsage[];
  containerFilesystems: FilesystemUsage[];
}

/**
 * A typed CRI client (runtime.v1) over gRPC on a container runtime's unix
 * socket — containerd's CRI plugin in skiff's tests and on real hosts.
 *
 * Contract: every call has a deadline (the client's `requestTimeoutMs`, plus
 * the call's own timeout for StopContainer and ExecSync, or a per-call
 * `timeoutMs`) and may be cancelled with an AbortSignal; every failure is a
 * CriError with a stable code and the gRPC status the runtime answered with;
 * messages in either direction are limited to `maxMessageBytes`. Requests are
 * checked before they leave (CRI_ERR_BAD_REQUEST): skiff never sends a
 * negative oom_score_adj, stdin or a TTY. Calls may run concurrently; the two
 * services share one channel (one connection) to the socket.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import * as C from './convert.js';
import type { Wire } from './convert.js';
import { CriError, criErrorFromGrpc } from './errors.js';
import type * as T from './types.js';

const PROTO_ROOT = fileURLToPath(new URL('./proto/', import.meta.url));

/**
 * camelCase field names, 64-bit integers as decimal strings (convert.ts turns
 * them into numbers deliberately), enums by name, absent scalars filled with
 * their defaults and absent messages left out (so a missing wrapper is null).
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  objects: false,
  oneofs: false,
  includeDirs: [PROTO_ROOT],
};

let loaded: { runtime: grpc.ServiceClientConstructor; image: grpc.ServiceClientConstructor } | null = null;

function constructors(): { runtime: grpc.ServiceClientConstructor; image: grpc.ServiceClientConstructor } {
  if (loaded) return loaded;
  const def = protoLoader.loadSync('runtime/v1/api.proto', LOADER_OPTIONS);
  const pkg = (grpc.loadPackageDefinition(def)['runtime'] as grpc.GrpcObject)['v1'] as grpc.GrpcObject;
  loaded = {
    runtime: pkg['RuntimeService'] as grpc.ServiceClientConstructor,
    image: pkg['ImageService'] as grpc.ServiceClientConstructor,
  };
  return loaded;
}

/** Kubelet's default CRI message limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** An image pull downloads layers: a longer default deadline. */
export const DEFAULT_PULL_TIMEOUT_MS = 10 * 60_000;

export interface CriClientOptions {
  /** Path of the runtime's unix socket (e.g. /run/containerd/containerd.sock), or a `unix://` address. */
  socket: string;
  /** Deadline of a call, on top of the call's own timeout where it has one. */
  requestTimeoutMs?: number;
  pullTimeoutMs?: number;
  /** Largest message sent or received. */
  maxMessageBytes?: number;
  logger?: Logger;
}

export interface CallOptions {
  /** Overrides the call's deadline (milliseconds from now). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

type UnaryFn = (req: Wire, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Wire) => void) => grpc.ClientUnaryCall;

export class CriClient {
  readonly address: string;
  private readonly runtime: grpc.Client;
  private readonly image: grpc.Client;
  private readonly requestTimeoutMs: number;
  private readonly pullTimeoutMs: number;
  private readonly logger: Logger | undefined;
  private closed = false;

  constructor(options: CriClientOptions) {
    if (!options.socket) throw new CriError('CRI_ERR_BAD_REQUEST', 'socket is empty');
    this.address = options.socket.startsWith('unix:') ? options.socket : `unix://${options.socket}`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.pullTimeoutMs = options.pullTimeoutMs ?? DEFAULT_PULL_TIMEOUT_MS;
    this.logger = options.logger;
    const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!(this.requestTimeoutMs > 0) || !(this.pullTimeoutMs > 0) || !(maxBytes > 0)) {
      throw new CriError('CRI_ERR_BAD_REQUEST', 'timeouts and maxMessageBytes must be positive');
    }
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_receive_message_length': maxBytes,
      'grpc.max_send_message_length': maxBytes,
    };
    const { runtime, image } = constructors();
    this.runtime = new runtime(this.address, grpc.credentials.createInsecure(), channelOptions);
    this.image = new image(this.address, grpc.credentials.createInsecure(), { ...channelOptions, channelOverride: this.runtime.getChannel() });
  }

  /** Closes the channel; calls in flight fail with CRI_ERR_CANCELLED or CRI_ERR_UNAVAILABLE, later ones with CRI_ERR_CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.runtime.close();
  }

  // ------------------------------------------------------------ runtime

  async version(opts?: CallOptions): Promise<T.VersionInfo> {
    const r = await this.call(this.runtime, 'Version', { version: 'v1' }, opts);
    return {
      version: C.str(r, 'version'),
      runtimeName: C.str(r, 'runtimeName'),
      runtimeVersion: C.str(r, 'runtimeVersion'),
      runtimeApiVersion: C.str(r, 'runtimeApiVersion'),
    };
  }

  async status(verbose = false, opts?: CallOptions): Promise<T.RuntimeStatus> {
    const r = await this.call(this.runtime, 'Status', { verbose }, opts);
    const conditions = C.list(C.obj(r, 'status'), 'conditions').map((c) => ({
      type: C.str(c, 'type'),
      status: C.bool(c, 'status'),
      reason: C.str(c, 'reason'),
      message: C.str(c, 'message'),
    }));
    return { conditions, info: C.map(r, 'info') };
  }

  /** Tells the runtime the node's pod CIDR (containerd passes it to CNI config templates; harmless otherwise). */
  async updateRuntimeConfig(podCidr: string, opts?: CallOptions): Promise<void> {
    await this.call(this.runtime, 'UpdateRuntimeConfig', { runtimeConfig: { networkConfig: { podCidr } } }, opts);
  }

  /** Creates and starts a pod sandbox (network namespace through CNI unless network is NODE); returns its id. */
  async runPodSandbox(config: T.PodSandboxConfig, runtimeHandler = '', opts?: CallOptions): Promise<string> {
    C.checkSandboxConfig(config);
    const r = await this.call(this.runtime, 'RunPodSandbox', { config: C.sandboxConfigToWire(config), runtimeHandler }, opts);
    return this.requireId(r, 'podSandboxId', 'RunPodSandbox');
  }

  /** Stops every container of the sandbox and tears its network down; idempotent. */
  async stopPodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    C.checkId('podSandboxId', podSandboxId);
    await this.call(this.runtime, 'StopPodSandbox', { podSandboxId }, opts);
  }

  /** Removes the sandbox and its containers; idempotent (an unknown id succeeds). */
  async removePodSandbox(podSandboxId: string, opts?: CallOptions): Promise<void> {
    C.checkId('podSandboxId', podSandboxId);
    await this.call(this.runtime, 'RemovePodSandbox', { podSandboxId }, opts);
  }

  async podSandboxStatus(podSandboxId: string, verbose = false, opts?: CallOptions): Promise<T.PodSandboxStatus> {
    C.checkId('podSandboxId', podSandboxId);
    const r = await this.call(this.runtime, 'PodSandboxStatus', { podSandboxId, verbose }, opts);
    const s = C.obj(r, 'status');
    if (s === null) throw new CriError('CRI_ERR_BAD_RESPONSE', `PodSandboxStatus ${podSandboxId}: no status`);
    return C.toPodSandboxStatus(s, C.map(r, 'info'));
  }

  async listPodSandbox(filter?: T.PodSandboxFilter, opts?: CallOptions): Promise<T.PodSandbox[]> {
    const wire = filter ? { ...filter, state: C.stateFilter(filter.state) } : undefined;
    const r = await this.call(this.runtime, 'ListPodSandbox', { filter: wire }, opts);
    return C.list(r, 'items').map(C.toPodSandbox);
  }

  /** Creates a container in a sandbox (not started); `sandboxConfig` must be the config the sandbox was run with. */
  async createContainer(podSandboxId: string, config: T.ContainerConfig, sandboxConfig: T.PodSandboxConfig, opts?: CallOptions): Promise<string> {
    C.checkId('podSandboxId', podSandboxId);
    C.checkContainerConfig(config);
    C.checkSandboxConfig(sandboxConfig);
    const req = { podSandboxId, config: C.containerConfigToWire(config), sandboxConfig: C.sandboxConfigToWire(sandboxConfig) };
    const r = await this.call(this.runtime, 'CreateContainer', req, opts);
    return this.requireId(r, 'containerId', 'CreateContainer');
  }

  async startContainer(containerId: string, opts?: CallOptions): Promise<void> {
    C.checkId('containerId', containerId);
    await this.call(this.runtime, 'StartContainer', { containerId }, opts);
  }

  /** SIGTERM (or the image's stop signal), then SIGKILL after `timeoutSeconds`; idempotent. */
  async stopContainer(containerId: string, timeoutSeconds: number, opts?: CallOptions): Promise<void> {
    C.checkId('containerId', containerId);
    C.checkTimeout('timeoutSeconds', timeoutSeconds, C.STOP_TIMEOUT_SECONDS_MAX);
    await this.call(this.runtime, 'StopContainer', { containerId, timeout: timeoutSeconds }, opts, timeoutSeconds * 1000);
  }

  async removeContainer(containerId: string, opts?: CallOptions): Promise<void> {
    C.checkId('containerId', containerId);
    await this.call(this.runtime, 'RemoveContainer', { containerId }, opts);
  }

  async listContainers(filter?: T.ContainerFilter, opts?: CallOptions): Promise<T.Container[]> {
    const wire = filter ? { ...filter, state: C.stateFilter(filter.state) } : undefined;
    const r = await this.call(this.runtime, 'ListContainers', { filter: wire }, opts);
    return C.list(r, 'containers').map(C.toContainer);
  }

  async containerStatus(containerId: string, verbose = false, opts?: CallOptions): Promise<T.ContainerStatus> {
    C.checkId('containerId', containerId);
    const r = await this.call(this.runtime, 'ContainerStatus', { containerId, verbose }, opts);
    const s = C.obj(r, 'status');
    if (s === null) throw new CriError('CRI_ERR_BAD_RESPONSE', `ContainerStatus ${containerId}: no status`);
    return C.toContainerStatus(s, C.map(r, 'info'));
  }

  /** Makes the runtime reopen the container's log file (after the node rotated it). */
  async reopenContainerLog(containerId: string, opts?: CallOptions): Promise<void> {
    C.checkId('containerId', containerId);
    await this.call(this.runtime, 'ReopenContainerLog', { containerId }, opts);
  }

  /**
   * Runs `cmd` in the container and waits for it; `timeoutSeconds` 0 means no
   * runtime-side limit (the client's deadline still applies). A command that
   * outlives its timeout fails with CRI_ERR_DEADLINE (or the runtime's error).
   */
  async execSync(containerId: string, cmd: string[], timeoutSeconds: number, opts?: CallOptions): Promise<T.ExecSyncResult> {
    C.checkId('containerId', containerId);
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd[0] === '') throw new CriError('CRI_ERR_BAD_REQUEST', 'exec command is empty');
    C.checkTimeout('timeoutSeconds', timeoutSeconds, C.EXEC_TIMEOUT_SECONDS_MAX);
    const r = await this.call(this.runtime, 'ExecSync', { containerId, cmd, timeout: timeoutSeconds }, opts, timeoutSeconds * 1000);
    return { stdout: C.bytes(r, 'stdout'), stderr: C.bytes(r, 'stderr'), exitCode: C.int(r, 'exitCode') };
  }

  /**
   * A streaming exec: the URL of the runtime's streaming server where an
   * upgraded connection (SPDY or WebSocket, kubectl's protocols) runs `cmd`.
   */
  async exec(containerId: string, cmd: string[], streams: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }, opts?: CallOptions): Promise<string> {
    C.checkId('containerId', containerId);
    if (!Array.isArray(cmd) || cmd.length === 0 || cmd[0] === '') throw new CriError('CRI_ERR_BAD_REQUEST', 'exec command is empty');
    if (!streams.stdin && !streams.stdout && !streams.stderr) throw new CriError('CRI_ERR_BAD_REQUEST', 'one of stdin, stdout and stderr must be streamed');
    if (streams.tty && streams.stderr) throw new CriError('CRI_ERR_BAD_REQUEST', 'a TTY exec has no separate stderr');
    const r = await this.call(this.runtime, 'Exec', { containerId, cmd, ...streams }, opts);
    const url = typeof r.url === 'string' ? r.url : '';
    if (!/^https?:\/\//.test(url)) throw new CriError('CRI_ERR_BAD_RESPONSE', `Exec answered no streaming URL (${JSON.stringify(url)})`);
    return url;
  }

  async containerStats(containerId: string, opts?: CallOptions): Promise<T.ContainerStats> {
    C.checkId('containerId', containerId);
    const r = await this.call(this.runtime, 'ContainerStats', { containerId }, opts);
    const s = C.obj(r, 'stats');
    if (s === null) throw new CriError('CRI_ERR_BAD_RESPONSE', `ContainerStats ${containerId}: no stats`);
    return C.toContainerStats(s);
  }

  async listContainerStats(filter?: T.StatsFilter, opts?: CallOptions): Promise<T.ContainerStats[]> {
    const r = await this.call(this.runtime, 'ListContainerStats', { filter }, opts);
    return C.list(r, 'stats').map(C.toContainerStats);
  }

  async podSandboxStats(podSandboxId: string, opts?: CallOptions): Promise<T.PodSandboxStats> {
    C.checkId('podSandboxId', podSandboxId);
    const r = await this.call(this.runtime, 'PodSandboxStats', { podSandboxId }, opts);
    const s = C.obj(r, 'stats');
    if (s === null) throw new CriError('CRI_ERR_BAD_RESPONSE', `PodSandboxStats ${podSandboxId}: no stats`);
    return C.toPodSandboxStats(s);
  }

  async listPodSandboxStats(filter?: { id?: string; labelSelector?: T.StringMap }, opts?: CallOptions): Promise<T.PodSandboxStats[]> {
    const r = await this.call(this.runtime, 'ListPodSandboxStats', { filter }, opts);
    return C.list(r, 'stats').map(C.toPodSandboxStats);
  }

  // ------------------------------------------------------------ images

  async listImages(image?: string, opts?: CallOptions): Promise<T.Image[]> {
    const r = await this.call(this.image, 'ListImages', { filter: image ? { image: { image } } : undefined }, opts);
    return C.list(r, 'images').map(C.toImage);
  }

  /** The image, or null when the runtime does not have it (CRI answers "absent" with an empty response, not an error). */
  async imageStatus(image: string, opts?: CallOptions): Promise<T.Image | null> {
    C.checkId('image', image);
    const r = await this.call(this.image, 'ImageStatus', { image: { image } }, opts);
    const i = C.obj(r, 'image');
    return i === null || C.str(i, 'id') === '' ? null : C.toImage(i);
  }

  /** Pulls from a registry; returns the image reference (digest) the runtime stored. */
  async pullImage(image: string, auth?: T.AuthConfig, sandboxConfig?: T.PodSandboxConfig, opts?: CallOptions): Promise<string> {
    C.checkId('image', image);
    const req = { image: { image }, auth, sandboxConfig: sandboxConfig ? C.sandboxConfigToWire(sandboxConfig) : undefined };
    const r = await this.call(this.image, 'PullImage', req, { timeoutMs: this.pullTimeoutMs, ...opts });
    return this.requireId(r, 'imageRef', 'PullImage');
  }

  /** Removes the image; idempotent. */
  async removeImage(image: string, opts?: CallOptions): Promise<void> {
    C.checkId('image', image);
    await this.call(this.image, 'RemoveImage', { image: { image } }, opts);
  }

  async imageFsInfo(opts?: CallOptions): Promise<T.ImageFsInfo> {
    const r = await this.call(this.image, 'ImageFsInfo', {}, opts);
    const fs = (name: string): T.FilesystemUsage[] => C.list(r, name).map((w) => C.toFilesystemUsage(w) as T.FilesystemUsage);
    return { imageFilesystems: fs('imageFilesystems'), containerFilesystems: fs('containerFilesystems') };
  }

  // ------------------------------------------------------------ plumbing

  private requireId(r: Wire, name: string, method: string): string {
    const id = C.str(r, name);
    if (id === '') throw new CriError('CRI_ERR_BAD_RESPONSE', `${method}: empty ${name}`);
    return id;
  }

  /** One unary call with its deadline; `extraMs` is the call's own timeout, added to the default deadline. */
  private call(client: grpc.Client, method: string, req: Wire, opts: CallOptions = {}, extraMs = 0): Promise<Wire> {
    if (this.closed) return Promise.reject(new CriError('CRI_ERR_CLOSED', method));
    if (opts.signal?.aborted) return Promise.reject(new CriError('CRI_ERR_CANCELLED', `${method}: aborted before the call`));
    const fn = (client as unknown as Record<string, UnaryFn>)[method];
    if (typeof fn !== 'function') throw new Error(`runtime.v1 method ${method} missing from api.proto`);
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs + extraMs;
    const started = performance.now();
    return new Promise<Wire>((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        opts.signal?.removeEventListener('abort', onAbort);
        const elapsedMs = performance.now() - started;
        if (err) {
          const e = criErrorFromGrpc(method, err);
          this.logger?.debug({ method, elapsedMs, code: e.code, grpcCode: e.grpcCode }, 'cri call failed');
          reject(e);
          return;
        }
        this.logger?.trace({ method, elapsedMs }, 'cri call');
        resolve(res ?? {});
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

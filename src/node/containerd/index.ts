/**
 * A private containerd (CRI enabled): one per simulated host in tests,
 * benches and the e2e suite, and the one `skiff up` runs for its local node — the recipe of RECIPES.md ("containerd with CRI, for
 * tests"): its own root, state, gRPC and ttrpc sockets, opt dir, runc root,
 * CNI conf dir (bin dir /usr/lib/cni), the skiff pause image as sandbox image,
 * restrict_oom_score_adj, overlayfs, runc v2 with cgroupfs.
 *
 * Where it runs. `netns` names a network namespace (/run/netns/<name>) that
 * the caller created: containerd, its shims, the pods' CNI bridge and their
 * iptables rules all live in it. It is entered with `nsenter --net` rather
 * than `ip netns exec`, because `ip netns exec` remounts /sys for the
 * namespace, which hides /sys/fs/cgroup and makes runc fail. containerd also
 * gets a private mount namespace (`unshare --mount --propagation slave`): the
 * overlay, shm and netns mounts it makes never appear on the host, and vanish
 * with its last process.
 *
 * stop() always leaves nothing behind: pods stopped and removed through CRI
 * (CNI releases their IPs), containerd terminated, every leftover shim and
 * runc container killed, any mount under the temp dir unmounted, the temp dir
 * removed. Call it from t.teardown / finally.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CriClient } from '../cri/index.js';
import { PAUSE_IMAGE } from '../images/index.js';
/** Where Debian's containernetworking-plugins puts the CNI plugins. */
export const CNI_BIN_DIR = '/usr/lib/cni';

const run = promisify(execFile);

export interface ContainerdOptions {
  /** A network namespace the caller created (`ip netns add`); absent: the host's (tests always pass one). */
  netns?: string;
  /** Parent of the temp dir (default os.tmpdir()). Keep it short: socket paths are limited to 107 bytes. */
  parentDir?: string;
  /** CNI conf dir; default <dir>/net.d (created). Write the conflist there before running pods. */
  cniConfDir?: string;
  /** Where the CNI plugins are (default CNI_BIN_DIR, Debian's). */
  cniBinDir?: string;
  sandboxImage?: string;
  /** OCI layout tars to import into the k8s.io namespace once containerd answers. */
  imageTars?: string[];
  startTimeoutMs?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface Containerd {
  /** The temp dir holding everything of this instance. */
  dir: string;
  socket: string;
  cniConfDir: string;
  /** A dir for host-local IPAM state (pass it as the conflist's dataDir). */
  cniDataDir: string;
  /** A dir for pod logs (pass sandbox logDirectory values under it). */
  podLogDir: string;
  logFile: string;
  pid: number;
  netns: string | undefined;
  /** A CRI client on this containerd (closed by stop()). */
  cri: CriClient;
  importImages(tars: string[]): Promise<void>;
  /** The last lines of containerd's log, for failure messages. */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
const CRI_CLEANUP_MS = 30_000;

function configToml(dir: string, confDir: string, binDir: string, sandboxImage: string, level: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${dir}/containerd.sock"

[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "${level}"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[${cri}]
  sandbox_image = "${sandboxImage}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${dir}/runc"
  [${cri}.cni]
    bin_dir = "${binDir}"
    conf_dir = "${confDir}"
    max_conf_num = 1
`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs of shims (and anything else) whose command line names `needle` (our socket path). */
function pidsMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'latin1').includes(needle)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Mount points under `dir` in this process's mount namespace, deepest first. */
function mountsUnder(dir: string): string[] {
  const points: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && (mp === dir || mp.startsWith(`${dir}/`))) points.push(mp.replace(/\\040/g, ' '));
  }
  return points.sort((a, b) => b.length - a.length);
}

async function waitExit(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(25);
  }
  return !alive(pid);
}

export async function startContainerd(options: ContainerdOptions = {}): Promise<Containerd> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), 'skiff-ctd-'));
  const socket = join(dir, 'containerd.sock');
  const cniConfDir = options.cniConfDir ?? join(dir, 'net.d');
  const cniDataDir = join(dir, 'cni-ipam');
  const podLogDir = join(dir, 'pods');
  const logFile = join(dir, 'containerd.log');
  const configPath = join(dir, 'config.toml');
  await Promise.all([cniConfDir, cniDataDir, podLogDir, join(dir, 'runc')].map((d) => mkdir(d, { recursive: true })));
  await writeFile(configPath, configToml(dir, cniConfDir, options.cniBinDir ?? CNI_BIN_DIR, options.sandboxImage ?? PAUSE_IMAGE, options.logLevel ?? 'info'));

  const inner = ['unshare', '--mount', '--propagation', 'slave', '--', 'containerd', '--config', configPath];
  const argv = options.netns ? ['nsenter', `--net=/run/netns/${options.netns}`, '--', ...inner] : inner;
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', logFd, logFd], detached: false });
  } finally {
    closeSync(logFd);
  }
  let exited: string | null = null;
  child.on('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  child.on('error', (err) => (exited = `failed to start: ${err.message}`));
  const cri = new CriClient({ socket, requestTimeoutMs: 30_000 });

  const logTail = (lines = 30): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await cleanupThroughCri(cri, exited === null);
    cri.close();
    const pid = child.pid;
    if (pid !== undefined && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      if (!(await waitExit(pid, STOP_GRACE_MS))) {
        process.kill(pid, 'SIGKILL');
        await waitExit(pid, STOP_GRACE_MS);
      }
    }
    await killLeftovers(dir, socket);
    for (const mp of mountsUnder(dir)) await run('umount', ['-l', mp]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  const importImages = async (tars: string[]): Promise<void> => {
    for (const tar of tars) {
      await run('ctr', ['-a', socket, '-n', 'k8s.io', 'image', 'import', tar], { timeout: 60_000 }).catch((err: Error & { stderr?: string }) => {
        throw new Error(`ctr image import ${tar}: ${err.stderr ?? err.message}`);
      });
    }
  };

  const handle: Containerd = {
    dir,
    socket,
    cniConfDir,
    cniDataDir,
    podLogDir,
    logFile,
    pid: child.pid ?? -1,
    netns: options.netns,
    cri,
    importImages,
    logTail,
    stop,
  };

  try {
    const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
    for (;;) {
      if (exited !== null) throw new Error(`containerd ${exited}\n${logTail()}`);
      try {
        await cri.version({ timeoutMs: 1_000 });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`containerd did not answer CRI Version: ${(err as Error).message}\n${logTail()}`);
        await sleep(50);
      }
    }
    if (options.imageTars?.length) await importImages(options.imageTars);
    return handle;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Stops and removes every pod sandbox (and so every container) while containerd still answers. */
async function cleanupThroughCri(cri: CriClient, running: boolean): Promise<void> {
  if (!running) return;
  const deadline = Date.now() + CRI_CLEANUP_MS;
  try {
    const pods = await cri.listPodSandbox(undefined, { timeoutMs: 5_000 });
    for (const p of pods) {
      const timeoutMs = Math.max(1_000, deadline - Date.now());
      await cri.stopPodSandbox(p.id, { timeoutMs }).catch(() => undefined);
      await cri.removePodSandbox(p.id, { timeoutMs }).catch(() => undefined);
    }
  } catch {
    /* containerd not answering: the process-level cleanup below still runs */
  }
}

/** Kills shims that outlived containerd and the runc containers they ran. */
async function killLeftovers(dir: string, socket: string): Promise<void> {
  const runcRoot = join(dir, 'runc', 'k8s.io');
  let ids: string[] = [];
  try {
    const { stdout } = await run('runc', ['--root', runcRoot, 'list', '-q'], { timeout: 10_000 });
    ids = stdout.split('\n').filter(Boolean);
  } catch {
    /* no runc state: nothing ran */
  }
  for (const id of ids) await run('runc', ['--root', runcRoot, 'delete', '--force', id], { timeout: 10_000 }).catch(() => undefined);
  for (const pid of pidsMentioning(socket)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await waitExit(pid, 2_000);
  }
}


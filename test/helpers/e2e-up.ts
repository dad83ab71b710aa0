/**
 * `skiff up` driven from e2e tests: started as a child process in a process
 * group of its own (its members join that group), read until its
 * `READY {json}` line, then interrupted like Ctrl-C would.
 *
 * Should the test worker exit with the group still up, the `exit` handler
 * below SIGKILLs the whole group, so no member outlives the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { sleep } from './e2e-etcdctl.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const MAIN_TS = join(REPO_DIR, 'src/cli/main.ts');
/** `skiff up` polls for a leader for 60 s; we give up a little later. */
const READY_TIMEOUT_MS = 65_000;
/** Bounds what we keep of `up`'s own output (the members log to files). */
const OUTPUT_BYTES_MAX = 1024 * 1024;
const PORT_RANGE_ATTEMPTS = 50;
const PORT_BASE_MIN = 20_000;
const PORT_BASE_MAX = 60_000;

/** Process groups started here and not yet exited. */
const liveGroups = new Set<number>();
process.on('exit', () => {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** What `skiff up` prints on its READY line. */
export interface UpReady {
  etcd_endpoints: string;
  dir: string;
  metrics_endpoints: string;
  api_endpoints: string;
  kubeconfig: string;
  members: Array<{ name: string; client: string; peer: string; metrics: string; api: string; pid: number; log: string }>;
}

export interface UpExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function listen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * A base port P with P..P+n-1 all free on 127.0.0.1 (`skiff up` takes
 * consecutive ports). Free when checked: another process may still take one
 * before `up` binds it, which then fails loudly in `up`, not silently here.
 */
export async function freePortRange(n: number): Promise<number> {
  for (let attempt = 0; attempt < PORT_RANGE_ATTEMPTS; attempt++) {
    const base = PORT_BASE_MIN + Math.floor(Math.random() * (PORT_BASE_MAX - PORT_BASE_MIN));
    const held: Server[] = [];
    for (let p = base; p < base + n; p++) {
      const s = await listen(p);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === n) return base;
  }
  throw new Error(`no ${n} consecutive free ports found in ${PORT_RANGE_ATTEMPTS} attempts`);
}

/** True if a process with this pid exists (zombies included, until reaped). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class SkiffUp {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  exit: UpExit | null = null;
  private readonly exited: Promise<UpExit>;

  constructor(readonly args: string[]) {
    // Tests and benches run masters only unless they ask for a node (a node changes the host: iptables, lo, a bridge).
    const full = args.includes('--node') ? args : [...args, '--node', 'no'];
    this.proc = spawn(process.execPath, ['--import', 'tsx', MAIN_TS, 'up', ...full], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pgid = this.proc.pid;
    if (pgid !== undefined) liveGroups.add(pgid);
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stdout.length < OUTPUT_BYTES_MAX) this.stdout += d;
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < OUTPUT_BYTES_MAX) this.stderr += d;
    });
    this.exited = new Promise((resolve) =>
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Waits for the READY line and parses it; throws with `up`'s output if it exits or times out first. */
  async ready(timeoutMs = READY_TIMEOUT_MS): Promise<UpReady> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.stdout.split('\n').find((l) => l.startsWith('READY '));
      if (line !== undefined && this.stdout.includes(`${line}\n`)) return JSON.parse(line.slice('READY '.length)) as UpReady;
      if (!this.running) throw new Error(`skiff up exited (${this.exit!.signal ?? `code ${this.exit!.code}`}) before READY:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`skiff up: no READY within ${timeoutMs} ms:\n${this.output()}`);
      await sleep(50);
    }
  }

  /** Sends `signal` to `up` itself, or with `group` to its whole process group (as Ctrl-C in a terminal does). */
  signal(signal: NodeJS.Signals, opts: { group?: boolean } = {}): void {
    const pid = this.proc.pid!;
    process.kill(opts.group ? -pid : pid, signal);
  }

  /** Resolves with how `up` exited, or null if it is still running after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<UpExit | null> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    return r;
  }

  /** Ends the whole group whatever its state (test teardown): SIGKILL, then waits for `up` to exit. */
  async kill(): Promise<void> {
    const pgid = this.proc.pid;
    if (pgid === undefined) return;
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    if (this.running) await this.exited;
    liveGroups.delete(pgid);
  }

  output(): string {
    return `--- skiff up ${this.args.join(' ')}\nstdout:\n${this.stdout.slice(-4000)}\nstderr:\n${this.stderr.slice(-4000)}`;
  }
}

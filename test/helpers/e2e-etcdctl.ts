/**
 * The real `etcdctl` (Debian's 3.4) driven from e2e tests: one-shot commands,
 * long-running ones (`watch`) read while they run, and the project's rule for
 * when etcdctl is missing (fail in CI, skip with a printed reason elsewhere).
 *
 * KNOWN LIMITATION: etcdctl 3.4's per-endpoint Maintenance calls (endpoint
 * status, snapshot save, alarm, hashkv, move-leader) fail with
 * "RST_STREAM ... PROTOCOL_ERROR" when endpoints are written
 * `http://host:port`: etcdctl then sends `:authority: http://host:port`,
 * which Node's HTTP/2 rejects. The e2e tests therefore always hand etcdctl
 * schemeless endpoints (`127.0.0.1:P`, etcdctl's own default form).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { ImplementationFn, TestFn } from 'ava';

export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? 'etcdctl';
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Bounds what a background etcdctl may buffer, so a runaway watch cannot eat the worker's memory. */
const BACKGROUND_OUTPUT_BYTES_MAX = 8 * 1024 * 1024;

export interface EtcdctlResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Processes started here and not yet exited; killed when the worker exits, whatever the reason. */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function env(): NodeJS.ProcessEnv {
  return { ...process.env, ETCDCTL_API: '3' };
}

/**
 * Runs `etcdctl --endpoints=E args...` to completion (SIGKILL after
 * timeoutMs). `endpoints` must be schemeless host:port (see the limitation
 * above). Never throws for a failing command: the caller asserts on it.
 */
export function etcdctl(endpoints: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<EtcdctlResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(ETCDCTL_BIN, [`--endpoints=${endpoints}`, ...args], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(p);
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS);
    p.on('error', (e) => {
      stderr += `spawn ${ETCDCTL_BIN}: ${e.message}`;
    });
    p.on('close', (code, signal) => {
      clearTimeout(killer);
      live.delete(p);
      resolve({ code, signal, stdout, stderr, elapsedMs: Date.now() - t0 });
    });
    p.stdin.on('error', () => undefined);
    p.stdin.end(opts.input ?? '');
  });
}

/** A long-running etcdctl (e.g. `watch`) whose output is read while it runs. */
export class BackgroundEtcdctl {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  private readonly exited: Promise<void>;

  constructor(endpoints: string, args: string[]) {
    this.proc = spawn(ETCDCTL_BIN, [`--endpoints=${endpoints}`, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.proc);
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stdout.length < BACKGROUND_OUTPUT_BYTES_MAX) this.stdout += d;
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < BACKGROUND_OUTPUT_BYTES_MAX) this.stderr += d;
    });
    this.proc.on('error', (e) => (this.stderr += `spawn ${ETCDCTL_BIN}: ${e.message}`));
    this.exited = new Promise((resolve) => this.proc.on('close', () => resolve()));
    void this.exited.then(() => live.delete(this.proc));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Waits until `pred(stdout)` holds; throws with what was seen after timeoutMs. */
  async waitFor(pred: (stdout: string) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.stdout)) {
      if (Date.now() > deadline) throw new Error(`etcdctl ${what}: not seen within ${timeoutMs} ms; stdout=${JSON.stringify(this.stdout.slice(-2000))} stderr=${JSON.stringify(this.stderr.slice(-2000))}`);
      await sleep(50);
    }
  }

  /** SIGTERM, then SIGKILL if it lingers; resolves once it has exited. */
  async stop(): Promise<void> {
    if (this.running) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 2_000);
      await this.exited;
      clearTimeout(t);
    }
  }
}

/**
 * etcdctl's `-w json` writes 64-bit IDs (member, cluster, lease) as JSON
 * numbers, which lose precision in a JS number: integers of 16 digits or more
 * are read as strings instead.
 */
export function parseEtcdJson<T = unknown>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"')) as T;
}

/** A decimal ID as etcdctl's JSON prints it → the hex form its other commands take. */
export function idHex(id: string | number): string {
  return BigInt(id).toString(16);
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

export function unb64(s: string): string {
  return Buffer.from(s, 'base64').toString('utf8');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Why etcdctl cannot be used here, or null when it can (an etcd v3 etcdctl answering `version`). */
export function etcdctlMissingReason(): string | null {
  const r = spawnSync(ETCDCTL_BIN, ['version'], { env: env(), encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `${ETCDCTL_BIN} not runnable (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Debian's etcd-client`;
  if (r.status !== 0 || !/etcdctl version: 3\./.test(r.stdout)) return `${ETCDCTL_BIN} version did not report etcdctl 3.x: ${JSON.stringify((r.stdout + r.stderr).slice(0, 200))}`;
  return null;
}

export type E2eRegister = (title: string, impl: ImplementationFn<[], unknown>) => void;

/**
 * The project's rule for tests that need the real etcdctl, in one place:
 * present → the tests run; missing with CI=true → a failing test says why
 * (CI installs it, so its absence is a CI bug) and the tests run and fail;
 * missing elsewhere → every test is registered as skipped and the reason is
 * printed at load time, so nothing is skipped silently.
 */
export function etcdctlGate(test: TestFn, file: string): { test: E2eRegister; serial: E2eRegister; enabled: boolean } {
  const reason = etcdctlMissingReason();
  if (reason === null) return { test: (t, f) => test(t, f), serial: (t, f) => test.serial(t, f), enabled: true };
  if (process.env.CI === 'true') {
    test.serial('prerequisite: etcdctl is installed (required in CI)', (t) => {
      t.fail(`${reason} — CI must provide it (.ci/run installs etcd-client)`);
    });
    return { test: (t, f) => test(t, f), serial: (t, f) => test.serial(t, f), enabled: true };
  }
  console.log(`SKIP ${file}: ${reason} (these e2e tests need the real etcdctl; with CI=true they fail instead)`);
  return { test: (t, f) => test.skip(t, f), serial: (t, f) => test.serial.skip(t, f), enabled: false };
}

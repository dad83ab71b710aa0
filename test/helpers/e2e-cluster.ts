/**
 * e2e harness: a cluster of real `skiff master` processes on loopback.
 *
 * Ports come from the kernel (freePorts), data and logs live in one temp dir
 * per cluster, so ava may run e2e files side by side. Each member logs to
 * DIR/<name>.log (appended across restarts, with a harness line at each
 * start). Members can be killed (-9 or TERM), restarted with the same flags
 * and data dir, paused (SIGSTOP) and resumed (SIGCONT), added and removed.
 *
 * Contract with ava: `new E2eSuite(test, label)` registers the hooks that
 * print the members' log tails when a test fails and stop every process in
 * `after.always` (SIGTERM, SIGKILL after STOP_GRACE_MS). Should the worker
 * die without running hooks, the `exit` handler below and the orphan guard
 * preloaded into each master (e2e-orphan-guard.ts) still end the members.
 *
 * etcdctl is always given schemeless endpoints: see the KNOWN LIMITATION in
 * e2e-etcdctl.ts.
 *
 * Options beyond the defaults (all off unless given): https:// client and
 * peer URLs (`scheme`), flags for one member only (`memberArgs`, e.g. its own
 * certificate), extra environment, and which founders start() waits for
 * (`awaitHealthy`, for a member that is meant never to join).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ExecutionContext, TestFn } from 'ava';
import { etcdctl, parseEtcdJson, idHex, sleep } from './e2e-etcdctl.js';
import { freePorts } from './ports.js';

const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const MAIN_TS = join(REPO_DIR, 'src/cli/main.ts');
const ORPHAN_GUARD = pathToFileURL(fileURLToPath(new URL('./e2e-orphan-guard.ts', import.meta.url))).href;
const STOP_GRACE_MS = 5_000;
const HEALTH_TIMEOUT_MS = 45_000;
const LOG_TAIL_LINES = 40;
const MEMBERS_MAX = 7;

/** Every member process started in this worker; SIGKILLed if the worker exits with them still up. */
const liveProcs = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of liveProcs) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
  }
});

export type UrlScheme = 'http' | 'https';

export interface MemberPorts {
  client: number;
  peer: number;
  metrics: number;
}

export interface MemberExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the harness asked for it (kill/stop); false means the member died by itself. */
  expected: boolean;
  at: string;
}

export class E2eMember {
  proc: ChildProcess | null = null;
  paused = false;
  removed = false;
  starts = 0;
  readonly exits: MemberExit[] = [];
  private exitWaiters: Array<() => void> = [];
  expectExit = false;

  constructor(
    readonly name: string,
    readonly ports: MemberPorts,
    readonly dataDir: string,
    readonly logFile: string,
    /** The `skiff master` flags, reused verbatim on restart. */
    readonly args: readonly string[],
    /** The scheme of the client and peer URLs (the metrics port is always plain HTTP). */
    readonly scheme: UrlScheme = 'http',
  ) {}

  /** host:port of the etcd API, schemeless as etcdctl and the etcd3 client take it. */
  get endpoint(): string {
    return `127.0.0.1:${this.ports.client}`;
  }

  get clientURL(): string {
    return `${this.scheme}://127.0.0.1:${this.ports.client}`;
  }

  get peerURL(): string {
    return `${this.scheme}://127.0.0.1:${this.ports.peer}`;
  }

  get metricsURL(): string {
    return `http://127.0.0.1:${this.ports.metrics}`;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.proc!.pid : undefined;
  }

  /** Exits the harness did not cause (crashes). */
  get crashes(): MemberExit[] {
    return this.exits.filter((e) => !e.expected);
  }

  onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exits.push({ code, signal, expected: this.expectExit, at: new Date().toISOString() });
    this.expectExit = false;
    this.paused = false;
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
  }

  waitExit(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }
}

export interface ListedMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface E2eClusterOptions {
  /** Founding members (1..MEMBERS_MAX). */
  size: number;
  /** Names the temp dir, for humans reading leftovers. */
  label: string;
  /** Extra `skiff master` flags for every member, e.g. ['--snapshot-count', '50']. */
  extraArgs?: string[];
  /** Client and peer URL scheme (default http); https needs the TLS flags in extraArgs or memberArgs. */
  scheme?: UrlScheme;
  /** Extra flags for the member named `name`, after extraArgs (e.g. its own certificate). */
  memberArgs?: (name: string) => string[];
  /** Extra environment for every member process. */
  env?: Record<string, string>;
  /** Whether start() waits for founder `name` to be healthy (default: every founder). */
  awaitHealthy?: (name: string) => boolean;
}

export class E2eCluster {
  readonly root: string;
  readonly members: E2eMember[] = [];
  private stopped = false;

  constructor(readonly opts: E2eClusterOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1 || opts.size > MEMBERS_MAX) throw new Error(`cluster size must be 1..${MEMBERS_MAX}, got ${opts.size}`);
    this.root = mkdtempSync(join(tmpdir(), `skiff-e2e-${opts.label}-`));
  }

  /** Starts the founding members and waits until every one of them knows a leader. */
  async start(): Promise<void> {
    const ports = await freePorts(3 * this.opts.size);
    const specs = Array.from({ length: this.opts.size }, (_, i) => ({
      name: `m${i + 1}`,
      ports: { client: ports[3 * i]!, peer: ports[3 * i + 1]!, metrics: ports[3 * i + 2]! },
    }));
    const initialCluster = specs.map((s) => `${s.name}=${this.scheme}://127.0.0.1:${s.ports.peer}`).join(',');
    for (const s of specs) {
      const m = this.makeMember(s.name, s.ports, join(this.root, s.name), initialCluster, 'new');
      this.members.push(m);
      this.spawn(m);
    }
    const awaited = this.opts.awaitHealthy;
    await this.waitHealthy(awaited ? this.members.filter((m) => awaited(m.name)) : this.members);
  }

  get scheme(): UrlScheme {
    return this.opts.scheme ?? 'http';
  }

  private makeMember(name: string, ports: MemberPorts, dataDir: string, initialCluster: string, state: 'new' | 'existing'): E2eMember {
    const peer = `${this.scheme}://127.0.0.1:${ports.peer}`;
    const client = `${this.scheme}://127.0.0.1:${ports.client}`;
    const args = [
      '--name', name,
      '--data-dir', dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--listen-metrics-urls', `http://127.0.0.1:${ports.metrics}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      ...(this.opts.extraArgs ?? []),
      ...(this.opts.memberArgs?.(name) ?? []),
    ];
    const log = join(this.root, `${name}-${ports.peer}.log`);
    return new E2eMember(name, ports, dataDir, log, args, this.scheme);
  }

  private spawn(m: E2eMember): void {
    if (this.stopped) throw new Error(`cluster ${this.root} is stopped; not starting ${m.name}`);
    if (m.running) throw new Error(`${m.name} is already running (pid ${m.pid})`);
    m.starts++;
    const fd = openSync(m.logFile, 'a');
    writeSync(fd, `--- e2e harness: start #${m.starts} of ${m.name} at ${new Date().toISOString()}: skiff master ${m.args.join(' ')}\n`);
    try {
      m.proc = spawn(process.execPath, ['--import', 'tsx', '--import', ORPHAN_GUARD, MAIN_TS, 'master', ...m.args], {
        cwd: REPO_DIR,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...this.opts.env, SKIFF_E2E_PARENT_PID: String(process.pid) },
      });
    } finally {
      closeSync(fd);
    }
    const proc = m.proc;
    liveProcs.add(proc);
    proc.on('exit', (code, signal) => {
      liveProcs.delete(proc);
      m.onExit(code, signal);
    });
  }

  /** Members that are running, not paused and not removed: the ones that can answer. */
  get up(): E2eMember[] {
    return this.members.filter((m) => m.running && !m.paused && !m.removed);
  }

  member(name: string): E2eMember {
    const found = this.members.filter((m) => m.name === name && !m.removed);
    if (found.length !== 1) throw new Error(`no single member named ${name}`);
    return found[0]!;
  }

  /** Schemeless, comma-separated client endpoints of `members` (default: the ones up). */
  endpoints(members: E2eMember[] = this.up): string {
    return members.map((m) => m.endpoint).join(',');
  }

  /** Exits nobody asked for, over all members: [] in a healthy run. */
  crashes(): string[] {
    return this.members.flatMap((m) => m.crashes.map((e) => `${m.name} exited by itself at ${e.at} (${e.signal ?? `code ${e.code}`})`));
  }

  async healthz(m: E2eMember): Promise<boolean> {
    try {
      const r = await fetch(`${m.metricsURL}/healthz`, { signal: AbortSignal.timeout(1_000) });
      await r.text();
      return r.ok;
    } catch {
      return false;
    }
  }

  /** Waits until each of `members` answers /healthz 200 (it knows a leader). */
  async waitHealthy(members: E2eMember[], timeoutMs = HEALTH_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const m of members) {
      while (!(await this.healthz(m))) {
        if (!m.running) throw new Error(`${m.name} exited while waiting for it to be healthy:\n${this.tail(m)}`);
        if (Date.now() > deadline) throw new Error(`${m.name} not healthy within ${timeoutMs} ms:\n${this.tail(m)}`);
        await sleep(100);
      }
    }
  }

  /** The member's Prometheus gauges (name → value); null if it does not answer. */
  async metrics(m: E2eMember): Promise<Map<string, number> | null> {
    try {
      const r = await fetch(`${m.metricsURL}/metrics`, { signal: AbortSignal.timeout(1_000) });
      const text = await r.text();
      const out = new Map<string, number>();
      for (const line of text.split('\n')) {
        const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line);
        if (match) out.set(match[1]!, Number(match[2]));
      }
      return out;
    } catch {
      return null;
    }
  }

  /**
   * The leader, by the members' own metric (skiff_raft_is_leader 1): waits
   * until exactly one member that is up claims it.
   */
  async leader(timeoutMs = 20_000): Promise<E2eMember> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = this.up;
      const flags = await Promise.all(up.map(async (m) => (await this.metrics(m))?.get('skiff_raft_is_leader') === 1));
      const leaders = up.filter((_, i) => flags[i]);
      if (leaders.length === 1) return leaders[0]!;
      if (Date.now() > deadline) throw new Error(`no single leader within ${timeoutMs} ms (claimants: ${leaders.map((m) => m.name).join(',') || 'none'})`);
      await sleep(100);
    }
  }

  async followers(): Promise<E2eMember[]> {
    const l = await this.leader();
    return this.up.filter((m) => m !== l);
  }

  /** Sends `signal` (default SIGKILL, i.e. kill -9) and waits for the exit. */
  async kill(m: E2eMember, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!m.running) return;
    m.expectExit = true;
    const exited = m.waitExit();
    if (m.paused && signal !== 'SIGKILL') m.proc!.kill('SIGCONT');
    m.proc!.kill(signal);
    const force = setTimeout(() => m.proc?.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(force);
  }

  /** Starts a stopped member again with the same flags and data dir; waits for its /healthz. */
  async restart(m: E2eMember, opts: { waitHealthy?: boolean } = {}): Promise<void> {
    this.spawn(m);
    if (opts.waitHealthy ?? true) await this.waitHealthy([m]);
  }

  pause(m: E2eMember): void {
    if (!m.running) throw new Error(`${m.name} is not running`);
    m.proc!.kill('SIGSTOP');
    m.paused = true;
  }

  resume(m: E2eMember): void {
    if (!m.running) throw new Error(`${m.name} is not running`);
    m.proc!.kill('SIGCONT');
    m.paused = false;
  }

  /**
   * The member table by `etcdctl member list -w json` on the members up, IDs
   * in hex. A member added but not started yet has no name (as in etcd).
   */
  async memberList(): Promise<ListedMember[]> {
    const r = await etcdctl(this.endpoints(), ['member', 'list', '-w', 'json']);
    if (r.code !== 0) throw new Error(`member list failed: ${r.stderr}`);
    const j = parseEtcdJson<{ members: Array<{ ID: string | number; name?: string; peerURLs?: string[]; clientURLs?: string[]; isLearner?: boolean }> }>(r.stdout);
    return j.members.map((x) => ({ id: idHex(x.ID), name: x.name ?? '', peerURLs: x.peerURLs ?? [], clientURLs: x.clientURLs ?? [], isLearner: x.isLearner === true }));
  }

  /** The hex ID of the member advertising `m`'s peer URL. */
  async memberId(m: E2eMember): Promise<string> {
    const found = (await this.memberList()).filter((x) => x.peerURLs.includes(m.peerURL));
    if (found.length !== 1) throw new Error(`${m.name} (${m.peerURL}) is listed ${found.length} times`);
    return found[0]!.id;
  }

  /**
   * `etcdctl member add NAME [--learner] --peer-urls=...` with fresh ports,
   * then starts the member with `--initial-cluster-state existing` and the
   * initial cluster etcdctl printed. Does not wait for it to be healthy.
   */
  async addMember(name: string, opts: { learner?: boolean; dataDir?: string } = {}): Promise<{ member: E2eMember; id: string; stdout: string }> {
    const [client, peer, metrics] = await freePorts(3);
    const ports = { client: client!, peer: peer!, metrics: metrics! };
    const args = ['member', 'add', name, ...(opts.learner ? ['--learner'] : []), `--peer-urls=${this.scheme}://127.0.0.1:${ports.peer}`];
    const r = await etcdctl(this.endpoints(), args);
    if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')} failed: ${r.stderr}`);
    const id = /Member\s+([0-9a-f]+)\s+added/.exec(r.stdout)?.[1];
    const initialCluster = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(r.stdout)?.[1];
    if (!id || !initialCluster) throw new Error(`unexpected member add output: ${r.stdout}`);
    const m = this.makeMember(name, ports, opts.dataDir ?? join(this.root, `${name}-${ports.peer}`), initialCluster, 'existing');
    this.members.push(m);
    this.spawn(m);
    return { member: m, id, stdout: r.stdout };
  }

  /** Stops the harness tracking `m` as a member (after `member remove`). */
  markRemoved(m: E2eMember): void {
    m.removed = true;
  }

  /** The last lines of a member's log, with what the harness knows of its process. */
  tail(m: E2eMember, lines = LOG_TAIL_LINES): string {
    const text = existsSync(m.logFile) ? readFileSync(m.logFile, 'utf8') : '(no log file)';
    const state = m.running ? `running pid ${m.pid}${m.paused ? ' (paused)' : ''}` : 'not running';
    const exits = m.exits.map((e) => `${e.signal ?? `code ${e.code}`}${e.expected ? '' : ' UNEXPECTED'} at ${e.at}`).join('; ') || 'none';
    return `== ${m.name} ${m.endpoint} [${state}; exits: ${exits}${m.removed ? '; removed' : ''}] ${m.logFile}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
  }

  report(lines = LOG_TAIL_LINES): string {
    return `cluster ${this.root}:\n${this.members.map((m) => this.tail(m, lines)).join('\n')}`;
  }

  /** Stops every member: SIGCONT if paused, SIGTERM, SIGKILL after STOP_GRACE_MS. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.members.map((m) => this.kill(m, 'SIGTERM')));
  }

  removeDir(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

interface E2eTestContext {
  e2eClusters?: Set<E2eCluster>;
}

/**
 * The per-file glue between ava and the harness: clusters made for one test
 * or shared by many, log tails printed for the clusters a failed test used,
 * everything stopped in after.always, temp dirs removed only if all passed.
 */
export class E2eSuite {
  private readonly clusters = new Set<E2eCluster>();
  private readonly sharedClusters = new Set<E2eCluster>();
  private anyFailed = false;

  constructor(test: TestFn, readonly label: string) {
    test.afterEach.always((t) => {
      if (t.passed) return;
      this.anyFailed = true;
      for (const c of (t.context as E2eTestContext).e2eClusters ?? []) console.error(`\n[e2e ${label}] ${t.title}: member log tails\n${c.report()}\n`);
    });
    test.after.always(async () => {
      await Promise.all([...this.clusters].map((c) => c.stop()));
      if (this.anyFailed) console.error(`[e2e ${label}] data dirs and logs kept: ${[...this.clusters].map((c) => c.root).join(' ')}`);
      else for (const c of this.clusters) c.removeDir();
    });
  }

  private use(t: ExecutionContext, c: E2eCluster): void {
    const ctx = t.context as E2eTestContext;
    (ctx.e2eClusters ??= new Set()).add(c);
  }

  /** A cluster of its own for test `t`, stopped when `t` ends. */
  async cluster(t: ExecutionContext, opts: Omit<E2eClusterOptions, 'label'> & { label?: string }): Promise<E2eCluster> {
    const c = new E2eCluster({ ...opts, label: opts.label ?? this.label });
    this.clusters.add(c);
    this.use(t, c);
    t.teardown(() => c.stop());
    await c.start();
    return c;
  }

  /**
   * Stops now the clusters made for `t` by cluster() (the teardown would
   * stop them only after the test), e.g. before releasing an e2e lock.
   */
  async stopOwnClusters(t: ExecutionContext): Promise<void> {
    const own = [...((t.context as E2eTestContext).e2eClusters ?? [])].filter((c) => !this.sharedClusters.has(c));
    await Promise.all(own.map((c) => c.stop()));
  }

  /** A cluster started on first use and shared by the tests that call the returned function. */
  shared(opts: Omit<E2eClusterOptions, 'label'> & { label?: string }): (t: ExecutionContext) => Promise<E2eCluster> {
    let cluster: E2eCluster | null = null;
    let started: Promise<void> | null = null;
    return async (t) => {
      if (!cluster) {
        cluster = new E2eCluster({ ...opts, label: opts.label ?? this.label });
        this.clusters.add(cluster);
        this.sharedClusters.add(cluster);
        started = cluster.start();
      }
      this.use(t, cluster);
      await started;
      return cluster;
    };
  }
}

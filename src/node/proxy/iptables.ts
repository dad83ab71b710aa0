/**
 * The host edge of the proxy: iptables-restore, iptables-save, iptables -C/-I/-D
 * and conntrack run as child processes, each with a timeout and an output
 * limit, every failure a ProxyError carrying the tool's stderr. An optional
 * argv prefix (`ip netns exec <ns>`) runs them inside a network namespace.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { ProxyError } from './errors.js';
import { FIXED_CHAINS, JUMP_RULES, isOwnChain, parseIptablesSave, type JumpRule, type Table } from './rules.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

export interface RunOptions {
  /** Written to the child's stdin, then stdin is closed. */
  readonly input?: string;
  /**
   * Instead of `input`: pieces pulled one by one and written as the child
   * reads them (backpressure), so a caller's generator runs while the child
   * parses. An exception from the iterator kills the child and is the result.
   */
  readonly inputChunks?: Iterable<string>;
  readonly timeoutMs: number;
  /** stdout + stderr beyond this kills the child. */
  readonly maxOutputBytes: number;
  /** Exit codes that are answers rather than failures (e.g. 1 for `iptables -C`). */
  readonly okExitCodes?: readonly number[];
}

/** How commands are started; tests and the bench pass `['ip', 'netns', 'exec', ns]` as prefix. */
export type Exec = (argv: readonly string[], opts: RunOptions) => Promise<CommandResult>;

/** Runs argv (no shell) with a timeout and an output limit. */
export function runCommand(argv: readonly string[], opts: RunOptions): Promise<CommandResult> {
  if (argv.length === 0) throw new ProxyError('PROXY_ERR_INVALID_CONFIG', 'empty command');
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let failure: ProxyError | null = null;
    const fail = (e: ProxyError): void => {
      if (failure === null) failure = e;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => fail(new ProxyError('PROXY_ERR_COMMAND_TIMEOUT', `${argv.join(' ')} ran longer than ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > opts.maxOutputBytes) fail(new ProxyError('PROXY_ERR_OUTPUT_LIMIT', `${argv.join(' ')} wrote more than ${opts.maxOutputBytes} bytes`));
      else into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.stdin.on('error', () => {
      /* the child exited before reading all input; its exit status tells why */
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT'
        ? new ProxyError('PROXY_ERR_COMMAND_NOT_FOUND', `${argv[0]} is not installed or not on PATH`)
        : new ProxyError('PROXY_ERR_COMMAND_FAILED', `${argv.join(' ')}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      const exitCode = code ?? -1;
      if (exitCode === 0 || opts.okExitCodes?.includes(exitCode)) return resolve({ stdout, stderr, exitCode });
      reject(new ProxyError('PROXY_ERR_COMMAND_FAILED', `${argv.slice(0, 6).join(' ')}${argv.length > 6 ? ' …' : ''} exited with ${exitCode}`, { argv, exitCode, stderr }));
    });
    if (opts.inputChunks !== undefined) {
      streamInput(child.stdin, opts.inputChunks).catch((e: unknown) => fail(e instanceof ProxyError ? e : new ProxyError('PROXY_ERR_COMMAND_FAILED', `${argv[0]}: writing its input: ${String(e)}`)));
    } else if (opts.input !== undefined) {
      child.stdin.end(opts.input);
    } else {
      child.stdin.end();
    }
  });
}

/** Writes pieces to a child's stdin in ~64 KiB writes, waiting for 'drain' when the pipe is full; stops when stdin closes. */
async function streamInput(stdin: Writable, pieces: Iterable<string>): Promise<void> {
  let closed = false;
  stdin.once('close', () => {
    closed = true;
  });
  let buf = '';
  for (const piece of pieces) {
    if (closed) return; // the child exited early; its exit status tells why
    buf += piece;
    if (buf.length < 65536) continue;
    const ok = stdin.write(buf);
    buf = '';
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          stdin.off('drain', done);
          stdin.off('close', done);
          resolve();
        };
        stdin.on('drain', done);
        stdin.on('close', done);
      });
    }
  }
  if (!closed) stdin.end(buf);
}

/** An Exec that prefixes every command, e.g. with `ip netns exec <ns>`. */
export function prefixedExec(prefix: readonly string[]): Exec {
  return (argv, opts) => runCommand([...prefix, ...argv], opts);
}

export interface IptablesOptions {
  readonly exec?: Exec;
  /** Seconds iptables waits for the xtables lock (`-w`). */
  readonly lockWaitSeconds?: number;
  /** Per iptables-restore run; a full sync of a big cluster takes seconds. */
  readonly restoreTimeoutMs?: number;
  /** iptables-save of a big nat table takes long on the nf_tables backend. */
  readonly saveTimeoutMs?: number;
  readonly maxOutputBytes?: number;
}

const DEFAULTS = { lockWaitSeconds: 5, restoreTimeoutMs: 60_000, saveTimeoutMs: 120_000, maxOutputBytes: 512 * 1024 * 1024 };

/** iptables through its command-line tools. Commands for one host must not overlap (the caller serialises). */
export class Iptables {
  private readonly exec: Exec;
  private readonly o: typeof DEFAULTS;

  constructor(opts: IptablesOptions = {}) {
    this.exec = opts.exec ?? runCommand;
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k !== 'exec' && v !== undefined)) };
  }

  /** Applies one rule set atomically per table, without touching chains it does not name. */
  async restore(text: string): Promise<void> {
    await this.exec(['iptables-restore', '-w', String(this.o.lockWaitSeconds), '--noflush'], {
      input: text,
      timeoutMs: this.o.restoreTimeoutMs,
      maxOutputBytes: 1024 * 1024,
    });
  }

  async save(table: Table): Promise<string> {
    const r = await this.exec(['iptables-save', '-t', table], { timeoutMs: this.o.saveTimeoutMs, maxOutputBytes: this.o.maxOutputBytes });
    return r.stdout;
  }

  /** True when the rule exists (`iptables -C`). */
  async hasRule(table: Table, chain: string, spec: readonly string[]): Promise<boolean> {
    const r = await this.exec(['iptables', '-w', String(this.o.lockWaitSeconds), '-t', table, '-C', chain, ...spec], {
      timeoutMs: 10_000,
      maxOutputBytes: 1024 * 1024,
      okExitCodes: [1],
    });
    return r.exitCode === 0;
  }

  /** Inserts a jump rule at the top of its built-in chain unless it is already there; true when inserted. */
  async ensureJump(rule: JumpRule): Promise<boolean> {
    if (await this.hasRule(rule.table, rule.chain, rule.spec)) return false;
    await this.exec(['iptables', '-w', String(this.o.lockWaitSeconds), '-t', rule.table, '-I', rule.chain, '1', ...rule.spec], {
      timeoutMs: 10_000,
      maxOutputBytes: 1024 * 1024,
    });
    return true;
  }

  /** Deletes every copy of a jump rule; absent is fine. Bounded: at most `maxCopies` deletions. */
  async removeJump(rule: JumpRule, maxCopies = 16): Promise<number> {
    let removed = 0;
    for (; removed < maxCopies; removed++) {
      const r = await this.exec(['iptables', '-w', String(this.o.lockWaitSeconds), '-t', rule.table, '-D', rule.chain, ...rule.spec], {
        timeoutMs: 10_000,
        maxOutputBytes: 1024 * 1024,
        okExitCodes: [1, 2],
      });
      if (r.exitCode !== 0) break;
    }
    return removed;
  }

  /** The chains of a table that this proxy owns (fixed names and KUBE-SVC/SEP/EXT-*). */
  async ownChains(table: Table): Promise<string[]> {
    const t = parseIptablesSave(await this.save(table)).get(table);
    return t ? [...t.chains.keys()].filter((c) => isOwnChain(table, c)) : [];
  }

  /**
   * Removes every jump rule and chain this proxy creates, in both tables; what
   * is already gone is skipped. Other chains and rules are left alone.
   */
  async cleanup(): Promise<{ jumps: number; chains: number }> {
    let jumps = 0;
    for (const rule of JUMP_RULES) jumps += await this.removeJump(rule);
    let chains = 0;
    for (const table of Object.keys(FIXED_CHAINS) as Table[]) {
      const own = await this.ownChains(table);
      if (own.length === 0) continue;
      // Flush all first (a declaration flushes in --noflush mode), then delete: chains reference each other.
      await this.restore([`*${table}`, ...own.map((c) => `:${c} - [0:0]`), ...own.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n'));
      chains += own.length;
    }
    return { jumps, chains };
  }
}

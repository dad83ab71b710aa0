/**
 * The host edge of the nftables mode: `nft -f -` and `nft list`, run as
 * child processes through the same Exec as iptables (timeout, output limit,
 * optional `ip netns exec` prefix). Only our tables (NFT_TABLE and its
 * shards) are read or written.
 */
import { accessSync, constants } from 'node:fs';
import { runCommand, type Exec } from './iptables.js';
import { parseNftList, parseNftTables } from './nft-rules.js';

/**
 * Where Debian (package nftables) and others install nft. An absolute path,
 * because under npm/npx the PATH starts with node_modules/.bin, which may hold
 * an unrelated `nft` (@vercel/nft, a file tracer that exits 0 on anything).
 */
const NFT_CANDIDATES = ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft', '/usr/bin/nft'];

/** The nft binary: the first of the usual system paths that exists, else plain "nft". */
export function nftBinary(): string {
  for (const p of NFT_CANDIDATES) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return 'nft';
}

export interface NftablesOptions {
  readonly exec?: Exec;
  /** The nft binary (default: nftBinary()). */
  readonly nft?: string;
  /** Per `nft -f` run; a full sync slice of a big cluster takes a second or so. */
  readonly applyTimeoutMs?: number;
  /** `nft list` of a big table. */
  readonly listTimeoutMs?: number;
  readonly maxOutputBytes?: number;
}

const DEFAULTS = { applyTimeoutMs: 60_000, listTimeoutMs: 120_000, maxOutputBytes: 256 * 1024 * 1024 };

/** nftables through `nft`. Commands for one host must not overlap (the caller serialises). */
export class Nftables {
  private readonly exec: Exec;
  private readonly o: typeof DEFAULTS;
  private readonly bin: string;

  constructor(opts: NftablesOptions = {}) {
    this.exec = opts.exec ?? runCommand;
    this.bin = opts.nft ?? nftBinary();
    this.o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([k, v]) => k !== 'exec' && k !== 'nft' && v !== undefined)) };
  }

  /** Applies one script as one transaction: all of it or nothing. Pieces are written as nft reads them. */
  async apply(script: string | Iterable<string>): Promise<void> {
    const input = typeof script === 'string' ? { input: script } : { inputChunks: script };
    await this.exec([this.bin, '-f', '-'], { ...input, timeoutMs: this.o.applyTimeoutMs, maxOutputBytes: 1024 * 1024 });
  }

  /** The chains and sets of our table (names only; rules and elements are not listed); empty when it does not exist. */
  async ownObjects(): Promise<{ chains: string[]; sets: string[] }> {
    const opts = { timeoutMs: this.o.listTimeoutMs, maxOutputBytes: this.o.maxOutputBytes };
    // Not `nft list tables`: nft 1.0.6 fills its whole cache for it (seconds with a big ruleset).
    const chains = parseNftList((await this.exec([this.bin, 'list', 'chains', 'ip'], opts)).stdout, 'chain');
    if (chains.length === 0) return { chains, sets: [] };
    // -t (terse) leaves out the elements of the affinity sets.
    const sets = parseNftList((await this.exec([this.bin, '-t', 'list', 'sets', 'ip'], opts)).stdout, 'set');
    return { chains, sets };
  }

  /** Deletes our tables (main and shards) with everything in them; other tables are left alone. How many there were. */
  async cleanup(): Promise<{ tables: number }> {
    const opts = { timeoutMs: this.o.listTimeoutMs, maxOutputBytes: this.o.maxOutputBytes };
    const tables = parseNftTables((await this.exec([this.bin, 'list', 'chains', 'ip'], opts)).stdout);
    if (tables.length === 0) return { tables: 0 };
    // One transaction; `add` first so that a table gone meanwhile is no error.
    await this.apply(tables.map((t) => `add table ${t}\ndelete table ${t}\n`).join(''));
    return { tables: tables.length };
  }
}

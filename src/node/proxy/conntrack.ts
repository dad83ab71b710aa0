/**
 * Stale UDP conntrack entries. A UDP "connection" to a Service keeps its
 * DNAT while packets keep flowing, so after its endpoint goes away a client
 * would keep sending into the void; upstream deletes those entries. TCP needs
 * nothing: the old endpoint resets the connection.
 *
 * `conntrack -D` exits 1 when no entry matched; that is not an error.
 */
import { ProxyError } from './errors.js';
import { runCommand, type Exec } from './iptables.js';

/** One deletion, as conntrack filter arguments. */
export interface ConntrackFilter {
  readonly args: readonly string[];
}

/** Entries from a client to a Service's ClusterIP that were DNATed to an endpoint that is gone. */
export function clusterIPEndpointFilter(clusterIP: string, endpointIP: string): ConntrackFilter {
  return { args: ['-p', 'udp', '--orig-dst', clusterIP, '--dst-nat', endpointIP] };
}

/** Entries to a NodePort that were DNATed to an endpoint that is gone. */
export function nodePortEndpointFilter(nodePort: number, endpointIP: string): ConntrackFilter {
  return { args: ['-p', 'udp', '--dport', String(nodePort), '--dst-nat', endpointIP] };
}

/**
 * Every entry to a ClusterIP: used when a UDP Service gets its first endpoint,
 * since packets sent while it had none may have left entries that bypass the new DNAT.
 */
export function clusterIPFilter(clusterIP: string): ConntrackFilter {
  return { args: ['-p', 'udp', '--orig-dst', clusterIP] };
}

export class Conntrack {
  private readonly exec: Exec;

  constructor(opts: { exec?: Exec } = {}) {
    this.exec = opts.exec ?? runCommand;
  }

  /** Deletes the matching entries; returns how many conntrack reported deleted (0 when none matched). */
  async delete(filter: ConntrackFilter): Promise<number> {
    const r = await this.exec(['conntrack', '-D', ...filter.args], { timeoutMs: 10_000, maxOutputBytes: 16 * 1024 * 1024, okExitCodes: [1] });
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
    if (r.exitCode !== 0 && !m) {
      throw new ProxyError('PROXY_ERR_COMMAND_FAILED', `conntrack -D ${filter.args.join(' ')} exited with ${r.exitCode}`, { argv: ['conntrack', '-D', ...filter.args], exitCode: r.exitCode, stderr: r.stderr });
    }
    return m ? Number(m[1]) : 0;
  }
}

/**
 * What `npm start` shows until the replicated store exists: a simulated
 * 3-member cluster electing a leader, committing client writes, losing its
 * leader to a crash, electing another, and taking the old one back — paced
 * so that a person can follow it. Everything is the real Raft core; only the
 * network, disks and clock are simulated.
 */
import { StateType } from '../raft/index.js';
import { SimCluster, type SimResult } from './cluster.js';

export interface DemoOptions {
  seed: number;
  /** Virtual milliseconds shown per real millisecond. */
  speed: number;
  out: (line: string) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runDemo(opts: DemoOptions): Promise<SimResult> {
  const c = new SimCluster({ seed: opts.seed, nodes: 3, clients: 3, faults: false, membershipChanges: false, safetyMs: 7_000, livenessMs: 3_000 });
  const stamp = (t: number) => `[${(t / 1000).toFixed(3)}s]`;
  c.onNotice = (t, line) => opts.out(`${stamp(t)} ${line}`);
  opts.out('skiff demo: 3 Raft members in one process (simulated network, disks and clock), 3 clients writing and reading');
  c.start();
  let crashedLeader = false;
  for (let t = 0; !c.done; t += 100) {
    try {
      c.runUntil(t);
    } catch (e) {
      return c.finish(c.describeFailure(e));
    }
    if (t > 0 && t % 1000 === 0) opts.out(`${stamp(t)} ${status(c)}`);
    if (!crashedLeader && t >= 2500) {
      const leader = c.leader();
      if (leader) {
        crashedLeader = true;
        opts.out(`${stamp(t)} killing the leader, member ${leader.id}: the others must elect a new one`);
        c.crash(leader, 2_000);
      }
    }
    await sleep(100 / opts.speed);
  }
  const result = c.finish();
  opts.out(`${stamp(c.timeMs)} ${status(c)}`);
  return result;
}

function status(c: SimCluster): string {
  const parts: string[] = [];
  for (const n of c.nodes.values()) {
    const r = n.rn?.raft;
    if (!r) {
      parts.push(`${n.id}: ${n.status}`);
      continue;
    }
    parts.push(`${n.id}: ${StateType[r.state].toLowerCase()} term=${r.term} commit=${r.log.committed} applied=${r.log.applied}`);
  }
  return parts.join(' | ');
}

/**
 * The `skiff` command. Subcommands grow with the project: today the
 * simulator and the demo; `master`, `up` and `node` come with the store,
 * the API server and the node daemon.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runDemo } from '../sim/index.js';
import { MASTER_USAGE, masterCommand } from './master.js';
import { NODE_USAGE, nodeCommand } from './node.js';
import { SIM_USAGE, UsageError, simCommand } from './sim.js';
import { UP_USAGE, upCommand } from './up.js';

const USAGE = `usage: skiff <command> [options]

commands:
  up       start a local cluster of masters in the foreground (prints READY {json} when it has a leader)
  master   run one member of the replicated store (etcd-compatible API)
  node     run a worker: Pods through containerd, pod networking, Service proxy, cluster DNS
  demo     watch a simulated 3-member Raft cluster elect, commit, lose its leader and recover
  sim      run the deterministic cluster simulator over many seeds
  version  print the version

${UP_USAGE}

${MASTER_USAGE}

${NODE_USAGE}

${SIM_USAGE}`;

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const err = (s: string): void => {
  process.stderr.write(`${s}\n`);
};

async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { seed: { type: 'string', default: '7' }, speed: { type: 'string', default: '2' } },
    strict: true,
  });
  const seed = Number(values.seed);
  const speed = Number(values.speed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError(`--seed must be a non-negative integer`);
  if (!(speed > 0)) throw new UsageError(`--speed must be positive`);
  const result = await runDemo({ seed, speed, out });
  if (result.violation) {
    err(`VIOLATION ${result.violation.invariant}: ${result.violation.message}`);
    return 1;
  }
  out(
    `done: ${result.stats.opsOk} client operations succeeded, ${result.stats.committedEntries} entries committed; invariants held after each of ${result.steps} steps; history linearizable: ${result.stats.linearizability}`,
  );
  out('next: `npm run sim -- --seeds 2000` runs the simulator with faults over many seeds');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sim':
        return await simCommand(rest, out, err);
      case 'master':
        if (rest.includes('--help') || rest.includes('-h')) return (out(MASTER_USAGE), 0);
        return await masterCommand(rest);
      case 'node':
        if (rest.includes('--help') || rest.includes('-h')) return (out(NODE_USAGE), 0);
        return await nodeCommand(rest);
      case 'up':
        if (rest.includes('--help') || rest.includes('-h')) return (out(UP_USAGE), 0);
        return await upCommand(rest, out);
      case 'demo':
        return await demoCommand(rest);
      case 'version':
      case '--version':
        out(await version());
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        err(`skiff: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      err(`skiff ${command}: ${(e as Error).message}`);
      return 2;
    }
    if ((e as { code?: string }).code?.startsWith('NODE_ERR_')) {
      err(`skiff ${command}: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `skiff ${pkg.version}`;
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      err(e instanceof Error ? (e.stack ?? e.message) : String(e));
      process.exitCode = 1;
    },
  );
}

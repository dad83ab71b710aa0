// Unit, scenario, simulation and in-process integration tests (run concurrently).
// The e2e tests run afterwards on their own (ava.e2e.config.js): they time real
// processes and must not share the CPUs with the simulator's batch of seeds.
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  files: ['test/**/*.test.ts', '!test/e2e/**'],
  timeout: '5m',
  workerThreads: false,
};

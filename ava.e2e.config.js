// End-to-end tests: real skiff processes and the real etcdctl (see test/e2e/).
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  files: ['test/e2e/**/*.test.ts'],
  timeout: '8m',
  workerThreads: false,
};

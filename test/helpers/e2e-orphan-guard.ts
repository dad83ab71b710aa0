/**
 * Preloaded (`node --import`) into every `skiff master` the e2e harness
 * starts: if the test worker that started this process dies without
 * stopping it (killed, crashed, timed out), the process is re-parented and
 * kills itself, so no e2e run leaves orphan members behind. It touches
 * nothing else in the master.
 */
const parentPid = Number(process.env.SKIFF_E2E_PARENT_PID);
const CHECK_INTERVAL_MS = 500;

if (Number.isSafeInteger(parentPid) && parentPid > 0) {
  setInterval(() => {
    if (process.ppid !== parentPid) process.kill(process.pid, 'SIGKILL');
  }, CHECK_INTERVAL_MS).unref();
}

/**
 * Writing key material so that no reader ever sees a half-written file and
 * the mode is exact: data goes to a fresh temp file beside the target (same
 * filesystem), is chmod-ed and fsync-ed, then renamed (replace) or hard
 * linked (create-once) into place. Both are atomic on POSIX filesystems.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

async function writeTemp(path: string, data: string, mode: number): Promise<string> {
  const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fh = await open(temp, 'wx', mode);
  try {
    // The umask may have narrowed or widened nothing, but be exact regardless.
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  return temp;
}

/** Makes a rename or link survive a crash; not every platform can fsync a directory, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  await fh.sync().catch(() => undefined);
  await fh.close();
}

/** Replaces `path` atomically; the result has exactly `mode`, even if an older file had another. */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  const temp = await writeTemp(path, data, mode);
  try {
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
  await syncDir(dirname(path));
}

/**
 * Creates `path` only if nothing is there: link(2) fails with EEXIST instead
 * of replacing, so of several writers racing exactly one wins. Returns false
 * when the file already existed (and leaves it untouched).
 */
export async function createFileExclusive(path: string, data: string, mode: number): Promise<boolean> {
  const temp = await writeTemp(path, data, mode);
  try {
    await link(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await syncDir(dirname(path));
  return true;
}

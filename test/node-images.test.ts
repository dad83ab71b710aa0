/**
 * The OCI image builder: the tars are valid ustar archives (GNU tar reads
 * them), every blob is stored under its own digest, the layer is what
 * RECIPES.md asks for, and the output is reproducible. Pure except for
 * reading /bin/busybox (a small fake ELF stands in when busybox-static is
 * not installed) and running `tar`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import {
  BUSYBOX_APPLETS,
  BUSYBOX_IMAGE,
  INDEX_HTML,
  ImagesError,
  PAUSE_IMAGE,
  TAR_BLOCK_BYTES,
  buildImageLayout,
  buildImageTars,
  ociArchitecture,
  sha256,
  writeTar,
} from '../src/node/images/index.js';

const run = promisify(execFile);

async function withDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'skiff-images-test-'));
  try {
    await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** /bin/busybox when present; otherwise a tiny static-looking ELF (the builder only checks the magic and the loader). */
async function busyboxPath(dir: string): Promise<string> {
  if (existsSync('/bin/busybox')) return '/bin/busybox';
  const fake = join(dir, 'busybox');
  await writeFile(fake, Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(1000, 1)]));
  return fake;
}

test('writeTar: headers, padding and the end blocks; GNU tar lists owner 0/0, modes, links', async (t) => {
  await withDir(async (dir) => {
    const tar = writeTar([
      { type: 'dir', path: 'a', mode: 0o755 },
      { type: 'file', path: 'a/f.txt', mode: 0o644, data: Buffer.from('hello\n') },
      { type: 'symlink', path: 'a/l', target: 'f.txt' },
      { type: 'dir', path: 'tmp', mode: 0o1777 },
      { type: 'file', path: `${'d'.repeat(80)}/${'n'.repeat(60)}`, mode: 0o600, data: Buffer.alloc(513, 7) },
    ]);
    t.is(tar.length % TAR_BLOCK_BYTES, 0);
    t.true(tar.subarray(tar.length - 2 * TAR_BLOCK_BYTES).every((b) => b === 0));
    const path = join(dir, 'x.tar');
    await writeFile(path, tar);
    const { stdout } = await run('tar', ['--numeric-owner', '-tvf', path]);
    const lines = stdout.trim().split('\n');
    t.is(lines.length, 5);
    t.regex(lines[0]!, /^drwxr-xr-x 0\/0 +0 .* a\/$/);
    t.regex(lines[1]!, /^-rw-r--r-- 0\/0 +6 .* a\/f\.txt$/);
    t.regex(lines[2]!, /^lrwxrwxrwx 0\/0 +0 .* a\/l -> f\.txt$/);
    t.regex(lines[3]!, /^drwxrwxrwt 0\/0 /);
    t.regex(lines[4]!, /^-rw------- 0\/0 +513 .* d{80}\/n{60}$/);
    await run('tar', ['-xf', path, '-C', dir]);
    t.is(await readFile(join(dir, 'a/l'), 'utf8'), 'hello\n');
  });
});

test('writeTar refuses names ustar cannot hold', (t) => {
  const e = t.throws(() => writeTar([{ type: 'file', path: 'x'.repeat(101), mode: 0o644, data: Buffer.alloc(0) }]));
  t.true(e instanceof ImagesError && e.code === 'IMAGES_ERR_NAME_TOO_LONG');
  const e2 = t.throws(() => writeTar([{ type: 'symlink', path: 'l', target: 't'.repeat(101) }]));
  t.true(e2 instanceof ImagesError && e2.code === 'IMAGES_ERR_NAME_TOO_LONG');
});

test('buildImageTars: two OCI layouts sharing one layer; blobs match their digests; index carries both annotations', async (t) => {
  await withDir(async (dir) => {
    const images = await buildImageTars(join(dir, 'out'), { busyboxPath: await busyboxPath(dir) });
    t.deepEqual(images.map((i) => i.name), [BUSYBOX_IMAGE, PAUSE_IMAGE]);
    t.is(images[0]!.layer.digest, images[1]!.layer.digest);
    t.not(images[0]!.config.digest, images[1]!.config.digest);
    for (const img of images) {
      const x = join(dir, `x-${img.config.digest.slice(7, 15)}`);
      await run('mkdir', ['-p', x]);
      await run('tar', ['-xf', img.tarPath, '-C', x]);
      t.deepEqual(JSON.parse(await readFile(join(x, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
      for (const blob of await readdir(join(x, 'blobs/sha256'))) {
        t.is(sha256(await readFile(join(x, 'blobs/sha256', blob))), `sha256:${blob}`);
      }
      const index = JSON.parse(await readFile(join(x, 'index.json'), 'utf8'));
      t.is(index.manifests.length, 1);
      const m = index.manifests[0];
      t.is(m.digest, img.manifest.digest);
      t.deepEqual(m.platform, { architecture: ociArchitecture(), os: 'linux' });
      t.is(m.annotations['io.containerd.image.name'], img.name);
      t.is(m.annotations['org.opencontainers.image.ref.name'], img.name.split(':').pop());
      const manifest = JSON.parse(await readFile(join(x, 'blobs/sha256', img.manifest.digest.slice(7)), 'utf8'));
      t.is(manifest.config.digest, img.config.digest);
      t.deepEqual(manifest.layers.map((l: { digest: string }) => l.digest), [img.layer.digest]);
      const config = JSON.parse(await readFile(join(x, 'blobs/sha256', img.config.digest.slice(7)), 'utf8'));
      t.deepEqual(config.rootfs.diff_ids, [img.layer.digest]);
      t.deepEqual(config.config.Cmd, img.name === PAUSE_IMAGE ? ['/bin/sleep', '2147483647'] : ['/bin/sh']);
      t.is(config.os, 'linux');
    }
    // The layer: busybox, its applets, passwd/group, the web page.
    const layerTar = join(dir, 'layer.tar');
    const x0 = join(dir, `x-${images[0]!.config.digest.slice(7, 15)}`);
    await run('cp', [join(x0, 'blobs/sha256', images[0]!.layer.digest.slice(7)), layerTar]);
    const { stdout } = await run('tar', ['--numeric-owner', '-tvf', layerTar]);
    t.regex(stdout, /-rwxr-xr-x 0\/0 .* bin\/busybox\n/);
    for (const a of ['sh', 'sleep', 'httpd', 'wget', 'nc', 'cat', 'echo', 'ls', 'ip']) {
      t.true((BUSYBOX_APPLETS as readonly string[]).includes(a));
      t.regex(stdout, new RegExp(`bin/${a} -> busybox\\n`));
    }
    const root = join(dir, 'rootfs');
    await run('mkdir', ['-p', root]);
    await run('tar', ['-xf', layerTar, '-C', root]);
    t.is(await readFile(join(root, 'www/index.html'), 'utf8'), INDEX_HTML);
    t.regex(await readFile(join(root, 'etc/passwd'), 'utf8'), /^root:x:0:0:/);
    t.regex(await readFile(join(root, 'etc/group'), 'utf8'), /^root:x:0:/);
  });
});

test('builds are reproducible: same busybox, same digests', async (t) => {
  await withDir(async (dir) => {
    const bb = await busyboxPath(dir);
    const a = await buildImageTars(join(dir, 'a'), { busyboxPath: bb });
    const b = await buildImageTars(join(dir, 'b'), { busyboxPath: bb });
    t.deepEqual(a.map((i) => i.manifest.digest), b.map((i) => i.manifest.digest));
    t.true((await readFile(a[0]!.tarPath)).equals(await readFile(b[0]!.tarPath)));
  });
});

test('bad inputs get typed errors', async (t) => {
  await withDir(async (dir) => {
    const missing = await t.throwsAsync(() => buildImageTars(dir, { busyboxPath: join(dir, 'nope') }));
    t.true(missing instanceof ImagesError && missing.code === 'IMAGES_ERR_BUSYBOX');
    await writeFile(join(dir, 'script'), '#!/bin/sh\n');
    const notElf = await t.throwsAsync(() => buildImageTars(dir, { busyboxPath: join(dir, 'script') }));
    t.true(notElf instanceof ImagesError && notElf.code === 'IMAGES_ERR_BUSYBOX');
  });
  for (const name of ['busybox', 'skiff.local/busybox', 'Skiff.local/x:1', 'skiff.local/x:']) {
    const e = t.throws(() => buildImageLayout({ name, cmd: ['/bin/sh'] }, Buffer.alloc(0)));
    t.true(e instanceof ImagesError && e.code === 'IMAGES_ERR_BAD_NAME', name);
  }
});

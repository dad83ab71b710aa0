/**
 * A minimal ustar writer (POSIX.1-1988 "ustar" headers), enough for image
 * layers and OCI layout archives: regular files, directories and symbolic
 * links, numeric owner 0:0 with empty owner names, a fixed mtime so that the
 * same input always gives the same bytes (and so the same digests). Pure.
 */
import { ImagesError } from './errors.js';

export const TAR_BLOCK_BYTES = 512;
/** ustar's size field holds 11 octal digits; the builder stays far below. */
export const TAR_ENTRY_BYTES_MAX = 256 * 1024 * 1024;
const NAME_BYTES = 100;
const PREFIX_BYTES = 155;

export type TarEntry =
  | { type: 'file'; path: string; mode: number; data: Uint8Array }
  | { type: 'dir'; path: string; mode: number }
  | { type: 'symlink'; path: string; target: string };

export interface TarOptions {
  /** Seconds since the epoch for every entry (default 0: reproducible output). */
  mtimeSeconds?: number;
}

function octal(value: number, width: number): string {
  // width - 1 digits then NUL, as GNU and BSD tar write them.
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/** Splits a path into ustar's prefix and name fields, or throws when it cannot. */
function splitName(path: string): { name: string; prefix: string } {
  const bytes = Buffer.byteLength(path);
  if (bytes <= NAME_BYTES) return { name: path, prefix: '' };
  // Split at a '/' so that prefix ≤ 155 bytes and name ≤ 100 bytes.
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= PREFIX_BYTES && Buffer.byteLength(name) <= NAME_BYTES && name !== '') return { name, prefix };
  }
  throw new ImagesError('IMAGES_ERR_NAME_TOO_LONG', path);
}

function header(entry: TarEntry, size: number, mtimeSeconds: number): Buffer {
  const h = Buffer.alloc(TAR_BLOCK_BYTES);
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const { name, prefix } = splitName(path);
  const mode = entry.type === 'symlink' ? 0o777 : entry.mode;
  const typeflag = entry.type === 'file' ? '0' : entry.type === 'symlink' ? '2' : '5';
  if (entry.type === 'symlink' && Buffer.byteLength(entry.target) > NAME_BYTES) throw new ImagesError('IMAGES_ERR_NAME_TOO_LONG', entry.target);
  h.write(name, 0, NAME_BYTES, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtimeSeconds, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write(typeflag, 156, 'ascii');
  if (entry.type === 'symlink') h.write(entry.target, 157, NAME_BYTES, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(0, 8), 329, 'ascii'); // devmajor
  h.write(octal(0, 8), 337, 'ascii'); // devminor
  h.write(prefix, 345, PREFIX_BYTES, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** The whole archive, entries in the order given, closed by two zero blocks. */
export function writeTar(entries: readonly TarEntry[], options: TarOptions = {}): Buffer {
  const mtime = options.mtimeSeconds ?? 0;
  const parts: Buffer[] = [];
  for (const e of entries) {
    const size = e.type === 'file' ? e.data.byteLength : 0;
    if (size > TAR_ENTRY_BYTES_MAX) throw new ImagesError('IMAGES_ERR_TOO_LARGE', `${e.path}: ${size} bytes`);
    parts.push(header(e, size, mtime));
    if (e.type === 'file') {
      parts.push(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
      const pad = (TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
      if (pad) parts.push(Buffer.alloc(pad));
    }
  }
  parts.push(Buffer.alloc(2 * TAR_BLOCK_BYTES));
  return Buffer.concat(parts);
}

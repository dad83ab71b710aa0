/** JSON Pointer (RFC 6901): the path syntax of JSON Patch. */
import { PatchError } from './errors.js';

/** Splits a pointer into unescaped reference tokens; `""` (the whole document) gives `[]`. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new PatchError('PATCH_ERR_PATH', `JSON pointer ${JSON.stringify(pointer)} does not start with "/"`);
  }
  return pointer
    .slice(1)
    .split('/')
    .map((token) => unescapeToken(token, pointer));
}

function unescapeToken(token: string, pointer: string): string {
  // `~` may only introduce `~0` (a tilde) or `~1` (a slash).
  if (/~(?![01])/.test(token)) {
    throw new PatchError('PATCH_ERR_PATH', `JSON pointer ${JSON.stringify(pointer)} has a "~" not followed by 0 or 1`);
  }
  // `~1` first, then `~0`: "~01" must become "~1", not "/".
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

export function escapeToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${escapeToken(t)}`).join('');
}

/** True when `prefix` names a proper ancestor of `tokens`. */
export function isProperPrefix(prefix: readonly string[], tokens: readonly string[]): boolean {
  return prefix.length < tokens.length && prefix.every((t, i) => t === tokens[i]);
}

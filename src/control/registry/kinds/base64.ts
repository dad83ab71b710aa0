/**
 * Base64 as Go's encoding/json reads a []byte field (StdEncoding: padding
 * required, CR and LF ignored), reporting the offset of the first bad byte
 * exactly as Go's CorruptInputError does. Secrets and ConfigMaps' binary
 * data are stored in this form.
 */

const ALPHABET = /^[A-Za-z0-9+/]$/;

export type Base64Result = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly offset: number };

const isNewline = (c: string | undefined) => c === '\n' || c === '\r';

/** After the first '=' of a quantum at position j: the rest of the padding, then only newlines. */
function padding(s: string, si: number, j: number): Base64Result | number {
  if (j < 2) return { ok: false, offset: si - 1 };
  if (j === 2) {
    while (si < s.length && isNewline(s[si])) si++;
    if (si === s.length) return { ok: false, offset: s.length };
    if (s[si] !== '=') return { ok: false, offset: si - 1 };
    si++;
  }
  while (si < s.length && isNewline(s[si])) si++;
  return si < s.length ? { ok: false, offset: si } : j - 1;
}

/** Decoded length of valid StdEncoding text, or the offset Go would complain about. */
export function checkBase64(s: string): Base64Result {
  let si = 0;
  let bytes = 0;
  while (si < s.length) {
    let j = 0;
    for (; j < 4; ) {
      if (si === s.length) {
        if (j === 0) return { ok: true, bytes };
        return { ok: false, offset: si - j };
      }
      const c = s[si++]!;
      if (isNewline(c)) continue;
      if (ALPHABET.test(c)) {
        j++;
        continue;
      }
      if (c !== '=') return { ok: false, offset: si - 1 };
      const end = padding(s, si, j);
      return typeof end === 'number' ? { ok: true, bytes: bytes + end } : end;
    }
    bytes += 3;
  }
  return { ok: true, bytes };
}

export function base64Message(offset: number): string {
  return `illegal base64 data at input byte ${offset}`;
}

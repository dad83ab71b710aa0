/**
 * The two Go renderings that end up inside Kubernetes error messages:
 * `%q` (strconv.Quote) for string values and encoding/json for everything
 * else. Clients and tests match on these messages, so a value has to print
 * exactly as kube-apiserver would print it.
 */

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

/** One code point as strconv.Quote writes it. */
function quoteRune(ch: string): string {
  const short = SHORT_ESCAPES[ch];
  if (short !== undefined) return short;
  if (PRINTABLE.test(ch)) return ch;
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

/** Go's `%q` / strconv.Quote for a string. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) out += quoteRune(ch);
  return `${out}"`;
}

/**
 * Go's json.Marshal for plain data. encoding/json escapes <, > and & (and the
 * JavaScript line separators) so that the output is safe inside HTML; those
 * characters can only occur inside JSON strings, so replacing them after
 * JSON.stringify is exact.
 */
export function goJson(value: unknown): string {
  const json = JSON.stringify(value === undefined ? null : value) ?? 'null';
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${hex(c.charCodeAt(0), 4)}`);
}

/**
 * Byte length as Go's len() counts it (UTF-8): every length limit in
 * Kubernetes validation is in bytes, not UTF-16 code units.
 */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Byte-wise string order, as Go's sort.Strings orders (UTF-8 bytes, not UTF-16 units). */
export function compareGoStrings(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

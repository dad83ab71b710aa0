/**
 * resource.Quantity as kube-apiserver reads and writes it: "100m", "1Gi",
 * "1e3", "0.5". A quantity is an exact decimal (a big integer times a power
 * of ten) plus the format it was written in, which decides how it is printed
 * back. Upstream prints the canonical form, not what the client sent
 * ("0.5" comes back as "500m", "1024Mi" as "1Gi", "1000" as "1k"), and error
 * messages quote that form, so both directions are implemented here.
 */

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** value = unscaled × 10^exponent. */
  readonly unscaled: bigint;
  readonly exponent: number;
  readonly format: QuantityFormat;
}

/** The message upstream's decoder gives for a malformed quantity. */
export const QUANTITY_FORMAT_ERROR = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_BY_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([s, e]) => [e, s]));
const BINARY_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
/** Parsed values are rounded up to nano units (upstream's smallest scale). */
const NANO_EXPONENT = -9;
/** Resource lists are rounded up to milli units by defaulting (SetDefaults_ResourceList). */
export const MILLI_EXPONENT = -3;
/** Longest string considered, and the largest power of ten: both keep BigInt arithmetic bounded. */
const QUANTITY_LENGTH_MAX = 128;
const QUANTITY_EXPONENT_MAX = 256;
const SUFFIX_CHARS = 'eEinumkKMGTP';

interface Parts {
  negative: boolean;
  num: string;
  denom: string;
  suffix: string;
}

/** Splits sign, integer digits, fraction digits and suffix the way upstream's scanner does. */
function split(s: string): Parts | null {
  let pos = 0;
  let negative = false;
  if (s[0] === '-' || s[0] === '+') {
    negative = s[0] === '-';
    pos = 1;
  }
  const num = /^[0-9]*/.exec(s.slice(pos))![0];
  pos += num.length;
  let denom = '';
  if (s[pos] === '.') {
    denom = /^[0-9]*/.exec(s.slice(pos + 1))![0];
    pos += 1 + denom.length;
  }
  const suffix = s.slice(pos);
  // Letters from the suffix alphabet, then an optional signed integer, then nothing.
  let i = 0;
  while (i < suffix.length && SUFFIX_CHARS.includes(suffix[i]!)) i++;
  if (!/^[-+]?[0-9]*$/.test(suffix.slice(i))) return null;
  return { negative, num: num.replace(/^0+/, '') || '0', denom, suffix };
}

/** (base, exponent, format) of a suffix, or null when it is not one upstream knows. */
function interpret(suffix: string): { base: 10 | 2; exp: number; format: QuantityFormat } | null {
  if (Object.hasOwn(DECIMAL_SUFFIXES, suffix)) return { base: 10, exp: DECIMAL_SUFFIXES[suffix]!, format: 'DecimalSI' };
  if (Object.hasOwn(BINARY_SUFFIXES, suffix)) return { base: 2, exp: BINARY_SUFFIXES[suffix]!, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[-+]?[0-9]{1,9}$/.test(suffix.slice(1))) {
    return { base: 10, exp: Number.parseInt(suffix.slice(1), 10), format: 'DecimalExponent' };
  }
  return null;
}

/** Parses a quantity string; null when upstream would reject it. */
export function parseQuantity(s: string): Quantity | null {
  if (s.length === 0 || s.length > QUANTITY_LENGTH_MAX) return null;
  const parts = split(s);
  if (parts === null) return null;
  const suffix = interpret(parts.suffix);
  if (suffix === null) return null;
  let unscaled = BigInt(parts.num + parts.denom);
  let exponent = -parts.denom.length;
  if (suffix.base === 10) exponent += suffix.exp;
  else unscaled *= 1n << BigInt(suffix.exp);
  if (Math.abs(exponent) > QUANTITY_EXPONENT_MAX) return null;
  if (parts.negative) unscaled = -unscaled;
  let q = roundUp({ unscaled, exponent, format: suffix.format }, NANO_EXPONENT);
  // A binary quantity below one is printed in decimal (there is no binary milli).
  if (q.format === 'BinarySI' && compareQuantities(q, ONE) < 0 && q.unscaled > 0n) q = { ...q, format: 'DecimalSI' };
  return q;
}

const ONE: Quantity = { unscaled: 1n, exponent: 0, format: 'DecimalSI' };

/**
 * A quantity as it arrives in JSON: a string, or a bare number (upstream
 * reads the number's text). Null when it is neither or malformed.
 */
export function quantityOf(v: unknown): Quantity | null {
  if (typeof v === 'string') return parseQuantity(v.trim());
  if (typeof v === 'number' && Number.isFinite(v)) return parseQuantity(String(v));
  return null;
}

function pow10(n: number): bigint {
  return 10n ** BigInt(n);
}

/** The value at a given exponent, rounded away from zero (upstream's RoundUp). */
export function roundUp(q: Quantity, exponent: number): Quantity {
  if (q.exponent >= exponent) return q;
  const div = pow10(exponent - q.exponent);
  const abs = q.unscaled < 0n ? -q.unscaled : q.unscaled;
  let scaled = abs / div;
  if (scaled * div !== abs) scaled += 1n;
  return { unscaled: q.unscaled < 0n ? -scaled : scaled, exponent, format: q.format };
}

export function compareQuantities(a: Quantity, b: Quantity): number {
  const e = Math.min(a.exponent, b.exponent);
  const x = a.unscaled * pow10(a.exponent - e);
  const y = b.unscaled * pow10(b.exponent - e);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function isNegative(q: Quantity): boolean {
  return q.unscaled < 0n;
}

/** value × 1000, truncated (upstream's MilliValue), for the integer-resource check. */
export function milliValue(q: Quantity): bigint {
  const e = q.exponent + 3;
  return e >= 0 ? q.unscaled * pow10(e) : q.unscaled / pow10(-e);
}

/** The integer value when the quantity has no fractional part. */
function integerValue(q: Quantity): bigint | null {
  if (q.exponent >= 0) return q.unscaled * pow10(q.exponent);
  const div = pow10(-q.exponent);
  return q.unscaled % div === 0n ? q.unscaled / div : null;
}

/** Moves trailing decimal zeros into the exponent, then lowers it to a multiple of three. */
function canonicalDecimal(q: Quantity): { mantissa: bigint; exponent: number } {
  let mantissa = q.unscaled;
  let exponent = q.exponent;
  while (mantissa !== 0n && mantissa % 10n === 0n) {
    mantissa /= 10n;
    exponent++;
  }
  while (exponent % 3 !== 0) {
    mantissa *= 10n;
    exponent--;
  }
  return { mantissa, exponent };
}

function formatDecimal(q: Quantity, format: QuantityFormat): string {
  const { mantissa, exponent } = canonicalDecimal(q);
  if (format === 'DecimalExponent') return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
  const suffix = DECIMAL_BY_EXPONENT.get(exponent);
  if (suffix !== undefined) return `${mantissa}${suffix}`;
  // Beyond exa (or below nano, which parsing rounds away): only an exponent can say it.
  return `${mantissa}e${exponent}`;
}

function formatBinary(value: bigint): string {
  let amount = value;
  let power = 0;
  while (power < BINARY_BY_POWER.length - 1 && amount !== 0n && amount % 1024n === 0n) {
    amount /= 1024n;
    power++;
  }
  return `${amount}${BINARY_BY_POWER[power]}`;
}

/** The canonical text upstream serializes (Quantity.String()). */
export function formatQuantity(q: Quantity): string {
  if (q.unscaled === 0n) return '0';
  if (q.format !== 'BinarySI') return formatDecimal(q, q.format);
  const value = integerValue(q);
  // Small or fractional binary values read better (and exactly) in decimal.
  if (value === null || (value > -1024n && value < 1024n)) return formatDecimal(q, 'DecimalSI');
  return formatBinary(value);
}

/** Adds two quantities, keeping the first one's format (for QoS sums). */
export function addQuantities(a: Quantity, b: Quantity): Quantity {
  const e = Math.min(a.exponent, b.exponent);
  const sum = a.unscaled * pow10(a.exponent - e) + b.unscaled * pow10(b.exponent - e);
  return { unscaled: sum, exponent: e, format: a.format };
}

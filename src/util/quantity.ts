/**
 * A small reader of resource.Quantity strings for the scheduler and the kubelet: "100m",
 * "1Gi", "1e3", "0.5", "2k". The scheduler only adds and compares requests,
 * so a JavaScript number is enough (exact for integers below 2^53: a byte
 * count of 8 PiB, a CPU count of 9e12 millicores). The API validated every
 * quantity on the way in, so a malformed one here is someone else's bug: it
 * reads as 0 rather than stopping the scheduler.
 */

const DECIMAL: Readonly<Record<string, number>> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };
const BINARY: Readonly<Record<string, number>> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const QUANTITY = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|([numkMGTPE]|[KMGTPE]i)?)$/;

/** The value of a quantity (e.g. "1Gi" → 1073741824, "100m" → 0.1); NaN when malformed. */
export function quantityValue(q: unknown): number {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return Number.NaN;
  const m = QUANTITY.exec(q.trim());
  if (!m) return Number.NaN;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? '';
  return base * (BINARY[suffix] ?? DECIMAL[suffix]!);
}

/** Millicores of a CPU quantity, rounded up as upstream's MilliValue ("0.1" → 100, "1" → 1000); 0 when malformed. */
export function milliValue(q: unknown): number {
  const v = quantityValue(q);
  if (!Number.isFinite(v)) return 0;
  // Round after scaling, with a tolerance for binary floating point ("0.1"*1000 = 100.00000000000001).
  return Math.ceil(Math.round(v * 1e6) / 1e3);
}

/** The integer value of a quantity, rounded up as upstream's Value() ("1.5" → 2); 0 when malformed. */
export function intValue(q: unknown): number {
  const v = quantityValue(q);
  if (!Number.isFinite(v)) return 0;
  return Math.ceil(Math.round(v * 1e3) / 1e3);
}

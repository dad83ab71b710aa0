/**
 * A strict reader of the Prometheus text exposition format (0.0.4) for the
 * e2e tests: every line must be a HELP, a TYPE, a sample or blank; every
 * sample must belong to a family whose TYPE came before it; a histogram's
 * buckets must be cumulative and end in `le="+Inf"` equal to its `_count`.
 * What breaks a rule is reported in `errors`, not thrown, so a test can
 * assert `errors` is empty and show them all.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** Family name → its TYPE (counter, gauge, histogram, summary, untyped). */
  types: Map<string, string>;
  help: Map<string, string>;
  errors: string[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
const META_RE = new RegExp(`^# (HELP|TYPE) (${NAME}) ?(.*)$`);
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

function parseLabels(raw: string): Record<string, string> | null {
  const out: Record<string, string> = {};
  LABEL_RE.lastIndex = 0;
  while (LABEL_RE.lastIndex < raw.length) {
    const start = LABEL_RE.lastIndex;
    const m = LABEL_RE.exec(raw);
    if (!m || m.index !== start) return null;
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function parseValue(raw: string): number | null {
  if (raw === '+Inf') return Infinity;
  if (raw === '-Inf') return -Infinity;
  if (raw === 'NaN') return NaN;
  const v = Number(raw);
  return raw.trim() !== '' && !Number.isNaN(v) ? v : null;
}

/** The family a sample belongs to: its own name, or the histogram it is a part of. */
function familyOf(name: string, types: Map<string, string>): string | null {
  if (types.has(name)) return name;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      if (types.get(base) === 'histogram' || types.get(base) === 'summary') return base;
    }
  }
  return null;
}

export function parseExposition(text: string): Exposition {
  const e: Exposition = { samples: [], types: new Map(), help: new Map(), errors: [] };
  if (!text.endsWith('\n')) e.errors.push('the exposition does not end with a newline');
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    const where = `line ${i + 1} ${JSON.stringify(line)}`;
    if (line.startsWith('#')) {
      const m = META_RE.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) e.errors.push(`${where}: unknown type`);
        if (e.types.has(name)) e.errors.push(`${where}: a second TYPE for ${name}`);
        e.types.set(name, rest);
      } else {
        e.help.set(name, rest);
      }
      return;
    }
    const m = SAMPLE_RE.exec(line);
    const labels = m ? parseLabels(m[2] ?? '') : null;
    const value = m ? parseValue(m[3]!) : null;
    if (!m || !labels || value === null) return void e.errors.push(`${where}: not a sample`);
    if (familyOf(m[1]!, e.types) === null) e.errors.push(`${where}: no TYPE before this sample`);
    e.samples.push({ name: m[1]!, labels, value });
  });
  for (const [name, type] of e.types) if (type === 'histogram') e.errors.push(...histogramErrors(e, name));
  return e;
}

function histogramErrors(e: Exposition, name: string): string[] {
  const buckets = e.samples.filter((s) => s.name === `${name}_bucket`);
  const count = value(e, `${name}_count`);
  const errors: string[] = [];
  if (buckets.length === 0) errors.push(`${name}: a histogram with no buckets`);
  if (value(e, `${name}_sum`) === undefined) errors.push(`${name}: no _sum`);
  if (count === undefined) errors.push(`${name}: no _count`);
  let prev = -Infinity;
  let prevCount = 0;
  for (const b of buckets) {
    const le = parseValue(b.labels.le ?? '');
    if (le === null || !(le > prev)) errors.push(`${name}: bucket le=${b.labels.le} not increasing`);
    if (b.value < prevCount) errors.push(`${name}: bucket le=${b.labels.le} count ${b.value} below the previous ${prevCount}`);
    prev = le ?? prev;
    prevCount = b.value;
  }
  const inf = buckets.at(-1);
  if (inf?.labels.le !== '+Inf') errors.push(`${name}: the last bucket is not le="+Inf"`);
  else if (inf.value !== count) errors.push(`${name}: le="+Inf" bucket ${inf.value} differs from _count ${count}`);
  return errors;
}

/** The value of the unlabelled sample `name`, or undefined. */
export function value(e: Exposition, name: string): number | undefined {
  return e.samples.find((s) => s.name === name && Object.keys(s.labels).length === 0)?.value;
}

/** Scrapes `${metricsURL}/metrics`; returns the response's status, content type and parsed body. */
export async function scrape(metricsURL: string): Promise<{ status: number; contentType: string; text: string; e: Exposition }> {
  const r = await fetch(`${metricsURL}/metrics`, { signal: AbortSignal.timeout(2_000) });
  const text = await r.text();
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', text, e: parseExposition(text) };
}

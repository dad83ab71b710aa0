/**
 * A minimal Prometheus registry: counters, gauges (read at scrape time) and
 * fixed-bucket histograms, rendered in the text exposition format. Label
 * sets are fixed when a metric is created, so the series count is bounded.
 */
export type Labels = Record<string, string>;

function fmtLabels(l: Labels | undefined, extra?: Labels): string {
  const all = { ...l, ...extra };
  const keys = Object.keys(all);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${all[k]!.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private v = 0;
  constructor(readonly name: string, readonly help: string, readonly labels?: Labels) {}
  inc(n = 1): void {
    this.v += n;
  }
  get value(): number {
    return this.v;
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n${this.samples()}`;
  }
  samples(): string {
    return `${this.name}${fmtLabels(this.labels)} ${this.v}\n`;
  }
}

export class Gauge implements Metric {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number, readonly labels?: Labels) {}
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name}${fmtLabels(this.labels)} ${this.read()}\n`;
  }
}

/** Durations in seconds by default: buckets from 100 µs to ~13 s. */
export const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[] = LATENCY_BUCKETS_SECONDS, readonly labels?: Labels) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }
  /** Times a promise; observes its duration in seconds whether it resolves or rejects. */
  async time<T>(p: Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    try {
      return await p;
    } finally {
      this.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n${this.samples()}`;
  }
  samples(): string {
    let out = '';
    for (let i = 0; i < this.buckets.length; i++) out += `${this.name}_bucket${fmtLabels(this.labels, { le: String(this.buckets[i]) })} ${this.counts[i]}\n`;
    out += `${this.name}_bucket${fmtLabels(this.labels, { le: '+Inf' })} ${this.count}\n`;
    out += `${this.name}_sum${fmtLabels(this.labels)} ${this.sum}\n${this.name}_count${fmtLabels(this.labels)} ${this.count}\n`;
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  register<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}

/**
 * A family of counters or histograms told apart by label values (one HELP and
 * TYPE for all). Series are bounded: past `maxSeries`, new label values are
 * counted under the value "other" in every label.
 */
export class MetricVec<M extends Counter | Histogram> implements Metric {
  private readonly children = new Map<string, M>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly labelNames: readonly string[],
    private readonly make: (labels: Labels) => M,
    private readonly maxSeries = 500,
  ) {}
  with(values: Labels): M {
    let key = this.labelNames.map((n) => values[n] ?? '').join('\u0000');
    let child = this.children.get(key);
    if (child) return child;
    let labels: Labels = Object.fromEntries(this.labelNames.map((n) => [n, values[n] ?? '']));
    if (this.children.size >= this.maxSeries) {
      labels = Object.fromEntries(this.labelNames.map((n) => [n, 'other']));
      key = this.labelNames.map(() => 'other').join('\u0000');
      child = this.children.get(key);
      if (child) return child;
    }
    child = this.make(labels);
    this.children.set(key, child);
    return child;
  }
  render(): string {
    if (this.children.size === 0) return '';
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n`;
    for (const c of this.children.values()) out += c.samples();
    return out;
  }
}

export function counterVec(name: string, help: string, labelNames: readonly string[]): MetricVec<Counter> {
  return new MetricVec(name, help, 'counter', labelNames, (l) => new Counter(name, help, l));
}

export function histogramVec(name: string, help: string, labelNames: readonly string[], buckets: readonly number[] = LATENCY_BUCKETS_SECONDS): MetricVec<Histogram> {
  return new MetricVec(name, help, 'histogram', labelNames, (l) => new Histogram(name, help, buckets, l));
}

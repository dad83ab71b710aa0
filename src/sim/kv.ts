/**
 * The simulator's replicated state machine: a string map driven by put and
 * compare-and-set commands carried in log entries. Deterministic, with a
 * snapshot that is just its contents.
 */
/**
 * A command carries its client and that client's sequence number: the state
 * machine applies each (client, seq) at most once, so a proposal duplicated
 * by the network (or re-forwarded) cannot take effect twice.
 */
export type KvCommand =
  | { id: number; client: number; seq: number; kind: 'put'; key: string; value: string }
  | { id: number; client: number; seq: number; kind: 'cas'; key: string; expected: string | null; value: string };

export type KvResult = { kind: 'put' } | { kind: 'cas'; ok: boolean };

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(dec.decode(data)) as KvCommand;
}

export class KvStateMachine {
  private data = new Map<string, string>();
  /** Per client: the last sequence number applied and its result (Raft thesis §6.3 sessions). */
  private sessions = new Map<number, { seq: number; result: KvResult }>();

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /**
   * Applies a command at most once per (client, seq). A retry of the last
   * command gets its first result again (`duplicate`); an older one has no
   * effect and no result (null): its client has moved on.
   */
  apply(c: KvCommand): { result: KvResult; duplicate: boolean } | null {
    const last = this.sessions.get(c.client);
    if (last && c.seq < last.seq) return null;
    if (last && c.seq === last.seq) return { result: last.result, duplicate: true };
    const result = this.execute(c);
    this.sessions.set(c.client, { seq: c.seq, result });
    return { result, duplicate: false };
  }

  private execute(c: KvCommand): KvResult {
    if (c.kind === 'put') {
      this.data.set(c.key, c.value);
      return { kind: 'put' };
    }
    const cur = this.data.get(c.key) ?? null;
    if (cur !== c.expected) return { kind: 'cas', ok: false };
    this.data.set(c.key, c.value);
    return { kind: 'cas', ok: true };
  }

  snapshot(): Uint8Array {
    return enc.encode(this.fingerprint());
  }

  restore(data: Uint8Array): void {
    if (data.length === 0) {
      this.data = new Map();
      this.sessions = new Map();
      return;
    }
    const s = JSON.parse(dec.decode(data)) as { data: [string, string][]; sessions: [number, { seq: number; result: KvResult }][] };
    this.data = new Map(s.data);
    this.sessions = new Map(s.sessions);
  }

  /** A canonical rendering, to compare replicas. */
  fingerprint(): string {
    const byKey = (a: [string, string], b: [string, string]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
    return JSON.stringify({ data: [...this.data].sort(byKey), sessions: [...this.sessions].sort((a, b) => a[0] - b[0]) });
  }
}

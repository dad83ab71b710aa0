/**
 * The cluster's members as etcd's Cluster API shows them: id, name, peer and
 * client URLs, learner or voter. Raft knows only ids; the rest travels in the
 * context of each conf change and is applied here, in log order, on every
 * member. The table is persisted next to the store and carried in snapshots.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { type ConfChange, ConfChangeType } from '../raft/index.js';

export interface MemberInfo {
  id: number;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

/** What a conf change's context carries about the member it adds. */
export interface MemberContext {
  id: number;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

export interface MemberTableData {
  members: MemberInfo[];
  /** Ids once removed: never reused (a removed id coming back would confuse Raft). */
  removed: number[];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A 52-bit id from strings (safe as a JavaScript number, never 0). */
export function hashId(...parts: string[]): number {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  const hi = h.readUInt32BE(0) & 0xfffff;
  const lo = h.readUInt32BE(4);
  return hi * 2 ** 32 + lo || 1;
}

/** Member ids of a new cluster are derived from what every founding member knows alike. */
export function initialMemberId(name: string, peerURLs: string[], clusterToken: string): number {
  return hashId('member', name, [...peerURLs].sort().join(','), clusterToken);
}

export function clusterIdOf(memberIds: number[], clusterToken: string): number {
  return hashId('cluster', [...memberIds].sort((a, b) => a - b).join(','), clusterToken);
}

export function encodeMemberContext(c: MemberContext): Uint8Array {
  return enc.encode(JSON.stringify(c));
}

export function decodeMemberContext(b: Uint8Array): MemberContext | null {
  if (b.length === 0) return null;
  try {
    const c = JSON.parse(dec.decode(b)) as MemberContext;
    return typeof c.id === 'number' && Array.isArray(c.peerURLs) ? c : null;
  } catch {
    return null;
  }
}

export class MemberTable {
  private readonly byId = new Map<number, MemberInfo>();
  private readonly removedIds = new Set<number>();

  constructor(data?: MemberTableData) {
    for (const m of data?.members ?? []) this.byId.set(m.id, { ...m });
    for (const id of data?.removed ?? []) this.removedIds.add(id);
  }

  static async load(file: string): Promise<MemberTable> {
    try {
      return new MemberTable(JSON.parse(await readFile(file, 'utf8')) as MemberTableData);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new MemberTable();
      throw e;
    }
  }

  /** Written to a temporary file and renamed, so a crash leaves the old or the new table. */
  async save(file: string): Promise<void> {
    await writeFile(`${file}.tmp`, JSON.stringify(this.data()));
    await rename(`${file}.tmp`, file);
  }

  data(): MemberTableData {
    return { members: this.list(), removed: [...this.removedIds].sort((a, b) => a - b) };
  }

  list(): MemberInfo[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id).map((m) => ({ ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] }));
  }

  get(id: number): MemberInfo | undefined {
    return this.byId.get(id);
  }

  isRemoved(id: number): boolean {
    return this.removedIds.has(id);
  }

  findByPeerURL(url: string): MemberInfo | undefined {
    for (const m of this.byId.values()) if (m.peerURLs.includes(url)) return m;
    return undefined;
  }

  set(m: MemberInfo): void {
    this.byId.set(m.id, { ...m });
  }

  /** Applies a committed conf change (deterministic: every member does the same). */
  apply(cc: ConfChange): void {
    const ctx = decodeMemberContext(cc.context);
    for (const c of cc.changes) {
      if (c.type === ConfChangeType.RemoveNode) {
        this.byId.delete(c.nodeId);
        this.removedIds.add(c.nodeId);
        continue;
      }
      const existing = this.byId.get(c.nodeId);
      const learner = c.type === ConfChangeType.AddLearner;
      if (existing) {
        existing.isLearner = learner;
        if (ctx && ctx.id === c.nodeId) {
          existing.peerURLs = [...ctx.peerURLs];
          if (ctx.clientURLs.length > 0) existing.clientURLs = [...ctx.clientURLs];
          if (ctx.name) existing.name = ctx.name;
        }
      } else {
        this.byId.set(c.nodeId, {
          id: c.nodeId,
          name: ctx?.id === c.nodeId ? ctx.name : '',
          peerURLs: ctx?.id === c.nodeId ? [...ctx.peerURLs] : [],
          clientURLs: ctx?.id === c.nodeId ? [...ctx.clientURLs] : [],
          isLearner: learner,
        });
      }
    }
  }
}

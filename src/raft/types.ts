/**
 * The data the Raft core exchanges with its caller: log entries, messages,
 * persistent state and the Ready batch. Plain objects, no behaviour, so that
 * the transport and storage layers can encode them however they like.
 */

/** A member's id. Zero means "nobody" (no leader, no vote). */
export type NodeId = number;
export const NONE: NodeId = 0;

export enum EntryType {
  Normal = 0,
  /** Data is an encoded ConfChange (see conf-change-codec.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

export enum MessageType {
  /** Local: start an election. */
  Hup = 0,
  /** Local: the leader's heartbeat timer fired. */
  Beat = 1,
  /** A proposal; local, or forwarded by a follower to the leader. */
  Prop = 2,
  App = 3,
  AppResp = 4,
  Vote = 5,
  VoteResp = 6,
  Snap = 7,
  Heartbeat = 8,
  HeartbeatResp = 9,
  /** Local: the transport could not reach a peer. */
  Unreachable = 10,
  /** Local: the outcome of sending a snapshot. */
  SnapStatus = 11,
  /** Local: the leader's check-quorum timer fired. */
  CheckQuorum = 12,
  TransferLeader = 13,
  TimeoutNow = 14,
  ReadIndex = 15,
  ReadIndexResp = 16,
  PreVote = 17,
  PreVoteResp = 18,
}

export interface Message {
  type: MessageType;
  to: NodeId;
  from: NodeId;
  term: number;
  /** App: term of the entry at `index`. Vote: last log term. AppResp reject: hint term. */
  logTerm: number;
  /** App: index preceding `entries`. AppResp: last matched (or rejected) index. ReadIndexResp: the read index. */
  index: number;
  entries: Entry[];
  commit: number;
  snapshot: Snapshot | null;
  reject: boolean;
  rejectHint: number;
  /** ReadIndex request id, heartbeat read context, or campaign-transfer marker. */
  context: Uint8Array | null;
}

export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export const EMPTY_HARD_STATE: Readonly<HardState> = Object.freeze({ term: 0, vote: NONE, commit: 0 });

export enum StateType {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

export interface SoftState {
  lead: NodeId;
  state: StateType;
}

/**
 * The membership. During a joint change `votersOutgoing` holds the old voters
 * and decisions need a majority of both sets; `learnersNext` are voters of the
 * outgoing set that become learners when the joint state is left.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  votersOutgoing: NodeId[];
  learnersNext: NodeId[];
  autoLeave: boolean;
}

export interface SnapshotMetadata {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  data: Uint8Array;
}

export enum ConfChangeType {
  AddVoter = 0,
  RemoveNode = 1,
  AddLearner = 2,
}

/**
 * How a membership change is carried out. `Auto`: one change (of a voter) is
 * done directly, several use joint consensus that the leader leaves on its
 * own. `JointImplicit`: joint, left automatically. `JointExplicit`: joint,
 * left only when the application proposes an empty change.
 */
export enum ConfChangeTransition {
  Auto = 0,
  JointImplicit = 1,
  JointExplicit = 2,
}

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: NodeId;
}

export interface ConfChange {
  transition: ConfChangeTransition;
  /** An empty list with transition Auto means "leave the joint configuration". */
  changes: ConfChangeSingle[];
  /** Opaque to Raft; the application carries e.g. the new member's peer URL here. */
  context: Uint8Array;
}

export interface ReadState {
  /** The commit index at the time the read was confirmed; serve the read once applied ≥ index. */
  index: number;
  context: Uint8Array;
}

/**
 * What the core asks its caller to do, in this order:
 * 1. persist `snapshot`, `entries` and `hardState` (synced to disk when `mustSync`);
 * 2. only then send `messages` (votes and acknowledgements promise durable state);
 * 3. apply `committedEntries` (and the snapshot) to the state machine;
 * 4. call `advance(ready)`.
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  readStates: ReadState[];
  entries: Entry[];
  snapshot: Snapshot | null;
  committedEntries: Entry[];
  messages: Message[];
  mustSync: boolean;
}

export enum SnapshotStatus {
  Finish = 0,
  Failure = 1,
}

export enum ProgressState {
  /** Sending one message at a time until the follower's log position is found. */
  Probe = 0,
  /** Streaming entries optimistically, bounded by the inflight window. */
  Replicate = 1,
  /** A snapshot is on its way; nothing else is sent. */
  Snapshot = 2,
}

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function isEmptySnapshot(s: Snapshot | null | undefined): boolean {
  return !s || s.metadata.index === 0;
}

export function isEmptyHardState(h: HardState): boolean {
  return h.term === 0 && h.vote === NONE && h.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** A message with every field present, so all messages share one shape (monomorphic for V8). */
export function newMessage(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    type: fields.type,
    to: fields.to ?? NONE,
    from: fields.from ?? NONE,
    term: fields.term ?? 0,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? [],
    commit: fields.commit ?? 0,
    snapshot: fields.snapshot ?? null,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? null,
  };
}

export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.Unreachable ||
    t === MessageType.SnapStatus ||
    t === MessageType.CheckQuorum
  );
}

export function isResponseMessage(t: MessageType): boolean {
  return (
    t === MessageType.AppResp ||
    t === MessageType.VoteResp ||
    t === MessageType.HeartbeatResp ||
    t === MessageType.Unreachable ||
    t === MessageType.PreVoteResp
  );
}

export function voteResponseType(t: MessageType): MessageType {
  if (t === MessageType.Vote) return MessageType.VoteResp;
  if (t === MessageType.PreVote) return MessageType.PreVoteResp;
  throw new Error(`not a vote message: ${MessageType[t]}`);
}

/** Bytes an entry counts for in flow control and size limits. */
export function entryPayloadBytes(e: Entry): number {
  return e.data.length;
}

export function entriesPayloadBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (let i = 0; i < ents.length; i++) n += ents[i]!.data.length;
  return n;
}

/** Size used when cutting message batches: payload plus a fixed per-entry overhead. */
export const ENTRY_OVERHEAD_BYTES = 24;
export function entrySizeBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

/**
 * Membership changes: computes the next configuration from the current one
 * and a ConfChange, without touching the tracker until the result is valid.
 *
 * Three ways in: `simple` (at most one voter added or removed, the classic
 * one-server-at-a-time change), `enterJoint` (any change, through joint
 * consensus: decisions need majorities of both old and new voters) and
 * `leaveJoint`. Learners never vote; a voter is demoted to learner through
 * `learnersNext` so that it keeps voting in the outgoing half until the joint
 * configuration is left.
 */
import { RaftError } from './errors.js';
import { JointConfig } from './quorum.js';
import { type ProgressMap, type ProgressTracker, TrackerConfig } from './tracker.js';
import {
  type ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeSingle,
  type ConfState,
  type NodeId,
} from './types.js';

export interface ConfigResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

function invalid(msg: string): RaftError {
  return new RaftError('RAFT_ERR_INVALID_CONF_CHANGE', msg);
}

/** Whether the change asks to leave a joint configuration (an empty Auto change). */
export function isLeaveJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0 && cc.transition === ConfChangeTransition.Auto;
}

/** Whether the change must go through joint consensus, and if so whether it leaves on its own. */
export function jointMode(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  if (cc.transition !== ConfChangeTransition.Auto || cc.changes.length > 1) {
    return { joint: true, autoLeave: cc.transition !== ConfChangeTransition.JointExplicit };
  }
  return { joint: false, autoLeave: false };
}

export class Changer {
  constructor(
    private readonly tracker: ProgressTracker,
    /** The leader's last log index; new members are probed from here. */
    private readonly lastIndex: number,
  ) {}

  /** Applies any ConfChange, choosing the mechanism from its shape. */
  apply(cc: ConfChange): ConfigResult {
    if (isLeaveJoint(cc)) return this.leaveJoint();
    const { joint, autoLeave } = jointMode(cc);
    return joint ? this.enterJoint(autoLeave, cc.changes) : this.simple(cc.changes);
  }

  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ConfigResult {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) throw invalid('configuration is already joint');
    if (config.voters.incoming.size === 0) throw invalid("can't make a zero-voter configuration joint");
    for (const id of config.voters.incoming) config.voters.outgoing.add(id);
    this.applyChanges(config, progress, changes);
    config.autoLeave = autoLeave;
    return checkAndReturn(config, progress);
  }

  leaveJoint(): ConfigResult {
    const { config, progress } = this.checkAndCopy();
    if (!config.voters.isJoint()) throw invalid("can't leave a non-joint configuration");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext.clear();
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing.clear();
    config.autoLeave = false;
    return checkAndReturn(config, progress);
  }

  /** One-at-a-time change: at most one voter may differ between the old and new configuration. */
  simple(changes: readonly ConfChangeSingle[]): ConfigResult {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) throw invalid("can't apply a simple change in a joint configuration");
    const before = new Set(config.voters.incoming);
    this.applyChanges(config, progress, changes);
    let diff = 0;
    for (const id of before) if (!config.voters.incoming.has(id)) diff++;
    for (const id of config.voters.incoming) if (!before.has(id)) diff++;
    if (diff > 1) throw invalid('more than one voter changed without entering joint consensus');
    return checkAndReturn(config, progress);
  }

  private applyChanges(config: TrackerConfig, progress: ProgressMap, changes: readonly ConfChangeSingle[]): void {
    for (const c of changes) {
      if (!Number.isSafeInteger(c.nodeId) || c.nodeId <= 0) throw invalid(`invalid node id ${c.nodeId}`);
      switch (c.type) {
        case ConfChangeType.AddVoter:
          this.makeVoter(config, progress, c.nodeId);
          break;
        case ConfChangeType.AddLearner:
          this.makeLearner(config, progress, c.nodeId);
          break;
        case ConfChangeType.RemoveNode:
          remove(config, progress, c.nodeId);
          break;
        default:
          throw invalid(`unknown change type ${String(c.type)}`);
      }
    }
    if (config.voters.incoming.size === 0) throw invalid('removed all voters');
  }

  private makeVoter(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id);
    if (!pr) {
      this.initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  private makeLearner(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
    const pr = progress.get(id);
    if (!pr) {
      this.initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Remove as a voter, keeping the progress (remove() drops it unless the node is outgoing).
    remove(config, progress, id);
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      // Still votes in the outgoing half; becomes a learner when the joint config is left.
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  private initProgress(config: TrackerConfig, progress: ProgressMap, id: NodeId, isLearner: boolean): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    // Probe from the last index; the follower's rejection tells the leader where to back up to.
    const pr = this.tracker.newProgress(Math.max(this.lastIndex, 1), isLearner);
    // Counts as active so that a fresh member does not make a check-quorum round fail at once.
    pr.recentActive = true;
    progress.set(id, pr);
  }

  private checkAndCopy(): ConfigResult {
    const config = this.tracker.config.clone();
    // Copies, so that a change that fails validation leaves the tracker untouched.
    const progress: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr.clone());
    checkInvariants(config, progress);
    return { config, progress };
  }
}

function remove(config: TrackerConfig, progress: ProgressMap, id: NodeId): void {
  if (!progress.has(id)) return;
  config.voters.incoming.delete(id);
  config.learners.delete(id);
  config.learnersNext.delete(id);
  // An outgoing voter keeps its progress until the joint configuration is left.
  if (!config.voters.outgoing.has(id)) progress.delete(id);
}

function checkAndReturn(config: TrackerConfig, progress: ProgressMap): ConfigResult {
  checkInvariants(config, progress);
  return { config, progress };
}

/** The structural rules every configuration obeys; a violation means a bug or a corrupt ConfState. */
export function checkInvariants(config: TrackerConfig, progress: ProgressMap): void {
  for (const id of config.voters.incoming) if (!progress.has(id)) throw invalid(`no progress for voter ${id}`);
  for (const id of config.voters.outgoing) if (!progress.has(id)) throw invalid(`no progress for outgoing voter ${id}`);
  for (const id of config.learners) {
    const pr = progress.get(id);
    if (!pr) throw invalid(`no progress for learner ${id}`);
    if (!pr.isLearner) throw invalid(`learner ${id} is not marked as learner`);
    if (config.voters.has(id)) throw invalid(`${id} is both learner and voter`);
  }
  for (const id of config.learnersNext) {
    const pr = progress.get(id);
    if (!pr) throw invalid(`no progress for next learner ${id}`);
    if (pr.isLearner) throw invalid(`next learner ${id} is already marked as learner`);
    if (!config.voters.outgoing.has(id)) throw invalid(`next learner ${id} is not an outgoing voter`);
  }
  for (const [id, pr] of progress) {
    if (pr.isLearner && !config.learners.has(id)) throw invalid(`${id} marked learner but not in learners`);
    if (!config.voters.has(id) && !config.learners.has(id)) throw invalid(`progress for ${id} who is not a member`);
  }
  if (!config.voters.isJoint()) {
    if (config.learnersNext.size > 0) throw invalid('learnersNext outside a joint configuration');
    if (config.autoLeave) throw invalid('autoLeave outside a joint configuration');
  }
}

/** Builds the configuration a ConfState describes (on start and when a snapshot is restored). */
export function restoreConfig(tracker: ProgressTracker, cs: ConfState, lastIndex: number): ConfigResult {
  const config = new TrackerConfig(new JointConfig(new Set(cs.voters), new Set(cs.votersOutgoing)), new Set(cs.learners), new Set(cs.learnersNext), cs.autoLeave);
  const progress: ProgressMap = new Map();
  const next = Math.max(lastIndex, 1);
  for (const id of [...cs.voters, ...cs.votersOutgoing, ...cs.learnersNext]) {
    if (!progress.has(id)) progress.set(id, tracker.newProgress(next, false));
  }
  for (const id of cs.learners) {
    if (progress.has(id)) throw invalid(`${id} is both learner and voter in ConfState`);
    progress.set(id, tracker.newProgress(next, true));
  }
  checkInvariants(config, progress);
  return { config, progress };
}

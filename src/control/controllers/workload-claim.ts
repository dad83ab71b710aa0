/**
 * Carries out a claim plan (workload-pods.ts planClaims) through the API:
 * adopt matching orphans (add a controller reference) and release owned
 * objects that no longer match (remove it), as upstream's
 * ControllerRefManager. Before adopting, the owner is read again with a
 * quorum read: an owner deleted (or replaced under the same name) since the
 * informer saw it must not adopt anything.
 */
import type { KubeObject } from '../apiserver/index.js';
import { isApiError } from '../apiserver/index.js';
import type { Selector } from '../apiserver/selectors/index.js';
import type { ResourceInfo } from '../registry/index.js';
import type { ControllerContext } from './manager.js';
import { controllerRefOf, newControllerRef, planClaims, withControllerRef, withoutOwnerRef } from './workload-pods.js';

export class OwnerGoneError extends Error {
  override readonly name = 'OwnerGoneError';
  readonly code = 'CONTROLLER_ERR_OWNER_GONE';
}

export interface ClaimResult {
  /** What the owner controls now, matching its selector. */
  owned: KubeObject[];
  /** The highest revision written (0: nothing written). */
  revision: number;
}

const goneReasons = new Set(['NotFound', 'Conflict', 'Invalid']);

/** `owner` (of resource `ownerR`) claims among `candidates` (of resource `r`, in its namespace). */
export async function claim(ctx: ControllerContext, ownerR: ResourceInfo, owner: KubeObject, selector: Selector, r: ResourceInfo, candidates: readonly KubeObject[]): Promise<ClaimResult> {
  const plan = planClaims(owner, selector, candidates);
  const owned = [...plan.owned];
  let revision = 0;
  const uid = owner.metadata.uid!;
  if (plan.adopt.length > 0) await checkCanAdopt(ctx, ownerR, owner);
  const ref = newControllerRef(ownerR, owner);
  for (const c of plan.adopt) {
    const out = await modifyIgnoringGone(ctx, r, c, (cur) => (cur.metadata.uid === c.metadata.uid ? withControllerRef(cur, ref) : cur));
    if (out && controllerRefOf(out)?.uid === uid) {
      owned.push(out);
      revision = Math.max(revision, Number(out.metadata.resourceVersion ?? 0));
    }
  }
  for (const c of plan.release) {
    const out = await modifyIgnoringGone(ctx, r, c, (cur) => (cur.metadata.uid === c.metadata.uid ? withoutOwnerRef(cur, uid) : cur));
    if (out) revision = Math.max(revision, Number(out.metadata.resourceVersion ?? 0));
  }
  return { owned, revision };
}

async function checkCanAdopt(ctx: ControllerContext, ownerR: ResourceInfo, owner: KubeObject): Promise<void> {
  let fresh: KubeObject;
  try {
    fresh = await ctx.rest.get({ r: ownerR, namespace: owner.metadata.namespace ?? '', name: owner.metadata.name! });
  } catch (e) {
    if (isApiError(e) && e.reason === 'NotFound') throw new OwnerGoneError(`${ownerR.kind} ${owner.metadata.name} is gone`);
    throw e;
  }
  if (fresh.metadata.uid !== owner.metadata.uid) throw new OwnerGoneError(`${ownerR.kind} ${owner.metadata.name} was replaced (uid ${fresh.metadata.uid})`);
  if (fresh.metadata.deletionTimestamp) throw new OwnerGoneError(`${ownerR.kind} ${owner.metadata.name} is being deleted`);
}

async function modifyIgnoringGone(ctx: ControllerContext, r: ResourceInfo, obj: KubeObject, change: (cur: KubeObject) => KubeObject): Promise<KubeObject | null> {
  try {
    return await ctx.rest.modify({ r, namespace: obj.metadata.namespace ?? '', name: obj.metadata.name!, subresource: '' }, { dryRun: false }, change);
  } catch (e) {
    if (isApiError(e) && goneReasons.has(e.reason)) return null;
    throw e;
  }
}

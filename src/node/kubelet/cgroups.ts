/**
 * Pod cgroups: every sandbox gets `<cgroupRoot>/pod<uid>` as its cgroup
 * parent (containerd puts the containers' cgroups under it, and its pod
 * stats need one). containerd does not remove the parent: the kubelet does,
 * in every hierarchy, once the pod's containers are gone. Right after
 * RemovePodSandbox the sandbox's own cgroup may still be busy (its shim exits
 * a moment later), so a removal that left something is retried (see Kubelet).
 */
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';

export function podCgroupParent(root: string, uid: string): string {
  return `${root.replace(/\/+$/, '')}/pod${uid}`;
}

/**
 * Removes the pod's (empty) cgroup in every mounted hierarchy; a busy one is
 * left. Returns true when none remains (missing counts as removed).
 */
export function removePodCgroups(root: string, uid: string): boolean {
  const rel = podCgroupParent(root, uid);
  let ctls: string[];
  try {
    ctls = readdirSync(CGROUP_FS);
  } catch {
    return true;
  }
  let left = false;
  // cgroup v2 (unified) is the mount itself; v1 has one dir per controller.
  for (const base of [CGROUP_FS, ...ctls.map((c) => join(CGROUP_FS, c))]) {
    const dir = join(base, rel);
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(join(dir, e.name));
      rmdirSync(dir);
    } catch {
      /* not in this hierarchy, or still busy */
    }
    if (existsSync(dir)) left = true;
  }
  return !left;
}

/** Removes a whole cgroup tree (`<root>` and everything below it, in every hierarchy), deepest first; busy dirs stay. */
export function removeCgroupTree(root: string): void {
  let ctls: string[];
  try {
    ctls = readdirSync(CGROUP_FS);
  } catch {
    return;
  }
  const rmTree = (dir: string): void => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) rmTree(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch {
      /* still busy */
    }
  };
  const rel = root.replace(/^\/+/, '');
  if (!rel || rel.includes('..')) return;
  for (const base of [CGROUP_FS, ...ctls.map((c) => join(CGROUP_FS, c))]) rmTree(join(base, rel));
}

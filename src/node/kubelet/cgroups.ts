/**
 * Pod cgroups: every sandbox gets `<cgroupRoot>/pod<uid>` as its cgroup
 * parent (containerd puts the containers' cgroups under it, and its pod
 * stats need one). containerd does not remove the parent: the kubelet does,
 * in every hierarchy, once the pod's containers are gone. Right after
 * RemovePodSandbox the sandbox's own cgroup may still be busy (its shim exits
 * a moment later), so a removal that left something is retried (see Kubelet).
 */
import { type Dirent, existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_FS = '/sys/fs/cgroup';

export function podCgroupParent(root: string, uid: string): string {
  return `${root.replace(/\/+$/, '')}/pod${uid}`;
}

/** `rel` in every mounted hierarchy: cgroup v2 (unified) is the mount itself; v1 has one dir per controller. */
function inEveryHierarchy(rel: string): string[] {
  let ctls: string[];
  try {
    ctls = readdirSync(CGROUP_FS);
  } catch {
    return [];
  }
  return [CGROUP_FS, ...ctls.map((c) => join(CGROUP_FS, c))].map((base) => join(base, rel));
}

/** Removes `dir` and everything below it, deepest first; busy (or missing) dirs stay. */
function rmTree(dir: string): void {
  let entries: Dirent[];
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
}

/** Removes a whole cgroup tree (`<root>` and everything below it, in every hierarchy); true when none of it remains. */
export function removeCgroupTree(root: string): boolean {
  const rel = root.replace(/^\/+/, '');
  if (!rel || rel.split('/').includes('..')) return true;
  let left = false;
  for (const dir of inEveryHierarchy(rel)) {
    rmTree(dir);
    if (existsSync(dir)) left = true;
  }
  return !left;
}

/** Removes the pod's cgroups (its parent and the containers' below it); true when none remains. */
export function removePodCgroups(root: string, uid: string): boolean {
  return removeCgroupTree(podCgroupParent(root, uid));
}

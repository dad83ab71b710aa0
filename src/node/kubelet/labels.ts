/**
 * The labels and annotations the kubelet puts on CRI sandboxes and
 * containers (upstream's names, so `crictl` users see what they expect), and
 * how it reads them back after a restart.
 */
import type { Json } from '../api/index.js';

export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
/** Marks what this kubelet made (orphan cleanup touches nothing else). */
export const LABEL_MANAGED = 'io.skiff.managed';

export const ANNOTATION_RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const ANNOTATION_CONTAINER_HASH = 'io.kubernetes.container.hash';
export const ANNOTATION_GRACE_PERIOD = 'io.kubernetes.pod.terminationGracePeriod';
export const ANNOTATION_INIT = 'io.skiff.container.init';

export function sandboxLabels(pod: Json): Record<string, string> {
  return {
    ...stringMap(pod.metadata?.labels),
    [LABEL_POD_NAME]: pod.metadata.name,
    [LABEL_POD_NAMESPACE]: pod.metadata.namespace,
    [LABEL_POD_UID]: pod.metadata.uid,
    [LABEL_MANAGED]: 'true',
  };
}

export function containerLabels(pod: Json, name: string): Record<string, string> {
  return {
    [LABEL_POD_NAME]: pod.metadata.name,
    [LABEL_POD_NAMESPACE]: pod.metadata.namespace,
    [LABEL_POD_UID]: pod.metadata.uid,
    [LABEL_CONTAINER_NAME]: name,
    [LABEL_MANAGED]: 'true',
  };
}

/** Only string values: CRI labels and annotations are string maps. */
function stringMap(m: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (m && typeof m === 'object') for (const [k, v] of Object.entries(m)) if (typeof v === 'string') out[k] = v;
  return out;
}

export { stringMap };

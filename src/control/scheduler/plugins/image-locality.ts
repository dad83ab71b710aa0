/**
 * ImageLocality: prefers nodes that already have the pod's container images
 * (status.images), so that pods start without a pull. The sum of the image
 * sizes present is mapped linearly between 23 MB (score 0) and 1000 MB per
 * container (MAX_NODE_SCORE), as upstream's thresholds. Each image counts
 * in proportion to the share of nodes that have it (upstream's spread
 * factor: an image everywhere says little about where to go).
 */
import type { NodeInfo, PodInfo } from '../pod-info.js';
import type { PreScorePlugin, ScorePlugin, Snapshot } from '../types.js';
import { MAX_NODE_SCORE, SKIP } from '../types.js';

export const IMAGE_LOCALITY = 'ImageLocality';
const MB = 1024 * 1024;
export const MIN_THRESHOLD_BYTES = 23 * MB;
export const MAX_CONTAINER_THRESHOLD_BYTES = 1000 * MB;

/** Docker-style normalisation: an image without a tag means `:latest`. */
function normalizedImage(name: string): string {
  const slash = name.lastIndexOf('/');
  return name.lastIndexOf(':') > slash || name.includes('@') ? name : `${name}:latest`;
}

/** The name a node reports for the image, or undefined when absent. */
function present(node: NodeInfo, img: string): string | undefined {
  if (node.images.has(img)) return img;
  const n = normalizedImage(img);
  return node.images.has(n) ? n : undefined;
}

function score(pod: PodInfo, node: NodeInfo, snap: Snapshot): number {
  if (node.images.size === 0) return 0;
  let sum = 0;
  for (const img of pod.images) {
    const name = present(node, img);
    if (name !== undefined) sum += node.images.get(name)! * (snap.imageNodeCount(name) / Math.max(1, snap.nodes.length));
  }
  const max = MAX_CONTAINER_THRESHOLD_BYTES * pod.images.length;
  if (sum < MIN_THRESHOLD_BYTES) return 0;
  if (sum > max) sum = max;
  return Math.floor((MAX_NODE_SCORE * (sum - MIN_THRESHOLD_BYTES)) / (max - MIN_THRESHOLD_BYTES));
}

export function imageLocality(): PreScorePlugin & ScorePlugin {
  return {
    name: IMAGE_LOCALITY,
    // Nothing to prefer when no node has any of the pod's images.
    preScore: (_state, pod, _nodes, snap) => (pod.images.some((i) => snap.imageNodeCount(i) + snap.imageNodeCount(normalizedImage(i)) > 0) ? null : SKIP),
    score: (_state, pod, node, snap) => score(pod, node, snap),
  };
}

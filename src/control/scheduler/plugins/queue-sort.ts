/** PrioritySort (upstream queuesort): higher spec.priority first, then the older pod. */
import type { PodInfo } from '../pod-info.js';
import type { QueueSortPlugin } from '../types.js';

export const PRIORITY_SORT = 'PrioritySort';

export function prioritySort(): QueueSortPlugin {
  return {
    name: PRIORITY_SORT,
    less(a: PodInfo, b: PodInfo): boolean {
      if (a.priority !== b.priority) return a.priority > b.priority;
      if (a.createdMs !== b.createdMs) return a.createdMs < b.createdMs;
      return a.seq < b.seq;
    },
  };
}

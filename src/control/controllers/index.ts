/**
 * The controllers that run on the Raft leader, and the manager that starts
 * and stops them with the leadership.
 */
import { GarbageCollector } from './garbage-collector.js';
import type { Controller } from './manager.js';
import { NamespaceController } from './namespace.js';

export { ControllerManager, type Controller, type ControllerContext, type LeaderStore, LEADERSHIP_POLL_MS } from './manager.js';
export { WorkQueue, runWorkers, WORKQUEUE_DEFAULTS, type WorkQueueOptions } from './workqueue.js';
export { GarbageCollector, NamespaceController };

/** Every controller a master runs while it leads. */
export function defaultControllers(): Controller[] {
  return [new NamespaceController(), new GarbageCollector()];
}

/** DefaultBinder: hands the assignment to a bind function (the Scheduler writes the pod through the store). */
import type { PodInfo } from '../pod-info.js';
import type { BindPlugin } from '../types.js';

export const DEFAULT_BINDER = 'DefaultBinder';

export function defaultBinder(bind: (pod: PodInfo, nodeName: string) => Promise<void>): BindPlugin {
  return { name: DEFAULT_BINDER, bind };
}

/**
 * The controllers that run on the Raft leader, and the manager that starts
 * and stops them with the leadership.
 */
import { ApiEndpointsController } from './api-endpoints.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';
import { EndpointsController } from './endpoints.js';
import { EndpointSliceController } from './endpointslice.js';
import { SERVICE_IP_DEFAULTS, ServiceIpController } from './service-ip.js';
import type { NodeLifecycleOptions } from './node-lifecycle.js';
import { Scheduler } from '../scheduler/index.js';
import { GarbageCollector } from './garbage-collector.js';
import type { Controller } from './manager.js';
import { NamespaceController } from './namespace.js';
import { JobController } from './job.js';
import { NodeLifecycleController } from './node-lifecycle.js';
import { PodGcController } from './pod-gc.js';
import { StatefulSetController } from './statefulset.js';

export { ControllerManager, type Controller, type ControllerContext, type LeaderStore, LEADERSHIP_POLL_MS } from './manager.js';
export { WorkQueue, runWorkers, WORKQUEUE_DEFAULTS, type WorkQueueOptions } from './workqueue.js';
export { ApiEndpointsController, PodGcController, DaemonSetController, DeploymentController, ReplicaSetController, EndpointSliceController, EndpointsController, ServiceIpController, SERVICE_IP_DEFAULTS, GarbageCollector, JobController, NamespaceController, NodeLifecycleController, StatefulSetController };
export { NODE_LIFECYCLE_DEFAULTS, type NodeLifecycleOptions } from './node-lifecycle.js';

/** Every loop a master runs while it leads: the scheduler and the controllers. */
export function defaultControllers(o: { nodeLifecycle?: Partial<NodeLifecycleOptions> } = {}): Controller[] {
  return [
    new Scheduler(),
    new ReplicaSetController('replicasets'),
    new ReplicaSetController('replicationcontrollers'),
    new DeploymentController(),
    new StatefulSetController(),
    new DaemonSetController(),
    new JobController(),
    new ServiceIpController(SERVICE_IP_DEFAULTS),
    new EndpointsController(),
    new EndpointSliceController(),
    new ApiEndpointsController(),
    new NodeLifecycleController(o.nodeLifecycle),
    new PodGcController(),
    new NamespaceController(),
    new GarbageCollector(),
  ];
}

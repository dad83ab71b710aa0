/**
 * skiff's registry: the resources the API server serves and, per kind, the
 * strategy applied on writes (defaulting, validation, update rules).
 * Importing this module registers every kind's strategy.
 */
import './kinds/configmap.js';
import './kinds/daemonset.js';
import './kinds/deployment.js';
import './kinds/endpoints.js';
import './kinds/endpointslice.js';
import './kinds/event.js';
import './kinds/job.js';
import './kinds/lease.js';
import './kinds/limitrange.js';
import './kinds/namespace.js';
import './kinds/node.js';
import './kinds/pod.js';
import './kinds/rbac.js';
import './kinds/replicaset.js';
import './kinds/replicationcontroller.js';
import './kinds/resourcequota.js';
import './kinds/secret.js';
import './kinds/service.js';
import './kinds/serviceaccount.js';
import './kinds/statefulset.js';

export { RESOURCES, apiVersionOf, groupVersions, lookupKind, lookupResource, type ResourceInfo, type Subresource } from './resources.js';
export { registerStrategy, strategyFor, type FieldError, type Strategy } from './strategy.js';

/**
 * k8s.io/api coordination.k8s.io/v1: Lease, which client-go leader election
 * and node heartbeats write (as protobuf when so configured). Field numbers
 * and names as in Kubernetes 1.36; syntax in schema.ts.
 */
import type { MessageTable, SchemaPackage } from './schema.js';

const MESSAGES: MessageTable = {
  Lease: 'metadata=1:meta.ObjectMeta spec=2:LeaseSpec',
  LeaseSpec:
    'holderIdentity=1:string! leaseDurationSeconds=2:int32! acquireTime=3:MicroTime renewTime=4:MicroTime ' +
    'leaseTransitions=5:int32! strategy=6:string! preferredHolder=7:string!',
};

export const COORDINATION_V1: SchemaPackage = { prefix: 'coordination', protoPackage: 'k8s.io.api.coordination.v1', messages: MESSAGES };

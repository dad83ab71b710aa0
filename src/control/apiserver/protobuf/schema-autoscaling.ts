/**
 * k8s.io/api autoscaling/v1: Scale, the body of the `scale` subresource.
 * Field numbers and names as in Kubernetes 1.36; syntax in schema.ts.
 */
import type { MessageTable, SchemaPackage } from './schema.js';

const MESSAGES: MessageTable = {
  Scale: 'metadata=1:meta.ObjectMeta spec=2:ScaleSpec status=3:ScaleStatus',
  ScaleSpec: 'replicas=1:int32',
  ScaleStatus: 'replicas=1:int32! selector=2:string',
};

export const AUTOSCALING_V1: SchemaPackage = { prefix: 'autoscaling', protoPackage: 'k8s.io.api.autoscaling.v1', messages: MESSAGES };

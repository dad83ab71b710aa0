/**
 * k8s.io/api rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding,
 * ClusterRoleBinding. Field numbers and names as in Kubernetes 1.36; syntax in
 * schema.ts.
 */
import type { MessageTable, SchemaPackage } from './schema.js';

const MESSAGES: MessageTable = {
  AggregationRule: 'clusterRoleSelectors=1:meta.LabelSelector[]',
  ClusterRole: 'metadata=1:meta.ObjectMeta rules=2:PolicyRule[] aggregationRule=3:AggregationRule',
  ClusterRoleBinding: 'metadata=1:meta.ObjectMeta subjects=2:Subject[] roleRef=3:RoleRef',
  PolicyRule:
    'verbs=1:string[] apiGroups=2:string[] resources=3:string[] resourceNames=4:string[] nonResourceURLs=5:string[]',
  Role: 'metadata=1:meta.ObjectMeta rules=2:PolicyRule[]',
  RoleBinding: 'metadata=1:meta.ObjectMeta subjects=2:Subject[] roleRef=3:RoleRef',
  RoleRef: 'apiGroup=1:string! kind=2:string! name=3:string!',
  Subject: 'kind=1:string! apiGroup=2:string name=3:string! namespace=4:string',
};

export const RBAC_V1: SchemaPackage = { prefix: 'rbac', protoPackage: 'k8s.io.api.rbac.v1', messages: MESSAGES };

/**
 * k8s.io/apimachinery meta/v1: the object metadata every kind carries, label
 * selectors and conditions. Field numbers and names as in Kubernetes 1.36
 * (a superset of what kubectl 1.32 writes); syntax in schema.ts.
 * clusterName (15) was removed in 1.25; older clients still send it empty.
 */
import type { MessageTable, SchemaPackage } from './schema.js';

const MESSAGES: MessageTable = {
  Condition:
    'type=1:string! status=2:string! observedGeneration=3:int64 lastTransitionTime=4:Time reason=5:string! ' +
    'message=6:string!',
  LabelSelector: 'matchLabels=1:{string} matchExpressions=2:LabelSelectorRequirement[]',
  LabelSelectorRequirement: 'key=1:string! operator=2:string! values=3:string[]',
  ManagedFieldsEntry:
    'manager=1:string operation=2:string apiVersion=3:string time=4:Time fieldsType=6:string fieldsV1=7:FieldsV1 ' +
    'subresource=8:string',
  ObjectMeta:
    'name=1:string generateName=2:string namespace=3:string selfLink=4:string uid=5:string resourceVersion=6:string ' +
    'generation=7:int64 creationTimestamp=8:Time deletionTimestamp=9:Time deletionGracePeriodSeconds=10:int64! ' +
    'labels=11:{string} annotations=12:{string} ownerReferences=13:OwnerReference[] finalizers=14:string[] ' +
    'clusterName=15:string~ managedFields=17:ManagedFieldsEntry[]',
  OwnerReference:
    'kind=1:string! name=3:string! uid=4:string! apiVersion=5:string! controller=6:bool! blockOwnerDeletion=7:bool!',
};

export const META_V1: SchemaPackage = { prefix: 'meta', protoPackage: 'k8s.io.apimachinery.pkg.apis.meta.v1', messages: MESSAGES };

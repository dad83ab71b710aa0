/**
 * k8s.io/api discovery.k8s.io/v1: EndpointSlice, which endpoint controllers
 * write. Field numbers and names as in Kubernetes 1.36; syntax in schema.ts.
 */
import type { MessageTable, SchemaPackage } from './schema.js';

const MESSAGES: MessageTable = {
  Endpoint:
    'addresses=1:string[] conditions=2:EndpointConditions hostname=3:string! targetRef=4:core.ObjectReference ' +
    'deprecatedTopology=5:{string} nodeName=6:string! zone=7:string! hints=8:EndpointHints',
  EndpointConditions: 'ready=1:bool! serving=2:bool! terminating=3:bool!',
  EndpointHints: 'forZones=1:ForZone[] forNodes=2:ForNode[]',
  EndpointPort: 'name=1:string! protocol=2:string! port=3:int32! appProtocol=4:string!',
  EndpointSlice:
    'metadata=1:meta.ObjectMeta endpoints=2:Endpoint[] ports=3:EndpointPort[] addressType=4:string!',
  ForNode: 'name=1:string!',
  ForZone: 'name=1:string!',
};

export const DISCOVERY_V1: SchemaPackage = { prefix: 'discovery', protoPackage: 'k8s.io.api.discovery.v1', messages: MESSAGES };

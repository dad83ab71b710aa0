/**
 * EndpointSlices (discovery.k8s.io/v1, light): an address type that never
 * changes, at least one address per endpoint (of that type), unique port
 * names, known protocols. Ports default to an empty name and TCP.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { duplicate, FieldPath, type FieldError, invalid, isDNS1123Label, isDNS1123Subdomain, isValidIP, notSupported, required, tooMany } from '../validation/index.js';
import { arrAt, immutable, type Json, objectsIn, objectsOf, setDefault, strAt } from './fields.js';
import { validateNonSpecialIP } from './ip-classes.js';
import { oneOf } from './pod.js';

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
/** Upstream's bounds on one slice. */
const ENDPOINTS_MAX = 1000;
const ADDRESSES_MAX = 100;
const PORTS_MAX = 100;

function defaultEndpointSlice(slice: KubeObject): void {
  for (const port of objectsOf(slice, 'ports')) {
    setDefault(port, 'name', '');
    setDefault(port, 'protocol', 'TCP');
  }
}

function validateAddress(type: string, address: unknown, path: FieldPath): FieldError[] {
  const text = typeof address === 'string' ? address : String(address);
  if (type === 'FQDN') return isDNS1123Subdomain(text).map((m) => invalid(path, text, m));
  if (type !== 'IPv4' && type !== 'IPv6') return [];
  const wrongFamily = isValidIP(path, text).length > 0 || text.includes(':') !== (type === 'IPv6');
  if (wrongFamily) return [invalid(path, text, `must be a valid ${type} address`)];
  return validateNonSpecialIP(text, path);
}

function validateEndpoint(e: Json, type: string, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const addresses = arrAt(e, 'addresses', path.child('addresses'), errs) ?? [];
  if (addresses.length === 0) errs.push(required(path.child('addresses'), 'must contain at least 1 address'));
  else if (addresses.length > ADDRESSES_MAX) errs.push(tooMany(path.child('addresses'), addresses.length, ADDRESSES_MAX));
  addresses.forEach((a, i) => errs.push(...validateAddress(type, a, path.child('addresses').index(i))));
  const hostname = strAt(e, 'hostname', path.child('hostname'), errs);
  if (hostname) errs.push(...isDNS1123Label(hostname).map((m) => invalid(path.child('hostname'), hostname, m)));
  const nodeName = strAt(e, 'nodeName', path.child('nodeName'), errs);
  if (nodeName) errs.push(...isDNS1123Subdomain(nodeName).map((m) => invalid(path.child('nodeName'), nodeName, m)));
  return errs;
}

function validatePorts(slice: KubeObject, errs: FieldError[]): void {
  const path = FieldPath.root('ports');
  const ports = arrAt(slice, 'ports', path, errs) ?? [];
  if (ports.length > PORTS_MAX) errs.push(tooMany(path, ports.length, PORTS_MAX));
  const names = new Set<string>();
  for (const [port, i] of objectsIn(ports, path, errs)) {
    const p = path.index(i);
    const name = strAt(port, 'name', p.child('name'), errs) ?? '';
    if (name !== '') errs.push(...isDNS1123Label(name).map((m) => invalid(p.child('name'), name, m)));
    if (names.has(name)) errs.push(duplicate(p.child('name'), name));
    names.add(name);
    const protocol = strAt(port, 'protocol', p.child('protocol'), errs);
    if (port.protocol === undefined || port.protocol === null) errs.push(required(p.child('protocol'), ''));
    else if (protocol !== null) errs.push(...oneOf(protocol, p.child('protocol'), PROTOCOLS));
  }
}

function validateEndpointSlice(slice: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const type = strAt(slice, 'addressType', FieldPath.root('addressType'), errs);
  if (type === '') errs.push(required(FieldPath.root('addressType'), ''));
  else if (type !== null && !ADDRESS_TYPES.includes(type)) errs.push(notSupported(FieldPath.root('addressType'), type, ADDRESS_TYPES));
  const path = FieldPath.root('endpoints');
  const endpoints = arrAt(slice, 'endpoints', path, errs) ?? [];
  if (endpoints.length > ENDPOINTS_MAX) errs.push(tooMany(path, endpoints.length, ENDPOINTS_MAX));
  for (const [e, i] of objectsIn(endpoints, path, errs)) errs.push(...validateEndpoint(e, type ?? '', path.index(i)));
  validatePorts(slice, errs);
  return errs;
}

registerStrategy('discovery.k8s.io/v1/EndpointSlice', {
  default: defaultEndpointSlice,
  validate: validateEndpointSlice,
  validateUpdate: (slice, old) => immutable(slice.addressType, old.addressType, FieldPath.root('addressType')),
});

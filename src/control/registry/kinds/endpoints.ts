/**
 * Endpoints (v1): the addresses behind a service, written by the endpoints
 * controller (or by hand for selectorless services). Ports default to TCP;
 * every subset needs an address; addresses must be real, routable IPs
 * (not loopback, link-local or unspecified: a proxy would loop back).
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import { FieldPath, type FieldError, invalid, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidIP, isValidPortNum, required } from '../validation/index.js';
import { arrAt, type Json, objectsIn, objectsOf, setDefaultStr, strAt } from './fields.js';
import { validateNonSpecialIP } from './ip-classes.js';
import { oneOf } from './pod.js';

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];

function defaultEndpoints(ep: KubeObject): void {
  for (const subset of objectsOf(ep, 'subsets')) for (const port of objectsOf(subset, 'ports')) setDefaultStr(port, 'protocol', 'TCP');
}

function validateAddress(a: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const ip = strAt(a, 'ip', path.child('ip'), errs);
  if (ip === null) return errs;
  const ipErrs = isValidIP(path.child('ip'), ip);
  errs.push(...ipErrs);
  const hostname = strAt(a, 'hostname', path.child('hostname'), errs);
  if (hostname) errs.push(...isDNS1123Label(hostname).map((m) => invalid(path.child('hostname'), hostname, m)));
  const nodeName = strAt(a, 'nodeName', path.child('nodeName'), errs);
  if (a.nodeName !== undefined && nodeName !== null) errs.push(...isDNS1123Subdomain(nodeName).map((m) => invalid(path.child('nodeName'), nodeName, m)));
  if (ipErrs.length === 0) errs.push(...validateNonSpecialIP(ip, path.child('ip')));
  // Upstream's second, sloppier parse fails too when the text is no address at all.
  else if (ipErrs.some((e) => e.detail.startsWith('must be a valid IP address,'))) errs.push(invalid(path.child('ip'), ip, 'must be a valid IP address'));
  return errs;
}

/** A port of an Endpoints subset or an EndpointSlice: names are DNS labels, required when there are several. */
export function validateEndpointPort(port: Json, path: FieldPath, requireName: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const name = strAt(port, 'name', path.child('name'), errs);
  if (requireName && name === '') errs.push(required(path.child('name'), ''));
  else if (name) errs.push(...isDNS1123Label(name).map((m) => invalid(path.child('name'), name, m)));
  const number = typeof port.port === 'number' ? port.port : 0;
  errs.push(...isValidPortNum(number).map((m) => invalid(path.child('port'), number, m)));
  const protocol = strAt(port, 'protocol', path.child('protocol'), errs);
  if (protocol !== null) errs.push(...oneOf(protocol, path.child('protocol'), PROTOCOLS));
  const appProtocol = strAt(port, 'appProtocol', path.child('appProtocol'), errs);
  if (appProtocol) errs.push(...isQualifiedName(appProtocol).map((m) => invalid(path.child('appProtocol'), appProtocol, m)));
  return errs;
}

function validateSubset(subset: Json, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const addresses = arrAt(subset, 'addresses', path.child('addresses'), errs) ?? [];
  const notReady = arrAt(subset, 'notReadyAddresses', path.child('notReadyAddresses'), errs) ?? [];
  if (addresses.length === 0 && notReady.length === 0) errs.push(required(path, 'must specify `addresses` or `notReadyAddresses`'));
  for (const [a, i] of objectsIn(addresses, path.child('addresses'), errs)) errs.push(...validateAddress(a, path.child('addresses').index(i)));
  for (const [a, i] of objectsIn(notReady, path.child('notReadyAddresses'), errs)) errs.push(...validateAddress(a, path.child('notReadyAddresses').index(i)));
  const ports = arrAt(subset, 'ports', path.child('ports'), errs) ?? [];
  for (const [p, i] of objectsIn(ports, path.child('ports'), errs)) errs.push(...validateEndpointPort(p, path.child('ports').index(i), ports.length > 1));
  return errs;
}

function validateEndpoints(ep: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('subsets');
  const subsets = arrAt(ep, 'subsets', path, errs) ?? [];
  for (const [s, i] of objectsIn(subsets, path, errs)) errs.push(...validateSubset(s, path.index(i)));
  return errs;
}

registerStrategy('v1/Endpoints', {
  default: defaultEndpoints,
  validate: validateEndpoints,
});

/**
 * Services (v1): type ClusterIP, no session affinity, TCP ports that target
 * their own number, Cluster traffic policies, a single IPv4 family (skiff
 * runs single-stack) when a cluster IP is in play; validation of ports,
 * types, selectors, cluster IPs and traffic policies with upstream's
 * messages; a cluster IP that, once set, stays (except to or from
 * ExternalName).
 *
 * Allocation (cluster IPs, node ports, health check ports) belongs to the
 * REST layer upstream and is not done here; the node port range check that
 * the allocator makes is, so a bad port fails early with its message.
 */
import type { KubeObject } from '../../apiserver/object-store.js';
import { registerStrategy } from '../strategy.js';
import {
  duplicate,
  FieldPath,
  type FieldError,
  forbidden,
  invalid,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidCIDR,
  isValidIP,
  isValidPortNum,
  notSupported,
  required,
  validateLabels,
} from '../validation/index.js';
import { arrAt, deepEqual, ensureObj, ensureSpec, intAt, isObject, type Json, objAt, objectsIn, objectsOf, objOf, setDefault, setDefaultStr, strAt, strMapAt, strOf } from './fields.js';
import { validateNonSpecialIP } from './ip-classes.js';
import { oneOf, validatePortNumOrName } from './pod.js';

export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;
/** Three hours: how long ClientIP affinity lasts unless configured. */
export const DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800;
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const AFFINITIES = ['ClientIP', 'None'];
const TRAFFIC_POLICIES = ['Cluster', 'Local'];
const IP_FAMILIES = ['IPv4', 'IPv6'];
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const CLUSTER_IP_NONE = 'None';

// ---- defaults ----

function externallyAccessible(spec: Json): boolean {
  const type = spec.type;
  return type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
}

function defaultAffinity(spec: Json): void {
  setDefaultStr(spec, 'sessionAffinity', 'None');
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity !== 'ClientIP') return;
  const clientIP = objOf(objOf(spec, 'sessionAffinityConfig') ?? {}, 'clientIP');
  if (typeof clientIP?.timeoutSeconds !== 'number') spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: DEFAULT_CLIENT_IP_AFFINITY_SECONDS } };
}

function defaultPorts(spec: Json): void {
  for (const port of objectsOf(spec, 'ports')) {
    setDefaultStr(port, 'protocol', 'TCP');
    // 0 and '' both mean "the same number as the service port".
    if (port.targetPort === undefined || port.targetPort === null || port.targetPort === 0 || port.targetPort === '') port.targetPort = port.port;
  }
}

function isHeadless(spec: Json): boolean {
  return Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 1 && spec.clusterIPs[0] === CLUSTER_IP_NONE;
}

/**
 * The IP family fields a single-stack IPv4 cluster fills in. A headless
 * service without a selector is not load-balanced by anything, so upstream
 * lets it take every family there is (RequireDualStack).
 */
function defaultIPFamilies(spec: Json): void {
  if (spec.type === 'ExternalName') return;
  const selectorless = !isObject(spec.selector) || Object.keys(spec.selector).length === 0;
  setDefault(spec, 'ipFamilyPolicy', isHeadless(spec) && selectorless ? 'RequireDualStack' : 'SingleStack');
  if (Array.isArray(spec.ipFamilies) && spec.ipFamilies.length > 0) return;
  if (spec.ipFamilies !== undefined && spec.ipFamilies !== null && !Array.isArray(spec.ipFamilies)) return;
  const ips = Array.isArray(spec.clusterIPs) ? spec.clusterIPs.filter((ip): ip is string => typeof ip === 'string' && ip !== CLUSTER_IP_NONE) : [];
  spec.ipFamilies = ips.length > 0 ? ips.map((ip) => (ip.includes(':') ? 'IPv6' : 'IPv4')) : ['IPv4'];
}

function defaultService(svc: KubeObject): void {
  const spec = ensureSpec(svc);
  if (!spec) return;
  defaultAffinity(spec);
  setDefaultStr(spec, 'type', 'ClusterIP');
  defaultPorts(spec);
  if (externallyAccessible(spec)) setDefaultStr(spec, 'externalTrafficPolicy', 'Cluster');
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') setDefault(spec, 'internalTrafficPolicy', 'Cluster');
  if (spec.type === 'LoadBalancer') setDefault(spec, 'allocateLoadBalancerNodePorts', true);
  // Old clients set only clusterIP: keep the plural field in step (upstream's normalizeClusterIPs).
  const clusterIP = strOf(spec, 'clusterIP');
  if (clusterIP !== '' && (spec.clusterIPs === undefined || spec.clusterIPs === null || (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 0))) {
    spec.clusterIPs = [clusterIP];
  }
  defaultIPFamilies(spec);
}

// ---- validation ----

function validateServicePort(port: Json, path: FieldPath, requireName: boolean, names: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  const name = strAt(port, 'name', path.child('name'), errs);
  if (requireName && name === '') errs.push(required(path.child('name'), ''));
  else if (name) {
    errs.push(...isDNS1123Label(name).map((m) => invalid(path.child('name'), name, m)));
    if (names.has(name)) errs.push(duplicate(path.child('name'), name));
    else names.add(name);
  }
  const number = intAt(port, 'port', path.child('port'), errs);
  if (number !== null) errs.push(...isValidPortNum(number ?? 0).map((m) => invalid(path.child('port'), number ?? 0, m)));
  const protocol = strAt(port, 'protocol', path.child('protocol'), errs);
  if (protocol !== null) errs.push(...oneOf(protocol, path.child('protocol'), PROTOCOLS));
  errs.push(...validatePortNumOrName(port.targetPort, path.child('targetPort')));
  const appProtocol = strAt(port, 'appProtocol', path.child('appProtocol'), errs);
  if (port.appProtocol !== undefined && appProtocol !== null) errs.push(...isQualifiedName(appProtocol).map((m) => invalid(path.child('appProtocol'), appProtocol, m)));
  return errs;
}

/** Per-port rules that depend on the type, and the uniqueness of (protocol, port) pairs. */
function validatePortSet(spec: Json, ports: [Json, number][], path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const nodePorts = new Set<string>();
  const pairs = new Set<string>();
  for (const [port, i] of ports) {
    const nodePort = typeof port.nodePort === 'number' ? port.nodePort : 0;
    if (spec.type === 'ClusterIP' && nodePort !== 0) errs.push(forbidden(path.index(i).child('nodePort'), "may not be used when `type` is 'ClusterIP'"));
    else if (nodePort !== 0 && (nodePort < NODE_PORT_MIN || nodePort > NODE_PORT_MAX)) {
      errs.push(invalid(path.index(i).child('nodePort'), nodePort, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_MIN}-${NODE_PORT_MAX}`));
    }
    const nodeKey = `${String(port.protocol)}/${nodePort}`;
    if (nodePort !== 0 && nodePorts.has(nodeKey)) errs.push(duplicate(path.index(i).child('nodePort'), nodePort));
    if (nodePort !== 0) nodePorts.add(nodeKey);
    const pair = `${String(port.protocol)}/${String(port.port)}`;
    if (pairs.has(pair)) errs.push(duplicate(path.index(i), { port: port.port, protocol: port.protocol }));
    pairs.add(pair);
  }
  return errs;
}

function validateTypeRules(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const type = spec.type;
  if ((type === 'LoadBalancer' || type === 'NodePort') && isHeadless(spec)) {
    errs.push(invalid(path.child('clusterIPs').index(0), CLUSTER_IP_NONE, `may not be set to 'None' for ${type} services`));
  }
  if (type !== 'ExternalName') return;
  if (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0) errs.push(forbidden(path.child('clusterIPs'), 'may not be set for ExternalName services'));
  if (Array.isArray(spec.ipFamilies) && spec.ipFamilies.length > 0) errs.push(forbidden(path.child('ipFamilies'), 'may not be set for ExternalName services'));
  if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null) errs.push(forbidden(path.child('ipFamilyPolicy'), 'may not be set for ExternalName services'));
  // The name is a CNAME target; a trailing dot marks it fully qualified.
  const cname = (strAt(spec, 'externalName', path.child('externalName'), errs) ?? '').replace(/\.$/, '');
  if (cname === '') errs.push(required(path.child('externalName'), ''));
  else errs.push(...isDNS1123Subdomain(cname).map((m) => invalid(path.child('externalName'), cname, m)));
}

function validateAffinity(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const affinity = strAt(spec, 'sessionAffinity', path.child('sessionAffinity'), errs);
  if (affinity !== null) errs.push(...oneOf(affinity, path.child('sessionAffinity'), AFFINITIES));
  const configPath = path.child('sessionAffinityConfig');
  if (affinity === 'ClientIP') {
    const timeout = objOf(objOf(spec, 'sessionAffinityConfig') ?? {}, 'clientIP')?.timeoutSeconds;
    if (typeof timeout !== 'number') errs.push(required(configPath.child('clientIP', 'timeoutSeconds'), 'when session affinity type is ClientIP'));
    else if (timeout <= 0 || timeout > 86400) errs.push(invalid(configPath.child('clientIP', 'timeoutSeconds'), timeout, 'must be greater than 0 and less than 86400'));
  } else if (affinity === 'None' && spec.sessionAffinityConfig) {
    errs.push(forbidden(configPath, 'must not be set when session affinity is None'));
  }
}

/** Upstream's ValidateServiceClusterIPsRelatedFields. */
function validateClusterIPs(spec: Json, path: FieldPath, errs: FieldError[]): void {
  if (spec.type === 'ExternalName') return;
  const ipsPath = path.child('clusterIPs');
  const clusterIP = strAt(spec, 'clusterIP', path.child('clusterIP'), errs) ?? '';
  const ips = (arrAt(spec, 'clusterIPs', ipsPath, errs) ?? []).filter((ip): ip is string => typeof ip === 'string');
  if (clusterIP !== '' && ips.length === 0) errs.push(required(ipsPath, ''));
  else if (clusterIP !== '' && ips[0] !== clusterIP) errs.push(invalid(ipsPath, ips, 'first value must match `clusterIP`'));
  else if (clusterIP === '' && ips.length > 0) errs.push(invalid(ipsPath, ips, 'must be empty when `clusterIP` is not specified'));
  const families = (arrAt(spec, 'ipFamilies', path.child('ipFamilies'), errs) ?? []).map(String);
  families.forEach((f, i) => {
    if (!IP_FAMILIES.includes(f)) errs.push(notSupported(path.child('ipFamilies').index(i), f, IP_FAMILIES));
    if (families.indexOf(f) < i) errs.push(duplicate(path.child('ipFamilies').index(i), f));
  });
  const policy = strAt(spec, 'ipFamilyPolicy', path.child('ipFamilyPolicy'), errs);
  if (spec.ipFamilyPolicy !== undefined && policy !== null && !IP_FAMILY_POLICIES.includes(policy)) errs.push(notSupported(path.child('ipFamilyPolicy'), policy, IP_FAMILY_POLICIES));
  let bad = false;
  ips.forEach((ip, i) => {
    if (i === 0 && ip === CLUSTER_IP_NONE) {
      if (ips.length > 1) errs.push(invalid(ipsPath, ips, "'None' must be the first and only value"));
      bad ||= ips.length > 1;
      return;
    }
    const e = isValidIP(ipsPath.index(i), ip);
    bad ||= e.length > 0;
    errs.push(...e);
  });
  if (ips.length > 2) errs.push(invalid(ipsPath, ips, 'may only hold up to 2 values'));
  if (bad) return;
  if (ips.length === 2 && ips[0]!.includes(':') === ips[1]!.includes(':')) errs.push(invalid(ipsPath, ips, 'may specify no more than one IP for each IP family'));
  if (isHeadless(spec)) return;
  ips.forEach((ip, i) => {
    if (families[i] === 'IPv4' && ip.includes(':')) errs.push(invalid(ipsPath.index(i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
    if (families[i] === 'IPv6' && !ip.includes(':')) errs.push(invalid(ipsPath.index(i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
  });
}

function validateExternalIPs(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const list = arrAt(spec, 'externalIPs', path.child('externalIPs'), errs) ?? [];
  list.forEach((ip, i) => {
    const p = path.child('externalIPs').index(i);
    const e = isValidIP(p, String(ip));
    errs.push(...(e.length > 0 ? e : validateNonSpecialIP(String(ip), p)));
  });
}

function validateLoadBalancerFields(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const isLB = spec.type === 'LoadBalancer';
  const ranges = arrAt(spec, 'loadBalancerSourceRanges', path.child('LoadBalancerSourceRanges'), errs) ?? [];
  if (ranges.length > 0) {
    // Upstream's capital L, and its tolerance for padded values.
    const rangesPath = path.child('LoadBalancerSourceRanges');
    if (!isLB) errs.push(forbidden(rangesPath, "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...isValidCIDR(rangesPath.index(i), String(r).trim())));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== null && !isLB) {
    errs.push(forbidden(path.child('allocateLoadBalancerNodePorts'), "may only be used when `type` is 'LoadBalancer'"));
  }
}

function validateTrafficPolicies(spec: Json, path: FieldPath, errs: FieldError[]): void {
  const external = strAt(spec, 'externalTrafficPolicy', path.child('externalTrafficPolicy'), errs);
  if (!externallyAccessible(spec)) {
    if (external) errs.push(invalid(path.child('externalTrafficPolicy'), external, 'may only be set for externally-accessible services'));
  } else if (external !== null) {
    errs.push(...oneOf(external, path.child('externalTrafficPolicy'), TRAFFIC_POLICIES));
  }
  const needsHealthCheck = spec.type === 'LoadBalancer' && external === 'Local';
  const healthPort = intAt(spec, 'healthCheckNodePort', path.child('healthCheckNodePort'), errs);
  if (!needsHealthCheck && healthPort) {
    errs.push(invalid(path.child('healthCheckNodePort'), healthPort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  }
  const internal = strAt(spec, 'internalTrafficPolicy', path.child('internalTrafficPolicy'), errs);
  if (spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) {
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') errs.push(required(path.child('internalTrafficPolicy'), ''));
  } else if (internal !== null && !TRAFFIC_POLICIES.includes(internal)) {
    errs.push(notSupported(path.child('internalTrafficPolicy'), internal, TRAFFIC_POLICIES));
  }
  const distribution = strAt(spec, 'trafficDistribution', path.child('trafficDistribution'), errs);
  if (distribution && distribution !== 'PreferClose') errs.push(notSupported(path.child('trafficDistribution'), distribution, ['PreferClose']));
}

/** Upstream's ValidateService, in its order. */
function validateService(svc: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const path = FieldPath.root('spec');
  const spec = objAt(svc, 'spec', path, errs) ?? {};
  const portList = arrAt(spec, 'ports', path.child('ports'), errs) ?? [];
  if (portList.length === 0 && !isHeadless(spec) && spec.type !== 'ExternalName') errs.push(required(path.child('ports'), ''));
  validateTypeRules(spec, path, errs);
  const ports = objectsIn(portList, path.child('ports'), errs);
  const names = new Set<string>();
  for (const [port, i] of ports) errs.push(...validateServicePort(port, path.child('ports').index(i), portList.length > 1, names));
  const selector = strMapAt(spec, 'selector', path.child('selector'), errs);
  if (selector) errs.push(...validateLabels(selector, path.child('selector')));
  validateAffinity(spec, path, errs);
  validateClusterIPs(spec, path, errs);
  validateExternalIPs(spec, path, errs);
  const type = strAt(spec, 'type', path.child('type'), errs);
  if (type !== null) errs.push(...oneOf(type, path.child('type'), SERVICE_TYPES));
  errs.push(...validatePortSet(spec, ports, path.child('ports')));
  validateLoadBalancerFields(spec, path, errs);
  validateTrafficPolicies(spec, path, errs);
  return errs;
}

function clusterIPsOf(spec: Json): string[] {
  return Array.isArray(spec.clusterIPs) ? spec.clusterIPs.map(String) : [];
}

/**
 * Cluster IPs may be added (dual-stack upgrade) or the secondary dropped
 * (downgrade, with SingleStack), but the primary never changes, except when
 * the service turns into or out of an ExternalName.
 */
function validateClusterIPsUpdate(spec: Json, old: Json): FieldError[] {
  if (spec.type === 'ExternalName' || old.type === 'ExternalName') return [];
  if (isHeadless(spec) && isHeadless(old)) return [];
  const now = clusterIPsOf(spec);
  const before = clusterIPsOf(old);
  const path = FieldPath.root('spec', 'clusterIPs');
  if (now.length === before.length) return before.flatMap((ip, i) => (ip === now[i] ? [] : [invalid(path.index(i), now, 'may not change once set')]));
  const errs: FieldError[] = [];
  if (now.length < before.length) {
    if (now.length === 0) errs.push(invalid(path.index(0), now, 'primary clusterIP can not be unset'));
    if (now.length > 0 && now[0] !== before[0]) errs.push(invalid(path.index(0), now, 'may not change once set'));
    if (now.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
      errs.push(invalid(FieldPath.root('spec', 'ipFamilyPolicy'), spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
    }
  } else if (before.length > 0 && now[0] !== before[0]) {
    errs.push(invalid(path.index(0), now, 'may not change once set'));
  }
  return errs;
}

function validateServiceUpdate(svc: KubeObject, old: KubeObject): FieldError[] {
  const spec = objOf(svc, 'spec') ?? {};
  const oldSpec = objOf(old, 'spec') ?? {};
  const errs = validateClusterIPsUpdate(spec, oldSpec);
  const needsHealthCheck = (s: Json) => s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local';
  if (needsHealthCheck(spec) && needsHealthCheck(oldSpec) && spec.healthCheckNodePort !== oldSpec.healthCheckNodePort) {
    errs.push(forbidden(FieldPath.root('spec', 'healthCheckNodePort'), 'field is immutable'));
  }
  return errs;
}

const NODE_PORT_TYPES = new Set(['NodePort', 'LoadBalancer']);

/**
 * A Service leaving NodePort/LoadBalancer for ClusterIP loses the node ports
 * it still carries unchanged from before (the writer only changed the type),
 * as upstream's type-dependent field dropping does.
 */
function dropNodePortsOnTypeChange(spec: Json, oldSpec: Json): void {
  if (!NODE_PORT_TYPES.has(String(oldSpec.type)) || NODE_PORT_TYPES.has(String(spec.type ?? 'ClusterIP'))) return;
  const oldPorts = Array.isArray(oldSpec.ports) ? oldSpec.ports : [];
  if (!Array.isArray(spec.ports)) return;
  spec.ports.forEach((p: unknown, i: number) => {
    if (!isObject(p) || p.nodePort === undefined) return;
    const o = oldPorts[i];
    if (isObject(o) && o.nodePort === p.nodePort) delete p.nodePort;
  });
  for (const k of ['externalTrafficPolicy', 'healthCheckNodePort', 'allocateLoadBalancerNodePorts', 'loadBalancerClass']) {
    if (spec[k] !== undefined && deepEqual(spec[k], oldSpec[k])) delete spec[k];
  }
}

registerStrategy('v1/Service', {
  prepareForCreate(svc: KubeObject) {
    // LoadBalancerStatus is a struct upstream: a new service reports an empty one.
    svc.status = { loadBalancer: {} };
    ensureObj(svc, 'spec');
  },
  prepareForUpdate(svc: KubeObject, old: KubeObject) {
    // An update that leaves out the allocated cluster IPs keeps them (kubectl apply
    // of a manifest without clusterIP must not ask for a new one), as upstream.
    const spec = objOf(svc, 'spec');
    const oldSpec = objOf(old, 'spec');
    if (!spec || !oldSpec || spec.type === 'ExternalName' || oldSpec.type === 'ExternalName') return;
    if ((spec.clusterIP === undefined || spec.clusterIP === '') && typeof oldSpec.clusterIP === 'string' && oldSpec.clusterIP !== '') {
      spec.clusterIP = oldSpec.clusterIP;
      if (Array.isArray(oldSpec.clusterIPs) && (spec.clusterIPs === undefined || (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 0))) spec.clusterIPs = [...oldSpec.clusterIPs];
    }
    for (const k of ['ipFamilies', 'ipFamilyPolicy'] as const) if (spec[k] === undefined && oldSpec[k] !== undefined) spec[k] = structuredClone(oldSpec[k]);
    dropNodePortsOnTypeChange(spec, oldSpec);
  },
  default: defaultService,
  validate: validateService,
  validateUpdate: validateServiceUpdate,
});

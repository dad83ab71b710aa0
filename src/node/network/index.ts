/** Pod networking of a node: the CNI configuration containerd uses for its pods. */
export { CNI_ERRORS, CNI_VERSION, CONFLIST_FILE, CniError, DEFAULT_BRIDGE_NAME, DEFAULT_NETWORK_NAME, cniConflist, parseCidr, writeCniConfig } from './cni.js';
export type { CniConfigOptions, CniErrorCode, ParsedCidr } from './cni.js';
export { MASQ_CHAIN, RouteManager, cleanupMasquerade, ensureMasquerade, runOnHost, type RouteManagerOptions } from './routes.js';

/**
 * ServiceAccounts (v1): upstream neither defaults nor validates anything
 * beyond the metadata every kind shares (the name is a DNS subdomain), so
 * the strategy is empty. Registered anyway, so that the absence is a
 * decision on record rather than an omission.
 */
import { registerStrategy } from '../strategy.js';

registerStrategy('v1/ServiceAccount', {});

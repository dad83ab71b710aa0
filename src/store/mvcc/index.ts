/** The MVCC state machine and its watch hub: the public surface of src/store/mvcc. */
export {
  MvccStore,
  DEFAULT_COMPACTION_BATCH_EVENTS,
  DEFAULT_MAX_WATCHERS,
  DEFAULT_QUOTA_BYTES,
  DEFAULT_SNAPSHOT_CHUNK_BYTES,
  DEFAULT_WATCH_BUFFER_EVENTS,
} from './mvcc-store.js';
export type { ApplyEntry, ApplyResult, MvccStoreOptions, StoreSnapshot } from './mvcc-store.js';
export type { WatchBatch, WatchRequest, WatchStats, Watcher } from './watch-hub.js';
export { SnapshotFormatError } from './snapshot-codec.js';
export { MAX_LEASE_TTL_SECONDS } from './apply-batch.js';

/**
 * The datastore: where resources live and how every process learns about changes.
 * Embedded LMDB by default (one machine, no set-up), etcd v3 for clusters. See docs/datastore.md.
 */
export * from "./types.js";
export { isBuiltinTier, describeKey, type StoreHooks } from "./common.js";
export { KEY_PREFIX, resourceKey, kindPrefix, parseKey, kindSegment } from "./keys.js";
export { EmbeddedStore, EMBEDDED_DB_FILE, type EmbeddedStoreOptions } from "./embedded-store.js";
// EtcdStore itself is reached through openStore (loaded on demand); import "./etcd-store.js" directly
// only where the etcd client must be loaded eagerly.
export type { EtcdStoreOptions } from "./etcd-store.js";
export { resolveDatastoreConfig, defaultDataDir, DEFAULT_CONFIG_FILE, type DatastoreConfig, type DatastoreOverrides } from "./config.js";
export { openStore, type OpenStoreOptions } from "./open.js";
export { startEtcd, etcdAvailable, ETCD_BINARY, type EtcdCluster, type EtcdMember, type EtcdTestTls } from "./etcd-testing.js";

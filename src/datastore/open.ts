import { applyDefaults, validateResource } from "../validate/index.js";
import type { StoreHooks } from "./common.js";
import type { DatastoreConfig } from "./config.js";
import { EmbeddedStore } from "./embedded-store.js";
import type { Store } from "./types.js";

export interface OpenStoreOptions extends StoreHooks {
  /** Embedded only: change-log length kept for resuming watchers. */
  historyLimit?: number;
}

/**
 * Opens the configured backend. Every write is defaulted and validated with src/validate unless
 * other hooks are given (tests of the store itself inject their own).
 */
export async function openStore(config: DatastoreConfig, opts: OpenStoreOptions = {}): Promise<Store> {
  const hooks: StoreHooks = {
    validate: opts.validate ?? validateResource,
    applyDefaults: opts.applyDefaults ?? ((r) => applyDefaults(r)),
  };
  switch (config.type) {
    case "embedded":
      return EmbeddedStore.open({ ...hooks, dataDir: config.dataDir, historyLimit: opts.historyLimit });
    case "etcdv3": {
      // Loaded on demand: the etcd client (gRPC + protobuf) costs ~0.5 s of CPU at start-up,
      // which every embedded-datastore CLI call would otherwise pay.
      const { EtcdStore } = await import("./etcd-store.js");
      return EtcdStore.open({
        ...hooks,
        endpoints: config.endpoints,
        caCertFile: config.caCertFile,
        certFile: config.certFile,
        keyFile: config.keyFile,
        caCert: config.caCert,
        cert: config.cert,
        key: config.key,
        username: config.username,
        password: config.password,
      });
    }
  }
}

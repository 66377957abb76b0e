/** Renderers: dataplane model → backend text. Each backend is a namespace. */
export * as nft from "./nft/index.js";
export * as iptables from "./iptables/index.js";

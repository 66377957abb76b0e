export * from "./errors.js";
export { exec, wrapNetns, DEFAULT_TIMEOUT_MS, type ExecOptions, type ExecResult } from "./exec.js";
export { nft, nftApply, nftApplyJson, nftApplyText, nftCheck, nftListTable, nftListTableText, type NftOptions } from "./nft.js";
export { conntrackList, conntrackDelete, type ConntrackFilter } from "./conntrack.js";
export { NftSession, SessionUnavailableError, type NftSessionOptions } from "./nft-session.js";
export { SetShapes, encodeChainQuery, encodeElementBatch, encodeNftBatch, parseChainHandles, renamedChains, type RuleBatchOptions } from "./nfnl.js";
export type { EncodedBatch } from "./netlink.js";
export { NetlinkRefusedError, NfnlRelay, RelayPath, RelayUnavailableError, defaultRelayPath, type NfnlRelayOptions } from "./nfnl-relay.js";
export { IpsetShapes, encodeIpsetLines, encodeIpsetProtocolQuery, ipsetErrno } from "./ipset-nl.js";

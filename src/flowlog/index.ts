export * from "./types.js";
export { toFlowLogLine, formatFlowLogLine } from "./flowlog.js";
export { UlogdReader, parseUlogdJson, ulogdConfig, ULOGD_PLUGIN_DIR, type UlogdReaderOptions } from "./ulogd.js";

/**
 * The node agent: datastore watch → incremental calculation (only what concerns this node) →
 * dataplane model → applier. See docs/agent.md.
 */
export { Agent, type AgentOptions, type AgentStatus, type FlowSource } from "./agent.js";
export { AgentMetrics } from "./metrics.js";
export { startHealthServer, parseListen, type HealthServer } from "./http.js";
export { FlowLogWriter, readFlowLog, followFlowLog, flowLogPath, DEFAULT_FLOW_LOG_MAX_BYTES, type FlowRecord } from "./flow-log-file.js";
export * from "./calc/index.js";

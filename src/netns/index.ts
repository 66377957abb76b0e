export * from "./namespace.js";
export { caliInterfaceName } from "./cni.js";
export { Agent, AgentError } from "./agent-client.js";
export { Topology, UnsupportedProbe, type NodeInfo, type PodInfo, type ProbeRequest, type ProbeResult, type ProbeTarget, type TopologySpec } from "./topology.js";

/** The lab: real namespaces, agents and packets for a set of manifests (see docs/lab.md). */
export { labUp, labDown, labRequest, labWatch, listLabs, labState, LabError, alive as processRunning } from "./lab.js";
export type { ChangeEvent } from "./daemon.js";

/** Runs the lab daemon (loaded on demand: the client verbs — probe, status, down — never need it). */
export async function runLabDaemon(...args: Parameters<typeof import("./daemon.js").runLabDaemon>): Promise<void> {
  const daemon = await import("./daemon.js");
  return daemon.runLabDaemon(...args);
}
export { checkLabName, labPrefix, labsDir, type LabSpec, type LabState, type LabPod, type LabNode } from "./state.js";

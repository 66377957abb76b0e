/** The lab: real namespaces, agents and packets for a set of manifests (see docs/lab.md). */
export { labUp, labDown, labRequest, labWatch, listLabs, labState, LabError, alive as processRunning } from "./lab.js";
export { LabDaemon, runLabDaemon, datastoreArgs, type ChangeEvent } from "./daemon.js";
export { checkLabName, labPrefix, labsDir, type LabSpec, type LabState, type LabPod, type LabNode } from "./state.js";

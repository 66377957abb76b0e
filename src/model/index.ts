export * from "./issue.js";
export * from "./resources.js";
export * from "./kinds.js";

export * from "./issue.js";
export * from "./resources.js";
export * from "./kinds.js";
export * from "./sorted.js";
export * from "./same-json.js";
export * from "./chunked-list.js";
export * from "./multi-map.js";
export * from "./addr.js";

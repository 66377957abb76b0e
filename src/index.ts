/** tortie's library surface. Other packages import from "tortie". */
export * from "./model/index.js";
export * from "./rule/index.js";
export * from "./selector/index.js";
export * from "./validate/index.js";
export * from "./convert/index.js";
export * as conformance from "./conformance/index.js";
export * from "./engine/index.js";
export * from "./datastore/index.js";

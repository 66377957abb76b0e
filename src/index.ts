/** tortie's library surface. Other packages import from "tortie". */
export * from "./model/index.js";
export * from "./rule/index.js";
export * from "./selector/index.js";
export * from "./validate/index.js";
export * from "./convert/index.js";
export * as conformance from "./conformance/index.js";
export * from "./engine/index.js";
export * from "./datastore/index.js";
export * as dataplane from "./dataplane/index.js";
export * as render from "./render/index.js";
export * as apply from "./apply/index.js";
export * as kernel from "./kernel/index.js";
export * as netns from "./netns/index.js";
export * as flowlog from "./flowlog/index.js";

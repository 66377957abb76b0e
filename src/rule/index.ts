export * from "./ir.js";
export * from "./protocol.js";
export * from "./cidr.js";
export * from "./order.js";
export * from "./match.js";
export * from "./match-classes.js";
export * from "./member-delta.js";
export * from "./ir-changes.js";

export * from "./namespace.js";

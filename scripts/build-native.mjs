#!/usr/bin/env node
// Builds native/nfnl-relay (run by `npm install`). Without a C compiler the relay is absent and the
// nft backend sends set-element changes through nft instead (slower, same result): a warning, not
// a failed install.
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "native", "nfnl-relay.c");
const out = join(root, "native", "build", "nfnl-relay");
if (process.platform !== "linux") process.exit(0);
mkdirSync(dirname(out), { recursive: true });
const cc = process.env.CC || "cc";
const tmp = `${out}.${process.pid}`;
const r = spawnSync(cc, ["-O2", "-Wall", "-o", tmp, src], { stdio: ["ignore", "inherit", "inherit"] });
if (r.error || r.status !== 0) {
  console.warn(`tortie: could not build ${src} with ${cc} (${r.error?.message ?? `exit ${r.status}`}); set-element updates will go through nft`);
  process.exit(0);
}
renameSync(tmp, out);

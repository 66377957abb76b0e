/** `tortie patch`: the action (registration, options and help are in patch.ts). */
import { DatastoreError, describeKey } from "../../datastore/index.js";
import type { DatastoreOverrides } from "../../datastore/index.js";
import type { Resource } from "../../model/index.js";
import { CliError, openStoreFromOptions } from "../datastore-config.js";
import { failLine, green, io, kindFromArg, namespaceFor, printIssues, withStore } from "../resource-io.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * JSON merge patch (RFC 7386): objects merge key by key, null removes a key, anything else
 * (arrays included) replaces. calicoctl uses Kubernetes' strategic merge, which for Calico types
 * (no patch-merge keys) behaves the same way.
 */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: { [k: string]: Json } = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const RETRIES = 5;

export async function runPatch(kindArg: string, name: string, opts: DatastoreOverrides & { patch: string; namespace?: string }): Promise<void> {
  const kind = kindFromArg(kindArg);
  const ns = namespaceFor(kind, opts.namespace);
  let patch: Json;
  try {
    patch = JSON.parse(opts.patch) as Json;
  } catch (err) {
    throw new CliError(`the patch is not valid JSON: ${(err as Error).message}`);
  }
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) throw new CliError("the patch must be a JSON object");
  const id = describeKey(kind.id, ns, name);
  await withStore(
    () => openStoreFromOptions(opts),
    async (store) => {
      for (let attempt = 0; ; attempt++) {
        const cur = await store.get(kind.id, ns, name);
        if (!cur) return failLine(`resource does not exist: ${id}`);
        const next = mergePatch(cur as unknown as Json, patch) as unknown as Resource;
        const changed = ["apiVersion", "kind"].filter((k) => (next as unknown as Record<string, unknown>)[k] !== (cur as unknown as Record<string, unknown>)[k]);
        if (next.metadata?.name !== cur.metadata.name || next.metadata?.namespace !== cur.metadata.namespace) changed.push("metadata.name/namespace");
        if (changed.length) return failLine(`the patch must not change ${changed.join(", ")}`);
        // The stored version: a concurrent change makes this a conflict, and we re-apply the patch.
        next.metadata.resourceVersion = cur.metadata.resourceVersion;
        try {
          await store.update(next);
          io.out(`${green("Successfully")} patched 1 '${kind.kind}' resource\n`);
          return;
        } catch (err) {
          if (err instanceof DatastoreError && err.code === "conflict" && attempt < RETRIES) continue;
          failLine(`Failed to patch ${id}: ${(err as Error).message}`);
          if (err instanceof DatastoreError) printIssues(err.issues.filter((i) => i.severity === "error"));
          return;
        }
      }
    },
  );
}


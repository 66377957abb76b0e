/** `tortie label`: the action (registration, options and help are in label.ts). */
import { DatastoreError, describeKey } from "../../datastore/index.js";
import type { DatastoreOverrides } from "../../datastore/index.js";
import type { Resource } from "../../model/index.js";
import { CliError, openStoreFromOptions } from "../datastore-config.js";
import { failLine, green, io, kindFromArg, namespaceFor, printIssues, withStore } from "../resource-io.js";

export interface LabelChange {
  set: Array<[string, string]>;
  remove: string[];
}

/** Parses `key=value` (set) and `key-` (remove) arguments, kubectl/calicoctl style. */
export function parseLabelArgs(args: readonly string[], removeOpt: readonly string[] = []): LabelChange {
  const set: Array<[string, string]> = [];
  const remove: string[] = [...removeOpt];
  for (const a of args) {
    const eq = a.indexOf("=");
    if (eq > 0) set.push([a.slice(0, eq), a.slice(eq + 1)]);
    else if (a.endsWith("-") && a.length > 1 && eq === -1) remove.push(a.slice(0, -1));
    else throw new CliError(`invalid label '${a}': use key=value to set or key- to remove`);
  }
  if (!set.length && !remove.length) throw new CliError("no labels given: use key=value to set, key- or --remove key to remove");
  const keys = [...set.map(([k]) => k), ...remove];
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup !== undefined) throw new CliError(`label '${dup}' is given more than once`);
  return { set, remove };
}

const RETRIES = 5;

export async function runLabel(kindArg: string, name: string, labelArgs: string[], opts: DatastoreOverrides & { overwrite?: boolean; remove?: string[]; namespace?: string }): Promise<void> {
  const kind = kindFromArg(kindArg);
  const ns = namespaceFor(kind, opts.namespace);
  const change = parseLabelArgs(labelArgs, opts.remove ?? []);
  const id = describeKey(kind.id, ns, name);
  await withStore(
    () => openStoreFromOptions(opts),
    async (store) => {
      for (let attempt = 0; ; attempt++) {
        const cur = await store.get(kind.id, ns, name);
        if (!cur) return failLine(`resource does not exist: ${id}`);
        const labels = { ...(cur.metadata.labels ?? {}) };
        for (const [k, v] of change.set) {
          if (labels[k] !== undefined && labels[k] !== v && !opts.overwrite) {
            return failLine(`Failed to label ${id}: label '${k}' is already set to '${labels[k]}'; use --overwrite to change it`);
          }
          labels[k] = v;
        }
        for (const k of change.remove) {
          if (labels[k] === undefined) return failLine(`Failed to label ${id}: label '${k}' is not set`);
          delete labels[k];
        }
        const next = { ...cur, metadata: { ...cur.metadata, labels } } as Resource;
        if (Object.keys(labels).length === 0) delete next.metadata.labels;
        try {
          await store.update(next);
          const what = [...change.set.map(([k, v]) => `${k}=${v}`), ...change.remove.map((k) => `${k}-`)].join(" ");
          io.out(`${green("Successfully")} updated labels of ${id}: ${what}\n`);
          return;
        } catch (err) {
          if (err instanceof DatastoreError && err.code === "conflict" && attempt < RETRIES) continue;
          failLine(`Failed to label ${id}: ${(err as Error).message}`);
          if (err instanceof DatastoreError) printIssues(err.issues.filter((i) => i.severity === "error"));
          return;
        }
      }
    },
  );
}


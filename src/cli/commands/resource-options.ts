/**
 * Options shared by the resource verbs, so every verb spells them the same way. Imported at
 * registration: commander and types only (see docs/cli-startup.md).
 */
import { Option, type Command } from "commander";
import type { DatastoreOverrides } from "../../datastore/index.js";
import { addDatastoreOptions } from "../datastore-config.js";

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

export function addFileOptions(cmd: Command, required: boolean): Command {
  const f = new Option("-f, --filename <file>", "file, directory (read recursively) or - for stdin; repeatable").argParser(collect);
  if (required) f.makeOptionMandatory(true);
  return cmd.addOption(f).addOption(new Option("-R, --recursive", "accepted for calicoctl compatibility: directories are always read recursively").hideHelp());
}

export function addNamespaceOption(cmd: Command): Command {
  return cmd.addOption(new Option("-n, --namespace <ns>", "namespace for namespaced resources (default: default)"));
}

export function addCommonStoreOptions(cmd: Command): Command {
  return addDatastoreOptions(cmd);
}

export interface FileOpts extends DatastoreOverrides {
  filename?: string[];
  namespace?: string;
}

/** `get -o` formats; here rather than in resource-io.ts so that registering `get` stays light. */
export type OutputFormat = "ps" | "wide" | "yaml" | "json" | "name";
export const OUTPUT_FORMATS: OutputFormat[] = ["ps", "wide", "yaml", "json", "name"];

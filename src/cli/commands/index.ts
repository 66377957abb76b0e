/**
 * The list of verbs, in help order. Each command module exports `register(program)`.
 * Add one import and one entry per verb.
 */
import type { Command } from "commander";
import { register as validate } from "./validate.js";
import { register as apply } from "./apply.js";
import { register as create } from "./create.js";
import { register as replace } from "./replace.js";
import { register as del } from "./delete.js";
import { register as get } from "./get.js";
import { register as patch } from "./patch.js";
import { register as label } from "./label.js";
import { register as explain } from "./explain.js";
import { register as matrix } from "./matrix.js";
import { register as diff } from "./diff.js";
import { register as convert } from "./convert.js";
import { register as agent } from "./agent.js";
import { register as logs } from "./logs.js";
import { register as lab } from "./lab.js";
import { register as demo } from "./demo.js";

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [validate, apply, create, replace, del, get, patch, label, explain, matrix, diff, convert, agent, logs, lab, demo];

/**
 * The list of verbs, in help order. Each command module exports `register(program)`.
 * Add one import and one entry per verb.
 */
import type { Command } from "commander";
import { register as validate } from "./validate.js";

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [validate];

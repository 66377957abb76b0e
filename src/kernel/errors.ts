/**
 * Failures of kernel tools (nft, conntrack, ip) as typed errors. Callers branch on `code`, never on
 * message text; the classification of nft/iproute2 messages lives here only.
 */
export type KernelErrorCode =
  /** The tool is not installed (spawn ENOENT). */
  | "TOOL_MISSING"
  /** The object does not exist (table, chain, set element, namespace). */
  | "NOT_FOUND"
  /** The object exists already (create of an existing object). */
  | "EXISTS"
  /** The object is in use (delete of a referenced chain or set). */
  | "BUSY"
  /** Not allowed (not root, or a namespace we cannot enter). */
  | "PERMISSION"
  /** The kernel or nft rejected the input (syntax, type mismatch, conflicting matches). */
  | "INVALID"
  /** The command did not finish in time and was killed. */
  | "TIMEOUT"
  /** Anything else: a non-zero exit we cannot classify. */
  | "FAILED";

export class KernelError extends Error {
  override readonly name = "KernelError";
  constructor(
    readonly code: KernelErrorCode,
    message: string,
    readonly command: string[] = [],
    readonly exitCode: number | null = null,
    readonly stderr = "",
  ) {
    super(message);
  }
}

export function isKernelError(e: unknown, code?: KernelErrorCode): e is KernelError {
  return e instanceof KernelError && (code === undefined || e.code === code);
}

/** Maps a tool's stderr to an error code (nft and iproute2 print strerror() texts). */
export function classifyStderr(stderr: string): KernelErrorCode {
  if (/No such file or directory|does not exist|Cannot open network namespace/i.test(stderr)) return "NOT_FOUND";
  if (/File exists/i.test(stderr)) return "EXISTS";
  if (/Device or resource busy/i.test(stderr)) return "BUSY";
  if (/Operation not permitted|Permission denied/i.test(stderr)) return "PERMISSION";
  if (/syntax error|Error: |Invalid argument|conflicting/i.test(stderr)) return "INVALID";
  return "FAILED";
}

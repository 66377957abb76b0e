/**
 * The embedded store's cross-process writer gate: an open-file-description lock (`F_OFD_SETLKW`,
 * through fs-native-extensions) on a file of its own beside the database, held around every LMDB
 * write transaction and around opening the environment.
 *
 * Why (docs/datastore.md, "The writer gate"): LMDB's write mutex is a robust pthread mutex in the
 * lock file. Robust mutexes recover from a killed *owner*, but not from a killed *waiter* that the
 * unlocker had already woken: the hand-off happens in user space, so if the woken process is
 * SIGKILLed before it re-marks the futex as contended and the previous owner re-takes the lock on
 * the fast path, every other sleeper stays asleep for good. Under the gate no process ever sleeps
 * on LMDB's futex (the holder is alone on it); waiters sleep in the kernel's lock queue instead,
 * which hands the lock on when its holder closes the file or dies, with nothing left to user space.
 *
 * Holds are synchronous (a write transaction is synchronous too) and re-entrant within one gate.
 * Different gates in one process — two stores opened on the same directory — exclude each other
 * like separate processes do, which is what OFD locks give (POSIX record locks would not).
 */
import { closeSync, openSync } from "node:fs";
import fsx from "fs-native-extensions";
import { DatastoreError } from "./types.js";

export class WriterGate {
  private depth = 0;
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Opens (creating, mode 0600) the gate file. */
  static open(path: string): WriterGate {
    try {
      return new WriterGate(path, openSync(path, "a", 0o600));
    } catch (err) {
      throw new DatastoreError("unavailable", `cannot open the embedded datastore's writer gate ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Runs `fn` holding the gate; waits (blocking this thread) while another holder has it. */
  hold<T>(fn: () => T): T {
    if (this.fd === undefined) throw new DatastoreError("unavailable", `the writer gate ${this.path} is closed`);
    if (this.depth === 0) {
      try {
        fsx.waitForLockSync(this.fd);
      } catch (err) {
        throw new DatastoreError("unavailable", `cannot take the embedded datastore's writer gate ${this.path}: ${(err as Error).message}`, { cause: err });
      }
    }
    this.depth++;
    try {
      return fn();
    } finally {
      if (--this.depth === 0) fsx.unlock(this.fd);
    }
  }

  /** Closing the descriptor also drops a lock still held (it cannot be, outside `hold`). */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

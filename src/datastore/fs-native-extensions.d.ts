/** The part of fs-native-extensions (CommonJS, no bundled types) that writer-gate.ts uses. */
declare module "fs-native-extensions" {
  interface LockOptions {
    /** A read (shared) lock instead of the default write (exclusive) lock. */
    shared?: boolean;
  }
  /** Takes an OFD lock on [offset, offset + length) (length 0: to the end), waiting while another holds it. */
  export function waitForLockSync(fd: number, offset?: number, length?: number, opts?: LockOptions): void;
  /** Takes the lock if free; false when another open file description holds it. */
  export function tryLock(fd: number, offset?: number, length?: number, opts?: LockOptions): boolean;
  export function unlock(fd: number, offset?: number, length?: number): void;
  const fsx: { waitForLockSync: typeof waitForLockSync; tryLock: typeof tryLock; unlock: typeof unlock };
  export default fsx;
}

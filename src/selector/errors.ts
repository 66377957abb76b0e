/**
 * The one error type the selector parser ever throws. Calico's Go errors carry no position; we add
 * one (0-based UTF-16 offset into the input) so callers can draw a caret. `reason` is Calico's
 * message text (see docs/selectors.md), which is informative, not an API.
 */
export class SelectorParseError extends Error {
  readonly code = "invalid-selector";
  constructor(
    readonly reason: string,
    readonly position: number,
    readonly input: string,
  ) {
    super(`${reason} (at offset ${position})`);
    this.name = "SelectorParseError";
  }
}

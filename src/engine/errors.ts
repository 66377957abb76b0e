import type { Issue } from "../model/index.js";

/** A query (explain/matrix) named something that does not exist or a bad port: user input, carried
 *  as issues. Thrown only by the convenience methods; the try* variants return the issues. */
export class FlowInputError extends Error {
  readonly code = "invalid-flow";
  constructor(readonly issues: Issue[]) {
    super(issues.map((i) => i.message).join("; "));
    this.name = "FlowInputError";
  }
}

/** `tortie logs`'s action (registration, options and help are in logs.ts). */
import { followFlowLog, flowLogPath, readFlowLog, type FlowRecord } from "../../agent/index.js";
import { defaultDataDir } from "../../datastore/index.js";
import { io } from "../resource-io.js";
import { nodeName } from "./agent.js";
import { formatFlow, type LogsOptions } from "./logs.js";

export async function runLogs(opts: LogsOptions): Promise<void> {
  const path = opts.file ?? flowLogPath(opts.dataDir ?? process.env.TORTIE_DATA_DIR ?? defaultDataDir(), nodeName(opts.node));
  const print = (r: FlowRecord) => io.out((opts.output === "json" ? JSON.stringify(r) : formatFlow(r)) + "\n");
  if (!opts.follow) {
    for (const r of readFlowLog(path)) print(r);
    return;
  }
  const stop = followFlowLog(path, print, { fromStart: true });
  await new Promise<void>((resolve) => {
    const done = () => {
      stop();
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}

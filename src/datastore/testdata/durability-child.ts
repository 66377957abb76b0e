/**
 * Child process for the kill -9 test (embedded-durability.test.ts). Modes:
 *   writer <dataDir> <id>   creates w<id>-<i> and applies counter-<id> = i in a loop, printing
 *                           "ack <name> <revision>" on stdout after each write returned
 *   watcher <dataDir> <id>  watches and prints "seen <revision>" now and then
 *   follow <dataDir> <id>   watches and prints every change as "<type> <name> <revision>"; holds
 *                           no timer of its own, so only the watch keeps it alive
 *   gate <dataDir> <id>     takes the store's writer gate, prints "held" and blocks inside it
 *                           forever (embedded-gate.test.ts kills it there)
 * Lines go out with writeSync so that an "ack" printed is an ack the parent will read.
 */
import { mkdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EMBEDDED_GATE_FILE, EmbeddedStore } from "../embedded-store.js";
import { WriterGate } from "../writer-gate.js";

const [mode, dataDir, id] = process.argv.slice(2);
if (!mode || !dataDir || !id) throw new Error("usage: durability-child <writer|watcher> <dataDir> <id>");
const say = (line: string) => writeSync(1, `${line}\n`);

if (mode === "gate") {
  mkdirSync(dataDir, { recursive: true });
  WriterGate.open(join(dataDir, EMBEDDED_GATE_FILE)).hold(() => {
    say("held");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // blocks this thread for good
  });
}

const store = await EmbeddedStore.open({ dataDir });
say("ready");
if (mode === "writer") {
  for (let i = 0; ; i++) {
    const name = `w${id}-${i}`;
    const c = await store.create({ apiVersion: "projectcalico.org/v3", kind: "GlobalNetworkSet", metadata: { name }, spec: { nets: [`10.${i % 256}.0.0/16`] } });
    say(`ack ${name} ${c.revision}`);
    const u = await store.apply({
      apiVersion: "projectcalico.org/v3",
      kind: "GlobalNetworkSet",
      metadata: { name: `counter-${id}`, labels: { i: String(i) } },
      spec: { nets: [] },
    });
    say(`ack counter-${id}=${i} ${u.revision}`);
  }
} else if (mode === "follow") {
  store.watch(undefined, (e) => {
    if (e.type === "snapshot") say(`snapshot ${e.revision} ${e.items.length}`);
    else say(`${e.type} ${e.resource.metadata.name} ${e.revision}`);
  });
} else {
  let n = 0;
  store.watch(undefined, (e) => {
    if (++n % 20 === 0) say(`seen ${e.revision}`);
  }, { pollIntervalMs: 5 });
  setInterval(() => undefined, 1000);
}

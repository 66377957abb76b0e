import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EmbeddedStore } from "./embedded-store.js";
import { storeSuite } from "./testdata/store-suite.js";

storeSuite("embedded (LMDB)", {
  async fresh() {
    const dir = mkdtempSync(join(tmpdir(), `tortie-lmdb-${process.pid}-`));
    return {
      open: (o = {}) => EmbeddedStore.open({ dataDir: dir, ...o }),
      // The embedded log is trimmed by the historyLimit given at open; nothing more to do.
      compact: async () => undefined,
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});

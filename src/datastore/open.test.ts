import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "./open.js";
import { DatastoreError } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), `tortie-open-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("openStore wires the real validator and defaults", () => {
  it("rejects an invalid policy with the validator's issues and stores nothing; defaults valid ones", async () => {
    const s = await openStore({ type: "embedded", dataDir: dir });
    try {
      const bad = { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "bad", namespace: "ns" }, spec: { selector: "app ==" } };
      const err = (await s.create(bad as never).catch((e: unknown) => e)) as DatastoreError;
      expect(err).toBeInstanceOf(DatastoreError);
      expect(err.code).toBe("invalid");
      expect(err.issues.some((i) => i.severity === "error" && i.path.join(".").startsWith("spec.selector"))).toBe(true);
      expect(await s.get("NetworkPolicy", "ns", "bad")).toBeUndefined();

      const ok = { apiVersion: "projectcalico.org/v3", kind: "NetworkPolicy", metadata: { name: "ok", namespace: "ns" }, spec: { selector: "app == 'x'", egress: [{ action: "Allow" }] } };
      const { resource } = await s.create(ok as never);
      const spec = (resource as { spec: { tier: string; types: string[] } }).spec;
      expect(spec.tier).toBe("default");
      expect(spec.types).toEqual(["Egress"]);
    } finally {
      await s.close();
    }
  });
});

/**
 * etcd over TLS with client-certificate authentication, as a real deployment runs it: the store
 * connects with CA + client cert/key, and is refused without a client certificate or with a CA
 * that did not sign the server.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdStore } from "./etcd-store.js";
import { startEtcd, type EtcdCluster, type EtcdTestTls } from "./etcd-testing.js";
import { gns, testValidate } from "./testdata/store-suite.js";
import { DatastoreError } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), `tortie-etcdtls-${process.pid}-`));
const p = (f: string) => join(dir, f);
const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });

function makeCa(name: string): void {
  openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-keyout", p(`${name}.key`), "-out", p(`${name}.pem`));
}
function makeCert(ca: string, name: string, ext: string): void {
  writeFileSync(p(`${name}.ext`), ext);
  openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`));
  openssl("x509", "-req", "-in", p(`${name}.csr`), "-CA", p(`${ca}.pem`), "-CAkey", p(`${ca}.key`), "-CAcreateserial", "-days", "2", "-extfile", p(`${name}.ext`), "-out", p(`${name}.pem`));
}

let etcd: EtcdCluster;
let tls: EtcdTestTls;
beforeAll(async () => {
  makeCa("ca");
  makeCa("otherca");
  makeCert("ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  makeCert("ca", "client", "extendedKeyUsage=clientAuth\n");
  tls = { caFile: p("ca.pem"), certFile: p("server.pem"), keyFile: p("server.key"), clientCertFile: p("client.pem"), clientKeyFile: p("client.key") };
  etcd = await startEtcd({ tls });
}, 120_000);
afterAll(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("etcd v3 over TLS with client certificates", () => {
  it("works with the CA and a client certificate", async () => {
    expect(etcd.endpoints[0]).toMatch(/^https:/);
    const s = await EtcdStore.open({ endpoints: etcd.endpoints, caCertFile: tls.caFile, certFile: tls.clientCertFile, keyFile: tls.clientKeyFile, validate: testValidate });
    try {
      await s.create(gns("over-tls"));
      expect((await s.get("GlobalNetworkSet", undefined, "over-tls"))?.metadata.name).toBe("over-tls");
    } finally {
      await s.close();
    }
  });

  it.each([
    ["no client certificate", () => ({ caCertFile: tls.caFile })],
    ["a CA that did not sign the server", () => ({ caCertFile: p("otherca.pem"), certFile: tls.clientCertFile, keyFile: tls.clientKeyFile })],
  ])("is refused with %s", async (_label, opts) => {
    const s = await EtcdStore.open({ endpoints: etcd.endpoints, requestTimeoutMs: 3000, ...opts() });
    try {
      const err = await s.get("Tier", undefined, "default").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatastoreError);
      expect(["unavailable", "forbidden"]).toContain((err as DatastoreError).code);
    } finally {
      await s.close();
    }
  });

  it("a certificate without its key is a configuration error", async () => {
    const err = await EtcdStore.open({ endpoints: etcd.endpoints, caCertFile: tls.caFile, certFile: tls.clientCertFile }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatastoreError);
    expect((err as DatastoreError).message).toContain("certificate and key must be given together");
    const missing = await EtcdStore.open({ endpoints: etcd.endpoints, caCertFile: p("nope.pem") }).catch((e: unknown) => e);
    expect((missing as DatastoreError).message).toContain("cannot read etcd CA certificate");
  });
});

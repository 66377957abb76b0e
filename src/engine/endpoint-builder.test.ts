import { describe, expect, it } from "vitest";
import type { Issue, Pod } from "../model/index.js";
import {
  effectiveLabels,
  hostEndpointRecord,
  namespaceProfile,
  networkSetRecord,
  PodRecordMemo,
  podToEndpoint,
  recordSource,
  workloadEndpointName,
  type EndpointRecord,
  type ProfileRecord,
} from "./endpoint-builder.js";

function mkPod(over: Partial<Pod["spec"]> = {}, status: Pod["status"] = { podIP: "10.0.0.5" }, labels: Record<string, string> = {}): Pod {
  return { apiVersion: "v1", kind: "Pod", metadata: { name: "web-1", namespace: "prod", labels }, spec: { nodeName: "node-a", containers: [], ...over }, status };
}

describe("workloadEndpointName", () => {
  it.each([
    [["node1", "k8s", "web", "eth0"], "node1-k8s-web-eth0"],
    [["node-a", "k8s", "web-1", "eth0"], "node--a-k8s-web--1-eth0"],
  ])("%j → %s", (parts, want) => {
    expect(workloadEndpointName(...(parts as [string, string, string, string]))).toBe(want);
  });
});

describe("podToEndpoint", () => {
  it("converts like Calico: labels, profiles, IPs, named ports (containers and initContainers)", () => {
    const issues: Issue[] = [];
    const pod = mkPod(
      {
        serviceAccountName: "api",
        containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }, { containerPort: 9000 }, { name: "dns", containerPort: 53, protocol: "UDP" }] }],
        initContainers: [{ name: "i", ports: [{ name: "init", containerPort: 7000, protocol: "SCTP" }] }],
      },
      { podIP: "10.0.0.5", podIPs: [{ ip: "fd00::5" }, { ip: "10.0.0.5" }] },
      { app: "web", "pcns.evil": "x", "pcsa.evil": "y", "projectcalico.org/namespace": "other" },
    );
    const ep = podToEndpoint(pod, issues) as EndpointRecord;
    expect(issues).toEqual([]);
    expect(ep).toMatchObject({
      key: "wep/prod/node--a-k8s-web--1-eth0",
      kind: "workload",
      pod: "prod/web-1",
      node: "node-a",
      ips: ["10.0.0.5", "fd00::5"],
      profiles: ["kns.prod", "ksa.prod.api"],
      namedPorts: [
        { name: "http", protocol: 6, port: 8080 },
        { name: "dns", protocol: 17, port: 53 },
        { name: "init", protocol: 132, port: 7000 },
      ],
    });
    expect(ep.ownLabels).toEqual({
      app: "web",
      "projectcalico.org/namespace": "prod",
      "projectcalico.org/orchestrator": "k8s",
      "projectcalico.org/serviceaccount": "api",
    });
  });

  it.each([
    ["host network", mkPod({ hostNetwork: true }), /host network/],
    ["no IP", mkPod({}, {}), /no IP address/],
    ["finished", mkPod({}, { podIP: "10.0.0.5", phase: "Succeeded" }), /finished/],
  ])("%s → no endpoint", (_n, pod, why) => {
    const r = podToEndpoint(pod, []);
    expect("reason" in r && r.reason).toMatch(why);
  });

  it("reports an invalid pod IP", () => {
    const issues: Issue[] = [];
    podToEndpoint(mkPod({}, { podIPs: [{ ip: "10.0.0.300" }, { ip: "10.0.0.6" }] }), issues);
    expect(issues.map((i) => i.code)).toEqual(["invalid-pod-ip"]);
  });
});

describe("profiles and effective labels", () => {
  it("namespace profile labels, and own labels shadow profile labels", () => {
    const ns = namespaceProfile({ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod", labels: { team: "a" } } });
    expect(ns.labelsToApply).toEqual({ "pcns.kubernetes.io/metadata.name": "prod", "pcns.team": "a", "pcns.projectcalico.org/name": "prod" });
    const other: ProfileRecord = { name: "p2", labelsToApply: { "pcns.team": "b", extra: "1" }, ingress: [], egress: [], source: "" };
    const profiles = new Map([[ns.name, ns], ["p2", other]]);
    expect(effectiveLabels({ "pcns.team": "own" }, ["kns.prod", "p2", "missing"], profiles)).toEqual({
      "pcns.team": "own",
      "pcns.kubernetes.io/metadata.name": "prod",
      "pcns.projectcalico.org/name": "prod",
      extra: "1",
    });
    expect(effectiveLabels({}, ["p2", "kns.prod"], profiles)["pcns.team"]).toBe("b");
  });
});

describe("network sets and host endpoints", () => {
  it("masks host bits, accepts bare IPs, splits /0, adds the namespace label", () => {
    const issues: Issue[] = [];
    const r = networkSetRecord({ apiVersion: "projectcalico.org/v3", kind: "NetworkSet", metadata: { name: "n", namespace: "prod", labels: { a: "b" } }, spec: { nets: ["10.1.2.3/16", "192.0.2.1", "0.0.0.0/0", "::/0", "bogus"] } }, issues);
    expect(r.nets).toEqual(["10.1.0.0/16", "192.0.2.1/32", "0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"]);
    expect(r.ownLabels).toEqual({ a: "b", "projectcalico.org/namespace": "prod" });
    expect(r.profiles).toEqual(["kns.prod"]);
    expect(issues.map((i) => i.code)).toEqual(["invalid-net"]);
  });

  it("host endpoint: expected IPs, named ports, profiles", () => {
    const r = hostEndpointRecord(
      { apiVersion: "projectcalico.org/v3", kind: "HostEndpoint", metadata: { name: "h", labels: { x: "y" } }, spec: { node: "n1", interfaceName: "*", expectedIPs: ["fd00::1", "10.0.0.1"], profiles: ["projectcalico-default-allow"], ports: [{ name: "ssh", protocol: "TCP", port: 22 }] } },
      [],
    );
    expect(r).toMatchObject({ key: "hep/h", kind: "host", node: "n1", interfaceName: "*", ips: ["10.0.0.1", "fd00::1"], namedPorts: [{ name: "ssh", protocol: 6, port: 22 }], profiles: ["projectcalico-default-allow"] });
  });
});

describe("PodRecordMemo", () => {
  const pods: Pod[] = [
    mkPod({ serviceAccountName: "api", containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }, { name: "dns", containerPort: 53, protocol: "UDP" }] }] }),
    { ...mkPod({ serviceAccountName: "api", containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }, { name: "dns", containerPort: 53, protocol: "UDP" }] }] }), metadata: { name: "web-2", namespace: "prod" } },
    { ...mkPod({ containers: [{ name: "c", ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }, { name: "http", containerPort: 8080 }] }] }), metadata: { name: "web-3", namespace: "prod" } },
    { ...mkPod({ containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080, protocol: "SCTP" }] }] }), metadata: { name: "db-1", namespace: "data" } },
    { ...mkPod({ containers: [] }), metadata: { name: "bare", namespace: "data" } },
    // Other nodes, one with a doubled dash: each node's part of the endpoint name is its own.
    { ...mkPod({ nodeName: "edge--2-b", containers: [] }), metadata: { name: "web-4", namespace: "prod" } },
    { ...mkPod({ nodeName: "edge-2--b", containers: [] }), metadata: { name: "web-5", namespace: "prod" } },
  ];

  it("gives the records a conversion without it gives", () => {
    const memo = new PodRecordMemo();
    for (const pod of pods) {
      const a: Issue[] = [];
      const b: Issue[] = [];
      const plain = podToEndpoint(pod, a) as EndpointRecord;
      const shared = podToEndpoint(pod, b, memo) as EndpointRecord;
      expect(shared).toEqual(plain);
      expect(JSON.stringify(shared)).toBe(JSON.stringify(plain));
      expect(b).toEqual(a);
    }
  });

  it("shares profile lists per (namespace, ServiceAccount) and port lists per sequence of ports", () => {
    const memo = new PodRecordMemo();
    const [web1, web2, web3, db1] = pods.map((p) => podToEndpoint(p, [], memo) as EndpointRecord);
    expect(web2!.profiles).toBe(web1!.profiles);
    expect(web3!.profiles).not.toBe(web1!.profiles); // ServiceAccount "default"
    expect(web2!.namedPorts).toBe(web1!.namedPorts);
    expect(web3!.namedPorts).not.toBe(web1!.namedPorts); // same ports, other order
    expect(web3!.namedPorts[1]).toBe(web1!.namedPorts[0]); // one declaration object per (name, protocol, port)
    expect(db1!.namedPorts[0]).not.toBe(web1!.namedPorts[0]); // http over SCTP is another declaration
  });

  it("shares labels per (namespace, ServiceAccount, own labels in their order)", () => {
    const memo = new PodRecordMemo();
    const withLabels = (name: string, ns: string, labels: Record<string, string>, sa = "api"): EndpointRecord => {
      const pod = { ...mkPod({ serviceAccountName: sa, containers: [] }), metadata: { name, namespace: ns, labels } };
      const shared = podToEndpoint(pod, [], memo) as EndpointRecord;
      // The same record as a conversion without the memo, key order included.
      expect(JSON.stringify(shared)).toBe(JSON.stringify(podToEndpoint(pod, [])));
      return shared;
    };
    const a = withLabels("a", "prod", { app: "web", tier: "fe" });
    expect(withLabels("b", "prod", { app: "web", tier: "fe" }).ownLabels).toBe(a.ownLabels);
    for (const other of [
      withLabels("c", "prod", { tier: "fe", app: "web" }), // other order: printed differently
      withLabels("d", "prod", { app: "web", tier: "fe" }, "batch"),
      withLabels("e", "dev", { app: "web", tier: "fe" }),
      withLabels("f", "prod", { app: "web", tier: "be" }),
      withLabels("g", "prod", { app: "web" }),
    ]) {
      expect(other.ownLabels).not.toBe(a.ownLabels);
    }
    // Any text is a key item, control characters included: equal labels share, others never do
    // (a key made by joining texts would need separators no text holds to tell these apart).
    const odd1 = withLabels("h", "prod", { "app\u0001x": "y" });
    const odd2 = withLabels("i", "prod", { app: "x\u0001y" });
    expect(odd1.ownLabels).not.toBe(odd2.ownLabels);
    expect(withLabels("j", "prod", { "app\u0001x": "y" }).ownLabels).toBe(odd1.ownLabels);
    expect(withLabels("k", "prod", { ab: "c" }).ownLabels).not.toBe(withLabels("l", "prod", { a: "bc" }).ownLabels);
    expect(withLabels("m", "prod\u0002", { a: "b" }).ownLabels).not.toBe(withLabels("n", "prod", { "\u0002a": "b" }).ownLabels);
    // A value that is not a text: labels of its own.
    const bad = { app: 7 } as unknown as Record<string, string>;
    expect(withLabels("o", "prod", bad).ownLabels).not.toBe(withLabels("p", "prod", bad).ownLabels);
  });

  it("finds a replica's port list by its ports, and keeps odd ports apart", () => {
    const memo = new PodRecordMemo();
    const withPorts = (name: string, ports: unknown[], init: unknown[] = []): EndpointRecord => {
      const pod = { ...mkPod({ containers: [{ name: "c", ports }], initContainers: [{ name: "i", ports: init }] } as unknown as Pod["spec"]), metadata: { name, namespace: "prod" } } as Pod;
      const shared = podToEndpoint(pod, [], memo) as EndpointRecord;
      expect(JSON.stringify(shared)).toBe(JSON.stringify(podToEndpoint(pod, [])));
      return shared;
    };
    const http = { name: "http", containerPort: 8080 };
    const dns = { name: "dns", containerPort: 53, protocol: "UDP" };
    const a = withPorts("a", [http, dns]);
    expect(withPorts("b", [{ ...http }, { ...dns }]).namedPorts).toBe(a.namedPorts);
    expect(withPorts("c", [dns, http]).namedPorts).not.toBe(a.namedPorts); // other order
    expect(withPorts("d", [http], [dns]).namedPorts).toBe(a.namedPorts); // the same sequence, one in an init container
    expect(withPorts("e", [http, { ...dns, protocol: "TCP" }]).namedPorts).not.toBe(a.namedPorts);
    // A port given as a text, and a name with a separator character: the per-port path.
    const text = withPorts("f", [{ name: "http", containerPort: "8080" }]);
    expect(withPorts("g", [http]).namedPorts).not.toBe(text.namedPorts);
    withPorts("h", [{ name: "a\u0001b", containerPort: 1 }]);
    expect(withPorts("i", []).namedPorts).toEqual([]);
  });

  it("derives a pod record's source for messages", () => {
    const rec = podToEndpoint(pods[0]!, [], new PodRecordMemo()) as EndpointRecord;
    expect(rec.source).toBeUndefined();
    expect(recordSource(rec)).toBe("Pod prod/web-1");
  });
});

import { doc, ruleTester } from "./testdata/rule-tester.js";

const hep = (spec: string) => doc("HostEndpoint", spec, { name: "node1-eth0" });
const wep = (spec: string) => doc("WorkloadEndpoint", spec, { name: "node1-k8s-pod-eth0", namespace: "ns" });
const gns = (spec: string, meta = "") => doc("GlobalNetworkSet", spec, { name: "s", meta });
const ns = (spec: string) => doc("NetworkSet", spec, { name: "s", namespace: "ns" });

ruleTester("endpoints and network sets", {
  valid: [
    hep("node: node1\ninterfaceName: eth0"),
    hep("node: node1\ninterfaceName: '*'"),
    hep("node: node1\nexpectedIPs: [192.0.2.1, '2001:db8::1']"),
    hep("node: node1\ninterfaceName: eth0\nprofiles: [a, b.c]\nports: [{name: ssh, protocol: TCP, port: 22}, {name: dns, protocol: 17, port: 53}]"),
    wep(
      "node: node1\norchestrator: k8s\npod: web-1\nendpoint: eth0\ninterfaceName: cali0123456789a\nipNetworks: [198.18.0.5/32, 'fd00:198::5/128']\nprofiles: [kns.ns]\nports: [{name: http, protocol: TCP, port: 80}, {protocol: TCP, port: 8080, hostPort: 30080}]\nmac: 'ee:ee:ee:ee:ee:ee'",
    ),
    wep("interfaceName: cali1\nipNetworks: [198.18.0.5]\nipNATs: [{internalIP: 198.18.0.5, externalIP: 203.0.113.5}]\nipv4Gateway: 169.254.1.1"),
    gns("nets: [10.0.0.0/8, 198.51.100.7, 10.1.2.3/8, 'fd00::/64']"),
    ns("nets: [192.0.2.0/24]"),
    gns("", "labels: {role: external}"),
  ],
  invalid: [
    { yaml: hep("interfaceName: eth0"), codes: ["required"], paths: ["spec.node"] },
    { yaml: hep("node: node1"), codes: ["hep-no-interface"] },
    { yaml: hep("node: Node_1\ninterfaceName: eth0"), codes: ["invalid-name"] },
    { yaml: hep("node: node1\ninterfaceName: this-is-too-long0"), codes: ["invalid-interface"] },
    { yaml: hep("node: node1\ninterfaceName: 'eth 0'"), codes: ["invalid-interface"] },
    { yaml: hep("node: node1\nexpectedIPs: [10.0.0.0/8]"), codes: ["invalid-ip"] },
    { yaml: hep("node: node1\ninterfaceName: eth0\nprofiles: [Bad]"), codes: ["invalid-name"] },
    { yaml: hep("node: node1\ninterfaceName: eth0\nports: [{name: ssh, protocol: ICMP, port: 22}]"), codes: ["invalid-protocol"] },
    { yaml: hep("node: node1\ninterfaceName: eth0\nports: [{name: ssh, protocol: tcp, port: 22}]"), codes: ["invalid-protocol"] },
    { yaml: hep("node: node1\ninterfaceName: eth0\nports: [{name: ssh, protocol: TCP, port: 0}]"), codes: ["invalid-port"] },
    { yaml: hep("node: node1\ninterfaceName: eth0\nports: [{name: SSH, protocol: TCP, port: 22}]"), codes: ["invalid-port"] },
    { yaml: hep("node: node1\ninterfaceName: eth0\nports: [{protocol: TCP, port: 22}]"), codes: ["required"] },
    { yaml: wep("ipNetworks: [198.18.0.5/32]"), codes: ["invalid-interface"] },
    { yaml: wep("interfaceName: cali1\nipNetworks: [198.18.0.0/24]"), codes: ["invalid-cidr"] },
    { yaml: wep("interfaceName: cali1\nipNetworks: [198.18.0.5/24]"), codes: ["cidr-host-bits"] },
    { yaml: wep("interfaceName: cali1\nipv4Gateway: 'fe80::1'"), codes: ["invalid-ip"] },
    { yaml: wep("interfaceName: cali1\nmac: zz:zz"), codes: ["invalid-mac"] },
    { yaml: wep("interfaceName: cali1\nports: [{protocol: TCP, port: 80}]"), codes: ["invalid-port"] },
    { yaml: wep("interfaceName: cali1\nipNetworks: [198.18.0.5/32]\nipNATs: [{internalIP: 198.18.0.6, externalIP: 203.0.113.5}]"), codes: ["invalid-ip"] },
    { yaml: wep("interfaceName: cali1\ncontainerID: '-abc'"), codes: ["invalid-name"] },
    { yaml: wep("interfaceName: cali1\nworkloadName: x"), codes: ["unknown-field"] },
    { yaml: gns("nets: [10.0.0.0/33]"), codes: ["invalid-cidr"] },
    { yaml: gns("nets: [not-an-ip]"), codes: ["invalid-cidr"] },
    { yaml: ns("nets: [300.1.1.1]"), codes: ["invalid-cidr"] },
    { yaml: ns("nets: [10.0.0.0/8]\nallowedEgressDomains: [example.com]"), codes: ["unknown-field"] },
  ],
});

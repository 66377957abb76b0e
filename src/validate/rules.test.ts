import { egressRule, ingressRule, ruleTester } from "./testdata/rule-tester.js";

const i = (r: string) => ingressRule(r);
const e = (r: string) => egressRule(r);
const gi = (r: string) => ingressRule(r, "GlobalNetworkPolicy");
const ge = (r: string) => egressRule(r, "GlobalNetworkPolicy");
const profile = (r: string) => ingressRule(r, "Profile");

ruleTester("rules: actions, protocols, ICMP", {
  valid: [
    i("action: Allow"),
    i("action: Deny"),
    i("action: Log"),
    i("action: Pass"),
    i("action: Allow\nprotocol: TCP"),
    i("action: Allow\nprotocol: UDPLite"),
    i("action: Allow\nprotocol: 132"),
    i(`action: Allow\nprotocol: "17"`),
    i("action: Allow\nnotProtocol: ICMPv6\nipVersion: 6"),
    i("action: Allow\nprotocol: ICMP\nicmp: {type: 8, code: 0}"),
    i("action: Allow\nprotocol: ICMPv6\nicmp: {type: 128}\nipVersion: 6"),
    i("action: Allow\nprotocol: 1\nicmp: {type: 254, code: 255}"),
    i("action: Allow\nprotocol: 58\nicmp: {type: 0}"),
    i("action: Allow\nnotICMP: {type: 3}"),
    i("action: Allow\nipVersion: 4\nprotocol: ICMP"),
    profile("action: Allow"),
  ],
  invalid: [
    { yaml: i("action: allow"), codes: ["invalid-action"], paths: ["spec.ingress[0].action"] },
    { yaml: i("action: Accept"), codes: ["invalid-action"] },
    { yaml: i("protocol: TCP"), codes: ["required"], paths: ["spec.ingress[0].action"] },
    { yaml: i("action: Allow\nipVersion: 5"), codes: ["invalid-ip-version"] },
    { yaml: i(`action: Allow\nipVersion: "4"`), codes: ["invalid-type"] },
    { yaml: i("action: Allow\nprotocol: tcp"), codes: ["invalid-protocol"] },
    { yaml: i("action: Allow\nprotocol: HTTP"), codes: ["invalid-protocol"] },
    { yaml: i("action: Allow\nprotocol: 0"), codes: ["invalid-protocol"] },
    { yaml: i("action: Allow\nprotocol: 256"), codes: ["invalid-protocol"] },
    { yaml: i(`action: Allow\nprotocol: "256"`), codes: ["invalid-protocol"] },
    { yaml: i("action: Allow\nnotProtocol: Udp"), codes: ["invalid-protocol"] },
    { yaml: i("action: Allow\nprotocol: true"), codes: ["invalid-type"] },
    { name: "icmp without protocol", yaml: i("action: Allow\nicmp: {type: 8}"), codes: ["icmp-needs-protocol"] },
    { name: "icmp with TCP", yaml: i("action: Allow\nprotocol: TCP\nicmp: {type: 8}"), codes: ["icmp-needs-protocol"] },
    { yaml: i("action: Allow\nprotocol: ICMP\nicmp: {type: 255}"), codes: ["invalid-icmp"] },
    { yaml: i("action: Allow\nprotocol: ICMP\nicmp: {type: 3, code: 256}"), codes: ["invalid-icmp"] },
    { yaml: i("action: Allow\nprotocol: ICMP\nicmp: {type: -1}"), codes: ["invalid-icmp"] },
    { name: "code without type", yaml: i("action: Allow\nprotocol: ICMP\nicmp: {code: 1}"), codes: ["invalid-icmp"] },
    { yaml: i("action: Allow\nnotICMP: {code: 1}"), codes: ["invalid-icmp"] },
    { yaml: i("action: Allow\nprotocol: ICMP\nicmp: {type: 1.5}"), codes: ["invalid-type"] },
    { yaml: i("action: Allow\nprotocol: ICMP\nipVersion: 6"), codes: ["icmp-ip-version"] },
    { yaml: i("action: Allow\nprotocol: 58\nipVersion: 4"), codes: ["icmp-ip-version"] },
    { yaml: i("action: Allow\nnotProtocol: ICMP\nipVersion: 6"), codes: ["icmp-ip-version"] },
    { yaml: i("action: Allow\nicmp: {type: 8, kode: 1}\nprotocol: ICMP"), codes: ["unknown-field"] },
  ],
});

ruleTester("rules: ports", {
  valid: [
    i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [80, 443, '8000:8080', 6379:6380, http]"),
    i("action: Allow\nprotocol: UDP\nsource:\n  notPorts: [53]"),
    i("action: Allow\nprotocol: SCTP\ndestination:\n  ports: [1, 65535, '1:65535']"),
    i("action: Allow\nprotocol: 6\ndestination:\n  ports: [80]"),
    i(`action: Allow\nprotocol: "17"\ndestination:\n  ports: [53]`),
    { name: "v3.32: named ports only, no protocol", yaml: i("action: Allow\ndestination:\n  ports: [http, metrics-port]") },
    i(`action: Allow\nprotocol: TCP\ndestination:\n  ports: ["80"]`),
    i(`action: Allow\nprotocol: TCP\ndestination:\n  ports: ["80:80"]`),
  ],
  invalid: [
    { yaml: i("action: Allow\ndestination:\n  ports: [80]"), codes: ["ports-need-protocol"], paths: ["spec.ingress[0].destination.ports"] },
    { yaml: i("action: Allow\nsource:\n  notPorts: ['1000:2000']"), codes: ["ports-need-protocol"] },
    { yaml: i("action: Allow\ndestination:\n  ports: [http, 80]"), codes: ["ports-need-protocol"] },
    { yaml: i("action: Allow\nprotocol: ICMP\ndestination:\n  ports: [http]"), codes: ["ports-need-protocol"] },
    { name: "UDPLite has no ports for Calico", yaml: i("action: Allow\nprotocol: UDPLite\ndestination:\n  ports: [80]"), codes: ["ports-need-protocol"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [0]"), codes: ["invalid-port"], paths: ["spec.ingress[0].destination.ports[0]"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [65536]"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [-1]"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [80.5]"), codes: ["invalid-type"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: ['90:80']"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: ['0:80']"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: ['80:70000']"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: ['80-90']"), codes: ["invalid-port"] },
    { name: "named port parses but is not an IANA name", yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [Http]"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [this-name-is-too-long]"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [a--b]"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: ['80 ']"), codes: ["invalid-port"] },
    { yaml: i("action: Allow\nprotocol: TCP\ndestination:\n  ports: [true]"), codes: ["invalid-type"] },
    {
      yaml: i(`action: Allow\nprotocol: TCP\ndestination:\n  ports: [${Array.from({ length: 51 }, (_, n) => n + 1).join(", ")}]`),
      codes: ["too-many"],
    },
    { name: "ports at rule level", yaml: i("action: Allow\nprotocol: TCP\nports: [80]"), codes: ["unknown-field"] },
  ],
});

ruleTester("rules: nets and IP versions", {
  valid: [
    i("action: Allow\nsource:\n  nets: [10.0.0.0/8, 192.168.1.1/32]\n  notNets: [10.1.0.0/16]"),
    i("action: Allow\nipVersion: 6\nsource:\n  nets: ['fd00::/8', '::1/128']"),
    i("action: Allow\nipVersion: 4\ndestination:\n  nets: [0.0.0.0/0]"),
    i("action: Allow\nsource:\n  nets: [10.0.0.0/8]\ndestination:\n  notNets: [192.168.0.0/16]"),
  ],
  invalid: [
    { name: "strictly masked", yaml: i("action: Allow\nsource:\n  nets: [10.1.2.3/8]"), codes: ["cidr-host-bits"] },
    { yaml: i("action: Allow\nsource:\n  notNets: ['fd00::1/64']"), codes: ["cidr-host-bits"] },
    { name: "bare address is not a rule CIDR", yaml: i("action: Allow\nsource:\n  nets: [10.0.0.1]"), codes: ["invalid-cidr"] },
    { yaml: i("action: Allow\nsource:\n  nets: [10.0.0.0/33]"), codes: ["invalid-cidr"] },
    { yaml: i("action: Allow\nsource:\n  nets: [010.0.0.0/8]"), codes: ["invalid-cidr"] },
    { yaml: i("action: Allow\nsource:\n  nets: [example.com]"), codes: ["invalid-cidr"] },
    { yaml: i("action: Allow\nsource:\n  nets: [10.0.0.0/8, 'fd00::/8']"), codes: ["mixed-ip-versions"] },
    {
      name: "mixed across fields and sides",
      yaml: i("action: Allow\nsource:\n  nets: [10.0.0.0/8]\ndestination:\n  notNets: ['fd00::/8']"),
      codes: ["mixed-ip-versions"],
    },
    { yaml: i("action: Allow\nipVersion: 6\nsource:\n  nets: [10.0.0.0/8]"), codes: ["ip-version-mismatch"] },
    { yaml: i("action: Allow\nipVersion: 4\ndestination:\n  notNets: ['fd00::/8']"), codes: ["ip-version-mismatch"] },
    { name: "v3.31+: negated catch-all", yaml: i("action: Allow\nsource:\n  notNets: [0.0.0.0/0]"), codes: ["negated-catch-all"] },
    { yaml: i("action: Allow\nsource:\n  notNets: ['::/0']"), codes: ["negated-catch-all"] },
    { yaml: i("action: Allow\nsource:\n  notNets: ['0::0/0']"), codes: ["negated-catch-all"] },
    { yaml: i("action: Allow\nsource:\n  nets: [10.0.0.0/8, 10.0.0.0/8]"), codes: ["duplicate-value"] },
    { yaml: i("action: Allow\nsource:\n  nets: 10.0.0.0/8"), codes: ["invalid-type"] },
  ],
});

ruleTester("rules: entity combinations, services, service accounts", {
  valid: [
    i("action: Allow\nsource:\n  selector: app == 'a'\n  namespaceSelector: all()\n  serviceAccounts: {names: [a, b]}"),
    e("action: Allow\nprotocol: TCP\ndestination:\n  services: {name: kube-dns, namespace: kube-system}"),
    e("action: Allow\ndestination:\n  services: {name: api}"),
    i("action: Allow\nsource:\n  services: {name: frontend}\nprotocol: TCP\ndestination:\n  ports: [80]"),
    ge("action: Allow\ndestination:\n  services: {name: api, namespace: prod}"),
    gi("action: Allow\nsource:\n  services: {name: api, namespace: prod}"),
  ],
  invalid: [
    { yaml: e("action: Allow\ndestination:\n  services: {namespace: x}"), codes: ["invalid-services"] },
    { yaml: e("action: Allow\ndestination:\n  services: {name: API}"), codes: ["invalid-name"] },
    { yaml: e("action: Allow\ndestination:\n  services: {name: a}\n  selector: x == 'y'"), codes: ["services-conflict"] },
    { yaml: e("action: Allow\ndestination:\n  services: {name: a}\n  notSelector: x == 'y'"), codes: ["services-conflict"] },
    { yaml: e("action: Allow\ndestination:\n  services: {name: a}\n  namespaceSelector: all()"), codes: ["services-conflict"] },
    { yaml: e("action: Allow\ndestination:\n  services: {name: a}\n  nets: [10.0.0.0/8]"), codes: ["services-conflict"] },
    { yaml: e("action: Allow\ndestination:\n  services: {name: a}\n  serviceAccounts: {names: [x]}"), codes: ["services-conflict"] },
    {
      name: "destination services with ports",
      yaml: e("action: Allow\nprotocol: TCP\ndestination:\n  services: {name: a}\n  ports: [80]"),
      codes: ["services-conflict"],
    },
    { yaml: e("action: Allow\nsource:\n  services: {name: a}"), codes: ["services-not-allowed"] },
    { yaml: i("action: Allow\ndestination:\n  services: {name: a}"), codes: ["services-not-allowed"] },
    { name: "GNP services need a namespace", yaml: ge("action: Allow\ndestination:\n  services: {name: a}"), codes: ["services-need-namespace"] },
    { yaml: gi("action: Allow\nsource:\n  services: {name: a}"), codes: ["services-need-namespace"] },
    { yaml: i("action: Allow\nsource:\n  serviceAccounts: {names: a}"), codes: ["invalid-type"] },
    { yaml: i("action: Allow\nsource:\n  protocol: TCP"), codes: ["unknown-field"] },
  ],
});

ruleTester("rules: http and metadata", {
  valid: [
    i("action: Allow\nhttp:\n  methods: [GET, PUT]\n  paths: [{exact: /a}, {prefix: /b/}]"),
    i("action: Allow\nprotocol: TCP\nhttp: {methods: [GET]}"),
    profile("action: Allow\nhttp: {methods: [GET]}"),
    i("action: Allow\nmetadata:\n  annotations:\n    example.com/reason: 'allow the front end'"),
  ],
  invalid: [
    { yaml: i("action: Deny\nhttp: {methods: [GET]}"), codes: ["http-not-allowed"] },
    { yaml: e("action: Allow\nhttp: {methods: [GET]}"), codes: ["http-not-allowed"] },
    { yaml: i("action: Allow\nprotocol: UDP\nhttp: {methods: [GET]}"), codes: ["invalid-http"] },
    { yaml: i("action: Allow\nhttp: {methods: [GET, GET]}"), codes: ["invalid-http"] },
    { yaml: i("action: Allow\nhttp:\n  paths: [{exact: /a, prefix: /b}]"), codes: ["invalid-http"] },
    { yaml: i("action: Allow\nhttp:\n  paths: [{}]"), codes: ["invalid-http"] },
    { yaml: i("action: Allow\nhttp:\n  paths: [{exact: a}]"), codes: ["invalid-http"] },
    { yaml: i("action: Allow\nhttp:\n  paths: [{prefix: '/a?b'}]"), codes: ["invalid-http"] },
    { yaml: i("action: Allow\nmetadata:\n  annotations:\n    'bad key': x"), codes: ["invalid-annotation-key"] },
    { yaml: i("action: Allow\nmetadata:\n  labels: {a: b}"), codes: ["unknown-field"] },
  ],
});

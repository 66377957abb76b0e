import { ruleTester } from "./testdata/rule-tester.js";
import { indent, dedent } from "./testdata/rule-tester.js";

const knp = (spec: string, kind = "NetworkPolicy", api = "networking.k8s.io/v1") =>
  `apiVersion: ${api}\nkind: ${kind}\nmetadata:\n  name: p\n  namespace: ns\nspec:\n${indent(dedent(spec), 2)}\n`;
const sknp = (spec: string) => knp(spec, "StagedKubernetesNetworkPolicy", "projectcalico.org/v3");
const core = (kind: string, body: string, api = "v1") => `apiVersion: ${api}\nkind: ${kind}\nmetadata:\n  name: x\n  namespace: ns\n${dedent(body)}\n`;

ruleTester("Kubernetes NetworkPolicy", {
  valid: [
    knp("podSelector: {}"),
    knp("podSelector: {matchLabels: {app: db}}\npolicyTypes: [Ingress, Egress]"),
    knp(`
      podSelector:
        matchExpressions:
        - {key: app, operator: In, values: [a, b]}
        - {key: x, operator: DoesNotExist}
      ingress:
      - from:
        - podSelector: {matchLabels: {role: frontend}}
          namespaceSelector: {matchLabels: {team: a}}
        - ipBlock: {cidr: 172.17.0.0/16, except: [172.17.1.0/24]}
        ports:
        - {protocol: TCP, port: 6379}
        - {port: 32000, endPort: 32768}
        - {protocol: UDP, port: dns}
        - {protocol: SCTP}
      egress:
      - {}
    `),
    knp("ingress: [{}]"),
    knp("podSelector: {}\ningress:\n- from:\n  - ipBlock: {cidr: 10.1.2.3/16}"),
    knp("podSelector: {}\npolicyTypes: [Ingress, Ingress]"),
    sknp("podSelector: {}\nstagedAction: Set"),
    sknp("stagedAction: Delete"),
    { name: "podSelector {} is the zero value", yaml: sknp("stagedAction: Delete\npodSelector: {}") },
  ],
  invalid: [
    { yaml: knp("podSelector: {matchLabels: {'bad key': x}}"), codes: ["invalid-label-key"] },
    { yaml: knp("podSelector: {matchLabels: {app: 'bad value'}}"), codes: ["invalid-label-value"] },
    { yaml: knp("podSelector: {matchExpressions: [{key: a, operator: In}]}"), codes: ["invalid-label-selector"] },
    { yaml: knp("podSelector: {matchExpressions: [{key: a, operator: Exists, values: [x]}]}"), codes: ["invalid-label-selector"] },
    { yaml: knp("podSelector: {matchExpressions: [{key: a, operator: in, values: [x]}]}"), codes: ["invalid-label-selector"] },
    { yaml: knp("podSelector: {matchExpressions: [{key: a, operator: Gt, values: ['1']}]}"), codes: ["invalid-label-selector"] },
    { yaml: knp("podSelector: {matchExpressions: [{key: a, operator: Exists}], selector: x}"), codes: ["unknown-field"] },
    { yaml: knp("ingress:\n- ports: [{protocol: ICMP}]"), codes: ["invalid-protocol"] },
    { yaml: knp("ingress:\n- ports: [{protocol: tcp, port: 80}]"), codes: ["invalid-protocol"] },
    { yaml: knp("ingress:\n- ports: [{port: 0}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{port: 70000}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{port: '80'}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{port: Http}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{port: 100, endPort: 99}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{port: 100, endPort: 70000}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{port: http, endPort: 99}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- ports: [{endPort: 99}]"), codes: ["invalid-port"] },
    { yaml: knp("ingress:\n- from: [{}]"), codes: ["invalid-peer"] },
    { yaml: knp("ingress:\n- from: [{podSelector: {}, ipBlock: {cidr: 10.0.0.0/8}}]"), codes: ["invalid-peer"] },
    { yaml: knp("egress:\n- to: [{ipBlock: {cidr: 10.0.0.0}}]"), codes: ["invalid-ipblock"] },
    { yaml: knp("egress:\n- to: [{ipBlock: {cidr: ''}}]"), codes: ["invalid-ipblock"] },
    { yaml: knp("egress:\n- to: [{ipBlock: {except: [10.0.0.0/8]}}]"), codes: ["required"] },
    { yaml: knp("egress:\n- to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]"), codes: ["invalid-ipblock"] },
    { yaml: knp("egress:\n- to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.0.0/16]}}]"), codes: ["invalid-ipblock"] },
    { yaml: knp("egress:\n- to: [{ipBlock: {cidr: 10.0.0.0/16, except: ['fd00::/64']}}]"), codes: ["invalid-ipblock"] },
    { yaml: knp("policyTypes: [ingress]"), codes: ["invalid-policy-types"] },
    { yaml: knp("policyTypes: [Ingress, Egress, Ingress]"), codes: ["invalid-policy-types"] },
    { yaml: knp("ingress:\n- from: []\n  action: Allow"), codes: ["unknown-field"] },
    { name: "Calico fields in a Kubernetes policy", yaml: knp("selector: all()"), codes: ["unknown-field"] },
    { yaml: sknp("stagedAction: Delete\npodSelector: {matchLabels: {a: b}}"), codes: ["staged-delete-not-empty"] },
    { name: "an empty list is not Go's nil", yaml: sknp("stagedAction: Delete\ningress: []"), codes: ["staged-delete-not-empty"] },
    { yaml: sknp("stagedAction: Later"), codes: ["invalid-staged-action"] },
    { yaml: sknp("ingress:\n- ports: [{port: 0}]"), codes: ["invalid-port"] },
  ],
});

ruleTester("Kubernetes core kinds", {
  valid: [
    core("Pod", `
      spec:
        nodeName: node1
        serviceAccountName: web
        containers:
        - name: web
          image: nginx
          ports: [{name: http, containerPort: 80}, {containerPort: 53, protocol: UDP}]
          resources: {}
        restartPolicy: Always
      status:
        podIP: 198.18.0.10
        podIPs: [{ip: 198.18.0.10}, {ip: 'fd00:198::a'}]
        phase: Running
    `),
    core("ServiceAccount", "automountServiceAccountToken: false"),
    core("Service", `
      spec:
        selector: {app: web}
        clusterIP: 10.96.0.10
        ports:
        - {name: http, port: 80, targetPort: http}
        - {name: https, port: 443, targetPort: 8443}
    `),
    core("Service", "spec:\n  clusterIP: None\n  ports: [{port: 80}]"),
    core(
      "EndpointSlice",
      "addressType: IPv4\nendpoints:\n- addresses: [198.18.0.10]\n  conditions: {ready: true}\nports: [{name: http, port: 80}]",
      "discovery.k8s.io/v1",
    ),
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  labels: {team: a}\nspec:\n  finalizers: [kubernetes]\n",
  ],
  invalid: [
    { yaml: core("Pod", "spec:\n  containers: []"), codes: ["required"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: Web}]"), codes: ["invalid-name"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a}, {name: a}]"), codes: ["duplicate-value"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a, ports: [{containerPort: 0}]}]"), codes: ["invalid-port"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a, ports: [{containerPort: 80, name: HTTP}]}]"), codes: ["invalid-port"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a, ports: [{containerPort: 80, name: h}, {containerPort: 81, name: h}]}]"), codes: ["duplicate-value"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a, ports: [{containerPort: 80, protocol: ICMP}]}]"), codes: ["invalid-protocol"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a, ports: [{port: 80}]}]"), codes: ["unknown-field", "required"] },
    { yaml: core("Pod", "spec:\n  nodeName: Node_1\n  containers: [{name: a}]"), codes: ["invalid-name"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a}]\nstatus:\n  podIP: 198.18.0.300"), codes: ["invalid-ip"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a}]\nstatus:\n  podIP: 198.18.0.1\n  podIPs: [{ip: 198.18.0.2}]"), codes: ["invalid-ip"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a}]\nstatus:\n  podIPs: [{ip: 198.18.0.2}, {ip: 198.18.0.3}]"), codes: ["invalid-ip"] },
    { yaml: core("Pod", "spec:\n  containers: [{name: a}]\nstatus:\n  podIPs: [198.18.0.2]"), codes: ["invalid-type"] },
    { yaml: core("Service", "spec:\n  ports: [{port: 80}, {port: 81}]"), codes: ["required", "required"] },
    { yaml: core("Service", "spec:\n  ports: [{name: a, port: 80}, {name: a, port: 81}]"), codes: ["duplicate-value"] },
    { yaml: core("Service", "spec:\n  ports: [{port: 0}]"), codes: ["invalid-port"] },
    { yaml: core("Service", "spec:\n  ports: [{port: 80, targetPort: Web}]"), codes: ["invalid-port"] },
    { yaml: core("Service", "spec:\n  clusterIP: 10.96.0.300"), codes: ["invalid-ip"] },
    { yaml: core("Service", "spec:\n  selector: {'a b': c}"), codes: ["invalid-label-key"] },
    { yaml: core("EndpointSlice", "addressType: IPv5\nendpoints: []", "discovery.k8s.io/v1"), codes: ["invalid-value"] },
    { yaml: core("EndpointSlice", "addressType: IPv4\nendpoints: [{addresses: ['fd00::1']}]", "discovery.k8s.io/v1"), codes: ["invalid-ip"] },
    { yaml: core("EndpointSlice", "addressType: IPv4\nendpoints: [{addresses: []}]", "discovery.k8s.io/v1"), codes: ["invalid-value"] },
    { yaml: core("EndpointSlice", "endpoints: []", "discovery.k8s.io/v1"), codes: ["required"] },
    { yaml: core("EndpointSlice", "addressType: IPv4\nports: [{port: 80, prot: TCP}]", "discovery.k8s.io/v1"), codes: ["unknown-field"] },
    { yaml: core("ServiceAccount", "spec: {}"), codes: ["unknown-field"] },
  ],
});

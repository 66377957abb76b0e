/**
 * The conformance scenario model: what a scenario file means once loaded. The file format itself
 * is documented in docs/conformance.md; this module is the typed form every consumer (the engine
 * test, the real-kernel runner, the lab) shares. Nothing here knows how verdicts are computed.
 */

export type Verdict = "allow" | "deny";

/** A resource as written in a scenario (a plain YAML/JSON object with apiVersion/kind/metadata). */
export type ScenarioResource = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

/** Identifies an existing resource for `delete` and `setLabels`. */
export interface ResourceRef {
  apiVersion?: string;
  kind: string;
  namespace?: string;
  name: string;
}

export interface LabelChange extends ResourceRef {
  /** Merged into metadata.labels; a null value removes the key. */
  labels: Record<string, string | null>;
}

/** What a probe's endpoint string refers to. */
export type EndpointRef =
  | { kind: "pod"; ref: string; namespace: string; name: string }
  | { kind: "hep"; ref: string; name: string }
  | { kind: "wep"; ref: string; namespace: string; name: string }
  | { kind: "ip"; ref: string; ip: string };

export interface IcmpSpec {
  type: number;
  code?: number;
}

/** A probe as written in a scenario (or generated from a table cell). */
export interface ProbeSpec {
  /** "x/a", "hep:<name>", "wep:<ns>/<name>", or an IP address, exactly as written in the scenario. */
  from: string;
  to: string;
  /** Protocol name as Calico writes it ("TCP", "UDP", "SCTP", "ICMP", "ICMPv6") or an IANA number. */
  protocol: string | number;
  /** Destination port (TCP/UDP/SCTP). */
  port?: number;
  /** ICMP type/code; ICMP probes without it are echo requests (8/0 for v4, 128/0 for v6). */
  icmp?: IcmpSpec;
  family: 4 | 6;
  verdict: Verdict;
  /** Why, in words (documentation for whoever reads a failure; never compared with evaluator output). */
  reason?: string;
}

/** One connection attempt, with both ends resolved against the step's resources, and the verdict
 *  the semantics demand for it. */
export interface Probe extends ProbeSpec {
  /** Index into Scenario.steps: the probe runs against the resources as they are after that step. */
  step: number;
  /** Where the probe came from, for failure messages: "step 1 (after update), expect[0] x/b -> x/a". */
  origin: string;
  /** `ip` is the address of the endpoint in the probe's family (absent if it has none). */
  src: EndpointRef & { ip?: string };
  dst: EndpointRef & { ip?: string };
}

export interface ExpectationBase {
  protocol: string | number;
  port?: number;
  icmp?: IcmpSpec;
  family: 4 | 6;
}

/** A full reachability table: every (row, column) pair is a probe unless the cell is "-". */
export interface TableExpectation extends ExpectationBase {
  form: "table";
  rows: string[];
  columns: string[];
  /** cells[r][c]: "allow" | "deny" | null (not checked). */
  cells: Array<Array<Verdict | null>>;
}

export interface Override {
  from: string; // pattern
  to: string; // pattern
  verdict: Verdict;
}

/** A default verdict for every pair among `among`, then overrides applied in order (later wins),
 *  the way the upstream e2e tests build their Reachability with ExpectPeer. */
export interface DefaultExpectation extends ExpectationBase {
  form: "default";
  default: Verdict;
  overrides: Override[];
  /** Endpoints the table spans; defaults to every Pod of the step's resources. */
  among: string[] | null;
  /** Whether from == to pairs are probed (upstream ignores loopback; so do we by default). */
  includeSelf: boolean;
}

export interface ProbeListExpectation {
  form: "probes";
  probes: ProbeSpec[];
}

export type Expectation = TableExpectation | DefaultExpectation | ProbeListExpectation;

export interface Step {
  name: string;
  /** Created, or replacing an existing resource with the same identity. */
  apply: ScenarioResource[];
  delete: ResourceRef[];
  setLabels: LabelChange[];
  expect: Expectation[];
}

export interface Scenario {
  name: string;
  /** Where the case comes from (upstream test name, Calico doc/source). */
  source: string;
  description?: string;
  /** Tags such as "k8s-e2e", "calico", "tiers"; free-form, for filtering. */
  tags: string[];
  model: "k8s-e2e" | null;
  /** Step 0 holds the initial resources (model expansion first) and the top-level `expect`. */
  steps: Step[];
  file: string;
}

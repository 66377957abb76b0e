/**
 * The agent's Prometheus metrics (prom-client), on a registry of its own so that several agents
 * in one process (tests) never share counters. Names start with `tortie_agent_`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CalcStats } from "./calc/index.js";

export class AgentMetrics {
  readonly registry = new Registry();
  readonly endpoints: Gauge<"kind">;
  readonly policies: Gauge;
  readonly profiles: Gauge;
  readonly sets: Gauge;
  readonly setMembers: Gauge;
  readonly kernelRules: Gauge;
  readonly kernelSets: Gauge;
  readonly applies: Counter<"mode">;
  readonly applyErrors: Counter;
  readonly applyAttemptFailures: Counter;
  readonly driftResyncs: Counter;
  readonly kernelNetlinkBatches: Gauge;
  readonly changeToProgrammed: Histogram;
  readonly datastoreConnected: Gauge;
  readonly datastoreRevision: Gauge;
  readonly datastoreSnapshots: Counter<"reason">;
  readonly datastoreUpdates: Counter<"type">;
  readonly ready: Gauge;
  readonly flowRecords: Counter<"policy" | "action" | "direction">;

  constructor(opts: { node: string; defaultMetrics?: boolean }) {
    const r = this.registry;
    r.setDefaultLabels({ node: opts.node });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r, prefix: "tortie_agent_process_" });
    this.endpoints = new Gauge({ name: "tortie_agent_endpoints", help: "Local endpoints programmed, by kind (workload, host)", labelNames: ["kind"], registers: [r] });
    this.policies = new Gauge({ name: "tortie_agent_policies", help: "Policies that apply to at least one local endpoint", registers: [r] });
    this.profiles = new Gauge({ name: "tortie_agent_profiles", help: "Profiles that apply to at least one local endpoint", registers: [r] });
    this.sets = new Gauge({ name: "tortie_agent_sets", help: "IP/port sets used by local rules (engine sets, before the kernel split per family)", registers: [r] });
    this.setMembers = new Gauge({ name: "tortie_agent_set_members", help: "Members over all sets used by local rules", registers: [r] });
    this.kernelRules = new Gauge({ name: "tortie_agent_kernel_rules", help: "Rules in the desired kernel model", registers: [r] });
    this.kernelSets = new Gauge({ name: "tortie_agent_kernel_sets", help: "Sets in the desired kernel model", registers: [r] });
    this.applies = new Counter({ name: "tortie_agent_applies_total", help: "Kernel programming rounds, by mode (full, delta, noop)", labelNames: ["mode"], registers: [r] });
    this.applyErrors = new Counter({ name: "tortie_agent_apply_errors_total", help: "Programming rounds that failed after all retries (the kernel keeps its previous state)", registers: [r] });
    this.applyAttemptFailures = new Counter({ name: "tortie_agent_apply_attempt_failures_total", help: "Failed kernel batches, including ones retried successfully", registers: [r] });
    this.driftResyncs = new Counter({ name: "tortie_agent_drift_resyncs_total", help: "Full resyncs after the kernel was found to differ from what was programmed", registers: [r] });
    this.kernelNetlinkBatches = new Gauge({ name: "tortie_agent_kernel_netlink_batches", help: "Kernel batches sent as netlink messages (native/nfnl-relay) instead of through nft or ipset: element changes, and with nftables rule, chain and set changes too", registers: [r] });
    this.changeToProgrammed = new Histogram({
      name: "tortie_agent_change_to_programmed_seconds",
      help: "Time from the agent receiving a datastore change to the kernel holding its effect",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [r],
    });
    this.datastoreConnected = new Gauge({ name: "tortie_agent_datastore_connected", help: "1 while the datastore watch is connected", registers: [r] });
    this.datastoreRevision = new Gauge({ name: "tortie_agent_datastore_revision", help: "Datastore revision of the last change received", registers: [r] });
    this.datastoreSnapshots = new Counter({ name: "tortie_agent_datastore_snapshots_total", help: "Full snapshots received (initial, or resync after falling behind)", labelNames: ["reason"], registers: [r] });
    this.datastoreUpdates = new Counter({ name: "tortie_agent_datastore_updates_total", help: "Datastore changes received, by type (put, delete)", labelNames: ["type"], registers: [r] });
    this.ready = new Gauge({ name: "tortie_agent_ready", help: "1 once the first datastore snapshot is programmed", registers: [r] });
    this.flowRecords = new Counter({
      name: "tortie_agent_flow_log_packets_total",
      help: "Packets logged by policy rules (needs --log-denied / --log-allowed), by policy, action and direction",
      labelNames: ["policy", "action", "direction"],
      registers: [r],
    });
  }

  setCalcStats(s: CalcStats): void {
    this.endpoints.set({ kind: "workload" }, s.endpoints.workload);
    this.endpoints.set({ kind: "host" }, s.endpoints.host);
    this.policies.set(s.policies);
    this.profiles.set(s.profiles);
    this.sets.set(s.sets);
    this.setMembers.set(s.setMembers);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

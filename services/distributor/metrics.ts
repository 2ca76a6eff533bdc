import { Counter, Gauge, Registry } from 'prom-client'

export function createDistributorMetrics() {
  const registry = new Registry()
  const labelNames = ['pool'] as const
  return {
    registry,
    publishedEpoch: new Gauge({
      name: 'gridroot_distributor_published_epoch',
      help: 'Latest oracle epoch whose cumulative root this distributor published, per pool',
      labelNames,
      registers: [registry],
    }),
    fundedUnits: new Counter({
      name: 'gridroot_distributor_funded_units_total',
      help: 'Payment-token base units pulled from the treasury into the distributor, per pool',
      labelNames,
      registers: [registry],
    }),
    withheldUnits: new Counter({
      name: 'gridroot_distributor_withheld_units_total',
      help: 'Distributable units kept back because their weight belonged to excluded accounts, per pool',
      labelNames,
      registers: [registry],
    }),
    underfunded: new Gauge({
      name: 'gridroot_distributor_treasury_underfunded',
      help: '1 while the treasury cannot fund the next epoch (balance or allowance too low), per pool',
      labelNames,
      registers: [registry],
    }),
    treeMissing: new Gauge({
      name: 'gridroot_distributor_epoch_tree_missing',
      help: '1 while the next final epoch waits because its committed device tree is not in the artifact store (the log and /healthz name the epoch and hash), per pool',
      labelNames,
      registers: [registry],
    }),
    archiveMissing: new Gauge({
      name: 'gridroot_distributor_epoch_archive_missing',
      help: '1 while the next final epoch waits because its committed readings archive is not in the artifact store (the log and /healthz name the epoch and hash), per pool',
      labelNames,
      registers: [registry],
    }),
    artifactMissingSeconds: new Gauge({
      name: 'gridroot_distributor_artifact_missing_seconds',
      help: 'How long the next final epoch has waited for its committed device tree or readings archive in the artifact store (0 when it waits for none); past GRIDROOT_DISTRIBUTOR_ARTIFACT_WAIT /healthz is 503 ARTIFACT_MISSING, per pool',
      labelNames,
      registers: [registry],
    }),
    archiveAuditFailed: new Gauge({
      name: 'gridroot_distributor_archive_audit_failed',
      help: "1 once a final epoch's readings archive did not back its device tree (a leaf not recomputed from the signed readings, the registry and the rules: ARCHIVE_AUDIT_FAILED) and publishing for the pool stopped, per pool",
      labelNames,
      registers: [registry],
    }),
    archiveAuditSeconds: new Gauge({
      name: 'gridroot_distributor_archive_audit_seconds',
      help: "Duration of the last audit of a final epoch's readings archive (every leaf recomputed), per pool",
      labelNames,
      registers: [registry],
    }),
    commitmentRefused: new Gauge({
      name: 'gridroot_distributor_commitment_refused',
      help: "1 once a final epoch's device tree did not back its commitment (totals, leaf count, root, unregistered devices) and publishing for the pool stopped, per pool",
      labelNames,
      registers: [registry],
    }),
    receiptTimeouts: new Counter({
      name: 'gridroot_distributor_receipt_timeouts_total',
      help: 'Publications whose receipt did not come within GRIDROOT_DISTRIBUTOR_RECEIPT_TIMEOUT (dropped by a reorg, or slow); the chain state then decided whether to send again, per pool',
      labelNames,
      registers: [registry],
    }),
    passFailures: new Counter({
      name: 'gridroot_distributor_pass_failures_total',
      help: 'Passes that failed (chain or artifact store errors), per pool and error code',
      labelNames: ['pool', 'code'],
      registers: [registry],
    }),
  }
}
export type DistributorMetrics = ReturnType<typeof createDistributorMetrics>

import { Counter, Gauge, Registry } from 'prom-client'

export function createOracleMetrics() {
  const registry = new Registry()
  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers: [registry] })
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] })
  return {
    registry,
    signatures: counter('gridroot_oracle_signatures_total', 'Proposals this signer signed, by pool', [
      'pool',
    ]),
    refusals: counter(
      'gridroot_oracle_refusals_total',
      'Pool epochs this signer refused to sign, by reason',
      ['reason'],
    ),
    sourceNotReady: counter(
      'gridroot_oracle_source_not_ready_total',
      'Waits for the telemetry replay that ended before it passed the epoch (each is retried with backoff)',
    ),
    sourceWaitingEpoch: gauge(
      'gridroot_oracle_source_waiting_epoch',
      'Epoch this signer waits for its telemetry replay to pass; -1 when it waits for none',
    ),
    republished: counter(
      'gridroot_oracle_signatures_republished_total',
      'Signatures this signer published again because the chain still waited on their epoch, by pool',
      ['pool'],
    ),
    signaturesMissing: gauge(
      'gridroot_oracle_signatures_missing',
      'Submitter: 1 while a pool has waited on its next epoch past GRIDROOT_ORACLE_SIGNATURES_STALL although the signers signed later epochs',
      ['pool'],
    ),
    poolMismatches: counter(
      'gridroot_oracle_pool_announcement_mismatches_total',
      "Pool epochs this signer refused because its totals of the pool are not the aggregator's announced ones (the epoch's other pools are still signed), by pool",
      ['pool'],
    ),
    replayedRecords: counter('gridroot_oracle_replayed_records_total', 'telemetry.v1 records replayed'),
    undecodable: counter('gridroot_oracle_undecodable_total', 'Records that did not decode (skipped)'),
    announcements: counter('gridroot_oracle_announcements_total', 'epochs.v1 announcements read'),
    unsignedPendingRoots: counter(
      'gridroot_oracle_unsigned_pending_roots_total',
      'Submitter: pending roots (pool epoch attempts) that no current signer signed in its book; never finalized, a guardian must reject them',
      ['pool'],
    ),
    unsignedFinalRoots: gauge(
      'gridroot_oracle_unsigned_final_roots',
      'Submitter: final roots no current signer signed in its book and not in GRIDROOT_ORACLE_ACKNOWLEDGED_ROOTS, by pool (/healthz 503 UNSIGNED_ROOT_FINAL while above 0)',
      ['pool'],
    ),
    reorgs: counter(
      'gridroot_oracle_chain_reorgs_total',
      'Chain reorganizations seen (a remembered block no longer canonical): the submitter re-reads its pools, a signer publishes again what the chain waits on',
    ),
    disagreements: counter(
      'gridroot_oracle_disagreements_total',
      'Pool epochs for which signers signed different proposals (each new proposal counts)',
    ),
    signerRefusals: counter('gridroot_oracle_signer_refusals_seen_total', 'Refusals read from the signers', [
      'reason',
    ]),
    signaturesNotKept: counter(
      'gridroot_oracle_signatures_not_kept_total',
      'Submitter: signatures its book did not keep, by reason (EPOCH_TOO_FAR while the chain lags the signers: they are published again once the chain reaches their epoch)',
      ['reason'],
    ),
    badSignatures: counter(
      'gridroot_oracle_bad_signatures_total',
      'Signature records that do not recover to the signer they name (skipped)',
    ),
    proposed: counter('gridroot_oracle_proposed_total', 'propose transactions mined', ['pool']),
    finalized: counter('gridroot_oracle_finalized_total', 'finalize transactions mined', ['pool']),
    finalizedEpoch: gauge('gridroot_oracle_finalized_epoch', 'Latest finalized epoch per pool', ['pool']),
    chainUnavailable: gauge('gridroot_oracle_chain_unavailable', '1 while chain calls are failing'),
    guardianDecisions: counter(
      'gridroot_oracle_guardian_decisions_total',
      'Guardian: verdicts on proposals (pool epoch attempts), by pool, decision (accept, reject, undecided) and reason',
      ['pool', 'decision', 'reason'],
    ),
    guardianRejections: counter(
      'gridroot_oracle_guardian_rejections_total',
      'Guardian: reject transactions mined, by pool and reason code',
      ['pool', 'reason'],
    ),
    guardianRejectMarginSeconds: gauge(
      'gridroot_oracle_guardian_reject_margin_seconds',
      'Guardian: seconds of the challenge window left when its latest reject of the pool was mined',
      ['pool'],
    ),
    guardianOpenProposals: gauge(
      'gridroot_oracle_guardian_open_proposals',
      'Guardian: proposals seen and not settled yet (pending, or final and not yet checked)',
    ),
    guardianBadFinalRoots: gauge(
      'gridroot_oracle_guardian_bad_final_roots',
      'Guardian: roots it judged bad that went final before it could reject them (kept in its checkpoint)',
    ),
    guardianUnrejected: gauge(
      'gridroot_oracle_guardian_unrejected_roots',
      'Guardian: pending roots it judged bad or could not check whose challenge window passed',
    ),
    guardianCheckpointBlock: gauge(
      'gridroot_oracle_guardian_checkpoint_block',
      'Guardian: the block its EpochProposed scan resumes at after a restart',
    ),
    guardianArtifactsRestored: counter(
      'gridroot_oracle_guardian_artifacts_restored_total',
      'Guardian: committed artifacts it put back into the store from its own identical build, by pool',
      ['pool'],
    ),
  }
}
export type OracleMetrics = ReturnType<typeof createOracleMetrics>

/**
 * Which refusals are final. A signer that computed a different tree than the aggregator
 * announced (`ANNOUNCEMENT_MISMATCH`, `READINGS_MISMATCH`) will never sign that epoch's
 * proposal: that is a disagreement, and a person looks. A signer whose telemetry replay has not
 * passed the epoch yet (`SOURCE_NOT_READY`) has no opinion yet: it keeps waiting, with backoff,
 * and signs (or refuses for good) once its source is ready. Before this split a not-ready
 * refusal was final: the signer moved on and the pool waited for its signature forever (a
 * 6-device `npm start` fleet, all three signers not ready for epoch 0 after 120 s).
 *
 * The signer publishes a not-ready refusal once per pool epoch, so the submitter can tell why a
 * signature is missing; the submitter reports it as a wait, not as a refusal.
 */
import { RetryableError } from '../../../core/errors/base.ts'

export const SOURCE_NOT_READY = 'SOURCE_NOT_READY'

/** Reasons after which the signer still signs the epoch once it can. */
const NOT_FINAL_REASONS: ReadonlySet<string> = new Set([SOURCE_NOT_READY])

/** Whether a refusal with this reason is the signer's last word on the pool epoch. */
export function isFinalRefusal(reason: string): boolean {
  return !NOT_FINAL_REASONS.has(reason)
}

/** The replay has not passed an epoch within one wait: retried by `runtime/retry.ts`. */
export class SourceNotReadyError extends RetryableError<typeof SOURCE_NOT_READY> {
  override readonly name = 'SourceNotReadyError'
  constructor(
    readonly epoch: number,
    /** Partitions whose replay watermark is still short of the epoch's end plus the grace. */
    readonly behind: readonly number[],
    waitedMs: number,
  ) {
    super(
      SOURCE_NOT_READY,
      `the telemetry replay has not passed epoch ${epoch} after ${waitedMs} ms (partitions behind: ${behind.join(', ') || 'none known yet'})`,
      {
        metaMessages: [
          'The signer keeps waiting and signs once every partition passed the epoch. If this lasts, check that the aggregator appends watermark markers to quiet partitions and that telemetry.v1 is readable.',
        ],
      },
    )
  }
}

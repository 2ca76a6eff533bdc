import { GridrootError } from '../errors/base.ts'

/**
 * `ENTITLEMENT_INPUT_INVALID`: the balance history or the terms are not what the computation can
 * trust (a balance goes negative, a share above 100 %, a window that is empty or reversed).
 */
export class EntitlementInputError extends GridrootError<'ENTITLEMENT_INPUT_INVALID'> {
  override readonly name = 'EntitlementInputError'
  constructor(detail: string, details: Record<string, unknown> = {}) {
    super('ENTITLEMENT_INPUT_INVALID', detail, {
      metaMessages: [
        'Re-read the token’s Transfer logs from its deployment block (or fix the pool terms); never patch balances.',
      ],
      details,
    })
  }
}

/**
 * The local stack's roles on anvil's well-known dev accounts (mnemonic "test … junk"). These
 * keys are public: they are for the local stack and tests only, never for a real chain, where
 * every key comes from configuration.
 */
import type { HDAccount } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'

export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk'

/** Which dev account index plays which role in the local stack. */
export const DEV_ACCOUNT_ROLES = {
  /** Deploys; admin of every contract; registrar, identity agent and token issuer. */
  deployer: 0,
  /** The three oracle signers (threshold two). */
  oracleSigners: [1, 2, 3],
  guardian: 4,
  /** The distributor service: publishes cumulative roots. */
  publisher: 5,
  /** The pools' treasury in the local stack. */
  treasury: 6,
  /** Investors named `dev:7`, `dev:8`, … in config/pools.json. */
  firstInvestor: 7,
} as const

/** Dev account `index` (anvil prints the first ten; any index derives). */
export function devAccount(index: number): HDAccount {
  return mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index })
}

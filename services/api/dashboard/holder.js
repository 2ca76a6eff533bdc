// The holder view: connect an EIP-1193 wallet (the page's injected `window.ethereum`, or in the
// local stack one of anvil's dev accounts through /dev-wallet/provider.js), show per pool what
// the address can claim, has claimed and was paid, and claim: the distributor's
// claim(account, cumulativeAmount, proof) with the proof from the holder route, simulated first
// so a revert is explained before anything is signed, then sent and waited for. Amounts are
// BigInt base units from the API and the chain; only their display is formatted.
import {
  BaseError,
  ChainMismatchError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  getAddress,
  hkdStablecoinAbi,
  revenueDistributorAbi,
  UserRejectedRequestError,
} from '/assets/wallet.js'

const REFRESH_MS = 10_000
const $ = (id) => document.getElementById(id)
const state = {
  chain: undefined,
  dev: undefined,
  provider: undefined,
  account: undefined,
  walletChainId: undefined,
  publicClient: undefined,
  walletClient: undefined,
  positions: new Map(),
  tokens: new Map(),
  balances: new Map(),
  busy: new Set(),
  messages: new Map(),
  timer: undefined,
}
window.__gridrootHolder = state

/** A failure the holder can act on: a stable code and what to do. */
class HolderFailure extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }
}

/** The distributor's custom errors (contracts/src/RevenueDistributor.sol), in the holder's words. */
const REVERTS = {
  NotVerified: [
    'NOT_VERIFIED',
    'This address is not verified in the IdentityRegistry, so the distributor does not pay it. Ask the issuer to verify it (KYC), then claim again.',
  ],
  EnforcedPause: ['PAUSED', 'Claims of this pool are paused by its operator. Try again once they resume.'],
  InvalidProof: [
    'STALE_PROOF',
    'The proof does not match the current root (a newer root was probably published). Refresh and claim again.',
  ],
  NoRoot: ['NO_ROOT', 'This pool has no published root yet: nothing can be claimed before the first one.'],
}

class ApiFailure extends Error {
  constructor(code, message) {
    super(message)
    this.code = code
  }
}

async function api(path) {
  const response = await fetch(`/api/v1/holder${path}`)
  const body = await response.json()
  if (!response.ok) {
    throw new ApiFailure(
      body.error?.code ?? String(response.status),
      `${body.error?.message} — ${body.error?.hint}`,
    )
  }
  return body
}

function formatUnits(units, decimals) {
  const scale = 10n ** BigInt(decimals)
  const negative = units < 0n
  const abs = negative ? -units : units
  const fraction = (abs % scale).toString().padStart(decimals, '0').replace(/0+$/, '').padEnd(2, '0')
  return `${negative ? '-' : ''}${(abs / scale).toLocaleString('en')}.${fraction}`
}

function amount(units, token) {
  const span = document.createElement('span')
  span.dataset.units = units.toString()
  span.textContent = token ? `${formatUnits(units, token.decimals)} ${token.symbol}` : `${units} units`
  return span
}

function setStatus(text, error = false) {
  $('status').textContent = text
  $('status').className = error ? 'error' : ''
}

function showWalletMessage(code, text) {
  const p = $('wallet-message')
  p.hidden = code === undefined
  p.dataset.code = code ?? ''
  p.textContent = code === undefined ? '' : `${code}: ${text}`
}

function explain(error) {
  if (error instanceof HolderFailure || error instanceof ApiFailure) return error
  if (error instanceof BaseError) {
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError)
    if (reverted) {
      const name = reverted.data?.errorName
      const known = REVERTS[name]
      if (known) return new HolderFailure(known[0], known[1])
      return new HolderFailure(
        'CLAIM_REVERTED',
        `The distributor refused the claim (${name ?? reverted.shortMessage}).`,
      )
    }
    if (error.walk((e) => e instanceof UserRejectedRequestError))
      return new HolderFailure('REJECTED', 'The wallet declined to sign. Nothing was sent.')
    if (error.walk((e) => e instanceof ChainMismatchError)) return wrongChain()
    return new HolderFailure('CLAIM_FAILED', error.shortMessage)
  }
  if (error?.code === 4001)
    return new HolderFailure('REJECTED', 'The wallet declined to sign. Nothing was sent.')
  return new HolderFailure('CLAIM_FAILED', String(error?.message ?? error))
}

function wrongChain() {
  return new HolderFailure(
    'WRONG_CHAIN',
    `The wallet is on chain ${state.walletChainId}; the distributors are on chain ${state.chain.chainId}. Switch the wallet to chain ${state.chain.chainId} and try again.`,
  )
}

const onRightChain = () => state.walletChainId === state.chain.chainId

async function refresh() {
  if (state.account === undefined) return
  try {
    state.walletChainId = Number.parseInt(await state.provider.request({ method: 'eth_chainId' }), 16)
    const { pools } = await api(`/${state.account}`)
    for (const position of pools) state.positions.set(position.poolId, position)
    if (onRightChain()) {
      for (const pool of state.chain.pools) {
        const balance = await state.publicClient.readContract({
          address: pool.paymentToken,
          abi: hkdStablecoinAbi,
          functionName: 'balanceOf',
          args: [state.account],
        })
        state.balances.set(pool.paymentToken, balance)
      }
      showWalletMessage(undefined)
    } else {
      state.balances.clear()
      const failure = wrongChain()
      showWalletMessage(failure.code, failure.message)
    }
    $('chain').textContent = `chain ${state.walletChainId}`
    render()
    setStatus(`updated ${new Date().toLocaleTimeString()}`)
  } catch (error) {
    const failure = explain(error)
    setStatus(`${failure.code}: ${failure.message}`, true)
  }
}

function row(cells) {
  const tr = document.createElement('tr')
  for (const cell of cells) {
    const td = document.createElement('td')
    td.append(cell)
    tr.append(td)
  }
  return tr
}

function render() {
  const host = $('pools')
  host.replaceChildren()
  for (const pool of state.chain.pools) {
    const position = state.positions.get(pool.poolId)
    if (position === undefined) continue
    const token = state.tokens.get(pool.paymentToken)
    const card = document.createElement('article')
    card.className = 'pool'
    card.dataset.pool = pool.poolId
    const title = document.createElement('h2')
    title.textContent = `Pool ${pool.poolId}`
    const dl = document.createElement('dl')
    const balance = state.balances.get(pool.paymentToken)
    const facts = [
      ['Latest root', position.epoch === null ? 'none yet' : `epoch ${position.epoch}`, 'root-epoch'],
      ['Entitled (cumulative)', amount(BigInt(position.cumulativeAmount), token), 'cumulative'],
      ['Claimed', amount(BigInt(position.claimedUnits), token), 'claimed'],
      ['Claimable now', amount(BigInt(position.claimableUnits), token), 'claimable'],
      ...(position.blockedBy === null
        ? []
        : [['Owed, not claimable yet', blockedFact(position, token), 'blocked']]),
      ['Wallet balance', balance === undefined ? '–' : amount(balance, token), 'balance'],
    ]
    for (const [label, value, cls] of facts) {
      const dt = document.createElement('dt')
      dt.textContent = label
      const dd = document.createElement('dd')
      dd.className = cls
      dd.append(value)
      dl.append(dt, dd)
    }
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'claim'
    button.textContent = state.busy.has(pool.poolId) ? 'Claiming…' : 'Claim'
    button.disabled = state.busy.has(pool.poolId)
    button.addEventListener('click', () => claim(pool))
    card.append(title, dl, button)
    const message = state.messages.get(pool.poolId)
    if (message !== undefined) {
      const p = document.createElement('p')
      p.className = `message ${message.kind}`
      p.dataset.code = message.code
      p.setAttribute('role', 'alert')
      p.textContent = message.code === 'PAID' ? message.text : `${message.code}: ${message.text}`
      card.append(p)
    }
    const table = document.createElement('table')
    table.className = 'payouts'
    const head = document.createElement('thead')
    head.append(row(['Paid', 'Cumulative', 'Block', 'Time', 'Transaction']))
    const body = document.createElement('tbody')
    for (const payout of position.payouts) {
      const tx = document.createElement('code')
      tx.textContent = payout.transactionHash
      body.append(
        row([
          amount(BigInt(payout.paidUnits), token),
          amount(BigInt(payout.cumulativeAmount), token),
          payout.blockNumber,
          new Date(payout.timestampS * 1000).toLocaleString(),
          tx,
        ]),
      )
    }
    if (position.payouts.length === 0) body.append(row(['no payouts yet']))
    table.append(head, body)
    card.append(table)
    host.append(card)
  }
}

/** Why a claim would revert although something is owed (the API's blockedBy), for a holder to read. */
const BLOCKED = {
  NOT_VERIFIED:
    'this address is not verified in the identity registry; the pool operator must verify it before it can claim (what it is owed is kept)',
  PAUSED: 'the distributor is paused; claims open again when the operator unpauses it (nothing owed is lost)',
}

function blockedFact(position, token) {
  const wrap = document.createElement('span')
  wrap.dataset.code = position.blockedBy
  wrap.append(
    amount(BigInt(position.owedUnits), token),
    ` (${position.blockedBy}: ${BLOCKED[position.blockedBy] ?? 'a claim would be refused now'})`,
  )
  return wrap
}

/** claim(account, cumulativeAmount, proof), by the ABI's input names (contracts/abi). */
function claimArgs(position) {
  const claimAbi = revenueDistributorAbi.find((item) => item.type === 'function' && item.name === 'claim')
  const values = {
    account: state.account,
    cumulativeAmount: BigInt(position.cumulativeAmount),
    proof: position.proof,
  }
  return claimAbi.inputs.map((input) => {
    if (!(input.name in values))
      throw new HolderFailure('CLAIM_FAILED', `claim takes ${input.name}, unknown to this page`)
    return values[input.name]
  })
}

async function claim(pool) {
  const { poolId } = pool
  state.busy.add(poolId)
  state.messages.set(poolId, { kind: 'busy', code: 'CLAIMING', text: 'checking the claim…' })
  render()
  try {
    // A fresh proof: the root may have moved since the page last looked.
    const position = await api(`/${state.account}/pools/${poolId}`)
    state.positions.set(poolId, position)
    if (position.blockedBy !== null)
      throw new HolderFailure(
        position.blockedBy,
        BLOCKED[position.blockedBy] ?? 'the distributor would refuse this claim now',
      )
    if (BigInt(position.claimableUnits) === 0n) {
      throw new HolderFailure(
        'NOTHING_TO_CLAIM',
        position.inTree
          ? 'Everything this address is entitled to in this pool has been claimed.'
          : "This address is not in this pool's latest holder tree: it has nothing to claim here.",
      )
    }
    state.walletChainId = Number.parseInt(await state.provider.request({ method: 'eth_chainId' }), 16)
    if (!onRightChain()) throw wrongChain()
    const before = state.balances.get(pool.paymentToken)
    const { request, result } = await state.publicClient.simulateContract({
      address: pool.distributor,
      abi: revenueDistributorAbi,
      functionName: 'claim',
      args: claimArgs(position),
      account: state.account,
    })
    if (result === 0n)
      throw new HolderFailure('NOTHING_TO_CLAIM', 'The distributor would pay nothing: already claimed.')
    state.messages.set(poolId, { kind: 'busy', code: 'CLAIMING', text: 'waiting for the wallet…' })
    render()
    const hash = await state.walletClient.writeContract(request)
    state.messages.set(poolId, {
      kind: 'busy',
      code: 'CLAIMING',
      text: `sent ${hash}, waiting for its receipt…`,
    })
    render()
    const receipt = await state.publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success')
      throw new HolderFailure('CLAIM_REVERTED', `The claim ${hash} reverted on-chain.`)
    state.busy.delete(poolId)
    await refresh()
    const token = state.tokens.get(pool.paymentToken)
    const after = state.balances.get(pool.paymentToken)
    const change =
      before === undefined || after === undefined
        ? ''
        : ` Balance ${formatUnits(before, token.decimals)} → ${formatUnits(after, token.decimals)} ${token.symbol}.`
    state.messages.set(poolId, {
      kind: 'ok',
      code: 'PAID',
      text: `Paid ${formatUnits(result, token.decimals)} ${token.symbol} in block ${receipt.blockNumber}.${change}`,
    })
  } catch (error) {
    const failure = explain(error)
    state.messages.set(poolId, { kind: 'error', code: failure.code, text: failure.message })
  } finally {
    state.busy.delete(poolId)
    render()
  }
}

async function connect() {
  const choice = $('source').value
  try {
    state.provider = choice === 'injected' ? window.ethereum : state.dev.provider
    if (choice !== 'injected') state.dev.select(choice)
    const [account] = await state.provider.request({ method: 'eth_requestAccounts' })
    if (account === undefined)
      throw new HolderFailure('NO_ACCOUNT', 'The wallet gave no account: unlock it and connect again.')
    state.account = getAddress(account)
    const chain = defineChain({
      id: state.chain.chainId,
      name: `gridroot chain ${state.chain.chainId}`,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [] } },
    })
    const transport = custom(state.provider)
    state.publicClient = createPublicClient({ chain, transport, pollingInterval: 500 })
    state.walletClient = createWalletClient({ chain, transport, account: state.account })
    state.positions.clear()
    state.balances.clear()
    state.messages.clear()
    $('account').textContent = state.account
    await refresh()
    clearInterval(state.timer)
    state.timer = setInterval(() => {
      if (state.busy.size === 0) refresh()
    }, REFRESH_MS)
  } catch (error) {
    const failure = explain(error)
    showWalletMessage(failure.code, failure.message)
  }
}

function option(value, label) {
  const o = document.createElement('option')
  o.value = value
  o.textContent = label
  return o
}

async function start() {
  try {
    state.chain = await api('/chain')
    // Symbols and decimals come from the API's chain: amounts read right on any wallet chain.
    for (const pool of state.chain.pools)
      state.tokens.set(pool.paymentToken, { symbol: pool.paymentSymbol, decimals: pool.paymentDecimals })
  } catch (error) {
    setStatus(
      error.code === 'NOT_FOUND'
        ? 'NO_CONTRACTS: this API has no contracts file (GRIDROOT_CONTRACTS_FILE), so there is nothing to claim here.'
        : `${error.code ?? 'API_UNREACHABLE'}: ${error.message}`,
      true,
    )
    return
  }
  const source = $('source')
  if (window.ethereum !== undefined) source.append(option('injected', 'Injected wallet (window.ethereum)'))
  if (state.chain.devWallet) {
    const { createDevWallet } = await import('/dev-wallet/provider.js')
    state.dev = await createDevWallet()
    for (const a of state.dev.accounts)
      source.append(option(a.address, `dev:${a.index} ${a.role} ${a.address}`))
    // The local stack's investors start at dev:7 (contracts/deploy/dev-accounts.ts).
    if (window.ethereum === undefined)
      source.value = state.dev.accounts.find((a) => a.index === 7)?.address ?? ''
  }
  if (source.options.length === 0) {
    showWalletMessage(
      'NO_WALLET',
      'No wallet in this browser: install an EIP-1193 wallet extension (in the local stack, GRIDROOT_API_DEV_WALLET=anvil offers the dev accounts).',
    )
    setStatus('no wallet')
    return
  }
  source.disabled = false
  $('connect').disabled = false
  $('connect').addEventListener('click', connect)
  window.ethereum?.on?.('accountsChanged', () => {
    if (state.account !== undefined && $('source').value === 'injected') connect()
  })
  window.ethereum?.on?.('chainChanged', () => refresh())
  setStatus('choose a wallet and connect')
}

start()

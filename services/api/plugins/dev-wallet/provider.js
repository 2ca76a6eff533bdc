// The local stack's dev wallet in the browser: an EIP-1193 provider over the API's dev-wallet
// routes (served only with GRIDROOT_API_DEV_WALLET=anvil). The page chooses one of anvil's dev
// accounts; reads and eth_sendTransaction go to /api/v1/dev-wallet/rpc, which signs there. Node
// errors keep their code and data, so viem decodes a revert's custom error as with any wallet.

class ProviderRpcError extends Error {
  constructor(code, message, data) {
    super(message)
    this.code = code
    if (data !== undefined) this.data = data
  }
}

export async function createDevWallet() {
  const response = await fetch('/api/v1/dev-wallet/accounts')
  if (!response.ok) throw new Error(`the dev wallet is not served here (${response.status})`)
  const { chainId, accounts } = await response.json()
  const listeners = new Map()
  const emit = (event, value) => {
    for (const listener of listeners.get(event) ?? []) listener(value)
  }
  let selected
  let nextId = 1

  async function rpc(method, params) {
    const answer = await fetch('/api/v1/dev-wallet/rpc', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
    })
    const body = await answer.json()
    // The API's own refusals (unknown account, refused method) in EIP-1193's "unsupported" code.
    if (!answer.ok) throw new ProviderRpcError(4200, `${body.error?.code}: ${body.error?.message}`)
    if (body.error) throw new ProviderRpcError(body.error.code, body.error.message, body.error.data)
    return body.result
  }

  const provider = {
    isGridrootDevWallet: true,
    async request({ method, params = [] }) {
      switch (method) {
        case 'eth_requestAccounts':
          if (selected === undefined) throw new ProviderRpcError(4100, 'choose a dev account first')
          return [selected]
        case 'eth_accounts':
          return selected === undefined ? [] : [selected]
        case 'eth_chainId':
          return `0x${chainId.toString(16)}`
        default:
          return rpc(method, params)
      }
    },
    on(event, listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener])
      return provider
    },
    removeListener(event, listener) {
      listeners.set(
        event,
        (listeners.get(event) ?? []).filter((l) => l !== listener),
      )
      return provider
    },
  }

  return {
    chainId,
    accounts,
    provider,
    select(address) {
      selected = address
      emit('accountsChanged', [address])
    },
  }
}

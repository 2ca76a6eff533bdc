/**
 * The wallet glue of the holder view, from npm and served here (no CDN): `/assets/wallet.js`,
 * viem's clients, EIP-1193 transport and error classes with the RevenueDistributor and
 * stablecoin ABIs of contracts/abi, bundled by esbuild into one browser module on first request
 * (342 kB minified, 104 kB gzipped; once per process, 0.6–1.6 s measured on the shared machine). The ABIs come from the committed
 * modules, so a changed claim signature reaches the browser with the next start of the API.
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { build } from 'esbuild'
import type { FastifyInstance } from 'fastify'

const REPO_ROOT = join(import.meta.dirname, '..', '..', '..')

/** What holder.js imports; viem tree-shakes to these. */
const ENTRY = `
export {
  BaseError, ChainMismatchError, ContractFunctionRevertedError, UserRejectedRequestError,
  createPublicClient, createWalletClient, custom, defineChain, getAddress,
} from 'viem'
export { revenueDistributorAbi } from './contracts/abi/RevenueDistributor.ts'
export { hkdStablecoinAbi } from './contracts/abi/HkdStablecoin.ts'
`

let bundle: Promise<{ readonly code: string; readonly etag: string }> | undefined

export function walletBundle(): Promise<{ readonly code: string; readonly etag: string }> {
  bundle ??= build({
    stdin: { contents: ENTRY, resolveDir: REPO_ROOT, sourcefile: 'wallet.js', loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  }).then(
    (result) => {
      const code = result.outputFiles[0]?.text ?? ''
      return { code, etag: `"${createHash('sha256').update(code).digest('hex').slice(0, 32)}"` }
    },
    (error: unknown) => {
      bundle = undefined
      throw error
    },
  )
  return bundle
}

export async function walletAssetsPlugin(app: FastifyInstance): Promise<void> {
  app.get('/assets/wallet.js', { schema: { hide: true } }, async (request, reply) => {
    const { code, etag } = await walletBundle()
    reply.header('etag', etag).header('cache-control', 'public, max-age=60')
    if (request.headers['if-none-match'] === etag) return reply.status(304).send()
    return reply.type('text/javascript; charset=utf-8').send(code)
  })
}

import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { STACK_ERROR_CODES, StackError } from '../errors.ts'
import { REPO_ROOT } from '../paths.ts'
import { runToCompletion } from '../process.ts'

export interface AnvilInstall {
  readonly command: string
  /** Arguments before anvil's own (the npx fallback needs `anvil` first). */
  readonly argsPrefix: readonly string[]
  readonly version: string
}

const NODE_ARCH_TO_FOUNDRY: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64' }

/**
 * anvil ships inside the npm devDependency @foundry-rs/anvil as a per-platform package. The
 * binary is used directly so that the pid the stack records is anvil itself; `npx anvil` is
 * the fallback for a layout this does not know.
 */
export async function resolveAnvil(): Promise<AnvilInstall> {
  const require = createRequire(join(REPO_ROOT, 'package.json'))
  const arch = NODE_ARCH_TO_FOUNDRY[process.arch] ?? process.arch
  let command: string | undefined
  try {
    const packageJson = require.resolve(`@foundry-rs/anvil-${process.platform}-${arch}/package.json`)
    const binary = join(dirname(packageJson), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil')
    if (existsSync(binary)) command = binary
  } catch {
    // Not installed for this platform; fall back to npx below.
  }
  const argsPrefix = command === undefined ? ['--no-install', 'anvil'] : []
  const resolved = command ?? 'npx'
  const { code, output } = await runToCompletion(resolved, [...argsPrefix, '--version'], {
    cwd: REPO_ROOT,
    timeoutMs: 30_000,
  })
  if (code !== 0) {
    throw new StackError(STACK_ERROR_CODES.toolMissing, 'the anvil binary is not installed', {
      server: 'anvil',
      metaMessages: [
        output.trim().split('\n').slice(-3).join('\n'),
        'Run `npm install` (it installs @foundry-rs/anvil).',
      ],
    })
  }
  return { command: resolved, argsPrefix, version: /Version: (\S+)/.exec(output)?.[1] ?? 'unknown' }
}

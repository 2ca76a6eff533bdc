/**
 * What `npm start` runs once the stack is up and before the services start: `npm run deploy`
 * (keeps live contracts) and `npm run pools -- apply --file config/pools.json` against the
 * environment the services get, printing their output. Throws when either fails.
 */
import { spawn } from 'node:child_process'
import { nodeTsArgs } from '../../runtime/node-ts.ts'
import { REPO_ROOT } from '../../stack/paths.ts'

function runEntry(entry: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  const { command, args: nodeArgs } = nodeTsArgs(entry)
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...nodeArgs, ...args], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${entry} exited with ${code}`))))
  })
}

export async function deployAndApplyPools(
  env: NodeJS.ProcessEnv,
  poolsFile = 'config/pools.json',
  options: { readonly fresh?: boolean } = {},
): Promise<void> {
  await runEntry('contracts/deploy/cli.ts', options.fresh ? ['--fresh'] : [], env)
  await runEntry('contracts/pools/cli.ts', ['apply', '--file', poolsFile], env)
}

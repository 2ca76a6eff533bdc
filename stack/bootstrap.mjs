#!/usr/bin/env node
// First step of `npm start`, `npm test` and `npm run stack`: make sure the Node.js version fits and
// that node_modules matches package-lock.json, installing it when it does not. Plain JavaScript
// with no dependencies, because it runs before anything is installed.
import { execSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 20 || (major === 20 && minor < 10)) {
  console.error(`gridroot needs Node.js 20.10 or newer; this is ${process.version}. Install a newer Node.js.`)
  process.exit(1)
}

const lockPath = join(root, 'package-lock.json')
const stampPath = join(root, 'node_modules', '.gridroot-lock.sha256')
const lockHash = createHash('sha256').update(readFileSync(lockPath)).digest('hex')
const installed = existsSync(stampPath) ? readFileSync(stampPath, 'utf8').trim() : ''
if (installed !== lockHash) {
  // `npm ci` installs exactly what package-lock.json says and never rewrites it, so `npm start`
  // and `npm test` leave a fresh clone's `git status` clean. (`npm install` would rewrite the
  // lock: npm 11 resolves other platforms' optional binaries differently on each machine.)
  console.error(
    '[bootstrap] installing npm dependencies from package-lock.json (node_modules is missing or stale)',
  )
  try {
    execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' })
  } catch {
    console.error(
      '[bootstrap] npm ci failed (see above). If it says package.json and package-lock.json are out of sync, ' +
        'run `npm install` once, commit package-lock.json, and try again; otherwise check that the npm registry is reachable.',
    )
    process.exit(1)
  }
  writeFileSync(stampPath, `${lockHash}\n`)
}

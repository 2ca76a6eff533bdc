/**
 * The auditor view in real Chromium against the running system: the API runs as its own process
 * (services/api/main.ts) on the shared stack's Kafka and InfluxDB, on an anvil of this test's own
 * whose RevenueOracle holds a replayed fleet's pool epochs (audit-chain.ts: built as the oracle
 * builds them, tree and readings archive published in the artifact store the API reads).
 *
 * An auditor picks a pool, a device and a final epoch in the page and verifies: the page shows
 * the device's readings and revenue (the simulator's ground truth, to the unit), its leaf and
 * proof (recomputed here with OpenZeppelin's merkle-tree from the tree file), "verified against
 * the chain" from the real verify on anvil, and links to the tree and the archive whose
 * downloads hash (keccak256) to the treeHash and archiveHash RevenueOracle committed. Negative
 * cases end in a problem box with the API's code, never a spinner: an epoch still pending, and an
 * epoch whose tree was altered in the store. Screenshots: .run/screenshots/auditor-browser/.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { StandardMerkleTree } from '@openzeppelin/merkle-tree'
import type { Browser, Page } from 'playwright-core'
import { keccak256 } from 'viem'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { endpointsToEnv } from '../../runtime/endpoints.ts'
import { VERIFY_CHECKS } from '../../services/oracle/domain/verify.ts'
import { type ServiceProcess, startServiceProcess } from '../support/service-process.ts'
import { AUDIT_GRID, type AuditChain, startAuditChain } from './audit-chain.ts'
import { launchChromium, screenshotPath } from './browser.ts'

const name = `auditorweb_${process.pid}_${Date.now().toString(36)}`
// The swap cabinet that earns in the replayed fleet's first hour (pv plants earn nothing at night).
const POOL = 'xunying-swap'
const DEVICE = 'swp-000001'
const OTHER_POOL = 'gcl-pv'
const shot = (file: string) => screenshotPath(`auditor-browser/${file}`)

let audit: AuditChain
let api: ServiceProcess | undefined
let base: string
let browser: Browser | undefined

beforeAll(async () => {
  audit = await startAuditChain('auditor-browser', [
    { poolId: OTHER_POOL, epoch: 0, state: 'final' },
    { poolId: POOL, epoch: 0, state: 'final' },
    // Epoch 1's tree is altered in the store below; epoch 2 waits out its challenge window.
    { poolId: POOL, epoch: 1, state: 'final' },
    { poolId: POOL, epoch: 2, state: 'pending' },
  ])
  // Altered before the API ever reads it: whatever the API keeps in memory, it must see this.
  const treePath = audit.store.pathOf(audit.built.get(`${POOL}/1`)?.proposal.treeHash as `0x${string}`)
  const tampered = Buffer.from(readFileSync(treePath))
  tampered[tampered.length - 3] = tampered[tampered.length - 3] === 0x30 ? 0x31 : 0x30
  writeFileSync(treePath, tampered)

  api = await startServiceProcess(
    'services/api/main.ts',
    {
      ...endpointsToEnv({ ...inject('endpoints'), chain: audit.anvil.endpoint }),
      GRIDROOT_REGISTRY_FILE: audit.registryFile,
      GRIDROOT_CONTRACTS_FILE: audit.contractsFile,
      GRIDROOT_ARTIFACT_DIR: audit.artifactDir,
      GRIDROOT_EPOCH_GENESIS: new Date(AUDIT_GRID.genesisMs).toISOString(),
      GRIDROOT_EPOCH_LENGTH: '1h',
      GRIDROOT_INTERVAL: '5m',
      GRIDROOT_KAFKA_TOPIC_PREFIX: `${name}.`,
      GRIDROOT_AGG_GROUP: `${name}-aggregator`,
      GRIDROOT_API_INSTANCE: `${name}-api`,
    },
    'GRIDROOT_API_PORT',
  )
  await api.waitHealthy()
  base = `http://127.0.0.1:${api.metricsPort}`
  browser = await launchChromium()
}, 300_000)

afterAll(async () => {
  await browser?.close()
  await api?.kill('SIGTERM')
  await audit?.stop()
})

interface Opened {
  readonly page: Page
  readonly failures: string[]
}

async function openAuditorView(hash = ''): Promise<Opened> {
  const context = await (browser as Browser).newContext({
    viewport: { width: 1400, height: 1000 },
    acceptDownloads: true,
  })
  const page = await context.newPage()
  const failures: string[] = []
  page.on('pageerror', (error) => failures.push(String(error)))
  page.on('requestfailed', (request) => failures.push(`${request.url()} ${request.failure()?.errorText}`))
  await page.goto(`${base}/auditor.html${hash}`)
  await page.waitForSelector('#pool option', { state: 'attached' })
  return { page, failures }
}

/** Picks a pool, a device and an epoch the way a person does, then presses Verify. */
async function pickAndVerify(page: Page, poolId: string, deviceId: string, epoch: number): Promise<void> {
  if ((await page.inputValue('#pool')) !== poolId) {
    await page.selectOption('#pool', poolId)
    // The pool's epochs and devices load on the change.
    await page.waitForSelector(`#devices[data-pool="${poolId}"] option[value="${deviceId}"]`, {
      state: 'attached',
    })
  }
  await page.waitForSelector(`#epoch[data-pool="${poolId}"] option[value="${epoch}"]`, { state: 'attached' })
  await page.fill('#device', deviceId)
  await page.selectOption('#epoch', String(epoch))
  await page.click('#verify')
  // Settled: a verdict or a problem, and the form usable again.
  await page.waitForFunction(
    "!document.getElementById('auditor').hasAttribute('aria-busy') && (!document.getElementById('result').hidden || !document.getElementById('problem').hidden)",
    undefined,
    { timeout: 90_000 },
  )
}

const text = async (page: Page, selector: string) => ((await page.textContent(selector)) ?? '').trim()
const texts = (page: Page, selector: string) =>
  page.$$eval(selector, (nodes) => nodes.map((n) => (n.textContent ?? '').trim()))
const hkd = (units: bigint) =>
  `HKD ${(units / 1_000_000n).toLocaleString('en')}.${(units % 1_000_000n).toString().padStart(6, '0')}`

describe('auditor view (real Chromium, API process, RevenueOracle on anvil)', () => {
  it('an auditor picks a pool, a device and an epoch, and sees its readings, revenue, leaf and proof verified against the chain', async () => {
    const truth = audit.truth.find((t) => t.deviceId === DEVICE && t.epoch === 0)
    const revenueUnits = truth?.revenueUnits
    if (truth === undefined || revenueUnits === undefined)
      throw new Error(`no ground truth for ${DEVICE} epoch 0`)
    expect(revenueUnits, 'the cabinet earned in epoch 0').toBeGreaterThan(0n)
    const finalized = await audit.chain.finalized(POOL, 0)
    if (finalized === undefined) throw new Error(`${POOL} epoch 0 is not final on-chain`)

    const { page, failures } = await openAuditorView()
    expect(await texts(page, '#pool option')).toEqual([`${OTHER_POOL} (3 devices)`, `${POOL} (3 devices)`])
    await pickAndVerify(page, POOL, DEVICE, 0)
    expect(await page.isVisible('#problem')).toBe(false)
    expect(await text(page, '#verdict')).toContain(`Verified against the chain: ${DEVICE} in ${POOL} epoch 0`)
    expect(await page.getAttribute('#verdict', 'class')).toBe('verdict ok')
    expect(
      await page.$$eval('#checks li', (lis) =>
        lis.map((li) => `${li.getAttribute('data-check')}:${li.className}`),
      ),
    ).toEqual(VERIFY_CHECKS.map((c) => `${c}:ok`))

    // Revenue and readings: the simulator's own ledger, not the code under test.
    const readings = truth.readings
    expect(await text(page, '#tile-revenue')).toBe(hkd(revenueUnits))
    expect(await text(page, '#tile-energy')).toBe(truth.energyWh.toLocaleString('en'))
    expect(await text(page, '#tile-readings')).toBe(String(readings))
    expect(await page.$$('#readings tbody tr')).toHaveLength(readings)
    expect(await page.getAttribute('#chart-readings', 'data-points')).toBe(String(readings))
    // The rows are the readings the replay paid for, by (boot, seq).
    const rows = await page.$$eval('#readings tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    )
    const paid = audit.replay.paidReadings(0, DEVICE)
    expect(rows.map((r) => `${r[1]}/${r[2]}`).sort()).toEqual(paid.map((p) => `${p.boot}/${p.seq}`).sort())

    // The commitment is RevenueOracle's; leaf and proof are what OpenZeppelin's tree says.
    const commitment = await texts(page, '#commitment dd')
    expect(commitment[0]).toBe(finalized.root.toLowerCase())
    expect(commitment[3]).toBe(String(finalized.leafCount))
    const tree = StandardMerkleTree.load(
      JSON.parse(Buffer.from(audit.built.get(`${POOL}/0`)?.treeBytes as Uint8Array).toString()),
    )
    expect(tree.root).toBe(finalized.root.toLowerCase())
    const [index, value] = [...tree.entries()].find(([, v]) => v[2] === DEVICE) ?? []
    if (value === undefined || index === undefined) throw new Error(`${DEVICE} has no leaf in the tree`)
    const leaf = await texts(page, '#leaf dd')
    expect(leaf[0]).toBe(tree.leafHash(value))
    expect(await texts(page, '#proof li')).toEqual(tree.getProof(index))
    await page.screenshot({ path: shot('verified.png'), fullPage: true })

    // Each artifact link downloads the file whose keccak256 the chain committed.
    for (const [label, hash] of [
      ['tree', finalized.treeHash],
      ['readings archive', finalized.archiveHash],
    ] as const) {
      const link = `a[data-artifact="${label}"]`
      expect(await text(page, link)).toBe(hash.toLowerCase())
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(link)])
      const path = await download.path()
      expect(keccak256(readFileSync(path))).toBe(hash.toLowerCase())
      expect(download.suggestedFilename()).toBe(`${hash.toLowerCase().slice(2)}.json`)
    }
    expect(failures).toEqual([])
    await page.context().close()
  })

  it('an epoch not final and a tampered artifact end in a clear failure on the page, not a spinner', async () => {
    const { page, failures } = await openAuditorView()
    await pickAndVerify(page, POOL, DEVICE, 2)
    expect(await page.isVisible('#result')).toBe(false)
    const pending = await text(page, '#problem')
    expect(pending).toContain('Not verified')
    expect(pending).toContain('EPOCH_NOT_FINAL')
    expect(pending).toContain(`${POOL} epoch 2 is pending, not final`)
    expect(pending).toContain('on-chain status: pending')
    expect(pending).toContain('end of the challenge window')
    expect(await text(page, '#status')).toContain('the audit did not run')
    expect(await page.isEnabled('#verify')).toBe(true)
    await page.screenshot({ path: shot('epoch-pending.png'), fullPage: true })

    await pickAndVerify(page, POOL, DEVICE, 1)
    const corrupt = await text(page, '#problem')
    expect(corrupt).toContain('ARTIFACT_CORRUPT')
    expect(corrupt).toContain(`an artifact of ${POOL} epoch 1 is corrupt in the store`)
    expect(await page.isVisible('#result')).toBe(false)
    await page.screenshot({ path: shot('artifact-tampered.png'), fullPage: true })

    // After a failure the page still audits, and the choice in the URL opens the same audit.
    await pickAndVerify(page, POOL, DEVICE, 0)
    expect(await text(page, '#verdict')).toContain('Verified against the chain')
    expect(await page.isVisible('#problem')).toBe(false)
    const shared = await openAuditorView(new URL(page.url()).hash)
    await shared.page.waitForSelector('#result:not([hidden])', { timeout: 90_000 })
    expect(await text(shared.page, '#verdict')).toContain(
      `Verified against the chain: ${DEVICE} in ${POOL} epoch 0`,
    )
    expect(failures).toEqual([])
    expect(shared.failures).toEqual([])
    await shared.page.context().close()
    await page.context().close()
  })

  it('a link to an epoch outside the list shows that epoch in the selector, and a hash changed in the same tab opens its audit (F4)', async () => {
    // Epoch 9 was never proposed: not among the listed epochs, like one older than the newest 48.
    const { page, failures } = await openAuditorView(
      `#${new URLSearchParams({ pool: POOL, device: DEVICE, epoch: '9' })}`,
    )
    await page.waitForSelector('#problem:not([hidden])', { timeout: 90_000 })
    expect(await text(page, '#problem')).toContain('UNKNOWN_EPOCH')
    expect(await page.inputValue('#epoch')).toBe('9')
    expect(await text(page, '#epoch option:checked')).toContain('#9 · linked')
    const hash = `#${new URLSearchParams({ pool: POOL, device: DEVICE, epoch: '0' })}`
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`)
    await page.waitForSelector('#result:not([hidden])', { timeout: 90_000 })
    expect(await text(page, '#verdict')).toContain(`Verified against the chain: ${DEVICE} in ${POOL} epoch 0`)
    expect(await page.inputValue('#epoch')).toBe('0')
    expect(failures).toEqual([])
    await page.context().close()
  })
})

// The auditor view: public, no key. Pick a pool, a device and an epoch; the API runs `verify`
// (services/oracle/verify.ts) on the published tree and readings archive against the root
// RevenueOracle finalized, and this page shows every check, the leaf, its proof, the paid
// readings and links to both artifacts. The choice lives in the URL hash, so a link to an audit
// can be shared. Pool epochs refresh every REFRESH_MS. Amounts are decimal strings of base units
// (6 decimals), formatted as BigInt; only the chart's y values become floats.
// Every outcome ends in a verdict or a problem box, never an endless "verifying…": a request
// that has not answered after REQUEST_TIMEOUT_MS is shown as a failure too.
const REFRESH_MS = 10_000
const REQUEST_TIMEOUT_MS = 60_000
const UNITS_PER_HKD = 1_000_000n
const API = '/api/v1/auditor'

const $ = (id) => document.getElementById(id)
const state = { audit: undefined, error: undefined, chart: undefined, pools: [], timer: undefined }
window.__gridrootAuditor = state

class ApiFailure extends Error {
  constructor(body, status) {
    super(`${body.error?.code ?? status}: ${body.error?.message ?? ''}`)
    this.code = body.error?.code ?? String(status)
    this.hint = body.error?.hint ?? ''
    this.details = body.error?.details ?? {}
  }
}

async function api(path) {
  let response
  try {
    response = await fetch(`${API}${path}`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  } catch (error) {
    if (error?.name === 'TimeoutError')
      throw new ApiFailure(
        {
          error: {
            code: 'NO_ANSWER',
            message: `the API did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`,
            hint: 'The API or the chain node it reads may be overloaded or down: retry, or check its /healthz.',
          },
        },
        0,
      )
    throw error
  }
  let body
  try {
    body = await response.json()
  } catch {
    body = {
      error: { code: `HTTP_${response.status}`, message: `the API answered ${response.status} without JSON` },
    }
  }
  if (!response.ok) throw new ApiFailure(body, response.status)
  return body
}

function formatHkd(units) {
  const negative = units < 0n
  const abs = negative ? -units : units
  const whole = (abs / UNITS_PER_HKD).toLocaleString('en')
  const cents = (abs % UNITS_PER_HKD).toString().padStart(6, '0')
  return `${negative ? '-' : ''}HKD ${whole}.${cents}`
}

const utc = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19)
const el = (tag, text, className) => {
  const node = document.createElement(tag)
  if (text !== undefined) node.textContent = text
  if (className) node.className = className
  return node
}

function setStatus(message, error = false) {
  $('status').className = error ? 'error' : ''
  $('status').textContent = message
}

function choice() {
  const params = new URLSearchParams(location.hash.slice(1))
  return { pool: params.get('pool'), device: params.get('device'), epoch: params.get('epoch') }
}

function option(value, label, disabled = false) {
  const o = el('option', label)
  o.value = value
  o.disabled = disabled
  return o
}

async function loadPools() {
  const { pools } = await api('/pools')
  state.pools = pools
  const wanted = choice().pool ?? $('pool').value
  $('pool').replaceChildren(...pools.map((p) => option(p.poolId, `${p.poolId} (${p.devices} devices)`)))
  if (pools.some((p) => p.poolId === wanted)) $('pool').value = wanted
  if (pools.length === 0) setStatus('RevenueOracle knows no pool yet', true)
}

async function loadDevices(poolId) {
  const { devices } = await api(`/pools/${encodeURIComponent(poolId)}/devices?limit=500`)
  $('devices').replaceChildren(...devices.map((d) => option(d.deviceId, d.assetClass)))
  const wanted = choice().device
  if (wanted && choice().pool === poolId) $('device').value = wanted
  else if (!devices.some((d) => d.deviceId === $('device').value))
    $('device').value = devices[0]?.deviceId ?? ''
  // Which pool the list is of (the lists of two pools can hold the same values).
  $('devices').dataset.pool = poolId
}

async function loadEpochs(poolId) {
  const pool = await api(`/pools/${encodeURIComponent(poolId)}?limit=48`)
  const previous = $('epoch').value
  $('epoch').replaceChildren(
    // Epochs that are not final stay selectable: verifying one says why it cannot be audited yet.
    ...pool.epochs.map((e) => option(String(e.epoch), `#${e.epoch} · ${e.status}`)),
  )
  const linked = choice().pool === poolId ? choice().epoch : null
  const wanted = linked ?? previous
  const finals = pool.epochs.filter((e) => e.status === 'final')
  if (wanted !== null && pool.epochs.some((e) => String(e.epoch) === wanted)) $('epoch').value = wanted
  else if (linked !== null && /^[0-9]{1,16}$/.test(linked)) {
    // A link's epoch outside the newest 48 is shown as itself: selecting another epoch instead
    // put the linked epoch's result under that other epoch's number.
    $('epoch').append(option(linked, `#${linked} · linked (not in the newest ${pool.epochs.length})`))
    $('epoch').value = linked
  } else if (finals.length > 0) $('epoch').value = String(finals[0].epoch)
  $('epoch').dataset.finals = String(finals.length)
  $('epoch').dataset.pool = poolId
  return pool
}

async function selectPool(poolId) {
  await Promise.all([loadDevices(poolId), loadEpochs(poolId)])
}

/** What an error's details mean to a person (the API's codes are in services/api/errors.ts). */
function detailLines(error) {
  const d = error.details ?? {}
  const lines = []
  if (d.status)
    lines.push(`on-chain status: ${d.status}${d.attempt !== undefined ? ` (attempt ${d.attempt})` : ''}`)
  if (d.finalizesAtMs > 0) lines.push(`final from ${utc(d.finalizesAtMs)} UTC (end of the challenge window)`)
  if (d.nextEpoch !== undefined) lines.push(`proposed so far: epochs ${d.firstEpoch} to ${d.nextEpoch - 1}`)
  if (d.hash) lines.push(`artifact ${d.hash}`)
  if (d.detail) lines.push(String(d.detail))
  return lines
}

function showProblem(error) {
  state.audit = undefined
  state.error =
    error instanceof ApiFailure
      ? { code: error.code, message: error.message, details: error.details }
      : { message: String(error) }
  $('result').hidden = true
  const box = $('problem')
  box.replaceChildren(el('h2', '✗ Not verified: the audit could not run'))
  if (error instanceof ApiFailure) {
    box.append(el('code', error.code), ` ${error.message.slice(error.code.length + 2)}`)
    const lines = detailLines(error)
    if (lines.length > 0) box.append(el('ul', undefined, 'details'))
    for (const line of lines) box.querySelector('ul.details').append(el('li', line))
    box.append(el('p', error.hint))
  } else box.append(`cannot reach the API: ${error}`)
  box.hidden = false
}

function kv(id, pairs) {
  $(id).replaceChildren(...pairs.flatMap(([k, v]) => [el('dt', k), el('dd', v)]))
}

function drawReadings(readings) {
  const host = $('chart-readings')
  state.chart?.destroy()
  host.replaceChildren()
  const sorted = [...readings].sort((a, b) => a.ts - b.ts)
  const data = [sorted.map((r) => r.ts / 1000), sorted.map((r) => r.registerWh)]
  state.chart = new uPlot(
    {
      width: Math.max(320, host.clientWidth || 900),
      height: 220,
      series: [{}, { label: 'register Wh', stroke: '#0b7a75', width: 2, points: { show: true } }],
      // Wide enough for a register of millions of Wh with its thousands separators.
      axes: [{}, { size: 90 }],
    },
    data,
    host,
  )
  host.dataset.points = String(sorted.length)
}

function showAudit(audit) {
  state.audit = audit
  state.error = undefined
  $('problem').hidden = true
  const failed = audit.checks.find((c) => !c.ok)
  const verdict = $('verdict')
  verdict.className = `verdict ${audit.verified ? 'ok' : 'failed'}`
  verdict.textContent = audit.verified
    ? `✓ Verified against the chain: ${audit.deviceId} in ${audit.poolId} epoch ${audit.epoch}, its leaf and proof fold to the root RevenueOracle finalized`
    : `✗ Not verified against the chain: ${failed?.check ?? '?'} failed — ${failed?.detail ?? ''}`
  $('tile-revenue').textContent = audit.leaf ? formatHkd(BigInt(audit.leaf.revenueUnits)) : '–'
  $('tile-energy').textContent = audit.leaf ? BigInt(audit.leaf.energyWh).toLocaleString('en') : '–'
  $('tile-readings').textContent = audit.readings.length.toLocaleString('en')
  $('tile-leaves').textContent = audit.chain.leafCount.toLocaleString('en')
  $('checks').replaceChildren(
    ...audit.checks.map((c) => {
      const li = el('li', undefined, c.ok ? 'ok' : 'failed')
      li.dataset.check = c.check
      li.append(el('b', `${c.ok ? '✓' : '✗'} ${c.check}`), ' ', el('code', c.detail))
      return li
    }),
  )
  kv('commitment', [
    ['root', audit.chain.root],
    ['pool revenue', formatHkd(BigInt(audit.chain.revenueUnits))],
    ['pool energy', `${BigInt(audit.chain.energyWh).toLocaleString('en')} Wh`],
    ['leaves', String(audit.chain.leafCount)],
  ])
  $('artifacts').replaceChildren(
    ...[
      ['tree', audit.artifacts.tree],
      ['readings archive', audit.artifacts.archive],
    ].map(([label, link]) => {
      const li = el('li', `${label}: `)
      const a = el('a', link.hash)
      a.href = link.url
      // Saved under its hash: keccak256 of the file is what the chain committed.
      a.download = `${link.hash.slice(2)}.json`
      a.dataset.artifact = label
      li.append(a)
      return li
    }),
  )
  kv('leaf', [
    ['leaf hash', audit.leafHash ?? '–'],
    ['readings digest', audit.leaf?.readingsDigest ?? '–'],
    ['recomputed from archive', audit.recomputed?.readingsDigest ?? '–'],
    ['proof', `${audit.proof.length} nodes, folding to the root above`],
  ])
  $('proof').replaceChildren(...audit.proof.map((p) => el('li', p)))
  $('readings')
    .querySelector('tbody')
    .replaceChildren(
      ...audit.readings.map((r) => {
        const tr = el('tr')
        for (const v of [
          utc(r.ts),
          r.boot,
          r.seq,
          r.type,
          r.registerWh.toLocaleString('en'),
          `${r.partition}/${r.offset}`,
        ])
          tr.append(el('td', String(v)))
        return tr
      }),
    )
  $('result').hidden = false
  drawReadings(audit.readings)
}

/** Verifies the form's choice, or a link's (whose epoch may not be in the list: the API says why). */
async function verify(link) {
  const poolId = link?.pool ?? $('pool').value
  const deviceId = (link?.device ?? $('device').value).trim()
  const epoch = link?.epoch ?? $('epoch').value
  history.replaceState(null, '', `#${new URLSearchParams({ pool: poolId, device: deviceId, epoch })}`)
  setStatus(`verifying ${deviceId} in ${poolId} epoch ${epoch}…`)
  $('verify').disabled = true
  $('auditor').setAttribute('aria-busy', 'true')
  try {
    showAudit(
      await api(
        `/pools/${encodeURIComponent(poolId)}/epochs/${encodeURIComponent(epoch)}/devices/${encodeURIComponent(deviceId)}`,
      ),
    )
    setStatus(`verified at ${new Date().toLocaleTimeString()}`)
  } catch (error) {
    showProblem(error)
    setStatus('the audit did not run: see below', true)
  } finally {
    $('verify').disabled = false
    $('auditor').removeAttribute('aria-busy')
  }
}

async function refreshEpochs() {
  try {
    if ($('pool').value) await loadEpochs($('pool').value)
    if (!state.audit && !state.error) setStatus(`epochs updated ${new Date().toLocaleTimeString()}`)
  } catch (error) {
    setStatus(error instanceof ApiFailure ? error.message : `cannot reach the API: ${error}`, true)
  }
}

$('audit-form').addEventListener('submit', (event) => {
  event.preventDefault()
  verify()
})
$('pool').addEventListener('change', () => selectPool($('pool').value).catch(showProblem))
// A link pasted or edited in the same tab opens its audit too (verify's replaceState fires no
// hashchange, so this is the person's doing only).
window.addEventListener('hashchange', () => {
  const link = choice()
  if (!link.pool || !link.device || link.epoch === null) return
  ;(async () => {
    if (link.pool !== $('pool').value) {
      $('pool').value = link.pool
      await selectPool(link.pool)
    } else await loadEpochs(link.pool)
    $('device').value = link.device
    await verify(link)
  })().catch(showProblem)
})

async function start() {
  try {
    await loadPools()
    if ($('pool').value) await selectPool($('pool').value)
    setStatus('pick a device and a final epoch, then Verify')
    const link = choice()
    if (link.pool && link.device && link.epoch !== null) await verify(link)
  } catch (error) {
    showProblem(error)
    setStatus('the auditor routes did not answer', true)
  }
  state.timer = setInterval(refreshEpochs, REFRESH_MS)
}

start()

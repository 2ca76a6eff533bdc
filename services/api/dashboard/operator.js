// The operator view: reads the operator API with the key kept in this tab, draws revenue with
// uPlot, and refreshes itself every REFRESH_MS. Amounts arrive as decimal strings of base units
// (6 decimals); totals are summed as BigInt, only the chart's y values become floats.
const REFRESH_MS = 10_000
const UNITS_PER_HKD = 1_000_000n
const RANGES = {
  '1d': { ms: 86_400_000, resolution: '15m' },
  '7d': { ms: 7 * 86_400_000, resolution: '3h' },
  '30d': { ms: 30 * 86_400_000, resolution: '12h' },
}
const COLORS = ['#0b7a75', '#b54708', '#3538cd', '#c11574', '#027a48', '#6941c6', '#175cd3', '#a15c07']

const $ = (id) => document.getElementById(id)
const state = { key: '', charts: {}, timer: undefined, lastOk: undefined }
window.__gridroot = state

function readKey() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('key')
  if (fromHash) {
    sessionStorage.setItem('gridroot-api-key', fromHash)
    history.replaceState(null, '', location.pathname)
  }
  return sessionStorage.getItem('gridroot-api-key') ?? ''
}

class ApiFailure extends Error {}

async function api(path) {
  const response = await fetch(`/api/v1/operator${path}`, { headers: { 'x-api-key': state.key } })
  const body = await response.json()
  if (!response.ok) {
    if (response.status === 401) showKeyForm()
    throw new ApiFailure(
      `${body.error?.code ?? response.status}: ${body.error?.message ?? ''} — ${body.error?.hint ?? ''}`,
    )
  }
  return body
}

function formatHkd(units) {
  const negative = units < 0n
  const abs = negative ? -units : units
  const whole = (abs / UNITS_PER_HKD).toLocaleString('en')
  const cents = ((abs % UNITS_PER_HKD) / 10_000n).toString().padStart(2, '0')
  return `${negative ? '-' : ''}HKD ${whole}.${cents}`
}

const text = (id, value) => {
  $(id).textContent = value
}

function list(id, entries, empty) {
  const ul = $(id)
  ul.replaceChildren()
  if (entries.length === 0) {
    const li = document.createElement('li')
    li.className = 'empty'
    li.textContent = empty
    ul.append(li)
    return
  }
  for (const [name, count] of entries) {
    const li = document.createElement('li')
    const label = document.createElement('span')
    label.textContent = name
    const value = document.createElement('b')
    value.textContent = count.toLocaleString('en')
    li.append(label, value)
    ul.append(li)
  }
}

/** Every window of the range on the x axis (seconds), 0 where a series has no data. */
function toColumns(revenue) {
  const xs = []
  for (let t = revenue.fromMs; t < revenue.toMs; t += revenue.resolutionMs) xs.push(t / 1000)
  const index = new Map(xs.map((x, i) => [x * 1000, i]))
  const columns = revenue.series.map((s) => {
    const ys = new Array(xs.length).fill(0)
    s.points.startMs.forEach((t, i) => {
      const at = index.get(t)
      if (at !== undefined) ys[at] = Number(BigInt(s.points.revenueUnits[i])) / 1e6
    })
    return ys
  })
  return [xs, ...columns]
}

function drawChart(name, revenue) {
  const host = $(`chart-${name}`)
  const data = toColumns(revenue)
  const keys = revenue.series.map((s) => s.key)
  const signature = keys.join(',')
  const existing = state.charts[name]
  host.dataset.series = String(keys.length)
  host.dataset.points = String(revenue.series.reduce((n, s) => n + s.points.startMs.length, 0))
  const total = revenue.series.reduce((sum, s) => sum + BigInt(s.totalRevenueUnits), 0n)
  text(`total-${name}`, `· total ${formatHkd(total)}`)
  if (existing && existing.signature === signature) {
    existing.plot.setData(data)
    return
  }
  existing?.plot.destroy()
  const opts = {
    width: Math.max(320, host.clientWidth || 600),
    height: 300,
    series: [
      {},
      ...keys.map((key, i) => ({
        label: key,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        value: (_u, v) => (v == null ? '–' : v.toFixed(2)),
      })),
    ],
    axes: [{}, { size: 70, values: (_u, ticks) => ticks.map((v) => v.toLocaleString('en')) }],
    scales: { x: { time: true } },
  }
  state.charts[name] = { signature, plot: new window.uPlot(opts, data, host) }
  // The benchmark reads this: the time from navigation to the first chart with data.
  if (performance.getEntriesByName('gridroot-first-chart').length === 0)
    performance.mark('gridroot-first-chart')
}

function drawEpochs(epochs) {
  const host = $('epochs')
  host.replaceChildren()
  for (const e of epochs.epochs.slice(-30)) {
    const div = document.createElement('div')
    // On-chain state of the epoch's pool roots (RevenueOracle), when the API has a contracts file.
    const states = e.pools
      .map((p) => (p.onChain ? `${p.poolId}: ${p.onChain.status}` : undefined))
      .filter(Boolean)
    const chain = e.pools.map((p) => p.onChain?.status).filter(Boolean)
    const summary =
      chain.length === 0
        ? ''
        : chain.every((st) => st === 'final')
          ? 'final'
          : chain.includes('rejected')
            ? 'rejected'
            : chain.includes('pending')
              ? 'pending'
              : 'closed'
    div.className = `epoch closed ${summary}`
    div.dataset.chain = summary
    div.title = `closed ${new Date(e.closedAtMs).toISOString()}, ${e.devices} devices${states.length ? `\n${states.join('\n')}` : ''}`
    div.innerHTML = '<b></b><span></span>'
    div.querySelector('b').textContent = `#${e.epoch}`
    div.querySelector('span').textContent =
      `${formatHkd(BigInt(e.revenueUnits))}${summary ? ` · ${summary}` : ''}`
    host.append(div)
  }
  // Epochs past their end but not closed yet wait for the grace period and every partition.
  const firstOpen = (epochs.closedThrough ?? -1) + 1
  if (epochs.openEpoch !== null) {
    for (let epoch = Math.max(firstOpen, epochs.openEpoch - 5); epoch <= epochs.openEpoch; epoch++) {
      const div = document.createElement('div')
      div.className = 'epoch open'
      div.innerHTML = '<b></b><span></span>'
      div.querySelector('b').textContent = `#${epoch}`
      div.querySelector('span').textContent = epoch === epochs.openEpoch ? 'open' : 'closing'
      host.append(div)
    }
  }
  if (host.childElementCount === 0) host.textContent = 'No epoch has closed yet.'
}

async function refresh() {
  // The charts first: they need only the fleet clock (a few series) and the rollups. The tiles'
  // fleet snapshot reads every device's state, seconds on a large fleet: drawn when it comes.
  const clock = await api('/clock')
  const asOf = clock.asOfMs ?? Date.now()
  const range = RANGES[$('range').value] ?? RANGES['1d']
  const to = new Date(asOf + 1).toISOString()
  const from = new Date(asOf + 1 - range.ms).toISOString()
  const span = `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&resolution=${range.resolution}`
  text(
    'clock',
    clock.asOfMs === null
      ? 'no device seen yet'
      : `fleet clock ${new Date(clock.asOfMs).toISOString().replace('T', ' ').slice(0, 16)} UTC`,
  )
  const charts = Promise.all([
    api(`/revenue?groupBy=pool&${span}`).then((byPool) => drawChart('pool', byPool)),
    api(`/revenue?groupBy=class&${span}`).then((byClass) => drawChart('class', byClass)),
  ])
  const epochs = api('/epochs?limit=30').then((e) => {
    text('tile-closed', e.closedThrough === null ? '–' : `#${e.closedThrough}`)
    drawEpochs(e)
  })
  const sorted = (o) => Object.entries(o).sort((a, b) => b[1] - a[1])
  const dlq = api('/dlq/counts').then((d) => {
    text('tile-dlq', d.total.toLocaleString('en'))
    list('dlq-counts', sorted(d.byReason), 'none')
  })
  const fleet = api('/fleet').then((f) => {
    text('tile-devices', f.total.devices.toLocaleString('en'))
    text('tile-online', f.total.online.toLocaleString('en'))
    text('tile-never', f.total.neverSeen.toLocaleString('en'))
    text(
      'tile-anomalies',
      Object.values(f.anomalies.byReason)
        .reduce((a, b) => a + b, 0)
        .toLocaleString('en'),
    )
    list('quarantine-counts', sorted(f.anomalies.byReason), 'none')
    list(
      'class-counts',
      Object.entries(f.byClass).map(([c, n]) => [`${c} (online / all)`, `${n.online} / ${n.devices}`]),
      'none',
    )
  })
  // Every part is drawn as it arrives; the first failure is what the status line says.
  await Promise.all([charts, epochs, dlq, fleet])
}

async function tick() {
  try {
    await refresh()
    state.lastOk = Date.now()
    $('status').className = ''
    text('status', `updated ${new Date().toLocaleTimeString()}`)
  } catch (error) {
    $('status').className = 'error'
    text('status', error instanceof ApiFailure ? error.message : `cannot reach the API: ${error}`)
  }
}

function showKeyForm() {
  $('key-form').hidden = false
  $('operator').hidden = true
  clearInterval(state.timer)
}

function start() {
  $('key-form').hidden = true
  $('operator').hidden = false
  tick()
  clearInterval(state.timer)
  state.timer = setInterval(tick, REFRESH_MS)
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault()
  state.key = $('key-input').value.trim()
  sessionStorage.setItem('gridroot-api-key', state.key)
  start()
})
$('range').addEventListener('change', tick)

state.key = readKey()
if (state.key) start()
else showKeyForm()

// End-to-end test of the dashboard in a real browser (Debian's chromium via
// playwright-core) against the real server: `vacunometro up` with its
// embedded defaults. It builds nothing: it needs webapp/dist (npm run build)
// and the binary (make build), given as VAC_BIN (default ../bin/vacunometro).
//
//   npm run e2e            (node --test e2e/dashboard.e2e.mjs)
//
// What a user would notice is asserted: after records are posted, the
// header totals, the shading of the two departments, the latest records
// and the route split change without a reload; after the server is killed
// (SIGKILL) and started again, the page reconnects by itself and shows the
// same totals. A rollout state written into the server's own Redis (as
// `vacunometro rollout` publishes it) shows up in the rollout panel, and its
// verdict follows, without a reload. Waits are bounded only so that a broken
// build fails instead of hanging; the observed delays are printed, not
// asserted.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, readFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const webapp = resolve(here, '..')
const VAC_BIN = resolve(webapp, process.env.VAC_BIN ?? '../bin/vacunometro')
const DIST = join(webapp, 'dist')
const ARTIFACTS = join(here, 'artifacts')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const WAIT_MS = 15_000 // hang guard for each wait, not a speed requirement

const log = (...a) => console.log(...a)

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer()
    s.unref()
    s.on('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

let port
let dataDir
let userDataDir
let server
let serverLog
// The producer key the records are posted with: `up` makes its producer "local" accept it.
const PRODUCER_KEY = 'vacp_' + randomBytes(32).toString('hex')
const POST_HEADERS = { 'Content-Type': 'application/json', Authorization: `Bearer ${PRODUCER_KEY}` }
let context
let page
let base

function startServer() {
  const args = ['up', '--addr', `127.0.0.1:${port}`, '--data', dataDir, '--web', DIST]
  log('starting', VAC_BIN, args.join(' '))
  const env = { ...process.env }
  // embedded defaults: no external services, whatever the caller's shell has
  for (const k of ['MONGODB_URI', 'REDIS_URL', 'PUBSUB_EMULATOR_HOST', 'PORT']) delete env[k]
  env.LOCAL_PRODUCER_KEY = PRODUCER_KEY
  const p = spawn(VAC_BIN, args, { cwd: webapp, env, stdio: ['ignore', 'pipe', 'pipe'] })
  p.stdout.pipe(serverLog, { end: false })
  p.stderr.pipe(serverLog, { end: false })
  p.logText = '' // this process's log, to read the embedded Redis URL from
  for (const stream of [p.stdout, p.stderr]) stream.on('data', (b) => (p.logText += b.toString()))
  p.exited = new Promise((r) => p.on('exit', (code, sig) => r({ code, sig })))
  return p
}

async function waitReady(p) {
  const deadline = Date.now() + 90_000 // first start of the embedded stores can be slow on a busy 2-core box
  let exited = null
  p.exited.then((e) => (exited = e))
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited before ready: ${JSON.stringify(exited)}; log: ${join(ARTIFACTS, 'server.log')}`)
    try {
      const r = await fetch(`${base}/readyz`)
      if (r.ok) return
    } catch {
      /* not listening yet */
    }
    await sleep(100)
  }
  throw new Error('server not ready in 90 s')
}

async function killServer(sig = 'SIGKILL') {
  if (!server || server.exitCode !== null || server.signalCode !== null) return
  server.kill(sig)
  await server.exited
}

async function stats() {
  const r = await fetch(`${base}/api/stats`)
  assert.equal(r.status, 200, 'GET /api/stats')
  return r.json()
}

/** waitAttr waits until the element's attribute satisfies pred; returns the value and the wait. */
async function waitAttr(testId, attr, pred, what) {
  const t0 = Date.now()
  const loc = page.getByTestId(testId).first()
  let last
  while (Date.now() - t0 < WAIT_MS) {
    last = await loc.getAttribute(attr).catch(() => null)
    if (last !== null && pred(last)) return { value: last, ms: Date.now() - t0 }
    await sleep(25)
  }
  assert.fail(`${what}: [data-testid=${testId}] ${attr}=${JSON.stringify(last)} never matched`)
}

/** redisUrlOf reads the embedded Redis URL from the server's log line `msg="embedded Redis" ... url=redis://...`. */
function redisUrlOf(p) {
  const all = [...p.logText.matchAll(/embedded Redis.*?\burl=(redis:\/\/[^\s"]+)/g)]
  assert.ok(all.length > 0, `no "embedded Redis ... url=" line in the server log (${join(ARTIFACTS, 'server.log')})`)
  return new URL(all[all.length - 1][1])
}

/** resp encodes one command as a RESP array of bulk strings (lengths in bytes, not characters). */
function resp(args) {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')
}

/**
 * redis sends the commands over one connection (a tiny RESP client: no new
 * dependency) and resolves with their replies; an error reply rejects.
 */
function redis(url, commands) {
  if (url.password) commands = [['AUTH', ...(url.username ? [decodeURIComponent(url.username)] : []), decodeURIComponent(url.password)], ...commands]
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: url.hostname, port: Number(url.port || 6379) })
    sock.setTimeout(WAIT_MS, () => sock.destroy(new Error('redis: no answer')))
    let buf = Buffer.alloc(0)
    const replies = []
    // parse one reply at off: [value, next offset] or null when incomplete
    const parse = (off) => {
      const eol = buf.indexOf('\r\n', off)
      if (eol < 0) return null
      const line = buf.toString('utf8', off + 1, eol)
      switch (String.fromCharCode(buf[off])) {
        case '+':
          return [line, eol + 2]
        case '-':
          return [new Error(`redis: ${line}`), eol + 2]
        case ':':
          return [Number(line), eol + 2]
        case '$': {
          const n = Number(line)
          if (n < 0) return [null, eol + 2]
          if (buf.length < eol + 2 + n + 2) return null
          return [buf.toString('utf8', eol + 2, eol + 2 + n), eol + 2 + n + 2]
        }
        default:
          return [new Error(`redis: unexpected reply ${JSON.stringify(line)}`), eol + 2]
      }
    }
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      let r
      while (replies.length < commands.length && (r = parse(0))) {
        replies.push(r[0])
        buf = buf.subarray(r[1])
      }
      if (replies.length === commands.length) {
        sock.end()
        const err = replies.find((x) => x instanceof Error)
        if (err) reject(err)
        else resolve(replies)
      }
    })
    sock.on('error', reject)
    sock.on('connect', () => sock.write(commands.map(resp).join('')))
  })
}

/** publishRollout does what `vacunometro rollout` does: SET {vac}:rollout, then PUBLISH vacunometro.changed rollout. */
async function publishRollout(state) {
  const url = redisUrlOf(server)
  const [set, receivers] = await redis(url, [
    ['SET', '{vac}:rollout', JSON.stringify(state)],
    ['PUBLISH', 'vacunometro.changed', 'rollout'],
  ])
  assert.equal(set, 'OK', 'SET {vac}:rollout')
  return { url: url.href, receivers }
}

before(async () => {
  assert.ok(existsSync(VAC_BIN), `no server binary at ${VAC_BIN}: run \`make build\` at the repo root, or set VAC_BIN`)
  assert.ok(existsSync(join(DIST, 'index.html')), 'no webapp/dist: run `npm run build` first')
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install -y chromium`)
  mkdirSync(ARTIFACTS, { recursive: true })
  serverLog = createWriteStream(join(ARTIFACTS, 'server.log'))
  port = await freePort()
  base = `http://127.0.0.1:${port}`
  dataDir = mkdtempSync(join(tmpdir(), 'vac-e2e-data-'))
  userDataDir = mkdtempSync(join(tmpdir(), 'vac-e2e-chromium-'))
  server = startServer()
  await waitReady(server)
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
  })
  page = context.pages()[0] ?? (await context.newPage())
  page.on('console', (m) => {
    if (m.type() === 'error') log('browser console error:', m.text())
  })
})

after(async () => {
  await context?.close().catch(() => {})
  await killServer('SIGKILL').catch(() => {})
  serverLog?.end()
  for (const d of [dataDir, userDataDir]) if (d) rmSync(d, { recursive: true, force: true })
})

const RECORDS = [
  { name: 'Duglas Francisco Avila Torres', location: 'Chimaltenango', age: 19, vaccine_type: 'Sputnik V', n_dose: 1 },
  { name: 'María José López Pérez', location: 'chimaltenango', age: 34, vaccine_type: 'Moderna', n_dose: 1 },
  { name: 'Ana Lucía Xol Caal', location: 'Petén', age: 52, vaccine_type: 'Pfizer-BioNTech', n_dose: 1 },
  { name: 'Pedro Pablo Chub Coc', location: 'El Petén', age: 67, vaccine_type: 'Oxford/AstraZeneca', n_dose: 1 },
  { name: 'Rosa Elena Ical Choc', location: 'Peten', age: 81, vaccine_type: 'Sputnik V', n_dose: 2 },
]

let totalsAfterPost

test('the dashboard updates live as records arrive', async () => {
  await page.goto(base + '/')
  await waitAttr('connection-status', 'data-status', (v) => v === 'live', 'status live after load')
  const s0 = await stats()
  const d0 = Object.fromEntries(s0.departments.map((d) => [d.code, d]))
  await waitAttr('total-doses', 'data-value', (v) => Number(v) === s0.total, 'initial total')
  const fill0 = {
    'GT-04': await page.getByTestId('dept-GT-04').getAttribute('data-fill'),
    'GT-17': await page.getByTestId('dept-GT-17').getAttribute('data-fill'),
  }
  // a marker that a reload would wipe
  await page.evaluate(() => {
    window.__noReload = 'still-here'
  })

  const run = Date.now().toString(36)
  const body = RECORDS.map((r, i) => ({ ...r, id: `e2e-${run}-${i}` }))
  // one request per record, so that the split spreads them over the routes
  const t0 = Date.now()
  for (const rec of body) {
    const res = await fetch(`${base}/api/records`, {
      method: 'POST',
      headers: POST_HEADERS,
      body: JSON.stringify(rec),
    })
    const answer = await res.json()
    assert.equal(res.status, 202, `POST /api/records: ${JSON.stringify(answer)}`)
    assert.equal(answer.accepted, 1)
  }
  const posted = Date.now()
  log(`${body.length} records posted in ${posted - t0} ms`)

  const want = s0.total + RECORDS.length
  const total = await waitAttr('total-doses', 'data-value', (v) => Number(v) === want, 'header total')
  log(`header total ${s0.total} -> ${total.value} shown ${Date.now() - posted} ms after the last POST`)
  await waitAttr('people-vaccinated', 'data-value', (v) => Number(v) === s0.people_vaccinated + 4, 'people with a first dose')
  await waitAttr('fully-vaccinated', 'data-value', (v) => Number(v) === s0.fully_vaccinated + 1, 'people with the full series')

  // the map: both departments' shaded percentage and colour follow the snapshot
  const s1 = await stats()
  const d1 = Object.fromEntries(s1.departments.map((d) => [d.code, d]))
  assert.equal(d1['GT-04'].people_vaccinated, d0['GT-04'].people_vaccinated + 2)
  assert.equal(d1['GT-17'].people_vaccinated, d0['GT-17'].people_vaccinated + 2)
  for (const code of ['GT-04', 'GT-17']) {
    const pct = d1[code].people_vaccinated_pct
    assert.ok(pct > d0[code].people_vaccinated_pct, `${code} coverage grew in /api/stats`)
    const shown = await waitAttr(`dept-${code}`, 'data-value', (v) => Math.abs(Number(v) - pct) < 1e-12, `${code} shading`)
    log(`${code} shaded at ${shown.value}% (was ${d0[code].people_vaccinated_pct}%)`)
    const fill = await page.getByTestId(`dept-${code}`).getAttribute('fill')
    assert.notEqual(fill, '#e4e4e4', `${code} is no longer drawn as "no records"`)
    if (d0[code].people_vaccinated === 0) assert.notEqual(fill, fill0[code], `${code} changed colour`)
  }
  // a department nobody was posted for keeps its value
  assert.equal(Number(await page.getByTestId('dept-GT-01').getAttribute('data-value')), d1['GT-01'].people_vaccinated_pct)

  // the latest records: ours, newest first, names masked
  await waitAttr('latest-records', 'data-count', (v) => Number(v) === 5, 'latest list full')
  const ids = await page.getByTestId('latest-record').evaluateAll((els) => els.map((e) => e.getAttribute('data-id')))
  assert.deepEqual(new Set(ids), new Set(body.map((r) => r.id)), 'the latest list holds the five posted records')
  const latestText = await page.getByTestId('latest-records').innerText()
  assert.match(latestText, /Duglas F\. A\. T\./, 'names are masked')
  assert.doesNotMatch(latestText, /Francisco/, 'full names never reach the page')
  assert.match(latestText, /Chimaltenango/)
  assert.match(latestText, /Petén/)

  // the route split: observed counts add up to what was posted; weights are configured
  const routeTotal = await waitAttr('route-split', 'data-total', (v) => Number(v) === want, 'route split total')
  log(`route split total ${routeTotal.value}`)
  const routes = await page
    .getByTestId('route-split')
    .locator('li')
    .evaluateAll((els) => els.map((e) => ({ name: e.dataset.testid, weight: Number(e.dataset.weight), count: Number(e.dataset.count), observed: Number(e.dataset.observed) })))
  const s2 = await stats()
  log('routes:', routes.map((r) => `${r.name} weight ${r.weight} count ${r.count}`).join(', '))
  assert.deepEqual(
    routes.map((r) => [r.name, r.weight, r.count]),
    s2.routes.map((r) => [`route-${r.name}`, r.weight, r.count]),
    'the route split shows the configured weights and observed counts of /api/stats',
  )
  assert.equal(Math.round(routes.reduce((s, r) => s + r.observed, 0)), 100, 'observed shares add up to 100%')

  assert.equal(await page.evaluate(() => window.__noReload), 'still-here', 'the page was not reloaded')
  totalsAfterPost = { total: want, first: s1.people_vaccinated, full: s1.fully_vaccinated }

  // hovering a department shows its figures; so does keyboard focus
  await page.getByTestId('dept-GT-17').hover()
  const info = await page.getByTestId('dept-info').innerText()
  assert.match(info, /Petén/)
  assert.match(info, /545,600/, 'Petén population (census 2018), es-GT digits')
  await page.getByTestId('dept-GT-04').focus()
  await page.mouse.move(0, 0)
  assert.match(await page.getByTestId('dept-info').innerText(), /Chimaltenango/)

  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })
  await page.setViewportSize({ width: 375, height: 800 })
  await sleep(200)
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-375.png'), fullPage: true })
  await page.setViewportSize({ width: 1280, height: 900 })
  log('screenshots in', ARTIFACTS)
})

// the mock server (e2e/mock-server.mjs) has no Redis to write a rollout into
const MOCK = /mock-server\.mjs$/.test(VAC_BIN)

test('the rollout panel appears and follows the verdict without a reload', { skip: MOCK && 'VAC_BIN is the mock server: no Redis' }, async () => {
  assert.equal(await page.getByTestId('rollout-panel').count(), 0, 'no panel before any rollout')
  assert.equal((await stats()).rollout, undefined, 'no rollout in /api/stats yet')

  const plan = {
    route: 'pubsub',
    steps: [5, 25, 50, 100],
    from: { grpc: 34, redis: 33, pubsub: 33 },
    backend: 'in-process split (e2e)',
    max_failures: 2,
    started_at: new Date().toISOString(),
  }
  const pass5 = { step: 5, success_pct: 100, p99_ms: 12.5, lag_p99_ms: 80, records: 120, verdict: 'pass', reason: 'success 100% ≥ 99%; p99 12.5ms ≤ 500ms' }
  const running = {
    ...plan,
    step: 25,
    weights: { grpc: 40, redis: 35, pubsub: 25 },
    checks: [pass5],
    verdict: 'running',
    reason: '',
    failed_checks: 0,
    updated_at: new Date().toISOString(),
    a_field_from_the_future: { ignored: true },
  }
  let t0 = Date.now()
  const pub = await publishRollout(running)
  log(`rollout state SET and PUBLISHed to ${pub.url} (${pub.receivers} subscriber(s))`)
  await waitAttr('rollout-verdict', 'data-verdict', (v) => v === 'running', 'running verdict shown')
  log(`rollout panel (running) shown ${Date.now() - t0} ms after the PUBLISH`)
  assert.equal(await page.getByTestId('rollout-route').innerText(), 'pubsub')
  assert.match(await page.getByTestId('rollout-verdict').innerText(), /En curso/)
  assert.equal(await page.getByTestId('rollout-check-5').getAttribute('data-verdict'), 'pass')
  assert.match(await page.getByTestId('rollout-check-5').innerText(), /Aprobado/)
  assert.equal(await page.getByTestId('rollout-step-25').getAttribute('aria-current'), 'step', 'the current step is highlighted')
  assert.equal(await page.getByTestId('rollout-weight-grpc').getAttribute('data-weight'), '40')
  await page.getByTestId('rollout-panel').screenshot({ path: join(ARTIFACTS, 'rollout-running.png') })

  // the canary fails twice at 25 % and the rollout goes back to the old split
  const rolledBack = {
    ...running,
    step: 33,
    weights: { grpc: 34, redis: 33, pubsub: 33 },
    checks: [
      pass5,
      { step: 25, success_pct: 80.5, p99_ms: 640, lag_p99_ms: 95, records: 200, verdict: 'fail', reason: 'success 80.5% < 99%; p99 640ms > 500ms' },
      { step: 25, success_pct: 79.25, p99_ms: 1250, lag_p99_ms: null, records: 212, verdict: 'fail', reason: 'success 79.25% < 99%; p99 1.25s > 500ms' },
    ],
    verdict: 'rolled_back',
    reason: '2 failed checks (--max-failures 2); last at step 2/4 (pubsub 25%): success 79.25% < 99%',
    failed_checks: 2,
    updated_at: new Date().toISOString(),
  }
  t0 = Date.now()
  await publishRollout(rolledBack)
  await waitAttr('rollout-verdict', 'data-verdict', (v) => v === 'rolled_back', 'rolled-back verdict shown')
  log(`rollout panel (rolled_back) shown ${Date.now() - t0} ms after the PUBLISH`)
  const verdict = await page.getByTestId('rollout-verdict').innerText()
  assert.match(verdict, /Revertido/)
  assert.match(verdict, /2 failed checks \(--max-failures 2\)/)
  const at25 = page.getByTestId('rollout-check-25')
  assert.equal(await at25.count(), 2, 'both checks at 25 % are listed')
  assert.deepEqual(await at25.evaluateAll((els) => els.map((e) => e.getAttribute('data-verdict'))), ['fail', 'fail'])
  assert.match(await at25.nth(1).innerText(), /Falló/)
  assert.match(await at25.nth(1).innerText(), /79\.25%/)
  assert.equal(await page.getByTestId('rollout-step-25').getAttribute('data-state'), 'failed')
  assert.equal(await page.evaluate(() => window.__noReload), 'still-here', 'the page was not reloaded')

  const panel = page.getByTestId('rollout-panel')
  await panel.scrollIntoViewIfNeeded()
  await panel.screenshot({ path: join(ARTIFACTS, 'rollout.png') })
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rollout.png'), fullPage: true })
  await page.setViewportSize({ width: 375, height: 800 })
  await sleep(200)
  await panel.screenshot({ path: join(ARTIFACTS, 'rollout-375.png') })
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-rollout-375.png'), fullPage: true })
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
  assert.equal(overflow, 0, 'no sideways scrolling at 375 px')
  await page.setViewportSize({ width: 1280, height: 900 })

  // in English with the switch (and back: the language test expects Spanish first)
  await page.getByTestId('lang-switch').click()
  assert.match(await page.getByTestId('rollout-verdict').innerText(), /Rolled back/)
  assert.match(await at25.nth(1).innerText(), /Fail/)
  await panel.screenshot({ path: join(ARTIFACTS, 'rollout-en.png') })
  await page.getByTestId('lang-switch').click()
  assert.match(await page.getByTestId('rollout-verdict').innerText(), /Revertido/)
  log('rollout screenshots in', ARTIFACTS)
})

test('the page reconnects by itself after the server is killed and restarted', async () => {
  assert.ok(totalsAfterPost, 'needs the first test')
  await killServer('SIGKILL')
  log('server killed (SIGKILL)')
  await waitAttr('connection-status', 'data-status', (v) => v === 'reconnecting', 'status after the kill')

  server = startServer()
  const t0 = Date.now()
  await waitReady(server)
  const live = await waitAttr('connection-status', 'data-status', (v) => v === 'live', 'status after the restart')
  log(`ready after ${Date.now() - t0} ms; page live again ${live.ms} ms after the wait began`)
  assert.equal(await page.evaluate(() => window.__noReload), 'still-here', 'the page was not reloaded')

  const s = await stats()
  assert.equal(s.total, totalsAfterPost.total, 'the server kept every record across the kill')
  log(`rollout state after the restart: ${s.rollout ? s.rollout.verdict : 'gone (the embedded Redis starts empty)'}`)
  await waitAttr('total-doses', 'data-value', (v) => Number(v) === totalsAfterPost.total, 'header total after the restart')
  await waitAttr('people-vaccinated', 'data-value', (v) => Number(v) === totalsAfterPost.first, 'first doses after the restart')
  await waitAttr('fully-vaccinated', 'data-value', (v) => Number(v) === totalsAfterPost.full, 'full series after the restart')
})

test('the language switch turns the page to English and is remembered', async () => {
  assert.equal(await page.locator('html').getAttribute('lang'), 'es', 'Spanish by default')
  assert.match(await page.getByTestId('header-totals').innerText(), /Dosis aplicadas/)
  await page.getByTestId('lang-switch').click()
  assert.equal(await page.locator('html').getAttribute('lang'), 'en')
  assert.match(await page.getByTestId('header-totals').innerText(), /Doses given/)
  await page.reload()
  await waitAttr('connection-status', 'data-status', (v) => v === 'live', 'status after reload')
  assert.match(await page.getByTestId('header-totals').innerText(), /Doses given/, 'English is remembered')
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-en.png') })
  await page.getByTestId('lang-switch').click()
  assert.match(await page.getByTestId('header-totals').innerText(), /Dosis aplicadas/)
})

// ---- the department view, the daily series, the downloads, accessibility (issue 13) ----

const AXE = join(webapp, 'node_modules', 'axe-core', 'axe.min.js')

/** parseCSV parses RFC 4180 text (quoted fields, doubled quotes) into rows of strings. */
function parseCSV(text) {
  const rows = []
  let row = []
  let field = ''
  let quoted = false
  const endField = () => {
    row.push(field)
    field = ''
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"'
        i++
      } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') endField()
    else if (c === '\n') {
      endField()
      rows.push(row)
      row = []
    } else if (c !== '\r') field += c
  }
  if (field || row.length) {
    endField()
    rows.push(row)
  }
  const [head, ...body] = rows
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])))
}

/** download follows a link of the page as the browser would (same origin, its href) and returns the text. */
async function download(testId) {
  const href = await page.getByTestId(testId).getAttribute('href')
  assert.ok(href, `${testId} has an href`)
  return page.evaluate(async (u) => {
    const r = await fetch(u)
    return { status: r.status, type: r.headers.get('content-type'), text: await r.text() }
  }, href)
}

const search = () => new URL(page.url()).search

test('a department has its own view: map, ranking, URL, Escape, back button; downloads add up', { skip: MOCK && 'VAC_BIN is the mock server: no public API' }, async () => {
  // records on known days (Guatemala time) and one without vaccinated_at
  const run = Date.now().toString(36)
  const recs = [
    { id: `d13-${run}-1`, name: 'Eva Chojolán Tzul', location: 'Quetzaltenango', age: 34, vaccine_type: 'Moderna', n_dose: 1, vaccinated_at: '2021-03-02T05:59:59Z' },
    { id: `d13-${run}-2`, name: 'Luis Ixcoy Batz', location: 'Xela', age: 45, vaccine_type: 'Moderna', n_dose: 2, vaccinated_at: '2021-03-02T06:00:00Z' },
    { id: `d13-${run}-3`, name: 'Ana Zapeta Coc', location: 'Quetzaltenango', age: 71, vaccine_type: 'Pfizer', n_dose: 1 },
  ]
  const res = await fetch(`${base}/api/records`, { method: 'POST', headers: POST_HEADERS, body: JSON.stringify(recs) })
  assert.equal(res.status, 202, 'POST the records')
  await page.goto(base + '/')
  await waitAttr('connection-status', 'data-status', (v) => v === 'live', 'live')
  const s = await stats()
  await waitAttr('total-doses', 'data-value', (v) => Number(v) >= s.total, 'the records counted')
  const gt09 = (await stats()).departments.find((d) => d.code === 'GT-09')

  // the ranking opens a department; the URL says which
  await page.getByTestId('open-GT-09').click()
  await waitAttr('dept-view', 'data-code', (v) => v === 'GT-09', 'department view from the ranking')
  assert.equal(search(), '?d=GT-09')
  assert.match(await page.getByTestId('dept-view').innerText(), /Quetzaltenango/)
  await waitAttr('dept-figures', 'data-total', (v) => Number(v) === gt09.total, 'the department total')
  assert.match(await page.getByTestId('daily-chart').innerText(), /Quetzaltenango/, 'the daily chart is the department\'s')
  // its own breakdown: the vaccines of its records only
  const vaccines = await page.getByTestId('dept-view').evaluate(() => document.querySelector('main')?.innerText ?? '')
  assert.match(vaccines, /Moderna/)

  // Escape returns to the country
  await page.keyboard.press('Escape')
  await page.getByTestId('dept-view').waitFor({ state: 'detached', timeout: WAIT_MS })
  assert.equal(search(), '')

  // the map opens one too, and the browser's back button returns
  await page.getByTestId('dept-GT-17').click()
  await waitAttr('dept-view', 'data-code', (v) => v === 'GT-17', 'department view from the map')
  assert.equal(search(), '?d=GT-17')
  await page.goBack()
  await page.getByTestId('dept-view').waitFor({ state: 'detached', timeout: WAIT_MS })
  assert.equal(search(), '')
  await page.goForward()
  await waitAttr('dept-view', 'data-code', (v) => v === 'GT-17', 'forward again')

  // a shared link opens the department; the back control stays on the site
  await page.goto(base + '/?d=GT-09')
  await waitAttr('dept-view', 'data-code', (v) => v === 'GT-09', 'department view from the URL')
  await page.getByTestId('dept-back').click()
  await page.getByTestId('dept-view').waitFor({ state: 'detached', timeout: WAIT_MS })
  assert.equal(new URL(page.url()).origin + new URL(page.url()).pathname, base + '/')

  // "Descargar datos": the CSVs parse and add up to the snapshot
  await page.getByTestId('download-link').click()
  const snap = await stats()
  const deps = await download('download-departments-csv')
  assert.equal(deps.status, 200)
  assert.match(deps.type, /^text\/csv/)
  const depRows = parseCSV(deps.text)
  assert.equal(depRows.length, 22)
  assert.equal(depRows.reduce((n, r) => n + Number(r.total), 0), snap.total, 'departments.csv adds up to the total')
  for (const d of snap.departments) {
    const r = depRows.find((x) => x.code === d.code)
    assert.deepEqual([r.dose_1, r.dose_2, r.dose_3, r.dose_4].map(Number), d.doses, `${d.code} doses`)
  }
  // The series behind daily.csv is reloaded at most once a second after the
  // total moves (internal/stats/series.go): wait for it to take the
  // records just posted rather than read it in the same instant.
  let daily, dailyRows, dailySum
  for (const until = Date.now() + WAIT_MS; ; await new Promise((r) => setTimeout(r, 200))) {
    daily = await download('download-daily-csv')
    assert.equal(daily.status, 200)
    dailyRows = parseCSV(daily.text)
    dailySum = dailyRows.reduce((n, r) => n + Number(r.count), 0)
    if (dailySum === snap.total || Date.now() > until) break
  }
  const series = await (await fetch(`${base}/api/series`)).json()
  const seriesSum = series.days.reduce((n, d) => n + d.total, 0)
  assert.equal(dailySum, seriesSum, 'daily.csv adds up to the national series')
  log(`daily.csv: ${dailyRows.length} rows, ${dailySum} doses; snapshot total ${snap.total}`)
  assert.ok(dailySum > 0, 'daily.csv has rows')
  assert.equal(dailySum, snap.total, 'daily.csv adds up to the snapshot total')
  const text = deps.text + daily.text
  for (const name of ['Chojolán', 'Ixcoy', 'Zapeta', 'Duglas']) assert.ok(!text.includes(name), `no name (${name}) in the downloads`)
  const dict = await download('download-dictionary')
  assert.match(dict.text, /2018/)
  assert.match(dict.text, /America\/Guatemala/)

  // every /api/ answer is JSON, errors included
  for (const [method, path, code] of [['GET', '/api/nothing', 404], ['POST', '/api/stats', 405]]) {
    const r = await fetch(base + path, { method })
    assert.equal(r.status, code, `${method} ${path}`)
    assert.match(r.headers.get('content-type'), /^application\/json/)
    assert.ok(typeof (await r.json()).error === 'string')
  }
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-department.png'), fullPage: true })
})

test('no serious or critical accessibility violation (axe-core), 1280 and 375 px, Spanish and English', async () => {
  assert.ok(existsSync(AXE), `no axe-core at ${AXE}: npm ci`)
  const found = []
  for (const lang of ['es', 'en']) {
    for (const width of [1280, 375]) {
      for (const path of ['/', '/?d=GT-09']) {
        await page.setViewportSize({ width, height: 900 })
        await page.goto(base + path)
        await waitAttr('connection-status', 'data-status', (v) => v === 'live', 'live')
        if ((await page.locator('html').getAttribute('lang')) !== lang) await page.getByTestId('lang-switch').click()
        assert.equal(await page.locator('html').getAttribute('lang'), lang)
        // Evaluated over the DevTools protocol, not as a <script>: the
        // dashboard's Content-Security-Policy (script-src 'self') rightly
        // refuses injected inline scripts.
        await page.evaluate(readFileSync(AXE, 'utf8'))
        const violations = await page.evaluate(async () => {
          // eslint-disable-next-line no-undef
          const r = await axe.run(document, { resultTypes: ['violations'] })
          return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }))
        })
        const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        log(`axe ${lang} ${width}px ${path}: ${violations.length} violations, ${bad.length} serious or critical`)
        for (const v of bad) found.push(`${lang} ${width}px ${path}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`)
      }
    }
  }
  // the check can fail: a button with no name is a critical violation
  const planted = await page.evaluate(async () => {
    const b = document.createElement('button')
    document.querySelector('main')?.append(b)
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] })
    b.remove()
    return r.violations.filter((v) => v.impact === 'critical' || v.impact === 'serious').map((v) => v.id)
  })
  assert.ok(planted.includes('button-name'), `axe finds a planted violation: ${planted}`)
  await page.setViewportSize({ width: 1280, height: 900 })
  if ((await page.locator('html').getAttribute('lang')) !== 'es') await page.getByTestId('lang-switch').click()
  assert.deepEqual(found, [], 'serious or critical violations')
})

// Benchmark (not a test: it prints figures and never fails on a slow machine) of the
// supervisor dashboard at scale, in Debian's headless Chromium through playwright-core.
//
//   cargo build --release -p switchboard
//   npm ci --prefix crates/server/tests/browser
//   node crates/server/tests/browser/dashboard.bench.mjs [--moderators 10000] [--profiles 100000] [--connected 2000] [--messages 5000]
//        [--before-dir DIR]   DIR holding an older supervisor.html and supervisor.js (e.g. from
//                             `git show main:crates/server/web/…`), served in their place to
//                             measure that dashboard on the same server and data
//
// It starts target/release/switchboard on a throwaway SQLite file with a known JWT secret,
// fills the directory through the platform API (PUT /api/moderators/{id}, PUT
// /api/profiles/{id}, POST /api/messages) and connects moderators, then measures:
//   - the dashboard's first render: navigation start to both tables drawn (median of runs),
//     and the longest main-thread task while loading (long tasks API);
//   - one live update: a moderator on the page connects (HTTP); from the request to the
//     dashboard's row showing the new state, through the ModeratorStateChanged event;
//   - the server's answer to the dashboard's paged read, and to the whole state (what the
//     previous dashboard fetched every 5 s), in time and bytes.
// Prints a summary and the figures as JSON on the last line.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const argument = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index > 0 ? process.argv[index + 1] : fallback;
};
const MODERATORS = Number(argument('moderators', 10_000));
const PROFILES = Number(argument('profiles', 100_000));
const CONNECTED = Number(argument('connected', 2_000));
const MESSAGES = Number(argument('messages', 5_000));
const RENDER_RUNS = Number(argument('runs', 5));
const LIVE_RUNS = Number(argument('live-runs', 10));
const BINARY = resolve(argument('binary', join(here, '../../../../target/release/switchboard')));
const PORT = Number(argument('port', 18_000 + Math.floor(Math.random() * 1000)));
const BEFORE_DIR = argument('before-dir', null);
/** How long the older dashboard is given to draw its tables. */
const BEFORE_TIMEOUT_MS = Number(argument('before-timeout-ms', 300_000));
const SECRET = 'dashboard-bench-secret';
const base = `http://127.0.0.1:${PORT}`;
/** Requests in flight while filling the directory. */
const CONCURRENCY = 64;

function token(claims) {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ ...claims, exp: Math.floor(Date.now() / 1000) + 6 * 3600 })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}
const platform = token({ role: 'platform' });
const supervisor = token({ role: 'supervisor' });
const moderatorToken = (id) => token({ role: 'moderator', sub: String(id) });

async function call(method, path, bearer, body) {
  const response = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text.slice(0, 200)}`);
  return text;
}

/** Runs `job(i)` for i in 1..=count, CONCURRENCY at a time; answers the seconds taken. */
async function pool(count, job) {
  const started = performance.now();
  let next = 1;
  const worker = async () => {
    while (next <= count) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  return (performance.now() - started) / 1000;
}

const median = (values) => {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};
const round = (value) => Math.round(value * 10) / 10;
const log = (text) => console.log(text);

async function waitReady() {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    try {
      if ((await fetch(`${base}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`switchboard did not become ready at ${base}`);
}

/** The older dashboard's page and script served in place of the current ones; one load. */
async function measureBefore(browser) {
  const html = readFileSync(join(BEFORE_DIR, 'supervisor.html'));
  const script = readFileSync(join(BEFORE_DIR, 'supervisor.js'));
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.route(/\/supervisor(\?.*)?$/, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await page.route(/\/console\/supervisor\.js$/, (route) => route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: script }));
  await page.addInitScript(() => {
    window.__longest = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longest = Math.max(window.__longest, entry.duration);
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(`${base}/supervisor?token=${encodeURIComponent(supervisor)}`, { waitUntil: 'commit' });
  let firstRender = null;
  try {
    const drawn = await page.waitForFunction(() => document.querySelector('#profiles [data-profile]') && document.querySelector('#moderators [data-moderator]') && performance.now(), null, { polling: 1000, timeout: BEFORE_TIMEOUT_MS });
    firstRender = await drawn.jsonValue();
  } catch {
    // not drawn in time: reported as null
  }
  const longest = await page.evaluate(() => window.__longest).catch(() => null);
  await context.close();
  return { first_render_ms: firstRender, longest_task_ms: longest, timeout_ms: BEFORE_TIMEOUT_MS };
}

async function main() {
  const scratch = mkdtempSync(join(tmpdir(), 'switchboard-dashboard-bench-'));
  const server = spawn(BINARY, ['serve'], {
    cwd: scratch,
    env: {
      ...process.env,
      SWITCHBOARD_LISTEN: `127.0.0.1:${PORT}`,
      SWITCHBOARD_DATABASE_URL: `sqlite://${join(scratch, 'bench.db')}`,
      SWITCHBOARD_JWT_SECRET: SECRET,
      // The state must hold still while it is measured: nobody is set away or dropped.
      SWITCHBOARD_PRESENCE_TIMEOUT: '6h',
      SWITCHBOARD_INACTIVITY_THRESHOLD: '6h',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const figures = { moderators: MODERATORS, profiles: PROFILES, connected: CONNECTED, messages: MESSAGES };
  let browser;
  try {
    await waitReady();
    log(`switchboard at ${base}; filling the directory through the platform API`);
    figures.fill_moderators_seconds = round(await pool(MODERATORS, (id) => call('PUT', `/api/moderators/${id}`, platform, { name: `Moderator ${id}` })));
    figures.fill_profiles_seconds = round(await pool(PROFILES, (id) => call('PUT', `/api/profiles/${id}`, platform, { name: `Profile ${id}`, active: true })));
    // Moderators from the end connect (the first page stays offline for the live updates).
    figures.connect_seconds = round(await pool(CONNECTED, (i) => call('POST', '/moderateur/connect', moderatorToken(MODERATORS - i + 1))));
    figures.messages_seconds = round(await pool(MESSAGES, (i) => call('POST', '/api/messages', platform, { message_id: i, client_id: 1_000_000 + i, profile_id: 1 + ((i * 7919) % PROFILES), body: `hello ${i}` })));
    log(`filled: ${JSON.stringify(figures)}`);

    const paged = '/api/supervisor/state?moderators_offset=0&moderators_limit=50&profiles_offset=0&profiles_limit=50';
    const timings = async (path, runs) => {
      const times = [];
      let bytes = 0;
      for (let run = 0; run < runs; run += 1) {
        const started = performance.now();
        bytes = (await call('GET', path, supervisor)).length;
        times.push(performance.now() - started);
      }
      return { median_ms: round(median(times)), max_ms: round(Math.max(...times)), bytes };
    };
    figures.paged_state = await timings(paged, 20);
    figures.paged_search = await timings('/api/supervisor/state?moderators_q=moderator%209999&profiles_q=profile%2099999&moderators_limit=50&profiles_limit=50', 20);
    figures.whole_state = await timings('/api/supervisor/state', 3);
    figures.load_report = await timings('/api/supervisor/load-report', 3);

    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic'] });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.addInitScript(() => {
      window.__longest = 0;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__longest = Math.max(window.__longest, entry.duration);
      }).observe({ type: 'longtask', buffered: true });
    });
    const renders = [];
    const longest = [];
    for (let run = 0; run < RENDER_RUNS; run += 1) {
      await page.goto(`${base}/supervisor?token=${encodeURIComponent(supervisor)}`, { waitUntil: 'commit' });
      const drawn = await page.waitForFunction(() => document.querySelector('#profiles [data-profile]') && document.querySelector('#moderators [data-moderator]') && performance.now(), null, { polling: 'raf', timeout: 120_000 });
      renders.push(await drawn.jsonValue());
      longest.push(await page.evaluate(() => window.__longest));
    }
    figures.first_render_ms = { median: round(median(renders)), min: round(Math.min(...renders)), max: round(Math.max(...renders)), runs: RENDER_RUNS };
    figures.longest_task_ms = round(Math.max(...longest));
    figures.rows_drawn = await page.evaluate(() => ({ moderators: document.querySelectorAll('#moderators [data-moderator]').length, profiles: document.querySelectorAll('#profiles [data-profile]').length, range: document.querySelector('[data-range="profiles"]').textContent }));
    await page.waitForFunction(() => /realtime live/.test(document.querySelector('#identity').textContent), null, { timeout: 30_000 });

    const live = [];
    for (let run = 0; run < LIVE_RUNS; run += 1) {
      const id = run + 1;
      const [path, expected] = run % 2 === 0 ? ['/moderateur/connect', 'offline'] : ['/moderateur/disconnect', null];
      const moderator = run % 2 === 0 ? id : id - 1;
      // Watch the row in the page, stamping the wall clock when its state changes.
      await page.evaluate(({ moderator, from }) => {
        window.__changedAt = null;
        const row = () => document.querySelector(`#moderators [data-moderator="${moderator}"]`);
        const before = from || (row() && row().dataset.moderatorState);
        const observer = new MutationObserver(() => {
          const current = row();
          if (current && current.dataset.moderatorState !== before) {
            window.__changedAt = performance.timeOrigin + performance.now();
            observer.disconnect();
          }
        });
        observer.observe(document.querySelector('#moderators'), { subtree: true, childList: true, attributes: true });
      }, { moderator, from: expected });
      const started = Date.now();
      await call('POST', path, moderatorToken(moderator));
      const changedAt = await page.waitForFunction(() => window.__changedAt, null, { polling: 'raf', timeout: 30_000 });
      live.push((await changedAt.jsonValue()) - started);
    }
    figures.live_update_ms = { median: round(median(live)), min: round(Math.min(...live)), max: round(Math.max(...live)), runs: LIVE_RUNS };
    figures.events_applied = Number(await page.getAttribute('#identity [data-events-applied]', 'data-events-applied'));
    if (BEFORE_DIR) figures.before = await measureBefore(browser);
    figures.page_errors = errors;
    figures.chromium = browser.version();

    log('');
    log(`directory: ${MODERATORS} moderators, ${PROFILES} profiles, ${CONNECTED} connected, ${MESSAGES} messages`);
    log(`first render (navigation start to both tables drawn): median ${figures.first_render_ms.median} ms (min ${figures.first_render_ms.min}, max ${figures.first_render_ms.max}, ${RENDER_RUNS} runs); longest main-thread task ${figures.longest_task_ms} ms`);
    log(`live update (HTTP connect/disconnect to the row redrawn): median ${figures.live_update_ms.median} ms (min ${figures.live_update_ms.min}, max ${figures.live_update_ms.max}, ${LIVE_RUNS} runs)`);
    log(`GET paged state: median ${figures.paged_state.median_ms} ms, ${figures.paged_state.bytes} bytes; with searches: ${figures.paged_search.median_ms} ms`);
    log(`GET whole state: median ${figures.whole_state.median_ms} ms, ${figures.whole_state.bytes} bytes; load report ${figures.load_report.median_ms} ms, ${figures.load_report.bytes} bytes`);
    if (figures.before) log(`older dashboard (${BEFORE_DIR}): first render ${figures.before.first_render_ms === null ? `not drawn within ${BEFORE_TIMEOUT_MS} ms` : `${round(figures.before.first_render_ms)} ms`}; longest main-thread task ${round(figures.before.longest_task_ms)} ms`);
    log(JSON.stringify(figures));
  } finally {
    if (browser) await browser.close();
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`dashboard bench failed: ${error.stack || error}`);
  process.exit(1);
});

// What the browser tests share (console.e2e.mjs, presence.e2e.mjs): steps, checks, polling
// with a deadline (nothing sleeps to synchronise), the browser-error watch, page probes,
// HTTP calls to the service, and Debian's headless Chromium through playwright-core.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const STEP_MS = 15_000;
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];


export const step = (text) => console.log(`step: ${text}`);

export class Failure extends Error {}
export function check(condition, message) {
  if (!condition) throw new Failure(message);
}

/** Polls `probe` until it answers something truthy; fails after `ms`. */
export async function eventually(what, probe, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      if (error instanceof Failure) throw error;
      last = error;
    }
    if (Date.now() > deadline) throw new Failure(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** JSON calls to the service at `base`: `http` answers status and body, `ok` insists on 2xx. */
export function api(base) {
  async function http(method, path, token, body) {
    const response = await fetch(base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null };
  }

  async function ok(method, path, token, body) {
    const answer = await http(method, path, token, body);
    check(answer.status >= 200 && answer.status < 300, `${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  return { http, ok };
}

// ---- browser errors ---------------------------------------------------------------------

export const browserErrors = [];
/** Network refusals the test provokes on purpose: each may log one "Failed to load resource". */
export const expectedRefusals = [];

export function watch(page, name) {
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const expected = expectedRefusals.findIndex((status) => text.includes(`status of ${status}`));
    if (expected >= 0) {
      expectedRefusals.splice(expected, 1);
      return;
    }
    browserErrors.push(`${name} console: ${text} (${JSON.stringify(message.location())})`);
  });
  page.on('pageerror', (error) => browserErrors.push(`${name} page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    const failure = request.failure();
    if (failure && failure.errorText !== 'net::ERR_ABORTED') browserErrors.push(`${name} request failed: ${request.url()} ${failure.errorText}`);
  });
}

export function noBrowserErrors(where) {
  check(browserErrors.length === 0, `browser errors ${where}:\n  ${browserErrors.join('\n  ')}`);
}

// ---- page helpers -----------------------------------------------------------------------

export const text = (page, selector) => page.locator(selector).first().innerText();

export async function seeText(page, selector, expected, what, ms = STEP_MS) {
  await eventually(`${what} (${selector} containing ${JSON.stringify(expected)})`, async () => {
    const count = await page.locator(selector).count();
    if (!count) return false;
    const all = await page.locator(selector).allInnerTexts();
    return all.some((value) => value.includes(expected));
  }, ms);
}

export async function present(page, selector, what, ms = STEP_MS) {
  await eventually(what, async () => (await page.locator(selector).count()) > 0, ms);
}

export async function absent(page, selector, what, ms = STEP_MS) {
  await eventually(what, async () => (await page.locator(selector).count()) === 0, ms);
}

/** A console or dashboard page whose Pusher connection is up (its badge says so). */
export async function live(page, what) {
  await seeText(page, '#identity .badge', 'realtime live', `${what}: realtime connection live`);
}

/** Runs `scenario(context)` in a fresh headless Chromium profile, closed afterwards. */
export async function withChromium(scenario) {
  const profileDir = mkdtempSync(join(tmpdir(), 'switchboard-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  try {
    await scenario(context);
  } finally {
    await context.close();
    rmSync(profileDir, { recursive: true, force: true });
  }
}

/** Runs `run`; exits 0 when it passed, 1 with the reason (and any browser errors) otherwise. */
export function main(run) {
  run().then(
    () => process.exit(0),
    (error) => {
      console.log(`FAILED: ${error instanceof Failure ? error.message : error.stack || error}`);
      if (browserErrors.length) console.log(`browser errors:\n  ${browserErrors.join('\n  ')}`);
      process.exit(1);
    },
  );
}

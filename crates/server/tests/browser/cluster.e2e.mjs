// The dashboard's Cluster panel on PostgreSQL, in headless Chromium, against two real nodes
// on one database started by crates/server/tests/browser.rs, which passes in SWITCHBOARD_E2E
// (JSON):
//   {"writer": {"base": URL, "name": NAME}, "standby": {"base": URL, "name": NAME},
//    "supervisor": TOKEN, "screenshots": DIR}
//
// The writer's dashboard shows its node as the writer with an epoch of at least 1 and both
// nodes; a failed read of the cluster shows in the panel and nowhere else, and the next good
// read clears it; the standby's dashboard says it is served by the standby and names the
// writer. Every wait polls with a deadline; nothing sleeps to synchronise.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  api, check, eventually, expectedRefusals, live, main, noBrowserErrors, present, seeText, step, text, watch, withChromium,
} from './support.mjs';

const settings = JSON.parse(process.env.SWITCHBOARD_E2E || '{}');
const { writer, standby, supervisor, screenshots } = settings;

/** The writer epoch the API names, for comparison with what the panel shows. */
async function apiEpoch() {
  const cluster = await api(writer.base).ok('GET', '/api/supervisor/cluster', supervisor);
  check(cluster.mode === 'cluster', `PostgreSQL should run as a cluster: ${JSON.stringify(cluster)}`);
  return cluster.writer && cluster.writer.epoch;
}

async function run() {
  check(writer && standby && supervisor && screenshots, 'SWITCHBOARD_E2E is missing or incomplete');
  await withChromium(scenario);
}

async function scenario(context) {
  step('the writer\'s dashboard: this node is the writer, epoch ≥ 1');
  const w = context.pages()[0] || (await context.newPage());
  watch(w, 'writer dashboard');
  await w.goto(`${writer.base}/supervisor?token=${encodeURIComponent(supervisor)}`);
  await live(w, 'writer dashboard');
  await present(w, '#cluster [data-cluster-mode="cluster"]', 'the panel shows a cluster, not a single node');
  check((await w.locator('#cluster [data-cluster="single"]').count()) === 0, 'PostgreSQL is not a single node');
  await seeText(w, '#cluster [data-cluster="node"]', `served by ${writer.name}`, 'the panel names the node serving the page');
  check((await w.locator('#cluster [data-cluster="node"]').getAttribute('data-node-role')) === 'writer', 'this node should be the writer');
  const shown = await eventually('the writer with its epoch', async () => {
    const line = w.locator('#cluster [data-cluster="writer"][data-writer-epoch]');
    if (!(await line.count())) return false;
    return { name: await line.getAttribute('data-writer-name'), epoch: Number(await line.getAttribute('data-writer-epoch')), text: await line.innerText() };
  });
  check(shown.name === writer.name, `the writer shown is ${shown.name}, not ${writer.name}`);
  check(Number.isInteger(shown.epoch) && shown.epoch >= 1, `the writer's epoch should be ≥ 1: ${shown.epoch}`);
  check(shown.epoch === (await apiEpoch()), 'the panel and the API name different epochs');
  check(/\(this node\)/.test(shown.text) && /lease expires in/.test(shown.text), `the writer line: ${shown.text}`);
  await present(w, `#cluster [data-cluster-epoch="${shown.epoch}"] .badge:has-text("holding")`, 'the current epoch is listed as held');

  step('both nodes listed with their roles, seen on the database clock');
  await eventually('the two nodes', async () => (await w.locator('#cluster [data-cluster-node]').count()) === 2);
  check((await w.locator(`#cluster [data-cluster-node="${writer.name}"]`).getAttribute('data-node-role')) === 'writer', 'the writer row says writer');
  check((await w.locator(`#cluster [data-cluster-node="${standby.name}"]`).getAttribute('data-node-role')) === 'standby', 'the standby row says standby');
  const seen = await text(w, `#cluster [data-cluster-node="${standby.name}"] td:last-child`);
  check(/^\d+ s ago$/.test(seen), `the standby was seen within the minute: ${seen}`);
  mkdirSync(screenshots, { recursive: true });
  await w.locator('#cluster').screenshot({ path: join(screenshots, 'supervisor-cluster.png'), animations: 'disabled' });
  step('screenshot supervisor-cluster.png');

  step('the panel is read again every 5 s');
  const clock = await text(w, '#cluster [data-cluster="clock"]');
  await seeText(w, '#cluster [data-cluster="clock"]', 'read every 5 s', 'the panel says how often it is read');
  await eventually('a newer database time', async () => (await text(w, '#cluster [data-cluster="clock"]')) !== clock, 12_000);

  step('a failed read shows in the panel only; the next good read clears it');
  const answered = { count: 0 };
  await w.route('**/api/supervisor/cluster', (route) => {
    answered.count += 1;
    expectedRefusals.push(503);
    return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unavailable', message: 'test' } }) });
  });
  await seeText(w, '#cluster [data-cluster="error"]', 'reading the cluster: storage unavailable', 'the panel shows the failure', 12_000);
  check(/last read/.test(await text(w, '#cluster [data-cluster="error"]')), 'the error says the view below is the last read');
  await present(w, '#cluster [data-cluster="writer"][data-writer-epoch]', 'the last good view stays beside the error');
  check((await w.locator('#notices .notice').count()) === 0, 'the failure stays out of the notices');
  await present(w, '#load [data-figure="working"]', 'the rest of the dashboard still renders');
  await live(w, 'the realtime connection is untouched');
  await w.unroute('**/api/supervisor/cluster');
  await eventually('the error gone with the next good read', async () => (await w.locator('#cluster [data-cluster="error"]').count()) === 0, 12_000);
  check(answered.count >= 1, 'no read was refused');
  // Each refused read may or may not have logged its one "Failed to load resource".
  expectedRefusals.length = 0;

  step('the standby\'s dashboard: served by the standby, the writer named');
  const s = await context.newPage();
  watch(s, 'standby dashboard');
  await s.goto(`${standby.base}/supervisor?token=${encodeURIComponent(supervisor)}`);
  await live(s, 'standby dashboard');
  await seeText(s, '#cluster [data-cluster="node"]', `served by ${standby.name}`, 'the panel names the standby as serving the page');
  check((await s.locator('#cluster [data-cluster="node"]').getAttribute('data-node-role')) === 'standby', 'the standby says standby');
  check((await s.locator('#cluster [data-cluster="writer"]').getAttribute('data-writer-name')) === writer.name, 'the standby names the writer');
  check(!/\(this node\)/.test(await text(s, '#cluster [data-cluster="writer"]')), 'the writer is not the standby');
  await present(s, `#cluster [data-cluster-node="${standby.name}"] .muted:has-text("this node")`, 'the standby marks its own row');
  await present(s, '#load [data-figure="working"]', 'the standby\'s dashboard reads the state through the writer');

  noBrowserErrors('during the test');
  step('all passed');
}

main(run);

// End-to-end test of the moderator console and the supervisor dashboard in headless
// Chromium (Debian's /usr/bin/chromium through playwright-core), against a real switchboard
// started by crates/server/tests/browser.rs, which passes everything in SWITCHBOARD_E2E (JSON):
//   {"base": "http://127.0.0.1:PORT", "platform": TOKEN, "supervisor": TOKEN,
//    "moderators": {"1": TOKEN, ...}, "screenshots": DIR, "inactivity_threshold_ms": N}
//
// Two moderators' consoles (1 = "A", 2 = "B"), the supervisor's dashboard, and the platform
// and four other moderators through HTTP. Every wait polls with a deadline; nothing sleeps
// to synchronise. Any browser console error or page error fails the run.
//
// Prints one line per step; exits 0 when everything passed, 1 with the reason otherwise.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  absent, api, check, eventually, expectedRefusals, live, main, noBrowserErrors, present, seeText, step, text, watch, withChromium,
} from './support.mjs';

const settings = JSON.parse(process.env.SWITCHBOARD_E2E || '{}');
const { base, platform, supervisor, moderators: tokens, screenshots } = settings;
const { ok } = api(base);

const asPlatform = (method, path, body) => ok(method, path, platform, body);
const asSupervisor = (method, path, body) => ok(method, path, supervisor, body);
const asModerator = (id, method, path, body) => ok(method, path, tokens[id], body);
let messageId = 5000;
const inbound = (clientId, profileId, body) => asPlatform('POST', '/api/messages', { message_id: ++messageId, client_id: clientId, profile_id: profileId, body });

// ---- page helpers -----------------------------------------------------------------------

async function shot(page, file, options = {}) {
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path: join(screenshots, file), fullPage: true, animations: 'disabled', ...options });
  step(`screenshot ${file}`);
}

async function run() {
  check(base && platform && supervisor && tokens && screenshots, 'SWITCHBOARD_E2E is missing or incomplete');
  await withChromium(scenario);
}

async function scenario(context) {
  step('directory: 6 moderators, 4 profiles');
  const names = { 1: 'Alice Martin', 2: 'Bruno Petit', 3: 'Chantal Roux', 4: 'David Moreau', 5: 'Elodie Faure', 6: 'Farid Benali' };
  for (const [id, name] of Object.entries(names)) await asPlatform('PUT', `/api/moderators/${id}`, { name });
  const profiles = { 10: 'Chloé', 11: 'Emma', 12: 'Léa', 13: 'Manon' };
  for (const [id, name] of Object.entries(profiles)) await asPlatform('PUT', `/api/profiles/${id}`, { name, active: true });
  for (const [id, name] of Object.entries({ 100: 'Julien', 101: 'Marc', 102: 'Nicolas', 103: 'Olivier', 104: 'Pierre', 105: 'Quentin', 106: 'Romain' })) {
    await asPlatform('PUT', `/api/clients/${id}`, { name });
  }

  step('sign in: the console takes ?token= once, keeps it for the tab and removes it from the address');
  const a = context.pages()[0] || (await context.newPage());
  const b = await context.newPage();
  const s = await context.newPage();
  watch(a, 'console A');
  watch(b, 'console B');
  watch(s, 'dashboard');
  await a.goto(`${base}/?token=${encodeURIComponent(tokens[1])}`);
  await live(a, 'console A');
  check(!a.url().includes('token='), `the token stays in the address: ${a.url()}`);
  await a.reload();
  await live(a, 'console A after reload (token kept in sessionStorage)');
  await seeText(a, '#identity .who', 'Moderator 1', 'console A shows its moderator');
  await b.goto(`${base}/?token=${encodeURIComponent(tokens[2])}`);
  await live(b, 'console B');
  await s.goto(`${base}/supervisor?token=${encodeURIComponent(supervisor)}`);
  await live(s, 'dashboard');
  await seeText(s, '#cluster [data-cluster="single"]', 'single node', 'the cluster panel shows one node on SQLite');
  check((await s.locator('#cluster [data-cluster-mode="cluster"], #cluster [data-cluster="error"]').count()) === 0, 'SQLite shows no cluster and no error');
  const signin = await context.newPage();
  watch(signin, 'sign-in page');
  await signin.goto(`${base}/`);
  await present(signin, '#signin:not([hidden]) #signin-token', 'a tab without a token shows the sign-in form');
  await signin.fill('#signin-token', 'not-a-token');
  await signin.click('#signin button[type=submit]');
  await seeText(signin, '#signin-error', 'not a moderator token', 'a bad token is refused with a clear message');
  await signin.close();

  step('moderators 3 and 4 connect (HTTP), A connects in its console');
  await asModerator(3, 'POST', '/moderateur/connect');
  await asModerator(4, 'POST', '/moderateur/connect');
  await a.click('#identity button:has-text("Connect")');
  await present(a, '#profiles [data-profile]', 'console A receives a profile');
  const aProfile = Number(await a.locator('#profiles [data-profile]').first().getAttribute('data-profile'));
  check(aProfile === 12, `console A should hold profile 12, holds ${aProfile}`);
  await seeText(a, '#identity .badge', 'working', 'console A shows state working');
  await present(a, `#locks [data-profile-lease="12"] button:has-text("Extend")`, 'console A shows its lease with an extend button');

  step('moderator 5 takes the last profile; 6 and B connect together: a collision, both queued');
  await asModerator(5, 'POST', '/moderateur/connect');
  await asModerator(6, 'POST', '/moderateur/connect');
  await b.click('#identity button:has-text("Connect")');
  await seeText(b, '#queue [data-figure="position"] dd', '2 of 2', 'console B shows queue position 2 of 2');
  await seeText(b, '#queue [data-figure="available"] dd', '0', 'console B shows 0 free profiles');
  await present(b, '#conflicts [data-conflict].open button:has-text("Acknowledge")', 'console B shows the collision with an acknowledge button');

  step('clients write: A sees its waiting conversations, oldest first, with waiting time');
  await inbound(100, 12, 'Bonjour Léa, tu es là ce soir ?');
  await inbound(102, 10, 'Salut Chloé !');
  await inbound(103, 11, 'Emma, tu as vu mon message ?');
  await inbound(104, 13, 'Coucou Manon');
  await inbound(101, 12, 'Hello Léa, on continue notre discussion ?');
  await inbound(106, 13, 'Manon, réponds-moi stp');
  await present(a, '#profiles [data-conversation="101-12"]', 'console A lists the second conversation');
  const order = await a.locator('#profiles [data-profile="12"] [data-conversation]').evaluateAll((items) => items.map((item) => item.getAttribute('data-conversation')));
  check(order[0] === '100-12' && order[1] === '101-12', `waiting conversations are not oldest first: ${order}`);
  await seeText(a, '#profiles [data-conversation="100-12"] .waiting', 'waiting', 'console A shows the waiting time');

  step('queue position updated live: moderator 6 leaves the queue, B moves to 1 of 1');
  await asModerator(6, 'POST', '/moderateur/queue/leave');
  await seeText(b, '#queue [data-figure="position"] dd', '1 of 1', 'console B shows queue position 1 of 1 without reload');
  await shot(b, 'moderator-console-queued.png');
  await present(s, '#queue [data-queue-entry="2"]', 'the dashboard shows B in the queue');
  await s.setViewportSize({ width: 390, height: 844 });
  await shot(s, 'supervisor-dashboard-390.png');
  await s.setViewportSize({ width: 1280, height: 800 });

  step('a refused request shows a clear message (B asks for a priority above its limit: 403)');
  expectedRefusals.push(403);
  await b.fill('#priority-input', '5');
  await b.click('#queue button:has-text("Request priority")');
  await seeText(b, '#notices .notice.error', 'not allowed', 'console B explains the refusal');
  check(expectedRefusals.length === 0, 'the refused request did not reach the browser');

  step('client lock: client 105 is with moderator 3 (profile 10) when it writes to A\'s profile 12');
  await inbound(105, 10, 'Chloé, je t\'attends');
  await inbound(105, 12, 'Léa, je peux te parler aussi ?');
  await present(a, '#locks [data-blocked-client="105"]', 'console A shows client 105 blocked');
  await seeText(a, '#locks [data-blocked-client="105"]', 'moderator 3', 'console A names who holds client 105');
  await present(a, '#locks [data-blocked-client="105"] time[data-countdown]', 'console A shows the countdown of the blocking lock');

  step('A opens the conversation with client 100, types (typing sent) and sends a reply');
  await a.click('#profiles [data-conversation="100-12"] button');
  await seeText(a, '#conversation .messages', 'Bonjour Léa, tu es là ce soir ?', 'console A shows the conversation messages');
  const reply = 'Bonsoir Julien ! Oui, je suis là. Comment s\'est passée ta journée ?';
  await a.locator('#compose-body').pressSequentially(reply, { delay: 15 });
  await present(a, '#locks [data-client-lock="100"]', 'console A shows its own lock on client 100');
  await a.click('#compose-send');
  const sent = await eventually('the reply stored by the API', async () => {
    const conversation = await asModerator(1, 'GET', '/moderateur/conversations/100/12');
    return conversation.messages.find((message) => message.direction === 'outbound' && message.body === reply);
  });
  check(sent.moderator_id === 1, `reply recorded for moderator ${sent.moderator_id}`);
  await seeText(a, '#conversation .messages .outbound', 'Bonsoir Julien', 'console A shows the sent reply');
  const metrics = await (await fetch(`${base}/metrics`)).text();
  check(/switchboard_http_requests_total\{method="POST",route="\/moderateur\/typing",status="204"\} [1-9]/.test(metrics), 'no typing request reached the API');
  const typingCount = Number((metrics.match(/route="\/moderateur\/typing",status="204"\} (\d+)/) || [])[1]);
  check(typingCount <= 4, `typing was not throttled: ${typingCount} requests for one short reply`);
  await a.locator('#compose-body').fill('Je réponds tout de suite…');

  step('other moderators reply, for response times');
  await asModerator(4, 'POST', '/moderateur/messages', { client_id: 103, profile_id: 11, body: 'Oui Emma est là !' });
  await asModerator(5, 'POST', '/moderateur/messages', { client_id: 104, profile_id: 13, body: 'Coucou toi' });
  await inbound(103, 11, 'Super, on se voit quand ?');

  step('screenshots of console A: 1280×800 and 390 px wide');
  await present(a, '#locks [data-blocked-client="105"]', 'the blocked client is still shown for the screenshot');
  await shot(a, 'moderator-console.png');
  await a.setViewportSize({ width: 390, height: 844 });
  await shot(a, 'moderator-console-390.png');
  await a.setViewportSize({ width: 1280, height: 800 });

  step('moderator 3 answers client 105: the lock indicator clears in A');
  await asModerator(3, 'POST', '/moderateur/messages', { client_id: 105, profile_id: 10, body: 'Je suis là Quentin' });
  await absent(a, '#locks [data-blocked-client="105"]', 'console A clears the client lock indicator');
  await absent(a, '#profiles [data-conversation="105-12"].blocked', 'console A no longer shows conversation 105 as blocked');

  step('A gives profile 12 back: it appears in B\'s console without reload');
  await a.locator('#compose-body').fill('');
  await a.click('#profiles [data-profile="12"] button:has-text("Give back")');
  await present(b, '#profiles [data-profile="12"]', 'console B receives profile 12 live');
  await present(b, '#profiles [data-conversation="101-12"]', 'console B lists the waiting conversation of profile 12');
  await seeText(b, '#identity .badge', 'working', 'console B shows state working');
  await seeText(a, '#queue [data-figure="position"] dd', '1 of 1', 'console A is now first in the queue');

  step('reconnection: A goes offline, misses an event, comes back and reloads its state');
  await a.evaluate(() => window.Pusher.instances[0].disconnect());
  await seeText(a, '#identity .badge', 'realtime disconnected', 'console A shows it is disconnected');
  await asModerator(4, 'POST', '/moderateur/connect'); // nothing for A: a harmless call
  await asSupervisor('PUT', '/api/supervisor/moderators/1/priority', { priority: 3 });
  await a.evaluate(() => window.Pusher.instances[0].connect());
  await live(a, 'console A after reconnecting');
  await eventually('console A reloaded its queue status after reconnecting', async () => (await a.inputValue('#priority-input')) === '3');

  step(`inactivity: B holds profile 12 with waiting clients and does nothing for ${settings.inactivity_threshold_ms} ms`);
  // Inactivity counts from B's last activity or from when it got work, whichever is later
  // (neither is in the API): run the monitor until it acts, the others typing meanwhile.
  const report = await eventually('the monitor setting moderator 2 away', async () => {
    await asModerator(3, 'POST', '/moderateur/typing', { client_id: 102, profile_id: 10 });
    await asModerator(4, 'POST', '/moderateur/typing', { client_id: 103, profile_id: 11 });
    await asModerator(5, 'POST', '/moderateur/typing', { client_id: 106, profile_id: 13 });
    const run = await asSupervisor('POST', '/api/supervisor/monitor/run');
    check(run.set_away.length === 0 || run.set_away.includes(2), `the monitor set others away: ${JSON.stringify(run)}`);
    return run.set_away.includes(2) && run;
  }, settings.inactivity_threshold_ms + 10_000);
  check(!report.set_away.includes(3) && !report.set_away.includes(4) && !report.set_away.includes(5), `active moderators were set away: ${JSON.stringify(report)}`);
  await present(b, '#alerts [data-alert="inactivity"]', 'console B shows the forced reassignment alert');
  const alertText = await text(b, '#alerts [data-alert="inactivity"]');
  check(/Profile 12 \(Léa\) was taken from you/.test(alertText), `the alert does not say what was taken: ${alertText}`);
  check(/no activity/.test(alertText), `the alert does not say why: ${alertText}`);
  const holder = (await asSupervisor('GET', '/api/supervisor/state')).profiles.find((p) => p.profile_id === 12).lock;
  if (holder) check(alertText.includes(`moderator ${holder.moderator_id}`), `the alert does not say to whom (${holder.moderator_id}): ${alertText}`);
  else check(alertText.includes('free'), `the alert should say the profile is free: ${alertText}`);
  await seeText(b, '#identity .badge', 'away', 'console B shows state away');
  await present(b, '#queue button:has-text("Rejoin")', 'console B offers to rejoin the queue');

  step('the dashboard shows the alerts and the load chart');
  await s.click('#identity button:has-text("Run the monitor")');
  await seeText(s, '#notices .notice.info', 'Monitor ran', 'the dashboard reports what the monitor did');
  await present(s, '#alerts [data-alert-kind]', 'the dashboard shows alerts');
  await present(s, '#alerts [data-alert-kind="conflict"]', 'the dashboard shows the collision alert');
  await eventually('the load chart with every moderator', async () => (await s.locator('[data-chart="load"] [data-moderator-bar]').count()) === 6);
  await eventually("moderator 5's load bar drawn", async () => (await s.locator('[data-chart="load"] [data-moderator-bar="5"] .bar').evaluate((bar) => bar.getBoundingClientRect().width)) > 10);
  await present(s, '#profiles [data-profile-status="held"]', 'the dashboard shows held profiles');
  await present(s, '#locks [data-client-lock]', 'the dashboard shows client locks');
  await present(s, '#times [data-times="4"]', 'the dashboard shows response times');
  await present(s, '#conflicts [data-conflict]', 'the dashboard shows conflicts');

  step('the forced reassignment alert stays until dismissed, even across a reload');
  await b.reload();
  await live(b, 'console B after reload');
  await present(b, '#alerts [data-alert="inactivity"]', 'console B still shows the alert after a reload');
  await seeText(b, '#identity .badge', 'away', 'console B still away after reload');

  step('screenshots of console B and the dashboard');
  await shot(b, 'moderator-console-alert.png');
  await s.click('#identity button:has-text("Rebalance")');
  await seeText(s, '#notices .notice.info', 'Rebalance', 'the dashboard reports the rebalance');
  step('a profile with a waiting client and nobody to take it is orphan; another is free');
  await asPlatform('PUT', '/api/profiles/14', { name: 'Sarah', active: true });
  await asPlatform('PUT', '/api/profiles/15', { name: 'Inès', active: true });
  await inbound(107, 14, 'Sarah, tu es en ligne ?');
  // No event announces a new profile or a message to a free one: a search reads the server.
  await s.fill('#profiles-q', 'sarah');
  await present(s, '#profiles [data-profile="14"][data-profile-status="orphan"]', 'the dashboard finds the orphan profile by name');
  await eventually('the search lists only profile 14', async () => (await s.locator('#profiles [data-profile]').count()) === 1);
  await seeText(s, '#profiles [data-range="profiles"]', '1–1 of 1', 'the pager counts the matches');
  await s.fill('#profiles-q', '15');
  await present(s, '#profiles [data-profile="15"][data-profile-status="free"]', 'the dashboard finds the free profile by id');
  await s.fill('#profiles-q', '');
  await eventually('every profile listed again', async () => (await s.locator('#profiles [data-profile]').count()) === 6);
  await shot(s, 'supervisor-dashboard.png');

  step('dashboard actions: priority, pin, free');
  await s.fill('#priority-6', '2');
  await s.click('#moderators [data-moderator="6"] button:has-text("Set")');
  await seeText(s, '#notices .notice.info', 'set to 2', 'the dashboard sets a priority');
  await b.click('#queue button:has-text("Rejoin")');
  await present(b, '#profiles [data-profile="14"]', 'console B, back, takes the orphan profile 14');
  check((await s.locator('#profiles tbody select').count()) === 0, 'profile rows carry no <select> (one picker serves them all)');
  await s.click('#profiles [data-profile="14"] button:has-text("Pin")');
  await present(s, '#pin-picker:not([hidden]) #pin-moderator option[value="2"]', 'the picker offers moderator 2');
  await s.fill('#pin-q', 'bruno');
  await eventually('the picker narrowed to Bruno', async () => (await s.locator('#pin-moderator option[value]:not([value=""])').count()) === 1);
  await s.selectOption('#pin-moderator', '2');
  await s.click('#pin-submit');
  await present(s, '#pin-picker[hidden]', 'the picker closes once pinned');
  await present(s, '#profiles [data-profile="14"] .badge.lock-manual', 'the dashboard shows the pin');
  await present(b, '#locks [data-profile-lease="14"] .badge.lock-manual', 'console B shows its lease is now manual');
  await s.click('#profiles [data-profile="14"] button:has-text("Free")');
  await present(b, '#alerts [data-alert="supervisor"]', 'console B is told a supervisor took the profile');

  step('dismiss and acknowledge');
  await b.click('#alerts [data-alert="supervisor"] button:has-text("Dismiss")');
  await absent(b, '#alerts [data-alert="supervisor"]', 'the alert goes once dismissed');
  await b.click('#alerts [data-alert="inactivity"] button:has-text("Dismiss")');
  await absent(b, '#alerts [data-alert]', 'every alert dismissed');
  await b.click('#conflicts [data-conflict].open button:has-text("Acknowledge")');
  await present(b, '#conflicts [data-conflict].resolved', 'the conflict is acknowledged');

  step('live update: moderator 3 disconnects; the dashboard row follows through the event');
  const applied = async () => Number(await s.locator('#identity [data-events-applied]').getAttribute('data-events-applied'));
  const before = await applied();
  await asModerator(3, 'POST', '/moderateur/disconnect');
  // The safety-net re-read comes every 30 s: within this deadline, only the event can have done it.
  await present(s, '#moderators [data-moderator="3"][data-moderator-state="offline"]', 'the dashboard shows moderator 3 offline', 10_000);
  check((await applied()) > before, 'the change did not come from an event');

  step('paging and filters: 60 more (inactive) profiles, then moderators by state and by name');
  for (let id = 200; id < 260; id += 1) await asPlatform('PUT', `/api/profiles/${id}`, { name: `Reserve ${id}`, active: false });
  await s.selectOption('#profiles-status', 'inactive');
  await seeText(s, '#profiles [data-range="profiles"]', '1–50 of 60', 'the first page of inactive profiles');
  check((await s.locator('#profiles [data-profile]').count()) === 50, 'a page holds 50 rows');
  await s.click('#profiles button:has-text("Next")');
  await seeText(s, '#profiles [data-range="profiles"]', '51–60 of 60', 'the second page');
  await present(s, '#profiles [data-profile="259"][data-profile-status="inactive"]', 'the last profile is on the second page');
  check(await s.locator('#profiles button:has-text("Next")').isDisabled(), 'no page after the last one');
  await s.click('#profiles button:has-text("Previous")');
  await present(s, '#profiles [data-profile="200"]', 'back on the first page');
  await s.selectOption('#profiles-status', '');
  await seeText(s, '#profiles [data-range="profiles"]', 'of 66', 'every profile counted again');
  await s.selectOption('#moderators-state', 'offline');
  await present(s, '#moderators [data-moderator="3"]', 'moderator 3 is listed among the offline ones');
  await eventually('only offline moderators listed', async () => (await s.locator('#moderators [data-moderator]:not([data-moderator-state="offline"])').count()) === 0 && (await s.locator('#moderators [data-moderator]').count()) > 0);
  await s.selectOption('#moderators-state', '');
  await s.fill('#moderators-q', 'farid');
  await eventually('the search by name lists only moderator 6', async () => {
    const rows = await s.locator('#moderators [data-moderator]').evaluateAll((items) => items.map((item) => item.getAttribute('data-moderator')));
    return rows.length === 1 && rows[0] === '6';
  });
  await s.fill('#moderators-q', '');

  step('keyboard: every control has a name');
  for (const [name, page] of [['console A', a], ['console B', b], ['dashboard', s]]) {
    const unnamed = await page.evaluate(() => {
      const controls = [...document.querySelectorAll('button, input, select, textarea, a[href]')].filter((el) => el.offsetParent !== null);
      return controls.filter((el) => {
        const labelled = el.getAttribute('aria-label') || (el.labels && el.labels.length) || (el.tagName === 'BUTTON' || el.tagName === 'A' ? el.textContent.trim() : '');
        return !labelled;
      }).map((el) => el.outerHTML.slice(0, 120));
    });
    check(unnamed.length === 0, `${name}: controls without a name: ${unnamed.join(' | ')}`);
  }

  noBrowserErrors('during the test');
  step('all passed');
}

main(run);

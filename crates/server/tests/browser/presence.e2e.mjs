// The moderator console beside a host presence channel, in headless Chromium (Debian's
// /usr/bin/chromium through playwright-core), against a real switchboard started by
// crates/server/tests/browser.rs, which passes in SWITCHBOARD_E2E (JSON):
//   {"base": "http://127.0.0.1:PORT", "platform": TOKEN, "moderator": TOKEN (moderator 1),
//    "app_id": ID, "app_key": KEY, "app_secret": SECRET}
//
// The host platform is played by this script: an HTTP server with the host's page (Laravel
// Echo 2 on pusher-js 8) and its `/broadcasting/auth`, which signs presence channel_data
// with the app secret as Laravel's does. Two members join `presence-room.1`:
//   - Ann, in the console's own page, on the console's own pusher-js connection (the
//     console's socket then carries private-moderator.1 and the host's presence channel);
//   - Bob, in a second page of the same browser: the host's page, `Echo.join('room.1')`.
// Meanwhile the console must keep working: a profile and an assigned conversation arrive
// live, a reply is sent and stored. Every wait polls with a deadline; nothing sleeps to
// synchronise. Any browser console error or page error fails the run.
//
// Prints one line per step; exits 0 when everything passed, 1 with the reason otherwise.

import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import {
  api, check, eventually, live, main, noBrowserErrors, present, seeText, step, watch, withChromium,
} from './support.mjs';

const settings = JSON.parse(process.env.SWITCHBOARD_E2E || '{}');
const { base, platform, moderator, app_id: appId, app_key: appKey, app_secret: appSecret } = settings;
const { ok } = api(base);
const CHANNEL = 'presence-room.1';
const hostUsers = { 1: { name: 'Ann' }, 2: { name: 'Bob' } };

// ---- the host platform ------------------------------------------------------------------

const hmac = (text) => createHmac('sha256', appSecret).update(text).digest('hex');

/** The host's `/broadcasting/auth` answer, as Laravel's Pusher-convention broadcaster makes it. */
function hostAuth(socketId, channel, userId) {
  check(hostUsers[userId], `the host has no user ${userId}`);
  if (!channel.startsWith('presence-')) return { auth: `${appKey}:${hmac(`${socketId}:${channel}`)}` };
  const channelData = JSON.stringify({ user_id: String(userId), user_info: hostUsers[userId] });
  return { auth: `${appKey}:${hmac(`${socketId}:${channel}:${channelData}`)}`, channel_data: channelData };
}

/** A host event published through Switchboard's Pusher HTTP API, signed as Pusher specifies. */
async function hostPublish(channel, name, data) {
  const path = `/apps/${appId}/events`;
  const body = JSON.stringify({ name, channel, data: JSON.stringify(data) });
  const params = {
    auth_key: appKey,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(body).digest('hex'),
  };
  const query = Object.keys(params).sort().map((key) => `${key}=${params[key]}`).join('&');
  const signature = hmac(`POST\n${path}\n${query}`);
  const response = await fetch(`${base}${path}?${query}&auth_signature=${signature}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  check(response.status === 200, `the host's publish was refused: ${response.status} ${await response.text()}`);
}

// The browser builds of the npm packages this directory installs (package.json).
const vendor = {
  '/vendor/pusher.min.js': readFileSync(new URL('./node_modules/pusher-js/dist/web/pusher.min.js', import.meta.url)),
  '/vendor/echo.iife.js': readFileSync(new URL('./node_modules/laravel-echo/dist/echo.iife.js', import.meta.url)),
};
const HOST_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host platform</title><link rel="icon" href="data:,">
<script src="/vendor/pusher.min.js"></script><script src="/vendor/echo.iife.js"></script></head>
<body><h1>The host's own page</h1><ul id="members"></ul></body></html>`;

function startHost() {
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const path = new URL(request.url, 'http://host').pathname;
      if (request.method === 'POST' && path === '/broadcasting/auth') {
        const form = new URLSearchParams(body);
        try {
          const answer = hostAuth(form.get('socket_id'), form.get('channel_name'), request.headers['x-user']);
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        } catch {
          response.writeHead(403).end();
        }
      } else if (path === '/host') {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(HOST_PAGE);
      } else if (vendor[path]) {
        response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(vendor[path]);
      } else {
        response.writeHead(404).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---- the scenario -----------------------------------------------------------------------

/** What a page's presence subscription saw so far (`window.hostPresence`). */
const presence = (page) => page.evaluate(() => window.hostPresence);

async function run() {
  check(base && platform && moderator && appId && appKey && appSecret, 'SWITCHBOARD_E2E is missing or incomplete');
  const host = await startHost();
  const hostBase = `http://127.0.0.1:${host.address().port}`;
  try {
    await withChromium((context) => scenario(context, hostBase));
  } finally {
    host.close();
  }
}

async function scenario(context, hostBase) {
  step('directory: moderator 1, profile 10, client 100');
  await ok('PUT', '/api/moderators/1', platform, { name: 'Alice Martin' });
  await ok('PUT', '/api/profiles/10', platform, { name: 'Chloé', active: true });
  await ok('PUT', '/api/clients/100', platform, { name: 'Julien' });

  step('the console of moderator 1 opens and goes live');
  const a = context.pages()[0] || (await context.newPage());
  watch(a, 'console');
  await a.goto(`${base}/?token=${encodeURIComponent(moderator)}`);
  await live(a, 'console');
  await eventually('the console following private-moderator.1', () => a.evaluate(() => {
    const channel = window.Pusher.instances[0].channel('private-moderator.1');
    return Boolean(channel && channel.subscribed);
  }));

  step("Ann joins the host's presence channel on the console's own connection, with the host's auth");
  // The host signs presence channels (a Laravel /broadcasting/auth would); the console's
  // authorizer keeps answering for Switchboard's own channels.
  await a.exposeFunction('hostAuthorize', (socketId, channel) => hostAuth(socketId, channel, 1));
  await a.evaluate((channelName) => {
    const pusher = window.Pusher.instances[0];
    const consoleAuthorizer = pusher.config.channelAuthorizer;
    pusher.config.channelAuthorizer = (params, callback) => {
      if (!params.channelName.startsWith('presence-')) return consoleAuthorizer(params, callback);
      window.hostAuthorize(params.socketId, params.channelName).then((answer) => callback(null, answer), (error) => callback(error, null));
    };
    const log = { me: null, members: [], joined: [], left: [], events: [], errors: [] };
    window.hostPresence = log;
    const channel = pusher.subscribe(channelName);
    const names = (members) => { const all = []; members.each((member) => all.push(member.info.name)); return all.sort(); };
    channel.bind('pusher:subscription_succeeded', (members) => { log.me = members.me && members.me.info.name; log.members = names(members); });
    channel.bind('pusher:subscription_error', (error) => log.errors.push(error && error.status));
    channel.bind('pusher:member_added', (member) => { log.joined.push(member.info.name); log.members = names(channel.members); });
    channel.bind('pusher:member_removed', (member) => { log.left.push(member.info.name); log.members = names(channel.members); });
    channel.bind('App\\Events\\RoomNotice', (data) => log.events.push(data));
  }, CHANNEL);
  const ann = await eventually('Ann in the presence channel', async () => {
    const seen = await presence(a);
    check(seen.errors.length === 0, `the presence subscription was refused: ${JSON.stringify(seen.errors)}`);
    return seen.me && seen;
  });
  check(ann.me === 'Ann' && JSON.stringify(ann.members) === '["Ann"]', `Ann's presence: ${JSON.stringify(ann)}`);

  step("Bob joins from the host's own page in a second tab, with Echo.join and the host's /broadcasting/auth");
  const h = await context.newPage();
  watch(h, 'host page');
  await h.goto(`${hostBase}/host`);
  await h.evaluate(({ key, port, authEndpoint }) => {
    const log = { here: null, joining: [], leaving: [], events: [], errors: [] };
    window.hostPresence = log;
    window.echo = new window.Echo.default({
      broadcaster: 'pusher',
      key,
      Pusher: window.Pusher,
      cluster: '',
      wsHost: '127.0.0.1',
      wsPort: port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      authEndpoint,
      auth: { headers: { 'X-User': '2' } },
    });
    window.echo.join('room.1')
      .here((members) => { log.here = members.map((member) => member.name).sort(); })
      .joining((member) => log.joining.push(member.name))
      .leaving((member) => log.leaving.push(member.name))
      .listen('RoomNotice', (data) => log.events.push(data))
      .error((error) => log.errors.push(error && error.status));
  }, { key: appKey, port: Number(new URL(base).port), authEndpoint: `${hostBase}/broadcasting/auth` });
  const bob = await eventually('Bob here with Ann', async () => {
    const seen = await presence(h);
    check(seen.errors.length === 0, `Echo.join was refused: ${JSON.stringify(seen.errors)}`);
    return seen.here && seen;
  });
  check(JSON.stringify(bob.here) === '["Ann","Bob"]', `here() on the host page: ${JSON.stringify(bob.here)}`);
  await eventually('the console page sees Bob join', async () => {
    const seen = await presence(a);
    return JSON.stringify(seen.joined) === '["Bob"]' && JSON.stringify(seen.members) === '["Ann","Bob"]';
  });

  step('the console works beside it: Connect gives it profile 10, live');
  await a.click('#identity button:has-text("Connect")');
  await present(a, '#profiles [data-profile="10"]', 'the console receives profile 10');
  await seeText(a, '#identity .badge', 'working', 'the console shows state working');

  step('a client writes: the conversation is assigned to the console live');
  await ok('POST', '/api/messages', platform, { message_id: 7001, client_id: 100, profile_id: 10, body: 'Bonjour Chloé, tu es là ?' });
  await present(a, '#profiles [data-conversation="100-10"]', 'the console lists the assigned conversation');

  step('the console replies; the reply is stored');
  await a.click('#profiles [data-conversation="100-10"] button');
  await seeText(a, '#conversation .messages', 'Bonjour Chloé, tu es là ?', 'the console shows the client\'s message');
  const reply = 'Oui Julien, je suis là !';
  await a.locator('#compose-body').fill(reply);
  await a.click('#compose-send');
  const sent = await eventually('the reply stored by the API', async () => {
    const conversation = await ok('GET', '/moderateur/conversations/100/10', moderator);
    return conversation.messages.find((message) => message.direction === 'outbound' && message.body === reply);
  });
  check(sent.moderator_id === 1, `reply recorded for moderator ${sent.moderator_id}`);
  await seeText(a, '#conversation .messages .outbound', reply, 'the console shows the sent reply');

  step("a host event on the presence channel reaches both pages; the console's socket still holds both channels");
  await hostPublish(CHANNEL, 'App\\Events\\RoomNotice', { text: 'welcome' });
  for (const [page, name] of [[a, 'the console page'], [h, 'the host page']]) {
    await eventually(`${name} receives the host event`, async () => JSON.stringify((await presence(page)).events) === '[{"text":"welcome"}]');
  }
  const channels = await a.evaluate(() => window.Pusher.instances[0].allChannels().filter((channel) => channel.subscribed).map((channel) => channel.name).sort());
  check(channels.includes('presence-room.1') && channels.includes('private-moderator.1') && channels.includes('private-profile.10'), `the console's socket holds ${JSON.stringify(channels)}`);

  step('Bob leaves: the console page sees him go, and the console is still live and working');
  await h.evaluate(() => window.echo.leave('room.1'));
  await eventually('the console page sees Bob leave', async () => {
    const seen = await presence(a);
    return JSON.stringify(seen.left) === '["Bob"]' && JSON.stringify(seen.members) === '["Ann"]';
  });
  await live(a, 'the console after Bob left');
  const status = await ok('GET', '/moderateur/status', moderator);
  check(status.state === 'working', `moderator 1 is ${JSON.stringify(status.state)}, not working`);
  await h.close();

  noBrowserErrors('during the test');
  step('all passed');
}

main(run);

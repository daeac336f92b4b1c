// A host platform written against the official SDKs only, run against the real switchboard
// binary by crates/server/tests/pusher_sdks.rs: a Laravel-style /broadcasting/auth signing
// with the npm `pusher` SDK (presence channel_data included), a webhook receiver checking
// `webhook().isValid()`, Laravel Echo 2 on pusher-js 8 as the front end, and the server SDK
// publishing (trigger, triggerBatch) and asking (channels, users). Every check is an
// assertion: the script exits non-zero at the first one that fails.
//
// usage: node host.mjs SWITCHBOARD_PORT HOST_PORT APP_ID APP_KEY APP_SECRET
// prints one JSON line per step; after {"step":"ready_for_python"} it waits for a line on
// stdin (the Rust test runs the Python SDK meanwhile), then checks what Python published.
import assert from 'node:assert/strict';
import http from 'node:http';
import readline from 'node:readline';
import Echo from 'laravel-echo';
import Pusher from 'pusher';
import PusherJs from 'pusher-js';

const [switchboardPort, hostPort, appId, key, secret] = process.argv.slice(2);
const emit = (step, fields = {}) => process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
setTimeout(() => { emit('stuck'); process.exit(3); }, 90_000).unref();

const server = new Pusher({ appId, key, secret, host: '127.0.0.1', port: switchboardPort, useTLS: false });
const wrongSecret = new Pusher({ appId, key, secret: 'not-the-secret', host: '127.0.0.1', port: switchboardPort, useTLS: false });
const users = { 1: { name: 'Ann' }, 2: { name: 'Bob' } };

// The host's own platform: Laravel's /broadcasting/auth and the webhook receiver.
const webhooks = [];
const webhookWaiters = [];
const readBody = (request) => new Promise((resolve) => {
  let body = '';
  request.on('data', (chunk) => { body += chunk; });
  request.on('end', () => resolve(body));
});
const host = http.createServer(async (request, response) => {
  const body = await readBody(request);
  if (request.url === '/broadcasting/auth') {
    const form = new URLSearchParams(body);
    const userId = request.headers['x-user'];
    const channel = form.get('channel_name');
    const presence = channel.startsWith('presence-') ? { user_id: userId, user_info: users[userId] } : undefined;
    const auth = server.authorizeChannel(form.get('socket_id'), channel, presence);
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(auth));
  } else if (request.url === '/webhooks') {
    const hook = server.webhook({ headers: request.headers, rawBody: body });
    const valid = hook.isValid();
    const forged = server.webhook({ headers: { ...request.headers, 'x-pusher-signature': '0'.repeat(64) }, rawBody: body });
    assert.equal(forged.isValid(), false, 'a forged signature is refused by the SDK');
    webhooks.push({ valid, events: valid ? hook.getEvents() : [] });
    webhookWaiters.forEach((wake) => wake());
    response.writeHead(200).end('{}');
  } else {
    response.writeHead(404).end();
  }
});
await new Promise((resolve) => host.listen(Number(hostPort), '127.0.0.1', resolve));
emit('host_listening');

const echoFor = (userId) => new Echo({
  broadcaster: 'pusher',
  key,
  Pusher: PusherJs,
  cluster: '',
  wsHost: '127.0.0.1',
  wsPort: Number(switchboardPort),
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  authEndpoint: `http://127.0.0.1:${hostPort}/broadcasting/auth`,
  auth: { headers: { 'X-User': String(userId) } },
});

/** A promise with its resolve, and a list of what arrived. */
const inbox = () => {
  const seen = [];
  const waiters = [];
  return {
    seen,
    push(item) { seen.push(item); waiters.splice(0).forEach((wake) => wake()); },
    async until(predicate, what) {
      const deadline = Date.now() + 20_000;
      while (!seen.some((item, index) => predicate(item, index))) {
        assert.ok(Date.now() < deadline, `timed out waiting for ${what}; saw ${JSON.stringify(seen)}`);
        await new Promise((resolve) => { waiters.push(resolve); setTimeout(resolve, 250); });
      }
      return seen.find((item, index) => predicate(item, index));
    },
  };
};

const client = (userId) => {
  const echo = echoFor(userId);
  const log = inbox();
  echo.connector.pusher.connection.bind('error', (error) => log.push({ kind: 'error', code: error && error.data && error.data.code }));
  echo.connector.pusher.connection.bind('state_change', ({ current }) => log.push({ kind: 'state', current }));
  return { echo, log };
};

const ann = client(1);
const annSecondTab = client(1);
const bob = client(2);

const join = (who, label) => who.echo.join('chat.1')
  .here((members) => who.log.push({ kind: 'here', members: members.map((m) => m.name).sort() }))
  .joining((member) => who.log.push({ kind: 'joining', name: member.name }))
  .leaving((member) => who.log.push({ kind: 'leaving', name: member.name }))
  .listen('OrderShipped', (data) => who.log.push({ kind: 'event', name: 'OrderShipped', data }))
  .listen('.marker', (data) => who.log.push({ kind: 'marker', n: data.n }))
  .listenForWhisper('typing', (data) => who.log.push({ kind: 'whisper', channel: 'presence', data }))
  .error((error) => who.log.push({ kind: 'subscription_error', label, error }));

let markers = 0;
/** Sends a marker through the server SDK and waits until `who` has it: everything the
 * server queued for `who` before the marker has been received by then. */
const barrier = async (who) => {
  markers += 1;
  const n = markers;
  await server.trigger('presence-chat.1', 'marker', { n });
  await who.log.until((item) => item.kind === 'marker' && item.n === n, `marker ${n}`);
};
const count = (who, predicate) => who.log.seen.filter(predicate).length;

// Presence: here / joining, one member per user however many tabs.
join(ann, 'ann');
assert.deepEqual((await ann.log.until((item) => item.kind === 'here', 'ann here')).members, ['Ann']);
join(bob, 'bob');
assert.deepEqual((await bob.log.until((item) => item.kind === 'here', 'bob here')).members, ['Ann', 'Bob']);
await ann.log.until((item) => item.kind === 'joining' && item.name === 'Bob', 'ann sees bob join');
join(annSecondTab, 'ann tab 2');
assert.deepEqual((await annSecondTab.log.until((item) => item.kind === 'here', 'tab 2 here')).members, ['Ann', 'Bob']);
await barrier(bob);
assert.equal(count(bob, (item) => item.kind === 'joining'), 0, "Ann's second tab is not a new member");
emit('presence_joined');

// A host event published with the server SDK reaches Echo under Laravel's name.
await server.trigger('presence-chat.1', 'App\\Events\\OrderShipped', { order: 5 });
assert.deepEqual((await bob.log.until((item) => item.kind === 'event', 'OrderShipped')).data, { order: 5 });

// The HTTP API's answers, read with the SDK.
const channels = await (await server.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
assert.deepEqual(channels, { channels: { 'presence-chat.1': { user_count: 2 } } });
const channel = await (await server.get({ path: '/channels/presence-chat.1', params: { info: 'subscription_count,user_count' } })).json();
assert.deepEqual(channel, { occupied: true, subscription_count: 3, user_count: 2 });
const members = await (await server.get({ path: '/channels/presence-chat.1/users' })).json();
assert.deepEqual(members.users.map((user) => user.id).sort(), ['1', '2']);
emit('http_api_read');

// Whispers: to the others, never back to the sender; user_id on presence channels.
ann.echo.join('chat.1').whisper('typing', { on: true });
await bob.log.until((item) => item.kind === 'whisper', 'bob hears the whisper');
await annSecondTab.log.until((item) => item.kind === 'whisper', "Ann's other tab hears it too");
await barrier(ann);
assert.equal(count(ann, (item) => item.kind === 'whisper'), 0, 'not echoed to the sender');

// Private host channels, signed by the host, with a batch from the server SDK and a
// rate-limited whisper burst (from Ann's second tab: a socket that has not whispered yet).
const privateLog = inbox();
const annOrders = annSecondTab.echo.private('orders.1');
const annOrdersSubscribed = new Promise((resolve) => annOrders.subscribed(resolve));
bob.echo.private('orders.1')
  .listen('OrderPaid', (data) => privateLog.push({ kind: 'paid', data }))
  .listen('OrderPacked', (data) => privateLog.push({ kind: 'packed', data }))
  .listenForWhisper('note', (data) => privateLog.push({ kind: 'note', n: data.n }))
  .subscribed(() => privateLog.push({ kind: 'subscribed' }));
await privateLog.until((item) => item.kind === 'subscribed', 'bob on private-orders.1');
await annOrdersSubscribed;
await server.triggerBatch([
  { channel: 'private-orders.1', name: 'App\\Events\\OrderPaid', data: JSON.stringify({ order: 1 }) },
  { channel: 'private-orders.1', name: 'App\\Events\\OrderPacked', data: JSON.stringify({ order: 1 }) },
]);
await privateLog.until((item) => item.kind === 'packed', 'the batch');
assert.deepEqual(privateLog.seen.filter((item) => item.kind === 'paid' || item.kind === 'packed').map((item) => item.kind), ['paid', 'packed']);
for (let n = 1; n <= 11; n += 1) annOrders.whisper('note', { n });
await annSecondTab.log.until((item) => item.kind === 'error' && item.code === 4301, 'the 11th whisper refused with 4301');
await barrier(bob);
await privateLog.until((item) => item.kind === 'note' && item.n === 10, 'ten whispers');
assert.equal(count({ log: privateLog }, (item) => item.kind === 'note'), 10, 'ten per second, no more');
emit('client_events');

// Switchboard's own channels: the host may sign them (it has the secret), but they accept
// no publish from the HTTP API and no client event.
const ownChannel = ann.echo.private('moderator.1');
await new Promise((resolve) => ownChannel.subscribed(resolve));
const errorsBefore = count(ann, (item) => item.kind === 'error');
ownChannel.whisper('typing', {});
await ann.log.until(() => count(ann, (item) => item.kind === 'error' && item.code === 4301) > errorsBefore, 'whisper on an own channel refused');
await assert.rejects(server.trigger('private-moderator.1', 'Forged', {}), (error) => error.status === 403);
await assert.rejects(server.trigger('private-supervisors', 'Forged', {}), (error) => error.status === 403);
await assert.rejects(wrongSecret.trigger('presence-chat.1', 'Forged', {}), (error) => error.status === 401);
await assert.rejects(server.trigger('presence-chat.1', 'Big', 'x'.repeat(10 * 1024 + 1)), (error) => error.status === 413);
emit('refusals');

// Leaving: Ann is gone for Bob only when her last tab leaves.
annSecondTab.echo.disconnect();
await barrier(bob);
assert.equal(count(bob, (item) => item.kind === 'leaving'), 0, 'Ann still has a tab there');
ann.echo.leave('chat.1');
await bob.log.until((item) => item.kind === 'leaving' && item.name === 'Ann', 'Ann leaves');
emit('presence_left');

// terminate_connections closes Bob's sockets; pusher-js does not reconnect after 4009.
const bobBefore = bob.log.seen.length;
await server.terminateUserConnections('2');
await bob.log.until((item, index) => index >= bobBefore && item.kind === 'state' && item.current !== 'connected', 'bob disconnected');
emit('terminated');

// Python's SDK publishes to a public channel Ann listens on.
const news = inbox();
ann.echo.channel('news').listen('.py-event', (data) => news.push(data)).subscribed(() => news.push({ subscribed: true }));
await news.until((item) => item.subscribed, 'ann on news');
emit('ready_for_python');
await new Promise((resolve) => readline.createInterface({ input: process.stdin }).once('line', resolve));
await news.until((item) => item.from === 'python' && item.n === 2, 'both Python events');
emit('python_events', { seen: news.seen.filter((item) => item.from) });

// Webhooks, each checked with the SDK's isValid() on arrival.
const wanted = [
  (e) => e.name === 'channel_occupied' && e.channel === 'presence-chat.1',
  (e) => e.name === 'member_added' && e.channel === 'presence-chat.1' && e.user_id === '1',
  (e) => e.name === 'member_added' && e.channel === 'presence-chat.1' && e.user_id === '2',
  (e) => e.name === 'client_event' && e.channel === 'presence-chat.1' && e.event === 'client-typing' && e.user_id === '1',
  (e) => e.name === 'member_removed' && e.channel === 'presence-chat.1' && e.user_id === '1',
  (e) => e.name === 'channel_vacated' && e.channel === 'presence-chat.1',
];
const events = () => webhooks.flatMap((hook) => hook.events);
const deadline = Date.now() + 20_000;
while (!wanted.every((predicate) => events().some(predicate))) {
  assert.ok(Date.now() < deadline, `webhooks missing; got ${JSON.stringify(events())}`);
  await new Promise((resolve) => { webhookWaiters.push(resolve); setTimeout(resolve, 250); });
}
assert.ok(webhooks.every((hook) => hook.valid), 'every webhook passes webhook().isValid()');
emit('webhooks', { batches: webhooks.length, events: events().length });

ann.echo.disconnect();
host.close();
emit('done');
process.exit(0);

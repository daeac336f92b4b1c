// Unit tests of the moderator console's store (`web/moderator-store.js`) under `node --test`,
// with stand-ins for the api, the realtime connection and the clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createModeratorStore, MODERATOR_EVENTS, RETRY_AFTER_MS, TYPING_INTERVAL_MS } from '../../web/moderator-store.js';
import { INFO_NOTICE_MS } from '../../web/store.js';
import { fakeApi, fakeRealtime, manualClock, refusal, settle } from './fakes.mjs';

const MODERATOR = 7;

function memoryStorage() {
  const items = new Map();
  return { getItem: (key) => (items.has(key) ? items.get(key) : null), setItem: (key, value) => items.set(key, String(value)), items };
}

/** The moderator holds profile 12 with a waiting conversation from client 100. */
function answers(overrides = {}) {
  return (method, path, body) => {
    if (overrides[path]) return overrides[path](method, body);
    switch (path) {
      case '/moderateur/status': return { moderator_id: MODERATOR, state: 'working', profiles: [12], load: 1, queue: null };
      case '/moderateur/profiles': return { profiles: [{ profile_id: 12, name: 'Léa', conversations: [{ client_id: 101, waiting: false }, { client_id: 100, waiting: true, waiting_since: '2026-01-01T10:00:00Z' }], lock: null }] };
      case '/moderateur/queue/status': return { in_queue: false, position: null, queue_length: 0, available_profiles: 0, priority: 0 };
      case '/moderateur/locks/status': return { profile_locks: [], client_locks: [], blocked_clients: [] };
      case '/moderateur/conflicts': return { conflicts: [] };
      case '/moderateur/typing': return null;
      case '/moderateur/messages': return { message_id: 1, body: body.body, sent_at: '2026-01-01T10:00:05Z' };
      default:
        if (path.startsWith('/moderateur/conversations/')) return { messages: [], lock: null };
        return {};
    }
  };
}

function setup(overrides) {
  const clock = manualClock();
  const api = fakeApi(answers(overrides));
  const realtime = fakeRealtime();
  const storage = memoryStorage();
  const store = createModeratorStore({ api, realtime, moderatorId: MODERATOR, now: clock.now, storage, timers: clock.timers });
  const sent = (path) => api.calls.filter((call) => call.path === path);
  return { clock, api, realtime, storage, store, sent };
}

test('typing is sent at most once per interval per conversation, and again after a reply', async () => {
  const { store, clock, sent } = setup();
  await store.initialize();
  await store.openConversation(100, 12);
  for (let keystroke = 0; keystroke < 20; keystroke += 1) {
    await store.typing();
    clock.advance(TYPING_INTERVAL_MS / 10);
  }
  // 20 keystrokes over 2 intervals: the first one, then one per interval.
  assert.equal(sent('/moderateur/typing').length, 2);
  assert.deepEqual(sent('/moderateur/typing')[0].body, { client_id: 100, profile_id: 12 });
  await store.typing();
  assert.equal(sent('/moderateur/typing').length, 3, 'a new interval sends again');
  await store.typing();
  assert.equal(sent('/moderateur/typing').length, 3, 'not within the interval');
  assert.equal(await store.sendMessage('Bonsoir'), true);
  await store.typing();
  assert.equal(sent('/moderateur/typing').length, 4, 'a reply starts a new throttle');
  await store.openConversation(101, 12);
  await store.typing();
  assert.equal(sent('/moderateur/typing').length, 5, 'each conversation has its own throttle');
});

test('no conversation open: typing sends nothing', async () => {
  const { store, sent } = setup();
  await store.initialize();
  await store.typing();
  assert.equal(sent('/moderateur/typing').length, 0);
});

test('listens to every moderator event on its own channel and loads waiting conversations first', async () => {
  const { store, realtime } = setup();
  await store.initialize();
  assert.deepEqual(Object.keys(realtime.channels.get(`private-moderator.${MODERATOR}`)).sort(), [...MODERATOR_EVENTS].sort());
  assert.ok(realtime.channels.has('private-profile.12'), 'follows the channel of the profile it holds');
  assert.deepEqual(store.state.profiles[0].conversations.map((c) => c.client_id), [100, 101]);
});

test('a queue position event shows at once, before the re-read', async () => {
  const { store, realtime } = setup();
  await store.initialize();
  realtime.emit(`private-moderator.${MODERATOR}`, 'ModeratorQueuePositionChanged', { moderator_id: MODERATOR, position: 2, estimated_wait_seconds: 40, available_profiles: 0 });
  assert.equal(store.state.queue.position, 2);
  assert.equal(store.state.queue.in_queue, true);
  assert.deepEqual(store.state.status.queue, { position: 2, estimated_wait_seconds: 40 });
});

test('a forced reassignment is kept as an alert until dismissed, across a reload of the page', async () => {
  const { store, realtime, storage, api, clock } = setup();
  await store.initialize();
  realtime.emit(`private-moderator.${MODERATOR}`, 'ForcedReassignment', { profile_id: 12, reason: 'inactivity', new_moderator_id: 9 });
  assert.equal(store.state.alerts.length, 1);
  assert.equal(store.state.alerts[0].profile_name, 'Léa');
  assert.equal(store.state.alerts[0].waiting, 1);
  assert.equal(store.state.profiles.length, 0, 'the profile leaves at once');
  const again = createModeratorStore({ api, realtime: fakeRealtime(), moderatorId: MODERATOR, now: clock.now, storage, timers: clock.timers });
  assert.equal(again.state.alerts.length, 1, 'the alert survives a reload');
  store.dismissAlert(store.state.alerts[0].id);
  assert.equal(store.state.alerts.length, 0);
  assert.deepEqual(JSON.parse(storage.getItem(`switchboard.moderator.${MODERATOR}.alerts`)), []);
});

test('a client locked by another moderator is named with its holder', async () => {
  const blocked = { client_id: 100, profile_id: 12, moderator_id: 3, expires_at: '2026-01-01T10:01:00Z' };
  const { store } = setup({
    '/moderateur/messages': () => { throw refusal(409, 'client_locked', 'client 100 is locked by moderator 3'); },
    '/moderateur/locks/status': () => ({ profile_locks: [], client_locks: [], blocked_clients: [blocked] }),
  });
  await store.initialize();
  await store.openConversation(100, 12);
  assert.equal(await store.sendMessage('Bonsoir'), false);
  assert.match(store.state.notices.at(-1).text, /moderator 3/);
});

test('storage down: one notice and a retry; back: the notice goes', async () => {
  let down = true;
  const { store, clock, sent } = setup({ '/moderateur/status': () => { if (down) throw refusal(503, 'unavailable'); return { moderator_id: MODERATOR, state: 'offline', profiles: [], load: 0, queue: null }; } });
  await store.initialize();
  assert.equal(store.state.notices.filter((notice) => notice.key === 'storage').length, 1);
  down = false;
  const reads = sent('/moderateur/status').length;
  clock.advance(RETRY_AFTER_MS);
  await settle();
  assert.equal(sent('/moderateur/status').length, reads + 1);
  assert.equal(store.state.notices.filter((notice) => notice.key === 'storage').length, 0);
});

test('a refused token signs out and disconnects', async () => {
  const { store, realtime } = setup({ '/moderateur/connect': () => { throw refusal(401, 'unauthorized'); } });
  await store.initialize();
  await store.connect();
  assert.match(store.state.signedOut, /sign in again/);
  assert.ok(realtime.disconnected);
});

test('info notices disappear after a while, errors stay', async () => {
  const { store, clock } = setup();
  await store.initialize();
  store.notify('info', 'fine');
  store.notify('error', 'bad');
  clock.advance(INFO_NOTICE_MS - 1);
  assert.equal(store.state.notices.length, 2);
  clock.advance(1);
  assert.deepEqual(store.state.notices.map((notice) => notice.text), ['bad']);
});

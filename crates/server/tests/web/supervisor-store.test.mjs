// Unit tests of the supervisor dashboard's store (`web/supervisor-store.js`) under
// `node --test`, with stand-ins for the api, the realtime connection and the clock.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLUSTER_EPOCHS_SHOWN,
  CLUSTER_REFRESH_MS,
  clusterView,
  createSupervisorStore,
  EVENT_REFRESH_MS,
  fanoutStatus,
  PAGE_SIZE,
  PROFILE_CHANNELS_MAX,
  RESYNC_MS,
  RETRY_AFTER_MS,
} from '../../web/supervisor-store.js';
import { fakeApi, fakeRealtime, manualClock, refusal, settle } from './fakes.mjs';

/** A directory of `moderators` and `profiles`, paged as the server pages it. */
function directory({ moderators = 120, profiles = 130 } = {}) {
  const rows = {
    moderators: Array.from({ length: moderators }, (_, i) => ({
      moderator_id: i + 1, name: `Moderator ${i + 1}`, state: 'offline', profiles: [], load: 0, priority: 0,
      realtime_connected: false, last_activity_at: null, queue: null, replies: 0, median_response_seconds: null, p95_response_seconds: null,
    })),
    profiles: Array.from({ length: profiles }, (_, i) => ({
      profile_id: i + 1, name: `Profile ${i + 1}`, active: true, lock: null, waiting_conversations: 0, status: 'free',
    })),
  };
  return {
    rows,
    answer(path) {
      const url = new URL(path, 'http://x');
      const page = (table, filter) => {
        const offset = Number(url.searchParams.get(`${table}_offset`) || 0);
        const limit = Number(url.searchParams.get(`${table}_limit`) ?? 50);
        const q = url.searchParams.get(`${table}_q`);
        const matching = rows[table].filter((row) => (!q || row.name.toLowerCase().includes(q.toLowerCase())) && filter(row));
        return { offset, limit, total: matching.length, rows: structuredClone(matching.slice(offset, offset + limit)) };
      };
      const states = url.searchParams.get('moderators_state');
      return {
        moderators: page('moderators', (row) => !states || states.split(',').includes(row.state)),
        profiles: page('profiles', () => true),
        queue: [], queue_length: 0, client_locks: [], client_locks_total: 0, free_profiles: profiles,
        counts: { moderators: { offline: moderators, queued: 0, working: 0, paused: 0, away: 0 }, profiles: { held: 0, free: profiles, orphan: 0, inactive: 0 } },
        totals: { total_load: 0, working: 0, queued: 0, mean_load: 0, free_profiles: profiles, orphan_profiles: 0, waiting_conversations: 0 },
      };
    },
  };
}

function setup({ answer } = {}) {
  const clock = manualClock();
  const world = directory();
  const api = fakeApi(answer || ((method, path) => {
    if (path.startsWith('/api/supervisor/state')) return world.answer(path);
    if (path === '/api/supervisor/alerts') return { alerts: [] };
    if (path === '/api/supervisor/conflicts') return { conflicts: [] };
    return {};
  }));
  const realtime = fakeRealtime();
  const store = createSupervisorStore({ api, realtime, now: clock.now, timers: clock.timers });
  const stateReads = () => api.calls.filter((call) => call.path.startsWith('/api/supervisor/state'));
  return { clock, world, api, realtime, store, stateReads };
}

test('starts with one page of each table, never the whole directory', async () => {
  const { store, stateReads, realtime } = setup();
  await store.initialize();
  const [read] = stateReads();
  const query = new URL(read.path, 'http://x').searchParams;
  assert.equal(query.get('moderators_offset'), '0');
  assert.equal(query.get('moderators_limit'), String(PAGE_SIZE));
  assert.equal(query.get('profiles_limit'), String(PAGE_SIZE));
  assert.equal(store.state.moderators.length, PAGE_SIZE);
  assert.equal(store.state.moderatorsTotal, 120);
  assert.equal(store.state.moderatorIndex.get(7).name, 'Moderator 7');
  assert.ok(realtime.channels.has('private-supervisors'));
  const profileChannels = [...realtime.channels.keys()].filter((name) => name.startsWith('private-profile.'));
  assert.equal(profileChannels.length, Math.min(PAGE_SIZE, PROFILE_CHANNELS_MAX));
});

test('a state change shows at once; a burst of events costs one throttled re-read', async () => {
  const { store, stateReads, realtime, clock } = setup();
  await store.initialize();
  const before = stateReads().length;
  realtime.emit('private-supervisors', 'ModeratorStateChanged', { moderator_id: 3, state: 'queued' });
  assert.equal(store.state.moderatorIndex.get(3).state, 'queued', 'the row changed before any read');
  for (let id = 4; id < 40; id += 1) realtime.emit('private-supervisors', 'ModeratorStateChanged', { moderator_id: id, state: 'working' });
  realtime.emit('private-supervisors', 'ModeratorStateChanged', { moderator_id: 9999, state: 'working' });
  assert.equal(store.state.applied.ModeratorStateChanged, 38);
  // After a quiet period the first event is followed by a read at once (the timers' next turn).
  clock.advance(0);
  await settle();
  assert.equal(stateReads().length, before + 1, 'exactly one re-read for the burst');
  // The re-read brings the server's truth (still offline in this stand-in).
  assert.equal(store.state.moderatorIndex.get(3).state, 'offline');
  realtime.emit('private-supervisors', 'ModeratorStateChanged', { moderator_id: 3, state: 'away' });
  realtime.emit('private-supervisors', 'ModeratorStateChanged', { moderator_id: 4, state: 'away' });
  clock.advance(EVENT_REFRESH_MS - 1);
  await settle();
  assert.equal(stateReads().length, before + 1, 'the next re-read waits for the interval');
  clock.advance(1);
  await settle();
  assert.equal(stateReads().length, before + 2);
  clock.advance(10 * EVENT_REFRESH_MS);
  await settle();
  assert.equal(stateReads().length, before + 2, 'no event, no read (until the safety net)');
});

test('a lease change on a profile shown updates its holder and status', async () => {
  const { store, realtime } = setup();
  await store.initialize();
  realtime.emit('private-profile.5', 'ProfileLockStatusChanged', { profile_id: 5, locked: true, lock_type: 'manual', moderator_id: 8, expires_at: null });
  assert.equal(store.state.profileIndex.get(5).lock.moderator_id, 8);
  assert.equal(store.state.profileIndex.get(5).status, 'held');
  realtime.emit('private-profile.5', 'ProfileLockStatusChanged', { profile_id: 5, locked: false, lock_type: null, moderator_id: null, expires_at: null });
  assert.equal(store.state.profileIndex.get(5).lock, null);
  assert.equal(store.state.profileIndex.get(5).status, 'free');
});

test('paging stays within the matches and follows the channels of the profiles shown', async () => {
  const { store, stateReads, realtime } = setup();
  await store.initialize();
  await store.pageProfiles(1);
  assert.equal(new URL(stateReads().at(-1).path, 'http://x').searchParams.get('profiles_offset'), String(PAGE_SIZE));
  assert.equal(store.state.profiles[0].profile_id, PAGE_SIZE + 1);
  assert.ok(!realtime.channels.has('private-profile.1'), 'channels of the previous page are left');
  assert.ok(realtime.channels.has(`private-profile.${PAGE_SIZE + 1}`));
  await store.pageProfiles(1);
  assert.equal(store.state.profilesView.offset, 2 * PAGE_SIZE);
  const reads = stateReads().length;
  await store.pageProfiles(1);
  assert.equal(stateReads().length, reads, 'no page after the last one (130 profiles)');
  await store.pageModerators(-1);
  assert.equal(stateReads().length, reads, 'no page before the first one');
});

test('a search goes to the server and starts again from the first page', async () => {
  const { store, stateReads } = setup();
  await store.initialize();
  await store.pageModerators(1);
  await store.setModeratorsView({ q: 'moderator 11', states: ['offline', 'queued'] });
  const query = new URL(stateReads().at(-1).path, 'http://x').searchParams;
  assert.equal(query.get('moderators_q'), 'moderator 11');
  assert.equal(query.get('moderators_state'), 'offline,queued');
  assert.equal(query.get('moderators_offset'), '0');
  assert.deepEqual(store.state.moderators.map((m) => m.moderator_id), [11, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119]);
});

test('a page answered after the view changed is not shown', async () => {
  const world = directory();
  let holdFirst = null;
  const { store } = setup({
    answer: (method, path) => {
      if (!path.startsWith('/api/supervisor/state')) return path.endsWith('alerts') ? { alerts: [] } : { conflicts: [] };
      if (path.includes('moderators_q=slow') && !holdFirst) return new Promise((resolve) => (holdFirst = () => resolve(world.answer(path))));
      return world.answer(path);
    },
  });
  await store.initialize();
  const slow = store.setModeratorsView({ q: 'slow' });
  await settle();
  store.setModeratorsView({ q: 'Moderator 2' });
  holdFirst();
  await slow;
  await settle();
  assert.equal(store.state.moderatorsView.q, 'Moderator 2');
  assert.ok(store.state.moderators.length > 0 && store.state.moderators.every((m) => m.name.includes('Moderator 2')), 'the stale (empty) answer for "slow" was dropped');
});

test('alerts arrive once, newest first, and are marked fresh; conflicts are re-read', async () => {
  const { store, realtime, api, clock } = setup();
  await store.initialize();
  const conflictReads = () => api.calls.filter((call) => call.path === '/api/supervisor/conflicts').length;
  const alert = { alert_id: 4, kind: 'queue_stalled', severity: 'critical', data: { queue_length: 3, stalled_seconds: 60 } };
  realtime.emit('private-supervisors', 'AlertRaised', alert);
  realtime.emit('private-supervisors', 'AlertRaised', alert);
  realtime.emit('private-supervisors', 'AlertRaised', { ...alert, alert_id: 5 });
  assert.deepEqual(store.state.alerts.map((a) => a.alert_id), [5, 4]);
  assert.ok(store.state.fresh.has(4) && store.state.fresh.has(5));
  assert.ok(store.state.alerts[0].raised_at, 'an alert without a time gets the server time');
  const before = conflictReads();
  clock.advance(0);
  await settle();
  assert.equal(conflictReads(), before + 1, 'an alert may come with a conflict: one re-read of everything');
});

test('a reconnection and the safety-net interval read everything again', async () => {
  const { store, api, realtime, clock } = setup();
  await store.initialize();
  const alertReads = () => api.calls.filter((call) => call.path === '/api/supervisor/alerts').length;
  realtime.setState('connected');
  await settle();
  assert.equal(alertReads(), 1, 'the first connection is not a reconnection');
  realtime.setState('unavailable');
  realtime.setState('connected');
  await settle();
  assert.equal(alertReads(), 2);
  clock.advance(RESYNC_MS);
  await settle();
  assert.equal(alertReads(), 3);
});

test('one picker offers connected moderators and pins the chosen one', async () => {
  const { store, api } = setup();
  await store.initialize();
  await store.openPicker(12);
  const query = new URL(api.calls.at(-1).path, 'http://x').searchParams;
  assert.equal(query.get('moderators_state'), 'queued,working,paused,away');
  assert.equal(query.get('profiles_limit'), '0');
  assert.equal(store.state.picker.profileId, 12);
  await store.pinProfile(0);
  assert.ok(!api.calls.some((call) => call.method === 'POST'), 'nothing is sent without a moderator');
  assert.match(store.state.notices.at(-1).text, /Choose a moderator/);
  await store.pinProfile(7);
  const pin = api.calls.find((call) => call.method === 'POST');
  assert.equal(pin.path, '/api/supervisor/profiles/12/pin');
  assert.deepEqual(pin.body, { moderator_id: 7 });
  assert.equal(store.state.picker, null, 'the picker closes once pinned');
});

test('storage down: one notice, one retry; a refused token signs out', async () => {
  let down = true;
  const world = directory();
  const { store, api, clock, realtime } = setup({
    answer: (method, path) => {
      if (down) throw refusal(503, 'unavailable');
      if (path.startsWith('/api/supervisor/state')) return world.answer(path);
      if (method === 'POST') throw refusal(401, 'unauthorized');
      return path.endsWith('alerts') ? { alerts: [] } : { conflicts: [] };
    },
  });
  await store.initialize();
  await store.loadState();
  assert.equal(store.state.notices.filter((notice) => notice.key === 'storage').length, 1);
  down = false;
  const calls = api.calls.length;
  clock.advance(RETRY_AFTER_MS);
  await settle();
  assert.ok(api.calls.length > calls, 'read again after the retry delay');
  assert.equal(store.state.notices.filter((notice) => notice.key === 'storage').length, 0, 'the notice goes once storage is back');
  await store.runMonitor();
  assert.match(store.state.signedOut, /sign in again/);
  assert.ok(realtime.disconnected);
});

test('info notices go after a while; errors stay', async () => {
  const { store, clock } = setup();
  await store.initialize();
  await store.setPriority(3, 2);
  assert.match(store.state.notices.at(-1).text, /Priority of .* set to 2/);
  await store.setPriority(3, 1.5);
  assert.equal(store.state.notices.length, 2);
  clock.advance(8000);
  assert.deepEqual(store.state.notices.map((notice) => notice.level), ['error']);
});

test('webhook health and the failed deliveries are read with the rest; a retry posts and re-reads', async () => {
  const failed = { id: 'evt_7', sequence: 7, type: 'message.sent', timestamp: '2026-01-01T00:00:00.000Z', attempts: 10, last_status: 500, last_error: 'the receiver answered 500' };
  const world = directory();
  const { store, api } = setup({
    answer: (method, path) => {
      if (path.startsWith('/api/supervisor/state')) return world.answer(path);
      if (path === '/api/supervisor/webhooks/health') return { enabled: true, pending: 3, failed: 1, delivered_total: 40, oldest_pending_seconds: 12 };
      if (path.startsWith('/api/supervisor/webhooks/deliveries?')) return { status: 'failed', webhooks_enabled: true, deliveries: [failed] };
      if (path.endsWith('/retry')) return { id: 'evt_7', sequence: 7, status: 'pending' };
      return path.endsWith('alerts') ? { alerts: [] } : { conflicts: [] };
    },
  });
  await store.initialize();
  assert.equal(store.state.webhooks.pending, 3);
  assert.equal(store.state.webhooks.failed, 1);
  assert.deepEqual(store.state.failedDeliveries.map((d) => d.id), ['evt_7']);
  const listed = api.calls.find((call) => call.path.startsWith('/api/supervisor/webhooks/deliveries?'));
  assert.equal(new URL(listed.path, 'http://x').searchParams.get('status'), 'failed');
  await store.retryDelivery('evt_7');
  await settle();
  assert.ok(api.calls.some((call) => call.method === 'POST' && call.path === '/api/supervisor/webhooks/deliveries/evt_7/retry'));
  assert.ok(store.state.notices.some((notice) => notice.text.includes('evt_7')), 'the supervisor is told');
});

/** A cluster answer as `GET /api/supervisor/cluster` gives it: node-b serves, node-a writes. */
function clusterAnswer(change = {}) {
  return {
    mode: 'cluster',
    node: { name: 'node-b', advertise_url: 'http://b:8080', role: 'standby', epoch: null },
    writer: { name: 'node-a', advertise_url: 'http://a:8080', epoch: 7, acquired_at: '2026-01-01T00:00:00.000Z', renewed_at: '2026-01-01T00:01:58.000Z' },
    epoch: 7,
    lease_seconds: 5,
    lease_expires_at: '2026-01-01T00:02:03.000Z',
    // The browser's clock is years away from this: every age below comes from this one.
    database_time: '2026-01-01T00:02:00.000Z',
    nodes: [
      { name: 'node-a', advertise_url: 'http://a:8080', role: 'writer', last_seen_at: '2026-01-01T00:01:59.500Z' },
      { name: 'node-b', advertise_url: 'http://b:8080', role: 'standby', last_seen_at: '2026-01-01T00:01:30.000Z' },
    ],
    epochs: [5, 6, 7].map((epoch) => ({
      epoch, holder: epoch === 6 ? 'node-b' : 'node-a', acquired_at: '2026-01-01T00:00:00.000Z',
      released_at: epoch === 5 ? '2026-01-01T00:00:10.000Z' : null, commits: epoch * 10, last_commit_at: null,
    })),
    ...change,
  };
}

test('the cluster view: this node, the writer and its lease, the nodes\' ages on the database clock', () => {
  const view = clusterView(clusterAnswer());
  assert.equal(view.mode, 'cluster');
  assert.deepEqual(view.node, { name: 'node-b', advertiseUrl: 'http://b:8080', role: 'standby', epoch: null });
  assert.equal(view.writer.name, 'node-a');
  assert.equal(view.writer.epoch, 7);
  assert.equal(view.writer.isThisNode, false);
  assert.equal(view.writer.leaseLeftSeconds, 3);
  assert.equal(view.writer.renewedAgoSeconds, 2);
  assert.deepEqual(view.nodes.map((n) => [n.name, n.role, n.lastSeenAgoSeconds, n.isThisNode]), [['node-a', 'writer', 0.5, false], ['node-b', 'standby', 30, true]]);
  assert.deepEqual(view.epochs.map((e) => [e.epoch, e.holder, e.commits, e.released, e.current]), [[7, 'node-a', 70, false, true], [6, 'node-b', 60, false, false], [5, 'node-a', 50, true, false]]);
  assert.equal(view.fanout, null, 'no fanout field: nothing to say');
  const lapsed = clusterView(clusterAnswer({ lease_expires_at: '2026-01-01T00:01:58.000Z' }));
  assert.equal(lapsed.writer.leaseLeftSeconds, -2, 'a lease past its expiry counts negative');
});

test('the cluster view without a writer, on one node, and with many epochs', () => {
  const orphan = clusterView(clusterAnswer({ writer: null }));
  assert.equal(orphan.writer, null);
  assert.ok(orphan.epochs.every((e) => !e.current), 'no epoch is held without a writer');
  assert.deepEqual(clusterView({ mode: 'single', node: { role: 'writer' }, writer: null, epoch: null, lease_expires_at: null, nodes: [], epochs: [] }), { mode: 'single', fanout: null });
  const many = clusterView(clusterAnswer({ epochs: Array.from({ length: 10 }, (_, i) => ({ epoch: i + 1, holder: 'node-a', commits: 0, released_at: null })) }));
  assert.equal(many.epochs.length, CLUSTER_EPOCHS_SHOWN);
  assert.equal(many.epochs[0].epoch, 10, 'newest first');
  const mine = clusterView(clusterAnswer({ node: { name: 'node-a', role: 'writer', epoch: 7 } }));
  assert.equal(mine.writer.isThisNode, true);
});

test('the Redis fan-out is said only when the server says it', () => {
  assert.equal(fanoutStatus(clusterAnswer()), null);
  assert.equal(fanoutStatus(clusterAnswer({ fanout: { connected: true, prefix: 'switchboard:' } })), 'connected');
  assert.equal(fanoutStatus(clusterAnswer({ fanout: { connected: false } })), 'disconnected');
  assert.equal(fanoutStatus(clusterAnswer({ fanout: null })), 'not configured');
  assert.equal(fanoutStatus(clusterAnswer({ fanout: { configured: false, connected: false } })), 'not configured');
  assert.equal(clusterView({ mode: 'single', fanout: { connected: true } }).fanout, 'connected');
});

test('the cluster is read at start, every few seconds and after a reconnection; a failure stays in its panel', async () => {
  let down = false;
  const world = directory();
  const { store, api, clock, realtime } = setup({
    answer: (method, path) => {
      if (path === '/api/supervisor/cluster') {
        if (down) throw refusal(503, 'unavailable');
        return clusterAnswer();
      }
      if (path.startsWith('/api/supervisor/state')) return world.answer(path);
      return path.endsWith('alerts') ? { alerts: [] } : { conflicts: [] };
    },
  });
  const clusterReads = () => api.calls.filter((call) => call.path === '/api/supervisor/cluster').length;
  await store.initialize();
  assert.equal(clusterReads(), 1);
  assert.equal(store.state.cluster.writer.name, 'node-a');
  assert.equal(store.state.clusterError, null);
  clock.advance(CLUSTER_REFRESH_MS - 1);
  await settle();
  assert.equal(clusterReads(), 1, 'not before the interval');
  clock.advance(1);
  await settle();
  assert.equal(clusterReads(), 2);
  realtime.setState('connected');
  await settle();
  assert.equal(clusterReads(), 2, 'the first connection is not a reconnection');
  realtime.setState('unavailable');
  realtime.setState('connected');
  await settle();
  assert.equal(clusterReads(), 3, 'read again on reconnection');

  down = true;
  const stateBefore = store.state.moderators.length;
  clock.advance(CLUSTER_REFRESH_MS);
  await settle();
  assert.match(store.state.clusterError, /reading the cluster: storage unavailable/);
  assert.equal(store.state.cluster.writer.name, 'node-a', 'the last good view is kept beside the error');
  assert.ok(!store.state.notices.some((notice) => /cluster/.test(notice.text)), 'the failure stays in the panel, not the notices');
  assert.equal(store.state.moderators.length, stateBefore, 'the rest of the dashboard is untouched');
  assert.equal(store.state.signedOut, null);
  down = false;
  clock.advance(CLUSTER_REFRESH_MS);
  await settle();
  assert.equal(store.state.clusterError, null, 'the error goes with the next good read');
});

test('a refused token on the cluster read signs out; signing out stops the cluster reads', async () => {
  const world = directory();
  let refuse = false;
  const { store, api, clock } = setup({
    answer: (method, path) => {
      if (path === '/api/supervisor/cluster') {
        if (refuse) throw refusal(401, 'unauthorized');
        return { mode: 'single' };
      }
      if (path.startsWith('/api/supervisor/state')) return world.answer(path);
      return path.endsWith('alerts') ? { alerts: [] } : { conflicts: [] };
    },
  });
  await store.initialize();
  assert.equal(store.state.cluster.mode, 'single');
  refuse = true;
  clock.advance(CLUSTER_REFRESH_MS);
  await settle();
  assert.match(store.state.signedOut, /sign in again/);
  const reads = api.calls.length;
  clock.advance(CLUSTER_REFRESH_MS * 3);
  await settle();
  assert.equal(api.calls.filter((call) => call.path === '/api/supervisor/cluster').length, api.calls.slice(0, reads).filter((call) => call.path === '/api/supervisor/cluster').length, 'no read after signing out');
});

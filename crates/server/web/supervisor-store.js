// The supervisor dashboard's client-side store: the state, one handler per realtime event,
// and the actions (run the monitor, rebalance, set a priority, free a profile, pin one). It
// knows the HTTP API and the events, never the DOM: the view (`supervisor.js`) renders from
// `store.state` when `subscribe` calls it. The api, the realtime connection, the clock and
// the timers are handed in, so that the store runs the same under `node --test`.
//
// At 10,000 moderators and 100,000 profiles the dashboard never holds the directory: it
// reads one page of each table (`GET /api/supervisor/state?moderators_offset=…`, filtered
// and searched on the server) with counts and totals, keeps the rows in Maps by id, and
// applies events to them as they come: `ModeratorStateChanged` and `AlertRaised` on
// `private-supervisors`, `ProfileLockStatusChanged` on the channels of the profiles shown.
// An event changes its row at once, then one re-read of the pages follows, throttled, so
// that counts and figures end up exactly as the server sees them. A slow full re-read
// (`RESYNC_MS`) is the safety net for anything no event announces; a reconnection re-reads
// at once, since events sent while offline are not replayed.
//
// The cluster panel reads `GET /api/supervisor/cluster` on its own, every
// `CLUSTER_REFRESH_MS` and after a reconnection; its failure is the panel's error
// (`state.clusterError`), never the rest of the dashboard's. `clusterView` turns the answer
// into the rows the panel shows, with every age taken on the database's clock
// (`database_time`), never the browser's.

import { ApiError, describeError } from './api.js';
import { createChanges, createNotices, endSession } from './store.js';
import { followChannels } from './realtime.js';

/** Rows per page of each table. */
export const PAGE_SIZE = 50;
/** The safety-net re-read of everything shown. */
export const RESYNC_MS = 30_000;
/** After an event, the pages are re-read at most this often. */
export const EVENT_REFRESH_MS = 1000;
/** After `unavailable` or a network failure, the state is read again after this long. */
export const RETRY_AFTER_MS = 3000;
/** Profile channels followed at most (the Pusher server allows 100 channels per socket). */
export const PROFILE_CHANNELS_MAX = 60;
/** Failed webhook deliveries listed (oldest first); the health shows how many there are. */
export const FAILED_DELIVERIES_SHOWN = 20;
/** Alerts kept in the feed. */
export const ALERTS_MAX = 100;
/** Moderators offered by the pin picker. */
export const PICKER_SIZE = 20;
/** The cluster view is read again this often. */
export const CLUSTER_REFRESH_MS = 5000;
/** Writer epochs the cluster panel lists (newest first; the server sends up to 10). */
export const CLUSTER_EPOCHS_SHOWN = 5;
/** Moderator states and profile statuses, in the order the dashboard lists them. */
export const MODERATOR_STATES = ['working', 'queued', 'paused', 'away', 'offline'];
export const PROFILE_STATUSES = ['held', 'orphan', 'free', 'inactive'];

/** Events on `private-supervisors`. */
export const SUPERVISOR_EVENTS = ['AlertRaised', 'ModeratorStateChanged'];

const SUPERVISORS_CHANNEL = 'private-supervisors';

/** The query string of one state read. */
export function stateQuery({ moderators, profiles }) {
  const query = new URLSearchParams();
  query.set('moderators_offset', String(moderators.offset));
  query.set('moderators_limit', String(moderators.limit));
  if (moderators.q) query.set('moderators_q', moderators.q);
  if (moderators.states.length) query.set('moderators_state', moderators.states.join(','));
  query.set('profiles_offset', String(profiles.offset));
  query.set('profiles_limit', String(profiles.limit));
  if (profiles.q) query.set('profiles_q', profiles.q);
  if (profiles.statuses.length) query.set('profiles_status', profiles.statuses.join(','));
  return query.toString();
}

/** The status the server gives a profile row, from its fields. */
export function profileStatus(profile) {
  if (!profile.active) return 'inactive';
  if (profile.lock) return 'held';
  return profile.waiting_conversations > 0 ? 'orphan' : 'free';
}

/**
 * Seconds from `fromIso` to `toIso` (negative when `toIso` is earlier); null when either is
 * missing or unreadable. The cluster panel measures on the database's clock with it.
 */
export function secondsBetween(fromIso, toIso) {
  if (!fromIso || !toIso) return null;
  const from = Date.parse(fromIso);
  const to = Date.parse(toIso);
  if (Number.isNaN(from) || Number.isNaN(to)) return null;
  return (to - from) / 1000;
}

/**
 * The Redis fan-out's words, from the optional `fanout` of the cluster answer: null when the
 * server does not say (the panel shows nothing), else `connected`, `disconnected` or `not
 * configured` (`fanout: null`, or an object that says `configured: false`).
 */
export function fanoutStatus(answer) {
  if (!answer || !('fanout' in answer) || answer.fanout === undefined) return null;
  const fanout = answer.fanout;
  if (fanout === null || typeof fanout !== 'object' || fanout.configured === false || fanout.enabled === false) return 'not configured';
  return fanout.connected ? 'connected' : 'disconnected';
}

/**
 * `GET /api/supervisor/cluster` as the panel's rows. `single` (one process, SQLite) carries
 * no lease; `cluster` names this node (the one serving the page), the live writer or null,
 * the nodes seen with their age, and the latest epochs. Every age and the lease's remaining
 * time are taken against the answer's `database_time`, the clock the lease is judged by.
 */
export function clusterView(answer) {
  const fanout = fanoutStatus(answer);
  if (!answer || answer.mode !== 'cluster') return { mode: 'single', fanout };
  const at = answer.database_time || null;
  const node = answer.node || {};
  const writer = answer.writer
    ? {
        name: answer.writer.name,
        advertiseUrl: answer.writer.advertise_url || null,
        epoch: answer.writer.epoch,
        isThisNode: answer.writer.name === node.name,
        leaseLeftSeconds: secondsBetween(at, answer.lease_expires_at),
        renewedAgoSeconds: secondsBetween(answer.writer.renewed_at, at),
      }
    : null;
  const nodes = (answer.nodes || []).map((row) => ({
    name: row.name,
    advertiseUrl: row.advertise_url || null,
    role: row.role,
    isThisNode: row.name === node.name,
    lastSeenAgoSeconds: secondsBetween(row.last_seen_at, at),
  }));
  const epochs = (answer.epochs || [])
    .slice()
    .sort((a, b) => b.epoch - a.epoch)
    .slice(0, CLUSTER_EPOCHS_SHOWN)
    .map((row) => ({
      epoch: row.epoch,
      holder: row.holder,
      commits: row.commits,
      released: Boolean(row.released_at),
      releasedAt: row.released_at || null,
      acquiredAt: row.acquired_at || null,
      current: Boolean(writer) && row.epoch === writer.epoch && !row.released_at,
    }));
  return {
    mode: 'cluster',
    fanout,
    databaseTime: at,
    leaseSeconds: answer.lease_seconds ?? null,
    epoch: answer.epoch ?? null,
    node: { name: node.name, advertiseUrl: node.advertise_url || null, role: node.role, epoch: node.epoch ?? null },
    writer,
    nodes,
    epochs,
  };
}

/**
 * @param api       `createApi(token)` from api.js
 * @param realtime  `createRealtime(config, token)` from realtime.js (or a stand-in in tests)
 * @param now       the server's time in ms
 * @param timers    `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval`
 */
export function createSupervisorStore({ api, realtime, now = () => Date.now(), timers = globalThis }) {
  const state = {
    connection: realtime.state(),
    wasConnected: false,
    /** What the tables show: page, search and filter of each. */
    moderatorsView: { offset: 0, limit: PAGE_SIZE, q: '', states: [] },
    profilesView: { offset: 0, limit: PAGE_SIZE, q: '', statuses: [] },
    /** The page's rows, in id order, and the number of rows matching the view. */
    moderators: [],
    moderatorsTotal: 0,
    profiles: [],
    profilesTotal: 0,
    /** Rows by id: what events update. */
    moderatorIndex: new Map(),
    profileIndex: new Map(),
    /** Directory-wide figures: `{moderators: {state: n}, profiles: {status: n}}` and the load totals. */
    counts: null,
    totals: null,
    queue: [],
    queueLength: 0,
    clientLocks: [],
    clientLocksTotal: 0,
    freeProfiles: 0,
    alerts: [],
    /** Alert ids that arrived by event since the page opened (shown highlighted). */
    fresh: new Set(),
    conflicts: [],
    /** Webhook health (`GET /api/supervisor/webhooks/health`) and the failed deliveries. */
    webhooks: null,
    failedDeliveries: [],
    notices: [],
    /** The pin picker: the profile being pinned, the search, the moderators offered. */
    picker: null,
    loadedAt: null,
    /** Events applied since the page opened, by name (the view shows the sum; tests read it). */
    applied: { AlertRaised: 0, ModeratorStateChanged: 0, ProfileLockStatusChanged: 0 },
    /** The cluster panel: `clusterView(answer)` of the last good read, when it was read, and
     * the last read's failure (a sentence) or null. */
    cluster: null,
    clusterReadAt: null,
    clusterError: null,
    signedOut: null,
  };
  const profileChannels = new Set();
  let reading = null;
  /** A read asked for while one ran: `{everything}`, done right after it. */
  let again = null;
  let eventTimer = null;
  /** The throttled read also re-reads alerts and conflicts (an alert came). */
  let eventReadEverything = false;
  let lastEventRead = -Infinity;
  let retryTimer = null;
  let resyncTimer = null;
  let pickerSequence = 0;
  let clusterTimer = null;
  /** The cluster read in flight: reads of it never overlap. */
  let clusterReading = null;

  const { changed, subscribe } = createChanges(state);

  const { notify, dismiss: dismissNotice, clear: clearNotice } = createNotices(state, changed, { timers });

  function failed(error, doing) {
    if (error instanceof ApiError && error.code === 'unauthorized') {
      signOut(describeError(error));
      return;
    }
    const storage = error instanceof ApiError && (error.code === 'unavailable' || error.code === 'network');
    notify('error', describeError(error, { doing }), storage ? 'storage' : null);
    if (storage && !retryTimer) {
      retryTimer = timers.setTimeout(() => {
        retryTimer = null;
        reload();
      }, RETRY_AFTER_MS);
    }
  }

  // ---- reads -------------------------------------------------------------------------

  function applyState(value) {
    state.moderators = value.moderators.rows;
    state.moderatorsTotal = value.moderators.total;
    state.profiles = value.profiles.rows;
    state.profilesTotal = value.profiles.total;
    state.moderatorIndex = new Map(state.moderators.map((row) => [row.moderator_id, row]));
    state.profileIndex = new Map(state.profiles.map((row) => [row.profile_id, row]));
    state.counts = value.counts;
    state.totals = value.totals;
    state.queue = value.queue;
    state.queueLength = value.queue_length;
    state.clientLocks = value.client_locks;
    state.clientLocksTotal = value.client_locks_total;
    state.freeProfiles = value.free_profiles;
    followProfileChannels();
  }

  /**
   * Reads the two pages (and, with `everything`, alerts and conflicts). Reads never overlap:
   * asked again while one runs, one more follows it.
   */
  async function loadState(everything = false) {
    if (reading) {
      again = { everything: Boolean(again && again.everything) || everything };
      return reading;
    }
    reading = (async () => {
      try {
        const query = stateQuery({ moderators: state.moderatorsView, profiles: state.profilesView });
        const asked = JSON.stringify([state.moderatorsView, state.profilesView]);
        const reads = [api.get(`/api/supervisor/state?${query}`)];
        if (everything) {
          reads.push(
            api.get('/api/supervisor/alerts'),
            api.get('/api/supervisor/conflicts'),
            api.get('/api/supervisor/webhooks/health'),
            api.get(`/api/supervisor/webhooks/deliveries?status=failed&limit=${FAILED_DELIVERIES_SHOWN}`),
          );
        }
        const [value, alerts, conflicts, webhooks, failed] = await Promise.all(reads);
        // A page answered after the view changed is stale: the read that follows replaces it.
        if (asked === JSON.stringify([state.moderatorsView, state.profilesView])) applyState(value);
        else again = again || { everything: false };
        if (alerts) state.alerts = alerts.alerts.slice(0, ALERTS_MAX);
        if (conflicts) state.conflicts = conflicts.conflicts.slice().reverse();
        if (webhooks) state.webhooks = webhooks;
        if (failed) state.failedDeliveries = failed.deliveries || [];
        state.loadedAt = now();
        clearNotice('storage');
      } catch (error) {
        failed(error, 'reading the state');
      } finally {
        reading = null;
        changed();
      }
      if (again) {
        const next = again;
        again = null;
        await loadState(next.everything);
      }
    })();
    return reading;
  }

  /** Everything shown, from the API: at start, after a reconnection, as the safety net. */
  function reload() {
    return loadState(true);
  }

  /**
   * Reads the cluster view for its panel. A failure stays in the panel (`clusterError`, the
   * last good view kept beside it) and is retried by the next tick; only a refused token
   * ends the session, as everywhere.
   */
  function loadCluster() {
    if (clusterReading) return clusterReading;
    clusterReading = (async () => {
      try {
        state.cluster = clusterView(await api.get('/api/supervisor/cluster'));
        state.clusterReadAt = now();
        state.clusterError = null;
      } catch (error) {
        if (error instanceof ApiError && error.code === 'unauthorized') {
          signOut(describeError(error));
          return;
        }
        state.clusterError = describeError(error, { doing: 'reading the cluster' });
      } finally {
        clusterReading = null;
        changed();
      }
    })();
    return clusterReading;
  }

  /**
   * One re-read of the pages after events, at most every EVENT_REFRESH_MS (the first event
   * after a quiet spell is read at once); `everything` adds alerts and conflicts.
   */
  function refreshSoon(everything = false) {
    eventReadEverything = eventReadEverything || everything;
    if (eventTimer) return;
    const wait = Math.max(0, lastEventRead + EVENT_REFRESH_MS - now());
    eventTimer = timers.setTimeout(() => {
      eventTimer = null;
      lastEventRead = now();
      const withEverything = eventReadEverything;
      eventReadEverything = false;
      loadState(withEverything);
    }, wait);
  }

  // ---- realtime ----------------------------------------------------------------------

  /** Follows `private-profile.{id}` for the profiles shown (at most PROFILE_CHANNELS_MAX). */
  function followProfileChannels() {
    const shown = new Set(state.profiles.slice(0, PROFILE_CHANNELS_MAX).map((row) => `private-profile.${row.profile_id}`));
    followChannels(realtime, profileChannels, shown, { ProfileLockStatusChanged: handleProfileLockStatus });
  }

  function setupSupervisorWebSocketListeners() {
    realtime.onState((previous, current) => {
      state.connection = current;
      if (current === 'connected') {
        if (state.wasConnected) {
          reload();
          loadCluster();
        }
        state.wasConnected = true;
      }
      changed();
    });
    realtime.subscribe(SUPERVISORS_CHANNEL, { AlertRaised: handleAlertRaised, ModeratorStateChanged: handleModeratorStateChanged });
  }

  function handleAlertRaised(alert) {
    state.applied.AlertRaised += 1;
    if (!state.alerts.some((known) => known.alert_id === alert.alert_id)) {
      state.alerts = [{ ...alert, raised_at: alert.raised_at || new Date(now()).toISOString() }, ...state.alerts].slice(0, ALERTS_MAX);
      state.fresh.add(alert.alert_id);
    }
    changed();
    // Alerts come with changes no other event announces (a conflict, an orphan profile).
    refreshSoon(true);
  }

  /** The row changes at once (if shown); counts follow with the next read. */
  function handleModeratorStateChanged(event) {
    state.applied.ModeratorStateChanged += 1;
    const row = state.moderatorIndex.get(event.moderator_id);
    if (row && row.state !== event.state) {
      row.state = event.state;
      if (event.state !== 'working') row.profiles = [];
      if (event.state !== 'queued') row.queue = null;
      changed();
    }
    refreshSoon();
  }

  function handleProfileLockStatus(event) {
    state.applied.ProfileLockStatusChanged += 1;
    const row = state.profileIndex.get(event.profile_id);
    if (row) {
      row.lock = event.locked
        ? { ...(row.lock || {}), type: 'profile', profile_id: event.profile_id, moderator_id: event.moderator_id, lock_type: event.lock_type, expires_at: event.expires_at }
        : null;
      row.status = profileStatus(row);
      changed();
    }
    refreshSoon();
  }

  // ---- the view's choices ------------------------------------------------------------

  function setModeratorsView(change) {
    state.moderatorsView = { ...state.moderatorsView, offset: 0, ...change };
    changed();
    return loadState();
  }

  function setProfilesView(change) {
    state.profilesView = { ...state.profilesView, offset: 0, ...change };
    changed();
    return loadState();
  }

  /** `direction` -1 or +1: the previous or next page (kept within the matches). */
  function pageModerators(direction) {
    const { offset, limit } = state.moderatorsView;
    const next = offset + direction * limit;
    if (next < 0 || next >= Math.max(state.moderatorsTotal, 1)) return Promise.resolve();
    return setModeratorsView({ offset: next });
  }

  function pageProfiles(direction) {
    const { offset, limit } = state.profilesView;
    const next = offset + direction * limit;
    if (next < 0 || next >= Math.max(state.profilesTotal, 1)) return Promise.resolve();
    return setProfilesView({ offset: next });
  }

  // ---- actions -----------------------------------------------------------------------

  async function act(doing, action, done) {
    try {
      const value = await action();
      if (done) notify('info', done(value));
      return value;
    } catch (error) {
      failed(error, doing);
      return undefined;
    } finally {
      loadState(true);
    }
  }

  function moderatorName(id) {
    const row = state.moderatorIndex.get(id) || (state.picker && state.picker.candidates.find((m) => m.moderator_id === id));
    return row && row.name ? `${row.name} (#${id})` : `Moderator ${id}`;
  }

  function profileName(id) {
    const row = state.profileIndex.get(id);
    return row && row.name ? `${row.name} (#${id})` : `Profile ${id}`;
  }

  function runMonitor() {
    return act('running the monitor', () => api.post('/api/supervisor/monitor/run'), describeMonitor);
  }

  function rebalance() {
    return act('rebalancing', () => api.post('/api/supervisor/rebalance'), (value) =>
      `Rebalance: ${value.moves.length} move${value.moves.length === 1 ? '' : 's'}${value.moves.map((m) => ` · ${profileName(m.profile_id)} ${m.from_moderator_id}→${m.to_moderator_id}`).join('')}.`);
  }

  function setPriority(moderatorId, priority) {
    if (!Number.isInteger(priority)) {
      notify('error', `The priority of ${moderatorName(moderatorId)} must be a whole number.`);
      return Promise.resolve(undefined);
    }
    return act(`setting the priority of moderator ${moderatorId}`, () => api.put(`/api/supervisor/moderators/${moderatorId}/priority`, { priority }), () => `Priority of ${moderatorName(moderatorId)} set to ${priority}.`);
  }

  function freeProfile(profileId) {
    return act(`freeing profile ${profileId}`, () => api.post(`/api/supervisor/profiles/${profileId}/unlock`), () => `${profileName(profileId)} freed.`);
  }

  /** Opens the one moderator picker for `profileId`, offering connected moderators. */
  function openPicker(profileId) {
    state.picker = { profileId, q: '', candidates: [], total: 0, loading: true };
    changed();
    return searchPicker('');
  }

  /** Offers the first PICKER_SIZE connected moderators matching `q` (an id or part of a name). */
  async function searchPicker(q) {
    if (!state.picker) return;
    const asked = ++pickerSequence;
    state.picker = { ...state.picker, q, loading: true };
    changed();
    const query = new URLSearchParams({ moderators_limit: String(PICKER_SIZE), moderators_state: 'queued,working,paused,away', profiles_limit: '0' });
    if (q.trim()) query.set('moderators_q', q.trim());
    try {
      const value = await api.get(`/api/supervisor/state?${query}`);
      if (state.picker && asked === pickerSequence) {
        state.picker = { ...state.picker, candidates: value.moderators.rows, total: value.moderators.total, loading: false };
      }
    } catch (error) {
      if (state.picker) state.picker = { ...state.picker, loading: false };
      failed(error, 'searching moderators');
    }
    changed();
  }

  function closePicker() {
    state.picker = null;
    changed();
  }

  async function pinProfile(moderatorId) {
    const picker = state.picker;
    if (!picker) return undefined;
    if (!moderatorId) {
      notify('error', `Choose a moderator to pin ${profileName(picker.profileId)} to.`);
      return undefined;
    }
    const name = moderatorName(moderatorId);
    const lease = await act(`pinning profile ${picker.profileId}`, () => api.post(`/api/supervisor/profiles/${picker.profileId}/pin`, { moderator_id: moderatorId }), () => `${profileName(picker.profileId)} pinned to ${name}.`);
    if (lease) closePicker();
    return lease;
  }

  /** Delivers a failed webhook again (with the whole retry schedule), then re-reads. */
  function retryDelivery(id) {
    return act(`retrying webhook ${id}`, () => api.post(`/api/supervisor/webhooks/deliveries/${encodeURIComponent(id)}/retry`), () => `Webhook ${id} will be delivered again.`);
  }

  async function initialize() {
    setupSupervisorWebSocketListeners();
    resyncTimer = timers.setInterval(reload, RESYNC_MS);
    clusterTimer = timers.setInterval(loadCluster, CLUSTER_REFRESH_MS);
    await Promise.all([reload(), loadCluster()]);
  }

  function signOut(reason) {
    timers.clearInterval(resyncTimer);
    timers.clearInterval(clusterTimer);
    timers.clearTimeout(eventTimer);
    timers.clearTimeout(retryTimer);
    endSession(state, changed, realtime, reason);
  }

  return {
    state,
    subscribe,
    initialize,
    reload,
    loadState,
    loadCluster,
    handleAlertRaised,
    handleModeratorStateChanged,
    handleProfileLockStatus,
    setModeratorsView,
    setProfilesView,
    pageModerators,
    pageProfiles,
    runMonitor,
    rebalance,
    setPriority,
    freeProfile,
    openPicker,
    searchPicker,
    closePicker,
    pinProfile,
    retryDelivery,
    moderatorName,
    profileName,
    notify,
    dismissNotice,
    signOut,
  };
}

/** What the monitor did, for a person. */
export function describeMonitor(report) {
  const parts = [];
  if (report.set_away.length) parts.push(`set away: ${report.set_away.join(', ')}`);
  if (report.disconnected.length) parts.push(`disconnected: ${report.disconnected.join(', ')}`);
  if (report.assignments) parts.push(`${report.assignments} assignment(s)`);
  if (report.moves.length) parts.push(`${report.moves.length} move(s)`);
  if (report.expired_leases || report.expired_client_locks) parts.push(`${report.expired_leases} lease(s) and ${report.expired_client_locks} client lock(s) expired`);
  if (report.orphan_profiles.length) parts.push(`orphans: ${report.orphan_profiles.join(', ')}`);
  const repairs = Array.isArray(report.repairs) ? report.repairs.length : Number(report.repairs) || 0;
  if (repairs) parts.push(`${repairs} repair(s)`);
  if (report.alerts) parts.push(`${report.alerts} alert(s)`);
  return `Monitor ran: ${parts.length ? parts.join('; ') : 'nothing to do'}.`;
}

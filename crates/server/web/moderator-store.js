// The moderator console's client-side store: the state, one handler per realtime event, and
// the actions of the seed's `moderatorStore.js` (initialize, setupModeratorWebSocketListeners,
// loadAssignedProfiles, handleQueuePosition, handleProfileLockStatus, requestProfileUnlock,
// showQueueStatus, handleConflictResolution, …). It knows the HTTP API and the events, never
// the DOM: the view (`moderator.js`) renders from `store.state` when `subscribe` calls it.
//
// Rule of thumb: an event updates what it says at once (so the page moves without waiting),
// then the store reloads the affected part from the API (so the page ends up exactly as the
// server sees it). After a reconnection everything is reloaded: events sent while offline
// are not replayed by the protocol.

import { ApiError, describeError } from './api.js';
import { createChanges, createNotices, endSession } from './store.js';
import { followChannels } from './realtime.js';

/** Events on `private-moderator.{id}`. */
export const MODERATOR_EVENTS = [
  'ModeratorQueuePositionChanged',
  'ProfileAssigned',
  'ProfileUnassigned',
  'ForcedReassignment',
  'ConversationAssigned',
  'ConversationReleased',
  'ClientLockStatusChanged',
  'ConflictResolved',
];

/** Typing is sent at most once per this many milliseconds per conversation. */
export const TYPING_INTERVAL_MS = 2000;
/** After `unavailable` or a network failure, the state is read again after this long. */
export const RETRY_AFTER_MS = 3000;

/** Why a profile was taken, for a person. */
export const REASONS = {
  inactivity: 'you had clients waiting and no activity for longer than the inactivity threshold',
  rebalance: 'load balancing moved it to a less busy moderator',
  supervisor: 'a supervisor took it back',
  lease_expired: 'its lease expired without being renewed',
  conflict: 'a moderator with precedence connected at the same moment',
  released: 'you gave it back',
  disconnected: 'you disconnected',
  presence_lost: 'your console lost its connection for longer than the presence timeout',
  deactivated: 'the platform deactivated the profile',
  repaired: 'the integrity check repaired an inconsistent assignment',
};

const emptyLocks = () => ({ profile_locks: [], client_locks: [], blocked_clients: [] });

/**
 * @param api        `createApi(token)` from api.js
 * @param realtime   `createRealtime(config, token)` from realtime.js (or a stand-in in tests)
 * @param moderatorId  the token's `sub`
 * @param now        the server's time in ms (the page corrects the local clock)
 * @param storage    where forced-reassignment alerts are kept for the tab (sessionStorage)
 * @param timers     `setTimeout`/`clearTimeout` (a manual clock in tests)
 */
export function createModeratorStore({ api, realtime, moderatorId, now = () => Date.now(), storage = null, timers = globalThis }) {
  const alertsKey = `switchboard.moderator.${moderatorId}.alerts`;
  const keptAlerts = () => {
    try {
      return JSON.parse((storage && storage.getItem(alertsKey)) || '[]');
    } catch {
      return [];
    }
  };
  const state = {
    moderatorId,
    /** pusher-js connection state. */
    connection: realtime.state(),
    /** The realtime connection was live at least once (a later `connected` is a reconnection). */
    wasConnected: false,
    /** API.md's status: state, profiles, load, queue. */
    status: null,
    /** Held profiles, each with `conversations` (waiting ones first, oldest first) and `lock`. */
    profiles: [],
    /** `GET /moderateur/queue/status`. */
    queue: null,
    locks: emptyLocks(),
    conflicts: [],
    /** Forced reassignments not yet dismissed (kept for the tab: they survive a reload). */
    alerts: keptAlerts(),
    /** Messages for the person: {id, level: 'error'|'info', text, key}. */
    notices: [],
    /** The open conversation: {client_id, profile_id, messages, lock}. */
    conversation: null,
    /** A reload is running. */
    loading: false,
    /** Last full reload, ms since the epoch (for "updated at"). */
    loadedAt: null,
    /** Why the session ended (token refused): the view goes back to sign-in. */
    signedOut: null,
  };
  const lastTyping = new Map();
  const profileChannels = new Set();
  /** Names and waiting counts of profiles seen, kept after they leave (for the alerts). */
  const knownProfiles = new Map();
  let sequence = state.alerts.reduce((max, alert) => Math.max(max, alert.id), 0);

  function keepAlerts() {
    if (storage) storage.setItem(alertsKey, JSON.stringify(state.alerts));
  }
  let retryTimer = null;

  const { changed, subscribe } = createChanges(state);

  const notices = createNotices(state, changed, { nextId: () => ++sequence, timers });
  const { notify, dismiss: dismissNotice, clear: clearNotice } = notices;

  /** Turns a failure into a notice (and the reactions it calls for). */
  async function failed(error, doing, context = {}) {
    if (!(error instanceof ApiError)) {
      notify('error', describeError(error, { doing }));
      return;
    }
    if (error.code === 'unauthorized') {
      signOut(describeError(error));
      return;
    }
    if (error.code === 'client_locked' && context.client_id) {
      await loadLocks().catch(() => {});
      context.holder = state.locks.blocked_clients.find((blocked) => blocked.client_id === context.client_id);
    }
    if (error.code === 'not_profile_holder') loadAssignedProfiles().catch(() => {});
    const text = describeError(error, { doing, holder: context.holder });
    if (error.code === 'unavailable' || error.code === 'network') {
      notify('error', text, 'storage');
      scheduleRetry();
    } else {
      notify('error', text, context.key || null);
    }
  }

  function scheduleRetry() {
    if (retryTimer) return;
    retryTimer = timers.setTimeout(() => {
      retryTimer = null;
      reload();
    }, RETRY_AFTER_MS);
  }

  /** Runs an action; a refusal becomes a notice. Answers the action's value or undefined. */
  async function attempt(doing, action, context = {}) {
    try {
      return await action();
    } catch (error) {
      await failed(error, doing, context);
      return undefined;
    }
  }

  // ---- reads -------------------------------------------------------------------------

  async function loadStatus() {
    state.status = await api.get('/moderateur/status');
    changed();
  }

  /** Profiles with their conversations, waiting ones first, oldest first; lease per profile. */
  async function loadAssignedProfiles() {
    const { profiles } = await api.get('/moderateur/profiles');
    for (const profile of profiles) {
      profile.conversations = (profile.conversations || []).slice().sort((a, b) => {
        if (a.waiting !== b.waiting) return a.waiting ? -1 : 1;
        const since = (c) => Date.parse(c.waiting_since || c.last_reply_at || 0) || 0;
        return since(a) - since(b) || a.client_id - b.client_id;
      });
    }
    state.profiles = profiles.sort((a, b) => a.profile_id - b.profile_id);
    for (const profile of profiles) {
      knownProfiles.set(profile.profile_id, { name: profile.name, waiting: profile.conversations.filter((c) => c.waiting).length });
    }
    followProfileChannels();
    changed();
    return state.profiles;
  }

  /** The queue panel's figures (the seed's `showQueueStatus`). */
  async function showQueueStatus() {
    state.queue = await api.get('/moderateur/queue/status');
    changed();
    return state.queue;
  }

  async function loadLocks() {
    state.locks = await api.get('/moderateur/locks/status');
    changed();
  }

  async function loadConflicts() {
    const { conflicts } = await api.get('/moderateur/conflicts');
    state.conflicts = conflicts.sort((a, b) => Number(a.resolved) - Number(b.resolved) || b.conflict_id - a.conflict_id);
    changed();
  }

  async function loadConversation() {
    const open = state.conversation;
    if (!open) return;
    if (!state.profiles.some((profile) => profile.profile_id === open.profile_id)) {
      state.conversation = { ...open, lost: true };
      changed();
      return;
    }
    const value = await api.get(`/moderateur/conversations/${open.client_id}/${open.profile_id}`);
    if (state.conversation && state.conversation.client_id === open.client_id && state.conversation.profile_id === open.profile_id) {
      state.conversation = { ...state.conversation, messages: value.messages, lock: value.lock, lost: false };
      changed();
    }
  }

  /** Everything, from the API: after start, after a reconnection, after storage came back. */
  async function reload() {
    state.loading = true;
    changed();
    try {
      await Promise.all([loadStatus(), loadAssignedProfiles(), showQueueStatus(), loadLocks(), loadConflicts()]);
      await loadConversation();
      state.loadedAt = now();
      clearNotice('storage');
    } catch (error) {
      await failed(error, 'loading your state');
    } finally {
      state.loading = false;
      changed();
    }
  }

  // ---- realtime ----------------------------------------------------------------------

  /** Follows `private-profile.{id}` for exactly the held profiles (a moderator may not follow others). */
  function followProfileChannels() {
    const held = new Set(state.profiles.map((profile) => `private-profile.${profile.profile_id}`));
    followChannels(realtime, profileChannels, held, { ProfileLockStatusChanged: handleProfileLockStatus });
  }

  function setupModeratorWebSocketListeners() {
    realtime.onState((previous, current) => {
      state.connection = current;
      if (current === 'connected') {
        if (state.wasConnected) {
          notify('info', 'Realtime connection restored; your state was reloaded.', 'realtime');
          reload();
        }
        state.wasConnected = true;
      }
      changed();
    });
    realtime.subscribe(`private-moderator.${moderatorId}`, {
      ModeratorQueuePositionChanged: handleQueuePosition,
      ProfileAssigned: handleProfileAssigned,
      ProfileUnassigned: handleProfileUnassigned,
      ForcedReassignment: handleForcedReassignment,
      ConversationAssigned: handleConversationAssigned,
      ConversationReleased: handleConversationReleased,
      ClientLockStatusChanged: handleClientLockStatus,
      ConflictResolved: handleConflictResolution,
    });
  }

  /** Reloads in the background; a failure is a notice. */
  function refresh(...loaders) {
    Promise.all(loaders.map((load) => load())).catch((error) => failed(error, 'refreshing'));
  }

  function handleQueuePosition(event) {
    const inQueue = event.position !== null && event.position !== undefined;
    state.queue = {
      ...(state.queue || {}),
      in_queue: inQueue,
      position: event.position,
      estimated_wait_seconds: event.estimated_wait_seconds,
      available_profiles: event.available_profiles,
    };
    if (state.status) {
      state.status = {
        ...state.status,
        queue: inQueue ? { position: event.position, estimated_wait_seconds: event.estimated_wait_seconds } : null,
      };
    }
    changed();
    refresh(showQueueStatus, loadStatus);
  }

  function handleProfileLockStatus(event) {
    const profile = state.profiles.find((p) => p.profile_id === event.profile_id);
    const mine = event.locked && event.moderator_id === moderatorId;
    if (profile && mine) {
      profile.lock = { ...(profile.lock || {}), type: 'profile', profile_id: event.profile_id, moderator_id: event.moderator_id, lock_type: event.lock_type, expires_at: event.expires_at };
    }
    const others = state.locks.profile_locks.filter((lock) => lock.profile_id !== event.profile_id);
    state.locks = {
      ...state.locks,
      profile_locks: mine
        ? [...others, { type: 'profile', profile_id: event.profile_id, moderator_id: event.moderator_id, lock_type: event.lock_type, expires_at: event.expires_at }].sort((a, b) => a.profile_id - b.profile_id)
        : others,
    };
    changed();
    if (!mine) refresh(loadAssignedProfiles, loadStatus, loadLocks);
  }

  function handleProfileAssigned(event) {
    notify('info', `Profile ${event.profile_id} is now yours (${event.reason}).`);
    refresh(loadAssignedProfiles, loadStatus, showQueueStatus, loadLocks);
  }

  function handleProfileUnassigned(event) {
    state.profiles = state.profiles.filter((profile) => profile.profile_id !== event.profile_id);
    followProfileChannels();
    if (state.conversation && state.conversation.profile_id === event.profile_id) {
      state.conversation = { ...state.conversation, lost: true };
    }
    changed();
    refresh(loadAssignedProfiles, loadStatus, showQueueStatus, loadLocks);
  }

  function handleForcedReassignment(event) {
    const profile = knownProfiles.get(event.profile_id);
    state.alerts.push({
      id: ++sequence,
      profile_id: event.profile_id,
      profile_name: profile ? profile.name : null,
      reason: event.reason,
      new_moderator_id: event.new_moderator_id ?? null,
      waiting: profile ? profile.waiting : null,
      at: new Date(now()).toISOString(),
    });
    keepAlerts();
    handleProfileUnassigned(event);
  }

  function handleConversationAssigned(event) {
    refresh(loadAssignedProfiles, loadStatus, loadLocks);
    const open = state.conversation;
    if (open && open.client_id === event.client_id && open.profile_id === event.profile_id) refresh(loadConversation);
  }

  function handleConversationReleased(event) {
    const open = state.conversation;
    if (open && open.client_id === event.client_id && open.profile_id === event.profile_id && event.reason !== 'answered') {
      refresh(loadConversation);
    }
    refresh(loadAssignedProfiles, loadStatus, loadLocks);
  }

  function handleClientLockStatus(event) {
    const others = state.locks.blocked_clients.filter((blocked) => blocked.client_id !== event.client_id);
    const blocked = event.locked && event.moderator_id !== moderatorId;
    state.locks = {
      ...state.locks,
      blocked_clients: blocked
        ? [...others, { client_id: event.client_id, profile_id: event.profile_id, moderator_id: event.moderator_id, expires_at: event.expires_at }]
        : others,
    };
    changed();
    refresh(loadLocks, loadAssignedProfiles);
  }

  function handleConflictResolution(event) {
    const others = state.conflicts.filter((conflict) => conflict.conflict_id !== event.conflict_id);
    state.conflicts = [{ ...event, resolved: false }, ...others];
    const won = (event.winners || []).includes(moderatorId);
    notify('info', `You connected at the same moment as other moderators: ${won ? 'you got a profile' : 'you were placed in the queue'} (conflict ${event.conflict_id}).`);
    changed();
    refresh(loadConflicts, loadStatus, showQueueStatus);
  }

  // ---- actions -----------------------------------------------------------------------

  async function initialize() {
    setupModeratorWebSocketListeners();
    await reload();
  }

  async function connect() {
    const status = await attempt('connecting', () => api.post('/moderateur/connect'));
    if (status) {
      state.status = status;
      notify('info', status.state === 'working' ? 'Connected: you have a profile.' : `Connected: ${status.state}.`);
      await reload();
    }
  }

  async function disconnect() {
    const status = await attempt('disconnecting', () => api.post('/moderateur/disconnect'));
    if (status) {
      state.status = status;
      state.conversation = null;
      await reload();
    }
  }

  async function leaveQueue() {
    if (await attempt('leaving the queue', () => api.post('/moderateur/queue/leave'))) await reload();
  }

  /** Back from paused into the queue (connecting again from paused). */
  async function rejoinQueue() {
    if (await attempt('rejoining the queue', () => api.post('/moderateur/connect'))) await reload();
  }

  async function requestPriority(priority) {
    const queue = await attempt('requesting priority', () => api.post('/moderateur/queue/priority', { priority }));
    if (queue) {
      state.queue = queue;
      notify('info', `Queue priority set to ${queue.priority}.`);
    }
  }

  /** Gives a profile back (the seed's `requestProfileUnlock`). */
  async function requestProfileUnlock(profileId) {
    const status = await attempt(`giving back profile ${profileId}`, () => api.post('/moderateur/locks/request-unlock', { profile_id: profileId }));
    if (status) {
      notify('info', `Profile ${profileId} given back.`);
      await reload();
    }
  }

  async function extendLock(target, seconds) {
    const what = target.profile_id ? `profile ${target.profile_id}` : `client ${target.client_id}`;
    const lock = await attempt(`extending the lock on ${what}`, () => api.post('/moderateur/locks/extend', { ...target, seconds }));
    if (lock) {
      notify('info', `Lock on ${what} extended.`);
      refresh(loadLocks, loadAssignedProfiles);
      if (target.client_id) refresh(loadConversation);
    }
  }

  async function openConversation(clientId, profileId) {
    state.conversation = { client_id: clientId, profile_id: profileId, messages: [], lock: null, loading: true };
    changed();
    await attempt('opening the conversation', loadConversation);
    if (state.conversation) state.conversation.loading = false;
    changed();
  }

  function closeConversation() {
    state.conversation = null;
    changed();
  }

  /** Typing in the open conversation: sent at most every TYPING_INTERVAL_MS. */
  async function typing() {
    const open = state.conversation;
    if (!open) return;
    const key = `${open.client_id}:${open.profile_id}`;
    const last = lastTyping.get(key) || 0;
    if (now() - last < TYPING_INTERVAL_MS) return;
    lastTyping.set(key, now());
    await attempt('typing', () => api.post('/moderateur/typing', { client_id: open.client_id, profile_id: open.profile_id }), {
      client_id: open.client_id,
      key: `typing-${key}`,
    });
  }

  /** Sends `body` in the open conversation; answers true when the server took it. */
  async function sendMessage(body) {
    const open = state.conversation;
    if (!open || !body.trim()) return false;
    const target = { client_id: open.client_id, profile_id: open.profile_id };
    const message = await attempt('sending the reply', () => api.post('/moderateur/messages', { ...target, body }), target);
    if (!message) return false;
    lastTyping.delete(`${open.client_id}:${open.profile_id}`);
    if (state.conversation === open) {
      state.conversation = { ...open, messages: [...open.messages, { ...message, direction: 'outbound' }] };
    }
    changed();
    refresh(loadConversation, loadAssignedProfiles, loadStatus, loadLocks);
    return true;
  }

  /** Takes the client lock for a first-contact message, then opens that conversation. */
  async function startInitiation(clientId, profileId) {
    const lock = await attempt(`starting a conversation with client ${clientId}`, () => api.post('/moderateur/initiations', { client_id: clientId, profile_id: profileId }), { client_id: clientId });
    if (!lock) return false;
    notify('info', `Client ${clientId} is reserved for you until you send your first message.`);
    refresh(loadLocks);
    await openConversation(clientId, profileId);
    return true;
  }

  async function acknowledgeConflict(conflictId) {
    const conflict = await attempt(`acknowledging conflict ${conflictId}`, () => api.post('/moderateur/conflicts/resolve', { conflict_id: conflictId }));
    if (conflict) {
      state.conflicts = state.conflicts.map((c) => (c.conflict_id === conflictId ? conflict : c));
      changed();
    }
  }

  function dismissAlert(id) {
    state.alerts = state.alerts.filter((alert) => alert.id !== id);
    keepAlerts();
    changed();
  }

  function signOut(reason) {
    endSession(state, changed, realtime, reason);
  }

  return {
    state,
    subscribe,
    initialize,
    setupModeratorWebSocketListeners,
    loadAssignedProfiles,
    showQueueStatus,
    loadLocks,
    loadConflicts,
    reload,
    handleQueuePosition,
    handleProfileLockStatus,
    handleProfileAssigned,
    handleProfileUnassigned,
    handleForcedReassignment,
    handleConversationAssigned,
    handleConversationReleased,
    handleClientLockStatus,
    handleConflictResolution,
    connect,
    disconnect,
    leaveQueue,
    rejoinQueue,
    requestPriority,
    requestProfileUnlock,
    extendLock,
    openConversation,
    closeConversation,
    typing,
    sendMessage,
    startInitiation,
    acknowledgeConflict,
    dismissAlert,
    dismissNotice,
    notify,
    signOut,
  };
}

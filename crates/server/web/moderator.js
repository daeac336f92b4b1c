// The moderator console's view: sign-in, then every panel rendered from the store
// (`moderator-store.js`). It holds no state of its own beyond what is typed in forms.

import { createApi, tokenClaims, clockTime, duration } from './api.js';
import { h, render, countdown, elapsed, startPage, badge, renderNotices, signInForm } from './dom.js';
import { createRealtime, connectionLabel } from './realtime.js';
import { createModeratorStore, REASONS } from './moderator-store.js';

const TOKEN_KEY = 'switchboard.moderator.token';
const EXTEND_SECONDS = 300;

const $ = (id) => document.getElementById(id);
const body = (id) => $(id).querySelector('.panel-body');

let store = null;
let config = null;
let serverOffset = 0;

const signIn = signInForm({ tokenKey: TOKEN_KEY, start: (token) => start(token) });

function signOut(message) {
  if (store) store.signOut(message);
  store = null;
  signIn.forget(message);
}

async function start(token) {
  const claims = tokenClaims(token);
  if (!claims || claims.role !== 'moderator' || !/^\d+$/.test(String(claims.sub || ''))) {
    signIn.forget('This is not a moderator token (it must carry role "moderator" and a moderator id). Ask your platform for one.');
    return;
  }
  if (claims.exp && claims.exp * 1000 < Date.now() + serverOffset) {
    signIn.forget('This token has expired: sign in with a new one.');
    return;
  }
  const moderatorId = Number(claims.sub);
  const api = createApi(token, { onUnauthorized: () => {} });
  let realtime;
  try {
    realtime = createRealtime(config, token, {
      onAuthRefused: (status, channel) => {
        if (status === 401) signOut('Your token was refused by the realtime server: sign in again.');
        else if (store) store.notify('error', `The realtime server refused the channel ${channel} (${status || 'no answer'}); live updates for it are off, the page still reloads its state.`);
      },
    });
  } catch (error) {
    signIn.show(`The realtime client could not start: ${error.message}`);
    return;
  }
  store = createModeratorStore({ api, realtime, moderatorId, now: () => Date.now() + serverOffset, storage: sessionStorage });
  store.subscribe(update);
  signIn.hide();
  update(store.state);
  await store.initialize();
}

function update(state) {
  if (!store || store.state !== state) return;
  if (state.signedOut) {
    signOut(state.signedOut);
    return;
  }
  renderIdentity(state);
  renderAlerts(state);
  renderNotices($('notices'), state.notices, (id) => store.dismissNotice(id));
  renderQueue(state);
  renderLocks(state);
  renderConflicts(state);
  renderProfiles(state);
  renderConversation(state);
  renderInitiation(state);
}

function renderIdentity(state) {
  const status = state.status;
  const moderatorState = status ? status.state : '…';
  const online = status && status.state !== 'offline';
  render(
    $('identity'),
    h('span', { class: 'who' }, `Moderator ${state.moderatorId}`),
    badge(moderatorState, `state-${moderatorState}`, `Your state: ${moderatorState}`),
    badge(`realtime ${connectionLabel(state.connection)}`, `conn-${state.connection}`, `Realtime connection: ${connectionLabel(state.connection)}`),
    status ? h('span', { class: 'load' }, `load ${status.load}`) : null,
    online
      ? h('button', { type: 'button', 'data-key': 'disconnect', onclick: () => store.disconnect() }, 'Disconnect')
      : h('button', { type: 'button', class: 'primary', 'data-key': 'connect', onclick: () => store.connect() }, 'Connect'),
    h('button', { type: 'button', class: 'quiet', 'data-key': 'signout', onclick: () => signOut('Signed out.') }, 'Sign out'),
  );
}

function renderAlerts(state) {
  render(
    $('alerts'),
    state.alerts.map((alert) => {
      const profile = alert.profile_name ? `Profile ${alert.profile_id} (${alert.profile_name})` : `Profile ${alert.profile_id}`;
      const to = alert.new_moderator_id ? `It went to moderator ${alert.new_moderator_id}.` : 'It is free until another moderator takes it.';
      const waiting = alert.waiting ? ` ${alert.waiting} waiting conversation${alert.waiting > 1 ? 's' : ''} went with it.` : '';
      return h(
        'div',
        { class: 'alert', role: 'alert', 'data-alert': alert.reason },
        h('strong', {}, `${profile} was taken from you`),
        h('p', {}, `Why: ${REASONS[alert.reason] || alert.reason}. ${to}${waiting} (at ${clockTime(alert.at)})`),
        h('button', { type: 'button', 'data-key': `alert-${alert.id}`, onclick: () => store.dismissAlert(alert.id) }, 'Dismiss'),
      );
    }),
  );
}

function figure(label, value, key) {
  return h('div', { class: 'figure', 'data-figure': key }, h('dt', {}, label), h('dd', {}, value));
}

function renderQueue(state) {
  const queue = state.queue;
  const status = state.status;
  if (!queue || !status) {
    render(body('queue'), h('p', { class: 'muted' }, 'Loading…'));
    return;
  }
  const moderatorState = status.state;
  const explain = {
    offline: 'You are offline. Connect to take a profile or join the queue.',
    queued: 'You are waiting for a profile; the first free one comes to you when you reach the head.',
    working: 'You hold profiles, so you are not in the queue.',
    paused: 'You left the queue. Rejoin when you are ready.',
    away: 'You were set away for inactivity. Rejoin to get back in the queue.',
  }[moderatorState];
  const priorityInput = h('input', { id: 'priority-input', type: 'number', step: '1', value: String(queue.priority ?? 0), 'data-key': 'priority-input' });
  render(
    body('queue'),
    h('p', { class: 'explain' }, explain),
    h(
      'dl',
      { class: 'figures' },
      figure('Position', queue.in_queue ? `${queue.position} of ${queue.queue_length}` : 'not in queue', 'position'),
      figure('Estimated wait', queue.in_queue ? duration(queue.estimated_wait_seconds) : '—', 'wait'),
      figure('Queue length', String(queue.queue_length ?? '—'), 'length'),
      figure('Free profiles', String(queue.available_profiles ?? '—'), 'available'),
    ),
    h(
      'div',
      { class: 'actions' },
      moderatorState === 'queued'
        ? h('button', { type: 'button', 'data-key': 'leave', onclick: () => store.leaveQueue() }, 'Leave the queue')
        : null,
      moderatorState === 'paused' || moderatorState === 'away'
        ? h('button', { type: 'button', class: 'primary', 'data-key': 'rejoin', onclick: () => store.rejoinQueue() }, 'Rejoin the queue')
        : null,
    ),
    h(
      'form',
      {
        class: 'inline-form',
        onsubmit: (event) => {
          event.preventDefault();
          const value = Number(priorityInput.value);
          if (Number.isInteger(value)) store.requestPriority(value);
        },
      },
      h('label', { for: 'priority-input' }, 'Priority'),
      priorityInput,
      h('button', { type: 'submit', 'data-key': 'priority' }, 'Request priority'),
    ),
  );
}

function renderLocks(state) {
  const { profile_locks: leases, client_locks: clients, blocked_clients: blocked } = state.locks;
  const name = (id) => {
    const profile = state.profiles.find((p) => p.profile_id === id);
    return profile && profile.name ? `${profile.name} (#${id})` : `Profile ${id}`;
  };
  render(
    body('locks'),
    h('h3', {}, 'My profile leases'),
    leases.length
      ? h(
          'ul',
          { class: 'lock-list' },
          leases.map((lease) =>
            h(
              'li',
              { class: 'lock', 'data-profile-lease': lease.profile_id },
              h('span', { class: 'lock-what' }, name(lease.profile_id), ' ', badge(lease.lock_type, `lock-${lease.lock_type}`)),
              lease.expires_at ? countdown(lease.expires_at, { prefix: 'expires in ' }) : h('span', {}, 'no expiry'),
              h('span', { class: 'actions' },
                h('button', { type: 'button', 'data-key': `extend-${lease.profile_id}`, 'aria-label': `Extend the lease on ${name(lease.profile_id)} by 5 minutes`, onclick: () => store.extendLock({ profile_id: lease.profile_id }, EXTEND_SECONDS) }, 'Extend 5 min'),
                h('button', { type: 'button', 'data-key': `giveback-lock-${lease.profile_id}`, 'aria-label': `Give back ${name(lease.profile_id)}`, onclick: () => store.requestProfileUnlock(lease.profile_id) }, 'Give back'),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No profile lease.'),
    h('h3', {}, 'Clients I hold'),
    clients.length
      ? h(
          'ul',
          { class: 'lock-list' },
          clients.map((lock) =>
            h(
              'li',
              { class: 'lock mine', 'data-client-lock': lock.client_id },
              h('span', { class: 'lock-what' }, `Client ${lock.client_id} on ${name(lock.profile_id)}`, ' ', badge(lock.lock_reason, 'lock-reason')),
              countdown(lock.expires_at, { prefix: 'for ' }),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No client lock.'),
    h('h3', {}, 'Clients blocked by another moderator'),
    blocked.length
      ? h(
          'ul',
          { class: 'lock-list' },
          blocked.map((lock) =>
            h(
              'li',
              { class: 'lock blocked', 'data-blocked-client': lock.client_id },
              h('span', { class: 'lock-what' }, `Client ${lock.client_id} (${name(lock.profile_id)}) is with moderator ${lock.moderator_id}`),
              countdown(lock.expires_at, { prefix: 'free in ', expired: 'being released' }),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'None.'),
  );
}

function renderConflicts(state) {
  render(
    body('conflicts'),
    state.conflicts.length
      ? h(
          'ul',
          { class: 'conflict-list' },
          state.conflicts.map((conflict) => {
            const won = (conflict.winners || []).includes(state.moderatorId);
            return h(
              'li',
              { class: `conflict ${conflict.resolved ? 'resolved' : 'open'}`, 'data-conflict': conflict.conflict_id },
              h('strong', {}, `Conflict ${conflict.conflict_id}`),
              h('span', {}, ` — moderators ${(conflict.participants || []).join(', ')} connected together (${conflict.strategy} order). `),
              h('span', {}, won ? 'You got a profile.' : 'You were queued.'),
              conflict.created_at ? h('span', { class: 'muted' }, ` ${clockTime(conflict.created_at)}`) : null,
              conflict.resolved
                ? badge('acknowledged', 'ok')
                : h('button', { type: 'button', 'data-key': `ack-${conflict.conflict_id}`, onclick: () => store.acknowledgeConflict(conflict.conflict_id) }, 'Acknowledge'),
            );
          }),
        )
      : h('p', { class: 'muted' }, 'No conflict involving you.'),
  );
}

function blockedFor(state, clientId, profileId) {
  return state.locks.blocked_clients.find((lock) => lock.client_id === clientId && (profileId === undefined || lock.profile_id === profileId));
}

function renderProfiles(state) {
  if (!state.profiles.length) {
    const status = state.status;
    render(body('profiles'), h('p', { class: 'muted' }, status && status.state === 'queued' ? 'No profile yet: you are in the queue.' : 'You hold no profile.'));
    return;
  }
  render(
    body('profiles'),
    state.profiles.map((profile) => {
      const waiting = profile.conversations.filter((c) => c.waiting);
      return h(
        'article',
        { class: 'profile', 'data-profile': profile.profile_id },
        h(
          'header',
          { class: 'profile-head' },
          h('h3', {}, profile.name || `Profile ${profile.profile_id}`, h('span', { class: 'muted' }, ` #${profile.profile_id}`)),
          badge(`${waiting.length} waiting`, waiting.length ? 'warn' : 'ok'),
          profile.lock && profile.lock.expires_at ? countdown(profile.lock.expires_at, { prefix: 'lease ' }) : null,
          h('button', { type: 'button', class: 'quiet', 'data-key': `giveback-${profile.profile_id}`, 'aria-label': `Give back profile ${profile.profile_id}`, onclick: () => store.requestProfileUnlock(profile.profile_id) }, 'Give back'),
        ),
        profile.conversations.length
          ? h(
              'ul',
              { class: 'conversation-list' },
              profile.conversations.map((conversation) => {
                const blocked = blockedFor(state, conversation.client_id, profile.profile_id);
                const open = state.conversation && state.conversation.client_id === conversation.client_id && state.conversation.profile_id === profile.profile_id;
                const last = conversation.last_message ? conversation.last_message.body : '';
                return h(
                  'li',
                  { class: `conversation-item ${open ? 'open' : ''} ${blocked ? 'blocked' : ''}`, 'data-conversation': `${conversation.client_id}-${profile.profile_id}` },
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'conversation-button',
                      'data-key': `open-${conversation.client_id}-${profile.profile_id}`,
                      'aria-current': open ? 'true' : null,
                      onclick: () => store.openConversation(conversation.client_id, profile.profile_id),
                    },
                    h('span', { class: 'client' }, `Client ${conversation.client_id}`),
                    conversation.waiting
                      ? h('span', { class: 'waiting' }, 'waiting ', elapsed(conversation.waiting_since))
                      : h('span', { class: 'muted' }, 'answered'),
                    h('span', { class: 'preview' }, last),
                  ),
                  blocked
                    ? h('span', { class: 'blocked-note' }, `Blocked: with moderator ${blocked.moderator_id}, `, countdown(blocked.expires_at, { prefix: 'free in ', expired: 'being released' }))
                    : null,
                );
              }),
            )
          : h('p', { class: 'muted' }, 'No waiting conversation.'),
      );
    }),
  );
}

let renderedConversation = null;

function renderConversation(state) {
  const open = state.conversation;
  const compose = $('compose');
  const list = $('conversation').querySelector('.messages');
  if (!open) {
    render(body('conversation'), h('p', { class: 'muted' }, 'Open a waiting conversation to read it and reply.'));
    list.replaceChildren();
    compose.hidden = true;
    renderedConversation = null;
    return;
  }
  const profile = state.profiles.find((p) => p.profile_id === open.profile_id);
  const profileName = profile && profile.name ? profile.name : `Profile ${open.profile_id}`;
  const blocked = blockedFor(state, open.client_id);
  const mine = state.locks.client_locks.find((lock) => lock.client_id === open.client_id);
  render(
    body('conversation'),
    h(
      'div',
      { class: 'conversation-title' },
      h('strong', {}, `Client ${open.client_id} ↔ ${profileName}`),
      mine ? h('span', { class: 'lock mine' }, 'Yours ', countdown(mine.expires_at, { prefix: 'for ' })) : null,
      mine ? h('button', { type: 'button', 'data-key': 'extend-client', onclick: () => store.extendLock({ client_id: open.client_id }, 60) }, 'Keep 1 min more') : null,
      h('button', { type: 'button', class: 'quiet', 'data-key': 'close-conversation', onclick: () => store.closeConversation() }, 'Close'),
    ),
    open.lost ? h('p', { class: 'notice error' }, 'You no longer hold this profile: this conversation is read-only.') : null,
    blocked && !open.lost
      ? h('p', { class: 'notice warn', 'data-blocked-banner': open.client_id }, `This client is being handled by moderator ${blocked.moderator_id}: wait until the lock ends (`, countdown(blocked.expires_at, { prefix: 'in ', expired: 'now' }), ').')
      : null,
  );
  const key = `${open.client_id}:${open.profile_id}:${open.messages.length}`;
  if (renderedConversation !== key) {
    renderedConversation = key;
    list.replaceChildren(
      ...open.messages.map((message) =>
        h(
          'li',
          { class: `message ${message.direction}` },
          h('span', { class: 'meta' }, message.direction === 'inbound' ? `Client ${open.client_id}` : message.moderator_id ? `You as ${profileName}` : profileName, ' · ', clockTime(message.sent_at)),
          h('span', { class: 'text' }, message.body),
        ),
      ),
    );
    if (!open.messages.length) list.append(h('li', { class: 'muted' }, open.loading ? 'Loading…' : 'No message yet: write the first one.'));
    list.scrollTop = list.scrollHeight;
  }
  const wasHidden = compose.hidden;
  compose.hidden = false;
  $('compose-label').textContent = `Reply as ${profileName} to client ${open.client_id}`;
  const disabled = Boolean(open.lost || blocked);
  $('compose-body').disabled = disabled;
  $('compose-send').disabled = disabled;
  $('compose-hint').textContent = disabled ? 'Replying is not possible right now.' : 'Ctrl+Enter sends. Typing keeps this client reserved for you.';
  if (wasHidden && !disabled) $('compose-body').focus();
}

function renderInitiation(state) {
  const select = $('initiation-profile');
  const current = select.value;
  select.replaceChildren(...state.profiles.map((profile) => h('option', { value: String(profile.profile_id) }, `${profile.name || 'Profile'} #${profile.profile_id}`)));
  if (current) select.value = current;
  const none = !state.profiles.length;
  select.disabled = none;
  $('initiation-form').querySelector('button').disabled = none;
}

$('compose-body').addEventListener('input', () => {
  if (store && $('compose-body').value.trim()) store.typing();
});
$('compose-body').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    $('compose').requestSubmit();
  }
});
$('compose').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('compose-body').value;
  if (!store || !text.trim()) return;
  $('compose-send').disabled = true;
  const sent = await store.sendMessage(text);
  $('compose-send').disabled = false;
  if (sent) $('compose-body').value = '';
  $('compose-body').focus();
});
$('initiation-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const clientId = Number($('initiation-client').value);
  const profileId = Number($('initiation-profile').value);
  if (!store || !Number.isInteger(clientId) || clientId < 1 || !profileId) return;
  store.startInitiation(clientId, profileId).then((started) => {
    if (started) $('initiation-client').value = '';
  });
});

startPage({
  tokenKey: TOKEN_KEY,
  what: 'console',
  useSettings: (settings, offset) => {
    config = settings;
    serverOffset = offset;
  },
  start,
  showSignIn: (message) => signIn.show(message),
});

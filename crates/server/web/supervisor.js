// The supervisor dashboard's view: sign-in, then every panel rendered from the store
// (`supervisor-store.js`): figures, alerts, a page of moderators and one of profiles (each
// searched and filtered on the server), the queue's head, locks, response times and
// conflicts, webhooks and the cluster (this node, the writer, the nodes, the latest epochs),
// with the levers (monitor, rebalance, priority, free, one pin picker). It holds no state of
// its own beyond what is typed in forms.

import { createApi, tokenClaims, clockTime, duration } from './api.js';
import { h, render, countdown, elapsed, startPage, badge, renderNotices, signInForm } from './dom.js';
import { createRealtime, connectionLabel } from './realtime.js';
import { createSupervisorStore, CLUSTER_REFRESH_MS, MODERATOR_STATES, PROFILE_STATUSES } from './supervisor-store.js';

const TOKEN_KEY = 'switchboard.supervisor.token';
/** Typing in a search box reads the server once typing pauses this long. */
const SEARCH_DEBOUNCE_MS = 250;

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

function start(token) {
  const claims = tokenClaims(token);
  if (!claims || claims.role !== 'supervisor') {
    signIn.forget('This is not a supervisor token (it must carry role "supervisor").');
    return;
  }
  const api = createApi(token);
  let realtime;
  try {
    realtime = createRealtime(config, token, {
      onAuthRefused: (status, channel) => {
        if (status === 401) signOut('Your token was refused: sign in again.');
        else if (store) store.notify('error', `The realtime server refused the channel ${channel}; the dashboard still re-reads its state.`);
      },
    });
  } catch (error) {
    signIn.show(`The realtime client could not start: ${error.message}`);
    return;
  }
  store = createSupervisorStore({ api, realtime, now: () => Date.now() + serverOffset });
  store.subscribe(update);
  signIn.hide();
  update(store.state);
  store.initialize();
}

let frame = null;

/** Renders at most once per animation frame, however many events arrive. */
function update(state) {
  if (!store || store.state !== state) return;
  if (state.signedOut) {
    signOut(state.signedOut);
    return;
  }
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = null;
    if (!store) return;
    renderAll(store.state);
  });
}

function renderAll(state) {
  renderIdentity(state);
  renderNotices($('notices'), state.notices, (id) => store.dismissNotice(id));
  renderLoad(state);
  renderAlerts(state);
  renderModerators(state);
  renderQueue(state);
  renderProfiles(state);
  renderPicker(state);
  renderLocks(state);
  renderTimes(state);
  renderConflicts(state);
  renderWebhooks(state);
  renderCluster(state);
  document.body.dataset.renderedAt = String(performance.now());
}

function renderIdentity(state) {
  render(
    $('identity'),
    h('span', { class: 'who' }, 'Supervisor'),
    badge(`realtime ${connectionLabel(state.connection)}`, `conn-${state.connection}`),
    state.loadedAt ? h('span', { class: 'updated', 'data-events-applied': Object.values(state.applied).reduce((sum, n) => sum + n, 0) }, `updated ${clockTime(new Date(state.loadedAt).toISOString())}`) : null,
    h('button', { type: 'button', class: 'primary', 'data-key': 'monitor', onclick: () => store.runMonitor() }, 'Run the monitor'),
    h('button', { type: 'button', 'data-key': 'rebalance', onclick: () => store.rebalance() }, 'Rebalance'),
    h('button', { type: 'button', class: 'quiet', 'data-key': 'signout', onclick: () => signOut('Signed out.') }, 'Sign out'),
  );
}

function figure(label, value, key) {
  return h('div', { class: 'figure', 'data-figure': key }, h('dt', {}, label), h('dd', {}, String(value)));
}

const number = (value) => Number(value || 0).toLocaleString('en-GB');

/** Directory-wide figures, then a bar per moderator of the page (CSS bars; numbers in the text too). */
function renderLoad(state) {
  const totals = state.totals;
  if (!totals) return;
  const counts = state.counts;
  const rows = state.moderators;
  const max = Math.max(1, ...rows.map((m) => m.load));
  render(
    body('load'),
    h(
      'dl',
      { class: 'totals' },
      figure('Working', number(totals.working), 'working'),
      figure('Queued', number(totals.queued), 'queued'),
      figure('Waiting conversations', number(totals.waiting_conversations), 'waiting'),
      figure('Total load', number(totals.total_load), 'total'),
      figure('Mean load', Number(totals.mean_load).toFixed(2), 'mean'),
      figure('Free profiles', number(totals.free_profiles), 'free'),
      figure('Orphan profiles', number(totals.orphan_profiles), 'orphans'),
    ),
    h('p', { class: 'muted', 'data-counts': 'moderators' }, 'Moderators: ', MODERATOR_STATES.map((s) => `${number(counts.moderators[s])} ${s}`).join(' · ')),
    h('p', { class: 'muted', 'data-counts': 'profiles' }, 'Profiles: ', PROFILE_STATUSES.map((s) => `${number(counts.profiles[s])} ${s}`).join(' · ')),
    h(
      'div',
      { class: 'chart', role: 'img', 'aria-label': `Load of the moderators listed: ${rows.map((m) => `${store.moderatorName(m.moderator_id)} ${m.load}`).join(', ')}`, 'data-chart': 'load' },
      h('div', { class: 'chart-group' }, `Load of the moderators listed (${rows.length})`),
      rows.map((m) => {
        const bar = h('div', { class: `bar state-${m.state}` });
        bar.style.width = `${(m.load / max) * 100}%`;
        return h('div', { class: 'bar-row', 'data-moderator-bar': m.moderator_id }, h('span', {}, store.moderatorName(m.moderator_id)), h('div', { class: 'bar-track' }, bar), h('span', { class: 'bar-value' }, String(m.load)));
      }),
    ),
  );
}

const ALERT_TEXT = {
  client_waiting_too_long: (d) => `Client ${d.client_id} has waited ${duration(d.waiting_seconds)} on ${store.profileName(d.profile_id)}${d.moderator_id ? ` (with ${store.moderatorName(d.moderator_id)})` : ' (no moderator)'}.`,
  orphan_profile: (d) => `${store.profileName(d.profile_id)} has ${d.waiting_conversations} waiting conversation(s) and no moderator for ${duration(d.orphan_seconds)}.`,
  moderator_overloaded: (d) => `${store.moderatorName(d.moderator_id)} has load ${d.load} (mean ${d.mean_load}); oldest waiting ${duration(d.oldest_waiting_seconds)}.`,
  queue_stalled: (d) => `The queue (${d.queue_length}) has had no assignment for ${duration(d.stalled_seconds)}.`,
  inconsistency_repaired: (d) => `Repaired: ${d.description}.`,
  conflict: (d) => `Moderators ${(d.participants || []).join(', ')} connected at the same moment (conflict ${d.conflict_id}).`,
};

function renderAlerts(state) {
  render(
    body('alerts'),
    state.alerts.length
      ? h(
          'ol',
          { class: 'feed', 'aria-label': 'Alerts, newest first' },
          state.alerts.map((alert) =>
            h(
              'li',
              { class: `severity-${alert.severity} ${state.fresh.has(alert.alert_id) ? 'fresh' : ''}`, 'data-alert-kind': alert.kind },
              h('span', {}, badge(alert.severity, alert.severity === 'info' ? 'info' : alert.severity === 'critical' ? 'error' : 'warn'), ' ', h('strong', {}, alert.kind.replace(/_/g, ' ')), ' · ', h('span', { class: 'muted' }, clockTime(alert.raised_at))),
              h('span', { class: 'detail' }, (ALERT_TEXT[alert.kind] || ((d) => JSON.stringify(d)))(alert.data || {})),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No alert.'),
  );
}

/** "1–50 of 10,000" with previous/next buttons. */
function pager(what, view, total, move) {
  const first = total ? view.offset + 1 : 0;
  const last = Math.min(view.offset + view.limit, total);
  return h(
    'div',
    { class: 'pager', 'data-pager': what },
    h('button', { type: 'button', 'data-key': `${what}-previous`, disabled: view.offset === 0, 'aria-label': `Previous page of ${what}`, onclick: () => move(-1) }, '‹ Previous'),
    h('span', { 'data-range': what }, `${number(first)}–${number(last)} of ${number(total)}`),
    h('button', { type: 'button', 'data-key': `${what}-next`, disabled: last >= total, 'aria-label': `Next page of ${what}`, onclick: () => move(1) }, 'Next ›'),
  );
}

function renderModerators(state) {
  if (!state.totals) return;
  const rows = state.moderators;
  render(
    body('moderators'),
    rows.length
      ? h(
          'table',
          {},
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Moderator'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Profiles'), h('th', { scope: 'col' }, 'Load'), h('th', { scope: 'col' }, 'Last activity'), h('th', { scope: 'col' }, 'Priority'))),
          h(
            'tbody',
            {},
            rows.map((m) => {
              const id = `priority-${m.moderator_id}`;
              const name = store.moderatorName(m.moderator_id);
              const input = h('input', { id, type: 'number', step: '1', value: String(m.priority ?? 0), 'data-key': id, 'aria-label': `Queue priority of ${name}` });
              return h(
                'tr',
                { 'data-moderator': m.moderator_id, 'data-moderator-state': m.state },
                h('th', { scope: 'row' }, name, m.realtime_connected ? h('span', { class: 'muted', title: 'console connected' }, ' ●') : null),
                h('td', {}, badge(m.state, `state-${m.state}`)),
                h('td', {}, m.profiles.length ? m.profiles.join(', ') : '—'),
                h('td', {}, String(m.load)),
                h('td', {}, m.last_activity_at ? [elapsed(m.last_activity_at), ' ago'] : '—'),
                h(
                  'td',
                  {},
                  h(
                    'form',
                    { class: 'row-actions', onsubmit: (event) => {
                      event.preventDefault();
                      store.setPriority(m.moderator_id, Number(input.value));
                    } },
                    input,
                    h('button', { type: 'submit', 'data-key': `set-${id}`, 'aria-label': `Set the priority of ${name}` }, 'Set'),
                  ),
                ),
              );
            }),
          ),
        )
      : h('p', { class: 'muted' }, 'No moderator matches.'),
    pager('moderators', state.moderatorsView, state.moderatorsTotal, (direction) => store.pageModerators(direction)),
  );
}

function renderQueue(state) {
  if (!state.totals) return;
  render(
    body('queue'),
    state.queue.length
      ? h(
          'ol',
          { class: 'plain-list' },
          state.queue.map((entry) =>
            h('li', { class: 'lock', 'data-queue-entry': entry.moderator_id },
              h('strong', {}, `#${entry.position}`), h('span', { class: 'lock-what' }, store.moderatorName(entry.moderator_id)),
              h('span', {}, `priority ${entry.priority}`), h('span', {}, 'waiting ', elapsed(entry.queued_at)),
              h('span', { class: 'muted' }, `est. ${duration(entry.estimated_wait_seconds)}`)),
          ),
        )
      : h('p', { class: 'muted' }, 'Nobody is waiting for a profile.'),
    state.queueLength > state.queue.length ? h('p', { class: 'muted' }, `… and ${number(state.queueLength - state.queue.length)} more in the queue.`) : null,
    h('p', { class: 'muted' }, `${number(state.freeProfiles)} free profile(s).`),
  );
}

function renderProfiles(state) {
  if (!state.totals) return;
  const rows = state.profiles;
  const picking = state.picker && state.picker.profileId;
  render(
    body('profiles'),
    rows.length
      ? h(
          'table',
          {},
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Profile'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Holder'), h('th', { scope: 'col' }, 'Waiting'), h('th', { scope: 'col' }, 'Actions'))),
          h(
            'tbody',
            {},
            rows.map((p) => {
              const status = p.status;
              const name = store.profileName(p.profile_id);
              return h(
                'tr',
                { 'data-profile': p.profile_id, 'data-profile-status': status, class: picking === p.profile_id ? 'picking' : null },
                h('th', { scope: 'row' }, name),
                h('td', {}, badge(status, { held: 'ok', free: 'info', orphan: 'error', inactive: '' }[status]), p.lock && p.lock.lock_type === 'manual' ? [' ', badge('pinned', 'lock-manual')] : null),
                h('td', {}, p.lock ? store.moderatorName(p.lock.moderator_id) : '—'),
                h('td', {}, String(p.waiting_conversations)),
                h(
                  'td',
                  {},
                  h('div', { class: 'row-actions' },
                    p.lock ? h('button', { type: 'button', class: 'danger', 'data-key': `free-${p.profile_id}`, 'aria-label': `Free ${name}`, onclick: () => store.freeProfile(p.profile_id) }, 'Free') : null,
                    p.active ? h('button', { type: 'button', 'data-key': `pin-${p.profile_id}`, 'aria-label': `Pin ${name} to a moderator`, onclick: () => store.openPicker(p.profile_id) }, 'Pin…') : null,
                  ),
                ),
              );
            }),
          ),
        )
      : h('p', { class: 'muted' }, 'No profile matches.'),
    pager('profiles', state.profilesView, state.profilesTotal, (direction) => store.pageProfiles(direction)),
  );
}

/** The one picker: a search box and one `<select>` of the matching connected moderators. */
function renderPicker(state) {
  const picker = state.picker;
  const form = $('pin-picker');
  const wasHidden = form.hidden;
  form.hidden = !picker;
  if (!picker) return;
  $('pin-title').textContent = `Pin ${store.profileName(picker.profileId)} to a moderator`;
  const select = $('pin-moderator');
  const chosen = select.value;
  select.replaceChildren(
    h('option', { value: '' }, picker.loading && !picker.candidates.length ? 'searching…' : 'choose…'),
    ...picker.candidates.map((m) => h('option', { value: String(m.moderator_id) }, `${store.moderatorName(m.moderator_id)} · ${m.state}, load ${m.load}`)),
  );
  if (picker.candidates.some((m) => String(m.moderator_id) === chosen)) select.value = chosen;
  $('pin-hint').textContent = picker.loading
    ? 'Searching…'
    : picker.total > picker.candidates.length
      ? `${number(picker.total)} connected moderators match; the first ${picker.candidates.length} are listed: type to narrow.`
      : `${picker.candidates.length} connected moderator(s) match.`;
  if (wasHidden) {
    $('pin-q').value = picker.q;
    $('pin-q').focus();
  }
}

function renderLocks(state) {
  if (!state.totals) return;
  const leases = state.profiles.filter((p) => p.lock);
  render(
    body('locks'),
    h('h3', {}, 'Profile leases (profiles listed)'),
    leases.length
      ? h('ul', { class: 'lock-list' }, leases.map((p) => h('li', { class: 'lock', 'data-lease': p.profile_id },
          h('span', { class: 'lock-what' }, `${store.profileName(p.profile_id)} → ${store.moderatorName(p.lock.moderator_id)}`), badge(p.lock.lock_type, `lock-${p.lock.lock_type}`),
          p.lock.expires_at ? countdown(p.lock.expires_at, { prefix: '' }) : h('span', {}, 'no expiry'))))
      : h('p', { class: 'muted' }, 'No listed profile is held.'),
    h('h3', {}, `Client locks (${number(state.clientLocksTotal)})`),
    state.clientLocks.length
      ? h('ul', { class: 'lock-list' }, state.clientLocks.map((lock) => h('li', { class: 'lock', 'data-client-lock': lock.client_id },
          h('span', { class: 'lock-what' }, `Client ${lock.client_id} (${store.profileName(lock.profile_id)}) → ${store.moderatorName(lock.moderator_id)}`), badge(lock.lock_reason, 'lock-reason'),
          countdown(lock.expires_at, { prefix: '' }))))
      : h('p', { class: 'muted' }, 'No client lock.'),
    state.clientLocksTotal > state.clientLocks.length ? h('p', { class: 'muted' }, `… and ${number(state.clientLocksTotal - state.clientLocks.length)} more.`) : null,
  );
}

function renderTimes(state) {
  if (!state.totals) return;
  const seconds = (value) => (value === null || value === undefined ? '—' : duration(value));
  render(
    body('times'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Moderator'), h('th', { scope: 'col' }, 'Replies'), h('th', { scope: 'col' }, 'Median response'), h('th', { scope: 'col' }, '95th percentile'))),
      h('tbody', {}, state.moderators.map((m) => h('tr', { 'data-times': m.moderator_id },
        h('th', { scope: 'row' }, store.moderatorName(m.moderator_id)), h('td', {}, String(m.replies)), h('td', {}, seconds(m.median_response_seconds)), h('td', {}, seconds(m.p95_response_seconds))))),
    ),
    h('p', { class: 'muted' }, 'For the moderators listed in the moderators table.'),
  );
}

function renderConflicts(state) {
  render(
    body('conflicts'),
    state.conflicts.length
      ? h('ul', { class: 'conflict-list' }, state.conflicts.slice(0, 50).map((c) => h('li', { class: `conflict ${c.resolved ? 'resolved' : 'open'}`, 'data-conflict': c.conflict_id },
          h('strong', {}, `Conflict ${c.conflict_id}`), ` · ${clockTime(c.created_at)} · ${c.strategy}: `,
          `got a profile ${c.winners.join(', ') || '—'}; queued ${c.queued.join(', ') || '—'} `,
          c.resolved ? badge(`acknowledged by ${c.resolved_by ?? '—'}`, 'ok') : badge('open', 'warn'))))
      : h('p', { class: 'muted' }, 'No conflict.'),
  );
}

function renderWebhooks(state) {
  const health = state.webhooks;
  if (!health) {
    render(body('webhooks'), h('p', { class: 'muted' }, 'Not read yet.'));
    return;
  }
  if (!health.enabled) {
    render(body('webhooks'), h('p', { class: 'muted', 'data-webhooks': 'off' }, 'Off (webhook_url is empty): the host reads GET /api/events.'));
    return;
  }
  const oldest = health.oldest_pending_seconds;
  render(
    body('webhooks'),
    h(
      'p',
      { 'data-webhooks': 'health' },
      badge(`${number(health.pending)} pending`, oldest !== null && oldest > 60 ? 'warn' : 'ok'), ' ',
      badge(`${number(health.failed)} failed`, health.failed ? 'error' : 'ok'), ' ',
      `${number(health.delivered_total)} delivered since start`,
      oldest !== null ? ` · oldest pending ${duration(oldest)}` : '',
    ),
    state.failedDeliveries.length
      ? h('ul', { class: 'feed', 'aria-label': 'Failed webhook deliveries, oldest first' }, state.failedDeliveries.map((d) => h('li', { 'data-delivery': d.id },
          h('strong', {}, d.type), ` · ${d.id} · ${clockTime(d.timestamp)} · ${d.attempts} attempt(s): `,
          h('span', { class: 'detail' }, d.last_error || `answered ${d.last_status}`), ' ',
          h('button', { type: 'button', class: 'quiet', 'data-key': `retry-${d.id}`, onclick: () => store.retryDelivery(d.id) }, 'Retry'))))
      : h('p', { class: 'muted' }, 'No failed delivery.'),
  );
}

const ROLE_BADGE = { writer: 'ok', standby: 'info', starting: 'warn' };
const FANOUT_BADGE = { connected: 'ok', disconnected: 'error', 'not configured': 'warn' };

/** "expires in 3 s" / "expired 2 s ago", on the database's clock. */
function leaseLeft(seconds) {
  if (seconds === null) return 'expiry unknown';
  return seconds >= 0 ? `expires in ${duration(seconds)}` : `expired ${duration(-seconds)} ago`;
}

/** The cluster (`GET /api/supervisor/cluster`): its own reads, so a failure stays here. */
function renderCluster(state) {
  const view = state.cluster;
  const error = state.clusterError
    ? h('p', { class: 'notice error', 'data-cluster': 'error' }, h('span', {}, state.clusterError,
        view && state.clusterReadAt ? ` Below: the last read, at ${clockTime(new Date(state.clusterReadAt).toISOString())}.` : ''))
    : null;
  if (!view) {
    render(body('cluster'), error || h('p', { class: 'muted' }, 'Not read yet.'));
    return;
  }
  const fanout = view.fanout ? h('p', { 'data-cluster': 'fanout', 'data-fanout': view.fanout }, 'Redis fan-out: ', badge(view.fanout, FANOUT_BADGE[view.fanout])) : null;
  if (view.mode === 'single') {
    render(
      body('cluster'),
      error,
      h('div', { 'data-cluster-mode': 'single' },
        h('p', { 'data-cluster': 'single' }, badge('single node', 'info'), ' One process on SQLite: it is the writer, with no lease and no other node.'),
        fanout),
    );
    return;
  }
  const { node, writer } = view;
  const thisNode = (isThis) => (isThis ? h('span', { class: 'muted' }, ' (this node)') : null);
  render(
    body('cluster'),
    error,
    h(
      'div',
      { 'data-cluster-mode': 'cluster' },
      h('p', { 'data-cluster': 'node', 'data-node-role': node.role }, 'This page is served by ', h('strong', {}, node.name || '—'), ' ', badge(node.role, ROLE_BADGE[node.role] || ''),
        node.advertiseUrl ? [' ', h('span', { class: 'node-url' }, node.advertiseUrl)] : null),
      writer
        ? h('p', { 'data-cluster': 'writer', 'data-writer-epoch': writer.epoch, 'data-writer-name': writer.name },
            'Writer: ', h('strong', {}, writer.name), thisNode(writer.isThisNode), writer.advertiseUrl ? ` · ${writer.advertiseUrl}` : '',
            ` · epoch ${writer.epoch} · lease ${leaseLeft(writer.leaseLeftSeconds)}`)
        : h('p', { 'data-cluster': 'writer' }, badge('no writer', 'error'), ` No node holds the writer lease; a standby takes it within ${duration(view.leaseSeconds)}.`),
      fanout,
      h('h3', {}, `Nodes (${view.nodes.length})`),
      view.nodes.length
        ? h('table', {},
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Node'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Last seen'))),
            h('tbody', {}, view.nodes.map((row) => h('tr', { 'data-cluster-node': row.name, 'data-node-role': row.role },
              h('th', { scope: 'row' }, row.name, thisNode(row.isThisNode), row.advertiseUrl ? h('span', { class: 'node-url' }, row.advertiseUrl) : null),
              h('td', {}, badge(row.role, ROLE_BADGE[row.role] || '')),
              h('td', {}, row.lastSeenAgoSeconds === null ? '—' : `${duration(row.lastSeenAgoSeconds)} ago`)))))
        : h('p', { class: 'muted' }, 'No node seen.'),
      h('h3', {}, 'Latest epochs'),
      view.epochs.length
        ? h('table', {},
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Epoch'), h('th', { scope: 'col' }, 'Holder'), h('th', { scope: 'col' }, 'Commits'), h('th', { scope: 'col' }, 'Released'))),
            h('tbody', {}, view.epochs.map((row) => h('tr', { 'data-cluster-epoch': row.epoch },
              h('th', { scope: 'row' }, String(row.epoch)),
              h('td', {}, row.holder),
              h('td', {}, number(row.commits)),
              h('td', {}, row.released ? clockTime(row.releasedAt) : row.current ? badge('holding', 'ok') : badge('not released (taken over or lapsed)', 'warn'))))))
        : h('p', { class: 'muted' }, 'No epoch yet.'),
      h('p', { class: 'muted', 'data-cluster': 'clock' }, `On the database's clock (${clockTime(view.databaseTime)}); lease ${duration(view.leaseSeconds)}; read every ${CLUSTER_REFRESH_MS / 1000} s.`),
    ),
  );
}

/** Calls `action(value)` once typing in `input` pauses. */
function onTypingPause(input, action) {
  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => action(input.value.trim()), SEARCH_DEBOUNCE_MS);
  });
}

onTypingPause($('moderators-q'), (q) => store && store.setModeratorsView({ q }));
onTypingPause($('profiles-q'), (q) => store && store.setProfilesView({ q }));
onTypingPause($('pin-q'), (q) => store && store.searchPicker(q));
// The filters offer exactly the values the store (and the server) know.
for (const [select, values, choose] of [
  ['moderators-state', MODERATOR_STATES, (value) => store.setModeratorsView({ states: value ? [value] : [] })],
  ['profiles-status', PROFILE_STATUSES, (value) => store.setProfilesView({ statuses: value ? [value] : [] })],
]) {
  render($(select), h('option', { value: '' }, 'all'), values.map((value) => h('option', { value }, value)));
  $(select).addEventListener('change', (event) => store && choose(event.target.value));
}
for (const form of ['moderators-tools', 'profiles-tools']) $(form).addEventListener('submit', (event) => event.preventDefault());
$('pin-picker').addEventListener('submit', (event) => {
  event.preventDefault();
  if (store) store.pinProfile(Number($('pin-moderator').value));
});
$('pin-cancel').addEventListener('click', () => store && store.closePicker());

startPage({
  tokenKey: TOKEN_KEY,
  what: 'dashboard',
  useSettings: (settings, offset) => {
    config = settings;
    serverOffset = offset;
  },
  start,
  showSignIn: (message) => signIn.show(message),
});

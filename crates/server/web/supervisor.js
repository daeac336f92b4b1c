// The supervisor dashboard: live through `private-supervisors` (AlertRaised) and by polling
// the state, the load report, alerts and conflicts every few seconds and after every event
// or action. Actions: run the monitor, rebalance, set a priority, free a profile, pin one.

import { createApi, describeError, tokenClaims, clockTime, duration } from './api.js';
import { h, render, countdown, elapsed, startPage } from './dom.js';
import { createRealtime, connectionLabel } from './realtime.js';

const TOKEN_KEY = 'switchboard.supervisor.token';
/** Polling period; events and actions trigger a reload sooner. */
export const POLL_MS = 5000;
const STATE_ORDER = ['working', 'queued', 'paused', 'away', 'offline'];

const $ = (id) => document.getElementById(id);
const body = (id) => $(id).querySelector('.panel-body');

const page = {
  api: null,
  realtime: null,
  connection: 'initialized',
  state: null,
  report: null,
  alerts: [],
  conflicts: [],
  fresh: new Set(),
  notices: [],
  loadedAt: null,
  timer: null,
  busy: false,
  again: false,
};
let config = null;
let serverOffset = 0;
let noticeSequence = 0;

function showSignIn(message) {
  $('main').hidden = true;
  $('signin').hidden = false;
  render($('identity'));
  $('signin-error').hidden = !message;
  $('signin-error').textContent = message || '';
  $('signin-token').focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (page.realtime) page.realtime.disconnect();
  clearInterval(page.timer);
  page.realtime = null;
  page.api = null;
  showSignIn(message);
}

$('signin-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $('signin-token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('signin-token').value = '';
  start(token);
});

function notify(level, text, key = null) {
  page.notices = page.notices.filter((notice) => !key || notice.key !== key);
  const id = ++noticeSequence;
  page.notices.push({ id, level, text, key });
  if (page.notices.length > 5) page.notices.shift();
  if (level === 'info') setTimeout(() => dismiss(id), 8000);
  renderNotices();
}

function dismiss(id) {
  page.notices = page.notices.filter((notice) => notice.id !== id);
  renderNotices();
}

function failed(error, doing) {
  if (error && error.code === 'unauthorized') {
    signOut(describeError(error));
    return;
  }
  const storage = error && (error.code === 'unavailable' || error.code === 'network');
  notify('error', describeError(error, { doing }), storage ? 'storage' : null);
}

function start(token) {
  const claims = tokenClaims(token);
  if (!claims || claims.role !== 'supervisor') {
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn('This is not a supervisor token (it must carry role "supervisor").');
    return;
  }
  page.api = createApi(token);
  try {
    page.realtime = createRealtime(config, token, {
      onAuthRefused: (status) => (status === 401 ? signOut('Your token was refused: sign in again.') : notify('error', 'The realtime server refused the supervisors channel; the dashboard still polls.')),
    });
  } catch (error) {
    showSignIn(`The realtime client could not start: ${error.message}`);
    return;
  }
  let wasConnected = false;
  page.connection = page.realtime.state();
  page.realtime.onState((previous, current) => {
    page.connection = current;
    if (current === 'connected') {
      if (wasConnected) reload();
      wasConnected = true;
    }
    renderIdentity();
  });
  page.realtime.subscribe('private-supervisors', { AlertRaised: handleAlertRaised });
  $('signin').hidden = true;
  $('main').hidden = false;
  renderIdentity();
  reload();
  page.timer = setInterval(reload, POLL_MS);
}

function handleAlertRaised(alert) {
  if (!page.alerts.some((known) => known.alert_id === alert.alert_id)) {
    page.alerts = [{ ...alert, raised_at: alert.raised_at || new Date(Date.now() + serverOffset).toISOString() }, ...page.alerts];
    page.fresh.add(alert.alert_id);
    renderAlerts();
  }
  reload();
}

/** Reads everything; concurrent calls collapse into one more read after the current one. */
async function reload() {
  if (!page.api) return;
  if (page.busy) {
    page.again = true;
    return;
  }
  page.busy = true;
  try {
    const [state, report, alerts, conflicts] = await Promise.all([
      page.api.get('/api/supervisor/state'),
      page.api.get('/api/supervisor/load-report'),
      page.api.get('/api/supervisor/alerts'),
      page.api.get('/api/supervisor/conflicts'),
    ]);
    Object.assign(page, { state, report, alerts: alerts.alerts, conflicts: conflicts.conflicts, loadedAt: Date.now() });
    page.notices = page.notices.filter((notice) => notice.key !== 'storage');
    renderAll();
  } catch (error) {
    failed(error, 'reading the state');
  } finally {
    page.busy = false;
    if (page.again) {
      page.again = false;
      reload();
    }
  }
}

async function act(doing, action, done) {
  try {
    const value = await action();
    if (done) notify('info', done(value));
  } catch (error) {
    failed(error, doing);
  }
  reload();
}

function badge(text, kind) {
  return h('span', { class: `badge ${kind}` }, text);
}

function moderatorName(id) {
  const moderator = page.state && page.state.moderators.find((m) => m.moderator_id === id);
  return moderator && moderator.name ? `${moderator.name} (#${id})` : `Moderator ${id}`;
}

function profileName(id) {
  const profile = page.state && page.state.profiles.find((p) => p.profile_id === id);
  return profile && profile.name ? `${profile.name} (#${id})` : `Profile ${id}`;
}

function renderAll() {
  renderIdentity();
  renderNotices();
  renderLoad();
  renderAlerts();
  renderModerators();
  renderQueue();
  renderProfiles();
  renderLocks();
  renderTimes();
  renderConflicts();
}

function renderIdentity() {
  if (!page.api) return;
  render(
    $('identity'),
    h('span', { class: 'who' }, 'Supervisor'),
    badge(`realtime ${connectionLabel(page.connection)}`, `conn-${page.connection}`),
    page.loadedAt ? h('span', { class: 'updated' }, `updated ${clockTime(new Date(page.loadedAt).toISOString())}`) : null,
    h('button', { type: 'button', class: 'primary', 'data-key': 'monitor', onclick: () => act('running the monitor', () => page.api.post('/api/supervisor/monitor/run'), describeMonitor) }, 'Run the monitor'),
    h('button', { type: 'button', 'data-key': 'rebalance', onclick: () => act('rebalancing', () => page.api.post('/api/supervisor/rebalance'), (value) => `Rebalance: ${value.moves.length} move${value.moves.length === 1 ? '' : 's'}${value.moves.map((m) => ` · ${profileName(m.profile_id)} ${m.from_moderator_id}→${m.to_moderator_id}`).join('')}.`) }, 'Rebalance'),
    h('button', { type: 'button', class: 'quiet', 'data-key': 'signout', onclick: () => signOut('Signed out.') }, 'Sign out'),
  );
}

function describeMonitor(report) {
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

function renderNotices() {
  render(
    $('notices'),
    page.notices.map((notice) =>
      h('div', { class: `notice ${notice.level}` }, h('span', {}, notice.text), h('button', { type: 'button', class: 'quiet', 'aria-label': 'Dismiss this message', 'data-key': `notice-${notice.id}`, onclick: () => dismiss(notice.id) }, '×')),
    ),
  );
}

function figure(label, value, key) {
  return h('div', { class: 'figure', 'data-figure': key }, h('dt', {}, label), h('dd', {}, String(value)));
}

/** A horizontal bar chart of load, grouped by state (CSS bars; the numbers are in the text too). */
function renderLoad() {
  const report = page.report;
  if (!report) return;
  const totals = report.totals;
  const max = Math.max(1, ...report.moderators.map((m) => m.load));
  const groups = STATE_ORDER.map((state) => [state, report.moderators.filter((m) => m.state === state)]).filter(([, list]) => list.length);
  render(
    body('load'),
    h(
      'dl',
      { class: 'totals' },
      figure('Working', totals.working, 'working'),
      figure('Queued', totals.queued, 'queued'),
      figure('Waiting conversations', totals.waiting_conversations, 'waiting'),
      figure('Total load', totals.total_load, 'total'),
      figure('Mean load', Number(totals.mean_load).toFixed(2), 'mean'),
      figure('Free profiles', totals.free_profiles, 'free'),
      figure('Orphan profiles', totals.orphan_profiles, 'orphans'),
    ),
    h(
      'div',
      { class: 'chart', role: 'img', 'aria-label': `Load per moderator: ${report.moderators.map((m) => `${moderatorName(m.moderator_id)} ${m.load}`).join(', ')}`, 'data-chart': 'load' },
      groups.map(([state, list]) => [
        h('div', { class: 'chart-group' }, `${state} (${list.length})`),
        list.map((m) => {
          const bar = h('div', { class: `bar state-${m.state}` });
          bar.style.width = `${(m.load / max) * 100}%`;
          return h('div', { class: 'bar-row', 'data-moderator-bar': m.moderator_id }, h('span', {}, moderatorName(m.moderator_id)), h('div', { class: 'bar-track' }, bar), h('span', { class: 'bar-value' }, String(m.load)));
        }),
      ]),
    ),
  );
}

const ALERT_TEXT = {
  client_waiting_too_long: (d) => `Client ${d.client_id} has waited ${duration(d.waiting_seconds)} on ${profileName(d.profile_id)}${d.moderator_id ? ` (with ${moderatorName(d.moderator_id)})` : ' (no moderator)'}.`,
  orphan_profile: (d) => `${profileName(d.profile_id)} has ${d.waiting_conversations} waiting conversation(s) and no moderator for ${duration(d.orphan_seconds)}.`,
  moderator_overloaded: (d) => `${moderatorName(d.moderator_id)} has load ${d.load} (mean ${d.mean_load}); oldest waiting ${duration(d.oldest_waiting_seconds)}.`,
  queue_stalled: (d) => `The queue (${d.queue_length}) has had no assignment for ${duration(d.stalled_seconds)}.`,
  inconsistency_repaired: (d) => `Repaired: ${d.description}.`,
  conflict: (d) => `Moderators ${(d.participants || []).join(', ')} connected at the same moment (conflict ${d.conflict_id}).`,
};

function renderAlerts() {
  const alerts = page.alerts.slice(0, 100);
  render(
    body('alerts'),
    alerts.length
      ? h(
          'ol',
          { class: 'feed', 'aria-label': 'Alerts, newest first' },
          alerts.map((alert) =>
            h(
              'li',
              { class: `severity-${alert.severity} ${page.fresh.has(alert.alert_id) ? 'fresh' : ''}`, 'data-alert-kind': alert.kind },
              h('span', {}, badge(alert.severity, alert.severity === 'info' ? 'info' : alert.severity === 'critical' ? 'error' : 'warn'), ' ', h('strong', {}, alert.kind.replace(/_/g, ' ')), ' · ', h('span', { class: 'muted' }, clockTime(alert.raised_at))),
              h('span', { class: 'detail' }, (ALERT_TEXT[alert.kind] || ((d) => JSON.stringify(d)))(alert.data || {})),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No alert.'),
  );
}

function renderModerators() {
  const state = page.state;
  if (!state) return;
  const moderators = state.moderators.slice().sort((a, b) => STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || a.moderator_id - b.moderator_id);
  render(
    body('moderators'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Moderator'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Profiles'), h('th', { scope: 'col' }, 'Load'), h('th', { scope: 'col' }, 'Last activity'), h('th', { scope: 'col' }, 'Priority'))),
      h(
        'tbody',
        {},
        moderators.map((m) => {
          const id = `priority-${m.moderator_id}`;
          const input = h('input', { id, type: 'number', step: '1', value: String(m.priority ?? 0), 'data-key': id, 'aria-label': `Queue priority of ${moderatorName(m.moderator_id)}` });
          return h(
            'tr',
            { 'data-moderator': m.moderator_id },
            h('th', { scope: 'row' }, moderatorName(m.moderator_id), m.realtime_connected ? h('span', { class: 'muted', title: 'console connected' }, ' ●') : null),
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
                  const priority = Number(input.value);
                  if (Number.isInteger(priority)) act(`setting the priority of moderator ${m.moderator_id}`, () => page.api.put(`/api/supervisor/moderators/${m.moderator_id}/priority`, { priority }), () => `Priority of ${moderatorName(m.moderator_id)} set to ${priority}.`);
                } },
                input,
                h('button', { type: 'submit', 'data-key': `set-${id}`, 'aria-label': `Set the priority of ${moderatorName(m.moderator_id)}` }, 'Set'),
              ),
            ),
          );
        }),
      ),
    ),
  );
}

function renderQueue() {
  const state = page.state;
  if (!state) return;
  render(
    body('queue'),
    state.queue.length
      ? h(
          'ol',
          { class: 'plain-list' },
          state.queue.map((entry) =>
            h('li', { class: 'lock', 'data-queue-entry': entry.moderator_id },
              h('strong', {}, `#${entry.position}`), h('span', { class: 'lock-what' }, moderatorName(entry.moderator_id)),
              h('span', {}, `priority ${entry.priority}`), h('span', {}, 'waiting ', elapsed(entry.queued_at)),
              h('span', { class: 'muted' }, `est. ${duration(entry.estimated_wait_seconds)}`)),
          ),
        )
      : h('p', { class: 'muted' }, 'Nobody is waiting for a profile.'),
    h('p', { class: 'muted' }, `${state.free_profiles} free profile(s).`),
  );
}

function renderProfiles() {
  const state = page.state;
  if (!state) return;
  const candidates = state.moderators.filter((m) => m.state !== 'offline');
  const kind = (p) => (!p.active ? 'inactive' : p.lock ? 'held' : p.waiting_conversations > 0 ? 'orphan' : 'free');
  render(
    body('profiles'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Profile'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col' }, 'Holder'), h('th', { scope: 'col' }, 'Waiting'), h('th', { scope: 'col' }, 'Actions'))),
      h(
        'tbody',
        {},
        state.profiles.map((p) => {
          const status = kind(p);
          const select = h('select', { 'aria-label': `Moderator to pin ${profileName(p.profile_id)} to`, 'data-key': `pin-select-${p.profile_id}` },
            h('option', { value: '' }, 'pin to…'),
            candidates.map((m) => h('option', { value: String(m.moderator_id) }, moderatorName(m.moderator_id))));
          return h(
            'tr',
            { 'data-profile': p.profile_id, 'data-profile-status': status },
            h('th', { scope: 'row' }, profileName(p.profile_id)),
            h('td', {}, badge(status, { held: 'ok', free: 'info', orphan: 'error', inactive: '' }[status]), p.lock && p.lock.lock_type === 'manual' ? [' ', badge('pinned', 'lock-manual')] : null),
            h('td', {}, p.lock ? moderatorName(p.lock.moderator_id) : '—'),
            h('td', {}, String(p.waiting_conversations)),
            h(
              'td',
              {},
              h('div', { class: 'row-actions' },
                p.lock ? h('button', { type: 'button', class: 'danger', 'data-key': `free-${p.profile_id}`, 'aria-label': `Free ${profileName(p.profile_id)}`, onclick: () => act(`freeing profile ${p.profile_id}`, () => page.api.post(`/api/supervisor/profiles/${p.profile_id}/unlock`), () => `${profileName(p.profile_id)} freed.`) }, 'Free') : null,
                select,
                h('button', { type: 'button', 'data-key': `pin-${p.profile_id}`, 'aria-label': `Pin ${profileName(p.profile_id)} to the chosen moderator`, onclick: () => {
                  const moderatorId = Number(select.value);
                  if (!moderatorId) {
                    notify('error', `Choose a moderator to pin ${profileName(p.profile_id)} to.`);
                    return;
                  }
                  act(`pinning profile ${p.profile_id}`, () => page.api.post(`/api/supervisor/profiles/${p.profile_id}/pin`, { moderator_id: moderatorId }), () => `${profileName(p.profile_id)} pinned to ${moderatorName(moderatorId)}.`);
                } }, 'Pin'),
              ),
            ),
          );
        }),
      ),
    ),
  );
}

function renderLocks() {
  const state = page.state;
  if (!state) return;
  const leases = state.profiles.filter((p) => p.lock);
  render(
    body('locks'),
    h('h3', {}, 'Profile leases'),
    leases.length
      ? h('ul', { class: 'lock-list' }, leases.map((p) => h('li', { class: 'lock', 'data-lease': p.profile_id },
          h('span', { class: 'lock-what' }, `${profileName(p.profile_id)} → ${moderatorName(p.lock.moderator_id)}`), badge(p.lock.lock_type, `lock-${p.lock.lock_type}`),
          p.lock.expires_at ? countdown(p.lock.expires_at, { prefix: '' }) : h('span', {}, 'no expiry'))))
      : h('p', { class: 'muted' }, 'No profile is held.'),
    h('h3', {}, 'Client locks'),
    state.client_locks.length
      ? h('ul', { class: 'lock-list' }, state.client_locks.map((lock) => h('li', { class: 'lock', 'data-client-lock': lock.client_id },
          h('span', { class: 'lock-what' }, `Client ${lock.client_id} (${profileName(lock.profile_id)}) → ${moderatorName(lock.moderator_id)}`), badge(lock.lock_reason, 'lock-reason'),
          countdown(lock.expires_at, { prefix: '' }))))
      : h('p', { class: 'muted' }, 'No client lock.'),
  );
}

function renderTimes() {
  const report = page.report;
  if (!report) return;
  const seconds = (value) => (value === null || value === undefined ? '—' : duration(value));
  render(
    body('times'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Moderator'), h('th', { scope: 'col' }, 'Replies'), h('th', { scope: 'col' }, 'Median response'), h('th', { scope: 'col' }, '95th percentile'))),
      h('tbody', {}, report.moderators.map((m) => h('tr', { 'data-times': m.moderator_id },
        h('th', { scope: 'row' }, moderatorName(m.moderator_id)), h('td', {}, String(m.replies)), h('td', {}, seconds(m.median_response_seconds)), h('td', {}, seconds(m.p95_response_seconds))))),
    ),
  );
}

function renderConflicts() {
  render(
    body('conflicts'),
    page.conflicts.length
      ? h('ul', { class: 'conflict-list' }, page.conflicts.slice().reverse().slice(0, 50).map((c) => h('li', { class: `conflict ${c.resolved ? 'resolved' : 'open'}`, 'data-conflict': c.conflict_id },
          h('strong', {}, `Conflict ${c.conflict_id}`), ` · ${clockTime(c.created_at)} · ${c.strategy}: `,
          `got a profile ${c.winners.join(', ') || '—'}; queued ${c.queued.join(', ') || '—'} `,
          c.resolved ? badge(`acknowledged by ${c.resolved_by ?? '—'}`, 'ok') : badge('open', 'warn'))))
      : h('p', { class: 'muted' }, 'No conflict.'),
  );
}

startPage({
  tokenKey: TOKEN_KEY,
  what: 'dashboard',
  useSettings: (settings, offset) => {
    config = settings;
    serverOffset = offset;
  },
  start,
  showSignIn,
});

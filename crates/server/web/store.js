// What both stores (`moderator-store.js`, `supervisor-store.js`) are built on: telling the
// view that the state changed, once per turn however many changes were made, and the
// messages for the person (errors, confirmations): a short list, the oldest dropped first,
// info notices dismissed after a while, a keyed notice replaced by the next one with the same
// key (so "storage unavailable" is said once), and the end of a session. No DOM: the views render `state.notices` with
// `renderNotices` from dom.js.

/**
 * `changed()` calls every subscribed listener with `state` once, in a microtask, however
 * many times it is called before; `subscribe(listener)` answers the unsubscribe function.
 */
export function createChanges(state) {
  const listeners = new Set();
  let scheduled = false;
  return {
    changed() {
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(() => {
        scheduled = false;
        for (const listener of listeners) listener(state);
      });
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Notices kept at most (the oldest go first). */
export const NOTICES_MAX = 6;
/** Info notices disappear after this long; errors stay until dismissed or superseded. */
export const INFO_NOTICE_MS = 8000;

/**
 * Keeps `state.notices` (`{id, level: 'error'|'info', text, key}`), calling `changed()` after
 * each change. `nextId()` numbers them (the moderator store shares its sequence with alerts);
 * `timers.setTimeout` schedules the dismissal of info notices.
 */
export function createNotices(state, changed, { nextId, timers = globalThis } = {}) {
  let sequence = 0;
  const number = nextId || (() => ++sequence);
  state.notices = state.notices || [];

  function dismiss(id) {
    const before = state.notices.length;
    state.notices = state.notices.filter((notice) => notice.id !== id);
    if (state.notices.length !== before) changed();
  }

  function notify(level, text, key = null) {
    const id = number();
    state.notices = state.notices.filter((notice) => !key || notice.key !== key);
    state.notices.push({ id, level, text, key });
    while (state.notices.length > NOTICES_MAX) state.notices.shift();
    if (level === 'info') timers.setTimeout(() => dismiss(id), INFO_NOTICE_MS);
    changed();
    return id;
  }

  /** Dismisses the notice with `key`, if there is one. */
  function clear(key) {
    const notice = state.notices.find((candidate) => candidate.key === key);
    if (notice) dismiss(notice.id);
  }

  return { notify, dismiss, clear };
}

/** Ends the session: records why for the view (`state.signedOut`), closes the realtime connection. */
export function endSession(state, changed, realtime, reason) {
  state.signedOut = reason || 'Signed out.';
  realtime.disconnect();
  changed();
}

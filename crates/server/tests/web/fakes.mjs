// Stand-ins for what the stores are handed (api, realtime, clock and timers), for the unit
// tests under `node --test`. They record what the stores did; nothing here reaches a network.

import { ApiError } from '../../web/api.js';

/** A clock and timers that move only when `advance(ms)` is called. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start;
  let sequence = 0;
  const pending = new Map();
  const timers = {
    setTimeout(fn, ms = 0) {
      const id = ++sequence;
      pending.set(id, { at: now + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    setInterval(fn, ms) {
      const id = ++sequence;
      const repeat = () => {
        pending.set(id, { at: now + ms, fn: () => (repeat(), fn()) });
      };
      repeat();
      return id;
    },
    clearInterval(id) {
      pending.delete(id);
    },
  };
  return {
    now: () => now,
    timers,
    pending: () => pending.size,
    /** Moves time forward, running every timer that falls due, in order. */
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let next = null;
        for (const [id, timer] of pending) if (timer.at <= until && (!next || timer.at < next[1].at)) next = [id, timer];
        if (!next) break;
        pending.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = until;
    },
  };
}

/** Lets every queued promise callback and microtask run. */
export async function settle() {
  for (let i = 0; i < 10; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * An api whose answers come from `answer(method, path, body)` (a value, a promise, or a thrown
 * ApiError); every call is kept in `calls`.
 */
export function fakeApi(answer) {
  const calls = [];
  const call = (method) => async (path, body) => {
    calls.push({ method, path, body });
    return answer(method, path, body);
  };
  return { calls, get: call('GET'), post: call('POST'), put: call('PUT') };
}

export const refusal = (status, code, message = code) => new ApiError(status, code, message, null);

/** A realtime connection: `emit(channel, event, data)` delivers as the server would. */
export function fakeRealtime(initial = 'connecting') {
  let current = initial;
  const stateListeners = [];
  const channels = new Map();
  return {
    state: () => current,
    onState: (listener) => stateListeners.push(listener),
    subscribe(channel, handlers) {
      channels.set(channel, handlers);
    },
    unsubscribe(channel) {
      channels.delete(channel);
    },
    disconnect() {
      this.disconnected = true;
    },
    disconnected: false,
    channels,
    setState(next) {
      const previous = current;
      current = next;
      for (const listener of stateListeners) listener(previous, next);
    },
    emit(channel, event, data) {
      const handlers = channels.get(channel);
      if (!handlers || !handlers[event]) throw new Error(`nobody listens to ${event} on ${channel}`);
      handlers[event](data);
    },
  };
}

// The Pusher-protocol connection of both pages, on the vendored pusher-js browser build
// (`vendor/pusher.min.js`, loaded before the modules as `window.Pusher`). pusher-js
// reconnects by itself and resubscribes every channel with fresh authorization; this module
// only adds event names as the server writes them (`<event_namespace>\<Name>`, or bare).

/**
 * @param config  `/console/config.json`
 * @param token   the bearer token, sent to `/broadcasting/auth`
 * @param onAuthRefused  a channel's authorization was refused (status, channel)
 */
export function createRealtime(config, token, { onAuthRefused = () => {} } = {}) {
  const Pusher = window.Pusher;
  if (typeof Pusher !== 'function') throw new Error('vendor/pusher.min.js did not load');
  const secure = window.location.protocol === 'https:';
  const host = config.ws_host || window.location.hostname;
  const port = Number(config.ws_port || window.location.port || (secure ? 443 : 80));
  const pusher = new Pusher(config.pusher_app_key, {
    cluster: '',
    wsHost: host,
    wsPort: port,
    wssPort: port,
    forceTLS: secure,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      endpoint: config.auth_endpoint || '/broadcasting/auth',
      transport: 'ajax',
      headers: { Authorization: `Bearer ${token}` },
    },
  });
  const wireName = (name) => (config.event_namespace ? `${config.event_namespace}\\${name}` : name);

  return {
    /** Calls `listener(previous, current)` on every connection state change. */
    onState(listener) {
      pusher.connection.bind('state_change', ({ previous, current }) => listener(previous, current));
    },
    state: () => pusher.connection.state,
    /** Subscribes `channel` (full name, `private-…`) with one handler per event name. */
    subscribe(channel, handlers, { onSubscribed = () => {} } = {}) {
      const subscription = pusher.subscribe(channel);
      subscription.bind('pusher:subscription_succeeded', () => onSubscribed(channel));
      subscription.bind('pusher:subscription_error', (error) => onAuthRefused((error && error.status) || 0, channel));
      for (const [name, handler] of Object.entries(handlers)) {
        subscription.bind(wireName(name), (data) => handler(typeof data === 'string' ? JSON.parse(data) : data));
      }
      return subscription;
    },
    unsubscribe(channel) {
      pusher.unsubscribe(channel);
    },
    subscribed: (channel) => Boolean(pusher.channel(channel) && pusher.channel(channel).subscribed),
    connect: () => pusher.connect(),
    disconnect: () => pusher.disconnect(),
  };
}

/** Words for a person for pusher-js connection states. */
export function connectionLabel(state) {
  return (
    {
      initialized: 'starting',
      connecting: 'connecting…',
      connected: 'live',
      unavailable: 'offline, retrying',
      failed: 'not supported by this browser',
      disconnected: 'disconnected',
    }[state] || state
  );
}

/**
 * Keeps the channels in `followed` (a Set of names, updated) equal to `wanted`: leaves the
 * others, subscribes the new ones with `handlers`. Both stores follow `private-profile.{id}`
 * channels this way (a moderator those it holds, a supervisor those it shows).
 */
export function followChannels(realtime, followed, wanted, handlers) {
  for (const channel of followed) {
    if (!wanted.has(channel)) {
      realtime.unsubscribe(channel);
      followed.delete(channel);
    }
  }
  for (const channel of wanted) {
    if (!followed.has(channel)) {
      followed.add(channel);
      realtime.subscribe(channel, handlers);
    }
  }
}

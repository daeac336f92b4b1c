// pusher-js 8 after the server drops it (close_all with 4200): it must reconnect at once,
// get a new socket id, authorize again and resubscribe, then receive the next event.
import Pusher from 'pusher-js';
import { args, emit, exitIfStuck, pusherOptions } from './common.mjs';

exitIfStuck();
const { port, key, token } = args();

const pusher = new Pusher(key, pusherOptions(port, token));
let subscriptions = 0;
pusher.connection.bind('state_change', ({ previous, current }) => emit('state', { previous, current }));

const channel = pusher.subscribe('private-allowed.7');
channel.bind('pusher:subscription_succeeded', () => {
  subscriptions += 1;
  emit('subscribed', { socket_id: pusher.connection.socket_id, count: subscriptions });
});
channel.bind('SomethingHappened', (data) => {
  emit('event', { socket_id: pusher.connection.socket_id, data });
  pusher.disconnect();
});

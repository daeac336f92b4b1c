// pusher-js 8: connection, a public channel, a private channel granted by
// /broadcasting/auth, one refused by it (403), one refused by the server itself because its
// signature is forged (pusher:subscription_error 401), then an event published by the test.
import Pusher from 'pusher-js';
import { args, emit, exitIfStuck, pusherOptions } from './common.mjs';

exitIfStuck();
const { port, key, token } = args();

const pusher = new Pusher(key, pusherOptions(port, token));
pusher.connection.bind('connected', () => emit('connected', { socket_id: pusher.connection.socket_id }));

pusher
  .subscribe('news')
  .bind('pusher:subscription_succeeded', () => emit('subscribed', { channel: 'news' }));

const allowed = pusher.subscribe('private-allowed.7');
allowed.bind('pusher:subscription_succeeded', () => emit('subscribed', { channel: 'private-allowed.7' }));
allowed.bind('SomethingHappened', (data) => {
  emit('event', { channel: 'private-allowed.7', data });
  pusher.disconnect();
});

pusher
  .subscribe('private-denied.7')
  .bind('pusher:subscription_error', (error) => emit('subscription_error', { channel: 'private-denied.7', error }));

const forger = new Pusher(key, {
  ...pusherOptions(port, token),
  channelAuthorization: {
    customHandler: (_params, callback) => callback(null, { auth: `${key}:${'0'.repeat(64)}` }),
  },
});
forger
  .subscribe('private-allowed.7')
  .bind('pusher:subscription_error', (error) => {
    emit('subscription_error', { channel: 'private-allowed.7', client: 'forger', error });
    forger.disconnect();
  });

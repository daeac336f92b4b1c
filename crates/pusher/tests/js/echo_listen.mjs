// laravel-echo 2 on pusher-js 8, configured the way a Laravel front end does it:
// Echo.private('allowed.7').listen('SomethingHappened') must receive the wire name
// App\Events\SomethingHappened; Echo.private('denied.7') must reach its error callback.
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { args, emit, exitIfStuck } from './common.mjs';

exitIfStuck();
const { port, key, token } = args();

const echo = new Echo({
  broadcaster: 'pusher',
  key,
  Pusher,
  cluster: '',
  wsHost: '127.0.0.1',
  wsPort: port,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  authEndpoint: `http://127.0.0.1:${port}/broadcasting/auth`,
  // Each Echo instance needs its own object: Echo's defaults are shared between instances.
  auth: { headers: { Authorization: `Bearer ${token}` } },
});

echo
  .private('allowed.7')
  .subscribed(() => emit('subscribed', { channel: 'private-allowed.7', socket_id: echo.socketId() }))
  .listen('SomethingHappened', (data) => {
    emit('event', { channel: 'private-allowed.7', data });
    echo.disconnect();
  });

echo
  .private('denied.7')
  .error((error) => emit('subscription_error', { channel: 'private-denied.7', error }));

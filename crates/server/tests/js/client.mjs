// A Laravel Echo 2 client on pusher-js 8, driven line by line by the Rust test on stdin,
// reporting everything it sees as one JSON object per line on stdout.
//
// usage: node client.mjs PORT APP_KEY BEARER_TOKEN [bare] [--auth-endpoint=URL]
//   bare: listen for event names as sent, without Echo's App\Events namespace
//   --auth-endpoint: the host's own /broadcasting/auth instead of Switchboard's (a Laravel
//   application signing with the app secret, for host channels)
// commands (stdin, one JSON per line):
//   {"op": "private", "channel": "moderator.1", "events": ["ProfileAssigned", ...]}
//   {"op": "leave", "channel": "moderator.1"}
//   {"op": "exit"}
// reports: ready, state, subscribed, subscription_error, event, bye
import readline from 'node:readline';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

const [port, key, token, ...options] = process.argv.slice(2);
const mode = options.includes('bare') ? 'bare' : 'namespaced';
const authOption = options.find((option) => option.startsWith('--auth-endpoint='));
const authEndpoint = authOption ? authOption.slice('--auth-endpoint='.length) : `http://127.0.0.1:${port}/broadcasting/auth`;
const emit = (step, fields = {}) => process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
setTimeout(() => { emit('stuck'); process.exit(3); }, 120_000).unref();

const echo = new Echo({
  broadcaster: 'pusher',
  key,
  Pusher,
  cluster: '',
  wsHost: '127.0.0.1',
  wsPort: Number(port),
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  authEndpoint,
  auth: { headers: { Authorization: `Bearer ${token}` } },
});
const connection = echo.connector.pusher.connection;
connection.bind('state_change', ({ previous, current }) => emit('state', { previous, current, socket_id: connection.socket_id }));

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const command = JSON.parse(line);
  if (command.op === 'private') {
    const channel = echo.private(command.channel);
    channel
      .subscribed(() => emit('subscribed', { channel: command.channel, socket_id: echo.socketId() }))
      .error((error) => emit('subscription_error', { channel: command.channel, status: error && error.status }));
    for (const name of command.events || []) {
      channel.listen(mode === 'bare' ? `.${name}` : name, (data) => emit('event', { channel: command.channel, name, data }));
    }
  } else if (command.op === 'leave') {
    echo.leave(command.channel);
    emit('left', { channel: command.channel });
  } else if (command.op === 'exit') {
    echo.disconnect();
    emit('bye');
    process.exit(0);
  }
});
emit('ready');

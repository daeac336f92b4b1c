// pusher-js 8 against an unknown app key: the server completes the upgrade, sends
// pusher:error 4001 and closes with 4001, and pusher-js must give up rather than retry.
import Pusher from 'pusher-js';
import { args, emit, exitIfStuck, pusherOptions } from './common.mjs';

exitIfStuck();
const { port, token } = args();

const pusher = new Pusher('not-the-app-key', pusherOptions(port, token));
pusher.connection.bind('error', (error) => emit('error', { type: error.type, code: error.error?.data?.code ?? error.data?.code }));
pusher.connection.bind('state_change', ({ previous, current }) => {
  emit('state', { previous, current });
  if (current === 'disconnected' || current === 'failed') {
    pusher.disconnect();
  }
});

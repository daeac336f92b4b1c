// Shared by the client scripts: the arguments the Rust test passes, the pusher-js options
// for a local server (see shared/PUSHER.md, "Using pusher-js from Node in tests"), and the
// one-JSON-object-per-line protocol the Rust test reads on stdout.

export function args() {
  const [port, key, token] = process.argv.slice(2);
  if (!port || !key || !token) {
    console.error('usage: node SCRIPT.mjs PORT APP_KEY BEARER_TOKEN');
    process.exit(64);
  }
  return { port: Number(port), key, token };
}

export function pusherOptions(port, token) {
  return {
    cluster: '',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: {
      endpoint: `http://127.0.0.1:${port}/broadcasting/auth`,
      transport: 'ajax',
      headers: { Authorization: `Bearer ${token}` },
    },
  };
}

/** Tells the Rust test that something happened. */
export function emit(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n');
}

/** A guard, not a clock: the Rust test drives every step and fails first on its own timeout. */
export function exitIfStuck(seconds = 25) {
  setTimeout(() => {
    emit('stuck');
    process.exit(3);
  }, seconds * 1000).unref();
}

// The HTTP side shared by both pages: the token kept for the tab, calls with the bearer
// token, API errors as `ApiError`, and a sentence for a person for every error code.

/** A refused or failed call: `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/**
 * The token for this tab: `?token=` (taken once and removed from the address bar), else the
 * one kept in sessionStorage under `key`.
 */
export function takeToken(key) {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    sessionStorage.setItem(key, fromUrl.trim());
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(key);
}

/** The claims of a JWT, unverified (the server verifies; this is for display only). */
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1];
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** Calls with `Authorization: Bearer <token>`; `onUnauthorized` runs on any 401. */
export function createApi(token, { onUnauthorized = () => {} } = {}) {
  async function call(method, path, body) {
    const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, 'network', `cannot reach the server (${error.message})`, null);
    }
    const text = await response.text();
    let value = null;
    if (text) {
      try {
        value = JSON.parse(text);
      } catch {
        value = { text };
      }
    }
    if (!response.ok) {
      const error = (value && value.error) || {};
      const apiError = new ApiError(response.status, error.code || `http_${response.status}`, error.message || response.statusText, value);
      if (response.status === 401) onUnauthorized(apiError);
      throw apiError;
    }
    return value;
  }
  return {
    get: (path) => call('GET', path),
    post: (path, body) => call('POST', path, body),
    put: (path, body) => call('PUT', path, body),
  };
}

/** Reads the realtime settings of this server. */
export async function loadConfig() {
  const response = await fetch('/console/config.json', { headers: { Accept: 'application/json' } });
  if (!response.ok) throw new ApiError(response.status, 'config', 'cannot read /console/config.json', null);
  return response.json();
}

/** `12:04:31` in the reader's locale. */
export function clockTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** `2 min 05 s`, `45 s`, `1 h 03 min`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${String(total % 60).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/**
 * A sentence for a person. `context` adds what the page knows beyond the server's message
 * (who holds a blocked client and until when; what was being done).
 */
export function describeError(error, context = {}) {
  const doing = context.doing ? `${context.doing}: ` : '';
  if (!(error instanceof ApiError)) return `${doing}unexpected error (${error && error.message})`;
  const holder = context.holder;
  switch (error.code) {
    case 'client_locked': {
      const who = holder ? `moderator ${holder.moderator_id}` : (error.message.match(/moderator (\d+)/) || [])[0] || 'another moderator';
      const until = holder && holder.expires_at ? ` until ${clockTime(holder.expires_at)}` : '';
      return `${doing}this client is being handled by ${who}${until}. The conversation stays waiting and comes back to you when the lock is released.`;
    }
    case 'double_initiation': {
      const who = (error.message.match(/moderator (\d+)/) || [])[0] || 'another moderator';
      return `${doing}${who} is already writing a first message to this client; do not start a second one.`;
    }
    case 'not_profile_holder':
      return `${doing}you no longer hold this profile (it was given to someone else); your profiles have been reloaded.`;
    case 'not_in_queue':
      return `${doing}you are not in the queue (you hold a profile, paused, or are offline).`;
    case 'unauthorized':
      return 'Your token was refused (expired, wrong or missing): sign in again.';
    case 'forbidden':
      return `${doing}not allowed: ${error.message}.`;
    case 'not_found':
      return `${doing}not found: ${error.message}.`;
    case 'invalid_request':
      return `${doing}the request was refused as invalid: ${error.message}.`;
    case 'conflict':
      return `${doing}refused by the rules: ${error.message}.`;
    case 'unavailable':
      return `${doing}storage unavailable, retrying. Nothing was changed.`;
    case 'network':
      return `${doing}cannot reach the server, retrying.`;
    case 'method_not_allowed':
      return `${doing}this server does not accept that request (${error.message}).`;
    default:
      return `${doing}the server answered ${error.status}: ${error.message}.`;
  }
}

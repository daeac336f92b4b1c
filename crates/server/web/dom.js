// The page code both pages share: building elements without HTML strings (user text is
// always text), re-rendering a region without losing keyboard focus, live countdowns,
// badges, the notices list, the sign-in form, and the start-up.

import { duration, loadConfig, takeToken } from './api.js';

/**
 * `h('button', { class: 'x', onclick: f, 'data-key': 'k' }, 'text', child)`.
 * Attributes starting with `on` are listeners; `false`/`null` attributes are left out.
 */
export function h(tag, attributes = {}, ...children) {
  const element = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'value' && 'value' in element) {
      element.value = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * Replaces `container`'s children; if focus was on an element with a `data-key` inside it,
 * the element with the same key gets focus back, so that live updates do not throw a
 * keyboard user out of the panel.
 */
export function render(container, ...children) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.getAttribute('data-key') : null;
  container.replaceChildren();
  append(container, children);
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

let clockOffset = () => 0;

function update(element, now) {
  if (element.dataset.countdown) {
    const left = (Date.parse(element.dataset.countdown) - now) / 1000;
    element.textContent = left > 0 ? `${element.dataset.prefix}${duration(left)}` : element.dataset.expired;
    element.classList.toggle('expired', left <= 0);
  } else if (element.dataset.elapsed) {
    element.textContent = duration((now - Date.parse(element.dataset.elapsed)) / 1000);
  }
  return element;
}

/** A `<time>` that counts down to `iso` (ticked by `startTicker`). */
export function countdown(iso, { prefix = '', expired = 'expired' } = {}) {
  const element = h('time', { datetime: iso, 'data-countdown': iso, 'data-prefix': prefix, 'data-expired': expired });
  return update(element, Date.now() + clockOffset());
}

/** A `<time>` that counts up from `iso` ("2 min 05 s" of waiting). */
export function elapsed(iso) {
  return update(h('time', { datetime: iso, 'data-elapsed': iso }), Date.now() + clockOffset());
}

/** Updates every countdown and elapsed time once a second; `offset()` = server − local ms. */
export function startTicker(offset = () => 0) {
  clockOffset = offset;
  const tick = () => {
    const now = Date.now() + clockOffset();
    for (const element of document.querySelectorAll('[data-countdown], [data-elapsed]')) update(element, now);
  };
  tick();
  return setInterval(tick, 1000);
}

/**
 * Starts a page: reads the server's settings (handed to `useSettings` with the offset of the
 * server's clock from this one, in milliseconds), ticks the countdowns
 * in server time, then signs in with the tab's token (`start(token)`) or asks for one
 * (`showSignIn(null)`). `what` names the page in the message shown when the settings cannot
 * be read.
 */
export async function startPage({ tokenKey, what, useSettings, start, showSignIn }) {
  const token = takeToken(tokenKey);
  let settings;
  try {
    settings = await loadConfig();
  } catch (error) {
    showSignIn(`The ${what} cannot read its settings from the server (${error.message}); reload the page.`);
    return;
  }
  const serverOffset = settings.server_time ? Date.parse(settings.server_time) - Date.now() : 0;
  useSettings(settings, serverOffset);
  startTicker(() => serverOffset);
  if (token) start(token);
  else showSignIn(null);
}

/** A small coloured label (`kind` picks the colour: `ok`, `warn`, `error`, `info`, `state-*`, …). */
export function badge(text, kind, label = null) {
  return h('span', { class: `badge ${kind}`, 'aria-label': label }, text);
}

/** The notices of a store (`store.js`) in `container`, each with its dismiss button. */
export function renderNotices(container, notices, dismiss) {
  render(
    container,
    notices.map((notice) =>
      h(
        'div',
        { class: `notice ${notice.level}`, 'data-code': notice.key || null },
        h('span', {}, notice.text),
        h('button', { type: 'button', class: 'quiet', 'aria-label': 'Dismiss this message', 'data-key': `notice-${notice.id}`, onclick: () => dismiss(notice.id) }, '×'),
      ),
    ),
  );
}

/**
 * The sign-in form of a page (`#signin`, `#signin-form`, `#signin-token`, `#signin-error`,
 * with `#main` and `#identity`): a pasted token is kept for the tab under `tokenKey` and
 * handed to `start(token)`. Answers `show(message)`, which brings the form back, and
 * `forget(message)`, which also drops the kept token.
 */
export function signInForm({ tokenKey, start }) {
  const $ = (id) => document.getElementById(id);
  function show(message) {
    $('main').hidden = true;
    $('signin').hidden = false;
    render($('identity'));
    $('signin-error').hidden = !message;
    $('signin-error').textContent = message || '';
    $('signin-token').focus();
  }
  $('signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('signin-token').value.trim();
    if (!token) return;
    sessionStorage.setItem(tokenKey, token);
    $('signin-token').value = '';
    start(token);
  });
  return {
    show,
    forget(message) {
      sessionStorage.removeItem(tokenKey);
      show(message);
    },
    /** The page is signed in: the form goes, the page shows. */
    hide() {
      $('signin').hidden = true;
      $('main').hidden = false;
    },
  };
}

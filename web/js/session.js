// Sign-in. The server keeps the token in the HttpOnly op_token cookie, so
// the page asks the server who is signed in (GET /api/session). Two ways in:
// the demo users of `orderpulse dev` (GET /api/dev/users exists), or, in
// production, an access token from the shop's identity provider pasted into
// a form and handed to POST /api/session, which verifies it and sets the
// cookie.
import { api, el } from './api.js';

export async function currentUser() {
  try {
    return await api('/api/session');
  } catch (e) {
    if (e.status === 401 || e.status === 404) return null;
    throw e;
  }
}

function showDevUsers({ devBox, list, error }, users, onSignedIn) {
  devBox.hidden = false;
  for (const u of users) {
    const button = el(
      'button',
      { type: 'button', 'data-user-id': u.user_id },
      el('strong', {}, u.user_id),
      ` — tenant ${u.tenant_id}, ${u.roles.join(', ')}`,
    );
    button.addEventListener('click', async () => {
      error.textContent = '';
      try {
        onSignedIn(await api('/api/dev/session', { method: 'POST', body: { user_id: u.user_id } }));
      } catch (e) {
        error.textContent = `Sign-in failed: ${e.message}`;
      }
    });
    list.append(el('li', {}, button));
  }
  list.querySelector('button')?.focus();
}

function showTokenForm({ tokenForm, tokenInput, error }, onSignedIn) {
  tokenForm.hidden = false;
  tokenForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const token = tokenInput.value.trim();
    if (!token) {
      error.textContent = 'Paste your access token first.';
      tokenInput.focus();
      return;
    }
    try {
      const user = await api('/api/session', { method: 'POST', body: { token } });
      tokenInput.value = ''; // the cookie holds it now; the page keeps no copy
      onSignedIn(user);
    } catch (e) {
      error.textContent = e.status === 401 ? 'This token is not valid (expired, or not issued for this shop).' : `Sign-in failed: ${e.message}`;
      tokenInput.focus();
    }
  });
  tokenInput.focus();
}

export async function showSignIn(els, onSignedIn) {
  els.list.replaceChildren();
  els.error.textContent = '';
  let users;
  try {
    ({ users } = await api('/api/dev/users'));
  } catch (e) {
    if (e.status === 404) {
      showTokenForm(els, onSignedIn); // production: no demo users
      return;
    }
    els.error.textContent = `Cannot list the demo users: ${e.message}`;
    return;
  }
  showDevUsers(els, users, onSignedIn);
}

export async function signOut() {
  try {
    await api('/api/session/logout', { method: 'POST' });
  } finally {
    location.reload();
  }
}

// Dev sign-in: the demo users of `orderpulse dev`; the server sets the
// HttpOnly op_token cookie, so the page asks the server who is signed in.
import { api, el } from './api.js';

export async function currentUser() {
  try {
    return await api('/api/dev/session');
  } catch (e) {
    if (e.status === 401 || e.status === 404) return null;
    throw e;
  }
}

export async function showSignIn({ list, error }, onSignedIn) {
  list.replaceChildren();
  error.textContent = '';
  let users;
  try {
    ({ users } = await api('/api/dev/users'));
  } catch (e) {
    error.textContent =
      e.status === 404
        ? 'This server has no development sign-in; sign in through your identity provider.'
        : `Cannot list the demo users: ${e.message}`;
    return;
  }
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

export async function signOut() {
  try {
    await api('/api/dev/session/logout', { method: 'POST' });
  } finally {
    location.reload();
  }
}

// The notification center: bell with the unread count, the list, mark one or
// all read (the inbox API), and live `event: notification` frames. A server
// without the inbox API (404) shows the bell disabled with an explanation.
import { api, el } from './api.js';

const LIMIT = 50;

export class NotificationCenter {
  constructor({ root, bell, count, panel, list, empty, readAll }) {
    Object.assign(this, { root, bell, count, panel, list, empty, readAll });
    this.items = []; // newest first
    this.unread = 0;
    this.available = true;
    bell.addEventListener('click', () => this.toggle());
    readAll.addEventListener('click', () => this.markAll());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !this.panel.hidden) this.toggle(false);
    });
    document.addEventListener('click', (e) => {
      if (!this.panel.hidden && !root.contains(e.target)) this.toggle(false);
    });
  }

  async load() {
    try {
      const data = await api(`/api/notifications?limit=${LIMIT}`);
      this.available = true;
      this.items = data.notifications || [];
      this.unread = data.unread_count ?? this.items.filter((n) => !n.read).length;
    } catch (e) {
      this.available = false;
      this.items = [];
      this.unread = 0;
      this.empty.textContent =
        e.status === 404 ? 'Notifications are not available on this server.' : `Cannot load notifications: ${e.message}`;
    }
    this.root.dataset.available = String(this.available);
    this.render();
  }

  add(n) {
    if (!n || !n.notification_id || this.items.some((x) => x.notification_id === n.notification_id)) return;
    this.items.unshift(n);
    this.items.length = Math.min(this.items.length, LIMIT);
    if (!n.read) this.unread += 1;
    this.available = true;
    this.root.dataset.available = 'true';
    this.render();
  }

  toggle(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.bell.setAttribute('aria-expanded', String(open));
    if (open) this.panel.querySelector('button, [tabindex]')?.focus();
    else this.bell.focus();
  }

  async markRead(id) {
    try {
      const n = await api(`/api/notifications/${encodeURIComponent(id)}/read`, { method: 'POST' });
      const i = this.items.findIndex((x) => x.notification_id === id);
      if (i >= 0 && !this.items[i].read) this.unread = Math.max(0, this.unread - 1);
      if (i >= 0) this.items[i] = { ...this.items[i], ...n, read: true };
      this.render();
      this.panel.focus(); // its button is gone: keep the focus in the panel
    } catch (e) {
      this.empty.textContent = `Cannot mark it read: ${e.message}`;
      this.empty.hidden = false;
    }
  }

  async markAll() {
    try {
      const r = await api('/api/notifications/read-all', { method: 'POST' });
      this.items = this.items.map((n) => ({ ...n, read: true }));
      this.unread = r && typeof r.unread_count === 'number' ? r.unread_count : 0;
      this.render();
      this.panel.focus(); // the button just hid itself: keep the focus in the panel
    } catch (e) {
      this.empty.textContent = `Cannot mark them read: ${e.message}`;
      this.empty.hidden = false;
    }
  }

  render() {
    this.count.textContent = String(this.unread);
    this.count.dataset.count = String(this.unread);
    this.readAll.hidden = !this.available || this.unread === 0;
    if (this.available) this.empty.textContent = 'No notifications.';
    this.empty.hidden = this.items.length > 0;
    this.list.replaceChildren(
      ...this.items.map((n) => {
        const li = el(
          'li',
          { class: n.read ? 'read' : 'unread', 'data-notification-id': n.notification_id },
          el('div', {}, el('div', { class: 'n-title' }, n.title || n.event_type), el('div', { class: 'n-body' }, n.body || '')),
        );
        if (!n.read) {
          const b = el('button', { type: 'button', class: 'link-btn' }, 'Mark read');
          b.setAttribute('aria-label', `Mark "${n.title || n.event_type}" read`);
          b.addEventListener('click', () => this.markRead(n.notification_id));
          li.append(b);
        }
        return li;
      }),
    );
  }
}

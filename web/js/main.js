// Wires the page: sign-in, then the dashboard (snapshot, stream, toasts,
// notifications, analytics).
import { api } from './api.js';
import { AnalyticsPanel } from './analytics.js';
import { setupOrderForm } from './form.js';
import { NotificationCenter } from './notifications.js';
import { OrderList, orderName } from './orders.js';
import { currentUser, showSignIn, signOut } from './session.js';
import { LiveStream } from './stream.js';
import { Toasts } from './toasts.js';

const $ = (id) => document.getElementById(id);
const STATE_TEXT = { live: 'Live', reconnecting: 'Reconnecting…', resyncing: 'Resyncing…', offline: 'Connecting…' };

function setConn(state) {
  const c = $('conn');
  c.dataset.state = state;
  $('conn-text').textContent = STATE_TEXT[state] || state;
}

async function boot() {
  let user;
  try {
    user = await currentUser();
  } catch (e) {
    $('signin').hidden = false;
    $('signin-error').textContent = `The server cannot be reached: ${e.message}`;
    return;
  }
  if (user) return dashboard(user);
  $('signin').hidden = false;
  showSignIn(
    {
      devBox: $('dev-signin'), list: $('users'), error: $('signin-error'),
      tokenForm: $('token-form'), tokenInput: $('token-input'),
    },
    (u) => {
      $('signin').hidden = true;
      dashboard(u);
    },
  );
}

async function dashboard(user) {
  $('dashboard').hidden = false;
  $('conn').hidden = false;
  $('who').hidden = false;
  $('notif').hidden = false;
  $('who-text').textContent = `${user.user_id} · ${user.tenant_id}`;
  $('signout').addEventListener('click', () => {
    stream.stop();
    signOut();
  });
  $('main').focus();

  const toasts = new Toasts($('toasts'));
  const orders = new OrderList({ body: $('order-rows'), empty: $('orders-empty'), count: $('order-count') });
  const analytics = new AnalyticsPanel({ figures: $('figures'), chart: $('chart') }, () => orders.createdTimes());
  const notes = new NotificationCenter({
    root: $('notif'), bell: $('bell'), count: $('unread'), panel: $('notif-panel'),
    list: $('notif-list'), empty: $('notif-empty'), readAll: $('read-all'),
  });

  // The snapshot is the order view at a position (its marker); the order API
  // adds creation times, for the order of the rows and the chart.
  async function loadSnapshot() {
    const [snap, list] = await Promise.all([
      api('/api/orders/snapshot'),
      api('/api/orders?limit=200').catch(() => null),
    ]);
    const created = new Map((list ? list.orders : []).map((o) => [o.order_id, Date.parse(o.created_at)]));
    orders.load(snap.orders, created);
    analytics.soon();
    return snap.last_event_id;
  }

  const stream = new LiveStream({
    onState: setConn,
    onOrder: (type, data) => {
      const e = orders.apply(type, data);
      if (e && type === 'order_paid') toasts.show(`Order ${orderName(e.order)} paid: ${e.order.total_amount} ${e.order.currency}`);
      analytics.soon();
    },
    onNotification: (n) => notes.add(n),
    onResync: loadSnapshot,
    onClosed: async () => {
      try {
        if (await currentUser()) return true;
      } catch {
        return true; // the server is away: keep trying
      }
      location.reload(); // signed out or expired: back to the sign-in page
      return false;
    },
  });

  setupOrderForm($('order-form'), $('form-status'), () => analytics.soon());
  setConn('offline');
  let marker = null;
  for (let wait = 1000; marker === null; wait = Math.min(wait * 2, 10000)) {
    try {
      marker = await loadSnapshot();
    } catch (e) {
      setConn('reconnecting');
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  await notes.load(); // before the stream, so that a live notification is not overwritten
  stream.start(marker);
  analytics.refresh();
}

boot();

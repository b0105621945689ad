// The tenant's order list: loaded from the snapshot, then changed in place
// by the stream's order events. Rows are keyed by order_id, newest first.
import { el } from './api.js';

const LABELS = {
  created: 'Created',
  paid: 'Paid',
  reserved: 'Reserved',
  fulfilled: 'Fulfilled',
  cancelled: 'Cancelled',
  payment_failed: 'Payment failed',
  out_of_stock: 'Out of stock',
};
const DEFAULT_STATUS = { order_created: 'created', order_paid: 'paid' };
const FLASH_MS = 2500;

export const statusLabel = (s) => LABELS[s] || (s ? s.replace(/_/g, ' ') : 'Unknown');
export const orderName = (o) => o.reference || o.order_id;

function time(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export class OrderList {
  constructor({ body, empty, count }) {
    this.body = body;
    this.empty = empty;
    this.count = count;
    this.orders = new Map(); // order_id -> {order, created, updated, row}
  }

  // Replaces everything with a snapshot; created maps order_id -> ms where
  // the order API told us (the snapshot has no creation time).
  load(rows, created = new Map()) {
    this.orders.clear();
    this.body.replaceChildren();
    const entries = rows.map((o) => {
      const updated = Date.parse(o.updated_at) || Date.now();
      return { order: { ...o }, created: created.get(o.order_id) ?? updated, updated };
    });
    entries.sort((a, b) => b.created - a.created);
    for (const e of entries) {
      e.row = this.renderRow(e);
      this.orders.set(e.order.order_id, e);
      this.body.append(e.row);
    }
    this.refreshCounts();
  }

  // Applies one stream event {event, data}; returns the entry, or null.
  apply(type, data) {
    if (!data || !data.order_id) return null;
    const ts = Date.parse(data.timestamp) || Date.now();
    let e = this.orders.get(data.order_id);
    const status = data.status || DEFAULT_STATUS[type];
    if (!e) {
      e = { order: { order_id: data.order_id }, created: ts, updated: ts };
      this.orders.set(data.order_id, e);
    }
    for (const k of ['reference', 'total_amount', 'currency']) if (data[k] != null) e.order[k] = data[k];
    if (status) e.order.status = status;
    e.updated = Math.max(e.updated, ts);
    const fresh = !e.row;
    const row = this.renderRow(e);
    if (fresh) this.insert(e, row);
    else e.row.replaceWith(row);
    e.row = row;
    this.flash(row);
    this.refreshCounts();
    return e;
  }

  insert(e, row) {
    for (const other of this.body.children) {
      const o = this.orders.get(other.dataset.orderId);
      if (o && o.created < e.created) {
        this.body.insertBefore(row, other);
        return;
      }
    }
    this.body.append(row);
  }

  renderRow(e) {
    const o = e.order;
    const total = o.total_amount ? `${o.total_amount} ${o.currency || ''}`.trim() : '—';
    return el(
      'tr',
      { 'data-order-id': o.order_id, 'data-status': o.status || '' },
      el('td', { class: 'ref' }, orderName(o)),
      el('td', { class: 'total' }, total),
      el('td', {}, el('span', { class: 'badge', 'data-status': o.status || '' }, statusLabel(o.status))),
      el('td', { class: 'col-time' }, el('time', { datetime: new Date(e.updated).toISOString() }, time(e.updated))),
    );
  }

  flash(row) {
    row.classList.add('flash');
    setTimeout(() => row.classList.remove('flash'), FLASH_MS);
  }

  refreshCounts() {
    this.empty.hidden = this.orders.size > 0;
    this.count.textContent = this.orders.size ? `(${this.orders.size})` : '';
  }

  createdTimes() {
    return [...this.orders.values()].map((e) => e.created);
  }
}

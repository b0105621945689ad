// Toasts: the region is aria-live="polite", so screen readers announce each
// one; at most MAX stay on screen (a replay after a reconnect can bring many).
import { el } from './api.js';

const MAX = 4;
const SHOW_MS = 6000;

export class Toasts {
  constructor(region) {
    this.region = region;
  }

  show(text, kind = 'info') {
    const close = el('button', { type: 'button', 'aria-label': 'Dismiss' }, '×');
    const toast = el('div', { class: `toast toast-${kind}` }, el('span', {}, text), close);
    close.addEventListener('click', () => toast.remove());
    this.region.append(toast);
    while (this.region.children.length > MAX) this.region.firstElementChild.remove();
    setTimeout(() => toast.remove(), SHOW_MS);
  }
}

// The analytics panel: a few figures from /api/analytics/summary and an
// inline SVG bar chart of orders per minute (from the order list's creation
// times, so it moves with the stream).
import { api, el } from './api.js';

const MINUTES = 15;
const SVG = 'http://www.w3.org/2000/svg';
const REFRESH_MS = 15000;
const DEBOUNCE_MS = 1500;

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

export function perMinute(times, now = Date.now()) {
  const end = Math.floor(now / 60000);
  const counts = new Array(MINUTES).fill(0);
  for (const t of times) {
    const i = MINUTES - 1 - (end - Math.floor(t / 60000));
    if (i >= 0 && i < MINUTES) counts[i] += 1;
  }
  return counts;
}

export class AnalyticsPanel {
  constructor({ figures, chart }, times) {
    Object.assign(this, { figures, chart, times });
    this.pending = null;
    this.interval = setInterval(() => this.refresh(), REFRESH_MS);
  }

  // Coalesces the refreshes that a burst of events asks for.
  soon() {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.refresh();
    }, DEBOUNCE_MS);
  }

  async refresh() {
    this.drawChart();
    let s;
    try {
      s = await api('/api/analytics/summary');
    } catch {
      return; // the figures stay as they were; the next refresh tries again
    }
    const paid = (s.payments && s.payments.succeeded) || 0; // paid ever, whatever came after
    const revenue = Object.entries(s.revenue || {}).map(([c, v]) => `${v} ${c}`).join(', ') || '0';
    const rate = s.payments && s.payments.success_rate != null ? `${Math.round(s.payments.success_rate * 100)} %` : '—';
    const p50 = s.latency_ms && s.latency_ms.p50 != null ? `${s.latency_ms.p50} ms` : '—';
    const figs = [
      ['Orders', s.orders_total ?? 0],
      ['Paid', paid],
      ['Revenue', revenue],
      ['Payment success', rate],
      ['Created → paid (p50)', p50],
    ];
    this.figures.replaceChildren(...figs.map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, String(v)))));
  }

  drawChart() {
    const counts = perMinute(this.times());
    const w = 300, h = 110, pad = 18, bw = (w - pad) / MINUTES;
    const max = Math.max(1, ...counts);
    const root = svg('svg', { viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc' });
    const desc = svg('desc', { id: 'chart-desc' });
    desc.textContent = `Oldest to newest minute: ${counts.join(', ')} orders.`;
    root.append(desc, svg('line', { class: 'axis', x1: pad, y1: h - pad, x2: w, y2: h - pad }));
    counts.forEach((c, i) => {
      const bh = ((h - 2 * pad) * c) / max;
      const rect = svg('rect', { class: 'bar-rect', x: pad + i * bw + 1, y: h - pad - bh, width: bw - 2, height: bh });
      const title = svg('title', {});
      title.textContent = `${MINUTES - 1 - i} min ago: ${c}`;
      rect.append(title);
      root.append(rect);
    });
    const top = svg('text', { x: 0, y: pad });
    top.textContent = String(max);
    const now = svg('text', { x: w - 20, y: h - 4 });
    now.textContent = 'now';
    root.append(top, now);
    this.chart.replaceChildren(root);
  }
}

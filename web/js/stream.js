// The live stream: one EventSource on /api/sse/notifications (the cookie
// authenticates it). States: live, reconnecting, resyncing.
//   - The browser reconnects by itself after a network error and sends its
//     own Last-Event-ID header: the server replays what was missed.
//   - When the browser gives up (an HTTP error answer, e.g. 503 while the
//     server restarts), we open a new EventSource from the last id seen,
//     passed as ?last_event_id= (a new EventSource has no Last-Event-ID).
//   - `event: resync` means the server cannot replay from our position: we
//     reload the snapshot and reconnect from its marker.
export const ORDER_EVENTS = ['order_created', 'order_paid', 'order_status_updated'];
const URL_SSE = '/api/sse/notifications';
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 15000;

export class LiveStream {
  constructor({ onOrder, onNotification, onState, onResync, onClosed }) {
    Object.assign(this, { onOrder, onNotification, onState, onResync, onClosed });
    this.es = null;
    this.lastId = null; // the newest position received (a string, as sent)
    this.retryMs = RETRY_MIN_MS;
    this.timer = null;
    this.stopped = false;
  }

  start(marker) {
    this.lastId = marker != null ? String(marker) : null;
    this.open();
  }

  open() {
    this.close();
    this.stopped = false;
    const url = this.lastId ? `${URL_SSE}?last_event_id=${encodeURIComponent(this.lastId)}` : URL_SSE;
    const es = new EventSource(url, { withCredentials: true });
    this.es = es;
    es.addEventListener('connection', () => {
      this.retryMs = RETRY_MIN_MS;
      this.onState('live');
    });
    es.addEventListener('error', () => {
      if (this.es !== es) return;
      this.onState('reconnecting');
      if (es.readyState === EventSource.CLOSED) this.retryLater();
    });
    for (const type of ORDER_EVENTS) {
      es.addEventListener(type, (ev) => {
        if (this.es !== es) return;
        const pos = Number(ev.lastEventId);
        if (ev.lastEventId) this.lastId = ev.lastEventId;
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        this.onOrder(type, msg.data || {}, pos);
      });
    }
    es.addEventListener('notification', (ev) => {
      try {
        this.onNotification(JSON.parse(ev.data));
      } catch {
        /* a malformed frame is skipped */
      }
    });
    es.addEventListener('resync', () => this.resync(es));
  }

  async resync(es) {
    if (this.es !== es) return;
    this.close();
    this.onState('resyncing');
    try {
      const marker = await this.onResync();
      this.lastId = marker != null ? String(marker) : null;
      this.open();
    } catch {
      this.retryLater();
    }
  }

  retryLater() {
    this.close();
    if (this.stopped) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.timer = setTimeout(async () => {
      this.timer = null;
      // A 401 (expired session) must not loop: the page decides.
      if (this.onClosed && (await this.onClosed()) === false) return;
      this.open();
    }, wait);
  }

  close() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.es) this.es.close();
    this.es = null;
  }

  stop() {
    this.stopped = true;
    this.close();
  }
}

// The dashboard in headless Chromium against a real `orderpulse dev`.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  apiGet, cookieOf, freePort, launchBrowser, newPage, placeOrder, removeDir, renderedRows,
  screenshotPath, signIn, startDev, STEP_MS, tempDir, until,
} from './lib.js';

const PAID = ['paid', 'reserved', 'fulfilled'];

describe('dashboard', () => {
  let dev, dir, browser;
  before(async () => {
    dir = tempDir('dash');
    dev = await startDev({ port: await freePort(), dataDir: dir });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    const code = await dev?.stop();
    removeDir(dir);
    assert.equal(code, 0, `orderpulse dev exited with ${code}\n${dev?.log()}`);
  });

  test('sign in, place an order: it appears and turns paid without a reload, with a toast', async () => {
    const { context, page, errors } = await newPage(browser);
    let navigations = 0;
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) navigations += 1;
    });
    await signIn(page, dev.url, 'u_acme_owner');
    const before = navigations;
    await page.evaluate(() => {
      window.__e2eMark = 'still-here';
    });

    await page.locator('#f-sku').selectOption('sku_tee');
    await page.locator('#f-qty').fill('2');
    await page.locator('#f-ref').fill('E2E-FIRST');
    const toast = page.locator('#toasts .toast', { hasText: 'E2E-FIRST paid' });
    await page.locator('#f-submit').click();
    await page.locator('#form-status', { hasText: 'placed' }).waitFor();

    const row = page.locator('#order-rows tr', { hasText: 'E2E-FIRST' });
    await row.waitFor();
    await toast.waitFor();
    await until('the row to turn paid', async () => PAID.includes(await row.getAttribute('data-status')), STEP_MS);
    assert.match(await row.locator('.total').textContent(), /39\.80 EUR/);
    assert.match(await row.locator('.badge').textContent(), /Paid|Reserved|Fulfilled/);

    assert.equal(navigations, before, 'the page navigated');
    assert.equal(await page.evaluate(() => window.__e2eMark), 'still-here', 'the page was reloaded');
    await page.screenshot({ path: screenshotPath('dashboard.png'), fullPage: true });
    // A narrow phone: nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 740 });
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 360), 'wider than 360 px');
    await page.screenshot({ path: screenshotPath('dashboard-360.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the unread count follows new notifications and mark all read', async (t) => {
    const cookie = await cookieOf(dev.url, 'u_acme_owner');
    const probe = await apiGet(dev.url, cookie, '/api/notifications?limit=1');
    if (probe.status === 404) {
      t.skip('the inbox API (/api/notifications) is not on this build yet: 404');
      return;
    }
    const { context, page, errors } = await newPage(browser);
    await signIn(page, dev.url, 'u_acme_owner');
    await page.locator('#notif[data-available="true"]').waitFor();
    const count = async () => Number(await page.locator('#unread').getAttribute('data-count'));
    const start = await count();
    await placeOrder(dev.url, cookie, 'E2E-NOTE');
    await until('the unread count to grow', async () => (await count()) > start, STEP_MS);
    await page.locator('#bell').click();
    await page.locator('#notif-list li.unread').first().waitFor();
    await page.locator('#read-all').click();
    await until('the unread count to be 0', async () => (await count()) === 0, STEP_MS);
    const after = await apiGet(dev.url, cookie, '/api/notifications?unread=true');
    assert.equal(after.body.unread_count, 0);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('the notification center against a stubbed inbox API (the shapes of people.md)', async () => {
    const { context, page, errors } = await newPage(browser);
    const note = (i, read) => ({
      notification_id: `n_${i}`, event_type: 'order_paid', template: 'order_paid', order_id: `ord_${i}`,
      title: `Order A-${i} paid`, body: '129.90 EUR', data: {}, created_at: new Date().toISOString(),
      read, read_at: read ? new Date().toISOString() : null,
    });
    let items = [note(3, false), note(2, false), note(1, true)];
    const calls = [];
    await page.route('**/api/notifications**', async (route) => {
      const req = route.request();
      const url = new URL(req.url());
      calls.push(`${req.method()} ${url.pathname}`);
      const unread = () => items.filter((n) => !n.read).length;
      let body;
      if (req.method() === 'GET') body = { notifications: items, unread_count: unread(), next_cursor: null };
      else if (url.pathname.endsWith('/read-all')) {
        const marked = unread();
        items = items.map((n) => ({ ...n, read: true }));
        body = { marked, unread_count: 0 };
      } else {
        const id = url.pathname.split('/')[3];
        items = items.map((n) => (n.notification_id === id ? { ...n, read: true } : n));
        body = items.find((n) => n.notification_id === id);
      }
      await route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
    });
    await signIn(page, dev.url, 'u_acme_owner');
    const count = page.locator('#unread');
    await page.locator('#unread[data-count="2"]').waitFor();
    await page.locator('#bell').press('Enter'); // keyboard
    assert.equal(await page.locator('#bell').getAttribute('aria-expanded'), 'true');
    assert.equal(await page.locator('#notif-list li').count(), 3);
    await page.locator('#notif-list li[data-notification-id="n_3"] button').click();
    await page.locator('#unread[data-count="1"]').waitFor();
    assert.equal(await page.locator('#notif-list li.unread').count(), 1);
    await page.locator('#read-all').click();
    await page.locator('#unread[data-count="0"]').waitFor();
    assert.equal(await page.locator('#notif-list li.unread').count(), 0);
    assert.equal(await count.textContent(), '0');
    await page.keyboard.press('Escape');
    assert.ok(await page.locator('#notif-panel').isHidden());
    assert.deepEqual(calls.filter((c) => c.startsWith('POST')), [
      'POST /api/notifications/n_3/read',
      'POST /api/notifications/read-all',
    ]);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('two tenants in two browser contexts never see each other\'s orders', async () => {
    const a = await newPage(browser);
    const b = await newPage(browser);
    await signIn(a.page, dev.url, 'u_acme_staff');
    await signIn(b.page, dev.url, 'u_globex_staff');
    const acme = await cookieOf(dev.url, 'u_acme_owner');
    const globex = await cookieOf(dev.url, 'u_globex_owner');
    const mine = [];
    for (let i = 0; i < 3; i++) {
      mine.push(['a', (await placeOrder(dev.url, acme, `E2E-ACME-${i}`)).order_id]);
      mine.push(['b', (await placeOrder(dev.url, globex, `E2E-GLOBEX-${i}`)).order_id]);
    }
    for (const [who, id] of mine) {
      const page = who === 'a' ? a.page : b.page;
      await page.locator(`#order-rows tr[data-order-id="${id}"]`).waitFor();
    }
    const rowsA = await renderedRows(a.page);
    const rowsB = await renderedRows(b.page);
    const idsOf = async (cookie) => new Set((await apiGet(dev.url, cookie, '/api/orders?limit=200')).body.orders.map((o) => o.order_id));
    const apiA = await idsOf(acme);
    const apiB = await idsOf(globex);
    for (const r of rowsA) assert.ok(apiA.has(r.id) && !apiB.has(r.id), `acme's page shows ${r.ref}`);
    for (const r of rowsB) assert.ok(apiB.has(r.id) && !apiA.has(r.id), `globex's page shows ${r.ref}`);
    assert.ok(!rowsA.some((r) => r.ref.includes('GLOBEX')));
    assert.ok(!rowsB.some((r) => r.ref.includes('ACME')));
    assert.deepEqual([...a.errors, ...b.errors], []);
    await a.context.close();
    await b.context.close();
  });
});

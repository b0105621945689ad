// Production sign-in: `orderpulse notify` alone (as in production, with the
// Kafka broker as its own process) serves the page, which has no demo users
// and offers the token form. A token from the shop's identity provider is
// pasted, POSTed to /api/session and kept as the HttpOnly cookie.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, launchBrowser, newPage, removeDir, signToken, startBroker, startDev, tempDir } from './lib.js';

test('sign in with an access token against orderpulse notify', async () => {
  const dir = tempDir('token');
  const broker = await startBroker(dir);
  let notify = null;
  let browser = null;
  try {
    notify = await startDev({ command: 'notify', port: await freePort(), dataDir: dir, kafkaBrokers: broker.bootstrap });
    browser = await launchBrowser();
    const { context, page, errors } = await newPage(browser);
    await page.goto(notify.url);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    assert.ok(await page.locator('#dev-signin').isHidden(), 'the demo users are shown in production');
    assert.equal(await page.locator('#users button').count(), 0);
    assert.ok(await page.evaluate(() => document.activeElement.id === 'token-input'), 'the field has the focus');

    const now = Math.floor(Date.now() / 1000);
    // Refused tokens: an error on the page, no cookie.
    for (const bad of ['not-a-token', signToken({ sub: 'u_prod', tenant_id: 't_prod', exp: now - 3600 })]) {
      await page.locator('#token-input').fill(bad);
      await page.locator('#token-submit').click();
      await page.locator('#signin-error', { hasText: 'not valid' }).waitFor();
      assert.deepEqual(await context.cookies(), []);
    }

    const token = signToken({ sub: 'u_prod', tenant_id: 't_prod', roles: ['Owner'], exp: now + 3600 });
    await page.locator('#token-input').fill(token);
    await page.locator('#token-input').press('Tab');
    await page.keyboard.press('Enter'); // the submit button, by keyboard
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('#conn[data-state="live"]').waitFor();
    await page.locator('#orders-empty').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#order-rows tr').count(), 0);
    assert.match(await page.locator('#who-text').textContent(), /u_prod · t_prod/);
    assert.equal(await page.locator('#token-input').inputValue(), '', 'the page keeps a copy of the token');
    const [cookie] = await context.cookies();
    assert.equal(cookie.name, 'op_token');
    assert.equal(cookie.value, token);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.ok(Math.abs(cookie.expires - (now + 3600)) < 120, `expires ${cookie.expires}`);

    // The cookie alone brings the page back to the dashboard.
    await page.reload();
    await page.locator('#conn[data-state="live"]').waitFor();
    assert.ok(await page.locator('#signin').isHidden());

    await page.locator('#signout').click();
    await page.locator('#token-form').waitFor({ state: 'visible' });
    assert.deepEqual(await context.cookies(), []);
    assert.deepEqual(errors, []);
    await context.close();
  } finally {
    await browser?.close();
    const code = await notify?.stop();
    const brokerCode = await broker.stop();
    removeDir(dir);
    assert.equal(code, 0, `orderpulse notify exited with ${code}\n${notify?.log()}`);
    assert.equal(brokerCode, 0, `orderpulse broker exited with ${brokerCode}`);
  }
});

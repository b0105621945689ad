// The test-order form: POST /api/orders with an Idempotency-Key. The key is
// kept until the order is accepted, so a retry after a network error cannot
// place the order twice; any edit starts a new order (a new key).
import { api, uuid } from './api.js';

const CATALOGUE = [
  ['sku_tee', 'T-shirt', '19.90'],
  ['sku_mug', 'Mug', '12.50'],
  ['sku_cap', 'Cap', '15.00'],
  ['sku_poster', 'Poster', '9.99'],
  ['sku_socks', 'Socks', '7.25'],
  ['sku_hoodie', 'Hoodie', '49.00'],
];
const PRICE = /^[0-9]{1,12}(\.[0-9]{1,4})?$/;

export function setupOrderForm(form, status, onPlaced) {
  const sku = form.elements.sku;
  const price = form.elements.unit_price;
  const submit = form.querySelector('button[type="submit"]');
  let key = null;
  sku.replaceChildren(...CATALOGUE.map(([v, name, p]) => new Option(`${name} (${v}) — ${p}`, v)));
  const syncPrice = () => {
    price.value = CATALOGUE.find(([v]) => v === sku.value)[2];
  };
  sku.addEventListener('change', syncPrice);
  syncPrice();
  form.addEventListener('input', () => {
    key = null;
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const qty = Number(form.elements.qty.value);
    const bad = [];
    const qtyOk = Number.isInteger(qty) && qty >= 1 && qty <= 1000;
    const priceOk = PRICE.test(price.value.trim());
    form.elements.qty.setAttribute('aria-invalid', String(!qtyOk));
    price.setAttribute('aria-invalid', String(!priceOk));
    if (!qtyOk) bad.push('quantity (a whole number from 1 to 1000)');
    if (!priceOk) bad.push('unit price (e.g. 19.90)');
    if (bad.length) {
      status.textContent = `Please check the ${bad.join(' and ')}.`;
      (qtyOk ? price : form.elements.qty).focus();
      return;
    }
    const body = {
      currency: form.elements.currency.value,
      line_items: [{ sku: sku.value, qty, unit_price: price.value.trim() }],
    };
    const ref = form.elements.reference.value.trim();
    if (ref) body.reference = ref;
    key = key || uuid();
    submit.disabled = true;
    status.textContent = 'Placing the order…';
    try {
      const order = await api('/api/orders', { method: 'POST', body, headers: { 'Idempotency-Key': key } });
      key = null;
      status.textContent = `Order ${order.reference || order.order_id} placed: ${order.total_amount} ${order.currency}.`;
      form.elements.reference.value = '';
      onPlaced(order);
    } catch (err) {
      status.textContent = `The order was not placed: ${err.message}.`;
    } finally {
      submit.disabled = false;
    }
  });
}

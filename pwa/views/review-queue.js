// Reviewer: flagged-photo queue, alert feed and drift charts (docs/review-and-drift.md).
// Each panel degrades to a plain message when its endpoint is missing (404) or unreachable.

import { api, ApiError } from '../lib/api.js';
import { html, render } from '../lib/html.js';
import { reasonText, t, when } from '../i18n/index.js';

const MAX_CHARTS = 3;

/** GET that turns 404/501, 5xx and network failures into null, so panels degrade gracefully. */
export async function optional(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 501 || err.status === 0 || err.status >= 500)) return null;
    throw err;
  }
}

const items = (data) => (Array.isArray(data) ? data : data?.items ?? data?.results ?? []);

export { reasonText };

/** Filters the server applies (docs/review-and-drift.md), plus the day a photo was taken (here). */
const FILTERS = ['purchase_order_id', 'product_id', 'batch_id', 'factory_id', 'state'];

function optionsOf(list) {
  const uniq = (pairs) => [...new Map(pairs.filter(([id]) => id)).entries()];
  return {
    purchase_order_id: uniq(list.map((p) => [p.purchase_order?.id, p.purchase_order?.po_number])),
    product_id: uniq(list.map((p) => [p.product?.id, p.product?.name])),
    batch_id: uniq(list.map((p) => [p.batch?.id, p.batch?.code])),
    factory_id: uniq(list.map((p) => [p.factory_id, p.factory_name ?? String(p.factory_id).slice(0, 8)])),
  };
}

function filtersHtml(opts, chosen) {
  const select = (name, label, pairs) => html`<div><label for="f-${name}">${label}</label>
    <select id="f-${name}" data-filter="${name}"><option value="">${t('review.filter.any')}</option>
      ${pairs.map(([id, text]) => html`<option value="${id}" ${chosen[name] === id ? 'selected' : ''}>${text}</option>`)}</select></div>`;
  const states = ['pending', 'accepted', 'rejected', 'retake', 'all'].map((s) => [s, t(`review.state.${s}`)]);
  return html`<form class="filters grid2" data-testid="review-filters">
    ${select('purchase_order_id', t('list.po'), opts.purchase_order_id)}
    ${select('factory_id', t('list.factory'), opts.factory_id)}
    ${select('product_id', t('review.filter.product'), opts.product_id)}
    ${select('batch_id', t('review.filter.batch'), opts.batch_id)}
    <div><label for="f-state">${t('review.filter.status')}</label>
      <select id="f-state" data-filter="state">${states.map(([v, text]) => html`<option value="${v}" ${(chosen.state ?? 'pending') === v ? 'selected' : ''}>${text}</option>`)}</select></div>
    <div><label for="f-date">${t('review.filter.date')}</label>
      <input id="f-date" type="date" data-filter="date" value="${chosen.date ?? ''}"></div>
  </form>`;
}

function queueHtml(queue) {
  if (queue === null) return html`<p class="notice" data-testid="review-unavailable">${t('review.unavailable')}</p>`;
  if (!items(queue).length) return html`<p class="muted" data-testid="review-empty">${t('review.empty')}</p>`;
  return html`<ul class="cards" data-testid="review-queue">${items(queue).map((p) => html`<li>
    <a class="card review-card severity-${p.severity ?? 'low'}" href="#/review/${p.photo_id}">
      ${p.photo_url ? html`<img src="${p.photo_url}" alt="" loading="lazy">` : ''}
      <span><strong>${p.purchase_order?.po_number ?? ''}</strong> · ${p.product?.name ?? ''}${p.batch ? html` · ${p.batch.code}` : ''}</span>
      <span class="badge warn">${t(`review.severity.${p.severity ?? 'low'}`)}</span>
      <span class="muted" data-testid="flag-reasons">${(p.flag_reasons ?? []).map(reasonText).join(', ')}${p.flagged_by_inspector ? ` ${t('review.byInspector')}` : ''}</span>
    </a></li>`)}</ul>`;
}

function alertsHtml(list, charts) {
  const series = charts.filter(Boolean).flatMap((c) => (c.series ?? []).filter((x) => x.svg_url)
    .map((x) => ({ ...x, batch_code: c.batch_code })));
  return html`<h2 id="alerts-h">${t('review.alerts')}</h2>
    ${list.length ? html`<ul class="plain alerts" data-testid="alert-feed">${list.map((x) => html`
      <li class="alert level-${x.level}" data-alert="${x.id}"><strong>${x.batch_code ? `${x.batch_code} · ` : ''}${x.standard_name ?? x.kind ?? ''}</strong> — ${x.message ?? x.direction ?? ''}
        <span class="muted">${x.opened_at ? when(Date.parse(x.opened_at)) : ''} · ${reasonText(x.level ?? '')} · ${t(`review.alertStatus.${x.status}`)}</span>
        ${x.status === 'open' ? html`<button type="button" class="small" data-ack="${x.id}">${t('review.ack')}</button>` : ''}
        <span class="saved" role="status" aria-live="polite"></span></li>`)}</ul>`
      : html`<p class="muted">${t('review.noAlerts')}</p>`}
    ${series.map((c) => html`<h3>${t('review.drift')}${c.batch_code ? ` · ${c.batch_code}` : ''}${c.standard_name ? ` · ${c.standard_name}` : ''}</h3>
      <img class="chart" src="${c.svg_url}" alt="${t('review.driftAlt')}" data-testid="drift-chart">`)}`;
}

/** Show the review queue and the alert feed. */
export async function show(root) {
  const route = root.dataset.route;
  render(root, html`
    <h1>${t('review.title')}</h1>
    <section id="filters"></section>
    <section id="queue" class="card" aria-busy="true"><p class="muted">${t('app.loading')}</p></section>
    <section id="alerts" class="card" aria-labelledby="alerts-h"><h2 id="alerts-h">${t('review.alerts')}</h2><p class="muted">${t('app.loading')}</p></section>`);
  const chosen = {};
  let options = null;
  const loadQueue = async () => {
    const qs = new URLSearchParams(Object.entries(chosen).filter(([k, v]) => v && FILTERS.includes(k)));
    const queue = await optional(`/api/v1/review/queue${qs.size ? `?${qs}` : ''}`);
    if (root.dataset.route !== route) return;
    if (!options && queue) options = optionsOf(items(queue));
    if (options) render(root.querySelector('#filters'), filtersHtml(options, chosen));
    let shown = queue;
    if (queue && chosen.date) {
      shown = items(queue).filter((p) => (p.taken_at ?? p.created_at ?? '').slice(0, 10) === chosen.date);
    }
    const q = root.querySelector('#queue');
    q.setAttribute('aria-busy', 'false');
    render(q, queueHtml(shown));
  };
  root.querySelector('#filters').addEventListener('change', (e) => {
    const name = e.target.dataset.filter;
    if (!name) return;
    chosen[name] = e.target.value;
    loadQueue();
  });
  const [, alerts] = await Promise.all([loadQueue(), optional('/api/v1/review/alerts?status=active')]);
  if (root.dataset.route !== route) return;
  const a = root.querySelector('#alerts');
  if (alerts === null) {
    render(a, html`<h2 id="alerts-h">${t('review.alerts')}</h2><p class="notice">${t('review.unavailable')}</p>`);
    return;
  }
  const list = items(alerts);
  const batches = [...new Set(list.map((x) => x.batch_id).filter(Boolean))].slice(0, MAX_CHARTS);
  // The chart links are per series: {batch_code, series: [{standard_name, svg_url, ...}]}.
  const charts = await Promise.all(batches.map((b) => optional(`/api/v1/review/batches/${b}/drift`)));
  if (root.dataset.route !== route) return;
  render(a, alertsHtml(list, charts));
  a.addEventListener('click', async (e) => {
    const button = e.target.closest('[data-ack]');
    if (!button) return;
    const status = button.parentElement.querySelector('.saved');
    button.disabled = true;
    try {
      const done = await api(`/api/v1/review/alerts/${button.dataset.ack}/acknowledge`, { method: 'POST', body: { note: '' } });
      status.textContent = t('review.acked');
      status.dataset.level = 'ok';
      button.remove();
      const x = list.find((y) => y.id === done?.id);
      if (x) x.status = done.status;
    } catch (err) {
      button.disabled = false;
      status.textContent = err instanceof ApiError && err.status === 0 ? t('review.offline') : err.message;
      status.dataset.level = 'error';
    }
  });
}

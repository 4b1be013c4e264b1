// PO timeline: one purchase order top to bottom (GET /api/v1/purchase-orders/{id}/timeline,
// docs/timeline.md): what needs attention first (alerts and overdue issues, with one-tap
// "Acknowledge" / "Open issue" where the role may), the milestones in process order (planned,
// forecast and actual dates; status in colour and words), production progress per line,
// inspections with verdicts, open issues and freight readiness.
// Contract: show(root, ctx, poId) renders into root and returns a cleanup; fetches through
// lib/api.js; renders only through lib/html.js. Online data: the last answer is kept in
// IndexedDB (kv "timeline:<id>") and shown offline with "as of <time>".

import { api, ApiError } from '../lib/api.js';
import { getRecord } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { t } from '../i18n/index.js';
import { failure, fetchCached, freshness, riskBadge } from './po-list.js';

const SEVERITY_CLASS = { critical: 'bad', high: 'bad', warning: 'warn', medium: 'warn', info: 'info', low: 'info' };
const STATUS_CLASS = { done: 'ok', on_track: 'info', at_risk: 'warn', late: 'bad', not_planned: 'info' };

/** Brand editors and factory managers/admins may acknowledge alerts and open issues; inspectors may not. */
export function canAct(ctx) {
  const roles = ctx.roles();
  return roles.has('brand_reviewer') || roles.has('admin') || roles.has('factory_manager');
}

const sev = (s) => html`<span class="badge sev-${SEVERITY_CLASS[s] ?? 'info'}">${t(`po.severity.${s}`)}</span>`;
const date = (d) => (d ? String(d).slice(0, 10) : '—');
const WITH_SUBJECT = new Set(['golden_sample_approved', 'materials_procured']);

/** A translated name for a milestone, alert or issue kind (the server's English as a fallback). */
function kindLabel(prefix, kind, fallback) {
  const key = `po.${prefix}.${kind}`;
  const s = t(key);
  return s === key ? (fallback || kind) : s;
}
const milestoneLabel = (m) => `${kindLabel('ms', m.kind, m.label)}${WITH_SUBJECT.has(m.kind) && m.subject ? `: ${m.subject}` : ''}`;
const ATT_PREFIX = { alert: 'alertKind', issue: 'issueType', milestone: 'ms' };

function attentionHtml(data, ctx) {
  const alerts = new Map((data.alerts ?? []).map((a) => [a.id, a]));
  const items = data.attention ?? [];
  const act = canAct(ctx);
  return html`<section class="card attention" aria-labelledby="att-h" data-testid="attention">
    <h2 id="att-h">${t('po.attention')}</h2>
    ${items.length ? html`<ul class="plain">${items.map((x) => {
      const alert = x.type === 'alert' ? alerts.get(x.id) : null;
      return html`<li class="att sev-edge-${SEVERITY_CLASS[x.severity] ?? 'info'}" data-testid="att-${x.type}-${x.kind}">
        <p class="row"><strong>${kindLabel(ATT_PREFIX[x.type] ?? 'x', x.kind, t(`po.attType.${x.type}`))}</strong>${sev(x.severity)}</p>
        <p>${x.message}</p>
        ${alert?.status === 'acknowledged' ? html`<p class="muted small-text">${t('po.acknowledged')}</p>` : ''}
        ${alert && act ? html`<p class="inline">
          ${alert.status === 'open' ? html`<button type="button" class="small" data-ack="${alert.id}">${t('po.acknowledge')}</button>` : ''}
          <button type="button" class="small" data-issue="${alert.id}">${t('po.openIssue')}</button></p>` : ''}
      </li>`;
    })}</ul>` : html`<p class="muted">${t('po.nothing')}</p>`}
    <p class="saved" role="status" data-testid="action-status"></p>
  </section>`;
}

function milestonesHtml(data) {
  return html`<section class="card" aria-labelledby="ms-h">
    <h2 id="ms-h">${t('po.milestones')}</h2>
    <ol class="timeline" data-testid="milestones">${(data.milestones ?? []).map((m) => html`
      <li class="ms ms-${STATUS_CLASS[m.status] ?? 'info'}" data-kind="${m.kind}">
        <p class="row"><strong>${milestoneLabel(m)}</strong>
          <span class="badge st-${STATUS_CLASS[m.status] ?? 'info'}">${t(`po.status.${m.status}`)}</span></p>
        <dl class="dates">
          <div><dt>${t('po.planned')}</dt><dd>${date(m.planned_date)}</dd></div>
          <div><dt>${t('po.forecast')}</dt><dd>${date(m.forecast_date)}</dd></div>
          <div><dt>${t('po.actual')}</dt><dd>${date(m.actual_date)}</dd></div>
        </dl>
        ${m.details?.missing?.length ? html`<p class="small-text">${t('po.missingDocs', { list: m.details.missing.join(', ') })}</p>` : ''}
      </li>`)}</ol>
  </section>`;
}

function forecastHtml(f) {
  if (!f) return '';
  return html`<p data-testid="forecast">${t('po.produced', { done: f.produced_units ?? 0, total: f.total_units ?? 0 })}
    ${f.completion_date ? html` · ${t('po.completion', { date: f.completion_date })}` : ''}
    ${f.needed_by ? html` · ${t('po.neededBy', { date: f.needed_by })}` : ''}
    ${typeof f.slack_days === 'number' && f.slack_days < 0 ? html` · <strong class="bad-text">${t('po.lateBy', { n: -f.slack_days })}</strong>` : ''}</p>`;
}

function progressHtml(data) {
  const lines = data.progress ?? [];
  if (!lines.length) return '';
  return html`<section class="card" aria-labelledby="pr-h">
    <h2 id="pr-h">${t('po.progress')}</h2>
    <ul class="plain">${lines.map((l, i) => html`<li class="progress-line">
      <p class="row"><span>${l.sku}</span><span>${t('po.units', { done: l.produced_units, total: l.ordered_units })}</span></p>
      <div class="meter" role="img" aria-label="${t('po.units', { done: l.produced_units, total: l.ordered_units })}"><div class="meter-fill" data-line="${i}"></div></div>
    </li>`)}</ul>
  </section>`;
}

function inspectionsHtml(data, offline) {
  const list = data.inspections ?? [];
  return html`<section class="card" aria-labelledby="in-h">
    <h2 id="in-h">${t('po.inspections')}</h2>
    ${list.length ? html`<ul class="plain">${list.map((i) => {
      const text = html`${t(`kind.${i.kind}`)} · ${t(`status.${i.status}`)} · ${date(i.scheduled_for)}`;
      return html`<li class="row insp-row">
        ${offline.has(i.id) ? html`<a href="#/inspection/${i.id}">${text}</a>` : html`<span>${text}</span>`}
        <span class="badge verdict-badge-${i.verdict ?? 'pending'}">${t(`verdict.${i.verdict === 'pass' || i.verdict === 'fail' ? i.verdict : 'pending'}`)}</span>
      </li>`;
    })}</ul>` : html`<p class="muted">${t('po.none')}</p>`}
  </section>`;
}

function issuesHtml(data) {
  const list = data.issues ?? [];
  return html`<section class="card" aria-labelledby="is-h">
    <h2 id="is-h">${t('po.issues')}</h2>
    ${list.length ? html`<ul class="plain" data-testid="issues">${list.map((i) => html`<li class="issue-row${i.overdue ? ' overdue' : ''}">
      <p class="row"><strong>${i.title}</strong>${sev(i.severity)}</p>
      <p class="small-text">${t(`po.issueStatus.${i.status}`)} · ${t('po.due', { date: date(i.due_date) })}
        ${i.overdue ? html` · <strong class="bad-text">${t('po.overdue')}</strong>` : ''}</p>
    </li>`)}</ul>` : html`<p class="muted">${t('po.none')}</p>`}
  </section>`;
}

function freightHtml(data) {
  const list = data.shipments ?? [];
  if (!list.length) return '';
  return html`<section class="card" aria-labelledby="fr-h">
    <h2 id="fr-h">${t('po.freight')}</h2>
    <ul class="plain">${list.map(({ shipment: s, packing: p, missing_documents: missing }) => html`<li class="freight">
      <p><strong>${s.reference ?? s.booking_number ?? '—'}</strong>${s.booking_number ? ` · ${t('po.booking', { n: s.booking_number })}` : ''}</p>
      <p class="small-text">${t('po.cutoff', { date: date(s.cargo_cutoff) })} · ${t('po.etd', { date: date(s.etd) })}</p>
      <p class="small-text">${p?.ok ? html`<span class="badge st-ok">${t('po.packingOk')}</span>`
        : html`<span class="badge st-warn">${t('po.packingShort', { packed: p?.total_units ?? 0 })}</span>`}
        ${missing?.length ? html` <span class="badge st-warn">${t('po.docsMissing', { n: missing.length })}</span>`
        : html` <span class="badge st-ok">${t('po.docsOk')}</span>`}</p>
    </li>`)}</ul>
  </section>`;
}

/** Show the timeline of one PO. */
export async function show(root, ctx, poId) {
  const route = root.dataset.route;
  const here = () => root.dataset.route === route;
  const title = html`<p><a class="back" href="#/pos">${t('nav.back')}</a></p>`;
  render(root, html`${title}<h1>${t('timeline.title')}</h1><p class="muted" aria-busy="true">${t('app.loading')}</p>`);

  const draw = async (message) => {
    let result;
    try {
      result = await fetchCached(`/api/v1/purchase-orders/${poId}/timeline`, `timeline:${poId}`, ctx.session?.user?.id);
    } catch (err) {
      if (here()) render(root, html`${title}<h1>${t('timeline.title')}</h1><p class="notice" data-testid="po-error">${failure(err)}</p>`);
      return;
    }
    const data = result.data;
    const offline = new Set();
    for (const i of data?.inspections ?? []) {
      try { if (await getRecord('inspection', i.id)) offline.add(i.id); } catch { /* not on this phone */ }
    }
    if (!here()) return;
    if (!data) {
      render(root, html`${title}<h1>${t('timeline.title')}</h1>${freshness(result)}<p class="muted" data-testid="po-nocache">${t('po.noCopy')}</p>`);
      return;
    }
    const po = data.purchase_order ?? {};
    render(root, html`${title}
      <h1 class="row"><span>${po.po_number}</span>${riskBadge(data.risk)}</h1>
      ${freshness(result)}
      <p class="muted small-text">${t('po.shipDate')}: ${date(po.planned_ship_date)}${po.destination ? ` · ${po.destination}` : ''}</p>
      ${forecastHtml(data.forecast)}
      ${attentionHtml(data, ctx)}
      ${milestonesHtml(data)}
      ${progressHtml(data)}
      ${inspectionsHtml(data, offline)}
      ${issuesHtml(data)}
      ${freightHtml(data)}`);
    // Bar widths through element.style (CSP: no inline style attributes).
    (data.progress ?? []).forEach((l, i) => {
      const bar = root.querySelector(`.meter-fill[data-line="${i}"]`);
      const pct = l.ordered_units ? Math.min(100, Math.round((100 * l.produced_units) / l.ordered_units)) : 0;
      if (bar) bar.style.width = `${pct}%`;
    });
    const status = root.querySelector('[data-testid="action-status"]');
    if (message && status) { status.textContent = message.text; status.dataset.level = message.level; }
    if (!result.live) root.querySelectorAll('[data-ack], [data-issue]').forEach((b) => { b.disabled = true; });
    const act = async (button, path, done) => {
      button.disabled = true;
      try {
        await api(path, { method: 'POST' });
        await draw({ text: done, level: 'ok' });
      } catch (err) {
        button.disabled = false;
        const text = err instanceof ApiError && err.status === 0 ? t('po.actionOffline') : t('po.actionFailed', { detail: err.message });
        if (here() && status) { status.textContent = text; status.dataset.level = 'error'; }
      }
    };
    root.querySelectorAll('[data-ack]').forEach((b) => b.addEventListener('click', () => act(b, `/api/v1/alerts/${b.dataset.ack}/acknowledge`, t('po.ackDone'))));
    root.querySelectorAll('[data-issue]').forEach((b) => b.addEventListener('click', () => act(b, `/api/v1/alerts/${b.dataset.issue}/issue`, t('po.issueDone'))));
  };
  await draw();
}

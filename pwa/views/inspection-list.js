// The inspector's assigned inspections, with PO, product, factory, kind, status and
// whether each is ready offline (template, product and AQL tables on the phone).

import { kvGet, listEntity, req, tx } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { prefetchReferenceData } from '../lib/tables.js';
import { lang, t } from '../i18n/index.js';
import { isIos, isStandalone } from '../lib/platform.js';

const WORK = new Set(['response', 'measurement', 'defect', 'photo']);

/** Live rows of each inspection, read in one transaction. */
async function workOf(ids) {
  return tx(['records'], 'readonly', async (t) => {
    const index = t.objectStore('records').index('inspection');
    const out = new Map();
    await Promise.all(ids.map(async (id) => {
      out.set(id, (await req(index.getAll(id))).filter((r) => !r.deleted && WORK.has(r.entity)));
    }));
    return out;
  });
}

/** Required items done / required items, counted as the inspection screen does. */
function progress(template, rows) {
  const items = (template?.sections ?? []).flatMap((s) => s.items ?? []).filter((i) => i.required);
  const done = items.filter((item) => {
    if (item.kind === 'photo') return rows.some((r) => r.entity === 'photo' && r.fields.item_key === item.key);
    if (item.dimension_spec_id) return rows.some((r) => r.entity === 'measurement' && r.fields.dimension_spec_id === item.dimension_spec_id);
    return rows.some((r) => r.entity === 'response' && r.fields.item_key === item.key && r.fields.value !== null && r.fields.value !== '');
  }).length;
  return { done, total: items.length };
}

const day = (iso) => (iso ? String(iso).slice(0, 10) : '');
const today = () => new Date().toISOString().slice(0, 10);

/** A date in the current language, short enough for a 360 px phone (never broken in two). */
function date(iso) {
  if (!iso) return '—';
  const d = new Date(String(iso).length === 10 ? `${iso}T12:00:00Z` : iso);
  return d.toLocaleDateString(lang(), { month: 'short', day: 'numeric', year: d.getFullYear() === new Date().getFullYear() ? undefined : 'numeric' });
}

async function rows(ctx) {
  const [inspections, pos, products, templates, batches, tables] = await Promise.all([
    listEntity('inspection'), listEntity('purchase_order'), listEntity('product'), listEntity('template'),
    listEntity('batch'), kvGet('aql_tables'),
  ]);
  const byId = (list) => new Map(list.map((r) => [r.id, r.fields]));
  const po = byId(pos);
  const product = byId(products);
  const template = byId(templates);
  const batch = byId(batches);
  const work = await workOf(inspections.map((r) => r.id));
  const orgs = new Map((ctx.session?.user?.memberships ?? []).map((m) => [m.organisation_id, m.organisation_name]));
  const now = today();
  return inspections
    .map((r) => {
      const f = r.fields;
      const p = po.get(f.purchase_order_id);
      const mine = work.get(r.id) ?? [];
      let status = f.status ?? 'assigned';
      if (status === 'assigned' && mine.length) status = 'in_progress'; // work has started on this phone
      return {
        id: r.id,
        po: f.po_number ?? p?.po_number ?? '—',
        product: f.product_name ?? product.get(f.product_id)?.name ?? '—',
        batch: batch.get(f.batch_id)?.code ?? null,
        factory: f.factory_name ?? p?.factory_name ?? orgs.get(p?.factory_id) ?? '—',
        kind: f.kind,
        status,
        scheduled: day(f.scheduled_for),
        due: day(p?.planned_ship_date),
        today: day(f.scheduled_for) === now,
        progress: progress(template.get(f.template_id), mine),
        ready: Boolean(tables && template.has(f.template_id) && product.has(f.product_id)),
      };
    })
    // Today's first, then by date; inspections with no date last.
    .sort((a, b) => (Number(b.today) - Number(a.today)) || (a.scheduled || '9999').localeCompare(b.scheduled || '9999'));
}

/** Show the list; re-render whenever a sync brings changes. */
export async function show(root, ctx) {
  prefetchReferenceData();
  let active = true; // a draw that finishes after we left must not paint over the next view
  const draw = async () => {
    const list = await rows(ctx);
    if (!active) return;
    render(root, html`
      <h1>${t('list.title')}</h1>
      ${isIos() && !isStandalone() ? html`<p class="notice" data-testid="ios-hint">${t('settings.ios')}</p>` : ''}
      ${list.length === 0 ? html`<p class="muted" data-testid="list-empty">${t('list.empty')}</p>` : ''}
      <ul class="cards" data-testid="inspection-list">
        ${list.map((r) => html`
          <li>
            <a class="card inspection-card${r.today ? ' today' : ''}" href="#/inspection/${r.id}" data-testid="inspection-${r.id}">
              <span class="row"><span class="date" data-testid="insp-date">${r.today ? t('list.today') : date(r.scheduled)}</span>
                <span class="badge status-${r.status}" data-testid="insp-status">${t(`status.${r.status}`)}</span></span>
              <span class="row"><strong>${t('list.po')} ${r.po}</strong>${r.batch ? html`<span>${t('list.batch', { code: r.batch })}</span>` : ''}</span>
              <span>${r.product}</span>
              <span class="muted">${t(`kind.${r.kind}`)} · ${t('list.factory')}: ${r.factory}${r.due ? html` · <span class="date">${t('list.due', { date: date(r.due) })}</span>` : ''}</span>
              ${r.progress.total ? html`<span class="progress-row" data-testid="insp-progress"><progress max="${r.progress.total}" value="${r.progress.done}" aria-label="${t('list.progress', { done: r.progress.done, total: r.progress.total })}"></progress>
                <span>${t('list.progress', { done: r.progress.done, total: r.progress.total })}</span></span>` : ''}
              <span class="badge ${r.ready ? 'ok' : 'warn'}">${r.ready ? t('list.ready') : t('list.notReady')}</span>
            </a>
          </li>`)}
      </ul>`);
  };
  await draw();
  let wasRunning = ctx.syncState.running;
  const onSync = () => {
    if (wasRunning && !ctx.syncState.running) draw();
    wasRunning = ctx.syncState.running;
  };
  ctx.syncState.addEventListener('change', onSync);
  return () => { active = false; ctx.syncState.removeEventListener('change', onSync); };
}

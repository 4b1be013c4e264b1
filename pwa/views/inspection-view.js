// One inspection on the phone: reviewer tasks, the AQL plan, the checklist section by
// section, measurements per sampled unit, defects, photos and the live verdict.
// Every edit is saved to IndexedDB first (record + outbox in one transaction); "Saved"
// appears only once that transaction has completed.

import { DEFAULT_CLASS_AQLS, plansForClasses } from '../lib/aql.js';
import { getAll, getRecord, kvGet, listEntity, listForInspection } from '../lib/db.js';
import { html, render } from '../lib/html.js';
import { inTolerance, toBase, unitInfo, UNITS } from '../lib/measure.js';
import { deletePhoto, deleteRecord, newId, saveRecord, undoDelete } from '../lib/store.js';
import { computeVerdict } from '../lib/verdict.js';
import { reasonText, t } from '../i18n/index.js';
import { showSignOff, signatureSvg } from './sign-off.js';
import { analysisHtml } from './analysis.js';

const CLASSES = ['critical', 'major', 'minor'];
const SHOWN_UNITS = 5;
const UNDO_MS = 10_000;

const unitsFor = (unit) => {
  try {
    const [quantity] = unitInfo(unit);
    return Object.keys(UNITS).filter((u) => UNITS[u][0] === quantity);
  } catch { return [unit]; }
};
const fmt = (x) => (Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : '');

class InspectionScreen {
  constructor(root, ctx, id) {
    this.root = root;
    this.ctx = ctx;
    this.id = id;
    this.urls = [];
  }

  async load() {
    const insp = await getRecord('inspection', this.id);
    this.insp = insp && !insp.deleted ? insp : null;
    if (!this.insp) return;
    const f = this.insp.fields;
    const [template, product, po, specs, rows, photos, issues, tables, library] = await Promise.all([
      getRecord('template', f.template_id), getRecord('product', f.product_id),
      getRecord('purchase_order', f.purchase_order_id), listEntity('dimension_spec'),
      listForInspection(this.id), getAll('photos'), getAll('issues'), kvGet('aql_tables'),
      kvGet('defect_library'),
    ]);
    this.template = template?.fields ?? { sections: [] };
    this.product = product?.fields ?? {};
    this.po = po?.fields ?? {};
    this.specs = new Map(specs.filter((s) => s.fields.product_id === f.product_id).map((s) => [s.id, s.fields]));
    this.by = { response: [], measurement: [], defect: [], photo: [], decision: [], conflict: [], comment: [] };
    for (const r of rows) (this.by[r.entity] ??= []).push(r);
    this.photoBytes = new Map(photos.filter((p) => p.inspection_id === this.id).map((p) => [p.id, p]));
    this.issues = issues.filter((i) => i.inspection_id === this.id);
    this.tables = tables;
    this.library = library;
  }

  // ------------------------------------------------------------ derived data

  items() {
    return (this.template.sections ?? []).flatMap((s) => (s.items ?? []).map((i) => ({ ...i, section: s.key })));
  }

  specItems() {
    return this.items().filter((i) => i.kind === 'number' && i.dimension_spec_id);
  }

  response(itemKey, unitIndex = null) {
    return this.by.response.find((r) => r.fields.item_key === itemKey && (r.fields.unit_index ?? null) === unitIndex);
  }

  /** The inspector's own measurement of one spec on one unit (photo-derived ones are listed apart). */
  measurement(specId, unitIndex) {
    return this.by.measurement.find((r) => r.fields.source !== 'photo' && r.fields.dimension_spec_id === specId
      && r.fields.unit_index === unitIndex);
  }

  spec(item) {
    const s = this.specs.get(item.dimension_spec_id);
    return { nominal: s?.nominal_mm ?? item.nominal, tol: s?.tolerance_mm ?? item.tolerance, unit: item.unit ?? 'mm' };
  }

  classAqls() {
    const pick = (a) => (a && typeof a === 'object' && Object.values(a).every((v) => typeof v === 'number' || typeof v === 'string')
      && Object.keys(a).length ? a : null);
    return pick(this.insp.fields.aql) ?? pick(this.product.aql) ?? pick(this.po.aql) ?? DEFAULT_CLASS_AQLS;
  }

  plans() {
    if (!this.tables) return { error: t('insp.noTables') };
    const f = this.insp.fields;
    const lot = Number(f.lot_size);
    try {
      return { plans: plansForClasses(this.tables, lot, this.classAqls(), f.inspection_level || 'II', f.severity || 'normal') };
    } catch (err) {
      return { error: t('insp.planError', { detail: err.message }) };
    }
  }

  sampleSize(plans) {
    return Math.max(0, ...Object.values(plans ?? {}).map((p) => p.sample_size));
  }

  verdict(plans) {
    const defectCounts = Object.fromEntries(Object.keys(plans).map((c) => [c, 0]));
    for (const d of this.by.defect) {
      const c = d.fields.defect_class;
      if (c in defectCounts) defectCounts[c] += Math.max(0, Number(d.fields.count) || 0);
    }
    const failedItems = this.by.response.filter((r) => r.fields.passed === false).length;
    const badUnits = new Set(this.by.measurement.filter((m) => m.fields.in_tolerance === false).map((m) => m.fields.unit_index));
    let required = 0;
    let answered = 0;
    for (const item of this.items()) {
      if (!item.required) continue;
      required += 1;
      if (this.isAnswered(item)) answered += 1;
    }
    for (const item of this.items().filter((i) => i.kind === 'defect_count')) {
      const c = Number(this.response(item.key)?.fields.value) || 0;
      const cls = item.defect_class ?? this.libraryClass(item.defect) ?? 'major';
      if (c > 0 && cls in defectCounts) defectCounts[cls] += c;
    }
    const units = this.unitsSeen(this.sampleSize(plans));
    try {
      return { ...computeVerdict(plans, defectCounts, failedItems, badUnits.size, answered, required, units),
        unitsSeen: units, unanswered: required - answered, required };
    } catch (err) {
      return { verdict: 'pending', reasons: [err.message], classes: {} };
    }
  }

  /** Units inspected as the server counts them: distinct unit indexes, or the whole sample once submitted. */
  unitsSeen(sampleSize) {
    if (['submitted', 'signed_off'].includes(this.insp.fields.status)) return sampleSize;
    const seen = new Set();
    // A photo-derived measurement is about its photo's unit (counted through the photo when it has
    // one); the server files those without a unit under index 0, which is not a sampled unit.
    const manual = this.by.measurement.filter((m) => m.fields.source !== 'photo');
    for (const list of [this.by.response, manual, this.by.defect, this.by.photo]) {
      for (const r of list) if (r.fields.unit_index !== null && r.fields.unit_index !== undefined) seen.add(r.fields.unit_index);
    }
    return seen.size;
  }

  libraryClass(code) {
    for (const list of Object.values(this.library?.categories ?? {})) {
      const e = list.find((x) => x.code === code);
      if (e) return e.default_class;
    }
    return null;
  }

  /** The verdict's reasons in the current language (verdict.js gives them in English). */
  reasons(v) {
    const out = [];
    for (const [c, k] of Object.entries(v.classes ?? {})) {
      const cls = t(`class.${c}`);
      if (k.status === 'rejected') out.push(t('verdict.why.rejected', { cls, found: k.found, ac: k.accept, re: k.reject }));
      if (k.status === 'pending' && v.verdict === 'pending') {
        out.push(t('verdict.why.units', { cls, seen: v.unitsSeen ?? 0, n: k.sample_size }));
      }
      if (k.status === 'accepted_reinstate_normal') out.push(t('verdict.why.gap', { cls, found: k.found, ac: k.accept, re: k.reject }));
    }
    if (v.verdict === 'pending' && v.unanswered) out.push(t('verdict.why.unanswered', { k: v.unanswered, n: v.required }));
    if (!Object.keys(v.classes ?? {}).length) out.push(...v.reasons);
    return out;
  }

  isAnswered(item) {
    if (item.kind === 'photo') return this.by.photo.some((p) => p.fields.item_key === item.key);
    if (item.kind === 'number' && item.dimension_spec_id) {
      return this.by.measurement.some((m) => m.fields.dimension_spec_id === item.dimension_spec_id);
    }
    const r = this.response(item.key);
    return Boolean(r) && r.fields.value !== null && r.fields.value !== '';
  }

  signedOff() {
    return this.insp?.fields.status === 'signed_off';
  }

  /** What the sign-off step shows: missing required items, failures, defects, photos, problems. */
  signOffSummary() {
    const { plans } = this.plans();
    const v = plans ? this.verdict(plans) : { verdict: 'pending' };
    const items = this.items();
    const missing = items.filter((i) => i.required && !this.isAnswered(i)).map((i) => i.label ?? i.key);
    const label = (key) => items.find((i) => i.key === key)?.label ?? key;
    const failed = this.by.response.filter((r) => r.fields.passed === false).map((r) => label(r.fields.item_key));
    const defects = { critical: 0, major: 0, minor: 0 };
    for (const d of this.by.defect) {
      if (d.fields.defect_class in defects) defects[d.fields.defect_class] += Math.max(0, Number(d.fields.count) || 0);
    }
    const local = [...this.photoBytes.values()];
    return { verdict: v.verdict, missing, required: items.filter((i) => i.required).length, failed,
      outOfTolerance: this.by.measurement.filter((m) => m.fields.in_tolerance === false).length, defects,
      photosWaiting: local.filter((p) => p.state === 'pending').length,
      problems: this.issues.length + local.filter((p) => p.state === 'failed' || p.state === 'rejected').length };
  }

  openSignOff() {
    const el = this.root.querySelector('#signoff');
    this.root.querySelector('[data-action="signoff"]')?.setAttribute('hidden', '');
    showSignOff(el, {
      summary: this.signOffSummary(),
      name: this.ctx.session?.user?.name ?? '',
      onCancel: () => this.root.querySelector('[data-action="signoff"]')?.removeAttribute('hidden'),
      onSign: async (signature) => {
        await this.save('inspection', this.id, { status: 'signed_off', signature });
        this.root.querySelector('#saved').textContent = t('signoff.done');
        this.draw(); // read-only from now on
        this.root.querySelector('#saved').textContent = t('signoff.done');
      },
    });
  }

  // ------------------------------------------------------------ saving

  async save(entity, id, fields, extra) {
    const saved = this.root.querySelector('#saved');
    if (this.signedOff()) throw new Error(t('signoff.readOnly')); // the server would refuse it too
    try {
      const record = await saveRecord(entity, id, fields, extra);
      const list = this.by[entity] ?? (this.by[entity] = []);
      const at = list.findIndex((r) => r.id === id);
      if (entity === 'inspection') this.insp = record;
      else if (at >= 0) list[at] = record; else list.push(record);
      if (this.insp.fields.status === 'assigned' && entity !== 'inspection') {
        this.insp = await saveRecord('inspection', this.id, { status: 'in_progress', started_at: new Date().toISOString() });
      }
      saved.textContent = `${t('insp.saved')} · ${new Date().toLocaleTimeString()}`;
      saved.dataset.level = 'ok';
      this.clearProblem();
      this.ctx.syncSoon();
      this.drawSummary();
      return record;
    } catch (err) {
      const full = err?.name === 'QuotaExceededError' || /quota/i.test(String(err?.message ?? ''));
      const text = full ? t('insp.saveFailedFull') : t('insp.saveFailed', { detail: err.message });
      saved.textContent = text;
      saved.dataset.level = 'error';
      this.showProblem(text);
      if (full) import('../lib/sync.js').then((m) => m.checkStorage()).catch(() => {});
      throw err;
    }
  }

  /** A failed write stays next to what failed (the answer, measurement or form) until it is saved. */
  showProblem(text) {
    const el = this.lastInput;
    const anchor = el?.closest?.('.item, .measure-row, form, li');
    if (!anchor || el.tagName === 'PHOTO-CAPTURE') return; // photo-capture shows its own
    let p = anchor.querySelector(':scope > .problem[data-testid="save-problem"]');
    if (!p) {
      p = document.createElement('p');
      p.className = 'problem';
      p.setAttribute('role', 'alert');
      p.dataset.testid = 'save-problem';
      anchor.append(p);
    }
    p.textContent = text;
  }

  clearProblem() {
    const anchor = this.lastInput?.closest?.('.item, .measure-row, form, li');
    anchor?.querySelector(':scope > .problem[data-testid="save-problem"]')?.remove();
  }

  /** Delete a record (a tombstone through sync), then offer Undo for a while. */
  async remove(entity, id, what) {
    if (this.signedOff()) return;
    const saved = this.root.querySelector('#saved');
    try {
      if (entity === 'photo') await deletePhoto(id); else await deleteRecord(entity, id);
    } catch (err) {
      saved.textContent = t('insp.saveFailed', { detail: err.message });
      saved.dataset.level = 'error';
      return;
    }
    this.by[entity] = (this.by[entity] ?? []).filter((r) => r.id !== id);
    saved.textContent = `${t('edit.deleted', { what })} · ${new Date().toLocaleTimeString()}`;
    saved.dataset.level = 'ok';
    this.redrawAfterEdit(entity);
    const undo = this.root.querySelector('#undo');
    undo.querySelector('span').textContent = t('edit.deleted', { what });
    undo.dataset.entity = entity;
    undo.dataset.id = id;
    undo.hidden = false;
    clearTimeout(this.undoTimer);
    this.undoTimer = setTimeout(() => { undo.hidden = true; }, UNDO_MS);
    this.ctx.syncSoon();
  }

  async undo() {
    const undo = this.root.querySelector('#undo');
    const { entity, id } = undo.dataset;
    undo.hidden = true;
    const restored = await undoDelete(entity, id);
    const saved = this.root.querySelector('#saved');
    if (!restored) {
      saved.textContent = t('edit.cannotUndo');
      saved.dataset.level = 'error';
      return;
    }
    await this.load();
    saved.textContent = t('edit.restored');
    saved.dataset.level = 'ok';
    this.redrawAfterEdit(entity);
    this.ctx.syncSoon();
  }

  redrawAfterEdit(entity) {
    if (entity === 'response') this.drawChecklist();
    if (entity === 'measurement') this.drawMeasurements();
    if (entity === 'defect') this.drawDefects();
    if (entity === 'photo') { this.drawPhotos(); this.drawChecklist(); }
    this.drawSummary();
  }

  async savePhoto(detail, extra) {
    const id = newId();
    const fields = { inspection_id: this.id, item_key: extra.item_key ?? null, defect_id: extra.defect_id ?? null,
      unit_index: extra.unit_index ?? null, sha256: detail.sha256, size_bytes: detail.size,
      content_type: detail.type, taken_at: new Date().toISOString() };
    const photo = { id, inspection_id: this.id, blob: detail.blob, original: detail.original ?? null, thumb: detail.thumb,
      sha256: detail.sha256, size: detail.size, type: detail.type, width: detail.width, height: detail.height,
      state: 'pending', hints: detail.hints, created_at: Date.now() };
    await this.save('photo', id, fields, { photo });
    this.photoBytes.set(id, photo);
    const { checkStorage, refreshCounts } = await import('../lib/sync.js');
    refreshCounts();
    checkStorage(); // warn before the next photo no longer fits
    this.drawPhotos();
  }

  // ------------------------------------------------------------ drawing

  draw() {
    if (!this.insp) {
      render(this.root, html`<p class="notice">${t('insp.notFound')}</p><a class="button" href="#/inspections">${t('nav.back')}</a>`);
      return;
    }
    const f = this.insp.fields;
    render(this.root, html`
      <a class="back" href="#/inspections">← ${t('nav.back')}</a>
      <h1>${t('list.po')} ${this.po.po_number ?? ''} · ${this.product.name ?? ''}</h1>
      <p class="muted">${t(`kind.${f.kind}`)} · <span data-testid="insp-status">${t(`status.${f.status ?? 'assigned'}`)}</span></p>
      <p id="saved" class="saved" role="status" aria-live="polite" data-testid="saved"></p>
      <div id="undo" class="undo" data-testid="undo" hidden><span></span>
        <button type="button" data-action="undo">${t('edit.undo')}</button></div>
      ${this.signedOff() ? html`<div class="card signed-off" data-testid="signed-off">
        <p><strong>${t('signoff.readOnly')}</strong></p>${signatureSvg(f.signature)}</div>` : ''}
      <fieldset class="inspection-body" ${this.signedOff() ? 'disabled' : ''}>
      <legend class="visually-hidden">${t('insp.plan')}</legend>
      <section id="tasks" aria-label="${t('insp.tasks')}"></section>
      <section id="issues"></section>
      <section id="summary" class="card" aria-labelledby="plan-h"></section>
      <section id="checklist"></section>
      <section id="measure" class="card" aria-labelledby="measure-h"></section>
      <section id="defects" class="card" aria-labelledby="defects-h"></section>
      <section id="photos" class="card" aria-labelledby="photos-h"></section>
      <section id="label" class="card" aria-labelledby="label-h"></section>
      </fieldset>
      <section id="signoff" aria-labelledby="signoff-h"></section>
      ${this.signedOff() ? '' : html`<div class="actions"><button type="button" class="primary" data-action="signoff">${t('signoff.start')}</button></div>`}`);
    this.drawTasks();
    this.drawIssues();
    this.drawSummary();
    this.drawChecklist();
    this.drawMeasurements();
    this.drawDefects();
    this.drawPhotos();
    this.drawLabelCheck();
    this.wire();
  }

  /** Carton label check against the PO's lines; the result goes in the carton item's answer. */
  async drawLabelCheck() {
    const el = this.root.querySelector('#label');
    const lines = (await listEntity('po_line')).filter((l) => l.fields.purchase_order_id === this.insp.fields.purchase_order_id)
      .sort((a, b) => (a.fields.position ?? 0) - (b.fields.position ?? 0));
    const products = new Map((await listEntity('product')).map((p) => [p.id, p.fields]));
    const expected = lines.map((l, i) => ({ code: products.get(l.fields.product_id)?.sku,
      what: t('label.line', { n: i + 1, sku: products.get(l.fields.product_id)?.sku ?? '' }) })).filter((e) => e.code);
    if (this.po.po_number) expected.push({ code: this.po.po_number, what: t('label.po') });
    if (!expected.length) { el.hidden = true; return; }
    const { showLabelCheck } = await import('./label-check.js');
    const item = this.items().find((i) => i.kind === 'yes_no_na' && /carton|label/.test(i.key));
    showLabelCheck(el, expected, async (code, match) => {
      if (!item || this.signedOff()) return;
      const r = this.response(item.key);
      this.lastInput = null;
      await this.save('response', r?.id ?? newId(), { inspection_id: this.id, item_key: item.key, unit_index: null,
        value: match ? 'yes' : 'no', note: t(match ? 'label.match' : 'label.mismatch', { code, what: match?.what ?? '' }) },
      { local: { passed: Boolean(match) } });
      this.drawChecklist();
    });
  }

  drawTasks() {
    const el = this.root.querySelector('#tasks');
    const open = this.by.decision.filter((d) => d.fields.decision === 'retake' && !d.fields.resolved);
    if (!open.length) { render(el, html``); return; }
    render(el, html`<div class="card task">
      <h2>${t('insp.tasks')}</h2>
      <ul class="plain">${open.map((d) => {
        const photo = this.by.photo.find((p) => p.id === d.fields.photo_id);
        return html`<li data-testid="retake-task" data-decision="${d.id}">
          <p><strong>${t('insp.retake', { photo: photo?.fields.item_key ?? String(d.fields.photo_id).slice(0, 8) })}</strong></p>
          ${photo?.fields.flag_reasons?.length ? html`<p data-testid="retake-reason">${t('insp.retakeReason', { reasons: photo.fields.flag_reasons.map(reasonText).join(', ') })}</p>` : ''}
          ${d.fields.comment ? html`<p data-testid="retake-comment">${t('insp.retakeComment', { comment: d.fields.comment })}</p>` : html`<p class="muted">${t('insp.retakeNoComment')}</p>`}
          <photo-capture data-item="${photo?.fields.item_key ?? ''}" data-retake="${d.id}"></photo-capture>
          <button type="button" data-action="retake-done" data-id="${d.id}">${t('insp.retakeDone')}</button>
        </li>`;
      })}</ul></div>`);
  }

  drawIssues() {
    const el = this.root.querySelector('#issues');
    const conflicts = this.by.conflict ?? [];
    if (!this.issues.length && !conflicts.length) { render(el, html``); return; }
    const reason = (i) => {
      const e = i.errors;
      if (i.detail) return i.detail;
      if (!e) return i.reason ?? '';
      if (typeof e === 'string') return e;
      if (e.detail) return e.detail;
      return Object.entries(e).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : JSON.stringify(v)}`).join('; ');
    };
    const show = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
    render(el, html`<div class="card issues" role="region" aria-label="${t('insp.issues')}">
      <h2>${t('insp.issues')}</h2>
      <ul class="plain">
        ${this.issues.map((i) => html`<li data-testid="issue">${i.kind === 'rejected'
          ? t('insp.rejected', { entity: i.entity, reason: reason(i) })
          : t('insp.conflictShort', { entity: i.entity,
            fields: (Array.isArray(i.errors) ? i.errors.map((c) => c.field) : []).join(', ') })}
          <button type="button" class="small" data-action="dismiss" data-key="${i.key}">${t('insp.dismiss')}</button></li>`)}
        ${conflicts.map((c) => html`<li data-testid="conflict">${t('insp.conflict', { entity: c.fields.entity,
          field: c.fields.field, kept: show(c.fields.kept_value), lost: show(c.fields.lost_value) })}</li>`)}
      </ul></div>`);
  }

  drawSummary() {
    const el = this.root.querySelector('#summary');
    if (!el) return;
    const f = this.insp.fields;
    const { plans, error } = this.plans();
    const v = plans ? this.verdict(plans) : null;
    const n = plans ? this.sampleSize(plans) : 0;
    render(el, html`
      <h2 id="plan-h">${t('insp.plan')}</h2>
      <div class="grid2">
        <div><label for="lot">${t('insp.lotSize')}</label>
          <input id="lot" type="number" inputmode="numeric" min="2" step="1" value="${f.lot_size ?? ''}" data-field="lot_size" data-testid="lot-size"></div>
        <div><p class="label">${t('insp.unitsSeen')}</p><p class="big" data-testid="units-seen">${this.unitsSeen(n)} / ${n}</p></div>
      </div>
      <p class="muted">${t('insp.level', { level: f.inspection_level ?? 'II', severity: t(`severity.${f.severity ?? 'normal'}`) })}</p>
      ${error ? html`<p class="notice">${error}</p>` : html`
        <table class="plan" data-testid="aql-plan">
          <thead><tr><th scope="col">${t('insp.class')}</th><th scope="col">${t('insp.aql')}</th>
            <th scope="col">n</th><th scope="col">${t('insp.acre')}</th><th scope="col">${t('insp.found')}</th></tr></thead>
          <tbody>${Object.entries(plans).map(([c, p]) => html`<tr class="cls-${v.classes[c]?.status ?? ''}">
            <th scope="row">${t(`class.${c}`)}</th><td>${p.aql}</td><td data-testid="sample-${c}">${p.sample_size}</td>
            <td>${p.accept} / ${p.reject}</td><td>${v.classes[c]?.found ?? 0}</td></tr>`)}</tbody>
        </table>
        <div class="verdict verdict-${v.verdict}" data-testid="verdict" aria-live="polite">
          <strong>${t('insp.verdict')}: ${t(`verdict.${v.verdict}`)}</strong>
          ${this.reasons(v).length ? html`<ul>${this.reasons(v).map((r) => html`<li>${r}</li>`)}</ul>` : ''}
        </div>`}`);
    this.lastVerdict = v;
    this.lastSample = n;
  }

  drawChecklist() {
    const el = this.root.querySelector('#checklist');
    const sections = (this.template.sections ?? []).map((s) => ({
      ...s, items: (s.items ?? []).filter((i) => !(i.kind === 'number' && i.dimension_spec_id)) }))
      .filter((s) => s.items.length);
    render(el, html`${sections.map((s) => html`
      <details class="card section" open>
        <summary><h2>${s.title ?? s.key}</h2></summary>
        ${s.items.map((item) => this.itemHtml(item))}
      </details>`)}`);
    el.querySelectorAll('photo-capture').forEach((pc) => { pc.label = t('photo.take'); });
  }

  itemHtml(item) {
    const r = this.response(item.key);
    const value = r?.fields.value;
    const id = `item-${item.key}`;
    const req = item.required ? html`<span class="req" aria-hidden="true">*</span>` : '';
    switch (item.kind) {
      case 'yes_no_na':
        return html`<fieldset class="item yn" data-item="${item.key}">
          <legend>${item.label}${req}</legend>
          <div class="choices">${['yes', 'no', 'na'].map((a) => html`
            <label class="choice choice-${a}"><input type="radio" name="${id}" value="${a}" ${value === a ? 'checked' : ''}
              data-item="${item.key}" data-kind="yes_no_na"><span>${t(`answer.${a}`)}</span></label>`)}</div>
          <button type="button" class="small" data-action="clear-answer" data-item="${item.key}" ${r && value ? '' : 'hidden'}>${t('edit.clearAnswer')}</button>
        </fieldset>`;
      case 'choice':
        return html`<fieldset class="item" data-item="${item.key}"><legend>${item.label}${req}</legend>
          <div class="choices">${(item.choices ?? []).map((c) => html`
            <label class="choice"><input type="radio" name="${id}" value="${c}" ${value === c ? 'checked' : ''}
              data-item="${item.key}" data-kind="choice"><span>${c}</span></label>`)}</div>
          <button type="button" class="small" data-action="clear-answer" data-item="${item.key}" ${r && value ? '' : 'hidden'}>${t('edit.clearAnswer')}</button></fieldset>`;
      case 'number': {
        const v = value && typeof value === 'object' ? value : {};
        return html`<div class="item measure-row" data-item="${item.key}">
          <label for="${id}">${item.label}${req}
            ${item.nominal !== undefined ? html`<span class="muted">${t('insp.nominal', { nominal: item.nominal, unit: item.unit, tol: item.tolerance })}</span>` : ''}</label>
          <div class="inline"><input id="${id}" type="number" inputmode="decimal" step="any" value="${v.value ?? ''}"
              data-item="${item.key}" data-kind="number" data-nominal="${item.nominal ?? ''}" data-tol="${item.tolerance ?? ''}" data-base="${item.unit ?? ''}">
            <select aria-label="${item.label}" data-unit-for="${id}">${unitsFor(item.unit ?? 'mm').map((u) => html`<option ${u === (v.unit ?? item.unit) ? 'selected' : ''}>${u}</option>`)}</select></div>
          <span class="tol" aria-live="polite"></span></div>`;
      }
      case 'text':
        return html`<div class="item"><label for="${id}">${item.label}${req}</label>
          <textarea id="${id}" rows="3" data-item="${item.key}" data-kind="text">${value ?? ''}</textarea></div>`;
      case 'photo': {
        const n = this.by.photo.filter((p) => p.fields.item_key === item.key).length;
        return html`<div class="item"><p>${item.label}${req} <span class="badge ${n ? 'ok' : 'warn'}" data-count-for="${item.key}">${n}</span></p>
          <photo-capture data-item="${item.key}"></photo-capture></div>`;
      }
      case 'defect_count':
        return html`<div class="item"><label for="${id}">${item.label}${req}</label>
          <input id="${id}" type="number" inputmode="numeric" min="0" step="1" value="${value ?? ''}"
            data-item="${item.key}" data-kind="defect_count"></div>`;
      default:
        return html`<p class="muted">${item.label}</p>`;
    }
  }

  drawMeasurements() {
    const el = this.root.querySelector('#measure');
    const specs = this.specItems();
    if (!specs.length) { render(el, html``); el.hidden = true; return; }
    const measured = Math.max(0, ...this.by.measurement.filter((m) => m.fields.source !== 'photo').map((m) => m.fields.unit_index));
    const fromPhotos = this.by.measurement.filter((m) => m.fields.source === 'photo');
    const n = this.lastSample || SHOWN_UNITS;
    this.shownUnits = Math.max(this.shownUnits ?? 0, Math.min(n, SHOWN_UNITS), measured);
    const units = Array.from({ length: this.shownUnits }, (_, i) => i + 1);
    render(el, html`
      <h2 id="measure-h">${t('insp.measurements')}</h2>
      ${specs.map((item) => {
        const s = this.spec(item);
        return html`<div class="spec"><h3>${item.label} <span class="muted">${t('insp.nominal', { nominal: s.nominal, unit: 'mm', tol: s.tol })}</span></h3>
          ${units.map((u) => {
            const m = this.measurement(item.dimension_spec_id, u);
            const id = `m-${item.key}-${u}`;
            const cls = m ? (m.fields.in_tolerance ? 'in' : 'out') : '';
            return html`<div class="measure-row ${cls}">
              <label for="${id}">${t('insp.unit', { n: u })}</label>
              <div class="inline"><input id="${id}" type="number" inputmode="decimal" step="any" value="${m?.fields.value_entered ?? ''}"
                data-spec="${item.dimension_spec_id}" data-unit-index="${u}" data-nominal="${s.nominal}" data-tol="${s.tol}" data-base="mm"
                data-testid="measure-${item.key}-${u}">
              <select aria-label="${item.label} ${t('insp.unit', { n: u })}" data-unit-for="${id}">${unitsFor('mm').map((x) => html`<option ${x === (m?.fields.unit_entered ?? 'mm') ? 'selected' : ''}>${x}</option>`)}</select></div>
              <span class="tol" aria-live="polite">${m ? (m.fields.in_tolerance ? t('insp.inTol') : t('insp.outTol')) : ''}</span>
            </div>`;
          })}</div>`;
      })}
      ${this.shownUnits < n ? html`<button type="button" data-action="more-units">+ ${t('insp.unit', { n: this.shownUnits + 1 })}</button>` : ''}
      ${fromPhotos.length ? html`<h3>${t('insp.fromPhotos')}</h3><ul class="plain" data-testid="photo-measurements">${fromPhotos.map((m) => {
        const item = specs.find((i) => i.dimension_spec_id === m.fields.dimension_spec_id);
        const unit = m.fields.unit_index ? ` · ${t('insp.unit', { n: m.fields.unit_index })}` : '';
        return html`<li class="${m.fields.in_tolerance === false ? 'out' : 'in'}">${item?.label ?? ''}: ${fmt(m.fields.value_si ?? m.fields.value_entered)} mm${unit}
          · ${m.fields.in_tolerance === false ? t('insp.outTol') : t('insp.inTol')}</li>`;
      })}</ul>` : ''}`);
  }

  drawDefects() {
    const el = this.root.querySelector('#defects');
    const category = this.product.category ?? 'hard_goods';
    const entries = this.library?.categories?.[category] ?? Object.values(this.library?.categories ?? {}).flat();
    const logged = this.by.defect;
    render(el, html`
      <h2 id="defects-h">${t('insp.defects')}</h2>
      ${logged.length ? html`<ul class="plain defects" data-testid="defect-list">${logged.map((d) => html`
        <li class="defect cls-${d.fields.defect_class}" data-defect-id="${d.id}"><strong>${this.defectLabel(d.fields.code, entries)}</strong>
          · ${t(`class.${d.fields.defect_class}`)} · × ${d.fields.count}${d.fields.note ? html` · ${d.fields.note}` : ''}
          <div class="choices"><button type="button" class="small" data-action="edit-defect" data-id="${d.id}">${t('edit.edit')}</button>
            <button type="button" class="small" data-action="delete-defect" data-id="${d.id}">${t('edit.delete')}</button></div>
          <photo-capture data-defect="${d.id}"></photo-capture></li>`)}</ul>`
        : html`<p class="muted">${t('insp.noDefects')}</p>`}
      <form id="defect-form" class="defect-form">
        <label for="d-code">${t('insp.defectCode')}</label>
        <input id="d-code" name="code" list="d-lib" required autocomplete="off">
        <datalist id="d-lib">${entries.map((e) => html`<option value="${e.code}">${e.label}</option>`)}</datalist>
        <div class="grid2">
          <div><label for="d-class">${t('insp.defectClass')}</label>
            <select id="d-class" name="defect_class">${CLASSES.map((c) => html`<option value="${c}" ${c === 'major' ? 'selected' : ''}>${t(`class.${c}`)}</option>`)}</select></div>
          <div><label for="d-count">${t('insp.defectCount')}</label>
            <input id="d-count" name="count" type="number" inputmode="numeric" min="1" step="1" value="1" required></div>
        </div>
        <label for="d-note">${t('insp.note')}</label>
        <input id="d-note" name="note" autocomplete="off">
        <button type="submit" class="primary">${this.editingDefect ? t('edit.saveChanges') : t('insp.addDefect')}</button>
        ${this.editingDefect ? html`<button type="button" data-action="cancel-edit">${t('edit.cancel')}</button>` : ''}
      </form>`);
    const editing = this.by.defect.find((d) => d.id === this.editingDefect);
    const form = el.querySelector('#defect-form');
    // The library's class is only a default: once the inspector picks a class, it stays.
    let classChosen = Boolean(editing);
    if (editing) {
      form.code.value = editing.fields.code ?? '';
      form.defect_class.value = editing.fields.defect_class ?? 'major';
      form.count.value = String(editing.fields.count ?? 1);
      form.note.value = editing.fields.note ?? '';
    }
    form.defect_class.addEventListener('change', () => { classChosen = true; });
    form.code.addEventListener('change', () => {
      const e = entries.find((x) => x.code === form.code.value);
      if (e && !classChosen) form.defect_class.value = e.default_class;
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const count = Number.parseInt(form.count.value, 10);
      if (!form.code.value.trim() || !(count >= 1)) { form.reportValidity(); return; }
      const id = this.editingDefect ?? newId();
      const fields = { inspection_id: this.id, code: form.code.value.trim(), defect_class: form.defect_class.value, count,
        note: form.note.value.trim() };
      if (!this.editingDefect) fields.unit_index = null;
      await this.save('defect', id, fields);
      this.editingDefect = null;
      this.drawDefects();
    });
  }

  defectLabel(code, entries) {
    return entries.find((e) => e.code === code)?.label ?? code;
  }

  drawPhotos() {
    const el = this.root.querySelector('#photos');
    for (const u of this.urls) URL.revokeObjectURL(u);
    this.urls = [];
    const decisions = new Map(this.by.decision.map((d) => [d.fields.photo_id, d.fields]));
    render(el, html`<h2 id="photos-h">${t('insp.photos')} (${this.by.photo.length})</h2>
      <ul class="thumbs" data-testid="photo-list">${this.by.photo.map((p) => {
        const local = this.photoBytes.get(p.id);
        let src = '';
        if (local?.thumb) { src = URL.createObjectURL(local.thumb); this.urls.push(src); }
        const d = decisions.get(p.id);
        const state = !local || local.state === 'done' ? 'done' : (local.state === 'failed' ? 'failed' : 'pending');
        return html`<li>${src ? html`<img src="${src}" alt="${p.fields.item_key ?? p.fields.defect_id ?? ''}">` : ''}
          <span class="badge ${state === 'done' ? 'ok' : 'warn'}" data-testid="photo-state">${t(`photo.state.${state}`)}</span>
          ${d ? html`<span class="badge decision-${d.decision}">${t(`insp.decision.${d.decision}`)}</span>` : ''}
          ${analysisHtml(p.fields.analysis)}
          <button type="button" class="small" data-action="delete-photo" data-id="${p.id}">${t('edit.deletePhoto')}</button>
          ${state === 'failed' ? html`<p class="problem" role="alert" data-testid="photo-problem">${t('photo.error', { detail: local.last_error ?? '' })}</p>
            <button type="button" class="small" data-action="retry-photo" data-id="${p.id}">${t('photo.retry')}</button>` : ''}</li>`;
      })}</ul>`);
    for (const badge of this.root.querySelectorAll('[data-count-for]')) {
      badge.textContent = String(this.by.photo.filter((p) => p.fields.item_key === badge.dataset.countFor).length);
    }
  }

  // ------------------------------------------------------------ events

  wire() {
    const root = this.root;
    this.listening?.abort();
    this.listening = new AbortController();
    const signal = this.listening.signal;
    root.addEventListener('input', (e) => this.onInput(e.target), { signal });
    root.addEventListener('change', (e) => this.onChange(e.target).catch(() => {}), { signal });
    root.addEventListener('click', (e) => this.onClick(e.target.closest('[data-action]')).catch(() => {}), { signal });
    root.addEventListener('photo-taken', (e) => {
      const pc = e.target;
      this.lastInput = pc;
      // The capture element says "saved" only once this promise resolves, and shows why if not.
      e.detail.waitUntil(this.savePhoto(e.detail, { item_key: pc.dataset.item || null, defect_id: pc.dataset.defect || null }));
    }, { signal });
  }

  tolerance(input) {
    const v = Number.parseFloat(input.value);
    const unitSel = this.root.querySelector(`[data-unit-for="${input.id}"]`);
    const unit = unitSel?.value ?? input.dataset.base;
    const nominal = Number.parseFloat(input.dataset.nominal);
    const tol = Number.parseFloat(input.dataset.tol);
    if (!Number.isFinite(v)) return null;
    const si = toBase(v, unit);
    const ok = Number.isFinite(nominal) && Number.isFinite(tol) ? inTolerance(si, nominal, tol) : null;
    return { value: v, unit, si, ok };
  }

  onInput(el) {
    if (el.dataset.spec === undefined && el.dataset.kind !== 'number') return;
    const row = el.closest('.measure-row');
    const out = row.querySelector('.tol');
    const m = this.tolerance(el);
    row.classList.remove('in', 'out');
    if (!m) { out.textContent = ''; return; }
    if (m.ok !== null) row.classList.add(m.ok ? 'in' : 'out');
    const base = el.dataset.base || 'mm';
    out.textContent = `${m.ok === null ? '' : (m.ok ? t('insp.inTol') : t('insp.outTol'))}${m.unit !== base ? ` ${t('insp.converted', { value: fmt(m.si), unit: base })}` : ''}`;
  }

  async onChange(el) {
    this.lastInput = el;
    if (el.dataset.unitFor) {
      const input = this.root.querySelector(`#${el.dataset.unitFor}`);
      this.onInput(input);
      return this.onChange(input);
    }
    if (el.dataset.field === 'lot_size') {
      const lot = Number.parseInt(el.value, 10);
      if (lot >= 2) await this.save('inspection', this.id, { lot_size: lot });
      this.drawMeasurements();
      return undefined;
    }
    if (el.dataset.spec) {
      const m = this.tolerance(el);
      const unitIndex = Number(el.dataset.unitIndex);
      const existing = this.measurement(el.dataset.spec, unitIndex);
      if (!m) {
        // An emptied field deletes the measurement (on the server too), with Undo.
        if (existing && el.value.trim() === '') await this.remove('measurement', existing.id, t('insp.unit', { n: unitIndex }));
        return undefined;
      }
      // value_si and in_tolerance are the server's to compute; the phone keeps its own copy.
      return this.save('measurement', existing?.id ?? newId(), { inspection_id: this.id,
        dimension_spec_id: el.dataset.spec, unit_index: unitIndex, value_entered: m.value, unit_entered: m.unit,
        source: 'manual' }, { local: { value_si: m.si, in_tolerance: Boolean(m.ok) } });
    }
    const kind = el.dataset.kind;
    if (!kind) return undefined;
    const key = el.dataset.item;
    let value = el.value;
    let passed = null; // the server derives `passed`; the phone keeps its own for the preview
    const item = this.items().find((i) => i.key === key);
    const existingAnswer = this.response(key);
    if (['text', 'number', 'defect_count'].includes(kind) && el.value.trim() === '') {
      // An emptied answer is no answer: delete it (with Undo) rather than keep a stale value.
      if (existingAnswer) await this.remove('response', existingAnswer.id, item?.label ?? key);
      return undefined;
    }
    if (kind === 'defect_count') {
      value = Number.parseInt(el.value, 10);
      if (!(value >= 0)) return undefined;
    }
    if (kind === 'yes_no_na') passed = value === 'yes' ? true : value === 'no' ? false : null;
    if (kind === 'choice' && item?.pass_choices?.length) passed = item.pass_choices.includes(value);
    if (kind === 'number') {
      const m = this.tolerance(el);
      value = m ? { value: m.value, unit: m.unit } : null;
      passed = m ? m.ok : null;
    }
    const existing = this.response(key);
    const saved = await this.save('response', existing?.id ?? newId(), { inspection_id: this.id, item_key: key, unit_index: null,
      value }, { local: { passed } });
    el.closest('fieldset')?.querySelector('[data-action="clear-answer"]')?.removeAttribute('hidden');
    return saved;
  }

  async onClick(button) {
    if (!button) return;
    const action = button.dataset.action;
    if (action === 'more-units') {
      this.shownUnits += 1;
      this.drawMeasurements();
    } else if (action === 'dismiss') {
      const { tx } = await import('../lib/db.js');
      await tx(['issues'], 'readwrite', (x) => x.objectStore('issues').delete(button.dataset.key));
      this.issues = this.issues.filter((i) => i.key !== button.dataset.key);
      this.drawIssues();
    } else if (action === 'undo') {
      await this.undo();
    } else if (action === 'clear-answer') {
      const r = this.response(button.dataset.item);
      const item = this.items().find((i) => i.key === button.dataset.item);
      if (r) await this.remove('response', r.id, item?.label ?? button.dataset.item);
    } else if (action === 'edit-defect') {
      this.editingDefect = button.dataset.id;
      this.drawDefects();
      this.root.querySelector('#d-count')?.focus();
    } else if (action === 'cancel-edit') {
      this.editingDefect = null;
      this.drawDefects();
    } else if (action === 'delete-defect') {
      const d = this.by.defect.find((x) => x.id === button.dataset.id);
      if (d) await this.remove('defect', d.id, d.fields.code);
    } else if (action === 'delete-photo') {
      const p = this.by.photo.find((x) => x.id === button.dataset.id);
      if (p) await this.remove('photo', p.id, t('insp.photo'));
    } else if (action === 'retry-photo') {
      const { retryPhoto } = await import('../lib/sync.js');
      const p = this.photoBytes.get(button.dataset.id);
      if (p) this.photoBytes.set(p.id, { ...p, state: 'pending', last_error: null });
      this.drawPhotos();
      await retryPhoto(button.dataset.id);
    } else if (action === 'retake-done') {
      const d = this.by.decision.find((x) => x.id === button.dataset.id);
      await this.save('decision', d.id, { resolved: true });
      this.drawTasks();
    } else if (action === 'signoff') {
      // The server computes the official verdict from the synced rows; the phone's is a preview.
      this.openSignOff();
    }
  }

  destroy() {
    this.listening?.abort();
    for (const u of this.urls) URL.revokeObjectURL(u);
  }
}

/** Show one inspection; returns the cleanup. */
export async function show(root, ctx, id) {
  await import('../components/photo-capture/photo-capture.js');
  const screen = new InspectionScreen(root, ctx, id);
  await screen.load();
  screen.draw();
  let wasRunning = ctx.syncState.running;
  let active = true;
  const onSync = async () => {
    // After a sync, pick up reviewer decisions and conflicts without disturbing input focus.
    const finished = wasRunning && !ctx.syncState.running;
    wasRunning = ctx.syncState.running;
    if (!finished || !screen.insp) return;
    await screen.load();
    if (!active) return; // the inspector has moved on
    if (!root.contains(document.activeElement)) {
      screen.drawTasks();
      screen.drawIssues();
      screen.drawSummary();
      screen.drawPhotos();
    } else {
      screen.drawTasks();
      screen.drawIssues();
      screen.drawPhotos();
    }
  };
  ctx.syncState.addEventListener('change', onSync);
  return () => { active = false; ctx.syncState.removeEventListener('change', onSync); screen.destroy(); };
}
